//! `TestProxy`: shoal's data plane started in-process from a TOML string, on real sockets.

use std::net::SocketAddr;

use shoal_config::Config;
use shoal_proxy::ProxyHandle;

/// A running shoal. Listeners should bind `127.0.0.1:0`; their real ports are known after
/// start. Dropping it stops the workers.
pub struct TestProxy {
    handle: Option<ProxyHandle>,
}

impl TestProxy {
    /// Starts shoal from a config text. Panics (failing the test) with every config error.
    pub fn start(toml: &str) -> TestProxy {
        let config = match Config::from_toml_str(toml) {
            Ok(c) => c,
            Err(e) => panic!("test config is invalid:\n{e}\n--- config ---\n{toml}"),
        };
        let handle = ProxyHandle::start(&config).unwrap_or_else(|e| panic!("proxy start: {e}"));
        TestProxy {
            handle: Some(handle),
        }
    }

    /// One listener `web` routing everything to upstream `app` with `algorithm` over
    /// `backends`; `extra` is appended to the upstream table (e.g. `retries = 0`).
    pub fn with_upstream(algorithm: &str, backends: &[SocketAddr], extra: &str) -> TestProxy {
        TestProxy::start(&Self::config_text(algorithm, backends, extra))
    }

    /// The config text [`TestProxy::with_upstream`] starts from.
    pub fn config_text(algorithm: &str, backends: &[SocketAddr], extra: &str) -> String {
        let list: Vec<String> = backends.iter().map(|a| format!("\"{a}\"")).collect();
        format!(
            r#"
[server]
workers = 2
grace_period = "5s"

[listeners.web]
bind = "127.0.0.1:0"
protocol = "http"

[[listeners.web.routes]]
upstream = "app"

[upstreams.app]
algorithm = "{algorithm}"
backends = [{}]
{extra}
"#,
            list.join(", ")
        )
    }

    fn handle(&self) -> &ProxyHandle {
        self.handle.as_ref().expect("proxy is running")
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.handle()
            .listener_addrs()
            .first()
            .map(|(_, a)| *a)
            .expect("the config has a listener")
    }

    /// Listener `name`'s address.
    pub fn listener(&self, name: &str) -> SocketAddr {
        self.handle()
            .listener_addr(name)
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    /// `http://ADDR{path}` on the first listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Swaps in a new config (listeners stay as bound).
    pub fn reload(&self, toml: &str) {
        let config = Config::from_toml_str(toml).unwrap_or_else(|e| panic!("reload config: {e}"));
        self.handle()
            .reload(&config)
            .unwrap_or_else(|e| panic!("reload: {e}"));
    }

    /// The running data plane, for tests that need more.
    pub fn proxy(&self) -> &ProxyHandle {
        self.handle()
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        self.handle().shutdown();
    }

    /// Graceful shutdown; returns when every worker has exited.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await;
        }
    }
}
