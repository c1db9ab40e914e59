//! The `command` provider: two user commands drive any platform (a cloud autoscaling group,
//! nomad, systemd templates...).
//!
//! - `scale_to` is run with `{count}` replaced when the desired count changes (and again
//!   after a failure); its exit status says whether the platform took it.
//! - `list` is run at every evaluation; it prints the instances' addresses as JSON, either
//!   `["10.0.0.5:8080", ...]` or `[{"addr": "10.0.0.5:8080"}, ...]`. Listed instances become
//!   backends; an address that leaves the list is drained, then removed.
//!
//! Both run without a shell, with the configured environment, killed at `timeout`.

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::Value;
use shoal_config::CommandProviderConfig;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Most output read from `list` (and kept from errors).
const MAX_OUTPUT: u64 = 1 << 20;

pub struct CommandProvider {
    upstream: String,
    config: CommandProviderConfig,
    /// The count the last successful `scale_to` asked for.
    requested: Option<u32>,
    listed: usize,
}

impl CommandProvider {
    pub fn new(upstream: &str, config: CommandProviderConfig) -> CommandProvider {
        CommandProvider {
            upstream: upstream.to_string(),
            config,
            requested: None,
            listed: 0,
        }
    }

    /// What was asked for last, else what `list` showed.
    pub fn current(&self) -> u32 {
        self.requested
            .unwrap_or_else(|| u32::try_from(self.listed).unwrap_or(u32::MAX))
    }

    pub async fn scale_to(&mut self, count: u32) -> Result<(), String> {
        if self.requested == Some(count) {
            return Ok(());
        }
        let argv: Vec<String> = self
            .config
            .scale_to
            .iter()
            .map(|a| {
                a.replace("{count}", &count.to_string())
                    .replace("{upstream}", &self.upstream)
            })
            .collect();
        run(&argv, &self.config).await?;
        tracing::info!(upstream = %self.upstream, count, "scale_to command done");
        self.requested = Some(count);
        Ok(())
    }

    pub async fn list(&mut self) -> Result<Vec<SocketAddr>, String> {
        let argv: Vec<String> = self
            .config
            .list
            .iter()
            .map(|a| a.replace("{upstream}", &self.upstream))
            .collect();
        let out = run(&argv, &self.config).await?;
        let addrs = parse_list(&out)?;
        self.listed = addrs.len();
        Ok(addrs)
    }
}

/// Runs `argv` to completion within the timeout; its stdout on success, an error naming the
/// exit status and the start of stderr otherwise.
async fn run(argv: &[String], config: &CommandProviderConfig) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut child = Command::new(program)
        .args(args)
        .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut out_pipe = (&mut stdout).take(MAX_OUTPUT);
        let mut err_pipe = (&mut stderr).take(MAX_OUTPUT);
        let (a, b) = tokio::join!(
            out_pipe.read_to_end(&mut out),
            err_pipe.read_to_end(&mut err),
        );
        a.and(b).map_err(|e| e.to_string())?;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((status, out, err))
    };
    let (status, out, err) = tokio::time::timeout(config.timeout, work)
        .await
        .map_err(|_| format!("{program:?} did not finish within {:?}", config.timeout))??;
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let err: String = err.trim().chars().take(500).collect();
        return Err(format!("{program:?} failed ({status}): {err}"));
    }
    String::from_utf8(out).map_err(|_| format!("{program:?} printed something that is not UTF-8"))
}

/// `["ip:port", ...]` or `[{"addr": "ip:port"}, ...]`.
pub fn parse_list(text: &str) -> Result<Vec<SocketAddr>, String> {
    let value: Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("list output is not JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("list output must be a JSON array of addresses".to_string());
    };
    let mut addrs = Vec::with_capacity(items.len());
    for item in &items {
        let text = match item {
            Value::String(s) => s.as_str(),
            Value::Object(o) => match o.get("addr") {
                Some(Value::String(s)) => s.as_str(),
                _ => return Err(format!("list entry {item} has no \"addr\" string")),
            },
            _ => return Err(format!("list entry {item} is not an address")),
        };
        let addr: SocketAddr = text
            .parse()
            .map_err(|_| format!("list entry {text:?} is not an IP:PORT address"))?;
        if addr.port() == 0 {
            return Err(format!("list entry {text:?} has port 0"));
        }
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse() {
        assert_eq!(
            parse_list(r#"["127.0.0.1:1", {"addr": "[::1]:2"}, "127.0.0.1:1"]"#),
            Ok(vec![
                "127.0.0.1:1".parse().expect("addr"),
                "[::1]:2".parse().expect("addr")
            ])
        );
        assert_eq!(parse_list(" [] \n"), Ok(vec![]));
        for bad in [
            "",
            "{}",
            "[1]",
            r#"["host:80"]"#,
            r#"["127.0.0.1:0"]"#,
            r#"[{"x": 1}]"#,
        ] {
            assert!(parse_list(bad).is_err(), "{bad:?}");
        }
    }
}
