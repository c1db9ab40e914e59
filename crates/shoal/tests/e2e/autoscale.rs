//! The autoscaler end to end: `shoal run` with the process provider over real `shoal echo`
//! instances (CPU burnt per request with `?cpu=`), driven by `shoal load`'s engine, watched
//! through the admin API. Windows are short (hundreds of milliseconds) so each test takes
//! seconds.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use shoal_load::{LoadOptions, Mode, Summary, Target};
use shoal_test_support::{eventually, TestClient};
use tokio::process::Child;

use crate::cli::{signal, wait_exit, write_file};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
/// Bound on a state the autoscaler reaches within a few evaluation periods.
const WAIT: Duration = Duration::from_secs(20);

/// A port range of `size` for one test: a base derived from the pid and the test, so
/// parallel tests (and runs) rarely share ports; the provider skips ports in use anyway.
fn port_range(test: u32, size: u32) -> String {
    let base = 21_000 + (std::process::id() * 37 + test * 1_013) % 9_000;
    format!("{base}-{}", base + size - 1)
}

/// `shoal run` with one autoscaled upstream `app` (process provider over `shoal echo`).
fn config(test: u32, min: u32, max: u32, autoscale_extra: &str) -> String {
    format!(
        "[server]\nworkers = 1\ngrace_period = \"2s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [upstreams.app]\nretries = 2\nretry_backoff = \"0s\"\n\n\
         [upstreams.app.health]\ninterval = \"100ms\"\ntimeout = \"80ms\"\nrise = 1\nfall = 2\n\n\
         [upstreams.app.autoscale]\nprovider = \"process\"\n\
         command = [\"{SHOAL}\", \"echo\", \"--listen\", \"127.0.0.1:{{port}}\", \"--name\", \"{{id}}\"]\n\
         ports = \"{}\"\nenv = {{ SHOAL_LOG = \"warn\" }}\n\
         min = {min}\nmax = {max}\n\
         evaluate_every = \"200ms\"\nwarmup = \"0s\"\ndrain_timeout = \"5s\"\nstop_timeout = \"2s\"\n\
         {autoscale_extra}\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n",
        port_range(test, 50)
    )
}

/// A running `shoal run`: its proxy and admin addresses. Killed if the test fails midway.
struct Shoal {
    child: Child,
    proxy: SocketAddr,
    admin: SocketAddr,
    client: TestClient,
    logs: Option<tokio::task::JoinHandle<Vec<String>>>,
}

