//! https listeners (`[listeners.NAME.tls]`) and `redirect_https`: what parses, what is
//! refused with its path and line, and the file checks `Config::load` adds (files resolved
//! against the config file's directory, certificates parsed, keys matched).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{assert_error, assert_errors, UPSTREAM_FIRST};
use shoal_config::{
    ClientAuth, Config, ConfigError, ListenerCertificate, ListenerProtocol, RedirectHttps,
};
use shoal_test_support::{TempDir, TestCa};

/// An https listener `secure` (line 3) whose `[listeners.secure.tls]` table starts on line 6
/// with `tls_lines`; its route follows.
fn https(tls_lines: &str) -> String {
    format!(
        "{UPSTREAM_FIRST}[listeners.secure]\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\
         [listeners.secure.tls]\n{tls_lines}\n\
         [[listeners.secure.routes]]\nupstream = \"api\"\n"
    )
}

const TWO_CERTS: &str =
    "certificates = [{ cert = \"certs/shop.pem\", key = \"certs/shop.key\" },\n\
                         { cert = \"certs/wild.pem\", key = \"certs/wild.key\" }]";

#[test]
fn an_https_listener_with_certificates_and_client_verification() {
    let text = https(&format!(
        "{TWO_CERTS}\nclient_ca = \"certs/clients.pem\"\nclient_auth = \"optional\"\n\
         handshake_timeout = \"3s\""
    ));
    let config = Config::from_toml_str(&text).expect("valid");
    let listener = &config.listeners[0];
    assert_eq!(listener.protocol, ListenerProtocol::Https);
    let tls = listener.tls.as_ref().expect("tls");
    assert_eq!(
        tls.certificates,
        vec![
            ListenerCertificate {
                cert: "certs/shop.pem".into(),
                key: "certs/shop.key".into(),
            },
            ListenerCertificate {
                cert: "certs/wild.pem".into(),
                key: "certs/wild.key".into(),
            },
        ],
        "from_toml_str keeps paths as written"
    );
    assert_eq!(tls.client_ca, Some(PathBuf::from("certs/clients.pem")));
    assert_eq!(tls.client_auth, ClientAuth::Optional);
    assert_eq!(tls.handshake_timeout, Duration::from_secs(3));
    assert_eq!(listener.routes.len(), 1);
    assert_eq!(listener.redirect_https, None);

    let summary = shoal_config::summary(&config);
    for line in [
        "  bind                 127.0.0.1:8443 (https)",
        "  certificates         certs/shop.pem + certs/shop.key (default)",
        "                       certs/wild.pem + certs/wild.key",
        "  client_ca            certs/clients.pem (optional)",
        "  handshake_timeout    3s",
    ] {
        assert!(summary.contains(line), "{line:?} in:\n{summary}");
    }
}

#[test]
fn tls_defaults_and_the_inline_form() {
    let inline = format!(
        "{UPSTREAM_FIRST}[listeners.secure]\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\
         tls = {{ certificates = [{{ cert = \"a.pem\", key = \"a.key\" }}] }}\n\
         [[listeners.secure.routes]]\nupstream = \"api\"\n"
    );
    let config = Config::from_toml_str(&inline).expect("valid");
    let tls = config.listeners[0].tls.as_ref().expect("tls");
    assert_eq!(tls.certificates.len(), 1);
    assert_eq!(tls.client_ca, None);
    assert_eq!(tls.client_auth, ClientAuth::Required);
    assert_eq!(tls.handshake_timeout, Duration::from_secs(10));
}

#[test]
fn https_needs_tls_and_only_https_takes_it() {
    let text = format!(
        "{UPSTREAM_FIRST}[listeners.secure]\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\
         [[listeners.secure.routes]]\nupstream = \"api\"\n"
    );
    assert_error(&text, "listeners.secure", 3, "missing key \"tls\"");

    let text = format!(
        "{UPSTREAM_FIRST}[listeners.web]\nbind = \"127.0.0.1:8080\"\n\
         tls = {{ certificates = [{{ cert = \"a.pem\", key = \"a.key\" }}] }}\n\
         [[listeners.web.routes]]\nupstream = \"api\"\n"
    );
    assert_error(&text, "listeners.web.tls", 5, "tls is for https listeners");

    let text = format!(
        "{UPSTREAM_FIRST}[listeners.db]\nbind = \"127.0.0.1:6380\"\nprotocol = \"tcp\"\n\
         upstream = \"api\"\n[listeners.db.tls]\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n"
    );
    assert_error(&text, "listeners.db.tls", 7, "tls is for https listeners");
}

