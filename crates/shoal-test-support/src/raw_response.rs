//! [`RawResponse`]: a small, strict-enough HTTP/1 response parser for the bytes that
//! [`TestClient::raw`](crate::TestClient::raw) reads back.
//!
//! Hostile-input tests need to know exactly what came over the wire: the status, the headers,
//! and above all how many responses (a smuggled request shows up as a second one). So this
//! parser works on bytes, keeps headers in order and as sent, and frames bodies itself.

/// One HTTP/1 response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In order, names as sent (compare case-insensitively, or use [`header`](Self::header)).
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Parses the first response. Its body follows `content-length` or chunked framing, or
    /// runs to the end of `bytes` when neither is given (and is cut short if `bytes` is).
    /// `None` when `bytes` does not start with a complete response head.
    pub fn parse(bytes: &[u8]) -> Option<RawResponse> {
        RawResponse::parse_one(bytes).map(|(response, _)| response)
    }

    /// Every complete response in `bytes`, in order (pipelined answers, or a smuggled
    /// request's answer after the first). Stops at the first incomplete or malformed one. The
    /// answer to a `HEAD` request cannot be framed from the bytes alone: do not use this after
    /// one.
    pub fn parse_all(mut bytes: &[u8]) -> Vec<RawResponse> {
        let mut responses = Vec::new();
        while let Some((response, used)) = RawResponse::parse_one(bytes) {
            responses.push(response);
            bytes = &bytes[used..];
            if bytes.is_empty() {
                break;
            }
        }
        responses
    }

    /// The first value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// One response and the number of bytes it used. A body cut short by the end of `bytes`
    /// is kept as received and counts as the end of the input.
    fn parse_one(bytes: &[u8]) -> Option<(RawResponse, usize)> {
        let head_end = find(bytes, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
        let mut lines = head.split("\r\n");
        let mut status_line = lines.next()?.splitn(3, ' ');
        let version = status_line.next()?.to_string();
        if !version.starts_with("HTTP/1.") {
            return None;
        }
        let status_text = status_line.next()?;
        if status_text.len() != 3 {
            return None;
        }
        let status: u16 = status_text.parse().ok()?;
        let reason = status_line.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = RawResponse {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };

        let rest = &bytes[head_end + 4..];
        let (body, used) = if (100..200).contains(&status) || status == 204 || status == 304 {
            (Vec::new(), 0)
        } else if response
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            dechunk(rest)
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().ok()?;
            let take = length.min(rest.len());
            (rest[..take].to_vec(), take)
        } else {
            (rest.to_vec(), rest.len())
        };
        response.body = body;
        Some((response, head_end + 4 + used))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body; returns what was decoded and the bytes used (all of `bytes` when
/// the body is cut short). Trailers are skipped.
fn dechunk(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_len) = find(&bytes[pos..], b"\r\n") else {
            return (body, bytes.len());
        };
        let line = String::from_utf8_lossy(&bytes[pos..pos + line_len]);
        // Chunk extensions (";name=value") carry nothing a test needs.
        let size_text = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (body, bytes.len());
        };
        pos += line_len + 2;
        if size == 0 {
            // Trailer section: header lines until an empty line.
            loop {
                let Some(len) = find(&bytes[pos..], b"\r\n") else {
                    return (body, bytes.len());
                };
                pos += len + 2;
                if len == 0 {
                    return (body, pos);
                }
            }
        }
        let end = pos.saturating_add(size);
        if end + 2 > bytes.len() {
            body.extend_from_slice(&bytes[pos..end.min(bytes.len())]);
            return (body, bytes.len());
        }
        body.extend_from_slice(&bytes[pos..end]);
        pos = end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_headers_and_length_framed_body() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello";
        let r = RawResponse::parse(raw).unwrap();
        assert_eq!(r.version, "HTTP/1.1");
        assert_eq!(r.status, 404);
        assert_eq!(r.reason, "Not Found");
        assert_eq!(r.header("content-length"), Some("5"));
        assert_eq!(r.header_all("X-A"), vec!["1", "2"]);
        assert_eq!(r.header("missing"), None);
        assert_eq!(r.text(), "hello");
    }

    #[test]
    fn splits_pipelined_responses_by_framing() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n\
                    HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nt: 1\r\n\r\n\
                    HTTP/1.1 400 Bad Request\r\n\r\nrest until eof";
        let all = RawResponse::parse_all(raw);
        let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![200, 204, 200, 400]);
        assert_eq!(all[0].text(), "ok");
        assert!(all[1].body.is_empty());
        assert_eq!(all[2].text(), "abcde");
        assert_eq!(all[3].text(), "rest until eof");
    }

    #[test]
    fn rejects_what_is_not_a_response_head() {
        assert_eq!(RawResponse::parse(b""), None);
        assert_eq!(
            RawResponse::parse(b"HTTP/1.1 200 OK\r\n"),
            None,
            "head not complete"
        );
        assert_eq!(RawResponse::parse(b"SSH-2.0 hello\r\n\r\n"), None);
        assert_eq!(RawResponse::parse(b"HTTP/1.1 20 OK\r\n\r\n"), None);
        assert_eq!(
            RawResponse::parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            None
        );
        assert!(RawResponse::parse_all(b"garbage").is_empty());
    }

    #[test]
    fn keeps_a_truncated_body_as_received() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        let all = RawResponse::parse_all(raw);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].text(), "abc");
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab";
        assert_eq!(RawResponse::parse(chunked).unwrap().text(), "ab");
    }
}
