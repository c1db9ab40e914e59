//! The autoscaler's [`Fleet`] over the [`Controller`]: backends it adds and removes are
//! runtime changes like the admin API's, so they get health checks and slow start, survive
//! reloads of the file, and show in `GET /api/v1/upstreams`.

use std::net::SocketAddr;
use std::sync::Arc;

use shoal_autoscale::Fleet;
use shoal_upstream::{BackendState, HealthSupervisor};

use crate::control::{ChangeError, Controller};

pub struct AppFleet {
    controller: Arc<Controller>,
}

impl AppFleet {
    pub fn new(controller: Arc<Controller>) -> AppFleet {
        AppFleet { controller }
    }
}

impl Fleet for AppFleet {
    fn backends(&self, upstream: &str) -> Vec<Arc<BackendState>> {
        let snapshot = self.controller.proxy().snapshot();
        snapshot
            .upstreams
            .iter()
            .find(|u| u.name() == upstream)
            .map(|u| u.backends().to_vec())
            .unwrap_or_default()
    }

    fn add(&self, upstream: &str, addr: SocketAddr) -> Result<(), String> {
        match self.controller.add_backend(upstream, addr, 1) {
            Ok(()) | Err(ChangeError::AlreadyExists(..)) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn remove(&self, upstream: &str, addr: SocketAddr) -> Result<(), String> {
        match self.controller.remove_backend(upstream, addr) {
            Ok(())
            | Err(ChangeError::UnknownBackend(..))
            | Err(ChangeError::UnknownUpstream(_)) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn health(&self) -> HealthSupervisor {
        self.controller.proxy().health().clone()
    }
}

/// Starts the autoscaler over `controller` with `config`'s autoscale tables (running when
/// this returns), following every reload. Instances are started through this very binary (`shoal exec-guarded`), so they
/// die with it.
pub async fn start_autoscaler(
    controller: &Arc<Controller>,
    config: &shoal_config::Config,
) -> std::io::Result<Arc<shoal_autoscale::Autoscaler>> {
    let options = shoal_autoscale::Options {
        launcher: std::env::current_exe().ok(),
    };
    let fleet = Arc::new(AppFleet::new(Arc::clone(controller)));
    let autoscaler = Arc::new(shoal_autoscale::Autoscaler::start(fleet, options)?);
    autoscaler.apply_and_wait(config).await;
    let follower = Arc::downgrade(&autoscaler);
    controller.on_reload(move |config| {
        if let Some(autoscaler) = follower.upgrade() {
            autoscaler.apply(config);
        }
    });
    Ok(autoscaler)
}
