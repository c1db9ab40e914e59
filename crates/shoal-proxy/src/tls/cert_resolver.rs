//! Which certificate a client gets: chosen by the name it sends in SNI, from the DNS names
//! each certificate was issued for (its subjectAltName).
//!
//! The rule, in order:
//! 1. a certificate with that exact name (`shop.example.com`);
//! 2. a certificate with a wildcard one label above it (`*.example.com` covers
//!    `a.example.com`, not `a.b.example.com` nor `example.com`, as RFC 6125 §6.4.3 has it);
//! 3. otherwise the listener's first certificate: for unknown names, and for clients that
//!    send no SNI (they connected to an IP address).
//!
//! Names compare case-insensitively, and a trailing dot (`shop.example.com.`) is ignored.
//! When two certificates carry the same name, the earlier one in the config wins.
//!
//! The set lives behind an `ArcSwap`, so a reload swaps it in whole: handshakes under way
//! keep the set they started with, new ones see the new set, and no lock is taken.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use shoal_tls::rustls::server::{ClientHello, ResolvesServerCert};
use shoal_tls::rustls::sign::CertifiedKey;

/// One listener's certificates, indexed by name. `T` is the certificate (generic so the
/// name rule is tested without any crypto).
#[derive(Debug)]
pub(crate) struct CertSet<T> {
    exact: HashMap<String, T>,
    /// `*.example.com` is kept under `example.com`.
    wildcard: HashMap<String, T>,
    default: T,
}

impl<T: Clone> CertSet<T> {
    /// `certs` in config order: each with its DNS names (lower-case, `*.` for wildcards).
    /// The first is the default. None when there is none.
    pub(crate) fn new(certs: impl IntoIterator<Item = (T, Vec<String>)>) -> Option<CertSet<T>> {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        let mut default = None;
        for (cert, names) in certs {
            for name in names {
                let name = normalize(&name).into_owned();
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard
                        .entry(parent.to_string())
                        .or_insert_with(|| cert.clone()),
                    None => exact.entry(name).or_insert_with(|| cert.clone()),
                };
            }
            default.get_or_insert(cert);
        }
        Some(CertSet {
            exact,
            wildcard,
            default: default?,
        })
    }
}

impl<T> CertSet<T> {
    /// The certificate for a client that sent `sni` (None: no SNI).
    pub(crate) fn select(&self, sni: Option<&str>) -> &T {
        let Some(sni) = sni else {
            return &self.default;
        };
        let name = normalize(sni);
        if let Some(cert) = self.exact.get(name.as_ref()) {
            return cert;
        }
        let parent = name.split_once('.').map(|(_, parent)| parent);
        parent
            .and_then(|parent| self.wildcard.get(parent))
            .unwrap_or(&self.default)
    }
}

/// Lower-case, without a trailing dot; borrowed when already so (SNI usually is).
fn normalize(name: &str) -> Cow<'_, str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// rustls asks this for the certificate of each handshake.
#[derive(Debug)]
pub(crate) struct CertResolver {
    set: ArcSwap<CertSet<Arc<CertifiedKey>>>,
}

impl CertResolver {
    pub(crate) fn new(set: CertSet<Arc<CertifiedKey>>) -> CertResolver {
        CertResolver {
            set: ArcSwap::from_pointee(set),
        }
    }

    /// New handshakes use `set` from now on.
    pub(crate) fn replace(&self, set: CertSet<Arc<CertifiedKey>>) {
        self.set.store(Arc::new(set));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            self.set.load().select(client_hello.server_name()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(certs: &[(&'static str, &[&str])]) -> CertSet<&'static str> {
        CertSet::new(
            certs
                .iter()
                .map(|(id, names)| (*id, names.iter().map(|n| n.to_string()).collect())),
        )
        .expect("non-empty")
    }

    #[test]
    fn exact_names_then_wildcards_then_the_first_certificate() {
        let certs = set(&[
            ("shop", &["shop.example.com"]),
            ("wild", &["*.example.com", "example.org"]),
            ("other", &["*.other.test", "api.other.test"]),
        ]);
        assert_eq!(*certs.select(Some("shop.example.com")), "shop");
        assert_eq!(*certs.select(Some("www.example.com")), "wild");
        assert_eq!(*certs.select(Some("example.org")), "wild");
        assert_eq!(*certs.select(Some("api.other.test")), "other");
        assert_eq!(*certs.select(Some("x.other.test")), "other");
        // Unknown names and no SNI: the first certificate.
        assert_eq!(*certs.select(Some("unknown.test")), "shop");
        assert_eq!(*certs.select(None), "shop");
    }

    #[test]
    fn a_wildcard_covers_exactly_one_label() {
        let certs = set(&[("default", &["default.test"]), ("wild", &["*.example.com"])]);
        assert_eq!(*certs.select(Some("a.example.com")), "wild");
        assert_eq!(*certs.select(Some("a.b.example.com")), "default");
        assert_eq!(*certs.select(Some("example.com")), "default");
        assert_eq!(*certs.select(Some(".example.com")), "wild");
        assert_eq!(*certs.select(Some("com")), "default");
        assert_eq!(*certs.select(Some("")), "default");
    }

    #[test]
    fn names_compare_case_insensitively_without_a_trailing_dot() {
        let certs = set(&[
            ("default", &["default.test"]),
            ("shop", &["Shop.Example.COM"]),
            ("wild", &["*.Example.org."]),
        ]);
        assert_eq!(*certs.select(Some("SHOP.example.com")), "shop");
        assert_eq!(*certs.select(Some("shop.example.com.")), "shop");
        assert_eq!(*certs.select(Some("WWW.EXAMPLE.ORG.")), "wild");
    }

    #[test]
    fn an_exact_name_beats_a_wildcard_and_earlier_certificates_win_ties() {
        let certs = set(&[
            ("wild", &["*.example.com"]),
            ("exact", &["api.example.com"]),
            ("late", &["api.example.com", "*.example.com"]),
        ]);
        assert_eq!(*certs.select(Some("api.example.com")), "exact");
        assert_eq!(*certs.select(Some("www.example.com")), "wild");
    }

    #[test]
    fn a_certificate_without_names_can_only_be_the_default() {
        let certs = set(&[("ip-only", &[]), ("named", &["a.test"])]);
        assert_eq!(*certs.select(Some("a.test")), "named");
        assert_eq!(*certs.select(Some("b.test")), "ip-only");
        assert!(CertSet::<&str>::new(Vec::new()).is_none());
    }
}
