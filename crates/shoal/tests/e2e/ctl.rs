//! `shoal ctl` through the real binary against a running `shoal run`: the status table, a
//! drain seen by status, `--json`, events, and the messages and exit codes when the admin API
//! is unreachable, refuses the token, or refuses the change.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::admin_shoal::AdminShoal;
use crate::cli::{shoal, write_file};

const TIMEOUT: Duration = Duration::from_secs(30);

/// `shoal ctl ARGS` to the end: (exit code, stdout, stderr).
async fn ctl(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = shoal(&["ctl"]);
    command
        .args(args)
        .env_remove("SHOAL_ADMIN")
        .env_remove("SHOAL_ADMIN_TOKEN_FILE");
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("shoal ctl {args:?} did not finish"))
        .expect("spawn shoal ctl");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn status_drain_json_and_events() {
    let shoal = AdminShoal::start("ctl_status", None).await;
    let admin = shoal.admin_url();
    let (a, b) = (shoal.a.addr().to_string(), shoal.b.addr().to_string());

    let (code, out, err) = ctl(&["--admin", &admin, "status"]).await;
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "UPSTREAM",
            "BACKEND",
            "STATE",
            "WEIGHT",
            "EFFECTIVE",
            "IN-FLIGHT",
            "REQUESTS",
            "FAILURES",
            "LAST",
            "CHECK"
        ]
    );
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&first[..5], ["app", a.as_str(), "ready", "1", "1"], "{out}");
    let second: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&second[..4], [b.as_str(), "ready", "1", "1"], "{out}");
    assert!(!out.contains('\x1b'), "plain when piped: {out:?}");

    // Drain b; status shows it.
    let (code, out, err) = ctl(&["--admin", &admin, "drain", "app", &b]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("app {b}: draining\n"));
    let (_, out, _) = ctl(&["status", "--admin", &admin]).await;
    let row = out
        .lines()
        .find(|l| l.contains(&b))
        .unwrap_or_else(|| panic!("{b} in {out}"));
    assert!(row.split_whitespace().any(|w| w == "draining"), "{row}");

    // --json: the API's answer, parseable.
    let (code, out, err) = ctl(&["--admin", &admin, "--json", "status"]).await;
    assert_eq!(code, Some(0), "{err}");
    let json: Value = serde_json::from_str(&out).expect("--json prints JSON");
    let states: Vec<(String, String)> = json[0]["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            (
                b["addr"].as_str().unwrap_or_default().to_string(),
                b["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![(a.clone(), "ready".into()), (b.clone(), "draining".into())]
    );

    // Weight, enable, events.
    let (code, out, err) = ctl(&["--admin", &admin, "weight", "app", &a, "5"]).await;
    assert_eq!(
        (code, out.as_str()),
        (Some(0), format!("app {a}: weight 5 (ready)\n").as_str()),
        "{err}"
    );
    let (code, out, _) = ctl(&["--admin", &admin, "enable", "app", &b]).await;
    assert_eq!(code, Some(0));
    assert_eq!(out, format!("app {b}: ready\n"));
    let (code, out, err) = ctl(&["--admin", &admin, "events"]).await;
    assert_eq!(code, Some(0), "{err}");
    for needle in [
        format!("drain         app {b}: drained by the operator"),
        format!("weight        app {a}: weight 1 -> 5"),
        format!("enable        app {b}: enabled by the operator"),
    ] {
        assert!(out.contains(&needle), "{needle:?} in\n{out}");
    }
    let (code, out, _) = ctl(&["--admin", &admin, "--json", "events", "--since", "1000"]).await;
    assert_eq!((code, out.trim()), (Some(0), "[]"));

    // Reload: nothing changed in the file.
    let (code, out, err) = ctl(&["--admin", &admin, "reload"]).await;
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "reloaded: no change\n"),
        "{err}"
    );

    // The API refusing: its message and exit code 1.
    let (code, out, err) = ctl(&["--admin", &admin, "drain", "app", "127.0.0.1:1"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        err.trim(),
        "shoal ctl: the admin API answered 404: upstream \"app\" has no backend 127.0.0.1:1"
    );
    let (code, _, err) = ctl(&["--admin", &admin, "scale", "app", "3"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("409: upstream \"app\" is not autoscaled"),
        "{err}"
    );
    let (code, _, err) = ctl(&["--admin", &admin, "weight", "app", &a, "0"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("400: weight must be an integer between 1 and 1000"),
        "{err}"
    );
    shoal.stop().await;
}

#[tokio::test]
async fn unreachable_admin_api_is_a_clear_message_and_exit_3() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let admin = format!("http://127.0.0.1:{port}");
    let (code, out, err) = ctl(&["--admin", &admin, "status"]).await;
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(
        err.starts_with(&format!(
            "shoal ctl: cannot reach the admin API at {admin}: connection refused; is shoal \
             running with [admin]?"
        )),
        "{err}"
    );
    // SHOAL_ADMIN sets the default.
    let mut command = shoal(&["ctl", "status"]);
    command.env("SHOAL_ADMIN", format!("127.0.0.1:{port}"));
    let output = command.output().await.expect("run");
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&admin));

    // Usage errors: exit 2.
    let (code, _, err) = ctl(&["--admin", "https://127.0.0.1:9090", "status"]).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("plain HTTP"), "{err}");
    let (code, _, err) = ctl(&[
        "--admin",
        &admin,
        "--token-file",
        "/nonexistent/token",
        "status",
    ])
    .await;
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cannot read token file /nonexistent/token"),
        "{err}"
    );
    let (code, _, _) = ctl(&["--admin", &admin, "weight", "app", "127.0.0.1:1", "many"]).await;
    assert_eq!(code, Some(2), "clap's usage error");
}

#[tokio::test]
async fn tokens_missing_wrong_and_right() {
    let running = AdminShoal::start("ctl_token", Some("ctl-s3cret")).await;
    let admin = running.admin_url();
    let right = running.token_file.clone().expect("token file");
    let wrong = write_file("ctl_token", "wrong.token", "not-the-token\n");

    let (code, _, err) = ctl(&["--admin", &admin, "status"]).await;
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("refused the request (401): missing bearer token")
            && err.contains("pass --token-file"),
        "{err}"
    );
    let (code, _, err) = ctl(&["--admin", &admin, "--token-file", path(&wrong), "status"]).await;
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("(401): invalid bearer token; check the token in --token-file"),
        "{err}"
    );
    let (code, out, err) = ctl(&["--admin", &admin, "--token-file", path(&right), "status"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&running.a.addr().to_string()), "{out}");
    // The token file from the environment.
    let mut command = shoal(&["ctl", "--admin", &admin, "status"]);
    command.env("SHOAL_ADMIN_TOKEN_FILE", path(&right));
    let output = command.output().await.expect("run");
    assert_eq!(output.status.code(), Some(0));
    running.stop().await;
}
