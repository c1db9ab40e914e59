//! The key a hashing balancer places a request by (`hash_key` in the upstream config).

use std::net::IpAddr;

use http::header::HeaderMap;
use http::Uri;
use shoal_core::HashKey;

/// The hash of the request's key, or None when the request does not carry it (the balancer
/// then falls back to round robin).
pub(crate) fn hash(key: &HashKey, peer: IpAddr, uri: &Uri, headers: &HeaderMap) -> Option<u64> {
    match key {
        HashKey::ClientIp => Some(match peer {
            IpAddr::V4(ip) => shoal_balance::hash_bytes(&ip.octets()),
            IpAddr::V6(ip) => shoal_balance::hash_bytes(&ip.octets()),
        }),
        HashKey::Header(name) => headers
            .get(name.as_str())
            .map(|v| shoal_balance::hash_bytes(v.as_bytes())),
        HashKey::Cookie(name) => cookie(headers, name).map(shoal_balance::hash_bytes),
        HashKey::Query(name) => query(uri, name).map(shoal_balance::hash_bytes),
        HashKey::Path => Some(shoal_balance::hash_bytes(uri.path().as_bytes())),
    }
}

// The same lookups the gateway's rate-limit keys and sticky cookies use.
use shoal_gateway::request_key::{cookie, query};

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;
    use http::HeaderValue;

    #[test]
    fn finds_each_kind_of_key() {
        let peer: IpAddr = "10.1.2.3".parse().expect("ip");
        let uri: Uri = "/p/x?a=1&user=bob&z".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert("x-user-id", HeaderValue::from_static("u42"));
        headers.append(COOKIE, HeaderValue::from_static("a=1; sid=s9"));
        let h = shoal_balance::hash_bytes;
        assert_eq!(
            hash(&HashKey::ClientIp, peer, &uri, &headers),
            Some(h(&[10, 1, 2, 3]))
        );
        assert_eq!(
            hash(
                &"header:x-user-id".parse().expect("key"),
                peer,
                &uri,
                &headers
            ),
            Some(h(b"u42"))
        );
        assert_eq!(
            hash(&"cookie:sid".parse().expect("key"), peer, &uri, &headers),
            Some(h(b"s9"))
        );
        assert_eq!(
            hash(&"query:user".parse().expect("key"), peer, &uri, &headers),
            Some(h(b"bob"))
        );
        assert_eq!(hash(&HashKey::Path, peer, &uri, &headers), Some(h(b"/p/x")));
        assert_eq!(
            hash(&"header:absent".parse().expect("key"), peer, &uri, &headers),
            None
        );
        assert_eq!(
            hash(&"cookie:a1".parse().expect("key"), peer, &uri, &headers),
            None
        );
        assert_eq!(
            hash(&"query:us".parse().expect("key"), peer, &uri, &headers),
            None
        );
    }
}
