//! The client side: what an upstream needs to speak TLS to its backends. The PEM files are
//! loaded once into [`ClientMaterial`] (comparable, so a reload can tell whether anything
//! changed and keep its session cache when nothing did), then turned into a rustls
//! `ClientConfig` per protocol (the ALPN list differs between HTTP/1.1 and HTTP/2).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::pem_file::{read_certificates, read_private_key, TlsFileError};
use crate::provider::{crypto_provider, PROTOCOL_VERSIONS};

/// Why a client config could not be built from loaded material.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("{} holds a certificate rustls cannot use as a trust anchor: {reason}", path.display())]
    BadAnchor { path: PathBuf, reason: String },
    #[error("client certificate {} and key {} cannot be used together: {reason}", cert.display(), key.display())]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// Either error of [`ClientMaterial::load_and_check`].
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error(transparent)]
    File(#[from] TlsFileError),
    #[error(transparent)]
    Config(#[from] ClientConfigError),
}

/// A client certificate chain (leaf first) and its private key, for mTLS to backends.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// The trust anchors (and optional client identity) of one upstream, read from PEM files.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientMaterial {
    pub ca_path: PathBuf,
    pub roots: Vec<CertificateDer<'static>>,
    pub identity: Option<ClientIdentity>,
}

impl ClientMaterial {
    /// Reads the CA bundle and, when given, the client certificate chain and key.
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, TlsFileError> {
        let roots = read_certificates(ca)?;
        let identity = match identity {
            None => None,
            Some((cert, key)) => Some(ClientIdentity {
                cert_path: cert.to_path_buf(),
                key_path: key.to_path_buf(),
                chain: read_certificates(cert)?,
                key: read_private_key(key)?,
            }),
        };
        Ok(ClientMaterial {
            ca_path: ca.to_path_buf(),
            roots,
            identity,
        })
    }

    /// [`ClientMaterial::load`], then a trial build of the config, so a certificate that
    /// cannot anchor trust or a key that does not match its certificate is found now (what
    /// `shoal check` reports) rather than at the first connection.
    pub fn load_and_check(
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, ClientTlsError> {
        let material = ClientMaterial::load(ca, identity)?;
        material.client_config(&[])?;
        Ok(material)
    }

    /// A rustls client config trusting exactly these roots (never the system's), offering
    /// `alpn` in order. Certificates are verified against the server name given at connect
    /// time; there is no switch to turn verification off. Session resumption uses rustls's
    /// default in-memory cache, kept for as long as the config is.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<ClientConfig, ClientConfigError> {
        let mut roots = RootCertStore::empty();
        for cert in &self.roots {
            roots
                .add(cert.clone())
                .map_err(|e| ClientConfigError::BadAnchor {
                    path: self.ca_path.clone(),
                    reason: e.to_string(),
                })?;
        }
        let builder = ClientConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(|e| ClientConfigError::Setup(e.to_string()))?
            .with_root_certificates(Arc::new(roots));
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| ClientConfigError::Identity {
                    cert: identity.cert_path.clone(),
                    key: identity.key_path.clone(),
                    reason: e.to_string(),
                })?,
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// `name` as a server name for SNI and certificate verification: a DNS name or an IP
/// address. `None` when it is neither.
pub fn server_name(name: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(name).ok().map(|n| n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_test_support::{TempDir, TestCa};

    #[test]
    fn loads_roots_and_an_identity_and_builds_configs() {
        let dir = TempDir::new("client-material");
        let ca = TestCa::new();
        let ca_path = dir.write("ca.pem", &ca.cert_pem());
        let client = ca.issue_client("shoal");
        let cert = dir.write("client.pem", &client.cert_pem);
        let key = dir.write("client.key", &client.key_pem);

        let plain = ClientMaterial::load_and_check(&ca_path, None).expect("roots only");
        assert_eq!(plain.roots.len(), 1);
        let config = plain.client_config(&[b"h2"]).expect("config");
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);

        let mtls = ClientMaterial::load_and_check(&ca_path, Some((&cert, &key))).expect("mtls");
        assert!(mtls.identity.is_some());
        assert_ne!(plain, mtls, "an identity makes the material differ");
        let again = ClientMaterial::load(&ca_path, Some((&cert, &key))).expect("again");
        assert_eq!(mtls, again, "the same files load to equal material");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = TempDir::new("client-mismatch");
        let ca = TestCa::new();
        let ca_path = dir.write("ca.pem", &ca.cert_pem());
        let one = ca.issue_client("one");
        let two = ca.issue_client("two");
        let cert = dir.write("one.pem", &one.cert_pem);
        let key = dir.write("two.key", &two.key_pem);
        let e = ClientMaterial::load_and_check(&ca_path, Some((&cert, &key)))
            .expect_err("mismatched key");
        let text = e.to_string();
        assert!(text.contains("cannot be used together"), "{text}");
        assert!(text.contains("one.pem"), "{text}");
    }

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("backend.internal"),
            Some(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("10.0.0.7"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Some(ServerName::IpAddress(_))));
        for bad in ["", "has space.example", "bad_name!", "a..b"] {
            assert!(server_name(bad).is_none(), "{bad:?}");
        }
    }
}
