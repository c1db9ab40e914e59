//! [`AdminShoal`]: a real `shoal run` with the admin API on `127.0.0.1:0` (optionally with a
//! token) in front of two test backends, for the dashboard and `shoal ctl` tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use shoal_test_support::{TestBackend, TestClient};
use tokio::process::Child;
use tokio::task::JoinHandle;

use crate::cli::{signal, wait_exit, write_file};

pub struct AdminShoal {
    child: Child,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub a: TestBackend,
    pub b: TestBackend,
    /// The token file, when started with a token.
    pub token_file: Option<PathBuf>,
    logs: JoinHandle<Vec<String>>,
}

impl AdminShoal {
    /// Starts `shoal run` for test `test`; with `token`, the admin API requires it.
    pub async fn start(test: &str, token: Option<&str>) -> AdminShoal {
        let a = TestBackend::http().name("a").await;
        let b = TestBackend::http().name("b").await;
        let token_file = token.map(|t| write_file(test, "admin.token", &format!("{t}\n")));
        let token_line = token_file
            .as_ref()
            .map(|p| format!("token_file = \"{}\"\n", p.display()))
            .unwrap_or_default();
        let config = format!(
            "[server]\nworkers = 1\ngrace_period = \"1s\"\n\n\
             [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
             [[listeners.web.routes]]\nupstream = \"app\"\n\n\
             [upstreams.app]\nbackends = [\"{}\", \"{}\"]\n\n\
             [admin]\nbind = \"127.0.0.1:0\"\n{token_line}",
            a.addr(),
            b.addr()
        );
        let path = write_file(test, "shoal.toml", &config);
        let crate::cli::RunningShoal {
            child,
            proxy,
            admin,
            logs,
        } = crate::cli::run_with_admin(&path).await;
        AdminShoal {
            child,
            proxy,
            admin,
            a,
            b,
            token_file,
            logs,
        }
    }

    /// `http://ADMIN`.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// Sends requests through the proxy until the returned flag is set (at most `limit`
    /// requests, one every 20 ms), so rates and charts have something to show.
    pub fn traffic(&self, limit: usize) -> (Arc<AtomicBool>, JoinHandle<usize>) {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let url = format!("http://{}/", self.proxy);
        let task = tokio::spawn(async move {
            let client = TestClient::http1();
            let mut sent = 0;
            while sent < limit && !flag.load(Ordering::Relaxed) {
                let _ = client.get(&url).await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        });
        (stop, task)
    }

    /// SIGTERM, then waits for a clean exit; returns shoal's log lines.
    pub async fn stop(mut self) -> Vec<String> {
        signal(&self.child, Signal::SIGTERM);
        let status = wait_exit(&mut self.child).await;
        assert!(status.success(), "shoal exited with {status}");
        self.logs.await.unwrap_or_default()
    }
}
