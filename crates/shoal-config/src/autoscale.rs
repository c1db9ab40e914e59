//! `[upstreams.NAME.autoscale]`: the autoscaler of an upstream — which provider grows and
//! shrinks its fleet (a local process pool, user commands, or a Kubernetes Deployment), the
//! targets it steers by, and the HPA-style limits on how fast it may move.

use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use crate::document::{all, Ctx, Node, Table};

/// `[upstreams.NAME.autoscale]`
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscaleConfig {
    pub provider: ProviderConfig,
    /// Fewest instances kept (≥ 1). Default 1.
    pub min: u32,
    /// Most instances ever asked for (min..=1000). Required.
    pub max: u32,
    /// One or more targets; the largest recommendation wins. Required.
    pub targets: Vec<ScaleTarget>,
    /// How often the policy runs (and the window rates are measured over). Default 1s.
    pub evaluate_every: Duration,
    /// Default `{ max_step = "100%", min_step = 4, every = "15s", stabilization = "0s" }`.
    pub scale_up: ScaleRule,
    /// Default `{ max_step = "100%", min_step = 0, every = "15s", stabilization = "5m" }`.
    pub scale_down: ScaleRule,
    /// No change while |metric / target − 1| ≤ this. Default 0.1.
    pub tolerance: f64,
    /// A new backend's metrics count only this long after it became ready. Default 10s.
    pub warmup: Duration,
    /// How long a backend being scaled in may finish its requests. Default: the upstream's
    /// `drain_timeout`.
    pub drain_timeout: Duration,
}

/// Where instances come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderConfig {
    Process(ProcessProviderConfig),
    Command(CommandProviderConfig),
    Kubernetes(KubernetesProviderConfig),
}

impl ProviderConfig {
    /// The spelling in the config file.
    pub fn name(&self) -> &'static str {
        match self {
            ProviderConfig::Process(_) => "process",
            ProviderConfig::Command(_) => "command",
            ProviderConfig::Kubernetes(_) => "kubernetes",
        }
    }
}

/// `provider = "process"`: shoal spawns the instances itself, on 127.0.0.1.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessProviderConfig {
    /// argv template; `{port}`, `{id}` and `{upstream}` are replaced. Contains `{port}`.
    pub command: Vec<String>,
    /// Inclusive port range instances are given free ports from. Default 20000-20999.
    pub ports: (u16, u16),
    /// Extra environment for the instances (on top of shoal's own).
    pub env: Vec<(String, String)>,
    /// After SIGTERM, how long an instance may take to exit before SIGKILL. Default 10s.
    pub stop_timeout: Duration,
    /// How long a new instance may take to accept connections on its port before it is
    /// killed and replaced. Default 30s.
    pub start_timeout: Duration,
}

/// `provider = "command"`: user commands drive any platform.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandProviderConfig {
    /// argv run to ask for a count; `{count}` and `{upstream}` are replaced.
    pub scale_to: Vec<String>,
    /// argv printing the instances' addresses as JSON (`["10.0.0.5:8080", ...]`).
    pub list: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Longest either command may run. Default 30s.
    pub timeout: Duration,
}

/// `provider = "kubernetes"`: the scale subresource of a Deployment, and EndpointSlices.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesProviderConfig {
    /// Default "default" (in-cluster: the pod's own namespace).
    pub namespace: Option<String>,
    pub deployment: String,
    /// The Service whose EndpointSlices list the pods (label `kubernetes.io/service-name`).
    /// Default: the deployment's name.
    pub service: String,
    /// Which EndpointSlice port to use (its name or number); default the first.
    pub port: Option<PortRef>,
    /// A kubeconfig file; default: the in-cluster service account, else `$KUBECONFIG`, else
    /// `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; default its `current-context`.
    pub context: Option<String>,
}

/// An EndpointSlice port by name or number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Name(String),
    Number(u16),
}

