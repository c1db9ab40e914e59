//! The `process` provider: instances are local processes shoal runs itself, each on a free
//! port of the configured range (`127.0.0.1:{port}`).
//!
//! - It keeps `target` instances alive: one that exits is replaced at once (with a growing
//!   delay when instances keep dying young, so a broken command cannot fork-bomb), one that
//!   does not accept connections within `start_timeout` is killed and replaced.
//! - An instance is reported up once its port accepts a connection; the reconciler then makes
//!   it a backend (health checks and slow start apply from there).
//! - Scale-in marks the most recently started least-loaded instances as leaving; the
//!   reconciler drains them and calls [`ProcessProvider::release`], which sends SIGTERM to the
//!   instance's process group and SIGKILL after `stop_timeout`.
//! - stdout and stderr are logged line by line with the instance id.
//! - Each instance runs in its own process group (a terminal's Ctrl-C reaches shoal only,
//!   which drains before stopping them), is killed if its handle is dropped, and through
//!   [`crate::child_guard`] gets SIGKILL from the kernel if shoal dies any other way.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use shoal_config::ProcessProviderConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use crate::child_guard::EXEC_GUARDED;
use crate::proc_stat::CpuMeter;

/// Longest line of an instance's output logged as one line.
const MAX_LINE: u64 = 8 * 1024;
/// How long the port check waits for a connect.
const PORT_CHECK: Duration = Duration::from_millis(100);
/// An instance up this long proves the command works: the restart delay resets.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Restart delays: 100 ms doubling up to 30 s while instances keep dying young.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// An instance as the reconciler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub addr: SocketAddr,
    /// Accepting connections (may become a backend).
    pub up: bool,
    /// Asked to go (scale-in): drain it, then release it.
    pub leaving: bool,
    pub pid: Option<u32>,
    pub cpu_percent: Option<f64>,
}

struct Instance {
    id: String,
    addr: SocketAddr,
    child: Child,
    pid: Option<u32>,
    started: Instant,
    up: bool,
    leaving: bool,
    cpu: CpuMeter,
    cpu_percent: Option<f64>,
}

pub struct ProcessProvider {
    upstream: String,
    config: ProcessProviderConfig,
    /// `shoal` itself, to start instances through `exec-guarded`; `None` starts the command
    /// directly (no parent-death signal: for embedders that are not the shoal binary).
    launcher: Option<PathBuf>,
    target: u32,
    next_id: u64,
    instances: Vec<Instance>,
    stopping: JoinSet<()>,
    /// Instances that died young in a row, and when the next may start.
    failures: u32,
    next_spawn: Instant,
    next_port: u16,
}

impl ProcessProvider {
    pub fn new(
        upstream: &str,
        config: ProcessProviderConfig,
        launcher: Option<PathBuf>,
    ) -> ProcessProvider {
        let next_port = config.ports.0;
        ProcessProvider {
            upstream: upstream.to_string(),
            config,
            launcher,
            target: 0,
            next_id: 0,
            instances: Vec::new(),
            stopping: JoinSet::new(),
            failures: 0,
            next_spawn: Instant::now(),
            next_port,
        }
    }

    /// Instances asked for and not leaving (starting ones included).
    pub fn current(&self) -> u32 {
        let live = self.instances.iter().filter(|i| !i.leaving).count();
        u32::try_from(live).unwrap_or(u32::MAX)
    }

    /// Asks for `count` instances. Fewer than now: `in_flight` (a backend's requests under
    /// way) picks who leaves — the least loaded, the most recently started first.
    pub fn scale_to(&mut self, count: u32, in_flight: impl Fn(SocketAddr) -> u32) {
        self.target = count;
        let live = self.current();
        if live <= count {
            return;
        }
        let mut candidates: Vec<usize> = (0..self.instances.len())
            .filter(|&i| !self.instances[i].leaving)
            .collect();
        candidates.sort_by_key(|&i| {
            let inst = &self.instances[i];
            // Not up yet = not serving anything: those go first.
            let load = if inst.up { in_flight(inst.addr) } else { 0 };
            (inst.up, load, std::cmp::Reverse(inst.started))
        });
        for &i in candidates.iter().take((live - count) as usize) {
            let inst = &mut self.instances[i];
            inst.leaving = true;
            tracing::info!(upstream = %self.upstream, instance = %inst.id, backend = %inst.addr, "instance chosen for scale-in");
        }
    }

