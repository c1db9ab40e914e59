use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a connection to a backend could not be made. Every variant means no byte of the
/// request was sent, so the request may always go to another backend.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connection to {0} refused")]
    Refused(SocketAddr),
    #[error("connection to {0} timed out after {1:?}")]
    Timeout(SocketAddr, Duration),
    #[error("connection to {0} failed: {1}")]
    Io(SocketAddr, io::Error),
    /// The TLS handshake failed (the certificate did not verify, the backend does not speak
    /// TLS, ALPN did not agree) or TLS cannot be set up at all. Like a refused connect: the
    /// next backend may be tried, and nothing goes in cleartext.
    #[error("TLS with {0} failed: {1}")]
    Tls(SocketAddr, String),
}

impl ConnectError {
    /// The same error again (io errors are not `Clone`: kind and text are kept), for requests
    /// that waited on a connect attempt that failed.
    pub fn duplicate(&self) -> ConnectError {
        match self {
            ConnectError::Refused(addr) => ConnectError::Refused(*addr),
            ConnectError::Timeout(addr, after) => ConnectError::Timeout(*addr, *after),
            ConnectError::Io(addr, e) => {
                ConnectError::Io(*addr, io::Error::new(e.kind(), e.to_string()))
            }
            ConnectError::Tls(addr, reason) => ConnectError::Tls(*addr, reason.clone()),
        }
    }
}
