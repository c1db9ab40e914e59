//! [`Autoscaler`]: the handle the binary holds. It runs every reconciler on one thread of its
//! own (`shoal-autoscale`, a single-threaded event loop): the process provider forks from
//! there, and that thread lives until the instances are stopped, which the parent-death
//! signal of [`crate::child_guard`] relies on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use shoal_config::{AutoscaleConfig, Config};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::fleet::Fleet;
use crate::provider::Provider;
use crate::reconciler::{Msg, Reconciler, Shared, StopMode};
use crate::status::Status;

/// How the autoscaler starts its instances.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The shoal binary (`std::env::current_exe()` in `shoal run`): process instances are
    /// started through its `exec-guarded` subcommand, so they die with shoal. `None` starts
    /// them directly (embedders and in-process tests).
    pub launcher: Option<PathBuf>,
}

/// Why a manual scale was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    #[error("upstream {0:?} is not autoscaled")]
    NotAutoscaled(String),
    #[error("{0}")]
    Refused(String),
    #[error("the autoscaler is not running")]
    Stopped,
}

enum ManagerMsg {
    Apply(Box<Config>, Option<oneshot::Sender<()>>),
    Scale {
        upstream: String,
        count: u32,
        reply: oneshot::Sender<Result<(), ScaleError>>,
    },
    Shutdown(oneshot::Sender<()>),
}

type Statuses = Arc<Mutex<BTreeMap<String, Arc<Mutex<Shared>>>>>;

pub struct Autoscaler {
    tx: mpsc::UnboundedSender<ManagerMsg>,
    statuses: Statuses,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Autoscaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Autoscaler").finish_non_exhaustive()
    }
}

