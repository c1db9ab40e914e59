//! Writing a response to an HTTP/1.x client: the head, then the body framed for this
//! client (RFC 9112 §6): no body where none may be sent (HEAD, 1xx, 204, 304), a
//! `Content-Length` when the length is known, chunked when it is not (HTTP/1.1), or until the
//! connection closes (HTTP/1.0). Framing fields from upstream are never copied: shoal writes
//! its own, so a response cannot carry two.
//!
//! Small responses leave in one write with their head; body bytes that are ready are
//! gathered into the same buffer, and only what comes later (or is large) is written apart.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};

use shoal_upstream::h1::{chunk_size_line, lists_token};

use super::conn_io::Slot;
use crate::http::body::ProxyBody;

/// Body bytes up to this size are copied next to the head; larger ones are written as they
/// are.
const COPY_LIMIT: usize = 16 * 1024;
/// Gathered bytes are written once there are this many.
const WRITE_BATCH: usize = 64 * 1024;

/// What the request told about the answer it wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseMode {
    pub head_request: bool,
    pub http10: bool,
    /// The connection may go on after this response.
    pub keep_alive: bool,
    /// The client takes trailers (`TE: trailers`).
    pub trailers: bool,
    /// The longest a write may wait for the client to take bytes (the listener's
    /// `idle_timeout`): a client that stops reading must not hold the connection, and the
    /// backend connection behind it, for ever.
    pub send_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body, no length field (1xx, 204).
    None,
    /// No body, but the fields describe the one a GET would have had (HEAD, 304).
    HeadOnly,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Writes `response`; true when the connection may serve another request.
pub(crate) async fn write_response<S>(
    slot: &mut Slot<S>,
    out: &mut Vec<u8>,
    response: Response<ProxyBody>,
    mode: ResponseMode,
) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    let mut keep_alive = mode.keep_alive;
    let framing = if status.is_informational() || status == StatusCode::NO_CONTENT {
        Framing::None
    } else if mode.head_request || status == StatusCode::NOT_MODIFIED {
        Framing::HeadOnly
    } else if let Some(n) = body.size_hint().exact() {
        Framing::Length(n)
    } else if !mode.http10 {
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;

    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    let mut has_length = false;
    for (name, value) in &parts.headers {
        if *name == header::CONTENT_LENGTH {
            // Kept only where it describes a body not sent (HEAD, 304).
            if framing != Framing::HeadOnly {
                continue;
            }
            has_length = true;
        } else if *name == header::TRANSFER_ENCODING {
            continue;
        } else if *name == header::CONNECTION && !switching {
            // shoal's own answers close after a malformed request; the field is rewritten
            // below either way.
            if lists_token(value.as_bytes(), b"close") {
                keep_alive = false;
            }
            continue;
        } else if *name == header::DATE {
            dated = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !dated {
        // RFC 9110 §6.6.1: a proxy forwarding a response without Date adds one.
        append_date(out);
    }
    match framing {
        Framing::Length(n) => append_length(out, n),
        Framing::HeadOnly if !has_length && status != StatusCode::NOT_MODIFIED => {
            // Only shoal's own answers know their length here: a backend's empty HEAD body
            // says nothing about its GET's.
            if let Some(n) = body.own_length() {
                append_length(out, n);
            }
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    if !switching {
        if !keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if mode.http10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");

    if matches!(framing, Framing::None | Framing::HeadOnly) {
        drop(body);
        write_all(slot, out, mode.send_timeout).await?;
        return Ok(keep_alive);
    }

    let mut sent = 0u64;
    loop {
        // What the body has now goes out with what is gathered; only when it has nothing
        // ready is the gathered output written, and then the body awaited.
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
        let frame = match polled {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                write_all(slot, out, mode.send_timeout).await?;
                out.clear();
                poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            }
        };
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            // The backend failed mid-body: the client must not take what it got for the
            // whole body, so the connection ends without the framing's end.
            Some(Err(e)) => {
                write_all(slot, out, mode.send_timeout).await?;
                return Err(e);
            }
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let (Ok(trailers), Framing::Chunked) = (frame.into_trailers(), framing) {
                    out.extend_from_slice(b"0\r\n");
                    if mode.trailers {
                        for (name, value) in &trailers {
                            out.extend_from_slice(name.as_str().as_bytes());
                            out.extend_from_slice(b": ");
                            out.extend_from_slice(value.as_bytes());
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                    out.extend_from_slice(b"\r\n");
                    write_all(slot, out, mode.send_timeout).await?;
                    return Ok(keep_alive);
                }
                continue;
            }
        };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if let Framing::Length(n) = framing {
            if sent > n {
                write_all(slot, out, mode.send_timeout).await?;
                return Err(io::Error::other("response body longer than its length"));
            }
        }
        if framing == Framing::Chunked {
            chunk_size_line(data.len(), out);
        }
        put(slot, out, data, mode.send_timeout).await?;
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() >= WRITE_BATCH {
            write_all(slot, out, mode.send_timeout).await?;
            out.clear();
        }
    }
    match framing {
        Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
        Framing::Length(n) if sent != n => {
            write_all(slot, out, mode.send_timeout).await?;
            return Err(io::Error::other("response body shorter than its length"));
        }
        _ => {}
    }
    write_all(slot, out, mode.send_timeout).await?;
    Ok(keep_alive)
}

/// Adds `data` to the output: copied when small, else written after what is gathered.
async fn put<S>(
    slot: &mut Slot<S>,
    out: &mut Vec<u8>,
    data: Bytes,
    send_timeout: Duration,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if data.len() <= COPY_LIMIT {
        out.extend_from_slice(&data);
        return Ok(());
    }
    write_all(slot, out, send_timeout).await?;
    out.clear();
    write_all(slot, &data, send_timeout).await
}

/// Writes all of `buf`; fails when the client takes nothing for `send_timeout`. Writes that
/// complete at once (nearly all) never touch a timer.
async fn write_all<S>(slot: &mut Slot<S>, buf: &[u8], send_timeout: Duration) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut done = 0;
    let first = poll_fn(|cx| Poll::Ready(slot.lock().poll_write_all(cx, buf, &mut done))).await;
    if let Poll::Ready(result) = first {
        return result;
    }
    loop {
        let before = done;
        let step = tokio::time::timeout(
            send_timeout,
            poll_fn(|cx| slot.lock().poll_write_all(cx, buf, &mut done)),
        )
        .await;
        match step {
            Ok(result) => return result,
            // Some bytes went: the client is slow, not gone.
            Err(_) if done > before => continue,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client took no bytes for the idle timeout",
                ))
            }
        }
    }
}

fn append_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `Date` value of the current second, formatted once per second per worker.
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

fn append_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|date| {
        let mut date = date.borrow_mut();
        if date.0 != second {
            date.0 = second;
            date.1 = httpdate::fmt_http_date(now).into_bytes();
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&date.1);
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_exactly() {
        let mut out = Vec::new();
        append_length(&mut out, 0);
        append_length(&mut out, 1234567890);
        chunk_size_line(0x1f, &mut out);
        chunk_size_line(0, &mut out);
        assert_eq!(
            &out[..],
            b"content-length: 0\r\ncontent-length: 1234567890\r\n1f\r\n0\r\n"
        );
    }

    #[test]
    fn the_date_is_an_http_date() {
        let mut out = Vec::new();
        append_date(&mut out);
        let text = String::from_utf8(out).expect("ascii");
        let value = text
            .strip_prefix("date: ")
            .and_then(|t| t.strip_suffix("\r\n"))
            .expect("one field");
        assert!(httpdate::parse_http_date(value).is_ok(), "{value:?}");
    }
}
