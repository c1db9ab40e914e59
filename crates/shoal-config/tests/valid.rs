//! Valid files parse to exactly the `Config` they describe, with defaults filled in.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Method};
use shoal_config::*;
use shoal_core::{Algorithm, HashKey};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn full_example_parses_to_the_expected_config() {
    let config = Config::from_toml_str(common::full_example()).expect("valid");
    let expected = Config {
        server: ServerConfig {
            workers: 2,
            grace_period: Duration::from_secs(30),
        },
        listeners: vec![
            ListenerConfig {
                name: "web".into(),
                bind: addr("127.0.0.1:8080"),
                protocol: ListenerProtocol::Http,
                x_forwarded_for: ForwardedFor::Replace,
                header_read_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(90),
                max_header_bytes: 32768,
                routes: vec![
                    RouteConfig {
                        index: 0,
                        matcher: RouteMatch {
                            host: Some(HostMatch::Exact("api.example.com".into())),
                            path: Some(PathMatch::Prefix("/v1/".into())),
                            methods: vec![Method::GET, Method::POST],
                            headers: vec![(HeaderName::from_static("x-env"), "beta".into())],
                        },
                        target: RouteTarget::Upstream("api".into()),
                        rewrite: Some(Rewrite::ReplacePrefix {
                            from: "/v1/".into(),
                            to: "/v2/".into(),
                        }),
                        filters: vec![],
                    },
                    RouteConfig {
                        index: 1,
                        matcher: RouteMatch {
                            host: Some(HostMatch::Wildcard(".example.com".into())),
                            path: Some(PathMatch::Exact("/health".into())),
                            methods: vec![],
                            headers: vec![],
                        },
                        target: RouteTarget::Split(vec![
                            SplitEntry {
                                upstream: "api".into(),
                                weight: 95,
                            },
                            SplitEntry {
                                upstream: "api_next".into(),
                                weight: 5,
                            },
                        ]),
                        rewrite: Some(Rewrite::StripPrefix("/health".into())),
                        filters: vec![],
                    },
                    RouteConfig {
                        index: 2,
                        matcher: RouteMatch::default(),
                        target: RouteTarget::Upstream("api".into()),
                        rewrite: None,
                        filters: vec![],
                    },
                ],
                upstream: None,
                max_connections: Some(10000),
                proxy_protocol: None,
                accept_proxy_protocol: None,
                sni: Vec::new(),
                tls: None,
                redirect_https: None,
            },
            ListenerConfig {
                name: "admin".into(),
                bind: addr("[::1]:9090"),
                protocol: ListenerProtocol::Http,
                x_forwarded_for: ForwardedFor::Append,
                header_read_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_header_bytes: 65536,
                routes: vec![RouteConfig {
                    index: 0,
                    matcher: RouteMatch::default(),
                    target: RouteTarget::Upstream("api_next".into()),
                    rewrite: None,
                    filters: vec![],
                }],
                upstream: None,
                max_connections: None,
                proxy_protocol: None,
                accept_proxy_protocol: None,
                sni: Vec::new(),
                tls: None,
                redirect_https: None,
            },
            ListenerConfig {
                name: "db".into(),
                bind: addr("127.0.0.1:6380"),
                protocol: ListenerProtocol::Tcp,
                x_forwarded_for: ForwardedFor::Append,
                header_read_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(600),
                max_header_bytes: 65536,
                routes: vec![],
                upstream: Some("api_next".into()),
                max_connections: Some(5000),
                proxy_protocol: None,
                accept_proxy_protocol: None,
                sni: Vec::new(),
                tls: None,
                redirect_https: None,
            },
        ],
        upstreams: vec![
            UpstreamConfig {
                name: "api".into(),
                algorithm: Algorithm::RingHash,
                backends: vec![
                    BackendConfig {
                        addr: addr("127.0.0.1:9001"),
                        weight: 1,
                    },
                    BackendConfig {
                        addr: addr("127.0.0.1:9002"),
                        weight: 3,
                    },
                ],
                hash_key: Some(HashKey::Header("x-user-id".into())),
                hash_balance_factor: Some(1.25),
                virtual_nodes: 100,
                maglev_table_size: 65537,
                connect_timeout: Duration::from_secs(2),
                response_timeout: Duration::from_secs(10),
                retries: 3,
                retry_backoff: Duration::from_millis(50),
                keepalive_timeout: Duration::from_secs(30),
                max_idle_connections: 64,
                protocol: UpstreamProtocol::H2,
                // from_toml_str keeps paths as written; only `load` resolves and reads them.
                tls: Some(UpstreamTls {
                    ca: "certs/backend-ca.pem".into(),
                    server_name: Some("api.internal".into()),
                    client_identity: Some(TlsIdentity {
                        cert: "certs/shoal.pem".into(),
                        key: "certs/shoal.key".into(),
                    }),
                }),
                health: Some(HealthConfig {
                    kind: HealthCheckKind::Http,
                    path: "/ready?deep=1".into(),
                    liveness_path: Some("/live".into()),
                    interval: Duration::from_secs(2),
                    timeout: Duration::from_millis(500),
                    rise: 1,
                    fall: 5,
                    expect_status: (200, 299),
                    host: Some("api.internal".into()),
                    wait_for_first_check: false,
                }),
                outlier: OutlierConfig {
                    consecutive_5xx: 3,
                    consecutive_gateway_failures: 0,
                    base_ejection_time: Duration::from_secs(10),
                    max_ejection_time: Duration::from_secs(120),
                    max_ejection_percent: 34,
                },
                panic_threshold: 30,
                slow_start: Some(Duration::from_secs(60)),
                drain_timeout: Duration::from_secs(10),
                ws_idle_timeout: Duration::from_secs(900),
                sticky: None,
                autoscale: None,
            },
            UpstreamConfig {
                name: "api_next".into(),
                algorithm: Algorithm::Maglev,
                backends: vec![
                    BackendConfig {
                        addr: addr("10.0.0.1:80"),
                        weight: 1,
                    },
                    BackendConfig {
                        addr: addr("10.0.0.2:80"),
                        weight: 1,
                    },
                ],
                hash_key: None,
                hash_balance_factor: None,
                virtual_nodes: 160,
                maglev_table_size: 131071,
                connect_timeout: Duration::from_secs(1),
                response_timeout: Duration::from_secs(30),
                retries: 2,
                retry_backoff: Duration::from_millis(25),
                keepalive_timeout: Duration::from_secs(60),
                max_idle_connections: 128,
                protocol: UpstreamProtocol::Http1,
                tls: None,
                health: Some(HealthConfig {
                    kind: HealthCheckKind::Tcp,
                    path: "/health/ready".into(),
                    liveness_path: None,
                    interval: Duration::from_secs(10),
                    timeout: Duration::from_secs(1),
                    rise: 2,
                    fall: 3,
                    expect_status: (200, 399),
                    host: None,
                    wait_for_first_check: true,
                }),
                outlier: OutlierConfig {
                    consecutive_5xx: 0,
                    consecutive_gateway_failures: 0,
                    ..OutlierConfig::default()
                },
                panic_threshold: 50,
                slow_start: None,
                drain_timeout: Duration::from_secs(30),
                ws_idle_timeout: Duration::from_secs(3600),
                sticky: None,
                autoscale: None,
            },
        ],
        admin: Some(AdminConfig {
            bind: addr("127.0.0.1:9091"),
            // from_toml_str keeps the path as written; only `load` resolves it.
            token_file: Some("secrets/admin.token".into()),
        }),
        access_log: Some(AccessLogConfig {
            // Like token_file: resolved against the config's directory only by `load`.
            target: AccessLogTarget::File("logs/access.log".into()),
            format: AccessLogFormat::Combined,
            sample: 0.25,
        }),
        filters: vec![],
    };
    assert_eq!(config, expected);
}

