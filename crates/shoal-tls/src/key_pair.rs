//! A certificate chain and its private key, loaded together and checked to belong together,
//! with the DNS names the certificate is issued for (its subjectAltName): what a listener
//! matches a client's SNI against.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;

use crate::pem_file::{read_certificates, read_private_key, TlsFileError};
use crate::provider::crypto_provider;

/// A certificate ready to present.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The chain (leaf first) with its signing key.
    pub certified: Arc<CertifiedKey>,
    /// The leaf's subjectAltName DNS names, lower-case, as issued: `shop.example.com`, or
    /// `*.example.com` for a wildcard. Empty for a certificate naming only IP addresses or
    /// carrying its name only in the (obsolete) common name.
    pub names: Vec<String>,
}

/// Why a certificate and key pair cannot be used. [`KeyPairError::in_key_file`] tells which
/// of the two files is at fault, so a config error lands on the right key.
#[derive(Debug, thiserror::Error)]
pub enum KeyPairError {
    #[error(transparent)]
    Cert(TlsFileError),
    #[error(transparent)]
    Key(TlsFileError),
    #[error("{} holds a certificate that cannot be parsed: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{} holds a private key that cannot be used: {reason}", path.display())]
    UnusableKey { path: PathBuf, reason: String },
    #[error("the private key in {} does not match the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
}

impl KeyPairError {
    /// True when the key file is the one to fix (unreadable, not a key, not this
    /// certificate's key); false when the certificate file is.
    pub fn in_key_file(&self) -> bool {
        matches!(
            self,
            KeyPairError::Key(_) | KeyPairError::UnusableKey { .. } | KeyPairError::Mismatch { .. }
        )
    }
}

/// Reads a chain (leaf first) from `cert` and its private key from `key`, and checks that the
/// key is the leaf's.
pub fn load_key_pair(cert: &Path, key: &Path) -> Result<KeyPair, KeyPairError> {
    let chain = read_certificates(cert).map_err(KeyPairError::Cert)?;
    let private = read_private_key(key).map_err(KeyPairError::Key)?;
    let bad_cert = |reason: String| KeyPairError::BadCertificate {
        path: cert.to_path_buf(),
        reason,
    };
    let names = match chain.first() {
        Some(leaf) => dns_names(leaf).map_err(bad_cert)?,
        None => Vec::new(),
    };
    let signing = crypto_provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| KeyPairError::UnusableKey {
            path: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(KeyPairError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })
        }
        Err(e) => return Err(bad_cert(e.to_string())),
    }
    Ok(KeyPair {
        certified: Arc::new(certified),
        names,
    })
}

/// The DNS names of a certificate's subjectAltName, lower-case.
fn dns_names(leaf: &rustls_pki_types::CertificateDer<'_>) -> Result<Vec<String>, String> {
    let parsed = webpki::EndEntityCert::try_from(leaf).map_err(|e| e.to_string())?;
    Ok(parsed
        .valid_dns_names()
        .map(str::to_ascii_lowercase)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_test_support::{TempDir, TestCa};

    #[test]
    fn loads_a_pair_with_its_names() {
        let dir = TempDir::new("key-pair");
        let ca = TestCa::new();
        let leaf = ca.issue(&["Shop.Example.com", "*.example.com", "127.0.0.1"]);
        let cert = dir.write("shop.pem", &leaf.cert_pem);
        let key = dir.write("shop.key", &leaf.key_pem);
        let pair = load_key_pair(&cert, &key).expect("pair");
        assert_eq!(pair.names, ["shop.example.com", "*.example.com"]);
        assert_eq!(pair.certified.cert.len(), 1);
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch_in_the_key_file() {
        let dir = TempDir::new("key-pair-mismatch");
        let ca = TestCa::new();
        let one = ca.issue(&["one.example.com"]);
        let two = ca.issue(&["two.example.com"]);
        let cert = dir.write("one.pem", &one.cert_pem);
        let key = dir.write("two.key", &two.key_pem);
        let e = load_key_pair(&cert, &key).expect_err("mismatch");
        assert!(e.in_key_file());
        assert!(
            e.to_string().contains("does not match the certificate"),
            "{e}"
        );
    }

    #[test]
    fn errors_say_which_file() {
        let dir = TempDir::new("key-pair-errors");
        let ca = TestCa::new();
        let leaf = ca.issue(&["a.example.com"]);
        let cert = dir.write("a.pem", &leaf.cert_pem);
        let key = dir.write("a.key", &leaf.key_pem);
        let missing = dir.path().join("missing.pem");
        let e = load_key_pair(&missing, &key).expect_err("no cert");
        assert!(!e.in_key_file());
        let e = load_key_pair(&cert, &missing).expect_err("no key");
        assert!(e.in_key_file());
        // A certificate where the key should be.
        let e = load_key_pair(&cert, &cert).expect_err("cert as key");
        assert!(e.in_key_file(), "{e}");
        let garbage = dir.write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        );
        let e = load_key_pair(&garbage, &key).expect_err("not DER");
        assert!(!e.in_key_file());
        assert!(e.to_string().contains("cannot be parsed"), "{e}");
    }
}
