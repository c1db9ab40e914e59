//! shoal-proxy
