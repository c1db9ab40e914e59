//! Reading a PROXY protocol header (HAProxy's specification, v1 text and v2 binary) that a
//! balancer in front of shoal sends before its client's bytes. Pure: it looks at the bytes
//! received so far and says whether they hold a complete header, could still become one, or
//! cannot be one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the specification's 107 bytes).
const V1_MAX: usize = 107;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InboundHeader {
    /// Not enough bytes yet to decide.
    Incomplete,
    /// The bytes do not start a PROXY header (they are the client's own data).
    Absent,
    /// A complete header of `len` bytes. `source` is the original client, when the header
    /// names one (`PROXY UNKNOWN`, v2 `LOCAL` and non-TCP families name none).
    Found {
        source: Option<SocketAddr>,
        len: usize,
    },
    /// It starts like a PROXY header but is not a valid one.
    Invalid(&'static str),
}

/// Looks at the first bytes of a connection.
pub(crate) fn parse_proxy_header(buf: &[u8]) -> InboundHeader {
    if starts_like(buf, V2_SIGNATURE) {
        return if buf.len() < V2_SIGNATURE.len() {
            InboundHeader::Incomplete
        } else {
            parse_v2(buf)
        };
    }
    if starts_like(buf, V1_PREFIX) {
        return if buf.len() < V1_PREFIX.len() {
            InboundHeader::Incomplete
        } else {
            parse_v1(buf)
        };
    }
    InboundHeader::Absent
}

/// Whether `buf` begins a PROXY header: `Some(true)` once the v1 prefix or the v2 signature
/// is complete, `Some(false)` as soon as a byte differs from both, `None` while undecided.
pub(crate) fn starts_proxy_header(buf: &[u8]) -> Option<bool> {
    let v1 = starts_like(buf, V1_PREFIX);
    let v2 = starts_like(buf, V2_SIGNATURE);
    if (v1 && buf.len() >= V1_PREFIX.len()) || (v2 && buf.len() >= V2_SIGNATURE.len()) {
        Some(true)
    } else if !v1 && !v2 {
        Some(false)
    } else {
        None
    }
}

/// `buf` and `prefix` agree on their common length (an empty `buf` agrees with anything).
fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

fn parse_v1(buf: &[u8]) -> InboundHeader {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            InboundHeader::Invalid("PROXY v1 line longer than 107 bytes")
        } else {
            InboundHeader::Incomplete
        };
    };
    let len = end + 2;
    let Ok(line) = std::str::from_utf8(&buf[V1_PREFIX.len()..end]) else {
        return InboundHeader::Invalid("PROXY v1 line is not text");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["UNKNOWN", ..] => InboundHeader::Found { source: None, len },
        [family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let v4 = *family == "TCP4";
            let (Some(src), Some(_dst)) = (v1_ip(src, v4), v1_ip(dst, v4)) else {
                return InboundHeader::Invalid("PROXY v1 address does not match its family");
            };
            let (Some(sport), Some(_dport)) = (v1_port(sport), v1_port(dport)) else {
                return InboundHeader::Invalid("PROXY v1 port is not a number in 0..=65535");
            };
            InboundHeader::Found {
                source: Some(SocketAddr::new(src, sport)),
                len,
            }
        }
        _ => InboundHeader::Invalid("PROXY v1 line is not TCP4, TCP6 or UNKNOWN with 4 fields"),
    }
}

fn v1_ip(text: &str, v4: bool) -> Option<IpAddr> {
    if v4 {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }
}

/// Decimal without sign or leading zeros (the specification forbids them).
fn v1_port(text: &str) -> Option<u16> {
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    ok.then(|| text.parse().ok()).flatten()
}

