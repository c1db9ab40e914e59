//! TLS termination for https listeners.
//!
//! - `cert_resolver.rs`: which certificate a handshake gets (SNI → exact name, wildcard,
//!   else the first certificate), over a swappable certificate set;
//! - `acceptor.rs`: the rustls `ServerConfig` (TLS 1.3/1.2, ALPN h2 + http/1.1, optional
//!   client verification) and the handshake under the handshake timeout;
//! - `cert_watch.rs`: the background task that notices certificate, key and CA files
//!   changing on disk.
//!
//! A [`TlsListener`] is one https listener's TLS side, shared by all workers through the
//! snapshot. A config reload that leaves the listener's `tls` table as it was keeps it
//! (reloading files changed on disk); one that changes the table builds a new one,
//! carrying the counters over; a file change swaps the certificates inside the current
//! one. Either way,
//! handshakes already done are untouched, new handshakes use the new files, and files that
//! fail to load leave the previous ones serving.

mod acceptor;
mod cert_resolver;
pub(crate) mod cert_watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use shoal_config::ListenerTlsConfig;
use shoal_tls::rustls::{RootCertStore, ServerConfig};
use shoal_tls::{KeyPairError, TlsFileError};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

pub(crate) use acceptor::negotiated_h2;
use acceptor::HandshakeError;
use cert_resolver::{CertResolver, CertSet};
use cert_watch::FileStamp;

/// Why an https listener's TLS files cannot be used. Displays as the key it belongs to,
/// relative to the listener's `tls` table.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificates[{index}]: {source}")]
    Certificate { index: usize, source: KeyPairError },
    #[error("client_ca: {0}")]
    ClientCa(TlsFileError),
    #[error("{0}")]
    Config(String),
}

/// An https listener's handshake and certificate-reload counts, over all workers and kept
/// across config reloads. Handshakes that fail include those that time out.
#[derive(Debug, Default)]
pub struct TlsStats {
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

impl TlsStats {
    /// Handshakes completed.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// Handshakes that failed or timed out.
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }

    /// Times changed certificate files were loaded and put in service.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Times changed certificate files could not be loaded (the previous ones kept serving).
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.load(Ordering::Relaxed)
    }
}

/// One https listener's TLS side.
pub struct TlsListener {
    files: ListenerTlsConfig,
    resolver: Arc<CertResolver>,
    server_config: ArcSwap<ServerConfig>,
    stats: Arc<TlsStats>,
    /// The files' state when last loaded: [cert, key] per certificate, then the client CA.
    /// The lock also keeps two reloads (the watch and a config reload) from interleaving.
    stamps: Mutex<Vec<Option<FileStamp>>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("files", &self.files)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// What the files of a `ListenerTlsConfig` hold.
struct Loaded {
    certs: CertSet<Arc<shoal_tls::rustls::sign::CertifiedKey>>,
    client_ca: Option<Arc<RootCertStore>>,
}

impl TlsListener {
    /// Loads every file of `files`. `stats`: the counters of the listener's previous
    /// `TlsListener` across a reload, or new ones.
    pub(crate) fn load(
        files: &ListenerTlsConfig,
        stats: Arc<TlsStats>,
    ) -> Result<TlsListener, TlsError> {
        let stamps = stamps(files);
        let loaded = load_files(files)?;
        let resolver = Arc::new(CertResolver::new(loaded.certs));
        let config = acceptor::server_config(
            Arc::clone(&resolver),
            loaded.client_ca.map(|ca| (ca, files.client_auth)),
        )?;
        Ok(TlsListener {
            files: files.clone(),
            resolver,
            server_config: ArcSwap::from_pointee(config),
            stats,
            stamps: Mutex::new(stamps),
        })
    }

    /// The listener's counters.
    pub fn stats(&self) -> &Arc<TlsStats> {
        &self.stats
    }

    /// The settings and files it was loaded from.
    pub fn files(&self) -> &ListenerTlsConfig {
        &self.files
    }

    /// What a new connection needs for its handshake.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor {
            config: self.server_config.load_full(),
            stats: Arc::clone(&self.stats),
            timeout: self.files.handshake_timeout,
        }
    }

    /// Reloads the files if any changed on disk since they were last read: new
    /// certificates for new handshakes, the previous ones kept when the new files cannot
    /// be used. None when nothing changed.
    pub(crate) fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let mut seen = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamps(&self.files);
        if now == *seen {
            return None;
        }
        // Recorded even if the load fails: files being written are retried when they
        // change again, not every poll.
        *seen = now;
        let result = load_files(&self.files).and_then(|loaded| {
            // A new ServerConfig (same resolver) also starts an empty session cache:
            // a client resuming a session made with the old certificate would never be
            // shown the new one, so old sessions end with the old certificate.
            let config = acceptor::server_config(
                Arc::clone(&self.resolver),
                loaded.client_ca.map(|ca| (ca, self.files.client_auth)),
            )?;
            self.resolver.replace(loaded.certs);
            self.server_config.store(Arc::new(config));
            Ok(())
        });
        let counter = match result {
            Ok(()) => &self.stats.reloads,
            Err(_) => &self.stats.reload_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(result)
    }
}

/// Every file's stamp, in the order [`TlsListener::stamps`] keeps them.
fn stamps(files: &ListenerTlsConfig) -> Vec<Option<FileStamp>> {
    let mut stamps: Vec<Option<FileStamp>> = files
        .certificates
        .iter()
        .flat_map(|c| [FileStamp::of(&c.cert), FileStamp::of(&c.key)])
        .collect();
    stamps.push(files.client_ca.as_deref().and_then(FileStamp::of));
    stamps
}

fn load_files(files: &ListenerTlsConfig) -> Result<Loaded, TlsError> {
    let mut pairs = Vec::with_capacity(files.certificates.len());
    for (index, certificate) in files.certificates.iter().enumerate() {
        let pair = shoal_tls::load_key_pair(&certificate.cert, &certificate.key)
            .map_err(|source| TlsError::Certificate { index, source })?;
        pairs.push((pair.certified, pair.names));
    }
    let certs = CertSet::new(pairs)
        .ok_or_else(|| TlsError::Config("no certificates configured".to_string()))?;
    let client_ca = match &files.client_ca {
        Some(path) => Some(Arc::new(read_client_ca(path)?)),
        None => None,
    };
    Ok(Loaded { certs, client_ca })
}

fn read_client_ca(path: &Path) -> Result<RootCertStore, TlsError> {
    shoal_tls::read_roots(path).map_err(TlsError::ClientCa)
}

/// One connection's view of its listener's TLS side, taken when it was accepted.
pub(crate) struct TlsAcceptor {
    config: Arc<ServerConfig>,
    stats: Arc<TlsStats>,
    timeout: Duration,
}

impl TlsAcceptor {
    /// The handshake, counted; a failure is logged (debug: clients fail handshakes all the
    /// time, and that is their problem) and ends the connection.
    pub(crate) async fn accept(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        listener: &str,
    ) -> Option<TlsStream<TcpStream>> {
        match acceptor::handshake(self.config, stream, self.timeout).await {
            Ok(stream) => {
                self.stats.handshakes.fetch_add(1, Ordering::Relaxed);
                Some(stream)
            }
            Err(e) => {
                self.stats
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
                match &e {
                    HandshakeError::Timeout(_) => {
                        tracing::debug!(%listener, %peer, reason = %e, "TLS handshake timed out");
                    }
                    HandshakeError::Failed(_) => {
                        tracing::debug!(%listener, %peer, reason = %e, "TLS handshake failed");
                    }
                }
                None
            }
        }
    }
}
