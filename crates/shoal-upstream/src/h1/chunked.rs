//! A strict decoder for HTTP/1.1 chunked bodies (RFC 9112 §7.1), as sent by backends.
//!
//! Pure: it takes bytes as they arrive and gives back data, trailers and the end. Anything
//! outside the grammar is an error, never a guess (reliability.md §2.1): a size must be 1–16
//! hex digits with nothing before it, every line ends in CRLF (a bare LF is refused), the data
//! must be followed by CRLF, extensions and trailers are bounded.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Longest chunk-size line, extensions included.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section.
const MAX_TRAILERS: usize = 64 * 1024;
/// Most trailer fields.
const MAX_TRAILER_FIELDS: usize = 100;

/// Why a chunked body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("invalid chunk size line")]
    Size,
    #[error("chunk size line too long")]
    SizeLineTooLong,
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    #[error("invalid trailer section")]
    Trailers,
    #[error("trailer section too large")]
    TrailersTooLarge,
}

/// What the decoder found.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Data(Bytes),
    /// The trailer fields, when there were any; the body ends after them.
    Trailers(HeaderMap),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataCrlf,
    Trailers,
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder { state: State::Size }
    }
}

/// Position of the first CRLF in `buf`; an LF without CR before it is an error.
fn find_crlf(buf: &[u8]) -> Result<Option<usize>, ()> {
    match buf.iter().position(|b| *b == b'\n') {
        None => Ok(None),
        Some(0) => Err(()),
        Some(i) if buf[i - 1] == b'\r' => Ok(Some(i - 1)),
        Some(_) => Err(()),
    }
}

fn parse_size(line: &[u8]) -> Result<u64, ChunkedError> {
    // Extensions (`;name=value`) are allowed and ignored.
    let digits = match line.iter().position(|b| *b == b';') {
        Some(i) => &line[..i],
        None => line,
    };
    if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(ChunkedError::Size);
    }
    if line.iter().any(|b| *b == b'\r' || *b == 0) {
        return Err(ChunkedError::Size);
    }
    let text = std::str::from_utf8(digits).map_err(|_| ChunkedError::Size)?;
    u64::from_str_radix(text, 16).map_err(|_| ChunkedError::Size)
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what it can from the front of `buf`, consuming it. `Ok(None)`: more bytes are
    /// needed. After `End` or `Trailers`, the body is complete and any bytes left in `buf`
    /// do not belong to it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Piece>, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(Some(Piece::End)),
                State::Size => {
                    let Some(end) = find_crlf(buf).map_err(|_| ChunkedError::Size)? else {
                        if buf.len() > MAX_SIZE_LINE {
                            return Err(ChunkedError::SizeLineTooLong);
                        }
                        return Ok(None);
                    };
                    if end > MAX_SIZE_LINE {
                        return Err(ChunkedError::SizeLineTooLong);
                    }
                    let size = parse_size(&buf[..end])?;
                    buf.advance(end + 2);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCrlf
                    } else {
                        State::Data(left)
                    };
                    return Ok(Some(Piece::Data(data)));
                }
                State::DataCrlf => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|b| *b != b'\r') {
                            return Err(ChunkedError::DataEnd);
                        }
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkedError::DataEnd);
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => return self.trailers(buf),
            }
        }
    }

    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Option<Piece>, ChunkedError> {
        // Common case: no trailers, just the final CRLF.
        if buf.len() >= 2 && &buf[..2] == b"\r\n" {
            buf.advance(2);
            self.state = State::Done;
            return Ok(Some(Piece::End));
        }
        let Some(end) = find_section_end(buf)? else {
            if buf.len() > MAX_TRAILERS {
                return Err(ChunkedError::TrailersTooLarge);
            }
            return Ok(None);
        };
        if end > MAX_TRAILERS {
            return Err(ChunkedError::TrailersTooLarge);
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
        let parsed = match httparse::parse_headers(&buf[..end], &mut fields) {
            Ok(httparse::Status::Complete((used, fields))) if used == end => fields,
            _ => return Err(ChunkedError::Trailers),
        };
        let mut map = HeaderMap::with_capacity(parsed.len());
        for field in parsed {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| ChunkedError::Trailers)?;
            let value = HeaderValue::from_bytes(field.value).map_err(|_| ChunkedError::Trailers)?;
            map.append(name, value);
        }
        buf.advance(end);
        self.state = State::Done;
        Ok(Some(Piece::Trailers(map)))
    }
}

/// End (exclusive) of a header section ending in CRLF CRLF; bare LFs are errors.
fn find_section_end(buf: &[u8]) -> Result<Option<usize>, ChunkedError> {
    for (i, b) in buf.iter().enumerate() {
        if *b == b'\n' {
            if i == 0 || buf[i - 1] != b'\r' {
                return Err(ChunkedError::Trailers);
            }
            if i >= 3 && &buf[i - 3..=i] == b"\r\n\r\n" {
                return Ok(Some(i + 1));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` one split at a time, collecting everything decoded.
    fn decode_all(
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Option<HeaderMap>, usize), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut trailers = None;
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Some(Piece::Data(d)) => data.extend_from_slice(&d),
                Some(Piece::Trailers(t)) => {
                    trailers = Some(t);
                    return Ok((data, trailers, buf.len()));
                }
                Some(Piece::End) => return Ok((data, trailers, buf.len())),
                None => {
                    if fed >= input.len() {
                        return Err(ChunkedError::Size);
                    }
                    let next = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..next]);
                    fed = next;
                }
            }
        }
    }

    #[test]
    fn decodes_at_every_split() {
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        for step in 1..input.len() {
            let (data, trailers, left) = decode_all(input, step).expect("valid");
            assert_eq!(data, b"hello world", "step {step}");
            assert!(trailers.is_none());
            // Bytes after the body stay in the buffer (only those fed so far).
            assert!(left <= 4);
        }
    }

    #[test]
    fn decodes_trailers() {
        let input = b"3\r\nabc\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n";
        for step in [1, 3, input.len()] {
            let (data, trailers, _) = decode_all(input, step).expect("valid");
            assert_eq!(data, b"abc");
            let t = trailers.expect("trailers");
            assert_eq!(t["grpc-status"], "0");
            assert_eq!(t["grpc-message"], "ok");
        }
    }

    #[test]
    fn uppercase_hex_and_large_sizes_parse() {
        assert_eq!(parse_size(b"A"), Ok(10));
        assert_eq!(parse_size(b"ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_size(b"1f;name=\"v\""), Ok(31));
    }

    #[test]
    fn refuses_malformed_bodies() {
        let bad: [&[u8]; 12] = [
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"ffffffffffffffff1\r\nx\r\n0\r\n\r\n",
            b"\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\n0\n\n",
            b"5\r\nhelloXX\r\n0\r\n\r\n",
            b"5;ext\nX\r\nhello\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",
            b"3\r\nabc\r\n0\r\nx: y\n\r\n",
        ];
        for input in bad {
            assert!(
                decode_all(input, input.len()).is_err(),
                "{:?} should be refused",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn bounds_size_lines_and_trailers() {
        let mut long = b"5;".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_SIZE_LINE + 10));
        assert_eq!(
            decode_all(&long, long.len()).err(),
            Some(ChunkedError::SizeLineTooLong)
        );
        let mut trailers = b"0\r\n".to_vec();
        for i in 0..10_000 {
            trailers.extend_from_slice(format!("x-{i}: aaaaaaaaaa\r\n").as_bytes());
        }
        assert_eq!(
            decode_all(&trailers, trailers.len()).err(),
            Some(ChunkedError::TrailersTooLarge)
        );
    }
}
