//! What a request must be before it goes anywhere (reliability.md §2.1–2.3). The parsers
//! already refuse what they cannot parse (400/431); these are the checks a proxy adds on top, because
//! a backend might read the same bytes differently.

use http::header::{HeaderMap, HeaderName};
use http::request::Parts;
use http::{Method, Version};

use super::error_response::ProxyError;

/// Refuses requests whose target a backend could misread. (Framing is the HTTP/1 parser's
/// business, `h1/request_head.rs`: HTTP/2 has no framing fields.)
pub(crate) fn check(parts: &Parts) -> Result<(), ProxyError> {
    check_target(parts)
}

/// The request-target form must fit the method (RFC 9112 §3.2): `*` only for OPTIONS,
/// authority-form only for CONNECT — which shoal does not tunnel.
fn check_target(parts: &Parts) -> Result<(), ProxyError> {
    if parts.method == Method::CONNECT {
        return Err(ProxyError::MethodNotAllowed("CONNECT is not supported"));
    }
    let uri = &parts.uri;
    if uri.path() == "*" && uri.authority().is_none() {
        return if parts.method == Method::OPTIONS {
            Ok(())
        } else {
            Err(ProxyError::BadRequest(
                "asterisk-form target is only for OPTIONS",
            ))
        };
    }
    // HTTP/2 requests always carry scheme and authority; an HTTP/1 target with an authority
    // but no scheme is authority-form.
    if parts.version != Version::HTTP_2 && uri.authority().is_some() && uri.scheme().is_none() {
        return Err(ProxyError::BadRequest(
            "authority-form target is only for CONNECT",
        ));
    }
    Ok(())
}

/// Drops header fields whose names contain `_`: CGI-style backends read `X_Forwarded_For` as
/// `X-Forwarded-For`, so a client could smuggle one past shoal's own (nginx drops them too).
pub(crate) fn drop_underscored(headers: &mut HeaderMap) {
    if !headers.keys().any(|k| k.as_str().contains('_')) {
        return;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().contains('_'))
        .cloned()
        .collect();
    for name in names {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(method: &str, uri: &str) -> Parts {
        let b = Request::builder().method(method).uri(uri);
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn target_forms_fit_methods() {
        assert!(check(&parts("OPTIONS", "*")).is_ok());
        assert_eq!(
            check(&parts("GET", "*")).expect_err("x").status().as_u16(),
            400
        );
        assert_eq!(
            check(&parts("GET", "a.example:80"))
                .expect_err("x")
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            check(&parts("CONNECT", "a.example:80"))
                .expect_err("x")
                .status()
                .as_u16(),
            405
        );
        assert!(check(&parts("GET", "http://a.example/x")).is_ok());
        assert!(check(&parts("GET", "/x")).is_ok());
    }

    #[test]
    fn underscored_names_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("x_forwarded_for", "6.6.6.6".parse().expect("v"));
        h.insert("x-ok", "1".parse().expect("v"));
        drop_underscored(&mut h);
        assert!(!h.contains_key("x_forwarded_for"));
        assert!(h.contains_key("x-ok"));
    }
}
