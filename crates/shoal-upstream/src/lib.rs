//! shoal-upstream
