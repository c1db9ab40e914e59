//! The top of the walk: the document's root keys and `[server]`, and the entry points
//! [`Config::from_toml_str`] and [`Config::load`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use crate::document::{Ctx, Node, Table};
use crate::error::ConfigErrors;
use crate::types::{
    Config, ListenerConfig, ListenerProtocol, ServerConfig, UpstreamConfig, UpstreamProtocol,
};
use crate::{access_log, admin, files, filter, listener, upstream};

const ROOT_KEYS: &[&str] = &[
    "server",
    "listeners",
    "upstreams",
    "admin",
    "filters",
    "access_log",
];
const SERVER_KEYS: &[&str] = &["workers", "grace_period"];

/// Most worker threads a config may ask for; more is a typo, not a machine.
pub(crate) const MAX_WORKERS: u32 = 1024;

impl Config {
    /// Parses and validates a config file's text. On failure, every problem found is
    /// returned, in file order.
    ///
    /// Paths in the text (`admin.token_file`, listeners' TLS files) are kept as written and the files they name are
    /// not read: a string has no directory to resolve them against. [`Config::load`] does both.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigErrors> {
        parse(text, None)
    }

    /// Reads and validates the file at `path`. A file that cannot be read is one error with
    /// an empty path whose message names the file.
    ///
    /// Relative paths inside the file (`admin.token_file`, listeners' TLS files) are resolved
    /// against the config file's directory, and the files they name are checked (errors at
    /// their keys): certificates must parse and match their keys.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        match std::fs::read_to_string(path) {
            Ok(text) => parse(&text, Some(path.parent().unwrap_or(Path::new("")))),
            Err(e) => Err(ConfigErrors::single(
                None,
                format!("cannot read config file {}: {e}", path.display()),
            )),
        }
    }
}

/// Parses `text`; with `base_dir`, the file-system checks of a loaded file run as well.
fn parse(text: &str, base_dir: Option<&Path>) -> Result<Config, ConfigErrors> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|span| Ctx::new(text).line_at(span.start));
            return Err(ConfigErrors::single(
                line,
                format!("TOML syntax error: {}", e.message()),
            ));
        }
    };
    let mut ctx = Ctx::new(text);
    let root = Table::new(String::new(), doc.span(), doc.get_ref());
    let config = walk(&mut ctx, &root, base_dir);
    match config {
        Some(config) if !ctx.has_errors() => Ok(config),
        _ => {
            let errors = ctx.into_errors();
            if errors.is_empty() {
                // Every `None` above records its reason; this only guards against a
                // missed one turning into an empty, unexplained rejection.
                return Err(ConfigErrors::single(
                    None,
                    "config rejected for an unreported reason (a bug in shoal)".into(),
                ));
            }
            Err(ConfigErrors::sorted(errors))
        }
    }
}