#[test]
fn certificates_must_be_given_whole() {
    assert_error(
        &https("certificates = []"),
        "listeners.secure.tls.certificates",
        7,
        "no certificates",
    );
    assert_error(
        &https("client_ca = \"ca.pem\""),
        "listeners.secure.tls",
        6,
        "missing key \"certificates\"",
    );
    assert_errors(
        &https("certificates = [{ cert = \"a.pem\" },\n{ key = \"b.key\", cert = \"\" }]"),
        &[
            (
                "listeners.secure.tls.certificates[0]",
                Some(7),
                "missing key \"key\"",
            ),
            (
                "listeners.secure.tls.certificates[1].cert",
                Some(8),
                "empty path",
            ),
        ],
    );
    assert_error(
        &https("certificates = [\"a.pem\"]"),
        "listeners.secure.tls.certificates[0]",
        7,
        "expected a table",
    );
    assert_error(
        &https("certificates = [{ cert = \"a.pem\", key = \"a.key\", chain = \"c.pem\" }]"),
        "listeners.secure.tls.certificates[0].chain",
        7,
        "unknown key",
    );
}

#[test]
fn tls_keys_are_checked() {
    assert_error(
        &https(
            "certificates = [{ cert = \"a.pem\", key = \"a.key\" }]\nclient_auth = \"optional\"",
        ),
        "listeners.secure.tls.client_auth",
        8,
        "client_auth needs client_ca",
    );
    assert_error(
        &https(
            "certificates = [{ cert = \"a.pem\", key = \"a.key\" }]\nclient_ca = \"ca.pem\"\n\
             client_auth = \"sometimes\"",
        ),
        "listeners.secure.tls.client_auth",
        9,
        "unknown client_auth \"sometimes\" (accepted: required, optional)",
    );
    assert_error(
        &https(
            "certificates = [{ cert = \"a.pem\", key = \"a.key\" }]\nhandshake_timeout = \"0s\"",
        ),
        "listeners.secure.tls.handshake_timeout",
        8,
        "must be greater than zero",
    );
    assert_error(
        &https("certificates = [{ cert = \"a.pem\", key = \"a.key\" }]\nhandshake_timout = \"5s\""),
        "listeners.secure.tls.handshake_timout",
        8,
        "handshake_timeout",
    );
}

/// An http listener `web` (line 3) with `keys` from line 5 on, and `rest` after it.
fn http(keys: &str, rest: &str) -> String {
    format!("{UPSTREAM_FIRST}[listeners.web]\nbind = \"127.0.0.1:8080\"\n{keys}\n{rest}")
}

#[test]
fn redirect_https_forms() {
    let config = Config::from_toml_str(&http("redirect_https = true", "")).expect("valid");
    let listener = &config.listeners[0];
    assert_eq!(listener.redirect_https, Some(RedirectHttps { port: None }));
    assert!(listener.routes.is_empty(), "no routes needed");
    let summary = shoal_config::summary(&config);
    assert!(
        summary.contains("  redirect_https       308 to https://HOST/..."),
        "{summary}"
    );

    let config =
        Config::from_toml_str(&http("redirect_https = { port = 8443 }", "")).expect("valid");
    assert_eq!(
        config.listeners[0].redirect_https,
        Some(RedirectHttps { port: Some(8443) })
    );

    let config = Config::from_toml_str(&http(
        "redirect_https = false",
        "[[listeners.web.routes]]\nupstream = \"api\"\n",
    ))
    .expect("valid");
    assert_eq!(config.listeners[0].redirect_https, None);
    assert_eq!(config.listeners[0].routes.len(), 1);
}

#[test]
fn redirect_https_errors() {
    assert_error(
        &http("redirect_https = \"yes\"", ""),
        "listeners.web.redirect_https",
        5,
        "expected true, false or a table like { port = 8443 }, found a string",
    );
    assert_error(
        &http("redirect_https = { port = 0 }", ""),
        "listeners.web.redirect_https.port",
        5,
        "must be between 1 and 65535",
    );
    assert_error(
        &http("redirect_https = { prot = 8443 }", ""),
        "listeners.web.redirect_https.prot",
        5,
        "unknown key",
    );
    assert_error(
        &http(
            "redirect_https = true",
            "[[listeners.web.routes]]\nupstream = \"api\"\n",
        ),
        "listeners.web.routes",
        6,
        "routes would never be used",
    );
    assert_error(
        &https("certificates = [{ cert = \"a.pem\", key = \"a.key\" }]\nredirect_https = true"),
        "listeners.secure.tls.redirect_https",
        8,
        "unknown key",
    );
    let text = format!(
        "{UPSTREAM_FIRST}[listeners.secure]\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\
         redirect_https = true\ntls = {{ certificates = [{{ cert = \"a.pem\", key = \"a.key\" }}] }}\n\
         [[listeners.secure.routes]]\nupstream = \"api\"\n"
    );
    assert_error(
        &text,
        "listeners.secure.redirect_https",
        6,
        "redirect_https is for http listeners",
    );
}

