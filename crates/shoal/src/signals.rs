//! The process signals shoal acts on.

use tokio::signal::unix::{signal, SignalKind};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT: stop gracefully.
    Stop,
    /// SIGHUP: re-read the config file.
    Reload,
    /// SIGUSR1: reopen the access log (after a rotation renamed it).
    ReopenLogs,
}

/// Receives SIGTERM, SIGINT, SIGHUP and SIGUSR1 as [`Request`]s.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
            _ = self.usr1.recv() => Request::ReopenLogs,
        }
    }
}
