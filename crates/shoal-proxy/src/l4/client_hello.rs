//! Finding the server name (SNI, RFC 6066 §3) in a TLS ClientHello without terminating TLS,
//! for tls_passthrough listeners. Pure: it looks at the bytes received so far.
//!
//! The ClientHello may span several TLS records (large post-quantum key shares make that
//! common), so the handshake fragments of consecutive records are joined before parsing.

/// A ClientHello longer than this is refused (real ones are a few KiB at most).
pub(crate) const MAX_HELLO: usize = 32 * 1024;

const RECORD_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
const EXTENSION_SERVER_NAME: u16 = 0x0000;
const NAME_TYPE_HOST: u8 = 0x00;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// Not enough bytes yet.
    Incomplete,
    /// The bytes are not a TLS handshake.
    NotTls,
    /// A complete ClientHello; the server name it asks for, if any.
    Found(Option<String>),
    Invalid(&'static str),
}

/// Looks at the first bytes of a connection.
pub(crate) fn parse_client_hello(buf: &[u8]) -> Hello {
    if buf.is_empty() {
        return Hello::Incomplete;
    }
    if buf[0] != RECORD_HANDSHAKE || buf.get(1).is_some_and(|major| *major != 3) {
        return Hello::NotTls;
    }
    // Join the handshake fragments of consecutive records until the message is whole.
    let mut message = Vec::new();
    let mut at = 0;
    loop {
        let Some(header) = buf.get(at..at + 5) else {
            return Hello::Incomplete;
        };
        if header[0] != RECORD_HANDSHAKE {
            return Hello::Invalid("ClientHello interrupted by a non-handshake record");
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > 16 * 1024 + 256 {
            return Hello::Invalid("TLS record length out of range");
        }
        let Some(fragment) = buf.get(at + 5..at + 5 + len) else {
            return Hello::Incomplete;
        };
        message.extend_from_slice(fragment);
        at += 5 + len;
        if message.len() >= 4 {
            if message[0] != HANDSHAKE_CLIENT_HELLO {
                return Hello::Invalid("first handshake message is not a ClientHello");
            }
            let body_len = (usize::from(message[1]) << 16)
                | (usize::from(message[2]) << 8)
                | usize::from(message[3]);
            if body_len > MAX_HELLO {
                return Hello::Invalid("ClientHello too large");
            }
            if message.len() >= 4 + body_len {
                return match server_name(&message[4..4 + body_len]) {
                    Ok(name) => Hello::Found(name),
                    Err(reason) => Hello::Invalid(reason),
                };
            }
        }
        if at > MAX_HELLO + 5 * 8 {
            return Hello::Invalid("ClientHello too large");
        }
    }
}

/// A cursor over a ClientHello body: every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("ClientHello is cut short");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a one- or two-byte length prefix.
    fn vec8(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }

    fn vec16(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

fn server_name(body: &[u8]) -> Result<Option<String>, &'static str> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    r.vec8()?; // legacy_session_id
    r.vec16()?; // cipher_suites
    r.vec8()?; // legacy_compression_methods
    if r.0.is_empty() {
        return Ok(None); // no extensions at all (an old client)
    }
    let mut extensions = Reader(r.vec16()?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let data = extensions.vec16()?;
        if kind != EXTENSION_SERVER_NAME {
            continue;
        }
        let mut list = Reader(Reader(data).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == NAME_TYPE_HOST {
                if name.is_empty()
                    || !name
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                {
                    return Err("server name is not a DNS host name");
                }
                return Ok(std::str::from_utf8(name).ok().map(str::to_string));
            }
        }
        return Ok(None);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as a TLS client builds it (TLS 1.2 record, one server_name extension,
    /// one filler extension of `pad` bytes), in one record.
    fn hello(name: Option<&str>, pad: usize) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[0x01, 0x00]); // null compression
        let mut extensions = Vec::new();
        if let Some(name) = name {
            let mut entry = vec![NAME_TYPE_HOST];
            entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
            entry.extend_from_slice(name.as_bytes());
            let mut list = (entry.len() as u16).to_be_bytes().to_vec();
            list.extend_from_slice(&entry);
            extensions.extend_from_slice(&EXTENSION_SERVER_NAME.to_be_bytes());
            extensions.extend_from_slice(&(list.len() as u16).to_be_bytes());
            extensions.extend_from_slice(&list);
        }
        extensions.extend_from_slice(&0x0015u16.to_be_bytes()); // padding extension
        extensions.extend_from_slice(&(pad as u16).to_be_bytes());
        extensions.extend(std::iter::repeat_n(0u8, pad));
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        let mut message = vec![HANDSHAKE_CLIENT_HELLO];
        message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        message.extend_from_slice(&body);
        records(&message, 16 * 1024)
    }

    /// `message` cut into handshake records of at most `max` bytes each.
    fn records(message: &[u8], max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in message.chunks(max) {
            out.extend_from_slice(&[RECORD_HANDSHAKE, 0x03, 0x01]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn finds_the_server_name() {
        let bytes = hello(Some("shop.example.com"), 10);
        assert_eq!(
            parse_client_hello(&bytes),
            Hello::Found(Some("shop.example.com".into()))
        );
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_client_hello(&bytes[..cut]),
                Hello::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_hello_without_a_name() {
        assert_eq!(parse_client_hello(&hello(None, 0)), Hello::Found(None));
    }

    #[test]
    fn a_hello_split_over_records() {
        let single = hello(Some("big.example.com"), 20_000);
        // Re-cut the handshake message into 1000-byte records.
        let message: Vec<u8> = {
            let mut m = Vec::new();
            let mut at = 0;
            while at < single.len() {
                let len = usize::from(u16::from_be_bytes([single[at + 3], single[at + 4]]));
                m.extend_from_slice(&single[at + 5..at + 5 + len]);
                at += 5 + len;
            }
            m
        };
        let bytes = records(&message, 1000);
        assert_eq!(
            parse_client_hello(&bytes),
            Hello::Found(Some("big.example.com".into()))
        );
        assert_eq!(
            parse_client_hello(&bytes[..bytes.len() - 1]),
            Hello::Incomplete
        );
    }

    #[test]
    fn not_tls_and_garbage() {
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert_eq!(parse_client_hello(&[0x16, 0x04]), Hello::NotTls);
        assert!(matches!(
            parse_client_hello(&[0x16, 0x03, 0x01, 0x00, 0x00]),
            Hello::Invalid(_)
        ));
        // A handshake that is not a ClientHello (ServerHello = 2).
        assert!(matches!(
            parse_client_hello(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]),
            Hello::Invalid(_)
        ));
        // A body shorter than its fixed fields.
        assert!(matches!(
            parse_client_hello(&[0x16, 0x03, 0x03, 0x00, 0x06, 0x01, 0x00, 0x00, 0x02, 0x03, 0x03]),
            Hello::Invalid(_)
        ));
        // A name with a space.
        assert!(matches!(
            parse_client_hello(&hello(Some("bad name"), 0)),
            Hello::Invalid(_)
        ));
        // Too large.
        let mut huge = vec![
            RECORD_HANDSHAKE,
            0x03,
            0x03,
            0x00,
            0x04,
            HANDSHAKE_CLIENT_HELLO,
        ];
        huge.extend_from_slice(&[0x01, 0x00, 0x00]);
        assert!(matches!(parse_client_hello(&huge), Hello::Invalid(_)));
    }
}
