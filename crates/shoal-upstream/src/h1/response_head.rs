//! Reading a backend's response head strictly (reliability.md §2.4: the backend is untrusted
//! too) and deciding how its body is framed.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::head_fields::FieldOffsets;
use super::token_list::has_token;
use http::{StatusCode, Version};

/// Largest response head accepted from a backend.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields accepted in a response head.
const MAX_FIELDS: usize = 128;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the backend closes; the connection cannot be reused.
    UntilClose,
}

#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request once the body has been read.
    pub reusable: bool,
}

/// Why a response head was refused (the client gets 502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("response head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed response head: {0}")]
    Malformed(&'static str),
}

/// Parses a response head from the front of `buf`, consuming it (and any interim 1xx
/// responses before it). `Ok(None)`: more bytes are needed. A 101 is refused: no upgrade was
/// asked for.
pub fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<ResponseHead>, HeadError> {
    parse(buf, head_request, false)
}

/// [`parse_head`] for the answer to a request that asked for a protocol upgrade: a 101 is
/// that answer (no body; the connection is not reusable, and what follows the head in `buf`
/// is already the new protocol). Any other status is an ordinary response.
pub fn parse_upgrade_head(buf: &mut BytesMut) -> Result<Option<ResponseHead>, HeadError> {
    parse(buf, false, true)
}

fn parse(
    buf: &mut BytesMut,
    head_request: bool,
    upgrade: bool,
) -> Result<Option<ResponseHead>, HeadError> {
    loop {
        // Uninitialised slots: zeroing 128 empty headers per response showed in profiles.
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
        let mut response = httparse::Response::new(&mut []);
        let used = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(HeadError::TooLarge);
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::Malformed("too many header fields"))
            }
            Err(_) => return Err(HeadError::Malformed("not a valid HTTP/1.x response head")),
        };
        if used > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let code = response.code.ok_or(HeadError::Malformed("no status"))?;
        let status =
            StatusCode::from_u16(code).map_err(|_| HeadError::Malformed("invalid status"))?;
        let version = match response.version {
            Some(1) => Version::HTTP_11,
            _ => Version::HTTP_10,
        };
        let switching = status == StatusCode::SWITCHING_PROTOCOLS;
        if switching && !upgrade {
            // No upgrade was asked for (RFC 9110 §15.2.2).
            return Err(HeadError::Malformed("101 without an upgrade request"));
        }
        if status.is_informational() && !switching {
            // 100 Continue, 103 Early Hints: interim, the real head follows.
            buf.advance(used);
            continue;
        }
        let fields = FieldOffsets::of(buf, used, response.headers)
            .map_err(|_| HeadError::Malformed("invalid header field"))?;
        let head = buf.split_to(used).freeze();
        // Which framing fields are there, noted on the way: most heads then need no lookup.
        let mut seen = Seen::default();
        let mut headers = fields.into_map(
            &head,
            0,
            HeadError::Malformed("invalid header field"),
            |name, value| {
                seen.note(name, value);
                Ok(())
            },
        )?;
        let no_body = head_request
            || switching
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let framing = if no_body {
            Framing::Empty
        } else {
            framing(&mut headers, &seen)?
        };
        let close = seen.connection && has_token(&headers, &header::CONNECTION, b"close");
        let reusable =
            version == Version::HTTP_11 && !close && framing != Framing::UntilClose && !switching;
        return Ok(Some(ResponseHead {
            status,
            version,
            headers,
            framing,
            reusable,
        }));
    }
}

/// The framing and connection fields of a head, noted while it is parsed.
#[derive(Default)]
struct Seen {
    transfer_encoding: bool,
    connection: bool,
    content_lengths: u32,
    /// A Content-Length value that is a list (`5, 5`).
    length_list: bool,
}

impl Seen {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
        if *name == header::CONTENT_LENGTH {
            self.content_lengths += 1;
            self.length_list |= value.as_bytes().contains(&b',');
        } else if *name == header::TRANSFER_ENCODING {
            self.transfer_encoding = true;
        } else if *name == header::CONNECTION {
            self.connection = true;
        }
    }
}

