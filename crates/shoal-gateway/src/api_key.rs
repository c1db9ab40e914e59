//! `kind = "api_key"`: a key from a header (default `x-api-key`) or a query parameter,
//! checked against a file of SHA-256 hashes with names:
//!
//! ```text
//! # name   sha256 of the key (hex)
//! billing  9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//!
//! Only hashes are stored, so the file leaks no key. The presented key's hash is compared
//! with every entry in constant time (no early exit), and the matching entry's name is
//! forwarded as `x-api-key-name` (a client-sent `x-api-key-name` is always removed first).
//! Missing or wrong: 401.

use std::path::Path;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue, WWW_AUTHENTICATE};
use http::StatusCode;
use sha2::{Digest, Sha256};
use shoal_config::ApiKeyConfig;
use subtle::ConstantTimeEq;

use crate::exchange::{Exchange, Rejection, RequestCtx};
use crate::request_key;

pub const X_API_KEY_NAME: HeaderName = HeaderName::from_static("x-api-key-name");

#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    value: HeaderValue,
    hash: [u8; 32],
}

#[derive(Debug)]
pub struct ApiKey {
    entries: Vec<Entry>,
    header: HeaderName,
    query: Option<String>,
}

impl ApiKey {
    pub fn new(config: &ApiKeyConfig) -> Result<ApiKey, String> {
        Ok(ApiKey {
            entries: load(&config.keys.path)?,
            header: config.header.clone(),
            query: config.query.clone(),
        })
    }

    pub fn apply(&self, req: &mut RequestCtx<'_>, ex: &mut Exchange) -> Result<(), Rejection> {
        let unauthorized = |why: &'static str| {
            Rejection::new(StatusCode::UNAUTHORIZED, why)
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey"))
        };
        let presented = req
            .parts
            .headers
            .get(&self.header)
            .map(HeaderValue::as_bytes)
            .or_else(|| {
                self.query
                    .as_deref()
                    .and_then(|q| request_key::query(&req.parts.uri, q))
            })
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthorized("an API key is required"))?;
        let hash: [u8; 32] = Sha256::digest(presented).into();
        let mut found: Option<&Entry> = None;
        for entry in &self.entries {
            // Every entry is compared, whatever matched before.
            let equal = bool::from(entry.hash.ct_eq(&hash));
            if equal && found.is_none() {
                found = Some(entry);
            }
        }
        let entry = found.ok_or_else(|| unauthorized("the API key is not valid"))?;
        req.parts
            .headers
            .insert(X_API_KEY_NAME, entry.value.clone());
        ex.api_key_name = Some(Arc::clone(&entry.name));
        Ok(())
    }
}

fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Lines `NAME HEX` (or `NAME:HEX`); `#` comments and blank lines are skipped.
fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let (name, hex) = line
            .split_once(|c: char| c.is_whitespace() || c == ':')
            .ok_or_else(|| format!("line {n}: expected `NAME SHA256-HEX`"))?;
        let hex = hex.trim();
        let hash = decode_hex(hex).ok_or_else(|| {
            format!("line {n}: {hex:?} is not a SHA-256 hash (64 hex digits); store `printf %s KEY | sha256sum`, not the key")
        })?;
        let value = HeaderValue::from_str(name)
            .ok()
            .filter(|_| !name.is_empty())
            .ok_or_else(|| format!("line {n}: {name:?} is not a usable key name"))?;
        if entries.iter().any(|e| &*e.name == name) {
            return Err(format!("line {n}: the name {name:?} is used twice"));
        }
        entries.push(Entry {
            name: Arc::from(name),
            value,
            hash,
        });
    }
    if entries.is_empty() {
        return Err("no keys (lines `NAME SHA256-HEX`)".into());
    }
    Ok(entries)
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Hex SHA-256 of `key`, for tests and docs.
pub fn sha256_hex(key: &[u8]) -> String {
    Sha256::digest(key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_hashes() {
        let h = sha256_hex(b"k1");
        let entries = parse(&format!(
            "# keys\n\nbilling {h}\nops:{}\n",
            sha256_hex(b"k2")
        ))
        .expect("valid");
        assert_eq!(entries.len(), 2);
        assert_eq!(&*entries[0].name, "billing");
        assert_eq!(entries[1].hash, <[u8; 32]>::from(Sha256::digest(b"k2")));
        assert!(parse("").unwrap_err().contains("no keys"));
        assert!(parse("a 1234").unwrap_err().contains("line 1"));
        assert!(parse(&format!("a {h}\na {h}"))
            .unwrap_err()
            .contains("twice"));
        assert!(parse("justaname").unwrap_err().contains("expected"));
    }
}
