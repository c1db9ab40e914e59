//! [`SniTable`]: which upstream a TLS connection goes to, by the server name its ClientHello
//! asks for (a tls_passthrough listener's `sni`).
//!
//! The same host rules as routes: names compare lower-case without a trailing dot; an exact
//! name beats any wildcard; `*.example.com` matches `a.example.com` and `a.b.example.com` but
//! not `example.com`; between wildcards the longer suffix wins. A name matching nothing (or a
//! ClientHello without one) takes the listener's default upstream, if it has one.

use std::collections::HashMap;

use shoal_config::{HostMatch, SniRoute};

#[derive(Debug, Clone, Default)]
pub struct SniTable {
    exact: HashMap<Box<str>, usize>,
    /// (suffix with its leading dot, value), longest suffix first.
    wildcards: Vec<(Box<str>, usize)>,
    default: Option<usize>,
}

impl SniTable {
    /// `resolve` turns an upstream name into the caller's index for it.
    pub fn new(
        routes: &[SniRoute],
        default: Option<usize>,
        mut resolve: impl FnMut(&str) -> usize,
    ) -> SniTable {
        let mut table = SniTable {
            default,
            ..SniTable::default()
        };
        for route in routes {
            let value = resolve(&route.upstream);
            match &route.host {
                HostMatch::Exact(name) => {
                    table.exact.entry(name.as_str().into()).or_insert(value);
                }
                HostMatch::Wildcard(suffix) => {
                    table.wildcards.push((suffix.as_str().into(), value))
                }
            }
        }
        // Stable: equal lengths keep file order (config validation refuses duplicates anyway).
        table
            .wildcards
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        table
    }

    /// The value for `server_name` (None: the ClientHello named no server).
    pub fn find(&self, server_name: Option<&str>) -> Option<usize> {
        let Some(name) = server_name else {
            return self.default;
        };
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if let Some(value) = self.exact.get(name.as_str()) {
            return Some(*value);
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(&**suffix))
            .map(|(_, value)| *value)
            .or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: HostMatch, upstream: &str) -> SniRoute {
        SniRoute {
            host,
            upstream: upstream.to_string(),
        }
    }

    fn table(default: Option<usize>) -> SniTable {
        let routes = [
            route(HostMatch::Wildcard(".example.com".into()), "wild"),
            route(HostMatch::Exact("shop.example.com".into()), "shop"),
            route(HostMatch::Wildcard(".eu.example.com".into()), "eu"),
        ];
        SniTable::new(&routes, default, |name| match name {
            "wild" => 1,
            "shop" => 2,
            "eu" => 3,
            _ => usize::MAX,
        })
    }

    #[test]
    fn exact_beats_wildcard_and_longer_wildcards_win() {
        let t = table(None);
        assert_eq!(t.find(Some("shop.example.com")), Some(2));
        assert_eq!(t.find(Some("SHOP.Example.com.")), Some(2));
        assert_eq!(t.find(Some("blog.example.com")), Some(1));
        assert_eq!(t.find(Some("a.b.example.com")), Some(1));
        assert_eq!(t.find(Some("paris.eu.example.com")), Some(3));
    }

    #[test]
    fn a_wildcard_does_not_match_its_bare_domain() {
        assert_eq!(table(None).find(Some("example.com")), None);
        assert_eq!(table(Some(9)).find(Some("example.com")), Some(9));
    }

    #[test]
    fn unknown_or_missing_names_take_the_default() {
        assert_eq!(table(Some(9)).find(Some("other.org")), Some(9));
        assert_eq!(table(Some(9)).find(None), Some(9));
        assert_eq!(table(None).find(None), None);
        assert_eq!(table(None).find(Some("other.org")), None);
    }
}