/// One metric the autoscaler keeps near its target, per backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleTarget {
    /// Requests per second per backend.
    RpsPerBackend(f64),
    /// Requests in flight per backend (queue depth).
    InFlightPerBackend(f64),
    /// CPU of the instance's process, percent of one core (process provider only).
    CpuPercent(f64),
    /// 95th percentile of the time to the response head.
    P95Latency(Duration),
}

impl ScaleTarget {
    /// The config key.
    pub fn key(&self) -> &'static str {
        match self {
            ScaleTarget::RpsPerBackend(_) => "rps_per_backend",
            ScaleTarget::InFlightPerBackend(_) => "in_flight_per_backend",
            ScaleTarget::CpuPercent(_) => "cpu_percent",
            ScaleTarget::P95Latency(_) => "p95_latency",
        }
    }

    /// The target as a number in the metric's unit (latency: milliseconds).
    pub fn value(&self) -> f64 {
        match self {
            ScaleTarget::RpsPerBackend(v)
            | ScaleTarget::InFlightPerBackend(v)
            | ScaleTarget::CpuPercent(v) => *v,
            ScaleTarget::P95Latency(d) => d.as_secs_f64() * 1000.0,
        }
    }
}

/// HPA-style rate limit for one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleRule {
    /// At most this much change per `every` (a count or a percent of the count at the start
    /// of the period)...
    pub max_step: Step,
    /// ...or this many instances, whichever allows more.
    pub min_step: u32,
    pub every: Duration,
    /// Scale down: the highest recommendation of this window is used. Scale up: the lowest.
    pub stabilization: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Count(u32),
    Percent(u32),
}

const KEYS: &[&str] = &[
    "provider",
    "command",
    "ports",
    "env",
    "stop_timeout",
    "start_timeout",
    "scale_to",
    "list",
    "timeout",
    "namespace",
    "deployment",
    "service",
    "port",
    "kubeconfig",
    "context",
    "min",
    "max",
    "target",
    "evaluate_every",
    "scale_up",
    "scale_down",
    "tolerance",
    "warmup",
    "drain_timeout",
];
const PROCESS_KEYS: &[&str] = &["command", "ports", "env", "stop_timeout", "start_timeout"];
const COMMAND_KEYS: &[&str] = &["scale_to", "list", "env", "timeout"];
const KUBERNETES_KEYS: &[&str] = &[
    "namespace",
    "deployment",
    "service",
    "port",
    "kubeconfig",
    "context",
];
const TARGET_KEYS: &[&str] = &[
    "rps_per_backend",
    "in_flight_per_backend",
    "cpu_percent",
    "p95_latency",
];
const RULE_KEYS: &[&str] = &["max_step", "min_step", "every", "stabilization"];

/// Most instances an autoscaler may run.
pub(crate) const MAX_INSTANCES: u32 = 1000;
pub(crate) const DEFAULT_PORTS: (u16, u16) = (20000, 20999);
pub(crate) const DEFAULT_EVALUATE_EVERY: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_TOLERANCE: f64 = 0.1;
pub(crate) const DEFAULT_WARMUP: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Kubernetes HPA's default behavior: up by max(100 %, 4 pods) per 15 s, no window.
pub const DEFAULT_SCALE_UP: ScaleRule = ScaleRule {
    max_step: Step::Percent(100),
    min_step: 4,
    every: Duration::from_secs(15),
    stabilization: Duration::ZERO,
};
/// Kubernetes HPA's default behavior: down by up to 100 % per 15 s, 5 min window.
pub const DEFAULT_SCALE_DOWN: ScaleRule = ScaleRule {
    max_step: Step::Percent(100),
    min_step: 0,
    every: Duration::from_secs(15),
    stabilization: Duration::from_secs(300),
};

const PROVIDERS: &[&str] = &["process", "command", "kubernetes"];

