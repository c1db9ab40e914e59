//! Active HTTP checks over the upstream's own transport: a TLS backend is probed over TLS,
//! verified like traffic is (a backend whose certificate fails is not ready), and an HTTP/2
//! backend as HTTP/2. The probe logic itself (what passes, liveness, timeouts) is
//! shoal-health's; this only says how to reach the backend.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shoal_config::UpstreamProtocol;
use shoal_health::{probe_request, read_status, ProbeClient, ProbeError};

use crate::connect_error::ConnectError;
use crate::transport::Transport;

#[derive(Debug, Clone)]
pub(crate) struct TransportProbe {
    pub(crate) transport: Arc<Transport>,
    /// Bounds the connect and handshake; the whole probe is bounded by the caller too.
    pub(crate) connect_timeout: Duration,
}

impl ProbeClient for TransportProbe {
    async fn get_status(
        &self,
        addr: SocketAddr,
        path: &str,
        host: &str,
    ) -> Result<u16, ProbeError> {
        let request = probe_request(path, host)?;
        let mut stream = self
            .transport
            .connect(addr, self.connect_timeout)
            .await
            .map_err(probe_error)?;
        match self.transport.protocol() {
            UpstreamProtocol::Http1 => read_status(&mut stream, &request).await,
            UpstreamProtocol::H2 => {
                crate::h2::probe_status(stream, path, host, self.transport.is_tls()).await
            }
        }
    }
}

/// A connect failure in the probe's words.
pub(crate) fn probe_error(e: ConnectError) -> ProbeError {
    match e {
        ConnectError::Refused(_) => ProbeError::Connect(io::ErrorKind::ConnectionRefused.into()),
        ConnectError::Timeout(_, after) => ProbeError::Timeout(after),
        ConnectError::Io(_, e) => ProbeError::Connect(e),
        ConnectError::Tls(_, reason) => ProbeError::Tls(reason),
    }
}
