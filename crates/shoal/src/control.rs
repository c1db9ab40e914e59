//! The one writer of configuration (DESIGN.md §1.3): it holds the config file's contents and
//! the operator's runtime changes, and turns both into the snapshot the proxy serves.
//!
//! Runtime changes (a weight, an added or removed backend) survive a reload of the file,
//! unless the file changed that same backend: then the file wins and the change is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use shoal_admin::ReloadSummary;
use shoal_config::{BackendConfig, Config};
use shoal_proxy::ProxyHandle;

type Key = (String, SocketAddr);

/// The operator's changes on top of the file.
#[derive(Debug, Default, Clone)]
struct Overrides {
    weights: BTreeMap<Key, u32>,
    added: BTreeMap<Key, u32>,
    removed: BTreeSet<Key>,
}

#[derive(Debug)]
struct State {
    file: Config,
    overrides: Overrides,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown upstream {0:?}")]
    UnknownUpstream(String),
    #[error("upstream {0:?} has no backend {1}")]
    UnknownBackend(String, SocketAddr),
    #[error("upstream {0:?} already has backend {1}")]
    AlreadyExists(String, SocketAddr),
    /// The last backend of an upstream cannot be removed (unless it is autoscaled).
    #[error("upstream {0:?} would have no backend left")]
    LastBackend(String),
    /// The proxy could not apply it.
    #[error("{0}")]
    Refused(String),
}

/// Called with the new file contents after each successful reload.
type ReloadHook = Box<dyn Fn(&Config) + Send + Sync>;

pub struct Controller {
    proxy: ProxyHandle,
    path: Option<PathBuf>,
    state: Mutex<State>,
    on_reload: Mutex<Option<ReloadHook>>,
}

fn backends_of(config: &Config) -> BTreeMap<Key, u32> {
    config
        .upstreams
        .iter()
        .flat_map(|u| {
            u.backends
                .iter()
                .map(|b| ((u.name.clone(), b.addr), b.weight))
        })
        .collect()
}

impl State {
    /// The file with the operator's changes applied.
    fn effective(&self) -> Config {
        let mut config = self.file.clone();
        for upstream in &mut config.upstreams {
            let name = upstream.name.clone();
            upstream
                .backends
                .retain(|b| !self.overrides.removed.contains(&(name.clone(), b.addr)));
            for ((up, addr), weight) in &self.overrides.added {
                if *up == name && !upstream.backends.iter().any(|b| b.addr == *addr) {
                    upstream.backends.push(BackendConfig {
                        addr: *addr,
                        weight: *weight,
                    });
                }
            }
            for b in &mut upstream.backends {
                if let Some(w) = self.overrides.weights.get(&(name.clone(), b.addr)) {
                    b.weight = *w;
                }
            }
        }
        config
    }
}

impl Controller {
    /// `path`: the file `reload` re-reads (None for a config built in memory).
    pub fn new(proxy: ProxyHandle, file: Config, path: Option<PathBuf>) -> Controller {
        Controller {
            proxy,
            path,
            state: Mutex::new(State {
                file,
                overrides: Overrides::default(),
            }),
            on_reload: Mutex::new(None),
        }
    }

    /// `hook` runs (outside the state lock) after every successful reload of the file, with
    /// its new contents: the autoscaler follows `autoscale` tables that way.
    pub fn on_reload(&self, hook: impl Fn(&Config) + Send + Sync + 'static) {
        *self.on_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
    }

