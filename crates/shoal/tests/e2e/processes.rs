//! Real backend processes (`shoal echo`) killed, stopped and resumed under steady client load:
//! no idempotent request may fail while a healthy backend remains.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shoal_health::BackendStatus;
use shoal_test_support::{eventually, TestClient, TestProxy};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
const WAIT: Duration = Duration::from_secs(5);

async fn echo(name: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(SHOAL)
        .args(["echo", "--listen", "127.0.0.1:0", "--name", name])
        .env("SHOAL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn shoal echo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("echo reports its address in time")
        .expect("read")
        .expect("a line");
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, addr)
}

fn send(child: &Child, signal: Signal) {
    let pid = child.id().expect("running");
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), signal).expect("signal");
}

async fn status_of(proxy: &TestProxy, addr: SocketAddr) -> Option<BackendStatus> {
    proxy
        .proxy()
        .health()
        .view("app", addr)
        .await
        .map(|v| v.status)
}

#[tokio::test]
async fn killed_and_stopped_backends_lose_no_idempotent_request() {
    let (e1, a1) = echo("e1").await;
    let (e2, a2) = echo("e2").await;
    let (_e3, a3) = echo("e3").await;
    let proxy = TestProxy::start(&format!(
        "[server]\nworkers = 2\ngrace_period = \"2s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [upstreams.app]\nbackends = [\"{a1}\", \"{a2}\", \"{a3}\"]\n\
         connect_timeout = \"200ms\"\nresponse_timeout = \"300ms\"\n\
         retries = 2\nretry_backoff = \"0s\"\n\n\
         [upstreams.app.health]\npath = \"/health/ready\"\ninterval = \"100ms\"\n\
         timeout = \"80ms\"\nrise = 1\nfall = 2\n"
    ));
    let proxy = Arc::new(proxy);
    for addr in [a1, a2, a3] {
        eventually(WAIT, || async {
            status_of(&proxy, addr).await == Some(BackendStatus::Ready)
        })
        .await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut load = Vec::new();
    // Three clients: a stopped backend stalls each client's request to it until the
    // response timeout, and those retries run at once. The retry budget allows at least 3
    // concurrent retries (20% of active requests beyond that); more stalled at once is what
    // the budget exists to refuse (a retry storm), so it would fail requests by design.
    for t in 0..3 {
        let (stop, ok, failures) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failures));
        let url = proxy.url("/");
        load.push(tokio::spawn(async move {
            let client = TestClient::http1();
            // Bounded by count and time as well as by the stop flag.
            for i in 0..20_000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                match client.get(&format!("{url}t{t}/{i}")).await {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        failures
                            .lock()
                            .expect("lock")
                            .push(format!("{}: {}", r.status, r.text()))
                    }
                    Err(e) => failures.lock().expect("lock").push(e.to_string()),
                }
            }
        }));
    }
    let served = |n: usize| {
        let ok = Arc::clone(&ok);
        move || {
            let ok = Arc::clone(&ok);
            async move { ok.load(Ordering::Relaxed) >= n }
        }
    };
    eventually(WAIT, served(100)).await;

    // SIGSTOP: the backend accepts connections but never answers.
    send(&e1, Signal::SIGSTOP);
    eventually(WAIT, || async {
        status_of(&proxy, a1)
            .await
            .is_some_and(|s| !s.is_eligible())
    })
    .await;
    let before = ok.load(Ordering::Relaxed);
    eventually(WAIT, served(before + 100)).await;
    send(&e1, Signal::SIGCONT);
    eventually(WAIT, || async {
        status_of(&proxy, a1).await == Some(BackendStatus::Ready)
    })
    .await;

    // SIGKILL: connections are refused from now on.
    send(&e2, Signal::SIGKILL);
    eventually(WAIT, || async {
        // Not ready (failed checks) or down (ejected by passive checks): out either way.
        status_of(&proxy, a2)
            .await
            .is_some_and(|s| !s.is_eligible())
    })
    .await;
    let before = ok.load(Ordering::Relaxed);
    eventually(WAIT, served(before + 100)).await;

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    assert!(ok.load(Ordering::Relaxed) >= 300);
}