#[test]
fn minimal_config_gets_every_default() {
    let config = Config::from_toml_str(common::BASE).expect("valid");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        config.server,
        ServerConfig {
            workers: cores,
            grace_period: Duration::from_secs(30),
        }
    );
    let listener = &config.listeners[0];
    assert_eq!(listener.protocol, ListenerProtocol::Http);
    assert_eq!(listener.x_forwarded_for, ForwardedFor::Append);
    assert_eq!(listener.header_read_timeout, Duration::from_secs(10));
    assert_eq!(listener.idle_timeout, Duration::from_secs(60));
    assert_eq!(listener.max_header_bytes, 65536);
    assert_eq!(listener.upstream, None);
    assert_eq!(listener.max_connections, None);
    assert_eq!(listener.routes[0].matcher, RouteMatch::default());
    assert_eq!(listener.routes[0].rewrite, None);
    let upstream = config.upstream("api").expect("defined");
    assert_eq!(upstream.algorithm, Algorithm::RoundRobin);
    assert_eq!(upstream.backends[0].weight, 1);
    assert_eq!(upstream.hash_key, None);
    assert_eq!(upstream.hash_balance_factor, None);
    assert_eq!(upstream.virtual_nodes, 160);
    assert_eq!(upstream.maglev_table_size, 65537);
    assert_eq!(upstream.connect_timeout, Duration::from_secs(1));
    assert_eq!(upstream.response_timeout, Duration::from_secs(30));
    assert_eq!(upstream.retries, 2);
    assert_eq!(upstream.retry_backoff, Duration::from_millis(25));
    assert_eq!(upstream.keepalive_timeout, Duration::from_secs(60));
    assert_eq!(upstream.max_idle_connections, 128);
    assert_eq!(upstream.protocol, UpstreamProtocol::Http1);
    assert_eq!(upstream.tls, None);
    assert_eq!(upstream.health, None);
    assert_eq!(upstream.outlier, OutlierConfig::default());
    assert_eq!(
        upstream.outlier,
        OutlierConfig {
            consecutive_5xx: 5,
            consecutive_gateway_failures: 5,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    );
    assert_eq!(upstream.panic_threshold, 50);
    assert_eq!(upstream.slow_start, None);
    assert_eq!(upstream.drain_timeout, Duration::from_secs(30));
    assert_eq!(upstream.ws_idle_timeout, Duration::from_secs(3600));
    assert_eq!(config.admin, None);
}

