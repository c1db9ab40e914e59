//! Turning the request head the pipeline built (origin-form target, `Host`) into an HTTP/2 one.

use http::header::HOST;
use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Uri, Version};

/// The target becomes `scheme://authority/path?query` — hyper sends it as `:scheme`,
/// `:authority` and `:path` — and `Host` is removed: an intermediary builds `:authority` from
/// the request's authority and sends no `Host` beside it (RFC 9113 §8.3.1). `tls` decides the
/// scheme.
///
/// A request without any authority (HTTP/1.0 without `Host`) gets none invented (RFC 9113
/// §8.3.1 again): its target stays origin-form and is sent with `:scheme http` and no
/// `:authority`.
pub fn prepare_request(parts: &mut Parts, tls: bool) {
    let authority = parts
        .headers
        .get(HOST)
        .and_then(|host| Authority::try_from(host.as_bytes()).ok());
    let Some(authority) = authority else {
        // h2 accepts a relative target only on a request not marked HTTP/2.
        parts.version = Version::HTTP_11;
        return;
    };
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let scheme = if tls { Scheme::HTTPS } else { Scheme::HTTP };
    if let Ok(uri) = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path)
        .build()
    {
        parts.uri = uri;
        parts.headers.remove(HOST);
        parts.version = Version::HTTP_2;
    } else {
        parts.version = Version::HTTP_11;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(uri: &str, host: Option<&str>) -> Parts {
        let mut builder = Request::get(uri);
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn host_becomes_the_authority() {
        let mut p = parts("/a/b?c=1", Some("api.example:8443"));
        prepare_request(&mut p, true);
        assert_eq!(p.uri.to_string(), "https://api.example:8443/a/b?c=1");
        assert!(p.headers.get("host").is_none());
        assert_eq!(p.version, Version::HTTP_2);

        let mut p = parts("/", Some("api.example"));
        prepare_request(&mut p, false);
        assert_eq!(p.uri.to_string(), "http://api.example/");
    }

    #[test]
    fn no_authority_is_invented() {
        let mut p = parts("/x", None);
        prepare_request(&mut p, false);
        assert_eq!(p.uri.to_string(), "/x");
        assert_eq!(p.version, Version::HTTP_11);
    }
}
