//! Finding a request's cookie or query parameter by name: shared by the rate limit's keys,
//! the sticky cookie and (in shoal-proxy) the hashing balancers' `hash_key`.

use http::header::{HeaderMap, COOKIE};
use http::Uri;

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii_start();
            let eq = pair.iter().position(|b| *b == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
}

/// The raw (not percent-decoded) value of query parameter `name`.
pub fn query<'a>(uri: &'a Uri, name: &str) -> Option<&'a [u8]> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn cookies_and_queries() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; sid=s9"));
        h.append(COOKIE, HeaderValue::from_static("z=last"));
        assert_eq!(cookie(&h, "sid"), Some(&b"s9"[..]));
        assert_eq!(cookie(&h, "z"), Some(&b"last"[..]));
        assert_eq!(cookie(&h, "si"), None);
        let uri: Uri = "/p?a=1&user=bob&flag".parse().expect("uri");
        assert_eq!(query(&uri, "user"), Some(&b"bob"[..]));
        assert_eq!(query(&uri, "flag"), Some(&b""[..]));
        assert_eq!(query(&uri, "us"), None);
    }
}