/// Parses the table; `upstream_drain` is the upstream's `drain_timeout` (the default here).
pub(crate) fn autoscale(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    upstream_drain: Duration,
) -> Option<AutoscaleConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let provider_name = ctx.required(
        &table,
        "provider",
        "\"process\", \"command\" or \"kubernetes\"",
        |ctx, n| {
            let text = ctx.string(n)?;
            if PROVIDERS.contains(&text) {
                Some(text)
            } else {
                ctx.error_at(
                    n,
                    format!(
                        "unknown provider {text:?} (accepted: {})",
                        PROVIDERS.join(", ")
                    ),
                );
                None
            }
        },
    );
    // Keys of one provider are refused on another rather than ignored.
    if let Some(name) = provider_name {
        let own: &[&str] = match name {
            "process" => PROCESS_KEYS,
            "command" => COMMAND_KEYS,
            _ => KUBERNETES_KEYS,
        };
        for key in PROCESS_KEYS
            .iter()
            .chain(COMMAND_KEYS)
            .chain(KUBERNETES_KEYS)
        {
            if !own.contains(key) {
                if let Some(n) = table.get(key) {
                    ctx.error_at(&n, format!("{key} does not apply to provider = \"{name}\""));
                }
            }
        }
    }
    let min = ctx.field(&table, "min", 1, |ctx, n| ctx.u32(n, 1..=MAX_INSTANCES));
    let max = ctx.required(&table, "max", "the most instances, e.g. 10", |ctx, n| {
        ctx.u32(n, 1..=MAX_INSTANCES)
    });
    if let (Some(lo), Some(hi)) = (min, max) {
        if hi < lo {
            if let Some(n) = table.get("max") {
                ctx.error_at(&n, format!("max ({hi}) is smaller than min ({lo})"));
            }
        }
    }
    let targets = ctx.required(
        &table,
        "target",
        "e.g. { rps_per_backend = 500 } or { in_flight_per_backend = 8 }",
        targets,
    );
    let evaluate_every = ctx.field(
        &table,
        "evaluate_every",
        DEFAULT_EVALUATE_EVERY,
        |ctx, n| ctx.duration(n, false),
    );
    let scale_up = ctx.field(&table, "scale_up", DEFAULT_SCALE_UP, |ctx, n| {
        rule(ctx, n, DEFAULT_SCALE_UP)
    });
    let scale_down = ctx.field(&table, "scale_down", DEFAULT_SCALE_DOWN, |ctx, n| {
        rule(ctx, n, DEFAULT_SCALE_DOWN)
    });
    let tolerance = ctx.field(&table, "tolerance", DEFAULT_TOLERANCE, |ctx, n| {
        let t = ctx.float(n)?;
        if !(0.0..1.0).contains(&t) {
            ctx.error_at(n, format!("must be at least 0 and below 1 (got {t})"));
            return None;
        }
        Some(t)
    });
    let warmup = ctx.field(&table, "warmup", DEFAULT_WARMUP, |ctx, n| {
        ctx.duration(n, true)
    });
    let drain_timeout = ctx.field(&table, "drain_timeout", upstream_drain, |ctx, n| {
        ctx.duration(n, true)
    });
    let provider = match provider_name {
        Some("process") => process(ctx, &table, max),
        Some("command") => command(ctx, &table),
        Some(_) => kubernetes(ctx, &table),
        None => None,
    };
    let not_process = matches!(
        provider,
        Some(ProviderConfig::Command(_) | ProviderConfig::Kubernetes(_))
    );
    if let Some(targets) = targets.as_ref().filter(|_| not_process) {
        if targets
            .iter()
            .any(|t| matches!(t, ScaleTarget::CpuPercent(_)))
        {
            if let Some(n) = table.get("target") {
                ctx.error_at(
                    &n,
                    "cpu_percent needs provider = \"process\" (shoal reads the CPU of the \
                     processes it runs); use rps_per_backend, in_flight_per_backend or \
                     p95_latency",
                );
            }
        }
    }
    Some(AutoscaleConfig {
        provider: provider?,
        min: min?,
        max: max?.max(min?),
        targets: targets?,
        evaluate_every: evaluate_every?,
        scale_up: scale_up?,
        scale_down: scale_down?,
        tolerance: tolerance?,
        warmup: warmup?,
        drain_timeout: drain_timeout?,
    })
}

