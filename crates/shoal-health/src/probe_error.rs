use std::io;
use std::time::Duration;

use shoal_core::format_duration;

/// Why an active probe failed. Its `Display` text becomes the [`crate::ProbeOutcome`]
/// reason, shown in the admin API and in transition causes.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("connect: {0}")]
    Connect(#[source] io::Error),
    #[error("timed out after {}", format_duration(*.0))]
    Timeout(Duration),
    #[error("write: {0}")]
    Write(#[source] io::Error),
    #[error("read: {0}")]
    Read(#[source] io::Error),
    /// The TLS handshake failed (certificate, protocol) or TLS is not usable.
    #[error("TLS: {0}")]
    Tls(String),
    /// An HTTP/2 probe failed at the protocol level.
    #[error("HTTP/2: {0}")]
    Http2(String),
    #[error("connection closed before a status line")]
    Closed,
    #[error("no status line in the first {0} bytes")]
    TooLong(usize),
    #[error("malformed status line {0:?}")]
    Malformed(String),
    #[error("HTTP {status} (expected {lo}-{hi})")]
    Status { status: u16, lo: u16, hi: u16 },
    /// The configured path or host would not make a valid request line or header (control
    /// characters or spaces): refused here rather than sent, so nothing can be smuggled.
    #[error("invalid probe {0}: contains a space or control character")]
    InvalidRequest(&'static str),
}
