//! Refusing a PROXY header from a peer that is not trusted to send one, on a tcp listener
//! with `accept_proxy_protocol`. Such a peer's bytes are relayed as they come (shoal must not
//! wait for them: in server-first protocols the client waits for the backend's greeting), so
//! the check sits in the relay: the client's first bytes are held back until they either
//! cannot start a PROXY header (then released, nothing lost) or do (then the read fails and
//! the relay resets both sides). The backend never sees a forged header, not even part of
//! one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::inbound_proxy_header::starts_proxy_header;

/// The longest prefix that can stay undecided (the v2 signature).
const HOLD: usize = 12;

pub(crate) struct ProxyHeaderGuard<T> {
    inner: T,
    held: [u8; HOLD],
    /// Bytes in `held` (deciding), or still to release (released from `released`).
    len: usize,
    released: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Deciding,
    Releasing,
    Open,
}

impl<T> ProxyHeaderGuard<T> {
    /// `check = false` passes everything through untouched.
    pub(crate) fn new(inner: T, check: bool) -> ProxyHeaderGuard<T> {
        ProxyHeaderGuard {
            inner,
            held: [0; HOLD],
            len: 0,
            released: 0,
            state: if check { State::Deciding } else { State::Open },
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProxyHeaderGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.state == State::Deciding {
            let mut more = ReadBuf::new(&mut this.held[this.len..]);
            match Pin::new(&mut this.inner).poll_read(cx, &mut more) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = more.filled().len();
                    this.len += n;
                    match starts_proxy_header(&this.held[..this.len]) {
                        Some(true) => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::PermissionDenied,
                                "PROXY header from a peer outside accept_proxy_protocol.trusted",
                            )))
                        }
                        // Undecided but the client stopped sending: what it sent is data.
                        None if n > 0 => {}
                        _ => this.state = State::Releasing,
                    }
                }
            }
        }
        if this.state == State::Releasing {
            let rest = &this.held[this.released..this.len];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.released += n;
            if this.released == this.len {
                this.state = State::Open;
            }
            // An empty release is the client's EOF before any byte.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProxyHeaderGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn through_guard(chunks: &[&[u8]]) -> io::Result<Vec<u8>> {
        let (mut client, server) = tokio::io::duplex(64);
        let owned: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writer = tokio::spawn(async move {
            for chunk in owned {
                client.write_all(&chunk).await?;
                client.flush().await?;
                tokio::task::yield_now().await;
            }
            client.shutdown().await
        });
        let mut guard = ProxyHeaderGuard::new(server, true);
        let mut out = Vec::new();
        let read = guard.read_to_end(&mut out).await;
        let _ = writer.await;
        read.map(|_| out)
    }

    #[tokio::test]
    async fn ordinary_bytes_pass_unchanged() {
        assert_eq!(
            through_guard(&[b"P", b"ING\r\n", b"more"])
                .await
                .expect("data"),
            b"PING\r\nmore"
        );
        assert_eq!(
            through_guard(&[b"\r\n", b"\r\nX"]).await.expect("data"),
            b"\r\n\r\nX"
        );
        assert_eq!(through_guard(&[b"PRO"]).await.expect("short"), b"PRO");
        assert_eq!(through_guard(&[]).await.expect("empty"), b"");
    }

    #[tokio::test]
    async fn a_proxy_header_is_refused_before_any_byte_passes() {
        let e = through_guard(&[b"PRO", b"XY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"])
            .await
            .expect_err("v1");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let e = through_guard(&[b"\r\n\r\n\0\r\nQU", b"IT\n\x21"])
            .await
            .expect_err("v2");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }
}
