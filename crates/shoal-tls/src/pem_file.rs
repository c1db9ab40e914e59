//! Reading certificates, private keys and CA bundles from PEM files, with errors that name
//! the file and say what was wrong with it (the config layer adds the key and line).

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a PEM file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid PEM: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{} holds no {what}", path.display())]
    Empty { path: PathBuf, what: &'static str },
    #[error("{} holds a certificate rustls cannot use as a trust anchor: {reason}", path.display())]
    BadAnchor { path: PathBuf, reason: String },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> TlsFileError {
    TlsFileError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Every `CERTIFICATE` block in the file, in order (leaf first for a chain file).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(TlsFileError::Empty {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key in the file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsFileError::Empty {
            path: path.to_path_buf(),
            what: "private key",
        },
        other => invalid(path, other),
    })
}

/// A trust store from a CA bundle: every certificate in the file is a trust anchor.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsFileError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots.add(cert).map_err(|e| TlsFileError::BadAnchor {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_test_support::{TempDir, TestCa};

    #[test]
    fn reads_a_certificate_chain_and_its_key() {
        let dir = TempDir::new("pem-chain");
        let ca = TestCa::new();
        let leaf = ca.issue(&["shop.example.com"]);
        let cert = dir.write("shop.pem", &format!("{}{}", leaf.cert_pem, ca.cert_pem()));
        let key = dir.write("shop.key", &leaf.key_pem);
        assert_eq!(read_certificates(&cert).expect("certs").len(), 2);
        assert!(read_private_key(&key).is_ok());
    }

    #[test]
    fn a_ca_bundle_becomes_trust_anchors() {
        let dir = TempDir::new("pem-roots");
        let ca = TestCa::new();
        let path = dir.write("ca.pem", &ca.cert_pem());
        assert_eq!(read_roots(&path).expect("roots").len(), 1);
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = TempDir::new("pem-errors");
        let missing = dir.path().join("missing.pem");
        let e = read_certificates(&missing).expect_err("missing");
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let text = dir.write("notes.pem", "hello, no PEM here\n");
        let e = read_certificates(&text).expect_err("empty");
        assert!(e.to_string().ends_with("holds no certificate"), "{e}");
        let e = read_private_key(&text).expect_err("no key");
        assert!(e.to_string().ends_with("holds no private key"), "{e}");

        let ca = TestCa::new();
        let cert_only = dir.write("cert.pem", &ca.cert_pem());
        let e = read_private_key(&cert_only).expect_err("cert is not a key");
        assert!(e.to_string().contains("holds no private key"), "{e}");

        let broken = dir.write(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        let e = read_certificates(&broken).expect_err("broken base64");
        assert!(e.to_string().contains("is not valid PEM"), "{e}");
    }
}