#[test]
fn empty_health_and_admin_tables_get_every_default() {
    let text = format!(
        "[admin]\n{}[upstreams.api.health]\n[upstreams.api.outlier]\n",
        common::BASE
    );
    let config = Config::from_toml_str(&text).expect("valid");
    assert_eq!(
        config.admin,
        Some(AdminConfig {
            bind: addr("127.0.0.1:9090"),
            token_file: None,
        })
    );
    let upstream = &config.upstreams[0];
    assert_eq!(
        upstream.health,
        Some(HealthConfig {
            kind: HealthCheckKind::Http,
            path: "/health/ready".into(),
            liveness_path: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
            expect_status: (200, 399),
            host: None,
            wait_for_first_check: true,
        })
    );
    assert_eq!(upstream.outlier, OutlierConfig::default());
}

#[test]
fn health_edge_values_are_accepted() {
    let text = format!(
        "{}{}",
        common::BASE,
        r#"panic_threshold = 0
slow_start = "1ms"
health = { expect_status = 204, rise = 100, fall = 100, interval = "2ms", timeout = "1ms" }
outlier = { consecutive_5xx = 1000, base_ejection_time = "1s", max_ejection_time = "1s", max_ejection_percent = 100 }
"#
    );
    let config = Config::from_toml_str(&text).expect("valid");
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.panic_threshold, 0);
    assert_eq!(upstream.slow_start, Some(Duration::from_millis(1)));
    let health = upstream.health.as_ref().expect("health");
    assert_eq!(health.expect_status, (204, 204));
    assert_eq!((health.rise, health.fall), (100, 100));
    assert_eq!(upstream.outlier.consecutive_5xx, 1000);
    assert_eq!(upstream.outlier.max_ejection_time, Duration::from_secs(1));
    assert_eq!(upstream.outlier.max_ejection_percent, 100);
    for (status, range) in [("\"100-599\"", (100, 599)), ("\"503\"", (503, 503))] {
        let text = format!("{}health = {{ expect_status = {status} }}\n", common::BASE);
        let config = Config::from_toml_str(&text).expect("valid");
        let health = config.upstreams[0].health.as_ref().expect("health");
        assert_eq!(health.expect_status, range, "{status}");
    }
}

#[test]
fn a_non_loopback_admin_bind_is_fine_with_a_token_file() {
    for bind in ["0.0.0.0:9090", "[::]:9090", "10.0.0.1:9090"] {
        let text = format!(
            "[admin]\nbind = \"{bind}\"\ntoken_file = \"t\"\n{}",
            common::BASE
        );
        let config = Config::from_toml_str(&text).expect("valid");
        assert_eq!(config.admin.expect("admin").bind, addr(bind));
    }
    for bind in [
        "127.0.0.1:9090",
        "[::1]:9090",
        "127.0.0.2:1",
        "[::ffff:127.0.0.1]:9090",
        "127.0.0.1:0",
    ] {
        let text = format!("[admin]\nbind = \"{bind}\"\n{}", common::BASE);
        let config = Config::from_toml_str(&text).expect("loopback needs no token");
        assert_eq!(config.admin.expect("admin").token_file, None);
    }
}

