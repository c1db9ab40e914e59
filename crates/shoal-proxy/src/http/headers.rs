//! Header hygiene between client and backend (RFC 9110 §7.6.1): hop-by-hop fields are
//! removed, those a `Connection` header nominates included, BEFORE shoal adds its own
//! (`X-Forwarded-*`, `X-Request-Id`) — otherwise `Connection: x-forwarded-for` would let a
//! client delete what a trusted hop added. Nominations of fields shoal manages are ignored.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use shoal_config::ForwardedFor;
use shoal_upstream::h1::has_token;

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Fields a `Connection` header may not remove: framing and the ones shoal sets itself.
fn is_protected(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "content-length"
            | "transfer-encoding"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-request-id"
            | "forwarded"
    )
}

/// Removes hop-by-hop fields. Returns true when the client asked for `TE: trailers` (gRPC
/// needs it passed on, and it is the one TE value a proxy may forward).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) -> bool {
    // One pass over the names (cheap comparisons of standard headers) tells which of them
    // are there: most messages carry none, and a backend's `Connection: keep-alive` is
    // then one removal, not eight lookups.
    let mut present = Present::default();
    for name in headers.keys() {
        present.note(name);
    }
    if present.is_empty() {
        return false;
    }
    if present.connection {
        // Nominated fields other than the ones handled below (and the ones shoal manages).
        let mut nominated: Vec<HeaderName> = Vec::new();
        for value in headers.get_all(header::CONNECTION) {
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.is_empty() || is_option(token) {
                    continue;
                }
                if let Ok(name) = HeaderName::from_bytes(token) {
                    if !is_protected(name.as_str()) {
                        nominated.push(name);
                    }
                }
            }
        }
        for name in nominated {
            headers.remove(&name);
        }
        headers.remove(header::CONNECTION);
    }
    let mut trailers = false;
    if present.te {
        trailers = has_token(headers, &header::TE, b"trailers");
        headers.remove(header::TE);
    }
    if present.keep_alive {
        headers.remove(KEEP_ALIVE);
    }
    if present.proxy_connection {
        headers.remove(PROXY_CONNECTION);
    }
    if present.transfer_encoding {
        headers.remove(header::TRANSFER_ENCODING);
    }
    if present.upgrade {
        headers.remove(header::UPGRADE);
    }
    trailers
}

/// Which hop-by-hop fields a message has.
#[derive(Default)]
struct Present {
    connection: bool,
    te: bool,
    transfer_encoding: bool,
    upgrade: bool,
    keep_alive: bool,
    proxy_connection: bool,
}

impl Present {
    fn note(&mut self, name: &HeaderName) {
        if name == header::CONNECTION {
            self.connection = true;
        } else if name == header::TE {
            self.te = true;
        } else if name == header::TRANSFER_ENCODING {
            self.transfer_encoding = true;
        } else if name == header::UPGRADE {
            self.upgrade = true;
        } else if name == KEEP_ALIVE {
            self.keep_alive = true;
        } else if name == PROXY_CONNECTION {
            self.proxy_connection = true;
        }
    }

    fn is_empty(&self) -> bool {
        !(self.connection
            || self.te
            || self.transfer_encoding
            || self.upgrade
            || self.keep_alive
            || self.proxy_connection)
    }
}

/// `Connection` tokens that are options or name fields removed anyway, not fields to look
/// for (`close`, `keep-alive`, `upgrade`, `te`, ...): looking them up would be wasted work.
fn is_option(token: &[u8]) -> bool {
    [
        &b"close"[..],
        b"keep-alive",
        b"upgrade",
        b"te",
        b"transfer-encoding",
        b"proxy-connection",
    ]
    .iter()
    .any(|o| token.eq_ignore_ascii_case(o))
}

