//! The one-screen summary `shoal check` prints for a valid config: what will listen where,
//! which route goes where, and how each upstream balances, times out, retries and judges its
//! backends' health. Labels are the config keys themselves, so a line leads straight back to
//! the file.

use std::fmt::Write;

use shoal_core::{format_duration, Algorithm};

use crate::types::{
    AccessLogConfig, AccessLogFormat, AccessLogTarget, AdminConfig, ClientAuth, Config,
    HealthCheckKind, HealthConfig, HostMatch, ListenerConfig, ListenerProtocol, ListenerTlsConfig,
    OutlierConfig, PathMatch, Rewrite, RouteConfig, RouteMatch, RouteTarget, UpstreamConfig,
    UpstreamProtocol,
};

/// Width of the label column; fits the longest label, `hash_balance_factor`.
const LABEL: usize = 20;

/// Plain text, aligned, no colours; ends with a newline.
pub fn summary(config: &Config) -> String {
    let mut out = Lines::default();
    out.heading("server");
    out.row("workers", config.server.workers);
    out.row("grace_period", format_duration(config.server.grace_period));
    out.row("admin", render_admin(config.admin.as_ref()));
    out.row("access_log", render_access_log(config.access_log.as_ref()));
    for listener in &config.listeners {
        out.blank();
        listener_block(&mut out, listener);
    }
    for upstream in &config.upstreams {
        out.blank();
        upstream_block(&mut out, upstream);
    }
    for filter in &config.filters {
        out.blank();
        out.heading(&format!("filter {}", filter.name));
        for (label, value) in crate::summary_filters::rows(filter) {
            out.row(label, value);
        }
    }
    out.finish()
}

fn listener_block(out: &mut Lines, listener: &ListenerConfig) {
    out.heading(&format!("listener {}", listener.name));
    let max_connections = match listener.max_connections {
        Some(n) => n.to_string(),
        None => "unlimited".to_string(),
    };
    if listener.protocol.is_l4() {
        let passthrough = listener.protocol == ListenerProtocol::TlsPassthrough;
        let kind = if passthrough {
            "tls_passthrough"
        } else {
            "tcp"
        };
        out.row("bind", format!("{} ({kind})", listener.bind));
        for sni in &listener.sni {
            let name = match &sni.host {
                HostMatch::Exact(host) => host.clone(),
                HostMatch::Wildcard(suffix) => format!("*{suffix}"),
            };
            out.row("sni", format!("{name} -> {}", sni.upstream));
        }
        let fallback = listener
            .upstream
            .clone()
            .unwrap_or_else(|| "none (unknown server names are refused)".to_string());
        out.row(if passthrough { "default" } else { "upstream" }, fallback);
        if let Some(trusted) = &listener.accept_proxy_protocol {
            let list: Vec<String> = trusted.iter().map(|c| c.to_string()).collect();
            out.row("accept_proxy", format!("from {}", list.join(", ")));
        }
        out.row("idle_timeout", format_duration(listener.idle_timeout));
        out.row("max_connections", max_connections);
        return;
    }
    let protocol = match listener.protocol {
        ListenerProtocol::Https => "https",
        _ => "http",
    };
    out.row("bind", format!("{} ({protocol})", listener.bind));
    if let Some(tls) = &listener.tls {
        tls_rows(out, tls);
    }
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
    out.row("max_connections", max_connections);
    if let Some(redirect) = listener.redirect_https {
        let to = match redirect.port {
            Some(port) => format!("308 to https://HOST:{port}/..."),
            None => "308 to https://HOST/...".to_string(),
        };
        out.row("redirect_https", to);
        return;
    }
    out.text("  routes");
    let rows: Vec<[String; 4]> = listener
        .routes
        .iter()
        .map(|route| {
            [
                format!("[{}]", route.index),
                render_match(&route.matcher),
                render_target(route),
                {
                    let rewrite = route
                        .rewrite
                        .as_ref()
                        .map(render_rewrite)
                        .unwrap_or_default();
                    match route.filters.is_empty() {
                        true => rewrite,
                        false => format!("{rewrite} filters={}", route.filters.join(","))
                            .trim_start()
                            .to_string(),
                    }
                },
            ]
        })
        .collect();
    out.table("    ", &rows);
}

/// An https listener's certificates (the first is the default), client verification and
/// handshake timeout.
fn tls_rows(out: &mut Lines, tls: &ListenerTlsConfig) {
    for (i, certificate) in tls.certificates.iter().enumerate() {
        let label = if i == 0 { "certificates" } else { "" };
        let default = if i == 0 { " (default)" } else { "" };
        out.row(
            label,
            format!(
                "{} + {}{default}",
                certificate.cert.display(),
                certificate.key.display()
            ),
        );
    }
    let client_ca = match (&tls.client_ca, tls.client_auth) {
        (None, _) => "none".to_string(),
        (Some(ca), ClientAuth::Required) => format!("{} (required)", ca.display()),
        (Some(ca), ClientAuth::Optional) => format!("{} (optional)", ca.display()),
    };
    out.row("client_ca", client_ca);
    out.row("handshake_timeout", format_duration(tls.handshake_timeout));
}

/// `host=api.example.com prefix=/v1/ methods=GET,POST header:x-env=beta`, or `*` for a
/// route that matches every request. Also how the admin API shows a route's match.
pub fn render_match(m: &RouteMatch) -> String {
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
        RouteTarget::Upstream(_) => format!("-> {}", target_text(&route.target)),
        RouteTarget::Split(_) => format!("-> split {}", target_text(&route.target)),
    }
}