fn parse_v2(buf: &[u8]) -> InboundHeader {
    if buf.len() < 16 {
        return InboundHeader::Incomplete;
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0F;
    if version != 2 {
        return InboundHeader::Invalid("PROXY v2 header with a version other than 2");
    }
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = 16 + body_len;
    if buf.len() < len {
        return InboundHeader::Incomplete;
    }
    let body = &buf[16..len];
    let source = match command {
        // LOCAL: the balancer speaking for itself (a health check); the peer is the client.
        0x0 => None,
        0x1 => match buf[13] {
            0x11 | 0x12 => {
                if body.len() < 12 {
                    return InboundHeader::Invalid("PROXY v2 IPv4 addresses are cut short");
                }
                let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
                Some(SocketAddr::new(
                    IpAddr::V4(ip),
                    u16::from_be_bytes([body[8], body[9]]),
                ))
            }
            0x21 | 0x22 => {
                if body.len() < 36 {
                    return InboundHeader::Invalid("PROXY v2 IPv6 addresses are cut short");
                }
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[..16]);
                Some(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(octets)),
                    u16::from_be_bytes([body[32], body[33]]),
                ))
            }
            // UNSPEC or UNIX: no address to use; the connection is still accepted.
            _ => None,
        },
        _ => return InboundHeader::Invalid("PROXY v2 header with an unknown command"),
    };
    InboundHeader::Found { source, len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l4::proxy_header::proxy_header;
    use shoal_config::ProxyProtocol;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn what_we_send_we_can_read() {
        for version in [ProxyProtocol::V1, ProxyProtocol::V2] {
            for (src, dst) in [
                ("192.0.2.7:51000", "10.0.0.1:6380"),
                ("[2001:db8::7]:443", "[::1]:8443"),
            ] {
                let mut bytes = proxy_header(version, addr(src), addr(dst));
                let len = bytes.len();
                bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
                assert_eq!(
                    parse_proxy_header(&bytes),
                    InboundHeader::Found {
                        source: Some(addr(src)),
                        len
                    },
                    "{version:?} {src}"
                );
                // Every strict prefix is incomplete, never absent or invalid.
                for cut in 0..len {
                    assert_eq!(
                        parse_proxy_header(&bytes[..cut]),
                        InboundHeader::Incomplete,
                        "{version:?} cut at {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn ordinary_data_is_absent() {
        assert_eq!(
            parse_proxy_header(b"GET / HTTP/1.1\r\n"),
            InboundHeader::Absent
        );
        assert_eq!(parse_proxy_header(b"POST /"), InboundHeader::Absent);
        assert_eq!(parse_proxy_header(b"PROXZ"), InboundHeader::Absent);
        assert_eq!(
            parse_proxy_header(&[0x16, 0x03, 0x01]),
            InboundHeader::Absent
        );
        assert_eq!(parse_proxy_header(b"\r\n\r\nX"), InboundHeader::Absent);
    }

    #[test]
    fn telling_a_header_start_early() {
        assert_eq!(starts_proxy_header(b""), None);
        assert_eq!(starts_proxy_header(b"PROX"), None);
        assert_eq!(starts_proxy_header(b"PROXY "), Some(true));
        assert_eq!(starts_proxy_header(b"PROXIMA"), Some(false));
        assert_eq!(starts_proxy_header(b"\r\n\r\n\0"), None);
        assert_eq!(starts_proxy_header(V2_SIGNATURE), Some(true));
        assert_eq!(starts_proxy_header(b"\r\n\r\nX"), Some(false));
        assert_eq!(starts_proxy_header(b"G"), Some(false));
    }

    #[test]
    fn unknown_and_local_name_no_client() {
        assert_eq!(
            parse_proxy_header(b"PROXY UNKNOWN\r\nrest"),
            InboundHeader::Found {
                source: None,
                len: 15
            }
        );
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(
            parse_proxy_header(&local),
            InboundHeader::Found {
                source: None,
                len: 16
            }
        );
    }

    #[test]
    fn v2_tlvs_are_skipped() {
        let mut bytes = proxy_header(
            ProxyProtocol::V2,
            addr("192.0.2.7:1000"),
            addr("10.0.0.1:80"),
        );
        // Append a 7-byte TLV (type 0x04 NOOP, length 4) and fix the length field.
        bytes.extend_from_slice(&[0x04, 0x00, 0x04, 0, 0, 0, 0]);
        let body = (bytes.len() - 16) as u16;
        bytes[14..16].copy_from_slice(&body.to_be_bytes());
        assert_eq!(
            parse_proxy_header(&bytes),
            InboundHeader::Found {
                source: Some(addr("192.0.2.7:1000")),
                len: bytes.len()
            }
        );
    }

    #[test]
    fn malformed_headers_are_invalid() {
        let invalid = |bytes: &[u8]| matches!(parse_proxy_header(bytes), InboundHeader::Invalid(_));
        assert!(invalid(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"));
        assert!(invalid(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"));
        assert!(invalid(b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"));
        assert!(invalid(b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"));
        assert!(invalid(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"));
        assert!(invalid(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"));
        assert!(invalid(&[b"PROXY ".as_slice(), &[b'9'; 120]].concat()));
        let mut v3 = V2_SIGNATURE.to_vec();
        v3.extend_from_slice(&[0x31, 0x11, 0x00, 0x00]);
        assert!(invalid(&v3));
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
        assert!(invalid(&short));
    }
}