#[test]
fn listeners_and_upstreams_keep_file_order() {
    let text = r#"
[upstreams.zeta]
backends = ["127.0.0.1:1"]
[listeners.zz]
bind = "127.0.0.1:0"
routes = [{ upstream = "alpha" }, { upstream = "zeta" }]
[upstreams.alpha]
backends = ["127.0.0.1:2"]
[listeners.aa]
bind = "127.0.0.1:0"
routes = [{ upstream = "zeta" }]
[upstreams.mid]
backends = ["127.0.0.1:3"]
"#;
    let config = Config::from_toml_str(text).expect("valid");
    let listeners: Vec<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
    let upstreams: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(listeners, ["zz", "aa"]);
    assert_eq!(upstreams, ["zeta", "alpha", "mid"]);
    let indexes: Vec<usize> = config.listeners[0].routes.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 1]);
}

#[test]
fn port_zero_binds_do_not_collide() {
    let text = r#"
[listeners.a]
bind = "127.0.0.1:0"
routes = [{ upstream = "api" }]
[listeners.b]
bind = "127.0.0.1:0"
routes = [{ upstream = "api" }]
[upstreams.api]
backends = ["127.0.0.1:9001"]
"#;
    let config = Config::from_toml_str(text).expect("valid");
    assert_eq!(config.listeners.len(), 2);
}

#[test]
fn match_values_are_normalised() {
    let text = format!(
        "{}{}",
        common::UPSTREAM_FIRST,
        r#"[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
upstream = "api"
[listeners.web.routes.match]
host = "*.Example.COM"
methods = ["get", "GET", "Purge"]
headers = { "X-Tenant" = "Acme Corp", x-b = "2" }
"#
    );
    let config = Config::from_toml_str(&text).expect("valid");
    let matcher = &config.listeners[0].routes[0].matcher;
    assert_eq!(
        matcher.host,
        Some(HostMatch::Wildcard(".example.com".into()))
    );
    let purge = Method::from_bytes(b"PURGE").expect("token");
    assert_eq!(matcher.methods, vec![Method::GET, purge]);
    assert_eq!(
        matcher.headers,
        vec![
            (HeaderName::from_static("x-tenant"), "Acme Corp".to_string()),
            (HeaderName::from_static("x-b"), "2".to_string()),
        ]
    );
}

#[test]
fn numbers_in_any_toml_spelling_are_accepted() {
    let text = format!(
        "{}{}",
        common::BASE,
        r#"hash_balance_factor = 2
algorithm = "maglev"
max_idle_connections = 0x10
retries = 1_0
maglev_table_size = 7
"#
    );
    let config = Config::from_toml_str(&text).expect("valid");
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.hash_balance_factor, Some(2.0));
    assert_eq!(upstream.max_idle_connections, 16);
    assert_eq!(upstream.retries, 10);
    assert_eq!(upstream.maglev_table_size, 7);
}

#[test]
fn zero_is_fine_where_it_means_something() {
    let text = format!(
        "[server]\ngrace_period = \"0s\"\n{}retry_backoff = \"0s\"\nretries = 0\nmax_idle_connections = 0\n",
        common::BASE
    );
    let config = Config::from_toml_str(&text).expect("valid");
    assert_eq!(config.server.grace_period, Duration::ZERO);
    assert_eq!(config.upstreams[0].retry_backoff, Duration::ZERO);
    assert_eq!(config.upstreams[0].retries, 0);
}

#[test]
fn load_reads_a_file() {
    let path = std::env::temp_dir().join(format!("shoal-config-{}.toml", std::process::id()));
    std::fs::write(&path, common::BASE).expect("write temp file");
    let loaded = Config::load(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        loaded.expect("valid"),
        Config::from_toml_str(common::BASE).expect("valid")
    );
}