/// A route's target: `api`, or a split as `api:95 api_next:5`. Also used by the admin API.
pub fn target_text(target: &RouteTarget) -> String {
    match target {
        RouteTarget::Upstream(name) => name.clone(),
        RouteTarget::Split(entries) => entries
            .iter()
            .map(|e| format!("{}:{}", e.upstream, e.weight))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `http1`, `h2 (cleartext, prior knowledge)`, or with TLS: `h2 over TLS: ca PATH,
/// server_name NAME, client_cert PATH`.
fn render_protocol(upstream: &UpstreamConfig) -> String {
    let Some(tls) = &upstream.tls else {
        return match upstream.protocol {
            UpstreamProtocol::Http1 => "http1".to_string(),
            UpstreamProtocol::H2 => "h2 (cleartext, prior knowledge)".to_string(),
        };
    };
    let name = match &tls.server_name {
        Some(name) => name.clone(),
        None => "each backend's IP".to_string(),
    };
    let mut text = format!(
        "{} over TLS: ca {}, server_name {name}",
        upstream.protocol,
        tls.ca.display()
    );
    if let Some(identity) = &tls.client_identity {
        let _ = write!(text, ", client_cert {}", identity.cert.display());
    }
    text
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
    out.row("protocol", render_protocol(upstream));
    match &upstream.health {
        Some(health) => {
            let (probe, extras) = render_health(health);
            out.row("health", probe);
            if !extras.is_empty() {
                out.row("", extras);
            }
        }
        None => out.row("health", "none (passive checks only)"),
    }
    out.row("outlier", render_outlier(&upstream.outlier));
    let panic = match upstream.panic_threshold {
        0 => "off".to_string(),
        percent => format!("{percent}%"),
    };
    out.row("panic_threshold", panic);
    let slow_start = match upstream.slow_start {
        Some(window) => format!("{} (10% -> 100%)", format_duration(window)),
        None => "off".to_string(),
    };
    out.row("slow_start", slow_start);
    out.row("drain_timeout", format_duration(upstream.drain_timeout));
    if let Some(autoscale) = &upstream.autoscale {
        let (provider, rules) = crate::autoscale::render(autoscale);
        out.row("autoscale", provider);
        out.row("", rules);
    }
    if let Some(sticky) = &upstream.sticky {
        out.row("sticky", crate::summary_filters::sticky(sticky));
    }
    out.row("ws_idle_timeout", format_duration(upstream.ws_idle_timeout));
}

/// `stdout (json)`, `logs/access.log (combined, 10% sampled)`, or `off`.
fn render_access_log(log: Option<&AccessLogConfig>) -> String {
    let Some(log) = log else {
        return "off".to_string();
    };
    let target = match &log.target {
        AccessLogTarget::Stdout => "stdout".to_string(),
        AccessLogTarget::File(path) => path.display().to_string(),
    };
    let format = match log.format {
        AccessLogFormat::Json => "json",
        AccessLogFormat::Combined => "combined",
    };
    if log.sample < 1.0 {
        format!(
            "{target} ({format}, {}% sampled, 5xx always)",
            log.sample * 100.0
        )
    } else {
        format!("{target} ({format})")
    }
}

/// `127.0.0.1:9090 (token_file /etc/shoal/admin.token)`, or `off` without an `[admin]` table.
fn render_admin(admin: Option<&AdminConfig>) -> String {
    match admin {
        None => "off".to_string(),
        Some(admin) => match &admin.token_file {
            Some(file) => format!("{} (token_file {})", admin.bind, file.display()),
            None => format!("{} (no token)", admin.bind),
        },
    }
}

/// The probe on one line (`http /health/ready expect 200-399, every 5s, timeout 1s, rise 2,
/// fall 3`), and the rarer settings on a second, empty when all are at their defaults.
fn render_health(health: &HealthConfig) -> (String, String) {
    let timing = format!(
        "every {}, timeout {}, rise {}, fall {}",
        format_duration(health.interval),
        format_duration(health.timeout),
        health.rise,
        health.fall
    );
    let mut extras = Vec::new();
    let probe = match health.kind {
        HealthCheckKind::Tcp => format!("tcp connect, {timing}"),
        HealthCheckKind::Http => {
            let (low, high) = health.expect_status;
            let expect = if low == high {
                low.to_string()
            } else {
                format!("{low}-{high}")
            };
            if let Some(path) = &health.liveness_path {
                extras.push(format!("liveness {path}"));
            }
            if let Some(host) = &health.host {
                extras.push(format!("host {host}"));
            }
            format!("http {} expect {expect}, {timing}", health.path)
        }
    };
    if !health.wait_for_first_check {
        extras.push("wait_for_first_check false".to_string());
    }
    (probe, extras.join(", "))
}

/// `consecutive 5xx 5, gateway failures 5; eject 30s x n up to 5m, max 50%`.
fn render_outlier(outlier: &OutlierConfig) -> String {
    let mut triggers = Vec::new();
    if outlier.consecutive_5xx > 0 {
        triggers.push(format!("5xx {}", outlier.consecutive_5xx));
    }
    if outlier.consecutive_gateway_failures > 0 {
        triggers.push(format!(
            "gateway failures {}",
            outlier.consecutive_gateway_failures
        ));
    }
    if triggers.is_empty() {
        return "off".to_string();
    }
    format!(
        "consecutive {}; eject {} x n up to {}, max {}%",
        triggers.join(", "),
        format_duration(outlier.base_ejection_time),
        format_duration(outlier.max_ejection_time),
        outlier.max_ejection_percent
    )
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
