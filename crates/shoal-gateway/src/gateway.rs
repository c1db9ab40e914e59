//! Compiling a config's filters into chains, keeping what must outlive a reload: each rate
//! limit's key table (while its settings are unchanged, so a reload does not hand every
//! client a fresh burst) and the per-process sticky-cookie key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use shoal_config::{
    Config, ConfigError, ConfigErrors, FileRef, FilterKind, RateLimitConfig, UpstreamConfig,
};

use crate::api_key::ApiKey;
use crate::basic_auth::BasicAuth;
use crate::chain::{Chain, Filter};
use crate::cors::Cors;
use crate::filter_stats::FilterStats;
use crate::header_ops::Headers;
use crate::jwt::Jwt;
use crate::limits::Limits;
use crate::rate_limit::{RateLimit, RateState};
use crate::respond::{Redirect, Respond};
use crate::sticky::{self, StickyCodec, StickyTable};

/// Long-lived gateway state, one per running data plane.
#[derive(Debug)]
pub struct Gateway {
    rate: Mutex<HashMap<String, (RateLimitConfig, Arc<RateState>)>>,
    /// Each filter's counters, by name, with the kind they were counted for: a reload that
    /// keeps a filter's name and kind keeps its counts.
    stats: Mutex<HashMap<String, (&'static str, Arc<FilterStats>)>>,
    sticky_key: Vec<u8>,
    /// Watch key files for changes (off for `shoal check`).
    watch: bool,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway::new()
    }
}

/// The compiled filters of one config snapshot.
#[derive(Debug, Default)]
pub struct GatewaySnapshot {
    filters: HashMap<String, Arc<Filter>>,
    /// By filter name (every entry of `filters` has one).
    stats: HashMap<String, Arc<FilterStats>>,
    sticky: HashMap<String, Arc<StickyCodec>>,
}

impl GatewaySnapshot {
    /// The chain for a route's `filters` list; None for an empty list (the plain path).
    pub fn chain(&self, names: &[String]) -> Option<Arc<Chain>> {
        if names.is_empty() {
            return None;
        }
        let filters = names
            .iter()
            .filter_map(|n| {
                let filter = self.filters.get(n)?;
                let stats = self.stats.get(n).cloned().unwrap_or_default();
                Some((Arc::clone(filter), stats))
            })
            .collect();
        Some(Arc::new(Chain::with_stats(filters)))
    }

