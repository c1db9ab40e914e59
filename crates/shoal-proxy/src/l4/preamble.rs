//! What an L4 listener reads before it can pick a backend: a PROXY header from a trusted
//! balancer in front (`accept_proxy_protocol`), and for tls_passthrough the ClientHello's
//! server name. The bytes are read, not peeked (a peek cannot wait for "more than I have"),
//! so whatever was read past the PROXY header is handed back to be sent to the backend first.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::Cidr;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::client_hello::{parse_client_hello, Hello, MAX_HELLO};
use super::inbound_proxy_header::{parse_proxy_header, InboundHeader};

/// A v2 header can carry 64 KiB of TLVs; past a header and a ClientHello nothing is buffered.
const MAX_PREAMBLE: usize = 16 + 65535 + MAX_HELLO;
const READ_CHUNK: usize = 4096;

/// What the listener needs to read first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wants<'a> {
    /// `accept_proxy_protocol`'s trusted networks.
    pub trusted: Option<&'a [Cidr]>,
    /// tls_passthrough: the server name from the ClientHello.
    pub server_name: bool,
}

#[derive(Debug)]
pub(crate) struct Preamble {
    /// The client: a trusted PROXY header's source, else the socket's peer.
    pub client: SocketAddr,
    /// Bytes read past any PROXY header: the start of the client's stream, to be sent to the
    /// backend before anything else.
    pub data: Vec<u8>,
    /// The server name a ClientHello asked for.
    pub server_name: Option<String>,
    /// The client is not trusted to send a PROXY header and nothing was read: the relay must
    /// refuse one in its first bytes ([`super::proxy_header_guard`]).
    pub refuse_proxy_header: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PreambleError {
    #[error("no complete preamble within {0:?}")]
    Timeout(Duration),
    #[error("client closed before its preamble was complete")]
    Closed,
    #[error("a PROXY header from a peer outside accept_proxy_protocol.trusted")]
    Untrusted,
    #[error("a trusted peer sent no PROXY header")]
    MissingProxyHeader,
    #[error("invalid PROXY header: {0}")]
    InvalidProxyHeader(&'static str),
    #[error("not a TLS ClientHello")]
    NotTls,
    #[error("invalid ClientHello: {0}")]
    InvalidHello(&'static str),
    #[error("preamble larger than {MAX_PREAMBLE} bytes")]
    TooLarge,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl PreambleError {
    /// Not TLS / no usable server name: worth a TLS alert rather than a silent close.
    pub(crate) fn is_tls_problem(&self) -> bool {
        matches!(self, PreambleError::InvalidHello(_))
    }
}

/// Reads a PROXY header from a trusted peer of an HTTP listener and nothing past it (the
/// bytes after it belong to the HTTP or TLS server that reads the stream next), returning the
/// client it names (None: `LOCAL`/`UNKNOWN`, keep the peer). Peeks, then consumes only bytes
/// known to belong to the header: while the header is incomplete, everything peeked is part
/// of it, so a peek never waits on bytes it has already seen.
pub(crate) async fn read_proxy_header_exact(
    stream: &mut TcpStream,
) -> Result<Option<SocketAddr>, PreambleError> {
    let mut header: Vec<u8> = Vec::new();
    let mut peeked = [0u8; READ_CHUNK];
    loop {
        let n = stream.peek(&mut peeked).await?;
        if n == 0 {
            return Err(PreambleError::Closed);
        }
        let start = header.len();
        header.extend_from_slice(&peeked[..n]);
        match parse_proxy_header(&header) {
            InboundHeader::Found { source, len } => {
                // The header ends within what was just peeked: consume exactly its bytes.
                stream.read_exact(&mut peeked[..len - start]).await?;
                return Ok(source);
            }
            InboundHeader::Incomplete => {
                if header.len() >= 16 + 65535 {
                    return Err(PreambleError::TooLarge);
                }
                stream.read_exact(&mut peeked[..n]).await?;
            }
            InboundHeader::Absent => return Err(PreambleError::MissingProxyHeader),
            InboundHeader::Invalid(reason) => {
                return Err(PreambleError::InvalidProxyHeader(reason))
            }
        }
    }
}

/// Reads what `wants` asks for within `timeout`. With nothing wanted, reads nothing.
pub(crate) async fn read_preamble(
    stream: &mut TcpStream,
    peer: SocketAddr,
    wants: Wants<'_>,
    timeout: Duration,
) -> Result<Preamble, PreambleError> {
    let mut preamble = Preamble {
        client: peer,
        data: Vec::new(),
        server_name: None,
        refuse_proxy_header: false,
    };
    let trusted = wants
        .trusted
        .map(|nets| nets.iter().any(|net| net.contains(peer.ip())));
    if !wants.server_name && trusted != Some(true) {
        // Nothing to wait for: an untrusted peer of a server-first protocol may be waiting
        // for the backend to speak.
        preamble.refuse_proxy_header = trusted == Some(false);
        return Ok(preamble);
    }
    tokio::time::timeout(timeout, read(stream, peer, trusted, wants, &mut preamble))
        .await
        .map_err(|_| PreambleError::Timeout(timeout))??;
    Ok(preamble)
}

async fn read(
    stream: &mut TcpStream,
    peer: SocketAddr,
    trusted: Option<bool>,
    wants: Wants<'_>,
    preamble: &mut Preamble,
) -> Result<(), PreambleError> {
    let buf = &mut preamble.data;
    let mut header_done = trusted.is_none();
    loop {
        if !header_done {
            match parse_proxy_header(buf) {
                InboundHeader::Incomplete => {}
                InboundHeader::Found { source, len } => {
                    if trusted != Some(true) {
                        return Err(PreambleError::Untrusted);
                    }
                    preamble.client = source.unwrap_or(peer);
                    buf.drain(..len);
                    header_done = true;
                }
                InboundHeader::Absent if trusted == Some(true) => {
                    return Err(PreambleError::MissingProxyHeader)
                }
                InboundHeader::Absent => header_done = true,
                // From an untrusted peer, a broken PROXY header is still a PROXY header.
                InboundHeader::Invalid(_) if trusted != Some(true) => {
                    return Err(PreambleError::Untrusted)
                }
                InboundHeader::Invalid(reason) => {
                    return Err(PreambleError::InvalidProxyHeader(reason))
                }
            }
        }
        if header_done {
            if !wants.server_name {
                return Ok(());
            }
            match parse_client_hello(buf) {
                Hello::Incomplete => {}
                Hello::Found(name) => {
                    preamble.server_name = name;
                    return Ok(());
                }
                Hello::NotTls => return Err(PreambleError::NotTls),
                Hello::Invalid(reason) => return Err(PreambleError::InvalidHello(reason)),
            }
        }
        if buf.len() >= MAX_PREAMBLE {
            return Err(PreambleError::TooLarge);
        }
        let start = buf.len();
        buf.resize(start + READ_CHUNK, 0);
        let n = stream.read(&mut buf[start..]).await;
        buf.truncate(start + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            return Err(PreambleError::Closed);
        }
    }
}
