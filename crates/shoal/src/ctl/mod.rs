//! `shoal ctl`: the admin API from the command line — status, drain/enable/disable/weight,
//! reload, events — for people (tables, colours on a terminal) and scripts (`--json`, exit
//! codes). Documented in docs/ctl.md.
//!
//! Exit codes: 0 ok; 1 the admin API answered with an error (unknown upstream, refused
//! change, invalid config, ...); 2 bad usage (arguments, `--admin`, token file); 3 the admin
//! API cannot be reached; 4 the admin API refused the token (401).

mod admin_client;
mod ctl_error;
mod status_table;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use http::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use shoal_admin::{AutoscaleView, BackendView, EventView, ReloadSummary, UpstreamView};

use admin_client::{read_token, segment, AdminClient};
pub use ctl_error::{CtlError, EXIT_API_ERROR, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE};

/// `shoal ctl [--admin URL] [--token-file PATH] [--json] <command>`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The admin API: http://HOST:PORT (or HOST:PORT).
    #[arg(
        long,
        global = true,
        env = "SHOAL_ADMIN",
        default_value = "http://127.0.0.1:9090"
    )]
    pub admin: String,
    /// A file holding the admin token ([admin] token_file), sent as a bearer token.
    #[arg(long, global = true, env = "SHOAL_ADMIN_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print the admin API's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Upstreams and their backends: state, weights, in-flight, requests, last check.
    Status,
    /// Stop sending new requests to a backend; in-flight ones finish.
    Drain(BackendArgs),
    /// Undo drain or disable: the backend returns through its health checks.
    Enable(BackendArgs),
    /// Switch a backend off: no requests until enabled.
    Disable(BackendArgs),
    /// Set a backend's weight (1..=1000).
    Weight {
        #[command(flatten)]
        backend: BackendArgs,
        /// The new weight.
        weight: u32,
    },
    /// Re-read the config file; prints what changed, or every error (the old config keeps
    /// serving).
    Reload,
    /// Set an autoscaled upstream's instance count by hand (within its min and max); the
    /// autoscaler holds it for its scale-down window, then decides again.
    Scale {
        /// The upstream's name.
        upstream: String,
        /// Instances wanted.
        count: u32,
    },
    /// An autoscaled upstream: its instances and its last decisions with their inputs.
    Autoscale {
        /// The upstream's name.
        upstream: String,
    },
    /// Recent events: operator actions, reloads, health changes (oldest first).
    Events {
        /// Only events after this id.
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
}

#[derive(Debug, Args)]
pub struct BackendArgs {
    /// The upstream's name, as in the config.
    pub upstream: String,
    /// The backend's address, e.g. 127.0.0.1:9001 or [::1]:9001.
    pub backend: String,
}

/// Runs one `shoal ctl` command; its exit code.
pub fn ctl(args: CtlArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal ctl: cannot start: {e}");
            return EXIT_API_ERROR;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(text) => {
            print!("{text}");
            crate::EXIT_OK
        }
        Err(error) => {
            eprintln!("shoal ctl: {error}");
            error.exit_code()
        }
    }
}

/// The command's output (to print on success).
async fn run(args: &CtlArgs) -> Result<String, CtlError> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let client = AdminClient::new(&args.admin, token)?;
    let colours = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match &args.command {
        CtlCommand::Status => {
            let value = client.call(Method::GET, "/api/v1/upstreams", None).await?;
            output(args, value, |ups: Vec<UpstreamView>| {
                status_table::render(&ups, colours)
            })
        }
        CtlCommand::Drain(b) => backend_change(args, &client, b, "drain").await,
        CtlCommand::Enable(b) => backend_change(args, &client, b, "enable").await,
        CtlCommand::Disable(b) => backend_change(args, &client, b, "disable").await,
        CtlCommand::Weight { backend, weight } => {
            let path = format!("{}/weight", backend_path(backend));
            let body = json!({ "weight": weight });
            let value = client.call(Method::PUT, &path, Some(body)).await?;
            output(args, value, |view: BackendView| {
                format!(
                    "{} {}: weight {} ({})\n",
                    backend.upstream,
                    view.addr,
                    view.weight,
                    view.state.as_str()
                )
            })
        }
        CtlCommand::Reload => {
            let value = client.call(Method::POST, "/api/v1/reload", None).await?;
            output(args, value, |summary: ReloadSummary| reload_text(&summary))
        }
        CtlCommand::Scale { upstream, count } => {
            let path = format!("/api/v1/upstreams/{}/scale", segment(upstream));
            let body = json!({ "count": count });
            let value = client.call(Method::POST, &path, Some(body)).await?;
            // The API accepts (202) and the fleet follows: the view may not show it yet.
            output(args, value, |view: AutoscaleView| {
                format!(
                    "{}: scaling to {count} (now {})\n",
                    view.upstream, view.current
                )
            })
        }
        CtlCommand::Autoscale { upstream } => {
            let path = format!("/api/v1/upstreams/{}/autoscale", segment(upstream));
            let value = client.call(Method::GET, &path, None).await?;
            output(args, value, |view: AutoscaleView| autoscale_text(&view))
        }
        CtlCommand::Events { since } => {
            let value = client
                .call(Method::GET, &format!("/api/v1/events?since={since}"), None)
                .await?;
            output(args, value, |events: Vec<EventView>| events_text(&events))
        }
    }
}

