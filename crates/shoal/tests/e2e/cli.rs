//! The `shoal` binary: `check`, `run`, `echo`, `demo`, as a user runs them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use shoal_test_support::{TestBackend, TestClient};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::support::*;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
/// Bound on a process printing what we wait for, and on exiting after a signal.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(15);

/// A directory of its own for each test, under cargo's per-target temporary directory.
pub(super) fn test_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-cli")
        .join(format!("{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

pub(super) fn write_file(test: &str, name: &str, text: &str) -> PathBuf {
    let path = test_dir(test).join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

pub(super) fn shoal(args: &[&str]) -> Command {
    let mut command = Command::new(SHOAL);
    command
        .args(args)
        .env("SHOAL_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs to completion (bounded) and returns (exit code, stdout, stderr).
pub(super) async fn run_to_end(args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(PROCESS_TIMEOUT, shoal(args).output())
        .await
        .unwrap_or_else(|_| panic!("shoal {args:?} did not finish"))
        .expect("spawn shoal");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub(super) fn signal(child: &Child, sig: Signal) {
    let pid = child.id().expect("child still running");
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), sig).expect("send signal");
}

pub(super) async fn wait_exit(child: &mut Child) -> ExitStatus {
    tokio::time::timeout(PROCESS_TIMEOUT, child.wait())
        .await
        .expect("process exits in time")
        .expect("wait")
}

/// Reads lines until `pick` returns something (bounded in time and lines); every line read
/// is also kept in `seen` for messages.
pub(super) async fn read_until<R, T>(
    lines: &mut Lines<BufReader<R>>,
    seen: &mut Vec<String>,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> T
where
    R: AsyncRead + Unpin,
{
    for _ in 0..200 {
        let line = tokio::time::timeout(PROCESS_TIMEOUT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no expected line in time; saw {seen:#?}"))
            .expect("read line")
            .unwrap_or_else(|| panic!("output ended; saw {seen:#?}"));
        let line = strip_ansi(&line);
        let found = pick(&line);
        seen.push(line);
        if let Some(found) = found {
            return found;
        }
    }
    panic!("no expected line in 200 lines: {seen:#?}");
}

/// The address after `addr=` in a log line that mentions `what`.
pub(super) fn logged_addr(line: &str, what: &str) -> Option<SocketAddr> {
    if !line.contains(what) {
        return None;
    }
    line.split("addr=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `shoal run` child whose config has an `[admin]` table.
pub(super) struct RunningShoal {
    pub child: Child,
    /// The first listener's address (the first "listening" line that is not the admin's).
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    /// Every later log line, once the child's stderr closes.
    pub logs: JoinHandle<Vec<String>>,
}

/// Starts `shoal run -c path` and reads its proxy and admin addresses from its log; the rest
/// of the log is drained in the background (so the child never blocks on the pipe).
pub(super) async fn run_with_admin(path: &std::path::Path) -> RunningShoal {
    let mut child = shoal(&["run", "-c", path.to_str().expect("utf-8")])
        .spawn()
        .expect("spawn shoal run");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let proxy = read_until(&mut stderr, &mut seen, |l| {
        (!l.contains("admin"))
            .then(|| logged_addr(l, "listening"))
            .flatten()
    })
    .await;
    let admin = read_until(&mut stderr, &mut seen, |l| {
        logged_addr(l, "admin API listening")
    })
    .await;
    RunningShoal {
        child,
        proxy,
        admin,
        logs: drain(stderr),
    }
}

/// Keeps reading the rest of a pipe in the background (so the child never blocks on it);
/// the task ends with every line once the pipe closes.
pub(super) fn drain<R: AsyncRead + Unpin + Send + 'static>(
    mut lines: Lines<BufReader<R>>,
) -> JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        // Bounded by the pipe: it closes when the process exits.
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(strip_ansi(&line));
        }
        all
    })
}

/// Removes ANSI colour sequences (`ESC [ ... letter`), in case logs are coloured anyway.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn valid_config(backend: SocketAddr) -> String {
    format!(
        "[server]\nworkers = 1\ngrace_period = \"2s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [upstreams.app]\nbackends = [\"{backend}\"]\n"
    )
}

/// Five problems of different kinds, one per line noted next to it.
const BAD_CONFIG: &str = "[server]\n\
workers = 0\n\
\n\
[listeners.web]\n\
bind = \"127.0.0.1:0\"\n\
protocl = \"http\"\n\
\n\
[[listeners.web.routes]]\n\
upstream = \"apii\"\n\
\n\
[upstreams.api]\n\
backends = [\"10.0.0:80\", \"127.0.0.1:9001\", \"127.0.0.1:9001\"]\n\
retries = 99\n";

/// (path, line, a word of the message) for each problem in [`BAD_CONFIG`].
const BAD_PROBLEMS: [(&str, u32, &str); 6] = [
    ("server.workers", 2, "between 1 and 1024"),
    ("listeners.web.protocl", 6, "did you mean \"protocol\""),
    ("listeners.web.routes[0].upstream", 9, "apii"),
    ("upstreams.api.backends[0]", 12, "10.0.0:80"),
    ("upstreams.api.backends[2]", 12, "listed twice"),
    ("upstreams.api.retries", 13, "99"),
];

fn assert_every_problem(stderr: &str) {
    for (path, line, word) in BAD_PROBLEMS {
        let prefix = format!("{path} (line {line}): ");
        let found = stderr
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no problem reported as {prefix:?}:\n{stderr}"));
        assert!(found.contains(word), "{found:?} should mention {word:?}");
    }
    assert!(
        stderr.contains(&format!("{} problem(s)", BAD_PROBLEMS.len())),
        "the count of problems is announced:\n{stderr}"
    );
}

#[tokio::test]
async fn check_accepts_a_valid_file_and_prints_the_summary() {
    let path = write_file(
        "check_valid",
        "shoal.toml",
        &valid_config("192.0.2.10:9009".parse().expect("addr")),
    );
    let path_text = path.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = run_to_end(&["check", "--config", path_text]).await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(format!("{path_text}: ok").as_str()));
    for expected in [
        "listener web",
        "upstream app",
        "192.0.2.10:9009",
        "round_robin",
        "-> app",
    ] {
        assert!(
            stdout.contains(expected),
            "summary lacks {expected:?}:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn check_reports_every_problem_with_path_and_line_and_exits_2() {
    let path = write_file("check_bad", "bad.toml", BAD_CONFIG);
    let path_text = path.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = run_to_end(&["check", "-c", path_text]).await;
    assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
    assert_every_problem(&stderr);
    assert!(stderr.starts_with(path_text), "{stderr}");
}

#[tokio::test]
async fn check_of_a_missing_file_exits_2() {
    let path = test_dir("check_missing").join("nope.toml");
    let path_text = path.to_str().expect("utf-8 path");
    let (code, _stdout, stderr) = run_to_end(&["check", "-c", path_text]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nope.toml"), "names the file: {stderr}");
}

#[tokio::test]
async fn run_refuses_a_bad_file_with_exit_2() {
    let path = write_file("run_bad", "bad.toml", BAD_CONFIG);
    let (code, _stdout, stderr) =
        run_to_end(&["run", "-c", path.to_str().expect("utf-8 path")]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_every_problem(&stderr);
    assert!(stderr.contains("not starting"), "{stderr}");
}

#[tokio::test]
async fn run_serves_then_stops_on_sigterm_with_exit_0() {
    let backend = TestBackend::http().name("b").await;
    let path = write_file("run_ok", "shoal.toml", &valid_config(backend.addr()));
    let mut child = shoal(&["run", "-c", path.to_str().expect("utf-8 path")])
        .spawn()
        .expect("spawn shoal run");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let addr: SocketAddr = read_until(&mut stderr, &mut seen, |line| {
        if !line.contains("listening") {
            return None;
        }
        let rest = line.split("addr=").nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    })
    .await;
    let rest = drain(stderr);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "the log names the real port");

    let client = TestClient::http1();
    let response = get(&client, &format!("http://{addr}/via-run")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.backend(), Some("b"));
    assert_eq!(backend.last_request().expect("recorded").uri, "/via-run");

    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    let rest = tokio::time::timeout(PROCESS_TIMEOUT, rest)
        .await
        .expect("stderr closes with the process")
        .expect("drain task");
    assert_eq!(status.code(), Some(0), "stderr: {seen:#?} {rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("stopped")),
        "a graceful stop is logged: {rest:#?}"
    );
}

#[tokio::test]
async fn echo_prints_its_address_first_and_serves() {
    let mut child = shoal(&["echo", "--listen", "127.0.0.1:0", "--name", "e1"])
        .spawn()
        .expect("spawn shoal echo");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(PROCESS_TIMEOUT, stdout.next_line())
        .await
        .expect("first line in time")
        .expect("read")
        .expect("a first line");
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line is {first:?}"))
        .parse()
        .expect("an address");
    let _rest = drain(stdout);

    let response = get(&TestClient::http1(), &format!("http://{addr}/x?y=1")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.backend(), Some("e1"));
    let json: Value = response.json().expect("json");
    assert_eq!(json["backend"], "e1");
    assert_eq!(json["path"], "/x");
    assert_eq!(json["query"], "y=1");
    assert_eq!(json["method"], "GET");

    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
}

/// Kills leftover processes if the test fails midway.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
}

/// Pids whose parent is `parent`, from `/proc/*/stat`.
fn children_of(parent: u32) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
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

#[tokio::test]
async fn demo_autoscales_its_backends_and_stops_them_on_sigint() {
    let mut child = shoal(&["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .spawn()
        .expect("spawn shoal demo");
    let demo_pid = child.id().expect("pid");
    let mut guard = KillOnDrop(Vec::new());
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let _stderr = drain(BufReader::new(child.stderr.take().expect("stderr")).lines());
    let mut seen = Vec::new();
    let addr_after = |prefix: &'static str| {
        move |line: &str| -> Option<SocketAddr> {
            line.strip_prefix(prefix)?.split('/').next()?.parse().ok()
        }
    };
    let shoal_addr = read_until(&mut stdout, &mut seen, addr_after("  shoal      http://")).await;
    let admin_addr = read_until(&mut stdout, &mut seen, addr_after("  admin API  http://")).await;
    let mut backends = Vec::new();
    for _ in 0..2 {
        let backend: SocketAddr = read_until(&mut stdout, &mut seen, |line| {
            let rest = line.strip_prefix("  backend ")?;
            rest.split("http://")
                .nth(1)?
                .split('/')
                .next()?
                .parse()
                .ok()
        })
        .await;
        backends.push(backend);
    }
    let load_hint = read_until(&mut stdout, &mut seen, |line| {
        line.contains("shoal load http://")
            .then(|| line.to_string())
    })
    .await;
    assert!(load_hint.contains(&shoal_addr.to_string()), "{load_hint}");
    let _rest = drain(stdout);
    assert_ne!(shoal_addr.port(), 0);

    // The fleet: min 2 process instances, children of shoal.
    let children = children_of(demo_pid);
    guard.0.extend(&children);
    assert_eq!(children.len(), 2, "two backend processes: {children:?}");

    let client = TestClient::http1();
    let mut names = Vec::new();
    for _ in 0..4 {
        let response = get(&client, &format!("http://{shoal_addr}/")).await;
        assert_eq!(response.status, 200);
        let json: Value = response.json().expect("echo json");
        assert_eq!(
            Some(json["backend"].as_str().expect("name")),
            response.backend()
        );
        names.push(response.backend().expect("x-backend").to_string());
    }
    assert_ne!(
        names[0], names[1],
        "round robin over two backends: {names:?}"
    );
    assert_eq!(names[0], names[2], "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("demo-")), "{names:?}");

    // The autoscaler is on, as the welcome says.
    let autoscale = get(
        &client,
        &format!("http://{admin_addr}/api/v1/upstreams/demo/autoscale"),
    )
    .await;
    assert_eq!(autoscale.status, 200, "{}", autoscale.text());
    let view: Value = autoscale.json().expect("json");
    assert_eq!(
        (view["min"].as_u64(), view["max"].as_u64()),
        (Some(2), Some(8))
    );
    assert_eq!(view["provider"], "process");

    signal(&child, Signal::SIGINT);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    for pid in &children {
        assert!(!alive(*pid), "backend process {pid} still running");
    }
    assert_eq!(backends.len(), 2);
}
