//! `[admin]`: bind address rules, and the token file, which is checked only when the config is
//! loaded from a file (its path is relative to the config file's directory).

mod common;

use std::path::{Path, PathBuf};

use common::{assert_error, assert_errors, BASE};
use shoal_config::{Config, ConfigError};

/// `[admin]` on line 1, `keys` from line 2, then BASE.
fn admin(keys: &str) -> String {
    format!("[admin]\n{keys}\n{BASE}")
}

#[test]
fn a_non_loopback_bind_needs_a_token_file() {
    for bind in [
        "0.0.0.0:9090",
        "[::]:9090",
        "10.1.2.3:9090",
        "[::ffff:10.0.0.1]:9090",
    ] {
        assert_error(
            &admin(&format!("bind = \"{bind}\"")),
            "admin.bind",
            2,
            "refusing to expose the admin API on a non-loopback address without token_file",
        );
    }
    let errors = common::errors(&admin("bind = \"0.0.0.0:9191\""));
    assert!(
        errors[0].to_string().starts_with(
            "admin.bind (line 2): refusing to expose the admin API on a non-loopback address \
             without token_file"
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].message.contains("127.0.0.1:9191"),
        "{}",
        errors[0]
    );
}

#[test]
fn bind_must_be_a_socket_address_not_taken_by_a_listener() {
    assert_error(
        &admin("bind = \"localhost:9090\""),
        "admin.bind",
        2,
        "\"localhost:9090\" is not a socket address (use an IP address",
    );
    assert_error(
        &admin("bind = 9090"),
        "admin.bind",
        2,
        "expected a string, found an integer",
    );
    // BASE's listener `web` binds 127.0.0.1:8080.
    assert_error(
        &admin("bind = \"127.0.0.1:8080\""),
        "admin.bind",
        2,
        "127.0.0.1:8080 is already bound by listener \"web\"",
    );
    // Port 0 never collides.
    let text = "[admin]\nbind = \"127.0.0.1:0\"\n[listeners.web]\nbind = \"127.0.0.1:0\"\n\
                routes = [{ upstream = \"api\" }]\n[upstreams.api]\nbackends = [\"127.0.0.1:1\"]\n";
    assert!(Config::from_toml_str(text).is_ok());
}

#[test]
fn collision_is_found_even_when_the_listener_has_other_errors() {
    let text = "[admin]\nbind = \"127.0.0.1:8080\"\n[listeners.web]\nbind = \"127.0.0.1:8080\"\n\
                protocol = \"gopher\"\nroutes = [{ upstream = \"api\" }]\n\
                [upstreams.api]\nbackends = [\"127.0.0.1:1\"]\n";
    assert_errors(
        text,
        &[
            (
                "admin.bind",
                Some(2),
                "127.0.0.1:8080 is already bound by listener \"web\"",
            ),
            ("listeners.web.protocol", Some(5), "unknown protocol"),
        ],
    );
}

#[test]
fn unknown_keys_and_wrong_types() {
    assert_error(
        &admin("tokenfile = \"t\""),
        "admin.tokenfile",
        2,
        "unknown key \"tokenfile\", did you mean \"token_file\"?",
    );
    assert_error(
        &admin("listen = \"127.0.0.1:1\""),
        "admin.listen",
        2,
        "unknown key \"listen\" (accepted keys: bind, token_file)",
    );
    assert_error(
        &format!("admin = 1\n{BASE}"),
        "admin",
        1,
        "expected a table, found an integer",
    );
    assert_error(
        &format!("[admn]\n{BASE}"),
        "admn",
        1,
        "did you mean \"admin\"?",
    );
    assert_error(
        &admin("token_file = true"),
        "admin.token_file",
        2,
        "expected a string, found a boolean",
    );
    assert_error(
        &admin("token_file = \" \""),
        "admin.token_file",
        2,
        "token_file is empty",
    );
}

/// A directory of its own under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("shoal-config-admin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `config` as `shoal.toml` in the directory and loads it.
    fn load(&self, config: &str) -> Result<Config, Vec<ConfigError>> {
        let path = self.0.join("shoal.toml");
        std::fs::write(&path, config).expect("write config");
        Config::load(&path).map_err(|e| e.0)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The one error of a rejected load, which must be at `admin.token_file` on line 3.
#[track_caller]
fn token_error(dir: &TempDir, file: &str) -> ConfigError {
    let config = format!("[admin]\nbind = \"0.0.0.0:9090\"\ntoken_file = {file:?}\n{BASE}");
    let errors = dir.load(&config).expect_err("bad token file");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].clone();
    assert_eq!(
        (error.path.as_str(), error.line),
        ("admin.token_file", Some(3)),
        "{error}"
    );
    error
}

#[test]
fn load_refuses_a_missing_or_unusable_token_file() {
    let dir = TempDir::new("bad");
    let missing = token_error(&dir, "nope.token");
    assert!(
        missing.message.starts_with("cannot read token file ")
            && missing
                .message
                .contains(&dir.0.join("nope.token").display().to_string()),
        "{missing}"
    );

    dir.write("blank.token", " \n\t\n");
    let blank = token_error(&dir, "blank.token");
    assert!(blank.message.contains("is empty"), "{blank}");

    std::fs::create_dir_all(dir.0.join("adir")).expect("mkdir");
    let directory = token_error(&dir, "adir");
    assert!(
        directory.message.contains("is not a regular file"),
        "{directory}"
    );

    dir.write("big.token", vec![b'a'; 4097]);
    let big = token_error(&dir, "big.token");
    assert!(big.message.contains("larger than 4096 bytes"), "{big}");

    dir.write("spaced.token", "two words\n");
    let spaced = token_error(&dir, "spaced.token");
    assert!(
        spaced.message.contains("visible ASCII characters"),
        "{spaced}"
    );

    dir.write("binary.token", [0xff, 0xfe, b'a']);
    let binary = token_error(&dir, "binary.token");
    assert!(
        binary.message.contains("visible ASCII characters"),
        "{binary}"
    );
}

#[test]
fn load_accepts_a_token_file_at_the_size_limit() {
    let dir = TempDir::new("limit");
    let mut token = vec![b'x'; 4095];
    token.push(b'\n');
    dir.write("admin.token", token);
    let config = dir
        .load(&format!("[admin]\ntoken_file = \"admin.token\"\n{BASE}"))
        .expect("valid");
    assert_eq!(
        config.admin.expect("admin").token_file,
        Some(dir.0.join("admin.token"))
    );
}

#[test]
fn load_reports_token_problems_together_with_the_rest() {
    let dir = TempDir::new("together");
    let text = format!("[admin]\ntoken_file = \"missing.token\"\n{BASE}retries = 99\n");
    let errors = dir.load(&text).expect_err("invalid");
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(rendered.len(), 2, "{rendered:?}");
    assert!(
        rendered[0].starts_with("admin.token_file (line 2): cannot read token file"),
        "{rendered:?}"
    );
    assert!(
        rendered[1].starts_with("upstreams.api.retries (line 9): must be between 0 and 10"),
        "{rendered:?}"
    );
}

#[test]
fn from_toml_str_does_not_touch_the_file_system() {
    let text = admin("bind = \"0.0.0.0:9090\"\ntoken_file = \"/nonexistent/admin.token\"");
    let config = Config::from_toml_str(&text).expect("not read");
    assert_eq!(
        config.admin.expect("admin").token_file.as_deref(),
        Some(Path::new("/nonexistent/admin.token"))
    );
}