/// The body's framing (RFC 9112 §6.3). Transfer-Encoding wins over Content-Length, which is
/// then removed; only `chunked` alone is accepted as a transfer coding; every Content-Length
/// value must be the same number.
fn framing(headers: &mut HeaderMap, seen: &Seen) -> Result<Framing, HeadError> {
    if seen.content_lengths == 0 && !seen.transfer_encoding {
        return Ok(Framing::UntilClose);
    }
    if seen.transfer_encoding {
        let mut codings = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii);
        let only_chunked = matches!(codings.next(), Some(c) if c.eq_ignore_ascii_case(b"chunked"))
            && codings.next().is_none();
        if !only_chunked {
            return Err(HeadError::Malformed("unsupported transfer-encoding"));
        }
        headers.remove(header::CONTENT_LENGTH);
        return Ok(Framing::Chunked);
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|b| *b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::Malformed("invalid content-length"));
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(HeadError::Malformed("invalid content-length"))?;
            match length {
                Some(l) if l != n => {
                    return Err(HeadError::Malformed("conflicting content-length"))
                }
                _ => length = Some(n),
            }
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(n) => {
            // One clean value for the client, whatever list the backend sent.
            if seen.content_lengths > 1 || seen.length_list {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            Framing::Length(n)
        }
        None => Framing::UntilClose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, head: bool) -> Result<Option<ResponseHead>, HeadError> {
        let mut buf = BytesMut::from(text.as_bytes());
        parse_head(&mut buf, head)
    }

    fn framing_of(text: &str) -> Result<Framing, HeadError> {
        parse(text, false).map(|h| h.expect("complete").framing)
    }

    #[test]
    fn reads_a_plain_head_and_leaves_the_body() {
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"[..]);
        let head = parse_head(&mut buf, false)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.reusable);
        assert_eq!(head.headers["x-a"], "b");
        assert_eq!(&buf[..], b"hello");
    }

    #[test]
    fn keeps_empty_and_repeated_values() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX-Empty:\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"[..]);
        let head = parse_head(&mut buf, false)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.headers["x-empty"], "");
        let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(buf.is_empty());
    }

    #[test]
    fn waits_for_the_rest_of_a_head() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Le", false)
            .expect("ok")
            .is_none());
    }

    #[test]
    fn skips_interim_responses() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"[..]);
        let head = parse_head(&mut buf, false)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.framing, Framing::Empty);
        assert!(buf.is_empty());
    }

    #[test]
    fn decides_framing() {
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\n\r\n"),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n"),
            Ok(Framing::Length(7))
        );
        // CL + TE: chunked wins and the length is dropped.
        let head = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(head.framing, Framing::Chunked);
        assert!(!head.headers.contains_key("content-length"));
        // No body for HEAD, 204, 304 whatever the headers say.
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
                .expect("ok")
                .expect("c")
                .framing,
            Framing::Empty
        );
        assert_eq!(
            framing_of("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
            Ok(Framing::Empty)
        );
        assert_eq!(
            framing_of("HTTP/1.1 304 Not Modified\r\n\r\n"),
            Ok(Framing::Empty)
        );
    }

    #[test]
    fn refuses_bad_framing_and_garbage() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "SSH-2.0-OpenSSH_9.2\r\n\r\n",
            "HTTP/1.1 999999 Nope\r\n\r\n",
        ] {
            assert!(parse(bad, false).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_101_answers_an_upgrade_request_and_leaves_the_new_protocol_in_the_buffer() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\n\x81\x02hi"[..],
        );
        let head = parse_upgrade_head(&mut buf)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.status, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(head.framing, Framing::Empty, "a 101 has no body");
        assert!(!head.reusable, "the connection now speaks another protocol");
        assert_eq!(head.headers["upgrade"], "websocket");
        assert_eq!(&buf[..], b"\x81\x02hi");
    }

    #[test]
    fn an_upgrade_request_may_get_an_ordinary_answer() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
                [..],
        );
        let head = parse_upgrade_head(&mut buf)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.status, StatusCode::FORBIDDEN);
        assert_eq!(head.framing, Framing::Length(2));
        assert_eq!(&buf[..], b"no");
    }

    #[test]
    fn bounds_the_head() {
        let mut text = "HTTP/1.1 200 OK\r\n".to_string();
        while text.len() <= MAX_HEAD_BYTES {
            text.push_str("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert!(parse(&text, false).is_err());
    }

    #[test]
    fn connection_close_and_http10_are_not_reused() {
        let h = parse(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .expect("ok")
        .expect("c");
        assert!(!h.reusable);
        let h = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false)
            .expect("ok")
            .expect("c");
        assert!(!h.reusable);
    }
}