fn backend_path(b: &BackendArgs) -> String {
    format!(
        "/api/v1/upstreams/{}/backends/{}",
        segment(&b.upstream),
        segment(&b.backend)
    )
}

async fn backend_change(
    args: &CtlArgs,
    client: &AdminClient,
    b: &BackendArgs,
    action: &str,
) -> Result<String, CtlError> {
    let path = format!("{}/{action}", backend_path(b));
    let value = client.call(Method::POST, &path, None).await?;
    output(args, value, |view: BackendView| {
        format!("{} {}: {}\n", b.upstream, view.addr, view.state.as_str())
    })
}

/// With `--json`, the answer pretty-printed; else `text` of the parsed answer.
fn output<T: DeserializeOwned>(
    args: &CtlArgs,
    value: Value,
    text: impl FnOnce(T) -> String,
) -> Result<String, CtlError> {
    if args.json {
        let pretty =
            serde_json::to_string_pretty(&value).map_err(|e| CtlError::Protocol(e.to_string()))?;
        return Ok(format!("{pretty}\n"));
    }
    let parsed = serde_json::from_value(value)
        .map_err(|e| CtlError::Protocol(format!("unexpected shape: {e}")))?;
    Ok(text(parsed))
}

fn reload_text(summary: &ReloadSummary) -> String {
    if !summary.changed {
        return "reloaded: no change\n".to_string();
    }
    let mut out = String::from("reloaded\n");
    for (what, items) in [
        ("upstreams added", &summary.upstreams_added),
        ("upstreams removed", &summary.upstreams_removed),
        ("backends added", &summary.backends_added),
        ("backends removed (draining)", &summary.backends_removed),
        ("listeners added", &summary.listeners_added),
        ("listeners removed", &summary.listeners_removed),
    ] {
        if !items.is_empty() {
            out.push_str(&format!("  {what}: {}\n", items.join(", ")));
        }
    }
    out
}

fn autoscale_text(view: &AutoscaleView) -> String {
    let mut out = format!(
        "{} ({}): {} instances, desired {}, between {} and {}\n",
        view.upstream, view.provider, view.current, view.desired, view.min, view.max
    );
    if let Some(error) = &view.provider_error {
        out.push_str(&format!("  provider error: {error}\n"));
    }
    for i in &view.instances {
        out.push_str(&format!("  {:<12} {:<22} {}\n", i.id, i.addr, i.state));
    }
    for d in view.events.iter().rev().take(5).rev() {
        out.push_str(&format!(
            "  {}  {:<10} {} -> {}  {}\n",
            utc_time(d.at_unix_ms),
            d.action,
            d.current,
            d.desired,
            d.reason
        ));
    }
    out
}

fn events_text(events: &[EventView]) -> String {
    if events.is_empty() {
        return "no events\n".to_string();
    }
    let mut out = String::new();
    for e in events {
        let place = [e.upstream.as_deref(), e.backend.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let place = if place.is_empty() {
            String::new()
        } else {
            format!("{place}: ")
        };
        out.push_str(&format!(
            "{:>5}  {}  {:<13} {place}{}\n",
            e.id,
            utc_time(e.at_unix_ms),
            e.kind.as_str(),
            e.message
        ));
    }
    out
}

/// `2026-11-29T11:50:45Z` from milliseconds since the Unix epoch.
fn utc_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use shoal_admin::EventKind;

    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn event_lines() {
        let text = events_text(&[EventView {
            id: 7,
            at_unix_ms: 1_700_000_000_000,
            kind: EventKind::Drain,
            upstream: Some("app".into()),
            backend: Some("127.0.0.1:9001".into()),
            message: "drained by the operator, now draining".into(),
        }]);
        assert_eq!(
            text,
            "    7  2023-11-14T22:13:20Z  drain         app 127.0.0.1:9001: drained by the \
             operator, now draining\n"
        );
        assert_eq!(events_text(&[]), "no events\n");
    }

    #[test]
    fn reload_lines() {
        let summary = ReloadSummary {
            changed: true,
            backends_added: vec!["app 127.0.0.1:9003".into()],
            ..ReloadSummary::default()
        };
        assert_eq!(
            reload_text(&summary),
            "reloaded\n  backends added: app 127.0.0.1:9003\n"
        );
        assert_eq!(
            reload_text(&ReloadSummary::default()),
            "reloaded: no change\n"
        );
    }
}
