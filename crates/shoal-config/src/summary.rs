//! The one-screen summary `shoal check` prints for a valid config: what will listen where,
//! which route goes where, and how each upstream balances, times out and retries. Labels are
//! the config keys themselves, so a line leads straight back to the file.

use std::fmt::Write;

use shoal_core::{format_duration, Algorithm};

use crate::types::{
    Config, HostMatch, ListenerConfig, PathMatch, Rewrite, RouteConfig, RouteMatch, RouteTarget,
    UpstreamConfig,
};

/// Width of the label column; fits the longest label, `hash_balance_factor`.
const LABEL: usize = 20;

/// Plain text, aligned, no colours; ends with a newline.
pub fn summary(config: &Config) -> String {
    let mut out = Lines::default();
    out.heading("server");
    out.row("workers", config.server.workers);
    out.row("grace_period", format_duration(config.server.grace_period));
    for listener in &config.listeners {
        out.blank();
        listener_block(&mut out, listener);
    }
    for upstream in &config.upstreams {
        out.blank();
        upstream_block(&mut out, upstream);
    }
    out.finish()
}

fn listener_block(out: &mut Lines, listener: &ListenerConfig) {
    out.heading(&format!("listener {}", listener.name));
    let protocol = match listener.protocol {
        crate::types::ListenerProtocol::Http => "http",
    };
    out.row("bind", format!("{} ({protocol})", listener.bind));
    let xff = match listener.x_forwarded_for {
        crate::types::ForwardedFor::Append => "append",
        crate::types::ForwardedFor::Replace => "replace",
    };
    out.row("x_forwarded_for", xff);
    out.row(
        "timeouts",
        format!(
            "header_read {}, idle {}",
            format_duration(listener.header_read_timeout),
            format_duration(listener.idle_timeout)
        ),
    );
    out.row("max_header_bytes", listener.max_header_bytes);
    out.text("  routes");
    let rows: Vec<[String; 4]> = listener
        .routes
        .iter()
        .map(|route| {
            [
                format!("[{}]", route.index),
                render_match(&route.matcher),
                render_target(route),
                route
                    .rewrite
                    .as_ref()
                    .map(render_rewrite)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    out.table("    ", &rows);
}

/// `host=api.example.com prefix=/v1/ methods=GET,POST header:x-env=beta`, or `*` for a
/// route that matches every request.
fn render_match(m: &RouteMatch) -> String {
    let mut parts = Vec::new();
    match &m.host {
        Some(HostMatch::Exact(host)) => parts.push(format!("host={host}")),
        Some(HostMatch::Wildcard(suffix)) => parts.push(format!("host=*{suffix}")),
        None => {}
    }
    match &m.path {
        Some(PathMatch::Exact(path)) => parts.push(format!("path={path}")),
        Some(PathMatch::Prefix(prefix)) => parts.push(format!("prefix={prefix}")),
        None => {}
    }
    if !m.methods.is_empty() {
        let methods: Vec<&str> = m.methods.iter().map(|m| m.as_str()).collect();
        parts.push(format!("methods={}", methods.join(",")));
    }
    for (name, value) in &m.headers {
        parts.push(format!("header:{name}={value}"));
    }
    if parts.is_empty() {
        "*".to_string()
    } else {
        parts.join(" ")
    }
}

fn render_target(route: &RouteConfig) -> String {
    match &route.target {
        RouteTarget::Upstream(name) => format!("-> {name}"),
        RouteTarget::Split(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|e| format!("{}:{}", e.upstream, e.weight))
                .collect();
            format!("-> split {}", entries.join(" "))
        }
    }
}

fn render_rewrite(rewrite: &Rewrite) -> String {
    match rewrite {
        Rewrite::ReplacePrefix { from, to } => format!("rewrite {from} => {to}"),
        Rewrite::StripPrefix(prefix) => format!("strip {prefix}"),
    }
}

fn upstream_block(out: &mut Lines, upstream: &UpstreamConfig) {
    out.heading(&format!("upstream {}", upstream.name));
    out.row("algorithm", upstream.algorithm);
    let width = upstream
        .backends
        .iter()
        .map(|b| b.addr.to_string().len())
        .max()
        .unwrap_or(0);
    for (i, backend) in upstream.backends.iter().enumerate() {
        let label = if i == 0 { "backends" } else { "" };
        let addr = backend.addr.to_string();
        out.row(label, format!("{addr:<width$}  weight {}", backend.weight));
    }
    if upstream.algorithm.is_hashing() {
        let key = match &upstream.hash_key {
            Some(key) => key.to_string(),
            None => "client_ip (default)".to_string(),
        };
        out.row("hash_key", key);
        if let Some(factor) = upstream.hash_balance_factor {
            out.row("hash_balance_factor", factor);
        }
    }
    match upstream.algorithm {
        Algorithm::RingHash => out.row("virtual_nodes", upstream.virtual_nodes),
        Algorithm::Maglev => out.row("maglev_table_size", upstream.maglev_table_size),
        _ => {}
    }
    out.row(
        "timeouts",
        format!(
            "connect {}, response {}, keepalive {}",
            format_duration(upstream.connect_timeout),
            format_duration(upstream.response_timeout),
            format_duration(upstream.keepalive_timeout)
        ),
    );
    out.row(
        "retries",
        format!(
            "{} (backoff {})",
            upstream.retries,
            format_duration(upstream.retry_backoff)
        ),
    );
    out.row("max_idle_connections", upstream.max_idle_connections);
}

/// Accumulates lines; trailing spaces from padding are trimmed as each line is added.
#[derive(Default)]
struct Lines {
    text: String,
}

impl Lines {
    fn text(&mut self, line: &str) {
        self.text.push_str(line.trim_end());
        self.text.push('\n');
    }

    fn blank(&mut self) {
        self.text.push('\n');
    }

    fn heading(&mut self, title: &str) {
        self.text(title);
    }

    fn row(&mut self, label: &str, value: impl std::fmt::Display) {
        let mut line = String::new();
        // Writing to a String cannot fail.
        let _ = write!(line, "  {label:<LABEL$} {value}");
        self.text(&line);
    }

    /// Rows of cells, each column padded to its widest cell.
    fn table<const N: usize>(&mut self, indent: &str, rows: &[[String; N]]) {
        let mut widths = [0usize; N];
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in rows {
            let mut line = indent.to_string();
            for (w, cell) in widths.iter().zip(row) {
                let _ = write!(line, "{cell:<w$}  ");
            }
            self.text(&line);
        }
    }

    fn finish(self) -> String {
        self.text
    }
}
