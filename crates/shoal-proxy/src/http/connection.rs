//! Serving one client connection: HTTP/1.1 with keep-alive (shoal's own server, `h1/`), or
//! HTTP/2 (hyper's), told apart by ALPN over TLS, else by the first bytes (the HTTP/2
//! preface, cleartext with prior knowledge).
//!
//! On an https listener the TLS handshake runs here, in the connection's own task (never
//! in the accept loop), bounded by the listener's handshake timeout; then the same servers
//! serve the decrypted stream. An HTTP/1.1 connection whose WebSocket upgrade the backend
//! accepted becomes a tunnel, run in the same task to its end, so that it keeps the
//! connection's place in the worker's count (shutdown waits for it) and in the listener's
//! `max_connections`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use shoal_core::ShutdownSignal;
use shoal_upstream::UpstreamBody;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::client_io::{ClientIo, ConnActivity};
use super::h1::{self, ConnIo, H1Limits, Served, Stop};
use super::pipeline;
use super::prefixed_io::PrefixedIo;
use super::tunnel::TunnelSlot;
use crate::proxy_handle::Shared;
use crate::snapshot::ListenerStats;
use crate::tls::{negotiated_h2, TlsAcceptor};

/// HTTP/2 streams one client connection may have open at once.
const MAX_CONCURRENT_STREAMS: u32 = 256;

/// What a request needs to know about the connection it came on.
#[derive(Debug)]
pub(crate) struct ConnContext {
    pub worker: usize,
    pub peer: SocketAddr,
    /// `peer`'s IP as a header value, for `X-Forwarded-For`.
    pub peer_value: http::HeaderValue,
    pub listener_index: usize,
    pub listener_name: Arc<str>,
    pub shared: Arc<Shared>,
    /// The request came over TLS (an https listener): `X-Forwarded-Proto: https`.
    pub secure: bool,
    /// Where an accepted WebSocket upgrade leaves its tunnel.
    pub tunnel: TunnelSlot,
    /// The listener's counters (responses by class, bytes), set when the connection starts.
    pub listener_stats: Option<Arc<ListenerStats>>,
}

/// Runs hyper's HTTP/2 stream tasks on the worker's runtime, each poll with one clock
/// reading for the request path (`shoal_core::loop_clock`), as connection tasks have.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, stream: F) {
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            std::future::poll_fn(|cx| shoal_core::loop_clock::reading(|| stream.as_mut().poll(cx)))
                .await
        });
    }
}

/// A worker's HTTP server settings (one per worker, shared by its connections).
pub(crate) struct HttpServer {
    h2: http2::Builder<StreamExecutor>,
    /// Largest HTTP/1 request head (past it: 431).
    max_header_bytes: usize,
}

impl HttpServer {
    pub(crate) fn new(max_header_bytes: usize) -> HttpServer {
        let mut h2 = http2::Builder::new(StreamExecutor);
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
        HttpServer {
            h2,
            max_header_bytes,
        }
    }
}

