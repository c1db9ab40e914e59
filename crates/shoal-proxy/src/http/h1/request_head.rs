//! Reading a client's HTTP/1.x request head strictly (reliability.md §2.1–2.3): anything a
//! backend could read differently is refused here, before the request goes anywhere.
//!
//! - the request line and fields follow httparse's strict grammar: no whitespace before a
//!   colon, no obs-fold, no NUL or bare CR, tokens for methods and names; HTTP/1.0 and 1.1
//!   only (anything else is 505);
//! - the head may not exceed the listener's `max_header_bytes` nor [`MAX_FIELDS`] fields
//!   (431); a target longer than [`MAX_TARGET`] is 414;
//! - the body's framing (RFC 9112 §6.1, §6.3): only `Transfer-Encoding: chunked`, once, is
//!   accepted (a coding list not ending in chunked, a repeated field or a repeated chunked:
//!   400; another coding before chunked: 501), never on HTTP/1.0; with `Content-Length`
//!   beside it the request is refused (as nginx does) rather than guessed at; every
//!   `Content-Length` value must be the same run of digits. (HTTP/2 has no such fields:
//!   hyper refuses them as connection-specific.)

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, StatusCode, Uri, Version};
use shoal_upstream::h1::{lists_token, locate, FieldOffsets};

/// Most header fields accepted in a request head (hyper's default too).
pub(crate) const MAX_FIELDS: usize = 100;
/// Longest request target (what `http::Uri` can hold).
pub(crate) const MAX_TARGET: usize = 65534;

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug)]
pub(crate) struct RequestHead {
    pub parts: Parts,
    pub body: BodyFraming,
    /// The client allows another request on this connection after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending the body.
    pub expect_continue: bool,
    /// `TE: trailers`: the client takes trailer fields in a chunked response.
    pub trailers: bool,
}

/// Parses a request head from the front of `buf`, consuming it. `Ok(None)`: more bytes are
/// needed. `Err(status)`: the head is refused with that status (the connection then closes).
pub(crate) fn parse(
    buf: &mut BytesMut,
    max_head: usize,
) -> Result<Option<RequestHead>, StatusCode> {
    // Uninitialised slots: zeroing them per request would show in profiles.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut []);
    let used = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > max_head {
                Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Err(httparse::Error::Version) if names_other_version(buf) => {
            return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        }
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    };
    if used > max_head {
        return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let version = match request.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
    };
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(StatusCode::BAD_REQUEST)?;
    let target = request.path.ok_or(StatusCode::BAD_REQUEST)?;
    if target.len() > MAX_TARGET {
        return Err(StatusCode::URI_TOO_LONG);
    }
    // A fragment is the client's business (RFC 9110 §4.2.5): one on the wire is malformed,
    // and dropping it silently would forward something else than was sent.
    if target.contains('#') {
        return Err(StatusCode::BAD_REQUEST);
    }
    // Everything httparse returned is a subslice of `buf`: where, so that the values can be
    // sliced out of the head once it is split off (shoal-upstream's `FieldOffsets`).
    let target = locate(buf, used, target.as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)?;
    let fields =
        FieldOffsets::of(buf, used, request.headers).map_err(|_| StatusCode::BAD_REQUEST)?;
    let head = buf.split_to(used).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0 as usize..target.1 as usize))
        .map_err(|_| StatusCode::BAD_REQUEST)?;

    // Room for the fields the request path adds (forwarded-for/proto/host, request id,
    // traceparent), so that the map does not grow on the way.
    let mut facts = Facts::default();
    let mut headers = fields.into_map(&head, 6, StatusCode::BAD_REQUEST, |name, value| {
        facts.note(name, value)
    })?;
    let body = facts.framing(version)?;
    if let (Some(n), true) = (facts.length, facts.length_fields > 1 || facts.length_list) {
        // `5, 5` or the field twice: the backend gets one clean value.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    let keep_alive = match version {
        Version::HTTP_11 => !facts.close,
        _ => facts.keep_alive && !facts.close,
    };
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(RequestHead {
        parts,
        body,
        keep_alive,
        expect_continue: facts.expect_continue && version == Version::HTTP_11,
        trailers: facts.trailers,
    }))
}

/// What the fields say about framing and the connection, gathered in the one pass that
/// builds the header map.
#[derive(Default)]
struct Facts {
    length: Option<u64>,
    /// Content-Length fields seen, and whether one was a list.
    length_fields: u32,
    length_list: bool,
    /// Transfer-Encoding fields seen; `chunked` codings among them; other codings; whether
    /// the last coding of the last field is chunked.
    transfer_encodings: u32,
    chunked: u32,
    other_codings: bool,
    empty_coding: bool,
    chunked_last: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    trailers: bool,
}

