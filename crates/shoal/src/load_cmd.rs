//! `shoal load URL`: open loop at `--rate N` (latency from the intended send time) or closed
//! loop with `--concurrency N`; a live progress line on stderr, then the summary with its HDR
//! histogram on stdout (`--json`: one JSON object instead).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::json;
use shoal_load::{LoadOptions, Mode, Target};

use crate::{EXIT_BAD_CONFIG, EXIT_FAILURE, EXIT_OK};

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct LoadArgs {
    pub url: String,
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
    pub duration: Duration,
    pub timeout: Duration,
    pub max_connections: usize,
    pub json: bool,
}

pub fn load(args: LoadArgs) -> u8 {
    let mode = match (args.rate, args.concurrency) {
        (Some(_), Some(_)) => {
            eprintln!("shoal load: give --rate or --concurrency, not both");
            return EXIT_BAD_CONFIG;
        }
        (Some(r), None) if r.is_finite() && r > 0.0 => Mode::Rate(r),
        (Some(r), None) => {
            eprintln!("shoal load: --rate must be a positive number, got {r}");
            return EXIT_BAD_CONFIG;
        }
        (None, Some(0)) => {
            eprintln!("shoal load: --concurrency must be at least 1");
            return EXIT_BAD_CONFIG;
        }
        (None, Some(n)) => Mode::Concurrency(n),
        (None, None) => Mode::Concurrency(10),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal load: cannot start: {e}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async {
        let target = match Target::resolve(&args.url).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("shoal load: {e}");
                return EXIT_BAD_CONFIG;
            }
        };
        let (described, run) = match mode {
            Mode::Rate(r) => (
                format!("{r}/s open loop"),
                json!({"url": args.url, "mode": "rate", "rate": r, "duration_s": args.duration.as_secs_f64()}),
            ),
            Mode::Concurrency(n) => (
                format!("{n} connection(s) closed loop"),
                json!({"url": args.url, "mode": "concurrency", "concurrency": n, "duration_s": args.duration.as_secs_f64()}),
            ),
        };
        let tty = std::io::stderr().is_terminal();
        if !args.json {
            eprintln!(
                "shoal load: {} for {} at {described}",
                args.url,
                shoal_core::format_duration(args.duration)
            );
        }
        let progress: Option<Box<dyn FnMut(String) + Send>> = if args.json {
            None
        } else {
            Some(Box::new(move |line: String| {
                let mut err = std::io::stderr();
                if tty {
                    let _ = write!(err, "\r{line}");
                } else {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }))
        };
        let summary = shoal_load::run(
            &target,
            LoadOptions {
                mode,
                duration: args.duration,
                timeout: args.timeout,
                max_connections: args.max_connections,
                progress,
            },
        )
        .await;
        if tty && !args.json {
            eprintln!();
        }
        if args.json {
            println!("{}", summary.to_json(run));
        } else {
            print!(
                "{}",
                summary.to_text(&format!("shoal load: {} ({described})", args.url))
            );
        }
        // Nothing answered at all: say so with the exit code.
        if summary.requests > 0 && summary.statuses.is_empty() {
            EXIT_FAILURE
        } else {
            EXIT_OK
        }
    })
}
