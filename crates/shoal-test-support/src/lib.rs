//! shoal-test-support