    /// Reaps exits, checks starting instances, measures CPU (`measure`), and starts
    /// replacements. Returns every instance.
    pub async fn poll(&mut self, now: Instant, measure: bool) -> Vec<Member> {
        self.reap(now);
        self.check_starting(now).await;
        if measure {
            for inst in &mut self.instances {
                inst.cpu_percent = inst.pid.and_then(|pid| inst.cpu.sample(pid, now));
            }
        }
        if self
            .instances
            .iter()
            .any(|i| i.up && !i.leaving && now.saturating_duration_since(i.started) >= STABLE_AFTER)
        {
            self.failures = 0;
        }
        self.top_up(now);
        // Finished stop tasks.
        while self.stopping.try_join_next().is_some() {}
        self.members()
    }

    pub fn members(&self) -> Vec<Member> {
        self.instances
            .iter()
            .map(|i| Member {
                id: i.id.clone(),
                addr: i.addr,
                up: i.up,
                leaving: i.leaving,
                pid: i.pid,
                cpu_percent: i.cpu_percent,
            })
            .collect()
    }

    /// The reconciler is done with this instance (drained and removed, or never a backend):
    /// stop it.
    pub fn release(&mut self, addr: SocketAddr) {
        if let Some(pos) = self.instances.iter().position(|i| i.addr == addr) {
            let inst = self.instances.remove(pos);
            self.stop(inst, "scaled in");
        }
    }

    /// The instance is alive but its liveness check fails: stop it; a new one replaces it.
    pub fn restart(&mut self, addr: SocketAddr) {
        if let Some(pos) = self.instances.iter().position(|i| i.addr == addr) {
            let inst = self.instances.remove(pos);
            tracing::warn!(upstream = %self.upstream, instance = %inst.id, backend = %addr, "liveness failing: restarting the instance");
            self.stop(inst, "liveness failing");
        }
    }

    /// Stops every instance (SIGTERM, then SIGKILL after `stop_timeout`) and waits.
    pub async fn shutdown(&mut self) {
        self.target = 0;
        for inst in std::mem::take(&mut self.instances) {
            self.stop(inst, "shoal stopping");
        }
        while self.stopping.join_next().await.is_some() {}
    }

    fn stop(&mut self, inst: Instance, why: &'static str) {
        let grace = self.config.stop_timeout;
        let upstream = self.upstream.clone();
        self.stopping.spawn(stop_instance(
            inst.child, inst.pid, inst.id, upstream, grace, why,
        ));
    }

