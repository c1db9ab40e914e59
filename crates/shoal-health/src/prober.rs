use std::net::SocketAddr;
use std::time::Duration;

use shoal_config::{HealthCheckKind, HealthConfig};

use crate::{probe_http_with, probe_tcp, PlainHttp, ProbeClient, ProbeOutcome};

/// One upstream's active check, ready to run against any of its backends: one
/// [`Prober::check`] call is one probe round for one backend. Scheduling (interval, jitter)
/// and feeding the result to [`crate::HealthState::on_probe`] are the caller's.
#[derive(Debug, Clone, PartialEq)]
pub struct Prober {
    kind: HealthCheckKind,
    path: String,
    liveness_path: Option<String>,
    host: Option<String>,
    timeout: Duration,
    expect: (u16, u16),
}

impl Prober {
    pub fn new(config: &HealthConfig) -> Prober {
        Prober {
            kind: config.kind,
            path: config.path.clone(),
            liveness_path: config.liveness_path.clone(),
            host: config.host.clone(),
            timeout: config.timeout,
            expect: config.expect_status,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Probes `addr` once. HTTP: readiness (and liveness, when a `liveness_path` is set) run
    /// concurrently so a round takes at most one `timeout`; a liveness failure wins over
    /// whatever readiness said (a dead backend is `down`, not merely `not_ready`). TCP: a
    /// connect; `liveness_path` has no meaning there and is ignored.
    pub async fn check(&self, addr: SocketAddr) -> ProbeOutcome {
        self.check_with(addr, &PlainHttp).await
    }

    /// [`Prober::check`] with HTTP probes sent through `client` (TLS, HTTP/2).
    pub async fn check_with<C: ProbeClient>(&self, addr: SocketAddr, client: &C) -> ProbeOutcome {
        match self.kind {
            HealthCheckKind::Tcp => probe_tcp(addr, self.timeout).await,
            HealthCheckKind::Http => self.check_http(addr, client).await,
        }
    }

    async fn check_http<C: ProbeClient>(&self, addr: SocketAddr, client: &C) -> ProbeOutcome {
        // Default Host: the backend address, as a client dialling it directly would send.
        let default_host;
        let host = match &self.host {
            Some(host) => host.as_str(),
            None => {
                default_host = addr.to_string();
                default_host.as_str()
            }
        };
        let readiness = probe_http_with(client, addr, &self.path, host, self.timeout, self.expect);
        let Some(liveness_path) = &self.liveness_path else {
            return readiness.await;
        };
        let liveness =
            probe_http_with(client, addr, liveness_path, host, self.timeout, self.expect);
        let (readiness, liveness) = tokio::join!(readiness, liveness);
        match liveness.reason() {
            None => readiness,
            Some(reason) => ProbeOutcome::LivenessFailed(format!("GET {liveness_path}: {reason}")),
        }
    }
}