    pub fn proxy(&self) -> &ProxyHandle {
        &self.proxy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The config serving now (file + runtime changes).
    pub fn effective(&self) -> Config {
        self.lock().effective()
    }

    /// Serves `candidate`; on success it becomes the state, on failure (a new listener
    /// that cannot bind) the old state keeps serving.
    fn commit(&self, state: &mut State, candidate: State) -> Result<(), String> {
        self.proxy
            .reload(&candidate.effective())
            .map_err(|e| e.to_string())?;
        *state = candidate;
        Ok(())
    }

    /// Re-reads the file. On success, swaps in file + surviving runtime changes; on failure,
    /// the old config keeps serving and every problem is returned.
    pub fn reload(&self) -> Result<ReloadSummary, Vec<String>> {
        let Some(path) = &self.path else {
            return Err(vec![
                "this shoal was not started from a config file".to_string()
            ]);
        };
        let new_file = crate::load_config(path)
            .map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        self.replace_file(new_file).map_err(|e| vec![e])
    }

    /// Swaps the file's contents (already validated) and reports what changed.
    pub fn replace_file(&self, new_file: Config) -> Result<ReloadSummary, String> {
        let mut state = self.lock();
        let before = state.effective();
        let (old_backends, new_backends) = (backends_of(&state.file), backends_of(&new_file));
        // A backend the file changed (appeared, disappeared, new weight) loses its runtime change.
        let touched = |key: &Key| old_backends.get(key) != new_backends.get(key);
        let mut overrides = state.overrides.clone();
        overrides.weights.retain(|k, _| !touched(k));
        overrides.added.retain(|k, _| !touched(k));
        overrides.removed.retain(|k| !touched(k));
        let candidate = State {
            file: new_file,
            overrides,
        };
        let after = candidate.effective();
        let file = candidate.file.clone();
        self.commit(&mut state, candidate)?;
        drop(state);
        if let Some(hook) = &*self.on_reload.lock().unwrap_or_else(|e| e.into_inner()) {
            hook(&file);
        }
        Ok(summarize(&before, &after))
    }

    fn upstream_exists(state: &State, upstream: &str) -> Result<(), ChangeError> {
        if state.effective().upstream(upstream).is_some() {
            Ok(())
        } else {
            Err(ChangeError::UnknownUpstream(upstream.to_string()))
        }
    }

    fn backend_exists(state: &State, upstream: &str, addr: SocketAddr) -> Result<(), ChangeError> {
        let config = state.effective();
        let up = config
            .upstream(upstream)
            .ok_or_else(|| ChangeError::UnknownUpstream(upstream.to_string()))?;
        if up.backends.iter().any(|b| b.addr == addr) {
            Ok(())
        } else {
            Err(ChangeError::UnknownBackend(upstream.to_string(), addr))
        }
    }

    /// Checks that a backend exists (for operations that do not change config).
    pub fn check_backend(&self, upstream: &str, addr: SocketAddr) -> Result<(), ChangeError> {
        Self::backend_exists(&self.lock(), upstream, addr)
    }

    pub fn set_weight(
        &self,
        upstream: &str,
        addr: SocketAddr,
        weight: u32,
    ) -> Result<(), ChangeError> {
        let mut state = self.lock();
        Self::backend_exists(&state, upstream, addr)?;
        let key = (upstream.to_string(), addr);
        let mut overrides = state.overrides.clone();
        if let Some(w) = overrides.added.get_mut(&key) {
            *w = weight;
        } else {
            overrides.weights.insert(key, weight);
        }
        self.change(&mut state, overrides)
    }

    fn change(&self, state: &mut State, overrides: Overrides) -> Result<(), ChangeError> {
        let candidate = State {
            file: state.file.clone(),
            overrides,
        };
        self.commit(state, candidate).map_err(ChangeError::Refused)
    }

    pub fn add_backend(
        &self,
        upstream: &str,
        addr: SocketAddr,
        weight: u32,
    ) -> Result<(), ChangeError> {
        let mut state = self.lock();
        Self::upstream_exists(&state, upstream)?;
        if Self::backend_exists(&state, upstream, addr).is_ok() {
            return Err(ChangeError::AlreadyExists(upstream.to_string(), addr));
        }
        let key = (upstream.to_string(), addr);
        let mut overrides = state.overrides.clone();
        overrides.removed.remove(&key);
        let in_file = backends_of(&state.file).contains_key(&key);
        if in_file {
            overrides.weights.insert(key, weight);
        } else {
            overrides.added.insert(key, weight);
        }
        self.change(&mut state, overrides)
    }

    /// Takes a backend out of the config (call after it has drained).
    pub fn remove_backend(&self, upstream: &str, addr: SocketAddr) -> Result<(), ChangeError> {
        let mut state = self.lock();
        Self::backend_exists(&state, upstream, addr)?;
        let effective = state.effective();
        let serving = effective.upstream(upstream);
        let remaining = serving.map_or(0, |u| u.backends.len());
        // An autoscaled upstream may run with no backend (its provider brings them).
        let autoscaled = serving.is_some_and(|u| u.autoscale.is_some());
        if remaining <= 1 && !autoscaled {
            return Err(ChangeError::LastBackend(upstream.to_string()));
        }
        let key = (upstream.to_string(), addr);
        let mut overrides = state.overrides.clone();
        if overrides.added.remove(&key).is_none() {
            overrides.removed.insert(key.clone());
        }
        overrides.weights.remove(&key);
        self.change(&mut state, overrides)
    }
}

fn summarize(before: &Config, after: &Config) -> ReloadSummary {
    let names =
        |c: &Config| -> BTreeSet<String> { c.upstreams.iter().map(|u| u.name.clone()).collect() };
    let listeners =
        |c: &Config| -> BTreeSet<String> { c.listeners.iter().map(|l| l.name.clone()).collect() };
    let keys = |c: &Config| -> BTreeSet<String> {
        backends_of(c)
            .keys()
            .map(|(u, a)| format!("{u} {a}"))
            .collect()
    };
    let (ub, ua) = (names(before), names(after));
    let (lb, la) = (listeners(before), listeners(after));
    let (bb, ba) = (keys(before), keys(after));
    ReloadSummary {
        changed: before != after,
        upstreams_added: ua.difference(&ub).cloned().collect(),
        upstreams_removed: ub.difference(&ua).cloned().collect(),
        backends_added: ba.difference(&bb).cloned().collect(),
        backends_removed: bb.difference(&ba).cloned().collect(),
        listeners_added: la.difference(&lb).cloned().collect(),
        listeners_removed: lb.difference(&la).cloned().collect(),
    }
}
