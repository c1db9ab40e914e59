//! A socket wrapper that notes when bytes last moved, so an idle relay can be closed.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Nanoseconds since `epoch` when bytes last moved, shared by both sides of a relay.
#[derive(Debug, Clone)]
pub(crate) struct LastActivity {
    epoch: tokio::time::Instant,
    at: Arc<AtomicU64>,
}

impl LastActivity {
    pub(crate) fn new() -> LastActivity {
        LastActivity {
            epoch: tokio::time::Instant::now(),
            at: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.at.store(ns, Ordering::Relaxed);
    }

    /// When bytes last moved.
    pub(crate) fn last(&self) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_nanos(self.at.load(Ordering::Relaxed))
    }
}

pub(crate) struct Tracked<T> {
    inner: T,
    activity: LastActivity,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: LastActivity) -> Tracked<T> {
        Tracked { inner, activity }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