    fn reap(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.instances.len() {
            let exited = match self.instances[i].child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(format!("cannot be waited for: {e}")),
            };
            let Some(status) = exited else {
                i += 1;
                continue;
            };
            let inst = self.instances.remove(i);
            let lived = now.saturating_duration_since(inst.started);
            if inst.leaving {
                tracing::info!(upstream = %self.upstream, instance = %inst.id, %status, "instance exited while leaving");
                continue;
            }
            tracing::warn!(upstream = %self.upstream, instance = %inst.id, backend = %inst.addr, %status, lived = ?lived, "instance exited: replacing it");
            if !inst.up || lived < STABLE_AFTER {
                self.failed(now);
            }
        }
    }

    fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let delay = FIRST_RETRY
            .saturating_mul(1u32 << self.failures.min(16).saturating_sub(1))
            .min(MAX_RETRY);
        self.next_spawn = now + delay;
    }

    async fn check_starting(&mut self, now: Instant) {
        let timeout = self.config.start_timeout;
        let mut i = 0;
        while i < self.instances.len() {
            let inst = &mut self.instances[i];
            if inst.up {
                i += 1;
                continue;
            }
            let accepting = matches!(
                tokio::time::timeout(PORT_CHECK, tokio::net::TcpStream::connect(inst.addr)).await,
                Ok(Ok(_))
            );
            if accepting {
                inst.up = true;
                tracing::info!(upstream = %self.upstream, instance = %inst.id, backend = %inst.addr, "instance accepting connections");
                i += 1;
                continue;
            }
            if now.saturating_duration_since(inst.started) > timeout {
                let inst = self.instances.remove(i);
                tracing::warn!(upstream = %self.upstream, instance = %inst.id, backend = %inst.addr, start_timeout = ?timeout, "instance not accepting connections in time: replacing it");
                self.stop(inst, "start timeout");
                self.failed(now);
                continue;
            }
            i += 1;
        }
    }

    fn top_up(&mut self, now: Instant) {
        while self.current() < self.target && now >= self.next_spawn {
            if let Err(e) = self.spawn(now) {
                tracing::error!(upstream = %self.upstream, error = %e, "cannot start an instance");
                self.failed(now);
                break;
            }
        }
    }

    /// A port of the range that no instance of ours has and nothing else is bound to.
    fn free_port(&mut self) -> Option<u16> {
        let (low, high) = self.config.ports;
        let size = u32::from(high - low) + 1;
        for _ in 0..size {
            let port = self.next_port;
            self.next_port = if port >= high { low } else { port + 1 };
            if self.instances.iter().any(|i| i.addr.port() == port) {
                continue;
            }
            if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Some(port);
            }
        }
        None
    }

    fn spawn(&mut self, now: Instant) -> Result<(), String> {
        let port = self.free_port().ok_or_else(|| {
            format!(
                "no free port in {}-{}",
                self.config.ports.0, self.config.ports.1
            )
        })?;
        self.next_id += 1;
        let id = format!("{}-{}", self.upstream, self.next_id);
        let argv: Vec<String> = self
            .config
            .command
            .iter()
            .map(|a| {
                a.replace("{port}", &port.to_string())
                    .replace("{id}", &id)
                    .replace("{upstream}", &self.upstream)
            })
            .collect();
        let (program, args) = argv.split_first().ok_or("empty command")?;
        let mut command = match &self.launcher {
            Some(shoal) => {
                let mut c = Command::new(shoal);
                c.arg(EXEC_GUARDED)
                    .arg("--parent")
                    .arg(std::process::id().to_string())
                    .arg("--")
                    .args(&argv);
                c
            }
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        };
        command
            .envs(
                self.config
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {program:?}: {e}"))?;
        let pid = child.id();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(log_lines(out, self.upstream.clone(), id.clone(), "stdout"));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(log_lines(err, self.upstream.clone(), id.clone(), "stderr"));
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        tracing::info!(upstream = %self.upstream, instance = %id, backend = %addr, pid = ?pid, "instance started");
        self.instances.push(Instance {
            id,
            addr,
            child,
            pid,
            started: now,
            up: false,
            leaving: false,
            cpu: CpuMeter::default(),
            cpu_percent: None,
        });
        Ok(())
    }
}

/// SIGTERM to the instance's process group; SIGKILL to the group if it has not exited
/// within `grace`.
async fn stop_instance(
    mut child: Child,
    pid: Option<u32>,
    id: String,
    upstream: String,
    grace: Duration,
    why: &'static str,
) {
    // The instance leads its own group (process_group(0)): its pid is the group id.
    let group = pid.and_then(|p| i32::try_from(p).ok()).map(Pid::from_raw);
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            tracing::info!(upstream = %upstream, instance = %id, %status, why, "instance stopped");
        }
        Err(_) => {
            // Still running, so the group id is still ours.
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            let _ = child.kill().await;
            tracing::warn!(upstream = %upstream, instance = %id, grace = ?grace, why, "instance did not stop in time: killed");
        }
    }
}

/// Logs an instance's output line by line (long lines in pieces), until the pipe closes.
async fn log_lines<R: AsyncRead + Unpin>(
    pipe: R,
    upstream: String,
    id: String,
    stream: &'static str,
) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                tracing::info!(upstream = %upstream, instance = %id, stream, "{text}");
            }
        }
    }
}
