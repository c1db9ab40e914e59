//! [`AdminServer`]: the admin API's own listener — bound early so a taken port is a startup
//! error, served until shutdown, then drained gracefully.
//!
//! HTTP/1.1 only, with bounds on everything a client controls: head size and time, body size,
//! request time, concurrent connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use shoal_core::ShutdownSignal;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::bearer_token::BearerToken;
use crate::control::Control;
use crate::routes;

/// Largest request body (413 past it). Admin bodies are a few dozen bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest request head (request line and headers): 431 past it.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Time to send a request head, and longest idle keep-alive between requests.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; the accept loop waits for a free slot past it.
const MAX_CONNECTIONS: usize = 256;

/// After shutdown, how long in-flight requests get to finish before their connections are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The admin API server: [`AdminServer::bind`], then [`AdminServer::serve`].
pub struct AdminServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    token: bool,
}

impl AdminServer {
    /// Binds `addr` now (port 0 picks a free port; see [`AdminServer::local_addr`]).
    ///
    /// With `token`, every endpoint except `/live` and `/ready` requires
    /// `Authorization: Bearer <token>`. The token is trimmed; an empty one, or one with other
    /// than visible ASCII characters, is refused with [`io::ErrorKind::InvalidInput`], as is a
    /// non-loopback `addr` without a token (config validation refuses both first; this is
    /// defence in depth).
    ///
    /// Needs no runtime: the socket joins tokio's reactor in [`AdminServer::serve`].
    pub fn bind(
        addr: SocketAddr,
        token: Option<String>,
        control: Arc<dyn Control>,
    ) -> io::Result<AdminServer> {
        let token = token
            .as_deref()
            .map(BearerToken::new)
            .transpose()?
            .map(Arc::new);
        if token.is_none() && !addr.ip().to_canonical().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to serve the admin API on non-loopback address {addr} without a \
                     token"
                ),
            ));
        }
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        Ok(AdminServer {
            listener,
            local_addr,
            token: token.is_some(),
            router: routes::router(control, token),
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` fires; then stops accepting, lets in-flight requests finish
    /// (up to 10 s), closes idle connections and returns. Errors only if the socket cannot
    /// join the runtime.
    pub async fn serve(self, mut shutdown: ShutdownSignal) -> io::Result<()> {
        let listener = TcpListener::from_std(self.listener)?;
        let service = TowerToHyperService::new(self.router);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        tracing::info!(addr = %self.local_addr, token = self.token, "admin API listening");
        loop {
            while connections.try_join_next().is_some() {}
            let slot = tokio::select! {
                _ = shutdown.recv() => break,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    // Never closed; stop rather than spin if it were.
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                _ = shutdown.recv() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        if !is_per_connection(&error) {
                            tracing::warn!(%error, "admin API accept failed");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        }
                        continue;
                    }
                },
            };
            connections.spawn(serve_connection(
                stream,
                service.clone(),
                shutdown.clone(),
                slot,
            ));
        }
        drop(listener);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = connections.len(),
                "admin API connections still busy after the shutdown grace; closing them"
            );
            connections.shutdown().await;
        }
        tracing::info!(addr = %self.local_addr, "admin API stopped");
        Ok(())
    }
}

impl std::fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminServer")
            .field("local_addr", &self.local_addr)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Errors that concern only the connection being accepted: skip it and carry on.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// One HTTP/1.1 connection; on shutdown, finishes the request in progress and closes.
async fn serve_connection(
    stream: TcpStream,
    service: TowerToHyperService<axum::Router>,
    mut shutdown: ShutdownSignal,
    _slot: OwnedSemaphorePermit,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.recv() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Timeouts, resets and malformed heads: the client's problem, not worth a warning.
        tracing::debug!(%error, "admin API connection ended with an error");
    }
}