impl Shoal {
    async fn start(test: &str, config: &str) -> Shoal {
        let path = write_file(test, "shoal.toml", config);
        let crate::cli::RunningShoal {
            child,
            proxy,
            admin,
            logs,
        } = crate::cli::run_with_admin(&path).await;
        Shoal {
            child,
            proxy,
            admin,
            client: TestClient::http1(),
            logs: Some(logs),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}/api/v1{path}", self.admin));
        let bytes = match body {
            Some(v) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let response = self
            .client
            .send(builder.body(bytes).expect("request"))
            .await
            .expect("admin API answers");
        (
            response.status.as_u16(),
            response.json().unwrap_or(Value::Null),
        )
    }

    async fn autoscale(&self) -> Value {
        let (status, view) = self.call("GET", "/upstreams/app/autoscale", None).await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// (instances not draining, instances counted ready, pids of every instance).
    async fn fleet(&self) -> (usize, usize, Vec<i32>) {
        let view = self.autoscale().await;
        let instances = view["instances"].as_array().cloned().unwrap_or_default();
        let state = |i: &Value| i["state"].as_str().unwrap_or_default().to_string();
        let live = instances.iter().filter(|i| state(i) != "draining").count();
        let ready = instances.iter().filter(|i| state(i) == "ready").count();
        let pids = instances
            .iter()
            .filter_map(|i| i["pid"].as_i64())
            .filter_map(|p| i32::try_from(p).ok())
            .collect();
        (live, ready, pids)
    }

    async fn stop(mut self) -> Vec<String> {
        signal(&self.child, Signal::SIGTERM);
        let status = wait_exit(&mut self.child).await;
        let logs = match self.logs.take() {
            Some(l) => tokio::time::timeout(WAIT, l)
                .await
                .expect("stderr closes")
                .expect("drain task"),
            None => Vec::new(),
        };
        assert_eq!(status.code(), Some(0), "{logs:#?}");
        logs
    }
}

/// True while `/proc/PID` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Load through shoal in the background; its summary at the end.
fn load(
    proxy: SocketAddr,
    path: &str,
    mode: Mode,
    duration: Duration,
) -> tokio::task::JoinHandle<Summary> {
    let url = format!("http://{proxy}{path}");
    tokio::spawn(async move {
        let target = Target::resolve(&url).await.expect("target");
        shoal_load::run(
            &target,
            LoadOptions {
                mode,
                duration,
                timeout: Duration::from_secs(5),
                max_connections: 200,
                progress: None,
            },
        )
        .await
    })
}

fn assert_no_failure(summary: &Summary, what: &str) {
    assert!(summary.requests > 0, "{what}: no request sent");
    assert_eq!(
        summary.errors,
        0,
        "{what}: {} of {} failed: {:?} (connect {}, io {}, timeout {})",
        summary.errors,
        summary.requests,
        summary.statuses,
        summary.connect_errors,
        summary.io_errors,
        summary.timeouts
    );
}

#[tokio::test]
async fn scales_out_under_load_and_in_after_it_without_failing_a_request() {
    let shoal = Shoal::start(
        "autoscale_out_in",
        &config(
            1,
            1,
            3,
            "target = { in_flight_per_backend = 2 }\n\
             scale_up = { max_step = \"100%\", min_step = 1, every = \"200ms\" }\n\
             scale_down = { stabilization = \"1s\", max_step = 1, every = \"300ms\" }",
        ),
    )
    .await;
    // min = 1: one instance comes up by itself.
    eventually(WAIT, || async { shoal.fleet().await.1 == 1 }).await;

    // Above target: 12 requests at a time, each holding its backend 50 ms → 12 in flight
    // over 1 backend for a target of 2 per backend.
    let busy = load(
        shoal.proxy,
        "/?delay=100ms",
        Mode::Concurrency(12),
        Duration::from_secs(4),
    );
    let most = Arc::new(AtomicU32::new(0));
    eventually(WAIT, || async {
        let (live, ready, _) = shoal.fleet().await;
        most.fetch_max(live as u32, Ordering::Relaxed);
        ready == 3
    })
    .await;
    let busy = busy.await.expect("load task");
    assert_no_failure(&busy, "while scaling out");

    // Light load while it scales back in: every instance that goes is drained first.
    let light = load(
        shoal.proxy,
        "/?delay=50ms",
        Mode::Concurrency(1),
        Duration::from_secs(4),
    );
    eventually(WAIT, || async {
        let (live, _, _) = shoal.fleet().await;
        most.fetch_max(live as u32, Ordering::Relaxed);
        live == 1
    })
    .await;
    let light = light.await.expect("load task");
    assert_no_failure(&light, "while scaling in");
    assert!(
        most.load(Ordering::Relaxed) <= 3,
        "never above max: saw {}",
        most.load(Ordering::Relaxed)
    );

    let view = shoal.autoscale().await;
    let actions: BTreeSet<String> = view["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_string))
        .collect();
    assert!(actions.contains("scale_up"), "{view:#}");
    assert!(actions.contains("scale_down"), "{view:#}");
    let up = view["events"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|e| e["action"] == "scale_up" && e["recommendation"].is_u64())
        })
        .cloned()
        .expect("a scale-up with a recommendation");
    assert_eq!(
        up["targets"][0]["metric"], "in_flight_per_backend",
        "{up:#}"
    );
    assert!(
        up["targets"][0]["value"].as_f64().is_some_and(|v| v > 2.0),
        "{up:#}"
    );

    let logs = shoal.stop().await;
    assert!(
        logs.iter().any(|l| l.contains("autoscale decision")),
        "decisions are logged"
    );
    assert!(
        logs.iter().any(|l| l.contains("drained backend removed")),
        "scale-in drains: {logs:#?}"
    );
}

#[tokio::test]
async fn a_killed_instance_is_replaced_and_manual_scale_works() {
    let shoal = Shoal::start(
        "autoscale_replace",
        &config(
            2,
            2,
            4,
            "target = { rps_per_backend = 1000 }\n\
             scale_down = { stabilization = \"30s\" }",
        ),
    )
    .await;
    eventually(WAIT, || async { shoal.fleet().await.1 == 2 }).await;
    let (_, _, pids) = shoal.fleet().await;
    assert_eq!(pids.len(), 2, "two instances with pids");
    let victim = pids[0];
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill an instance");
    eventually(WAIT, || async {
        let (live, ready, pids) = shoal.fleet().await;
        live == 2 && ready == 2 && !pids.contains(&victim)
    })
    .await;
    // Requests keep being answered by the replacement fleet.
    let response = shoal
        .client
        .get(&format!("http://{}/", shoal.proxy))
        .await
        .expect("proxy answers");
    assert_eq!(response.status, 200);

    // By hand: outside [min, max] refused, inside applied and held by the window.
    let (status, body) = shoal
        .call(
            "POST",
            "/upstreams/app/scale",
            Some(serde_json::json!({"count": 9})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_count");
    // Inside: through `shoal ctl scale`, the operator's way.
    let admin = format!("http://{}", shoal.admin);
    let output = crate::cli::shoal(&["ctl", "--admin", &admin, "scale", "app", "3"])
        .env_remove("SHOAL_ADMIN")
        .output()
        .await
        .expect("shoal ctl scale");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.starts_with("app: scaling to 3 (now "), "{said}");
    eventually(WAIT, || async { shoal.fleet().await.1 == 3 }).await;
    let output = crate::cli::shoal(&["ctl", "--admin", &admin, "autoscale", "app"])
        .env_remove("SHOAL_ADMIN")
        .output()
        .await
        .expect("shoal ctl autoscale");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("app (process): 3 instances, desired 3, between 2 and 4"),
        "{said}"
    );
    assert!(
        said.contains(" manual "),
        "the manual decision is listed: {said}"
    );
    let view = shoal.autoscale().await;
    assert!(
        view["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["action"] == "manual")),
        "{view:#}"
    );
    // Not an autoscaled upstream / no such upstream.
    let (status, _) = shoal.call("GET", "/upstreams/nope/autoscale", None).await;
    assert_eq!(status, 404);
    shoal.stop().await;
}

#[tokio::test]
async fn no_instance_outlives_a_killed_shoal() {
    let mut shoal = Shoal::start(
        "autoscale_sigkill",
        &config(3, 2, 2, "target = { rps_per_backend = 1000 }"),
    )
    .await;
    eventually(WAIT, || async { shoal.fleet().await.2.len() == 2 }).await;
    let (_, _, pids) = shoal.fleet().await;
    for pid in &pids {
        assert!(alive(*pid), "instance {pid} runs");
    }
    signal(&shoal.child, Signal::SIGKILL);
    let _ = wait_exit(&mut shoal.child).await;
    eventually(WAIT, || async { pids.iter().all(|p| !alive(*p)) }).await;
    // The logs task ends with the pipe.
    shoal.logs.take();
}

#[tokio::test]
async fn sigterm_stops_the_instances_after_traffic() {
    let shoal = Shoal::start(
        "autoscale_sigterm",
        &config(4, 2, 2, "target = { cpu_percent = 80 }"),
    )
    .await;
    eventually(WAIT, || async { shoal.fleet().await.1 == 2 }).await;
    let (_, _, pids) = shoal.fleet().await;
    // CPU is measured for process instances (a light load: other tests run alongside).
    let busy = load(
        shoal.proxy,
        "/?cpu=1ms&delay=4ms",
        Mode::Concurrency(1),
        Duration::from_millis(600),
    );
    let _ = busy.await;
    let view = shoal.autoscale().await;
    assert!(
        view["instances"]
            .as_array()
            .is_some_and(|i| i.iter().all(|i| i["cpu_percent"].as_f64().is_some())),
        "{view:#}"
    );
    let logs = shoal.stop().await;
    for pid in &pids {
        assert!(!alive(*pid), "instance {pid} stopped with shoal");
    }
    assert!(
        logs.iter().any(|l| l.contains("instance stopped")),
        "{logs:#?}"
    );
    // An instance's output is in shoal's log, with its id.
    assert!(
        logs.iter()
            .any(|l| l.contains("instance=app-1") && l.contains("listening on 127.0.0.1:")),
        "{logs:#?}"
    );
}

/// The addresses of upstream `app`'s backends, with their states.
async fn backends(shoal: &Shoal) -> Vec<(String, String)> {
    let (status, up) = shoal.call("GET", "/upstreams/app", None).await;
    assert_eq!(status, 200, "{up}");
    up["backends"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|b| {
            (
                b["addr"].as_str().unwrap_or_default().to_string(),
                b["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn command_provider_scales_through_user_commands_and_follows_their_list() {
    let a = shoal_test_support::TestBackend::http().name("a").await;
    let b = shoal_test_support::TestBackend::http().name("b").await;
    let c = shoal_test_support::TestBackend::http().name("c").await;
    let dir = crate::cli::test_dir("autoscale_command");
    let list = dir.join("list.json");
    let count = dir.join("count");
    let _ = std::fs::remove_file(&count);
    let write_list = |addrs: &[SocketAddr]| {
        let json: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
        // Written aside then renamed, so `cat` never reads half a file.
        let tmp = dir.join("list.tmp");
        std::fs::write(&tmp, format!("[{}]", json.join(", "))).expect("write list");
        std::fs::rename(&tmp, &list).expect("rename list");
    };
    write_list(&[a.addr()]);
    let config = format!(
        "[server]\nworkers = 1\ngrace_period = \"2s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [upstreams.app]\n\n\
         [upstreams.app.autoscale]\nprovider = \"command\"\n\
         scale_to = [\"sh\", \"-c\", \"echo {{count}} > '{}'\"]\n\
         list = [\"cat\", \"{}\"]\ntimeout = \"5s\"\n\
         min = 1\nmax = 3\ntarget = {{ rps_per_backend = 5 }}\n\
         evaluate_every = \"200ms\"\nwarmup = \"0s\"\ndrain_timeout = \"2s\"\n\
         scale_up = {{ max_step = \"100%\", min_step = 4, every = \"200ms\" }}\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n",
        count.display(),
        list.display()
    );
    let shoal = Shoal::start("autoscale_command", &config).await;
    let sa = a.addr().to_string();
    eventually(WAIT, || async {
        backends(&shoal).await == vec![(sa.clone(), "ready".to_string())]
    })
    .await;

    // Above target: the scale_to command is run with the clamped count.
    let busy = load(shoal.proxy, "/", Mode::Rate(60.0), Duration::from_secs(2));
    eventually(WAIT, || async {
        std::fs::read_to_string(&count).is_ok_and(|c| c.trim() == "3")
    })
    .await;
    assert_no_failure(&busy.await.expect("load"), "command provider");

    // The platform brings the instances: listed ones become backends...
    write_list(&[a.addr(), b.addr(), c.addr()]);
    eventually(WAIT, || async { backends(&shoal).await.len() == 3 }).await;
    // ...and one that leaves the list is drained, then removed.
    write_list(&[a.addr(), c.addr()]);
    let (sb, sc) = (b.addr().to_string(), c.addr().to_string());
    eventually(WAIT, || async {
        // In the config's order (runtime additions sort by address), so compared as a set.
        let now: BTreeSet<String> = backends(&shoal).await.into_iter().map(|(a, _)| a).collect();
        now == BTreeSet::from([sa.clone(), sc.clone()])
    })
    .await;
    let view = shoal.autoscale().await;
    assert_eq!(view["provider"], "command");
    assert!(view["provider_error"].is_null(), "{view:#}");
    assert!(!backends(&shoal).await.iter().any(|(a, _)| *a == sb));
    shoal.stop().await;
}
