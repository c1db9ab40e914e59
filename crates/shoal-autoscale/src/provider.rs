//! The providers behind one interface: where instances come from and how to ask for more or
//! fewer. Static dispatch over the three kinds (the set is closed).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use shoal_config::ProviderConfig;

use crate::command::CommandProvider;
use crate::process::{Member, ProcessProvider};

/// What a provider says about its fleet.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderView {
    /// Instances asked for and not leaving.
    pub current: u32,
    pub members: Vec<Member>,
}

pub(crate) enum Provider {
    Process(ProcessProvider),
    Command(CommandProvider),
    #[cfg(feature = "kubernetes")]
    Kubernetes(crate::kubernetes::KubernetesProvider),
}

impl Provider {
    pub fn new(
        upstream: &str,
        config: &ProviderConfig,
        launcher: Option<PathBuf>,
    ) -> Result<Provider, String> {
        match config {
            ProviderConfig::Process(p) => Ok(Provider::Process(ProcessProvider::new(
                upstream,
                p.clone(),
                launcher,
            ))),
            ProviderConfig::Command(c) => {
                Ok(Provider::Command(CommandProvider::new(upstream, c.clone())))
            }
            #[cfg(feature = "kubernetes")]
            ProviderConfig::Kubernetes(k) => Ok(Provider::Kubernetes(
                crate::kubernetes::KubernetesProvider::new(upstream, k)?,
            )),
            #[cfg(not(feature = "kubernetes"))]
            ProviderConfig::Kubernetes(_) => Err(
                "provider = \"kubernetes\" needs a shoal built with the `kubernetes` feature"
                    .to_string(),
            ),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Provider::Process(_) => "process",
            Provider::Command(_) => "command",
            #[cfg(feature = "kubernetes")]
            Provider::Kubernetes(_) => "kubernetes",
        }
    }

    /// The process provider is cheap to poll (it watches its own children); the others run
    /// a command or an API call, so only at evaluations.
    pub fn polls_every_tick(&self) -> bool {
        matches!(self, Provider::Process(_))
    }

    pub async fn poll(&mut self, now: Instant, evaluate: bool) -> Result<ProviderView, String> {
        match self {
            Provider::Process(p) => {
                let members = p.poll(now, evaluate).await;
                Ok(ProviderView {
                    current: p.current(),
                    members,
                })
            }
            Provider::Command(c) => {
                let addrs = c.list().await?;
                Ok(ProviderView {
                    current: c.current(),
                    members: addrs.into_iter().map(listed).collect(),
                })
            }
            #[cfg(feature = "kubernetes")]
            Provider::Kubernetes(k) => k.poll().await,
        }
    }

    pub async fn scale_to(
        &mut self,
        count: u32,
        in_flight: impl Fn(SocketAddr) -> u32,
    ) -> Result<(), String> {
        match self {
            Provider::Process(p) => {
                p.scale_to(count, in_flight);
                Ok(())
            }
            Provider::Command(c) => c.scale_to(count).await,
            #[cfg(feature = "kubernetes")]
            Provider::Kubernetes(k) => k.scale_to(count).await,
        }
    }

    /// Done with an instance (drained and removed): the process provider stops it; the
    /// platforms behind the others remove their instances themselves.
    pub fn release(&mut self, addr: SocketAddr) {
        if let Provider::Process(p) = self {
            p.release(addr);
        }
    }

    /// An instance's liveness check fails: the process provider replaces it.
    pub fn restart(&mut self, addr: SocketAddr) {
        if let Provider::Process(p) = self {
            p.restart(addr);
        }
    }

    /// shoal is stopping (or this autoscaler is retired): the process provider stops its
    /// instances; the others leave the platform as it is.
    pub async fn shutdown(&mut self) {
        if let Provider::Process(p) = self {
            p.shutdown().await;
        }
    }
}

/// A listed address: up (the platform says so) and staying.
pub(crate) fn listed(addr: SocketAddr) -> Member {
    Member {
        id: addr.to_string(),
        addr,
        up: true,
        leaving: false,
        pid: None,
        cpu_percent: None,
    }
}