pub(crate) async fn serve_connection(
    server: &HttpServer,
    stream: TcpStream,
    mut ctx: ConnContext,
    shutdown: ShutdownSignal,
) {
    let snapshot = ctx.shared.snapshot.load();
    let Some(listener) = snapshot.listener_at(ctx.listener_index, &ctx.listener_name) else {
        return;
    };
    let header_timeout = listener.config.header_read_timeout;
    let idle_timeout = listener.config.idle_timeout;
    let tls = listener.tls.as_ref().map(|tls| tls.acceptor());
    ctx.listener_stats = Some(Arc::clone(&listener.stats));
    let proxy_header_expected = listener
        .config
        .accept_proxy_protocol
        .as_ref()
        .is_some_and(|trusted| trusted.iter().any(|net| net.contains(ctx.peer.ip())));
    drop(snapshot);

    // A trusted balancer in front speaks first with a PROXY header naming the client. (An
    // untrusted peer's PROXY line is not HTTP: it gets a 400; before TLS it fails the
    // handshake.) Boxed: only listeners that accept the header pay for its state.
    let mut stream = stream;
    if proxy_header_expected {
        let read = Box::pin(tokio::time::timeout(
            header_timeout,
            crate::l4::read_proxy_header_exact(&mut stream),
        ))
        .await;
        match read {
            Ok(Ok(source)) => {
                if let Some(client) = source {
                    ctx.peer = client;
                    ctx.peer_value = super::peer_value(client.ip());
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(listener = %ctx.listener_name, peer = %ctx.peer, error = %e, "connection refused: PROXY header");
                return;
            }
            Err(_) => {
                tracing::debug!(listener = %ctx.listener_name, peer = %ctx.peer, "connection closed: no PROXY header in time");
                return;
            }
        }
    }
    serve_stream(
        server,
        stream,
        ctx,
        shutdown,
        header_timeout,
        idle_timeout,
        tls,
    )
    .await;
}

/// Serves `stream` as plain HTTP, or over TLS when the listener terminates it.
async fn serve_stream(
    server: &HttpServer,
    stream: TcpStream,
    mut ctx: ConnContext,
    mut shutdown: ShutdownSignal,
    header_timeout: std::time::Duration,
    idle_timeout: std::time::Duration,
    tls: Option<TlsAcceptor>,
) {
    let limits = H1Limits {
        header_timeout,
        idle_timeout,
        max_head: server.max_header_bytes,
    };
    let Some(tls) = tls else {
        return serve(server, stream, ctx, shutdown, limits, false).await;
    };
    // Boxed: a handshake and a TLS stream are kilobytes of state, and a plain connection's
    // task (one allocation sized for every branch of this function) should not carry them.
    Box::pin(async move {
        let stream = tokio::select! {
            biased;
            _ = shutdown.recv() => return,
            stream = tls.accept(stream, ctx.peer, &ctx.listener_name) => match stream {
                Some(stream) => stream,
                None => return,
            },
        };
        ctx.secure = true;
        let h2 = negotiated_h2(&stream);
        serve(server, stream, ctx, shutdown, limits, h2).await;
    })
    .await;
}

/// Serves HTTP on `stream` until the client is done, or shutdown finishes it: HTTP/1.1
/// unless ALPN chose HTTP/2 or the client opens with the HTTP/2 preface.
async fn serve<S>(
    server: &HttpServer,
    stream: S,
    ctx: ConnContext,
    shutdown: ShutdownSignal,
    limits: H1Limits,
    alpn_h2: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ctx = Arc::new(ctx);
    let mut stop = Stop::new(shutdown);
    let conn = ConnIo::new(
        stream,
        BytesMut::new(),
        ctx.listener_stats.clone(),
        limits.idle_timeout,
    );
    let conn = if alpn_h2 {
        conn
    } else {
        match h1::serve(conn, &ctx, &mut stop, limits).await {
            Served::Done => return,
            Served::Http2(conn) => conn,
        }
    };
    // Boxed: HTTP/1.1 connections (nearly all) should not carry hyper's HTTP/2 state.
    Box::pin(serve_h2(server, conn, ctx, stop, limits)).await;
}

/// Serves an HTTP/2 connection with hyper; `conn`'s buffer holds what was read of it.
async fn serve_h2<S>(
    server: &HttpServer,
    conn: ConnIo<S>,
    ctx: Arc<ConnContext>,
    mut stop: Stop,
    limits: H1Limits,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ConnIo { io, rbuf, .. } = conn;
    let activity = Arc::new(ConnActivity::default());
    let io = ClientIo::new(
        io,
        Arc::clone(&activity),
        limits.header_timeout,
        limits.idle_timeout,
    )
    .counting(ctx.listener_stats.clone());
    let io = PrefixedIo::new(rbuf.freeze(), io);
    let service = service_fn(move |req: Request<Incoming>| {
        let ctx = Arc::clone(&ctx);
        let active = activity.start();
        // Boxed: hyper moves each stream's future several times (into its stream wrapper,
        // into a spawned task); kilobytes of request state copied each time showed as the
        // top symbol of HTTP/2 profiles. A box moves as a pointer.
        Box::pin(async move {
            let req = req.map(UpstreamBody::from_incoming);
            Ok::<_, std::convert::Infallible>(pipeline::handle(req, &ctx, active).await)
        })
    });
    let conn = server.h2.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.wait() => {
            // Finish the streams under way (GOAWAY), no new ones.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