/// Walks the whole document. Every section is checked even when an earlier one failed, so
/// all errors are collected in one pass.
fn walk(ctx: &mut Ctx, root: &Table<'_, '_>, base_dir: Option<&Path>) -> Option<Config> {
    root.check_keys(ctx, ROOT_KEYS);
    let server = match root.get("server") {
        None => Some(default_server()),
        Some(node) => server(ctx, &node),
    };
    // Routes are checked against the upstream names as written, valid or not: a route naming
    // an upstream that has its own errors is not wrong itself.
    let upstream_table = root.get("upstreams").and_then(|node| ctx.table(&node));
    let upstream_names = upstream_table.as_ref().map(Table::keys).unwrap_or_default();
    let upstreams = match &upstream_table {
        None => Some(Vec::new()),
        Some(table) => upstream::upstreams(ctx, table, base_dir),
    };
    // Filters first: routes name them.
    let filter_table = root.get("filters").and_then(|node| ctx.table(&node));
    ctx.filter_names = filter_table
        .as_ref()
        .map(|t| t.keys().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let filters = match &filter_table {
        None => Some(Vec::new()),
        Some(table) => filter::filters(ctx, table),
    };
    let listeners = listener::listeners(ctx, root.get("listeners"), &upstream_names, base_dir);
    if let (Some(listeners), Some(upstreams)) = (&listeners, &upstreams) {
        check_tcp_upstreams(ctx, root, listeners, upstreams);
    }
    let admin = match root.get("admin") {
        None => Some(None),
        Some(node) => {
            let binds = listener_binds(root);
            admin::admin(ctx, &node, base_dir, &binds).map(Some)
        }
    };
    let access_log = match root.get("access_log") {
        None => Some(None),
        Some(node) => access_log::access_log(ctx, &node, base_dir).map(Some),
    };
    let mut config = Config {
        server: server?,
        listeners: listeners?,
        upstreams: upstreams?,
        admin: admin?,
        access_log: access_log?,
        filters: filters?,
    };
    if let Some(base_dir) = base_dir {
        files::resolve(ctx, &mut config, base_dir);
    }
    Some(config)
}

/// Every listener's `bind` that is a valid address, with the listener's name, read straight
/// from the document (problems there are reported by the listener walk), so `[admin]` is
/// checked against them even when a listener has errors of its own.
fn listener_binds<'a>(root: &Table<'a, '_>) -> Vec<(SocketAddr, &'a str)> {
    let Some(DeValue::Table(listeners)) = root.get("listeners").map(|n| n.value) else {
        return Vec::new();
    };
    let listeners = Table::new(String::new(), 0..0, listeners);
    listeners
        .entries()
        .filter_map(|(name, _, node)| {
            let DeValue::Table(listener) = node.value else {
                return None;
            };
            let bind = listener.get("bind")?.get_ref().as_str()?;
            Some((bind.parse().ok()?, name))
        })
        .collect()
}

/// A tcp listener relays bytes as they come: it cannot originate TLS or speak HTTP/2 to a
/// backend, so an upstream set up for either would be silently ignored there (or worse, get
/// cleartext where it expects TLS). Reported at the listener's `upstream` key.
fn check_tcp_upstreams(
    ctx: &mut Ctx,
    root: &Table<'_, '_>,
    listeners: &[ListenerConfig],
    upstreams: &[UpstreamConfig],
) {
    let Some(DeValue::Table(tables)) = root.get("listeners").map(|n| n.value) else {
        return;
    };
    let tables = Table::new("listeners".to_string(), 0..0, tables);
    for listener in listeners {
        if listener.protocol != ListenerProtocol::Tcp {
            continue;
        }
        let Some(upstream) = listener
            .upstream
            .as_deref()
            .and_then(|name| upstreams.iter().find(|u| u.name == name))
        else {
            continue;
        };
        let why = if upstream.tls.is_some() {
            "has tls"
        } else if upstream.protocol == UpstreamProtocol::H2 {
            "has protocol = \"h2\""
        } else {
            continue;
        };
        let node = tables.get(&listener.name).and_then(|n| match n.value {
            DeValue::Table(t) => Table::new(n.path.clone(), n.span.clone(), t).get("upstream"),
            _ => None,
        });
        if let Some(node) = node {
            ctx.error_at(
                &node,
                format!(
                    "upstream {:?} {why}, but a tcp listener relays bytes as they are and \
                     cannot speak TLS or HTTP/2 to backends: use an upstream without it",
                    upstream.name
                ),
            );
        }
    }
}

fn default_server() -> ServerConfig {
    ServerConfig {
        workers: default_workers(),
        grace_period: Duration::from_secs(30),
    }
}

/// One worker per core, the way nginx's `worker_processes auto` does.
fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS as usize)
}

fn server(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<ServerConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, SERVER_KEYS);
    let defaults = default_server();
    let workers = ctx.field(&table, "workers", defaults.workers, |ctx, n| {
        ctx.usize(n, 1..=MAX_WORKERS)
    });
    // Zero grace is meaningful: stop at once, dropping in-flight requests.
    let grace_period = ctx.field(&table, "grace_period", defaults.grace_period, |ctx, n| {
        ctx.duration(n, true)
    });
    Some(ServerConfig {
        workers: workers?,
        grace_period: grace_period?,
    })
}
