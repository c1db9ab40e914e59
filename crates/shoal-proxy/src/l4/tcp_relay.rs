//! One TCP connection relayed to a backend: pick (hashing algorithms place by client
//! address), connect with failover to the next backend, then copy both ways until both sides
//! have finished. A half-close travels: when one side ends its sending, the other side's
//! socket is shut for writing and the opposite direction carries on. A reset (or a relay
//! error) is passed on as a reset. The connection counts as in flight on its backend for its
//! whole life, which is what least_conn balances on.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::ShutdownSignal;
use shoal_health::Outcome;
use shoal_upstream::Tried;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::activity::{LastActivity, Tracked};
use super::proxy_header::proxy_header;
use crate::http::connection::ConnContext;
use crate::http::with_rng;

pub(crate) async fn serve_tcp(client: TcpStream, ctx: ConnContext, mut shutdown: ShutdownSignal) {
    let snapshot = ctx.shared.snapshot.load_full();
    let Some(listener) = snapshot.listener_at(ctx.listener_index, &ctx.listener_name) else {
        return;
    };
    let Some(upstream) = listener
        .tcp_upstream
        .and_then(|i| snapshot.upstreams.get(i))
        .cloned()
    else {
        return;
    };
    let idle = listener.config.idle_timeout;
    let proxy_protocol = listener.config.proxy_protocol;
    drop(snapshot);

    let hash = upstream
        .config()
        .algorithm
        .is_hashing()
        .then(|| client_hash(ctx.peer))
        .flatten();
    let config = upstream.config();
    let mut tried = Tried::default();
    let (backend_stream, backend, in_flight) = loop {
        let Some(index) = with_rng(|rng| upstream.pick_next(hash, &mut tried, rng)) else {
            tracing::debug!(listener = %ctx.listener_name, upstream = %upstream.name(), "no backend for a TCP connection");
            reset_on_close(&client);
            return;
        };
        let Some(backend) = upstream.backend(index) else {
            return;
        };
        let in_flight = backend.start_request();
        match tokio::time::timeout(config.connect_timeout, TcpStream::connect(backend.addr())).await
        {
            Ok(Ok(stream)) => {
                backend.report(Outcome::Success);
                break (stream, std::sync::Arc::clone(backend), in_flight);
            }
            Ok(Err(e)) => {
                tracing::debug!(backend = %backend.addr(), error = %e, "TCP connect failed");
            }
            Err(_) => {
                tracing::debug!(backend = %backend.addr(), "TCP connect timed out");
            }
        }
        backend.record_failure();
        backend.report(Outcome::GatewayFailure);
    };
    let _ = backend_stream.set_nodelay(true);
    let mut backend_stream = backend_stream;
    if let Some(version) = proxy_protocol {
        let reached = client.local_addr().unwrap_or(ctx.peer);
        let header = proxy_header(version, ctx.peer, reached);
        if let Err(e) = backend_stream.write_all(&header).await {
            tracing::debug!(backend = %backend.addr(), error = %e, "cannot send the PROXY header");
            reset_on_close(&client);
            return;
        }
    }

    let activity = LastActivity::new();
    let mut client = Tracked::new(client, activity.clone());
    let mut server = Tracked::new(backend_stream, activity.clone());
    let outcome = {
        let relay = tokio::io::copy_bidirectional(&mut client, &mut server);
        tokio::select! {
            result = relay => Some(result),
            () = idle_expired(&activity, idle) => None,
            _ = shutdown.recv() => None,
        }
    };
    if let Some(Err(e)) = outcome {
        // Pass a reset on as a reset.
        tracing::debug!(backend = %backend.addr(), error = %e, "TCP relay ended with an error");
        reset_on_close(client.get_ref());
        reset_on_close(server.get_ref());
    }
    drop(in_flight);
}

/// Makes the coming close send RST rather than FIN (a zero linger: nothing blocks).
fn reset_on_close(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// Resolves once no byte has moved either way for `idle`.
async fn idle_expired(activity: &LastActivity, idle: Duration) {
    loop {
        let deadline = activity.last() + idle;
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

fn client_hash(peer: SocketAddr) -> Option<u64> {
    Some(match peer.ip() {
        std::net::IpAddr::V4(ip) => shoal_balance::hash_bytes(&ip.octets()),
        std::net::IpAddr::V6(ip) => shoal_balance::hash_bytes(&ip.octets()),
    })
}
