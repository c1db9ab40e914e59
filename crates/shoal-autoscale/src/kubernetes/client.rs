//! A minimal Kubernetes API client: HTTP/1.1 over one kept-alive connection (TLS through
//! rustls with shoal's crypto provider), bearer token or client certificate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use shoal_tls::pki_types::pem::PemObject;
use shoal_tls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use shoal_tls::rustls;
use tokio::net::TcpStream;

use super::credentials::{Auth, Credentials};

/// Longest a request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read (an EndpointSlice list of a big Service is well below).
const MAX_BODY: usize = 16 << 20;

pub struct ApiClient {
    host: String,
    port: u16,
    authority: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    auth: Auth,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl ApiClient {
    pub fn new(creds: &Credentials) -> Result<ApiClient, String> {
        let uri: http::Uri = creds
            .server
            .parse()
            .map_err(|e| format!("server {:?} is not a URL: {e}", creds.server))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("server {:?} is not http(s)", creds.server)),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("server {:?} has no host", creds.server))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let ca = creds
                .ca_pem
                .as_deref()
                .ok_or("an https API server needs its certificate-authority")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                let cert = cert.map_err(|e| format!("certificate authority: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("certificate authority: {e}"))?;
            }
            let builder = rustls::ClientConfig::builder_with_provider(shoal_tls::crypto_provider())
                .with_protocol_versions(shoal_tls::PROTOCOL_VERSIONS)
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots);
            let config = match &creds.client_identity {
                Some((cert, key)) => {
                    let chain = CertificateDer::pem_slice_iter(cert)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("client certificate: {e}"))?;
                    let key = PrivateKeyDer::from_pem_slice(key)
                        .map_err(|e| format!("client key: {e}"))?;
                    builder
                        .with_client_auth_cert(chain, key)
                        .map_err(|e| format!("client certificate: {e}"))?
                }
                None => builder.with_no_client_auth(),
            };
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("server name {host:?}: {e}"))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(ApiClient {
            host,
            port,
            authority: authority.as_str().to_string(),
            tls,
            auth: creds.auth.clone(),
            conn: None,
        })
    }

    /// One request; the status and body of the answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, Vec<u8>), String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| format!("no answer from the API server within {REQUEST_TIMEOUT:?}"))?
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, Vec<u8>), String> {
        let mut sender = match self.conn.take().filter(|c| !c.is_closed()) {
            Some(c) => c,
            None => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("API server connection: {e}"))?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.authority.as_str())
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "shoal-autoscaler");
        match &self.auth {
            Auth::None => {}
            Auth::Token(token) => {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            Auth::TokenFile(file) => {
                let token = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read token {}: {e}", file.display()))?;
                request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.trim()));
            }
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("API server request failed: {e}"))?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("API server answer: {e}"))?
            .to_bytes();
        if !sender.is_closed() {
            self.conn = Some(sender);
        }
        Ok((status, bytes.to_vec()))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| format!("TLS with the API server: {e}"))?;
                handshake(TokioIo::new(tls)).await
            }
            None => handshake(TokioIo::new(stream)).await,
        }
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP with the API server: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