    /// Every filter as `(name, kind, counters)`, by name.
    pub fn filter_stats(&self) -> Vec<(&str, &'static str, &FilterStats)> {
        let mut out: Vec<(&str, &'static str, &FilterStats)> = self
            .filters
            .iter()
            .filter_map(|(name, filter)| {
                let stats = self.stats.get(name)?;
                Some((name.as_str(), filter.kind(), &**stats))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The sticky table of `upstream` over `backends` (in backend order), if it is sticky.
    pub fn sticky(&self, upstream: &UpstreamConfig) -> Option<Arc<StickyTable>> {
        let codec = self.sticky.get(&upstream.name)?;
        let addrs: Vec<SocketAddr> = upstream.backends.iter().map(|b| b.addr).collect();
        Some(Arc::new(StickyTable::new(
            Arc::clone(codec),
            &upstream.name,
            &addrs,
        )))
    }

    /// The rate-limit state of filter `name` (tests, metrics).
    pub fn rate_state(&self, name: &str) -> Option<&Arc<RateState>> {
        match &**self.filters.get(name)? {
            Filter::RateLimit(r) => Some(r.state()),
            _ => None,
        }
    }
}

fn error(file: &FileRef, message: String) -> ConfigError {
    ConfigError {
        path: file.key.clone(),
        line: file.line,
        message,
    }
}

/// Checks that every file the config's filters and sticky upstreams name parses, without
/// keeping anything (`shoal check`, and before a reload is accepted).
pub fn check(config: &Config) -> Result<(), ConfigErrors> {
    Gateway {
        rate: Mutex::new(HashMap::new()),
        stats: Mutex::new(HashMap::new()),
        sticky_key: Vec::new(),
        watch: false,
    }
    .compile(config)
    .map(|_| ())
}

impl Gateway {
    pub fn new() -> Gateway {
        Gateway {
            rate: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            sticky_key: sticky::random_key(),
            watch: true,
        }
    }

    /// Compiles every filter and sticky upstream of `config`; on failure, every problem,
    /// at the key that named the file.
    pub fn compile(&self, config: &Config) -> Result<GatewaySnapshot, ConfigErrors> {
        let mut errors = Vec::new();
        let mut snapshot = GatewaySnapshot::default();
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let mut kept = HashMap::new();
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut kept_stats = HashMap::new();
        for f in &config.filters {
            let built = match &f.kind {
                FilterKind::Jwt(c) => Jwt::new(c, self.watch)
                    .map(Filter::Jwt)
                    .map_err(|e| error(&c.keys, e)),
                FilterKind::ApiKey(c) => ApiKey::new(c)
                    .map(Filter::ApiKey)
                    .map_err(|e| error(&c.keys, e)),
                FilterKind::BasicAuth(c) => BasicAuth::new(c)
                    .map(Filter::BasicAuth)
                    .map_err(|e| error(&c.htpasswd, e)),
                FilterKind::Limits(c) => {
                    Limits::new(c)
                        .map(Filter::Limits)
                        .map_err(|e| match &c.json_schema {
                            Some(file) => error(file, e),
                            None => ConfigError {
                                path: format!("filters.{}", f.name),
                                line: None,
                                message: e,
                            },
                        })
                }
                FilterKind::RateLimit(c) => {
                    let state = match rate.get(&f.name) {
                        Some((old, state)) if old == c => Arc::clone(state),
                        _ => Arc::new(RateState::new(c.max_keys)),
                    };
                    kept.insert(f.name.clone(), (c.clone(), Arc::clone(&state)));
                    Ok(Filter::RateLimit(RateLimit::new(c, state)))
                }
                FilterKind::Headers(c) => Ok(Filter::Headers(Headers::new(c))),
                FilterKind::Cors(c) => Ok(Filter::Cors(Cors::new(c))),
                FilterKind::Redirect(c) => Ok(Filter::Redirect(Redirect::new(c))),
                FilterKind::Respond(c) => Ok(Filter::Respond(Respond::new(c))),
            };
            match built {
                Ok(filter) => {
                    let kind = filter.kind();
                    let counters = match stats.get(&f.name) {
                        Some((old, counters)) if *old == kind => Arc::clone(counters),
                        _ => Arc::new(FilterStats::default()),
                    };
                    kept_stats.insert(f.name.clone(), (kind, Arc::clone(&counters)));
                    snapshot.stats.insert(f.name.clone(), counters);
                    snapshot.filters.insert(f.name.clone(), Arc::new(filter));
                }
                Err(e) => errors.push(e),
            }
        }
        for upstream in &config.upstreams {
            let Some(s) = &upstream.sticky else { continue };
            let key = match &s.secret_file {
                Some(file) => match read_key(&file.path) {
                    Ok(key) => key,
                    Err(e) => {
                        errors.push(error(file, e));
                        continue;
                    }
                },
                None => self.sticky_key.clone(),
            };
            match StickyCodec::new(&key, &s.cookie, s.ttl) {
                Ok(codec) => {
                    snapshot
                        .sticky
                        .insert(upstream.name.clone(), Arc::new(codec));
                }
                Err(e) => errors.push(ConfigError {
                    path: format!("upstreams.{}.sticky", upstream.name),
                    line: None,
                    message: e,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors::from_errors(errors));
        }
        *rate = kept;
        *stats = kept_stats;
        Ok(snapshot)
    }
}

fn read_key(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key = bytes.trim_ascii();
    if key.len() < sticky::MIN_KEY_BYTES {
        return Err(format!(
            "{}: the key is shorter than {} bytes (e.g. `openssl rand -hex 32 > FILE`)",
            path.display(),
            sticky::MIN_KEY_BYTES
        ));
    }
    Ok(key.to_vec())
}
