//! An IP network written in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address for a
//! single host), for lists of trusted peers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address with the host bits cleared.
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IP address")]
    Address(String),
    #[error("prefix length {prefix} is out of range (at most {max})")]
    Prefix { prefix: String, max: u8 },
    #[error("{text:?} has host bits set past /{prefix}; did you mean {network}/{prefix}?")]
    HostBits {
        text: String,
        network: IpAddr,
        prefix: u8,
    },
}

impl Cidr {
    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// what a dual-stack socket reports for IPv4 peers) is judged as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Refuses a network with host bits set (`10.1.2.3/8`): that is almost always a typo, and
    /// silently widening or narrowing a trust list is worse than an error.
    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(addr.to_string()))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(CidrError::Prefix {
                        prefix: p.to_string(),
                        max,
                    })
                }
            },
        };
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(u32::from(v4), prefix).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(u128::from(v6), prefix).into()),
        };
        if network != ip {
            return Err(CidrError::HostBits {
                text: text.to_string(),
                network,
                prefix,
            });
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("cidr")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ipv4_networks() {
        let net = cidr("127.0.0.0/8");
        assert!(net.contains(ip("127.0.0.1")));
        assert!(net.contains(ip("127.255.255.255")));
        assert!(!net.contains(ip("128.0.0.1")));
        assert!(!net.contains(ip("::1")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        let host = cidr("10.1.2.3");
        assert_eq!(host.prefix(), 32);
        assert!(host.contains(ip("10.1.2.3")));
        assert!(!host.contains(ip("10.1.2.4")));
    }

    #[test]
    fn ipv6_networks_and_mapped_ipv4_peers() {
        let net = cidr("2001:db8::/32");
        assert!(net.contains(ip("2001:db8:1::7")));
        assert!(!net.contains(ip("2001:db9::1")));
        assert!(cidr("::1/128").contains(ip("::1")));
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.9.8.7")));
        // A mapped peer is IPv4: an IPv6-only list does not take it in.
        assert!(!cidr("::/0").contains(ip("::ffff:10.9.8.7")));
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>(),
            Err(CidrError::HostBits {
                text: "10.1.2.3/8".into(),
                network: ip("10.0.0.0"),
                prefix: 8
            })
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::Prefix { max: 32, .. })
        ));
        assert!(matches!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::Prefix { max: 128, .. })
        ));
        assert!(matches!(
            "10.0.0.0/+8".parse::<Cidr>(),
            Err(CidrError::Prefix { .. })
        ));
        assert!(matches!(
            "localhost/8".parse::<Cidr>(),
            Err(CidrError::Address(_))
        ));
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }
}
