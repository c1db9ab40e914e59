//! How an upstream reaches its backends: TCP, then TLS when configured, for HTTP/1.1 or
//! HTTP/2. One [`Transport`] per upstream, shared by all its backends and workers.
//!
//! A transport has an id. Every connection remembers the id of the transport that made it,
//! and a pool hands out only connections of the transport asking: a reload that changes the
//! protocol, the TLS settings or the files behind them gets a new transport, so no request
//! under the new settings rides a connection made under the old ones (a cleartext one for a
//! TLS upstream, or one verified against a CA that was since replaced). A reload that changes
//! none of them keeps the transport, its pooled connections and its TLS session cache.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_config::{UpstreamConfig, UpstreamProtocol, UpstreamTls};
use shoal_tls::pki_types::ServerName;
use shoal_tls::ClientMaterial;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::backend_stream::BackendStream;
use crate::connect_error::ConnectError;

/// ALPN ids (RFC 7301 registry).
const ALPN_HTTP1: &[u8] = b"http/1.1";
const ALPN_H2: &[u8] = b"h2";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Everything a transport is made from, files' contents included: equal keys make equal
/// transports, so an unchanged one is kept across a reload.
#[derive(Debug, PartialEq)]
pub(crate) struct TransportKey {
    protocol: UpstreamProtocol,
    tls: Option<(UpstreamTls, Result<ClientMaterial, String>)>,
}

impl TransportKey {
    /// Reads the TLS files of `config` (they were checked when the config was loaded; a
    /// failure now, such as a file removed since, is kept as the reason every connection
    /// will fail).
    pub(crate) fn load(config: &UpstreamConfig) -> TransportKey {
        let tls = config.tls.as_ref().map(|tls| {
            let identity = tls
                .client_identity
                .as_ref()
                .map(|i| (i.cert.as_path(), i.key.as_path()));
            let material = ClientMaterial::load(&tls.ca, identity).map_err(|e| e.to_string());
            (tls.clone(), material)
        });
        TransportKey {
            protocol: config.protocol,
            tls,
        }
    }
}

enum TlsSide {
    Ready {
        connector: TlsConnector,
        /// None: each backend's IP address.
        server_name: Option<ServerName<'static>>,
    },
    /// TLS is configured but cannot be set up: every connection fails with this reason.
    /// Never a fall back to cleartext.
    Broken(Arc<str>),
}

pub struct Transport {
    id: u64,
    protocol: UpstreamProtocol,
    tls: Option<TlsSide>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = match &self.tls {
            None => "none".to_string(),
            Some(TlsSide::Ready { server_name, .. }) => format!("ready ({server_name:?})"),
            Some(TlsSide::Broken(reason)) => format!("broken ({reason})"),
        };
        f.debug_struct("Transport")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("tls", &tls)
            .finish()
    }
}

impl Transport {
    /// Cleartext HTTP/1.1: what an upstream without `protocol` or `tls` uses.
    pub fn plain() -> Transport {
        Transport {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            protocol: UpstreamProtocol::Http1,
            tls: None,
        }
    }

