//! PROXY protocol headers (HAProxy's specification, versions 1 and 2) a tcp listener sends to
//! its backend before the client's bytes, so the backend learns who the client is.

use std::net::{IpAddr, SocketAddr};

use shoal_config::ProxyProtocol;

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Both addresses of one family: mixed families are sent as IPv6 (v4-mapped).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (v6(src), v6(dst))
    }
}

/// The header for a connection from `src` (the client) to `dst` (the address it reached).
pub(crate) fn proxy_header(version: ProxyProtocol, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(src, dst);
    match version {
        ProxyProtocol::V1 => {
            let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {family} {} {} {} {}\r\n",
                src.ip(),
                dst.ip(),
                src.port(),
                dst.port()
            )
            .into_bytes()
        }
        ProxyProtocol::V2 => {
            let mut out = Vec::with_capacity(16 + 36);
            out.extend_from_slice(&V2_SIGNATURE);
            // Version 2, command PROXY.
            out.push(0x21);
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.push(0x11); // TCP over IPv4
                    out.extend_from_slice(&12u16.to_be_bytes());
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    let v6 = |ip: IpAddr| match ip {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                        IpAddr::V6(v6) => v6,
                    };
                    out.push(0x21); // TCP over IPv6
                    out.extend_from_slice(&36u16.to_be_bytes());
                    out.extend_from_slice(&v6(s).octets());
                    out.extend_from_slice(&v6(d).octets());
                }
            }
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&dst.port().to_be_bytes());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn v1_text() {
        assert_eq!(
            proxy_header(
                ProxyProtocol::V1,
                addr("192.0.2.7:51000"),
                addr("10.0.0.1:6380")
            ),
            b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 6380\r\n"
        );
        assert_eq!(
            proxy_header(
                ProxyProtocol::V1,
                addr("[2001:db8::7]:51000"),
                addr("[::1]:443")
            ),
            b"PROXY TCP6 2001:db8::7 ::1 51000 443\r\n"
        );
        assert_eq!(
            proxy_header(ProxyProtocol::V1, addr("192.0.2.7:1"), addr("[::1]:2")),
            b"PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n"
        );
    }

    #[test]
    fn v2_binary() {
        let h = proxy_header(
            ProxyProtocol::V2,
            addr("192.0.2.7:51000"),
            addr("10.0.0.1:6380"),
        );
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 7, 10, 0, 0, 1]);
        want.extend_from_slice(&51000u16.to_be_bytes());
        want.extend_from_slice(&6380u16.to_be_bytes());
        assert_eq!(h, want);
        let h6 = proxy_header(ProxyProtocol::V2, addr("[::1]:1"), addr("[::2]:2"));
        assert_eq!(h6.len(), 16 + 36);
        assert_eq!(&h6[12..16], &[0x21, 0x21, 0x00, 0x24]);
    }
}
