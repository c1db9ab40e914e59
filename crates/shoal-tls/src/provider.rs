//! One crypto provider for the whole process: *ring* (no C toolchain beyond what *ring*
//! builds itself, and a small dependency tree), with the protocol versions shoal accepts.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::SupportedProtocolVersion;

/// TLS 1.3 first, then 1.2. TLS 1.1 and older are refused on every listener and upstream
/// (RFC 8996 deprecates them).
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The provider every rustls config in shoal is built with. Built per call (it is a table
/// of function pointers and cipher suite lists): configs hold their own `Arc`.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls12_and_tls13() {
        let versions: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            vec![
                rustls::ProtocolVersion::TLSv1_3,
                rustls::ProtocolVersion::TLSv1_2
            ]
        );
    }

    #[test]
    fn a_server_config_builds_with_these_versions() {
        let built = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(PROTOCOL_VERSIONS);
        assert!(built.is_ok());
    }
}
