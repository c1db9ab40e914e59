//! What a request must be before it goes anywhere (reliability.md §2.1–2.3). hyper already
//! refuses what it cannot parse (400/431); these are the checks a proxy adds on top, because
//! a backend might read the same bytes differently.

use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use http::{Method, Version};

use super::error_response::ProxyError;

/// Refuses requests whose framing or target a backend could misread.
pub(crate) fn check(parts: &Parts) -> Result<(), ProxyError> {
    check_transfer_encoding(parts)?;
    check_target(parts)?;
    Ok(())
}

/// Only `Transfer-Encoding: chunked`, once, is accepted on a request (RFC 9112 §6.1):
/// a repeated `chunked` is malformed (400), any other coding is not supported (501). hyper
/// has already refused codings where chunked is not last, and TE on HTTP/1.0.
fn check_transfer_encoding(parts: &Parts) -> Result<(), ProxyError> {
    let mut values = parts.headers.get_all(header::TRANSFER_ENCODING).iter();
    let Some(first) = values.next() else {
        return Ok(());
    };
    if values.next().is_some() {
        return Err(ProxyError::BadRequest("repeated Transfer-Encoding"));
    }
    let codings: Vec<&[u8]> = first
        .as_bytes()
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .collect();
    match codings.as_slice() {
        [only] if only.eq_ignore_ascii_case(b"chunked") => Ok(()),
        list if list
            .iter()
            .filter(|c| c.eq_ignore_ascii_case(b"chunked"))
            .count()
            > 1 =>
        {
            Err(ProxyError::BadRequest("repeated chunked transfer coding"))
        }
        _ => Err(ProxyError::NotImplemented(
            "transfer codings other than chunked",
        )),
    }
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

    fn parts(method: &str, uri: &str, te: &[&str]) -> Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for v in te {
            b = b.header("transfer-encoding", *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn transfer_encoding_rules() {
        assert!(check(&parts("POST", "/", &["chunked"])).is_ok());
        assert!(check(&parts("POST", "/", &["CHUNKED"])).is_ok());
        assert!(check(&parts("POST", "/", &[])).is_ok());
        for (te, status) in [
            (&["chunked", "chunked"][..], 400),
            (&["chunked, chunked"][..], 400),
            (&["gzip, chunked"][..], 501),
            (&["identity"][..], 501),
        ] {
            let e = check(&parts("POST", "/", te)).expect_err("refused");
            assert_eq!(e.status().as_u16(), status, "{te:?}");
        }
    }

    #[test]
    fn target_forms_fit_methods() {
        assert!(check(&parts("OPTIONS", "*", &[])).is_ok());
        assert_eq!(
            check(&parts("GET", "*", &[]))
                .expect_err("x")
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            check(&parts("GET", "a.example:80", &[]))
                .expect_err("x")
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            check(&parts("CONNECT", "a.example:80", &[]))
                .expect_err("x")
                .status()
                .as_u16(),
            405
        );
        assert!(check(&parts("GET", "http://a.example/x", &[])).is_ok());
        assert!(check(&parts("GET", "/x", &[])).is_ok());
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
