//! `shoal run`: serve from a config file until SIGTERM/SIGINT; SIGHUP re-reads the file.

use std::path::Path;

use shoal_config::Config;
use shoal_proxy::ProxyHandle;

use crate::signals::{Request, Signals};
use crate::{EXIT_BAD_CONFIG, EXIT_FAILURE, EXIT_OK};

pub fn run(path: &Path) -> u8 {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!(
                "{}: {} problem(s), not starting",
                path.display(),
                errors.0.len()
            );
            eprintln!("{errors}");
            return EXIT_BAD_CONFIG;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal: cannot start: {e}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async {
        // Signals first, so a signal arriving while binding is not lost.
        let mut signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("shoal: cannot install signal handlers: {e}");
                return EXIT_FAILURE;
            }
        };
        let proxy = match ProxyHandle::start(&config) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("shoal: {e}");
                return EXIT_FAILURE;
            }
        };
        for (name, addr) in proxy.listener_addrs() {
            tracing::info!(listener = %name, %addr, "listening");
        }
        loop {
            match signals.next().await {
                Request::Stop => break,
                Request::Reload => match Config::load(path) {
                    Ok(new) => {
                        proxy.reload(&new);
                        tracing::info!(config = %path.display(), "reloaded");
                    }
                    Err(errors) => {
                        tracing::error!(config = %path.display(), "reload refused, old config keeps serving:\n{errors}");
                    }
                },
            }
        }
        tracing::info!(grace_period = ?config.server.grace_period, "stopping: finishing in-flight requests");
        proxy.stop().await;
        tracing::info!("stopped");
        EXIT_OK
    })
}