/// The peer address as a header value, made once per connection (formatting an address
/// showed up in profiles of the request path).
pub(crate) fn peer_value(peer: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Sets what the backend should know about the original request. `peer` is
/// [`peer_value`] of the client's address; `secure`: the request came over TLS.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    mode: ForwardedFor,
    host: Option<&HeaderValue>,
    secure: bool,
) {
    // Entries: one lookup per field, whether it is kept, extended or replaced.
    match headers.entry(X_FORWARDED_FOR) {
        header::Entry::Occupied(mut entry) if mode == ForwardedFor::Append => {
            let mut joined = Vec::new();
            for v in entry.iter() {
                joined.extend_from_slice(v.as_bytes());
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(peer.as_bytes());
            entry.insert(HeaderValue::from_bytes(&joined).unwrap_or_else(|_| peer.clone()));
        }
        header::Entry::Occupied(mut entry) => {
            entry.insert(peer.clone());
        }
        header::Entry::Vacant(entry) => {
            entry.insert(peer.clone());
        }
    }
    // Behind a trusted hop (append mode) the first hop's view of proto and host is kept.
    // Over TLS the proto is always https: shoal decrypted the request itself, so a client's
    // claim of plain http would be a lie (and could make a backend redirect in a loop).
    let keep_existing = mode == ForwardedFor::Append;
    let proto = HeaderValue::from_static(if secure { "https" } else { "http" });
    match headers.entry(X_FORWARDED_PROTO) {
        header::Entry::Occupied(_) if keep_existing && !secure => {}
        header::Entry::Occupied(mut entry) => {
            entry.insert(proto);
        }
        header::Entry::Vacant(entry) => {
            entry.insert(proto);
        }
    }
    if let Some(host) = host {
        match headers.entry(X_FORWARDED_HOST) {
            header::Entry::Occupied(_) if keep_existing => {}
            header::Entry::Occupied(mut entry) => {
                entry.insert(host.clone());
            }
            header::Entry::Vacant(entry) => {
                entry.insert(host.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn strips_standard_and_nominated_fields() {
        let mut h = map(&[
            ("connection", "close, x-secret, X-Forwarded-For, host"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "h2c"),
            ("te", "gzip"),
            ("host", "a.example"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-kept", "yes"),
        ]);
        assert!(!strip_hop_by_hop(&mut h));
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "proxy-connection",
            "upgrade",
            "te",
        ] {
            assert!(!h.contains_key(gone), "{gone} should be removed");
        }
        for kept in ["host", "x-forwarded-for", "x-kept"] {
            assert!(h.contains_key(kept), "{kept} should stay");
        }
    }

    #[test]
    fn te_trailers_is_reported() {
        let mut h = map(&[("te", "trailers, deflate")]);
        assert!(strip_hop_by_hop(&mut h));
        assert!(!h.contains_key("te"));
    }

    #[test]
    fn forwarded_for_appends_or_replaces() {
        let peer = peer_value("192.0.2.7".parse().expect("ip"));
        let host = HeaderValue::from_static("shop.example");
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        add_forwarded(&mut h, &peer, ForwardedFor::Append, Some(&host), false);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");

        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
        ]);
        add_forwarded(&mut h, &peer, ForwardedFor::Replace, Some(&host), false);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
    }

    #[test]
    fn forwarded_proto_is_https_over_tls_whatever_the_client_says() {
        let peer = peer_value("192.0.2.7".parse().expect("ip"));
        for mode in [ForwardedFor::Append, ForwardedFor::Replace] {
            let mut h = map(&[("x-forwarded-proto", "http")]);
            add_forwarded(&mut h, &peer, mode, None, true);
            assert_eq!(h["x-forwarded-proto"], "https", "{mode:?}");
            let mut h = HeaderMap::new();
            add_forwarded(&mut h, &peer, mode, None, true);
            assert_eq!(h["x-forwarded-proto"], "https", "{mode:?}");
        }
        // Plain http in append mode keeps a trusted hop's https.
        let mut h = map(&[("x-forwarded-proto", "https")]);
        add_forwarded(&mut h, &peer, ForwardedFor::Append, None, false);
        assert_eq!(h["x-forwarded-proto"], "https");
    }
}