fn targets(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<ScaleTarget>> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, TARGET_KEYS);
    if table.is_empty() {
        ctx.error_at(
            node,
            format!("name at least one target ({})", TARGET_KEYS.join(", ")),
        );
        return None;
    }
    let mut parsed = Vec::new();
    for (key, _, n) in table.entries() {
        let target = match key {
            "rps_per_backend" => positive(ctx, &n).map(ScaleTarget::RpsPerBackend),
            "in_flight_per_backend" => positive(ctx, &n).map(ScaleTarget::InFlightPerBackend),
            "cpu_percent" => positive(ctx, &n).map(ScaleTarget::CpuPercent),
            "p95_latency" => ctx.duration(&n, false).map(ScaleTarget::P95Latency),
            // Reported by check_keys.
            _ => continue,
        };
        parsed.push(target);
    }
    all(parsed)
}

fn positive(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<f64> {
    let v = ctx.float(node)?;
    if v <= 0.0 || v > 1e9 {
        ctx.error_at(node, format!("must be greater than 0 (got {v})"));
        return None;
    }
    Some(v)
}

fn rule(ctx: &mut Ctx, node: &Node<'_, '_>, default: ScaleRule) -> Option<ScaleRule> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, RULE_KEYS);
    let max_step = ctx.field(&table, "max_step", default.max_step, step);
    let min_step = ctx.field(&table, "min_step", default.min_step, |ctx, n| {
        ctx.u32(n, 0..=MAX_INSTANCES)
    });
    let every = ctx.field(&table, "every", default.every, |ctx, n| {
        ctx.duration(n, false)
    });
    let stabilization = ctx.field(&table, "stabilization", default.stabilization, |ctx, n| {
        ctx.duration(n, true)
    });
    Some(ScaleRule {
        max_step: max_step?,
        min_step: min_step?,
        every: every?,
        stabilization: stabilization?,
    })
}

/// `1` (instances) or `"50%"`.
fn step(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Step> {
    match node.value {
        DeValue::Integer(_) => ctx.u32(node, 1..=MAX_INSTANCES).map(Step::Count),
        DeValue::String(text) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u32>().ok())
                .filter(|p| (1..=10_000).contains(p));
            match percent {
                Some(p) => Some(Step::Percent(p)),
                None => {
                    ctx.error_at(
                        node,
                        format!("{text:?} is not a percent between 1% and 10000% (e.g. \"100%\")"),
                    );
                    None
                }
            }
        }
        _ => {
            ctx.type_error(node, "a count of instances or a percent like \"100%\"");
            None
        }
    }
}

/// A non-empty argv whose placeholders are all in `allowed`.
fn argv(ctx: &mut Ctx, node: &Node<'_, '_>, allowed: &[&str]) -> Option<Vec<String>> {
    let items = ctx.array(node)?;
    if items.is_empty() {
        ctx.error_at(node, "is empty: give the program and its arguments");
        return None;
    }
    let mut parsed = Vec::new();
    for item in &items {
        let Some(text) = ctx.string(item) else {
            parsed.push(None);
            continue;
        };
        let bad = placeholders(text).find(|p| !allowed.contains(p));
        match bad {
            Some(p) => {
                let accepted: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                ctx.error_at(
                    item,
                    format!(
                        "unknown placeholder {{{p}}} (accepted: {})",
                        accepted.join(", ")
                    ),
                );
                parsed.push(None);
            }
            None => parsed.push(Some(text.to_string())),
        }
    }
    let argv = all(parsed)?;
    if argv.first().is_some_and(String::is_empty) {
        ctx.error_at(node, "the program name is empty");
        return None;
    }
    Some(argv)
}

/// The names inside `{...}` in `text`.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

