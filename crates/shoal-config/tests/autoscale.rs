//! `[upstreams.NAME.autoscale]`: every key parsed, defaults, and each mistake reported at its
//! key with its line.

mod common;

use std::time::Duration;

use common::assert_errors;
use shoal_config::{
    Config, PortRef, ProviderConfig, ScaleRule, ScaleTarget, Step, DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
};

const HEAD: &str =
    "[listeners.web]\nbind = \"127.0.0.1:8080\"\n[[listeners.web.routes]]\nupstream = \"api\"\n";

fn with(upstream: &str) -> String {
    format!("{HEAD}{upstream}")
}

#[test]
fn the_issue_example_parses_with_every_key() {
    let config = Config::from_toml_str(&with(
        r#"[upstreams.api]
drain_timeout = "20s"
[upstreams.api.autoscale]
provider = "process"
command = ["my-app", "--port", "{port}", "--name", "{upstream}-{id}"]
ports = "20000-20999"
env = { RUST_LOG = "info" }
min = 2
max = 20
target = { rps_per_backend = 2500, p95_latency = "50ms" }
evaluate_every = "1s"
scale_up = { max_step = "100%", min_step = 4, every = "15s" }
scale_down = { stabilization = "5m", max_step = 1, every = "30s" }
tolerance = 0.1
warmup = "10s"
drain_timeout = "60s"
stop_timeout = "3s"
start_timeout = "5s"
"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let up = config.upstream("api").expect("api");
    assert!(up.backends.is_empty(), "no static backends needed");
    let a = up.autoscale.as_ref().expect("autoscale");
    let ProviderConfig::Process(p) = &a.provider else {
        panic!("process provider: {:?}", a.provider)
    };
    assert_eq!(p.command[2], "{port}");
    assert_eq!(p.ports, (20000, 20999));
    assert_eq!(p.env, vec![("RUST_LOG".to_string(), "info".to_string())]);
    assert_eq!(p.stop_timeout, Duration::from_secs(3));
    assert_eq!(p.start_timeout, Duration::from_secs(5));
    assert_eq!((a.min, a.max), (2, 20));
    assert_eq!(
        a.targets,
        vec![
            ScaleTarget::RpsPerBackend(2500.0),
            ScaleTarget::P95Latency(Duration::from_millis(50))
        ]
    );
    assert_eq!(a.evaluate_every, Duration::from_secs(1));
    assert_eq!(
        a.scale_up,
        ScaleRule {
            max_step: Step::Percent(100),
            min_step: 4,
            every: Duration::from_secs(15),
            stabilization: Duration::ZERO,
        }
    );
    assert_eq!(
        a.scale_down,
        ScaleRule {
            max_step: Step::Count(1),
            min_step: 0,
            every: Duration::from_secs(30),
            stabilization: Duration::from_secs(300),
        }
    );
    assert_eq!(a.tolerance, 0.1);
    assert_eq!(a.warmup, Duration::from_secs(10));
    assert_eq!(a.drain_timeout, Duration::from_secs(60));
}

#[test]
fn defaults_follow_kubernetes_hpa() {
    let config = Config::from_toml_str(&with(
        r#"[upstreams.api]
backends = ["127.0.0.1:9001"]
drain_timeout = "7s"
[upstreams.api.autoscale]
provider = "process"
command = ["app", "{port}"]
max = 5
target = { in_flight_per_backend = 8 }
"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let up = config.upstream("api").expect("api");
    assert_eq!(up.backends.len(), 1, "static backends may stay");
    let a = up.autoscale.as_ref().expect("autoscale");
    assert_eq!(a.min, 1);
    assert_eq!(a.scale_up, DEFAULT_SCALE_UP);
    assert_eq!(a.scale_down, DEFAULT_SCALE_DOWN);
    assert_eq!(a.tolerance, 0.1);
    assert_eq!(a.evaluate_every, Duration::from_secs(1));
    assert_eq!(a.drain_timeout, Duration::from_secs(7), "the upstream's");
    let ProviderConfig::Process(p) = &a.provider else {
        panic!("process")
    };
    assert_eq!(p.ports, (20000, 20999));
}

#[test]
fn command_and_kubernetes_providers() {
    let config = Config::from_toml_str(&with(
        r#"[upstreams.api]
[upstreams.api.autoscale]
provider = "command"
scale_to = ["asg", "resize", "{upstream}", "{count}"]
list = ["asg", "list"]
timeout = "5s"
max = 3
target = { rps_per_backend = 100 }
[upstreams.k8s]
[upstreams.k8s.autoscale]
provider = "kubernetes"
namespace = "shop"
deployment = "web"
port = "http"
kubeconfig = "/etc/kube.yaml"
max = 3
target = { rps_per_backend = 100 }
"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let a = config.upstream("api").and_then(|u| u.autoscale.clone());
    let Some(ProviderConfig::Command(c)) = a.map(|a| a.provider) else {
        panic!("command provider")
    };
    assert_eq!(c.scale_to[3], "{count}");
    assert_eq!(c.list, ["asg", "list"]);
    assert_eq!(c.timeout, Duration::from_secs(5));
    let k = config.upstream("k8s").and_then(|u| u.autoscale.clone());
    let Some(ProviderConfig::Kubernetes(k)) = k.map(|a| a.provider) else {
        panic!("kubernetes provider")
    };
    assert_eq!(k.namespace.as_deref(), Some("shop"));
    assert_eq!(k.deployment, "web");
    assert_eq!(k.service, "web", "defaults to the deployment");
    assert_eq!(k.port, Some(PortRef::Name("http".into())));
    assert_eq!(
        k.kubeconfig.as_deref(),
        Some(std::path::Path::new("/etc/kube.yaml"))
    );
}

#[test]
fn mistakes_are_reported_at_their_keys() {
    assert_errors(
        &with(
            r#"[upstreams.api]
[upstreams.api.autoscale]
provider = "process"
command = ["app", "--listen", "{host}"]
ports = "30000-29000"
min = 4
max = 2
target = { rps = 5 }
scale_up = { max_step = "150" }
tolerance = 1.5
scale_to = ["x", "{count}"]
"#,
        ),
        &[
            (
                "upstreams.api.autoscale.command[2]",
                Some(8),
                "unknown placeholder {host}",
            ),
            ("upstreams.api.autoscale.ports", Some(9), "backwards"),
            ("upstreams.api.autoscale.max", Some(11), "smaller than min"),
            (
                "upstreams.api.autoscale.target.rps",
                Some(12),
                "unknown key",
            ),
            (
                "upstreams.api.autoscale.scale_up.max_step",
                Some(13),
                "not a percent",
            ),
            ("upstreams.api.autoscale.tolerance", Some(14), "below 1"),
            (
                "upstreams.api.autoscale.scale_to",
                Some(15),
                "does not apply to provider = \"process\"",
            ),
        ],
    );
}

#[test]
fn missing_keys_and_provider_rules() {
    assert_errors(
        &with(
            r#"[upstreams.api]
[upstreams.api.autoscale]
provider = "process"
command = ["app"]
max = 3
target = { rps_per_backend = 10 }
ports = "20000-20001"
"#,
        ),
        &[
            (
                "upstreams.api.autoscale.command",
                Some(8),
                "must pass {port}",
            ),
            (
                "upstreams.api.autoscale.ports",
                Some(11),
                "fewer than max = 3",
            ),
        ],
    );
    assert_errors(
        &with(
            r#"[upstreams.api]
[upstreams.api.autoscale]
provider = "command"
scale_to = ["x", "{count}"]
list = ["y"]
max = 3
target = { cpu_percent = 50 }
"#,
        ),
        &[(
            "upstreams.api.autoscale.target",
            Some(11),
            "cpu_percent needs provider = \"process\"",
        )],
    );
    assert_errors(
        &with("[upstreams.api]\n[upstreams.api.autoscale]\nprovider = \"magic\"\n"),
        &[
            ("upstreams.api.autoscale", Some(6), "missing key \"max\""),
            ("upstreams.api.autoscale", Some(6), "missing key \"target\""),
            (
                "upstreams.api.autoscale.provider",
                Some(7),
                "unknown provider \"magic\"",
            ),
        ],
    );
}

#[test]
fn without_autoscale_backends_stay_required() {
    assert_errors(
        &with("[upstreams.api]\nbackends = []\n"),
        &[("upstreams.api.backends", Some(6), "backends is empty")],
    );
}
