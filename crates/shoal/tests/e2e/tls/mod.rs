//! https listeners end to end: certificates made at test time (`TestCa`), a TLS client on
//! tokio-rustls with its own root store and SNI, hyper over it for HTTP/1.1 and HTTP/2.

mod check;
mod handshake;
mod mtls;
mod reload;
mod serving;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shoal_test_support::{TempDir, TestBackend, TestCa, TestCert};
use shoal_tls::pki_types::pem::PemObject;
use shoal_tls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use shoal_tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use shoal_tls::rustls::crypto::CryptoProvider;
use shoal_tls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Bound on anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(10);

pub const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A CA and a directory of certificate files.
pub struct Pki {
    pub dir: TempDir,
    pub ca: TestCa,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        Pki {
            dir: TempDir::new(name),
            ca: TestCa::new(),
        }
    }

    /// Issues a certificate for `names` and writes `file.pem` and `file.key`.
    pub fn issue(&self, file: &str, names: &[&str]) -> (TestCert, PathBuf, PathBuf) {
        let cert = self.ca.issue(names);
        let (c, k) = self.write(file, &cert);
        (cert, c, k)
    }

    /// Writes `cert` as `file.pem` and `file.key` (in place, not atomically).
    pub fn write(&self, file: &str, cert: &TestCert) -> (PathBuf, PathBuf) {
        (
            self.dir.write(&format!("{file}.pem"), &cert.cert_pem),
            self.dir.write(&format!("{file}.key"), &cert.key_pem),
        )
    }
}

/// A TOML string for a path.
pub fn toml_path(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// `certificates = [...]` for (cert, key) pairs.
pub fn certificates(pairs: &[(&Path, &Path)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(c, k)| format!("{{ cert = {}, key = {} }}", toml_path(c), toml_path(k)))
        .collect();
    format!("certificates = [{}]", items.join(", "))
}

/// One https listener `secure` on `127.0.0.1:0` (with `tls_lines` in its tls table) routing
/// everything to upstream `app` over `backend`; `more` is appended (other listeners).
pub fn https_config(tls_lines: &str, backend: &TestBackend, more: &str) -> String {
    format!(
        "[server]\nworkers = 2\ngrace_period = \"2s\"\n\n\
         [listeners.secure]\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n\n\
         [listeners.secure.tls]\n{tls_lines}\n\n\
         [[listeners.secure.routes]]\nupstream = \"app\"\n\n\
         {more}\n\
         [upstreams.app]\nbackends = [\"{}\"]\n",
        backend.addr()
    )
}

/// Client settings: trust `ca`, offer `alpn` and `versions`, present `identity` if given.
pub fn client_config(
    ca: &TestCa,
    alpn: &[&str],
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<&TestCert>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("ca pem"))
        .expect("ca as root");
    let builder = ClientConfig::builder_with_provider(shoal_tls::crypto_provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(cert) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key"),
            )
            .expect("client identity"),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// Client settings that accept whatever certificate the server presents: for looking at
/// which one it chose when the name asked for is not on it.
pub fn any_certificate() -> Arc<ClientConfig> {
    let provider = shoal_tls::crypto_provider();
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(BOTH)
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects and handshakes. `server_name` is a DNS name (sent as SNI) or an IP address
/// (no SNI is sent then).
pub async fn connect(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timed out"))?
}

/// The DNS names of the certificate the server presented.
pub fn presented_names(stream: &TlsStream<TcpStream>) -> Vec<String> {
    let certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("the server presented a certificate");
    let leaf = webpki::EndEntityCert::try_from(&certs[0]).expect("leaf parses");
    leaf.valid_dns_names().map(str::to_string).collect()
}

/// The leaf certificate the server presented, DER.
pub fn presented_leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("the server presented a certificate")
}

/// A test certificate's leaf, DER.
pub fn leaf_der(cert: &TestCert) -> Vec<u8> {
    CertificateDer::from_pem_slice(cert.cert_pem.as_bytes())
        .expect("cert pem")
        .as_ref()
        .to_vec()
}

/// An HTTP connection over TLS: HTTP/2 if ALPN chose h2, else HTTP/1.1.
pub enum HttpsConn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A whole response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub version: Version,
    pub body: String,
}

impl HttpsConn {
    pub async fn open(stream: TlsStream<TcpStream>) -> HttpsConn {
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        let io = TokioIo::new(stream);
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2 handshake");
            tokio::spawn(conn);
            HttpsConn::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await.expect("h1 handshake");
            tokio::spawn(conn);
            HttpsConn::H1(sender)
        }
    }

    /// `GET path` for `host`, with extra headers; an error if no answer comes.
    pub async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let builder = match self {
            HttpsConn::H1(_) => Request::get(path).header("host", host),
            HttpsConn::H2(_) => Request::get(format!("https://{host}{path}")),
        };
        let request = headers
            .iter()
            .fold(builder, |b, (k, v)| b.header(*k, *v))
            .body(Full::new(Bytes::new()))?;
        let send = async {
            let response = match self {
                HttpsConn::H1(s) => {
                    s.ready().await?;
                    s.send_request(request).await?
                }
                HttpsConn::H2(s) => {
                    s.ready().await?;
                    s.send_request(request).await?
                }
            };
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            anyhow::Ok(Answer {
                status: parts.status.as_u16(),
                version: parts.version,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        tokio::time::timeout(WAIT, send).await?
    }
}

/// Handshakes, then `GET path` for `host` on the new connection.
pub async fn https_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    config: Arc<ClientConfig>,
) -> anyhow::Result<Answer> {
    let stream = connect(addr, host, config).await?;
    HttpsConn::open(stream).await.get(host, path, &[]).await
}