impl Facts {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), StatusCode> {
        if *name == header::CONTENT_LENGTH {
            self.length_fields += 1;
            self.length_list |= value.as_bytes().contains(&b',');
            for part in value.as_bytes().split(|b| *b == b',') {
                let n = content_length(part.trim_ascii()).ok_or(StatusCode::BAD_REQUEST)?;
                match self.length {
                    Some(l) if l != n => return Err(StatusCode::BAD_REQUEST),
                    _ => self.length = Some(n),
                }
            }
        } else if *name == header::TRANSFER_ENCODING {
            self.transfer_encodings += 1;
            for coding in value.as_bytes().split(|b| *b == b',') {
                let coding = coding.trim_ascii();
                // An empty list element (`, chunked`) is no coding at all: malformed.
                self.empty_coding |= coding.is_empty();
                let chunked = coding.eq_ignore_ascii_case(b"chunked");
                self.chunked += u32::from(chunked);
                self.other_codings |= !chunked;
                self.chunked_last = chunked;
            }
        } else if *name == header::CONNECTION {
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        } else if *name == header::TE {
            self.trailers |= lists_token(value.as_bytes(), b"trailers");
        } else if *name == header::EXPECT {
            self.expect_continue = value
                .as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    fn framing(&self, version: Version) -> Result<BodyFraming, StatusCode> {
        if self.transfer_encodings > 0 {
            // A length beside a coding is the classic smuggling gadget; HTTP/1.0 has no
            // chunked coding; a coding list not ending in chunked has no knowable length;
            // chunked twice is malformed.
            if self.length.is_some()
                || version == Version::HTTP_10
                || !self.chunked_last
                || self.transfer_encodings > 1
                || self.chunked > 1
                || self.empty_coding
            {
                return Err(StatusCode::BAD_REQUEST);
            }
            if self.other_codings {
                // gzip, chunked: well-formed, but shoal does not decode codings.
                return Err(StatusCode::NOT_IMPLEMENTED);
            }
            return Ok(BodyFraming::Chunked);
        }
        Ok(match self.length {
            None | Some(0) => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        })
    }
}

/// True when a request line httparse refused for its version is otherwise well formed and
/// names another HTTP version (`GET / HTTP/2.0`): 505 rather than 400.
fn names_other_version(buf: &[u8]) -> bool {
    let line = buf.split(|b| *b == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|b| *b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// A Content-Length value: 1 to 19 digits, nothing else (no sign, no spaces inside).
fn content_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<RequestHead>, StatusCode> {
        let mut buf = BytesMut::from(text.as_bytes());
        parse(&mut buf, 16 * 1024)
    }

    fn status(text: &str) -> u16 {
        match head(text) {
            Err(status) => status.as_u16(),
            Ok(Some(_)) => 0,
            Ok(None) => 1,
        }
    }

    #[test]
    fn parses_a_head_and_leaves_what_follows() {
        let mut buf = BytesMut::from(
            &b"GET /a?b=1 HTTP/1.1\r\nHost: x.example\r\nX-Two: 1\r\nx-two: 2\r\n\r\nNEXT"[..],
        );
        let head = parse(&mut buf, 1024).expect("valid").expect("complete");
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri, "/a?b=1");
        assert_eq!(head.parts.version, Version::HTTP_11);
        assert_eq!(head.parts.headers["host"], "x.example");
        assert_eq!(head.parts.headers.get_all("x-two").iter().count(), 2);
        assert_eq!(head.body, BodyFraming::None);
        assert!(head.keep_alive);
        assert_eq!(&buf[..], b"NEXT");
    }

    #[test]
    fn waits_for_the_rest_of_a_head() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a"), 1);
        assert_eq!(status(""), 1);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framed = |text: &str| head(text).expect("valid").expect("complete").body;
        assert_eq!(
            framed("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            BodyFraming::Length(12)
        );
        let same = head("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(same.body, BodyFraming::Length(3));
        let lengths: Vec<_> = same
            .parts
            .headers
            .get_all("content-length")
            .iter()
            .collect();
        assert_eq!(lengths, ["3"], "one clean value goes on");
        assert_eq!(
            framed("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            BodyFraming::None
        );
        assert_eq!(
            framed("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
            BodyFraming::Chunked
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
    }

    #[test]
    fn refuses_what_a_backend_could_misread() {
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
            "GET /a#frag HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(status(bad), 400, "{bad:?}");
        }
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status("GE T / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET /\r\n\r\n"), 400);
    }

    #[test]
    fn limits_give_431_and_414() {
        let mut big = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_FIELDS {
            big.push_str(&format!("x-{i}: 1\r\n"));
        }
        big.push_str("\r\n");
        assert_eq!(status(&big), 431);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert_eq!(status(&long), 431);
        let partial = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(20_000));
        assert_eq!(status(&partial), 431);
        let mut buf =
            BytesMut::from(format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET)).as_bytes());
        assert_eq!(
            parse(&mut buf, 1 << 20).err(),
            Some(StatusCode::URI_TOO_LONG)
        );
    }

    #[test]
    fn keep_alive_and_expect() {
        let h = |text: &str| head(text).expect("valid").expect("complete");
        assert!(!h("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!h("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(h("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(
            h("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
        assert!(!h("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }
}