impl Autoscaler {
    /// Starts the autoscaler thread with no upstream; [`Autoscaler::apply`] gives it the
    /// config.
    pub fn start(fleet: Arc<dyn Fleet>, options: Options) -> std::io::Result<Autoscaler> {
        let (tx, rx) = mpsc::unbounded_channel();
        let statuses: Statuses = Arc::default();
        let shared = Arc::clone(&statuses);
        let thread = std::thread::Builder::new()
            .name("shoal-autoscale".to_string())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(manager(rx, fleet, options, shared)),
                    Err(e) => tracing::error!(error = %e, "cannot start the autoscaler event loop"),
                }
            })?;
        Ok(Autoscaler {
            tx,
            statuses,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Starts, reconfigures or retires the upstreams' autoscalers to match `config` (at
    /// start and after every reload).
    pub fn apply(&self, config: &Config) {
        let _ = self
            .tx
            .send(ManagerMsg::Apply(Box::new(config.clone()), None));
    }

    /// [`Autoscaler::apply`], returning once every autoscaler `config` asks for is running
    /// (so its status can be read at once).
    pub async fn apply_and_wait(&self, config: &Config) {
        let (done, applied) = oneshot::channel();
        if self
            .tx
            .send(ManagerMsg::Apply(Box::new(config.clone()), Some(done)))
            .is_ok()
        {
            let _ = applied.await;
        }
    }

    /// The upstream's autoscaler now, with its decision log; `None` when it has none.
    pub fn status(&self, upstream: &str) -> Option<Status> {
        let shared = {
            let statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(statuses.get(upstream)?)
        };
        let shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut status = shared.status.clone();
        status.events = shared.events.iter().cloned().collect();
        Some(status)
    }

    /// How many decisions of each action the upstream's autoscaler has made since it started
    /// (`scale_up`, `scale_down`, `none`, `manual`); `None` when it has none.
    pub fn decision_totals(&self, upstream: &str) -> Option<[(&'static str, u64); 4]> {
        let shared = {
            let statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(statuses.get(upstream)?)
        };
        let shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        Some(shared.events.totals())
    }

    /// The upstreams that have an autoscaler now, by name.
    pub fn upstreams(&self) -> Vec<String> {
        let statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.keys().cloned().collect()
    }

    /// Sets an upstream's count by hand (within its min and max). Blocks the calling thread
    /// until the provider has been told: call it from a blocking thread.
    pub fn scale_blocking(&self, upstream: &str, count: u32) -> Result<(), ScaleError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(ManagerMsg::Scale {
                upstream: upstream.to_string(),
                count,
                reply,
            })
            .map_err(|_| ScaleError::Stopped)?;
        answer.blocking_recv().map_err(|_| ScaleError::Stopped)?
    }

    /// Stops every autoscaler: their instances get SIGTERM, then SIGKILL after their
    /// `stop_timeout`. Call once traffic has stopped.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(ManagerMsg::Shutdown(reply)).is_ok() {
            let _ = done.await;
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Autoscaler {
    fn drop(&mut self) {
        // Without `shutdown`: the thread stops its instances on its own once the channel
        // closes (and the parent-death signal covers the rest).
        let (reply, _) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Shutdown(reply));
    }
}

struct Running {
    config: AutoscaleConfig,
    tx: mpsc::UnboundedSender<Msg>,
}

async fn manager(
    mut rx: mpsc::UnboundedReceiver<ManagerMsg>,
    fleet: Arc<dyn Fleet>,
    options: Options,
    statuses: Statuses,
) {
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    loop {
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match msg {
            None => break,
            Some(ManagerMsg::Shutdown(reply)) => {
                for (_, r) in std::mem::take(&mut running) {
                    let _ = r.tx.send(Msg::Stop(StopMode::Exit));
                }
                while tasks.join_next().await.is_some() {}
                let _ = reply.send(());
                return;
            }
            Some(ManagerMsg::Scale {
                upstream,
                count,
                reply,
            }) => {
                let Some(r) = running.get(&upstream) else {
                    let _ = reply.send(Err(ScaleError::NotAutoscaled(upstream)));
                    continue;
                };
                let (tx, answer) = oneshot::channel();
                if r.tx.send(Msg::Scale { count, reply: tx }).is_err() {
                    let _ = reply.send(Err(ScaleError::Stopped));
                    continue;
                }
                // Answered by the reconciler; waiting here would stall other messages.
                tasks.spawn(async move {
                    let result = match answer.await {
                        Ok(r) => r.map_err(ScaleError::Refused),
                        Err(_) => Err(ScaleError::Stopped),
                    };
                    let _ = reply.send(result);
                });
            }
            Some(ManagerMsg::Apply(config, done)) => {
                let wanted: BTreeMap<String, AutoscaleConfig> = config
                    .upstreams
                    .iter()
                    .filter_map(|u| u.autoscale.clone().map(|a| (u.name.clone(), a)))
                    .collect();
                let names: Vec<String> = running.keys().cloned().collect();
                for name in names {
                    let same_provider = wanted
                        .get(&name)
                        .zip(running.get(&name))
                        .is_some_and(|(w, r)| w.provider == r.config.provider);
                    if same_provider {
                        continue;
                    }
                    if let Some(r) = running.remove(&name) {
                        let _ = r.tx.send(Msg::Stop(StopMode::Retire));
                    }
                    let mut s = statuses.lock().unwrap_or_else(|e| e.into_inner());
                    s.remove(&name);
                }
                for (name, config) in wanted {
                    if let Some(r) = running.get_mut(&name) {
                        if r.config != config {
                            r.config = config.clone();
                            let _ = r.tx.send(Msg::Config(Box::new(config)));
                        }
                        continue;
                    }
                    let provider = match Provider::new(
                        &name,
                        &config.provider,
                        options.launcher.clone(),
                    ) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(upstream = %name, error = %e, "autoscaler not started");
                            continue;
                        }
                    };
                    let (reconciler, shared) =
                        Reconciler::new(&name, config.clone(), provider, Arc::clone(&fleet));
                    let (tx, rx) = mpsc::unbounded_channel();
                    tasks.spawn(reconciler.run(rx));
                    statuses
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.clone(), shared);
                    running.insert(name, Running { config, tx });
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
        }
    }
    // The handle is gone without a shutdown: stop everything.
    for (_, r) in running {
        let _ = r.tx.send(Msg::Stop(StopMode::Exit));
    }
    while tasks.join_next().await.is_some() {}
}
