//! One TCP connection relayed to a backend: read what must come first (a trusted PROXY
//! header, a tls_passthrough ClientHello: `preamble.rs`), pick (hashing algorithms place by
//! client address; tls_passthrough picks the upstream by server name), connect with failover to the next backend, then copy both ways until both sides
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

use shoal_config::ListenerProtocol;

use super::activity::{LastActivity, Tracked};
use super::preamble::{read_preamble, Wants};
use super::proxy_header::proxy_header;
use super::proxy_header_guard::ProxyHeaderGuard;
use crate::http::connection::ConnContext;
use crate::http::with_rng;

pub(crate) async fn serve_tcp(
    mut client: TcpStream,
    ctx: ConnContext,
    mut shutdown: ShutdownSignal,
) {
    let snapshot = ctx.shared.snapshot.load_full();
    let Some(listener) = snapshot.listener_at(ctx.listener_index, &ctx.listener_name) else {
        return;
    };
    let idle = listener.config.idle_timeout;
    let proxy_protocol = listener.config.proxy_protocol;
    let passthrough = listener.config.protocol == ListenerProtocol::TlsPassthrough;
    let wants = Wants {
        trusted: listener.config.accept_proxy_protocol.as_deref(),
        server_name: passthrough,
    };
    let preamble = tokio::select! {
        read = read_preamble(&mut client, ctx.peer, wants, listener.config.header_read_timeout) => read,
        _ = shutdown.recv() => return,
    };
    let preamble = match preamble {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(listener = %ctx.listener_name, peer = %ctx.peer, error = %e, "connection refused before relaying");
            if e.is_tls_problem() {
                let _ = client.write_all(&TLS_ALERT_DECODE_ERROR).await;
            }
            reset_on_close(&client);
            return;
        }
    };
    let upstream_index = if passthrough {
        listener.sni.find(preamble.server_name.as_deref())
    } else {
        listener.tcp_upstream
    };
    let Some(upstream) = upstream_index
        .and_then(|i| snapshot.upstreams.get(i))
        .cloned()
    else {
        if passthrough {
            tracing::debug!(listener = %ctx.listener_name, server_name = ?preamble.server_name, "no upstream for this server name");
            let _ = client.write_all(&TLS_ALERT_UNRECOGNIZED_NAME).await;
        }
        reset_on_close(&client);
        return;
    };
    drop(snapshot);
    let peer = preamble.client;

    let hash = upstream
        .config()
        .algorithm
        .is_hashing()
        .then(|| client_hash(peer))
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
        let header = proxy_header(version, peer, reached);
        if let Err(e) = backend_stream.write_all(&header).await {
            tracing::debug!(backend = %backend.addr(), error = %e, "cannot send the PROXY header");
            reset_on_close(&client);
            return;
        }
    }
    // What the preamble read of the client's stream (a ClientHello) goes first.
    if !preamble.data.is_empty() {
        if let Err(e) = backend_stream.write_all(&preamble.data).await {
            tracing::debug!(backend = %backend.addr(), error = %e, "cannot send the client's first bytes");
            reset_on_close(&client);
            return;
        }
    }

    let activity = LastActivity::new();
    let client = ProxyHeaderGuard::new(client, preamble.refuse_proxy_header);
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
        reset_on_close(client.get_ref().get_ref());
        reset_on_close(server.get_ref());
    }
    drop(in_flight);
}

/// A fatal TLS alert record (TLS 1.2 framing, which every TLS version accepts before the
/// handshake settles a version): `unrecognized_name` (112) when no upstream serves the
/// ClientHello's server name, `decode_error` (50) when the ClientHello cannot be read.
const TLS_ALERT_UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112];
const TLS_ALERT_DECODE_ERROR: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 50];

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
