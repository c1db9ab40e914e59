//! `shoal demo`: a working setup with no config file — three `shoal echo` backends as child
//! processes, and shoal in front of them. Ctrl-C (or SIGTERM) stops shoal, then the children.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shoal_config::Config;
use shoal_proxy::ProxyHandle;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::signals::{Request, Signals};
use crate::{EXIT_FAILURE, EXIT_OK};

const BACKENDS: [&str; 3] = ["a", "b", "c"];
/// How long a backend may take to print its address, and to exit after SIGTERM.
const CHILD_TIMEOUT: Duration = Duration::from_secs(5);

/// A demo backend process and the address it serves on.
struct DemoBackend {
    child: Child,
    addr: SocketAddr,
}

pub fn demo(listen: SocketAddr) -> u8 {
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
    runtime.block_on(async {
        let mut signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("shoal demo: cannot install signal handlers: {e}");
                return EXIT_FAILURE;
            }
        };
        let mut backends = Vec::new();
        for name in BACKENDS {
            match spawn_backend(name).await {
                Ok(b) => backends.push(b),
                Err(e) => {
                    eprintln!("shoal demo: cannot start backend {name}: {e}");
                    stop_backends(backends).await;
                    return EXIT_FAILURE;
                }
            }
        }
        let config = match demo_config(listen, &backends) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("shoal demo: {e}");
                stop_backends(backends).await;
                return EXIT_FAILURE;
            }
        };
        let proxy = match ProxyHandle::start(&config) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("shoal demo: {e}");
                eprintln!(
                    "(is something else on {listen}? try `shoal demo --listen 127.0.0.1:8081`)"
                );
                stop_backends(backends).await;
                return EXIT_FAILURE;
            }
        };
        let addr = proxy.listener_addr("web").unwrap_or(listen);
        print_welcome(addr, &backends);
        while signals.next().await != Request::Stop {}
        println!("\nstopping: shoal first, then the backends");
        proxy.stop().await;
        stop_backends(backends).await;
        EXIT_OK
    })
}

async fn spawn_backend(name: &str) -> Result<DemoBackend, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let mut child = Command::new(exe)
        .args(["echo", "--listen", "127.0.0.1:0", "--name", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(CHILD_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| "did not report its address in time".to_string())?
        .map_err(|e| e.to_string())?
        .ok_or("exited before reporting its address")?;
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| format!("unexpected first line {line:?}"))?;
    // Keep draining its stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(DemoBackend { child, addr })
}

fn demo_config(listen: SocketAddr, backends: &[DemoBackend]) -> Result<Config, String> {
    let list: Vec<String> = backends.iter().map(|b| format!("\"{}\"", b.addr)).collect();
    let text = format!(
        r#"
[server]
grace_period = "5s"

[listeners.web]
bind = "{listen}"
protocol = "http"

[[listeners.web.routes]]
upstream = "demo"

[upstreams.demo]
algorithm = "round_robin"
backends = [{}]
"#,
        list.join(", ")
    );
    Config::from_toml_str(&text).map_err(|e| e.to_string())
}

fn print_welcome(addr: SocketAddr, backends: &[DemoBackend]) {
    println!("shoal demo is running.");
    println!();
    println!("  shoal      http://{addr}/   (round robin over the backends below)");
    for (name, b) in BACKENDS.iter().zip(backends) {
        println!("  backend {name}  http://{}/", b.addr);
    }
    println!();
    println!("Try:");
    println!(
        "  for i in 1 2 3 4 5 6; do curl -s http://{addr}/ | grep -o '\"backend\":\"[a-z]\"'; done"
    );
    println!("  curl -si 'http://{addr}/?status=503'      # a backend answering 503");
    println!("  curl -si 'http://{addr}/?delay=300ms'     # a slow answer");
    println!();
    println!("Ctrl-C stops shoal and the backends.");
}

/// SIGTERM each backend, then SIGKILL whatever has not exited in time.
async fn stop_backends(backends: Vec<DemoBackend>) {
    for mut b in backends {
        if let Some(pid) = b.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout(CHILD_TIMEOUT, b.child.wait())
            .await
            .is_err()
        {
            let _ = b.child.kill().await;
        }
    }
}
