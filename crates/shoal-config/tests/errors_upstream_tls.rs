//! `[upstreams.NAME] protocol` and `tls`: shapes and values from any text; the files (CA
//! bundle, client certificate and key) only when the config is loaded from a file, resolved
//! against its directory.

mod common;

use std::path::Path;

use common::{assert_error, assert_errors, BASE};
use shoal_config::{Config, ConfigError, TlsIdentity, UpstreamProtocol};
use shoal_test_support::{TempDir, TestCa};

/// BASE's upstream `api` (lines 5-6) plus `keys` from line 7.
fn upstream(keys: &str) -> String {
    format!("{BASE}{keys}\n")
}

#[test]
fn protocol_is_http1_or_h2() {
    let config = Config::from_toml_str(&upstream("protocol = \"h2\"")).expect("h2");
    assert_eq!(config.upstreams[0].protocol, UpstreamProtocol::H2);
    let config = Config::from_toml_str(&upstream("protocol = \"http1\"")).expect("http1");
    assert_eq!(config.upstreams[0].protocol, UpstreamProtocol::Http1);
    assert_error(
        &upstream("protocol = \"http2\""),
        "upstreams.api.protocol",
        7,
        "unknown protocol \"http2\" (accepted: http1, h2)",
    );
    assert_error(
        &upstream("protocol = 2"),
        "upstreams.api.protocol",
        7,
        "expected a string, found an integer",
    );
}

#[test]
fn tls_shapes_and_values() {
    let config = Config::from_toml_str(&upstream(
        "tls = { ca = \"ca.pem\", server_name = \"backend.internal\" }",
    ))
    .expect("valid");
    let tls = config.upstreams[0].tls.as_ref().expect("tls");
    assert_eq!(tls.ca, Path::new("ca.pem"));
    assert_eq!(tls.server_name.as_deref(), Some("backend.internal"));
    assert_eq!(tls.client_identity, None);

    assert_error(
        &upstream("tls = true"),
        "upstreams.api.tls",
        7,
        "expected a table, found a boolean",
    );
    assert_error(
        &upstream("tls = { server_name = \"a.internal\" }"),
        "upstreams.api.tls",
        7,
        "missing key \"ca\"",
    );
    assert_error(
        &upstream("tls = { ca = \"ca.pem\", verify = false }"),
        "upstreams.api.tls.verify",
        7,
        "unknown key \"verify\"",
    );
    assert_error(
        &upstream("tls = { ca = \"  \" }"),
        "upstreams.api.tls.ca",
        7,
        "ca is empty",
    );
    assert_error(
        &upstream("tls = { ca = \"ca.pem\", server_name = \"not a name\" }"),
        "upstreams.api.tls.server_name",
        7,
        "\"not a name\" is not a DNS name or an IP address",
    );
    let config = Config::from_toml_str(&upstream(
        "tls = { ca = \"ca.pem\", server_name = \"10.0.0.7\" }",
    ))
    .expect("an IP address is a server name");
    assert_eq!(
        config.upstreams[0]
            .tls
            .as_ref()
            .and_then(|t| t.server_name.as_deref()),
        Some("10.0.0.7")
    );
}

#[test]
fn client_cert_and_key_come_together() {
    let config = Config::from_toml_str(&upstream(
        "[upstreams.api.tls]\nca = \"ca.pem\"\nclient_cert = \"me.pem\"\nclient_key = \"me.key\"",
    ))
    .expect("valid");
    assert_eq!(
        config.upstreams[0]
            .tls
            .as_ref()
            .and_then(|t| t.client_identity.clone()),
        Some(TlsIdentity {
            cert: "me.pem".into(),
            key: "me.key".into(),
        })
    );
    assert_error(
        &upstream("[upstreams.api.tls]\nca = \"ca.pem\"\nclient_cert = \"me.pem\""),
        "upstreams.api.tls",
        7,
        "client_cert needs client_key",
    );
    assert_error(
        &upstream("[upstreams.api.tls]\nca = \"ca.pem\"\nclient_key = \"me.key\""),
        "upstreams.api.tls",
        7,
        "client_key needs client_cert",
    );
}

#[test]
fn a_tcp_listener_cannot_use_a_tls_or_h2_upstream() {
    let tcp = |keys: &str| {
        format!(
            "[listeners.db]\nbind = \"127.0.0.1:6380\"\nprotocol = \"tcp\"\nupstream = \"api\"\n\
             [upstreams.api]\nbackends = [\"127.0.0.1:9001\"]\n{keys}\n"
        )
    };
    assert_error(
        &tcp("tls = { ca = \"ca.pem\" }"),
        "listeners.db.upstream",
        4,
        "upstream \"api\" has tls, but a tcp listener relays bytes as they are",
    );
    assert_error(
        &tcp("protocol = \"h2\""),
        "listeners.db.upstream",
        4,
        "upstream \"api\" has protocol = \"h2\"",
    );
    assert!(Config::from_toml_str(&tcp("protocol = \"http1\"")).is_ok());
}

