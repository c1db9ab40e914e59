use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::{ProbeError, ProbeOutcome};

/// A TCP check: the backend is ready when a connection opens within `timeout`. The
/// connection is closed at once.
pub async fn probe_tcp(addr: SocketAddr, timeout: Duration) -> ProbeOutcome {
    let error = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => return ProbeOutcome::Ready,
        Ok(Err(e)) => ProbeError::Connect(e),
        Err(_elapsed) => ProbeError::Timeout(timeout),
    };
    ProbeOutcome::NotReady(error.to_string())
}
