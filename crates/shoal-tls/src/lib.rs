//! shoal-tls: the TLS plumbing both sides of the proxy share. Listeners terminating TLS
//! (`protocol = "https"`) and upstreams speaking TLS to their backends (`tls = { ... }`) use
//! the same crypto provider, the same protocol versions (TLS 1.2 and 1.3, nothing older) and
//! the same PEM loading, so an error in a certificate file reads the same wherever it is.
//!
//! What certificate to present, which names to trust and when to reload stay with the code
//! that owns the listener or the upstream; this crate has no I/O but reading files.

mod client;
mod key_pair;
mod pem_file;
mod provider;

pub use client::{server_name, ClientConfigError, ClientIdentity, ClientMaterial, ClientTlsError};
pub use key_pair::{load_key_pair, KeyPair, KeyPairError};
pub use pem_file::{read_certificates, read_private_key, read_roots, TlsFileError};
pub use provider::{crypto_provider, PROTOCOL_VERSIONS};

pub use rustls;
pub use rustls_pki_types as pki_types;
