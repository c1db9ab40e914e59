//! `shoal run`: serve from a config file until SIGTERM/SIGINT; SIGHUP re-reads the file;
//! `[admin]` starts the admin API.

use std::path::Path;
use std::sync::Arc;

use shoal_admin::AdminServer;
use shoal_config::{AdminConfig, Config};
use shoal_core::{Shutdown, ShutdownSignal};
use shoal_proxy::ProxyHandle;

use crate::app_control::AppControl;
use crate::config_watch::ConfigWatch;
use crate::control::Controller;
use crate::event_log::{follow_health, record_reload};
use crate::signals::{Request, Signals};
use crate::{EXIT_BAD_CONFIG, EXIT_FAILURE, EXIT_OK};

pub fn run(path: &Path) -> u8 {
    let config = match crate::load_config(path) {
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
    runtime.block_on(serve(path, config))
}

async fn serve(path: &Path, config: Config) -> u8 {
    // Signals first, so a signal arriving while binding is not lost.
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shoal: cannot install signal handlers: {e}");
            return EXIT_FAILURE;
        }
    };
    // Watching starts before anything announces itself ready, so no edit made after that
    // can be missed.
    let mut watch = match ConfigWatch::new(path) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(config = %path.display(), error = %e, "cannot watch the config file; reload with SIGHUP or the admin API");
            None
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
    let grace = config.server.grace_period;
    let admin_config = config.admin.clone();
    let controller = Arc::new(Controller::new(
        proxy,
        config.clone(),
        Some(path.to_path_buf()),
    ));
    let autoscaler = match crate::fleet::start_autoscaler(&controller, &config).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("shoal: cannot start the autoscaler: {e}");
            controller.proxy().stop().await;
            return EXIT_FAILURE;
        }
    };
    let (admin_shutdown, admin_signal) = Shutdown::new();
    let control =
        Arc::new(AppControl::new(Arc::clone(&controller)).with_autoscaler(Arc::clone(&autoscaler)));
    let events = Arc::clone(control.event_log());
    tokio::spawn(follow_health(
        Arc::clone(&events),
        controller.proxy().health().subscribe_transitions(),
        admin_signal.clone(),
    ));
    let admin = match admin_config {
        Some(admin) => match start_admin(&admin, control, admin_signal) {
            Ok((task, _)) => Some(task),
            Err(e) => {
                eprintln!("shoal: admin API: {e}");
                controller.proxy().stop().await;
                autoscaler.shutdown().await;
                return EXIT_FAILURE;
            }
        },
        None => None,
    };
    loop {
        let cause = tokio::select! {
            request = signals.next() => match request {
                Request::Stop => break,
                Request::Reload => "SIGHUP",
                Request::ReopenLogs => {
                    tracing::info!("SIGUSR1: reopening the access log");
                    controller.proxy().reopen_access_log();
                    continue;
                }
            },
            () = changed(&mut watch) => "file changed",
        };
        let result = controller.reload();
        record_reload(&events, cause, &result);
        match result {
            Ok(summary) => {
                tracing::info!(config = %path.display(), cause, changed = summary.changed, "reloaded");
            }
            Err(errors) => {
                tracing::error!(config = %path.display(), cause, "reload refused, old config keeps serving:\n{}", errors.join("\n"));
            }
        }
    }
    tracing::info!(grace_period = ?grace, "stopping: finishing in-flight requests");
    admin_shutdown.trigger();
    if let Some(task) = admin {
        let _ = task.await;
    }
    controller.proxy().stop().await;
    // Traffic has stopped: now the autoscaled instances may go.
    autoscaler.shutdown().await;
    tracing::info!("stopped");
    EXIT_OK
}

pub(crate) fn start_admin(
    admin: &AdminConfig,
    control: Arc<AppControl>,
    signal: ShutdownSignal,
) -> Result<(tokio::task::JoinHandle<()>, std::net::SocketAddr), String> {
    let token = match &admin.token_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let server = AdminServer::bind(admin.bind, token, control)
        .map_err(|e| format!("cannot listen on {}: {e}", admin.bind))?;
    let bound = server.local_addr();
    tracing::info!(addr = %bound, "admin API listening");
    let task = tokio::spawn(async move {
        if let Err(e) = server.serve(signal).await {
            tracing::error!(error = %e, "admin API failed");
        }
    });
    Ok((task, bound))
}

/// The next change of the watched file; never, without a watch.
async fn changed(watch: &mut Option<ConfigWatch>) {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}