/// A directory of its own under the temp dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("shoal-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_resolves_the_token_file_against_the_config_directory() {
    let dir = TempDir::new("token");
    std::fs::create_dir_all(dir.0.join("secrets")).expect("mkdir");
    std::fs::write(dir.0.join("secrets/admin.token"), "  s3cr3t-T0ken\n").expect("write token");
    let text = format!(
        "[admin]\nbind = \"0.0.0.0:9090\"\ntoken_file = \"secrets/admin.token\"\n{}",
        common::BASE
    );
    std::fs::write(dir.0.join("shoal.toml"), &text).expect("write config");
    let config = Config::load(&dir.0.join("shoal.toml")).expect("valid");
    let admin = config.admin.expect("admin");
    assert_eq!(admin.token_file, Some(dir.0.join("secrets/admin.token")));

    // An absolute path is kept as it is.
    let absolute = dir.0.join("secrets/admin.token");
    let text = format!(
        "[admin]\ntoken_file = {:?}\n{}",
        absolute.display().to_string(),
        common::BASE
    );
    std::fs::write(dir.0.join("abs.toml"), &text).expect("write config");
    let config = Config::load(&dir.0.join("abs.toml")).expect("valid");
    assert_eq!(config.admin.expect("admin").token_file, Some(absolute));

    // from_toml_str keeps the path as written and reads nothing.
    let config = Config::from_toml_str(&text).expect("valid");
    assert!(config.admin.expect("admin").token_file.is_some());
}

#[test]
fn load_reports_an_unreadable_file_as_one_error() {
    let path = std::path::Path::new("/nonexistent/shoal.toml");
    let errors = Config::load(path).expect_err("missing file");
    assert_eq!(errors.len(), 1);
    let error = &errors.0[0];
    assert_eq!(error.path, "");
    assert_eq!(error.line, None);
    assert!(error.message.contains("/nonexistent/shoal.toml"), "{error}");
}

#[test]
fn tcp_listener_defaults() {
    let text = format!(
        "{}[listeners.db]\nbind = \"127.0.0.1:6380\"\nprotocol = \"tcp\"\nupstream = \"api\"\n",
        common::UPSTREAM_FIRST
    );
    let config = Config::from_toml_str(&text).expect("valid");
    let listener = &config.listeners[0];
    assert_eq!(listener.protocol, ListenerProtocol::Tcp);
    assert_eq!(listener.upstream.as_deref(), Some("api"));
    assert_eq!(listener.routes, vec![]);
    assert_eq!(listener.idle_timeout, Duration::from_secs(60));
    assert_eq!(listener.max_connections, None);
}

/// The "TCP listeners" example in docs/config.md must stay valid.
#[test]
fn the_documented_tcp_example_is_valid() {
    let doc = include_str!("../../../docs/config.md");
    let start = doc
        .find("```toml\n[listeners.db]")
        .expect("docs have a tcp example")
        + "```toml\n".len();
    let len = doc[start..].find("```").expect("example is closed");
    let text = format!(
        "{}[upstreams.redis_shards]\nbackends = [\"127.0.0.1:7000\"]\n",
        &doc[start..start + len]
    );
    let config = Config::from_toml_str(&text).expect("documented tcp example");
    let db = &config.listeners[0];
    assert_eq!(db.protocol, ListenerProtocol::Tcp);
    assert_eq!(db.upstream.as_deref(), Some("redis_shards"));
    assert_eq!(db.idle_timeout, Duration::from_secs(600));
    assert_eq!(db.max_connections, Some(5000));
}

/// The example at the top of docs/config.md must stay valid.
#[test]
fn the_documented_example_is_valid() {
    let doc = include_str!("../../../docs/config.md");
    let start = doc.find("```toml\n").expect("docs have a toml example") + "```toml\n".len();
    let len = doc[start..].find("```").expect("example is closed");
    let config = Config::from_toml_str(&doc[start..start + len]).expect("documented example");
    assert_eq!(config.listeners[0].routes.len(), 2);
    assert_eq!(config.upstreams.len(), 2);
    assert!(config.admin.is_some());
    assert!(config.upstreams.iter().all(|u| u.health.is_some()));
}

/// The tour in README.md (its toml blocks, read together) must stay valid.
#[test]
fn the_readme_tour_is_valid() {
    let readme = include_str!("../../../README.md");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().expect("block is closed"))
        .collect();
    assert!(
        blocks.len() >= 2,
        "the README shows its config in toml blocks"
    );
    let config = Config::from_toml_str(&blocks.join("\n")).expect("README config");
    assert_eq!(config.upstreams.len(), 3);
    assert!(config.admin.is_some());
    assert!(config.upstreams[0].health.is_some());
    assert!(config.upstreams[0].sticky.is_some());
    assert_eq!(config.filters.len(), 4, "the gateway example");
    assert!(config
        .upstream("app")
        .is_some_and(|u| u.autoscale.is_some()));
}
