//! Serving one client connection: HTTP/1.1 with keep-alive, or HTTP/2 (cleartext with prior
//! knowledge, or over TLS), told apart by the first bytes (hyper-util's auto builder).
//!
//! On an https listener the TLS handshake runs here, in the connection's own task (never
//! in the accept loop), bounded by the listener's handshake timeout; then the same HTTP
//! server serves the decrypted stream. An HTTP/1.1 connection whose WebSocket upgrade the
//! backend accepted becomes a tunnel, run here to its end, so that it keeps the connection's
//! place in the worker's count (shutdown waits for it) and in the listener's
//! `max_connections`.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use shoal_core::ShutdownSignal;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::client_io::{ClientIo, ConnActivity};
use super::pipeline;
use super::tunnel::{self, TunnelSlot};
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

/// A worker's HTTP server settings (one per worker, shared by its connections).
pub(crate) struct HttpServer {
    builder: auto::Builder<TokioExecutor>,
}

impl HttpServer {
    /// Settings for one listener; `max_header_bytes` bounds an HTTP/1 request head (past it
    /// hyper answers 431).
    pub(crate) fn new(max_header_bytes: usize) -> HttpServer {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // Header and idle timeouts are ClientIo's (hyper's own closes without a 408).
            .header_read_timeout(None)
            .max_buf_size(max_header_bytes.max(8192))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
        HttpServer { builder }
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
    // untrusted peer's PROXY line is not HTTP: hyper answers it 400; before TLS it fails the
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
    let activity = Arc::new(ConnActivity::default());
    let Some(tls) = tls else {
        let io = ClientIo::new(stream, Arc::clone(&activity), header_timeout, idle_timeout)
            .counting(ctx.listener_stats.clone());
        return serve(server, io, activity, ctx, shutdown).await;
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
        let mut io = ClientIo::new(stream, Arc::clone(&activity), header_timeout, idle_timeout)
            .counting(ctx.listener_stats.clone());
        if h2 {
            io = io.http2();
        }
        serve(server, io, activity, ctx, shutdown).await;
    })
    .await;
}

/// Serves HTTP on `io` until the client is done, or shutdown finishes it.
async fn serve<S>(
    server: &HttpServer,
    io: ClientIo<S>,
    activity: Arc<ConnActivity>,
    ctx: ConnContext,
    mut shutdown: ShutdownSignal,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ctx = Arc::new(ctx);
    let tunnel_ctx = Arc::clone(&ctx);
    let service = service_fn(move |req| {
        let ctx = Arc::clone(&ctx);
        let active = activity.start();
        async move { Ok::<_, std::convert::Infallible>(pipeline::handle(req, &ctx, active).await) }
    });

    let conn = server
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.recv() => {
            // Finish the request under way (HTTP/1: then close; HTTP/2: GOAWAY), no new ones.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    // hyper has handed the connection over to a 101 of ours. A tunnel is closed by its own
    // means (idle timeout, and on shutdown its backend's paced close), not by `shutdown`.
    if let Some(pending) = tunnel_ctx.tunnel.take() {
        tunnel::run(pending).await;
    }
}