// ----- Config::load: files resolved and checked -----

/// Writes `config` as `shoal.toml` in `dir` and loads it.
fn load(dir: &TempDir, config: &str) -> Result<Config, Vec<ConfigError>> {
    let path = dir.write("shoal.toml", config);
    Config::load(&path).map_err(|e| e.0)
}

/// A TLS directory: `shop.pem`/`shop.key` (shop.example.com), `wild.pem`/`wild.key`
/// (*.example.com), `ca.pem` (the issuing CA) under `certs/`.
fn tls_dir(name: &str) -> (TempDir, TestCa) {
    let dir = TempDir::new(name);
    std::fs::create_dir_all(dir.path().join("certs")).expect("certs dir");
    let ca = TestCa::new();
    let shop = ca.issue(&["shop.example.com"]);
    let wild = ca.issue(&["*.example.com"]);
    dir.write("certs/shop.pem", &shop.cert_pem);
    dir.write("certs/shop.key", &shop.key_pem);
    dir.write("certs/wild.pem", &wild.cert_pem);
    dir.write("certs/wild.key", &wild.key_pem);
    dir.write("certs/ca.pem", &ca.cert_pem());
    (dir, ca)
}

#[test]
fn load_resolves_tls_files_against_the_config_directory() {
    let (dir, _ca) = tls_dir("tls-load");
    let config = load(
        &dir,
        &https(&format!("{TWO_CERTS}\nclient_ca = \"certs/ca.pem\"")),
    )
    .unwrap_or_else(|e| panic!("valid: {e:?}"));
    let tls = config.listeners[0].tls.as_ref().expect("tls");
    assert_eq!(tls.certificates[0].cert, dir.path().join("certs/shop.pem"));
    assert_eq!(tls.certificates[1].key, dir.path().join("certs/wild.key"));
    assert_eq!(tls.client_ca, Some(dir.path().join("certs/ca.pem")));
}

/// The errors of a rejected load, as (path, line, message).
fn load_errors(dir: &TempDir, config: &str) -> Vec<(String, Option<usize>, String)> {
    load(dir, config)
        .expect_err("rejected")
        .into_iter()
        .map(|e| (e.path, e.line, e.message))
        .collect()
}

#[test]
fn load_refuses_missing_unparseable_and_mismatched_files() {
    let (dir, ca) = tls_dir("tls-bad");
    let errors = load_errors(
        &dir,
        &https("certificates = [{ cert = \"certs/none.pem\", key = \"certs/shop.key\" }]"),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (path, line, message) = &errors[0];
    assert_eq!(
        (path.as_str(), *line),
        ("listeners.secure.tls.certificates[0].cert", Some(7))
    );
    assert!(message.starts_with("cannot read "), "{message}");
    assert!(message.contains("none.pem"), "{message}");

    // The shop certificate with the wildcard certificate's key.
    let errors = load_errors(
        &dir,
        &https("certificates = [{ cert = \"certs/shop.pem\",\n key = \"certs/wild.key\" }]"),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (path, line, message) = &errors[0];
    assert_eq!(
        (path.as_str(), *line),
        ("listeners.secure.tls.certificates[0].key", Some(8))
    );
    assert!(
        message.contains("does not match the certificate"),
        "{message}"
    );

    dir.write("certs/notes.pem", "not a certificate\n");
    let errors = load_errors(
        &dir,
        &https(
            "certificates = [{ cert = \"certs/shop.pem\", key = \"certs/shop.key\" }]\n\
             client_ca = \"certs/notes.pem\"",
        ),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (path, line, message) = &errors[0];
    assert_eq!(
        (path.as_str(), *line),
        ("listeners.secure.tls.client_ca", Some(8))
    );
    assert!(message.ends_with("holds no certificate"), "{message}");

    // A second certificate without DNS names could never be chosen.
    let client = ca.issue_client("someone");
    dir.write("certs/client.pem", &client.cert_pem);
    dir.write("certs/client.key", &client.key_pem);
    let errors = load_errors(
        &dir,
        &https(
            "certificates = [{ cert = \"certs/shop.pem\", key = \"certs/shop.key\" },\n\
             { cert = \"certs/client.pem\", key = \"certs/client.key\" }]",
        ),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (path, line, message) = &errors[0];
    assert_eq!(
        (path.as_str(), *line),
        ("listeners.secure.tls.certificates[1].cert", Some(8))
    );
    assert!(message.contains("names no DNS names"), "{message}");
}

#[test]
fn from_toml_str_does_not_read_tls_files() {
    let text =
        https("certificates = [{ cert = \"/nonexistent/a.pem\", key = \"/nonexistent/a.key\" }]");
    assert!(Config::from_toml_str(&text).is_ok());
}