fn env(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<(String, String)>> {
    let table = ctx.table(node)?;
    let mut parsed = Vec::new();
    for (key, _, n) in table.entries() {
        let ok_name = !key.is_empty() && !key.contains('=') && !key.contains('\0');
        if !ok_name {
            ctx.error_at(&n, format!("{key:?} is not an environment variable name"));
            parsed.push(None);
            continue;
        }
        let value = ctx.string(&n).and_then(|v| {
            if v.contains('\0') {
                ctx.error_at(&n, "contains a NUL byte");
                None
            } else {
                Some(v.to_string())
            }
        });
        parsed.push(value.map(|v| (key.to_string(), v)));
    }
    all(parsed)
}

fn process(ctx: &mut Ctx, table: &Table<'_, '_>, max: Option<u32>) -> Option<ProviderConfig> {
    let command = ctx.required(
        table,
        "command",
        "the program and its arguments, e.g. [\"my-app\", \"--port\", \"{port}\"]",
        |ctx, n| {
            let argv = argv(ctx, n, &["port", "id", "upstream"])?;
            if !argv.iter().any(|a| a.contains("{port}")) {
                ctx.error_at(
                    n,
                    "must pass {port} to the program (each instance listens on its own port)",
                );
                return None;
            }
            Some(argv)
        },
    );
    let ports = ctx.field(table, "ports", DEFAULT_PORTS, |ctx, n| {
        let range = port_range(ctx, n)?;
        let size = u32::from(range.1 - range.0) + 1;
        if let Some(max) = max.filter(|m| *m > size) {
            ctx.error_at(
                n,
                format!("has {size} port(s), fewer than max = {max} instances"),
            );
            return None;
        }
        Some(range)
    });
    let env = ctx.field(table, "env", Vec::new(), env);
    let stop_timeout = ctx.field(table, "stop_timeout", DEFAULT_STOP_TIMEOUT, |ctx, n| {
        ctx.duration(n, true)
    });
    let start_timeout = ctx.field(table, "start_timeout", DEFAULT_START_TIMEOUT, |ctx, n| {
        ctx.duration(n, false)
    });
    Some(ProviderConfig::Process(ProcessProviderConfig {
        command: command?,
        ports: ports?,
        env: env?,
        stop_timeout: stop_timeout?,
        start_timeout: start_timeout?,
    }))
}

/// `"20000-20999"` (inclusive).
fn port_range(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<(u16, u16)> {
    let text = ctx.string(node)?;
    let parsed = text.split_once('-').and_then(|(lo, hi)| {
        let lo = lo.trim().parse::<u16>().ok()?;
        let hi = hi.trim().parse::<u16>().ok()?;
        Some((lo, hi))
    });
    match parsed {
        Some((lo, hi)) if lo >= 1 && lo <= hi => Some((lo, hi)),
        Some((lo, hi)) if lo > hi => {
            ctx.error_at(node, format!("{text:?} is backwards: write \"{hi}-{lo}\""));
            None
        }
        _ => {
            ctx.error_at(
                node,
                format!("{text:?} is not a port range like \"20000-20999\" (ports 1 to 65535)"),
            );
            None
        }
    }
}

fn command(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<ProviderConfig> {
    let scale_to = ctx.required(
        table,
        "scale_to",
        "the command that sets the count, e.g. [\"my-asg\", \"resize\", \"{count}\"]",
        |ctx, n| {
            let argv = argv(ctx, n, &["count", "upstream"])?;
            if !argv.iter().any(|a| a.contains("{count}")) {
                ctx.error_at(n, "must pass {count} to the program");
                return None;
            }
            Some(argv)
        },
    );
    let list = ctx.required(
        table,
        "list",
        "the command printing the instances' addresses as JSON",
        |ctx, n| argv(ctx, n, &["upstream"]),
    );
    let env = ctx.field(table, "env", Vec::new(), env);
    let timeout = ctx.field(table, "timeout", DEFAULT_COMMAND_TIMEOUT, |ctx, n| {
        ctx.duration(n, false)
    });
    Some(ProviderConfig::Command(CommandProviderConfig {
        scale_to: scale_to?,
        list: list?,
        env: env?,
        timeout: timeout?,
    }))
}

/// A Kubernetes object name (DNS-1123 label/subdomain characters).
fn k8s_name(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<String> {
    let text = ctx.string(node)?;
    let ok = !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !text.starts_with(['-', '.'])
        && !text.ends_with(['-', '.']);
    if !ok {
        ctx.error_at(
            node,
            format!("{text:?} is not a Kubernetes name (lower-case letters, digits, '-', '.')"),
        );
        return None;
    }
    Some(text.to_string())
}

fn kubernetes(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<ProviderConfig> {
    let namespace = ctx.field(table, "namespace", None, |ctx, n| {
        k8s_name(ctx, n).map(Some)
    });
    let deployment = ctx.required(table, "deployment", "the Deployment's name", k8s_name);
    let service = ctx.field(table, "service", None, |ctx, n| k8s_name(ctx, n).map(Some));
    let port = ctx.field(table, "port", None, |ctx, n| match n.value {
        DeValue::Integer(_) => ctx
            .u32(n, 1..=65_535)
            .and_then(|p| u16::try_from(p).ok())
            .map(|p| Some(PortRef::Number(p))),
        _ => ctx
            .string(n)
            .filter(|s| !s.is_empty())
            .map(|s| Some(PortRef::Name(s.to_string()))),
    });
    let kubeconfig = ctx.field(table, "kubeconfig", None, |ctx, n| {
        ctx.string(n).map(|s| Some(PathBuf::from(s)))
    });
    let context = ctx.field(table, "context", None, |ctx, n| {
        ctx.string(n).map(|s| Some(s.to_string()))
    });
    let deployment = deployment?;
    Some(ProviderConfig::Kubernetes(KubernetesProviderConfig {
        namespace: namespace?,
        service: service?.unwrap_or_else(|| deployment.clone()),
        deployment,
        port: port?,
        kubeconfig: kubeconfig?,
        context: context?,
    }))
}

/// Two summary lines for `shoal check`: the provider with min/max and targets, then the
/// timing and rate limits.
pub(crate) fn render(a: &AutoscaleConfig) -> (String, String) {
    use shoal_core::format_duration as d;
    let provider = match &a.provider {
        ProviderConfig::Process(p) => format!(
            "process {:?} ports {}-{}",
            p.command.join(" "),
            p.ports.0,
            p.ports.1
        ),
        ProviderConfig::Command(c) => format!("command {:?}", c.scale_to.join(" ")),
        ProviderConfig::Kubernetes(k) => format!(
            "kubernetes deployment {}/{}",
            k.namespace.as_deref().unwrap_or("(default)"),
            k.deployment
        ),
    };
    let targets: Vec<String> = a
        .targets
        .iter()
        .map(|t| match t {
            ScaleTarget::P95Latency(l) => format!("p95_latency {}", d(*l)),
            other => format!("{} {}", other.key(), other.value()),
        })
        .collect();
    let step = |s: Step| match s {
        Step::Count(n) => n.to_string(),
        Step::Percent(p) => format!("{p}%"),
    };
    let rules = format!(
        "every {}, up max({}, {}) per {}, down max({}, {}) per {} after {}, tolerance {}, warmup {}, drain {}",
        d(a.evaluate_every),
        step(a.scale_up.max_step),
        a.scale_up.min_step,
        d(a.scale_up.every),
        step(a.scale_down.max_step),
        a.scale_down.min_step,
        d(a.scale_down.every),
        d(a.scale_down.stabilization),
        a.tolerance,
        d(a.warmup),
        d(a.drain_timeout),
    );
    (
        format!("{provider}, {}..={}, {}", a.min, a.max, targets.join(", ")),
        rules,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found() {
        let found: Vec<&str> = placeholders("a{port}b{id}{x").collect();
        assert_eq!(found, ["port", "id"]);
        assert_eq!(placeholders("none").count(), 0);
    }
}
