//! Writing a request head for a backend.

use http::request::Parts;

/// How the request body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body bytes follow the head.
    None,
    /// Exactly the bytes the client's `Content-Length` announced.
    Length,
    /// Chunked: the client gave no length (HTTP/2, or HTTP/1.1 chunked).
    Chunked,
}

/// Appends `METHOD target HTTP/1.1`, the fields and the blank line to `out`. Field names and
/// values come from `http` types, which cannot hold CR or LF, so nothing can be injected.
pub(crate) fn encode_head(parts: &Parts, framing: BodyFraming, out: &mut Vec<u8>) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing == BodyFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk (size line, data, CRLF) to `out`.
pub(crate) fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    chunk_size_line(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends a chunk's size line (`1f\r\n`), hex by hand (no `format!` per chunk).
pub fn chunk_size_line(size: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut n = size;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    #[test]
    fn encodes_a_head() {
        let (parts, ()) = Request::post("http://ignored.example/a/b?x=1")
            .header("host", "shop.example")
            .header("x-two", "1")
            .header("x-two", "2")
            .body(())
            .expect("request")
            .into_parts();
        let mut out = Vec::new();
        encode_head(&parts, BodyFraming::Chunked, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "POST /a/b?x=1 HTTP/1.1\r\nhost: shop.example\r\nx-two: 1\r\nx-two: 2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn encodes_chunks() {
        let mut out = Vec::new();
        encode_chunk(b"hello world, this is 31 bytes!!", &mut out);
        encode_chunk(b"", &mut out);
        assert_eq!(
            &out[..],
            b"1f\r\nhello world, this is 31 bytes!!\r\n0\r\n\r\n"
        );
    }
}
