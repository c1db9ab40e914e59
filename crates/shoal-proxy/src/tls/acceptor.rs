//! The rustls server side of an https listener: its `ServerConfig` (TLS 1.3 and 1.2 only,
//! ALPN `h2` then `http/1.1`, certificates from the SNI resolver, optional client
//! verification), and the handshake each connection does under the handshake timeout.

use std::sync::Arc;
use std::time::Duration;

use shoal_config::ClientAuth;
use shoal_tls::rustls::server::WebPkiClientVerifier;
use shoal_tls::rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::cert_resolver::CertResolver;
use super::TlsError;

/// ALPN, in the server's order of preference: rustls picks the first the client offers too.
/// A client offering neither (or no ALPN at all) gets HTTP/1.1, or HTTP/2 if it opens with
/// the HTTP/2 preface (the server detects it, as on a cleartext listener).
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A `ServerConfig` for `resolver`; with `client_ca`, clients are verified against it.
pub(crate) fn server_config(
    resolver: Arc<CertResolver>,
    client_ca: Option<(Arc<RootCertStore>, ClientAuth)>,
) -> Result<ServerConfig, TlsError> {
    let provider = shoal_tls::crypto_provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(shoal_tls::PROTOCOL_VERSIONS)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some((roots, mode)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = match mode {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Failed(std::io::Error),
}

/// Runs the server side of the handshake on `stream`, bounded by `timeout`.
pub(crate) async fn handshake(
    config: Arc<ServerConfig>,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
    match tokio::time::timeout(timeout, accept).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(HandshakeError::Failed(e)),
        Err(_) => Err(HandshakeError::Timeout(timeout)),
    }
}

/// Whether the connection negotiated HTTP/2 by ALPN.
pub(crate) fn negotiated_h2(stream: &TlsStream<TcpStream>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice())
}