    /// The transport `key` describes. A TLS setup that fails is logged once here.
    pub(crate) fn new(upstream: &str, key: &TransportKey) -> Transport {
        let alpn: &[&[u8]] = match key.protocol {
            UpstreamProtocol::Http1 => &[ALPN_HTTP1],
            UpstreamProtocol::H2 => &[ALPN_H2],
        };
        let tls = key.tls.as_ref().map(|(tls, material)| {
            let config = material
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|m| m.client_config(alpn).map_err(|e| e.to_string()));
            match config {
                Ok(config) => TlsSide::Ready {
                    connector: TlsConnector::from(Arc::new(config)),
                    server_name: tls.server_name.as_deref().and_then(shoal_tls::server_name),
                },
                Err(reason) => {
                    tracing::error!(upstream, error = %reason, "TLS to the backends cannot be set up: every connection will fail");
                    TlsSide::Broken(reason.into())
                }
            }
        });
        Transport {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            protocol: key.protocol,
            tls,
        }
    }

    /// Identifies this transport among all the process has made.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn protocol(&self) -> UpstreamProtocol {
        self.protocol
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Connects to `addr`: TCP, then the TLS handshake (verifying the backend's certificate),
    /// all within `timeout`. With HTTP/2 over TLS the backend must select `h2` by ALPN.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<BackendStream, ConnectError> {
        if let Some(TlsSide::Broken(reason)) = &self.tls {
            return Err(ConnectError::Tls(addr, reason.to_string()));
        }
        match tokio::time::timeout(timeout, self.connect_within(addr)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout(addr, timeout)),
        }
    }

    async fn connect_within(&self, addr: SocketAddr) -> Result<BackendStream, ConnectError> {
        let tcp = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(ConnectError::Refused(addr))
            }
            Err(e) => return Err(ConnectError::Io(addr, e)),
        };
        // Requests are small writes answered quickly: Nagle would add 40 ms stalls.
        let _ = tcp.set_nodelay(true);
        let (connector, server_name) = match &self.tls {
            None => return Ok(BackendStream::Plain(tcp)),
            Some(TlsSide::Broken(reason)) => {
                return Err(ConnectError::Tls(addr, reason.to_string()))
            }
            Some(TlsSide::Ready {
                connector,
                server_name,
            }) => (connector, server_name),
        };
        let name = server_name
            .clone()
            .unwrap_or_else(|| ServerName::from(addr.ip()));
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Tls(addr, e.to_string()))?;
        let stream = BackendStream::Tls(Box::new(stream));
        if self.protocol == UpstreamProtocol::H2 && stream.alpn_protocol() != Some(ALPN_H2) {
            return Err(ConnectError::Tls(
                addr,
                "the backend did not select h2 by ALPN (protocol = \"h2\" over TLS needs a \
                 backend that offers HTTP/2)"
                    .to_string(),
            ));
        }
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(text: &str) -> UpstreamConfig {
        let config = shoal_config::Config::from_toml_str(&format!(
            "[listeners.web]\nbind = \"127.0.0.1:1\"\nroutes = [{{ upstream = \"api\" }}]\n\
             [upstreams.api]\nbackends = [\"127.0.0.1:9\"]\n{text}\n"
        ))
        .expect("valid config");
        config.upstreams[0].clone()
    }

    #[test]
    fn equal_settings_make_equal_keys() {
        let plain = TransportKey::load(&upstream(""));
        assert_eq!(plain, TransportKey::load(&upstream("protocol = \"http1\"")));
        assert_ne!(plain, TransportKey::load(&upstream("protocol = \"h2\"")));
        let tls = TransportKey::load(&upstream("tls = { ca = \"/nonexistent/ca.pem\" }"));
        assert_ne!(plain, tls);
        assert!(matches!(&tls.tls, Some((_, Err(_)))), "{tls:?}");
    }

    #[tokio::test]
    async fn broken_tls_fails_every_connection_without_connecting() {
        let key = TransportKey::load(&upstream("tls = { ca = \"/nonexistent/ca.pem\" }"));
        let transport = Transport::new("api", &key);
        assert!(transport.is_tls());
        // Nothing listens on port 9: a cleartext attempt would be refused, not a TLS error.
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let e = transport
            .connect(addr, Duration::from_secs(1))
            .await
            .expect_err("no TLS, no connection");
        assert!(matches!(e, ConnectError::Tls(..)), "{e}");
        assert!(e.to_string().contains("nonexistent"), "{e}");
    }

    #[test]
    fn transports_have_distinct_ids() {
        let key = TransportKey::load(&upstream(""));
        let a = Transport::new("api", &key);
        let b = Transport::new("api", &key);
        assert_ne!(a.id(), b.id());
        assert_ne!(Transport::plain().id(), Transport::plain().id());
    }
}