#[test]
fn from_toml_str_does_not_read_the_files() {
    let config = Config::from_toml_str(&upstream(
        "tls = { ca = \"/nonexistent/ca.pem\", client_cert = \"c.pem\", client_key = \"c.key\" }",
    ))
    .expect("paths are kept as written");
    let tls = config.upstreams[0].tls.as_ref().expect("tls");
    assert_eq!(tls.ca, Path::new("/nonexistent/ca.pem"));
}

/// Writes `config` as `shoal.toml` in `dir` and loads it.
fn load(dir: &TempDir, config: &str) -> Result<Config, Vec<ConfigError>> {
    let path = dir.write("shoal.toml", config);
    Config::load(&path).map_err(|e| e.0)
}

#[test]
fn load_resolves_paths_against_the_config_directory_and_checks_the_files() {
    let dir = TempDir::new("upstream-tls-load");
    let ca = TestCa::new();
    let client = ca.issue_client("shoal");
    dir.write("ca.pem", &ca.cert_pem());
    dir.write("shoal.pem", &client.cert_pem);
    dir.write("shoal.key", &client.key_pem);
    let config = load(
        &dir,
        &upstream(
            "tls = { ca = \"ca.pem\", client_cert = \"shoal.pem\", client_key = \"shoal.key\" }",
        ),
    )
    .expect("valid files");
    let tls = config.upstreams[0].tls.as_ref().expect("tls");
    assert_eq!(tls.ca, dir.path().join("ca.pem"));
    assert_eq!(
        tls.client_identity.as_ref().map(|i| i.key.clone()),
        Some(dir.path().join("shoal.key"))
    );
}

#[test]
fn load_reports_each_file_problem_at_its_key() {
    let dir = TempDir::new("upstream-tls-bad");
    let ca = TestCa::new();
    let one = ca.issue_client("one");
    let two = ca.issue_client("two");
    dir.write("ca.pem", &ca.cert_pem());
    dir.write("notes.txt", "no PEM in here\n");
    dir.write("one.pem", &one.cert_pem);
    dir.write("two.key", &two.key_pem);

    let errors = load(&dir, &upstream("tls = { ca = \"missing.pem\" }")).expect_err("missing");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].path.as_str(), errors[0].line),
        ("upstreams.api.tls.ca", Some(7))
    );
    assert!(errors[0].message.starts_with("cannot read "), "{errors:?}");
    assert!(errors[0].message.contains("missing.pem"), "{errors:?}");

    let errors = load(&dir, &upstream("tls = { ca = \"notes.txt\" }")).expect_err("not PEM");
    assert_eq!(errors[0].path, "upstreams.api.tls.ca");
    assert!(
        errors[0].message.ends_with("holds no certificate"),
        "{errors:?}"
    );

    let errors = load(
        &dir,
        &upstream(
            "[upstreams.api.tls]\nca = \"ca.pem\"\nclient_cert = \"one.pem\"\nclient_key = \"two.key\"",
        ),
    )
    .expect_err("mismatched key");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].path.as_str(), errors[0].line),
        ("upstreams.api.tls.client_key", Some(10))
    );
    assert!(
        errors[0].message.contains("cannot be used together"),
        "{errors:?}"
    );

    let errors = load(
        &dir,
        &upstream(
            "[upstreams.api.tls]\nca = \"ca.pem\"\nclient_cert = \"gone.pem\"\nclient_key = \"two.key\"",
        ),
    )
    .expect_err("missing client cert");
    assert_eq!(
        (errors[0].path.as_str(), errors[0].line),
        ("upstreams.api.tls.client_cert", Some(9))
    );

    // Problems elsewhere are reported in the same run.
    assert_errors(
        &upstream("tls = { ca = \"ca.pem\" }\nprotocol = \"spdy\"\nretries = 99"),
        &[
            (
                "upstreams.api.protocol",
                Some(8),
                "unknown protocol \"spdy\"",
            ),
            ("upstreams.api.retries", Some(9), "must be between 0 and 10"),
        ],
    );
}

/// The "TLS and HTTP/2 to backends" example in docs/config.md must stay valid.
#[test]
fn the_documented_example_is_valid() {
    let doc = include_str!("../../../docs/config.md");
    let start = doc
        .find("```toml\n[upstreams.grpc]")
        .expect("docs have an upstream TLS example")
        + "```toml\n".len();
    let len = doc[start..].find("```").expect("example is closed");
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:8080\"\nroutes = [{{ upstream = \"grpc\" }}]\n{}",
        &doc[start..start + len]
    );
    let config = Config::from_toml_str(&text).expect("documented example");
    let grpc = &config.upstreams[0];
    assert_eq!(grpc.protocol, UpstreamProtocol::H2);
    let tls = grpc.tls.as_ref().expect("tls");
    assert_eq!(tls.server_name.as_deref(), Some("grpc.internal"));
}
