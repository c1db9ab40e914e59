//! `shoal demo`: a working setup with no config file — shoal in front of an autoscaled fleet
//! of `shoal echo` processes (the process provider: 2 to 8 instances, short windows), with
//! the admin API on, so `shoal load` can push it and the fleet be watched growing and
//! shrinking. Ctrl-C (or SIGTERM) stops shoal, then the instances.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_autoscale::{Autoscaler, InstanceState};
use shoal_config::Config;
use shoal_core::Shutdown;
use shoal_proxy::ProxyHandle;

use crate::control::Controller;
use crate::signals::{Request, Signals};
use crate::{EXIT_FAILURE, EXIT_OK};

/// The autoscaled upstream's name.
const UPSTREAM: &str = "demo";
const MIN: u32 = 2;
const MAX: u32 = 8;
/// Requests per second each backend is meant to take.
const TARGET_RPS: u32 = 200;
/// How long to wait for the first instances before printing the welcome anyway.
const FIRST_INSTANCES: Duration = Duration::from_secs(10);

pub fn demo(listen: SocketAddr, admin: SocketAddr) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal demo: cannot start: {e}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(serve(listen, admin))
}

async fn serve(listen: SocketAddr, admin: SocketAddr) -> u8 {
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shoal demo: cannot install signal handlers: {e}");
            return EXIT_FAILURE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("shoal demo: cannot find own executable: {e}");
            return EXIT_FAILURE;
        }
    };
    let config = match demo_config(listen, admin, &exe.to_string_lossy()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shoal demo: {e}");
            return EXIT_FAILURE;
        }
    };
    let proxy = match ProxyHandle::start(&config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("shoal demo: {e}");
            eprintln!("(is something else on {listen}? try `shoal demo --listen 127.0.0.1:8081`)");
            return EXIT_FAILURE;
        }
    };
    let addr = proxy.listener_addr("web").unwrap_or(listen);
    let controller = Arc::new(Controller::new(proxy, config.clone(), None));
    let autoscaler = match crate::fleet::start_autoscaler(&controller, &config).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("shoal demo: cannot start the autoscaler: {e}");
            controller.proxy().stop().await;
            return EXIT_FAILURE;
        }
    };
    let (admin_shutdown, admin_signal) = Shutdown::new();
    let admin_task = match config.admin.as_ref().map(|a| {
        let control = Arc::new(
            crate::app_control::AppControl::new(Arc::clone(&controller))
                .with_autoscaler(Arc::clone(&autoscaler)),
        );
        crate::run::start_admin(a, control, admin_signal)
    }) {
        Some(Ok((task, bound))) => Some((task, bound)),
        Some(Err(e)) => {
            eprintln!("shoal demo: admin API: {e}");
            eprintln!("(is something else on {admin}? try `shoal demo --admin 127.0.0.1:0`)");
            controller.proxy().stop().await;
            autoscaler.shutdown().await;
            return EXIT_FAILURE;
        }
        None => None,
    };
    let admin_addr = admin_task.as_ref().map_or(admin, |(_, bound)| *bound);
    let backends = first_instances(&autoscaler).await;
    print_welcome(addr, admin_addr, &backends);
    while signals.next().await != Request::Stop {}
    println!("\nstopping: shoal first, then the backends");
    admin_shutdown.trigger();
    if let Some((task, _)) = admin_task {
        let _ = task.await;
    }
    controller.proxy().stop().await;
    autoscaler.shutdown().await;
    EXIT_OK
}

/// Waits (bounded) for the first `MIN` instances to be ready; their addresses.
async fn first_instances(autoscaler: &Autoscaler) -> Vec<(String, String)> {
    let deadline = Instant::now() + FIRST_INSTANCES;
    loop {
        let ready: Vec<(String, String)> = autoscaler
            .status(UPSTREAM)
            .map(|s| {
                s.instances
                    .into_iter()
                    .filter(|i| i.state == InstanceState::Ready)
                    .map(|i| (i.id, i.addr))
                    .collect()
            })
            .unwrap_or_default();
        if ready.len() >= MIN as usize || Instant::now() >= deadline {
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn demo_config(listen: SocketAddr, admin: SocketAddr, exe: &str) -> Result<Config, String> {
    let exe = exe.replace('\\', "\\\\").replace('"', "\\\"");
    let text = format!(
        r#"
[server]
grace_period = "5s"

[listeners.web]
bind = "{listen}"
protocol = "http"

[[listeners.web.routes]]
upstream = "{UPSTREAM}"

[upstreams.{UPSTREAM}]
algorithm = "round_robin"

[upstreams.{UPSTREAM}.health]
interval = "500ms"
timeout = "200ms"
rise = 1

[upstreams.{UPSTREAM}.autoscale]
provider = "process"
command = ["{exe}", "echo", "--listen", "127.0.0.1:{{port}}", "--name", "{{id}}"]
ports = "20000-20999"
env = {{ SHOAL_LOG = "warn" }}
min = {MIN}
max = {MAX}
target = {{ rps_per_backend = {TARGET_RPS} }}
evaluate_every = "1s"
scale_up = {{ max_step = "100%", min_step = 2, every = "2s" }}
scale_down = {{ stabilization = "10s", max_step = 1, every = "2s" }}
warmup = "2s"
drain_timeout = "10s"
stop_timeout = "3s"

[admin]
bind = "{admin}"
"#
    );
    Config::from_toml_str(&text).map_err(|e| e.to_string())
}

fn print_welcome(addr: SocketAddr, admin: SocketAddr, backends: &[(String, String)]) {
    println!("shoal demo is running: an autoscaled fleet of `shoal echo` backends.");
    println!();
    println!("  shoal      http://{addr}/   (round robin over the backends)");
    println!("  admin API  http://{admin}/api/v1/upstreams/{UPSTREAM}/autoscale");
    for (id, backend) in backends {
        println!("  backend {id}  http://{backend}/");
    }
    println!();
    println!(
        "The fleet keeps {MIN} to {MAX} backends at about {TARGET_RPS} requests/s each. Push it:"
    );
    println!("  shoal load http://{addr}/ --rate 1000 --duration 60s");
    println!("and watch backends being added (warming, ready), then drained and removed once the");
    println!("load stops (after a 10s window, one every 2s):");
    println!("  watch -n1 curl -s http://{admin}/api/v1/upstreams/{UPSTREAM}");
    println!(
        "  curl -s http://{admin}/api/v1/upstreams/{UPSTREAM}/autoscale   # decisions and why"
    );
    println!("Set the count by hand (the scale-down window then holds it):");
    println!(
        "  curl -s -X POST -H 'content-type: application/json' -d '{{\"count\": 4}}' http://{admin}/api/v1/upstreams/{UPSTREAM}/scale"
    );
    println!("Misbehaving requests:");
    println!("  curl -si 'http://{addr}/?status=503'      # a backend answering 503");
    println!("  curl -si 'http://{addr}/?delay=300ms'     # a slow answer");
    println!("  curl -si 'http://{addr}/?cpu=5ms'         # burn 5ms of CPU");
    println!();
    println!("Ctrl-C stops shoal and the backends.");
}
