//! [`TlsFront`]: TLS termination in front of any test backend, so a backend speaks TLS
//! without being written twice. It accepts TLS on `127.0.0.1:0` with a certificate from a
//! [`crate::TestCa`], then relays the decrypted bytes to the backend over a new cleartext
//! connection (one per TLS connection, so the backend's connection count is the TLS one).
//!
//! It counts what a proxy's TLS client does: connections, completed and failed handshakes,
//! resumed sessions, the ALPN protocol and client certificate each handshake ended with.
//!
//! ```ignore
//! let backend = TestBackend::http().name("b").await;
//! let cert = ca.issue(&["backend.internal", "127.0.0.1"]);
//! let front = TlsFront::in_front_of(backend.addr(), &cert).alpn(&["http/1.1"]).await;
//! // configure shoal with front.addr()
//! ```

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::TestCert;

/// What one finished handshake agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The ALPN protocol selected, if any (`b"h2"`, `b"http/1.1"`).
    pub alpn: Option<Vec<u8>>,
    /// The SNI the client sent, if any (IP addresses are never sent as SNI).
    pub sni: Option<String>,
    /// True when the session was resumed rather than negotiated in full.
    pub resumed: bool,
    /// True when the client presented a certificate (mTLS).
    pub client_cert: bool,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    failed: AtomicU64,
    handshakes: Mutex<Vec<Handshake>>,
    last_error: Mutex<Option<String>>,
}

/// Sets up a [`TlsFront`]; `.await` it to run.
#[derive(Debug)]
#[must_use = "a TLS front does nothing until awaited"]
pub struct TlsFrontBuilder {
    target: SocketAddr,
    cert: TestCert,
    alpn: Vec<Vec<u8>>,
    client_ca: Option<String>,
}

impl TlsFrontBuilder {
    /// ALPN protocols offered, in preference order (default: none, so no ALPN is selected).
    pub fn alpn(mut self, protocols: &[&str]) -> Self {
        self.alpn = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
        self
    }

    /// Require a client certificate issued by this CA (PEM).
    pub fn client_ca(mut self, ca_pem: &str) -> Self {
        self.client_ca = Some(ca_pem.to_string());
        self
    }

    pub async fn start(self) -> io::Result<TlsFront> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let chain = CertificateDer::pem_slice_iter(self.cert.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.cert.key_pem.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| invalid(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots
                        .add(cert.map_err(|e| invalid(e.to_string()))?)
                        .map_err(|e| invalid(e.to_string()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| invalid(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid(e.to_string()))?;
        config.alpn_protocols = self.alpn;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(Arc::new(config)),
            self.target,
            Arc::clone(&counters),
            stop_rx,
        ));
        Ok(TlsFront {
            addr,
            counters,
            _stop: stop_tx,
            _task: task,
        })
    }
}

impl IntoFuture for TlsFrontBuilder {
    type Output = TlsFront;
    type IntoFuture = Pin<Box<dyn Future<Output = TlsFront> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.start().await.expect("TlsFront: could not start") })
    }
}

/// A running TLS terminator. Dropping it closes its listener and connections.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    counters: Arc<Counters>,
    _stop: oneshot::Sender<()>,
    _task: JoinHandle<()>,
}

impl TlsFront {
    /// TLS in front of `target`, presenting `cert`.
    pub fn in_front_of(target: SocketAddr, cert: &TestCert) -> TlsFrontBuilder {
        TlsFrontBuilder {
            target,
            cert: cert.clone(),
            alpn: Vec::new(),
            client_ca: None,
        }
    }

    /// Where clients (shoal) connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Handshakes that failed (a client that did not trust the certificate, or did not
    /// speak TLS at all).
    pub fn failed_handshakes(&self) -> u64 {
        self.counters.failed.load(Ordering::SeqCst)
    }

    /// Every completed handshake, oldest first.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.counters
            .handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why the last handshake failed, as the server saw it.
    pub fn last_error(&self) -> Option<String> {
        self.counters
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    target: SocketAddr,
    counters: Arc<Counters>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    counters.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(relay(stream, acceptor.clone(), target, Arc::clone(&counters)));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn relay(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    target: SocketAddr,
    counters: Arc<Counters>,
) {
    let _ = stream.set_nodelay(true);
    let mut tls = match acceptor.accept(stream).await {
        Ok(tls) => tls,
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::SeqCst);
            *counters
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            return;
        }
    };
    {
        let session = tls.get_ref().1;
        let handshake = Handshake {
            alpn: session.alpn_protocol().map(<[u8]>::to_vec),
            sni: session.server_name().map(str::to_string),
            resumed: session.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            client_cert: session.peer_certificates().is_some_and(|c| !c.is_empty()),
        };
        counters
            .handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handshake);
    }
    let Ok(mut backend) = TcpStream::connect(target).await else {
        return;
    };
    let _ = backend.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
}
