//! Sticky sessions: the cookie that pins a client to a backend.
//!
//! The cookie names the backend opaquely and cannot be forged: its value is
//! `base64url(tag ‖ expires ‖ mac)` where `tag` = HMAC(key, upstream, address) cut to 8
//! bytes (the same for every cookie of that backend, but revealing nothing about the
//! address), `expires` is a Unix time, and `mac` = HMAC(key, tag ‖ expires) cut to 16 bytes.
//! A cookie whose mac does not verify, that has expired, or whose backend is gone, is
//! ignored: the request is balanced as usual and the cookie re-issued.
//!
//! The key comes from `secret_file` (share it between shoal instances so each honours the
//! others' cookies), else a random key made once per process (cookies then end with the
//! process, and instances do not recognise each other's).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::header::{HeaderMap, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::request_key;

type HmacSha256 = Hmac<Sha256>;

const TAG: usize = 8;
const MAC: usize = 16;
const VALUE: usize = TAG + 8 + MAC;
/// Shortest `secret_file` key accepted.
pub const MIN_KEY_BYTES: usize = 16;

/// Signs and checks affinity cookies for one upstream.
pub struct StickyCodec {
    /// HMAC keyed once; cloned per use.
    key: HmacSha256,
    cookie: String,
    ttl: u64,
}

/// A random per-process key.
pub fn random_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        // No system randomness: fall back to what varies per process. Weak, so say so.
        tracing::warn!("no system randomness for the sticky-cookie key; using a time-based key");
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        key.iter_mut()
            .zip(seed.to_le_bytes().iter().cycle())
            .for_each(|(k, s)| *k = *s);
    }
    key
}

impl std::fmt::Debug for StickyCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StickyCodec")
            .field("cookie", &self.cookie)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl StickyCodec {
    pub fn new(key: &[u8], cookie: &str, ttl: Duration) -> Result<StickyCodec, String> {
        let key = HmacSha256::new_from_slice(key).map_err(|e| format!("sticky key: {e}"))?;
        Ok(StickyCodec {
            key,
            cookie: cookie.to_string(),
            ttl: ttl.as_secs().max(1),
        })
    }

    fn mac(&self) -> HmacSha256 {
        self.key.clone()
    }

    /// The opaque tag of a backend.
    pub fn tag(&self, upstream: &str, addr: SocketAddr) -> [u8; TAG] {
        let mut mac = self.mac();
        mac.update(b"shoal-sticky-backend\0");
        mac.update(upstream.as_bytes());
        mac.update(b"\0");
        mac.update(addr.to_string().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&full[..TAG]);
        tag
    }

    fn sign(&self, tag: &[u8; TAG], expires: u64) -> [u8; MAC] {
        let mut mac = self.mac();
        mac.update(b"shoal-sticky-v1\0");
        mac.update(tag);
        mac.update(&expires.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC];
        out.copy_from_slice(&full[..MAC]);
        out
    }

    /// The cookie value for `tag`, valid until `now + ttl`.
    pub fn encode(&self, tag: &[u8; TAG], now: u64) -> String {
        let expires = now.saturating_add(self.ttl);
        let mut raw = [0u8; VALUE];
        raw[..TAG].copy_from_slice(tag);
        raw[TAG..TAG + 8].copy_from_slice(&expires.to_be_bytes());
        raw[TAG + 8..].copy_from_slice(&self.sign(tag, expires));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// The tag and expiry of a genuine, unexpired cookie value.
    pub fn decode(&self, value: &[u8], now: u64) -> Option<([u8; TAG], u64)> {
        if value.len() > 64 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        if raw.len() != VALUE {
            return None;
        }
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&raw[..TAG]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&raw[TAG..TAG + 8]);
        let expires = u64::from_be_bytes(expires);
        let genuine = bool::from(self.sign(&tag, expires).ct_eq(&raw[TAG + 8..]));
        (genuine && expires > now).then_some((tag, expires))
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    pub fn ttl(&self) -> u64 {
        self.ttl
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One upstream's backends as cookie tags, in backend order.
#[derive(Debug)]
pub struct StickyTable {
    codec: Arc<StickyCodec>,
    tags: Vec<[u8; TAG]>,
}

/// What a request's cookie says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affinity {
    /// The backend (index) a valid cookie names.
    pub backend: Option<usize>,
    /// The cookie is valid and not half-way to expiry: no need to send it again if that
    /// backend serves.
    pub fresh: bool,
}

impl StickyTable {
    pub fn new(codec: Arc<StickyCodec>, upstream: &str, backends: &[SocketAddr]) -> StickyTable {
        let tags = backends.iter().map(|a| codec.tag(upstream, *a)).collect();
        StickyTable { codec, tags }
    }

    /// Reads the request's affinity cookie.
    pub fn affinity(&self, headers: &HeaderMap) -> Affinity {
        let now = unix_now();
        let decoded = request_key::cookie(headers, &self.codec.cookie)
            .and_then(|v| self.codec.decode(v, now));
        let Some((tag, expires)) = decoded else {
            return Affinity {
                backend: None,
                fresh: false,
            };
        };
        let backend = self.tags.iter().position(|t| *t == tag);
        Affinity {
            backend,
            fresh: backend.is_some() && expires.saturating_sub(now) > self.codec.ttl / 2,
        }
    }

    /// The `Set-Cookie` naming backend `index`.
    pub fn set_cookie(&self, index: usize) -> Option<HeaderValue> {
        let tag = self.tags.get(index)?;
        let value = self.codec.encode(tag, unix_now());
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
            self.codec.cookie, self.codec.ttl
        ))
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;

    fn table(key: &[u8]) -> StickyTable {
        let codec =
            Arc::new(StickyCodec::new(key, "aff", Duration::from_secs(3600)).expect("codec"));
        let addrs: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
            .iter()
            .map(|a| a.parse().expect("addr"))
            .collect();
        StickyTable::new(codec, "app", &addrs)
    }

    fn with_cookie(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("pair")
            .to_string();
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("x=1; {pair}")).expect("value"),
        );
        h
    }

    #[test]
    fn round_trip_names_the_backend() {
        let t = table(b"0123456789abcdef0123");
        let cookie = t.set_cookie(2).expect("cookie");
        let text = cookie.to_str().expect("ascii");
        assert!(text.starts_with("aff="), "{text}");
        assert!(
            text.contains("Max-Age=3600; HttpOnly; SameSite=Lax"),
            "{text}"
        );
        assert!(!text.contains("127.0.0.1"), "opaque: {text}");
        let a = t.affinity(&with_cookie(&cookie));
        assert_eq!(
            a,
            Affinity {
                backend: Some(2),
                fresh: true
            }
        );
    }

    #[test]
    fn forged_tampered_expired_and_foreign_cookies_are_ignored() {
        let t = table(b"0123456789abcdef0123");
        let none = Affinity {
            backend: None,
            fresh: false,
        };
        let cookie = t.set_cookie(0).expect("cookie");
        let text = cookie.to_str().expect("ascii").to_string();
        let value = text
            .split(';')
            .next()
            .expect("pair")
            .trim_start_matches("aff=");
        // Flip one character of the value.
        let mut bytes = value.as_bytes().to_vec();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        for bad in [
            tampered.as_str(),
            "garbage",
            "",
            &"A".repeat(43),
            &"A".repeat(500),
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                COOKIE,
                HeaderValue::from_str(&format!("aff={bad}")).expect("v"),
            );
            assert_eq!(t.affinity(&h), none, "{bad}");
        }
        // Another key's cookie does not verify.
        let other = table(b"another key, also long enough");
        assert_eq!(other.affinity(&with_cookie(&cookie)), none);
        // Expired.
        let tag = t.tags[1];
        let old = t.codec.encode(&tag, unix_now() - 7200);
        assert_eq!(t.codec.decode(old.as_bytes(), unix_now()), None);
        // Half-way: valid but not fresh.
        let aging = t.codec.encode(&tag, unix_now() - 2000);
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("aff={aging}")).expect("v"),
        );
        assert_eq!(
            t.affinity(&h),
            Affinity {
                backend: Some(1),
                fresh: false
            }
        );
    }

    #[test]
    fn a_removed_backend_is_not_named() {
        let t = table(b"0123456789abcdef0123");
        let cookie = t.set_cookie(2).expect("cookie");
        let codec = Arc::clone(&t.codec);
        let fewer = StickyTable::new(codec, "app", &["127.0.0.1:1".parse().expect("addr")]);
        let a = fewer.affinity(&with_cookie(&cookie));
        assert_eq!(a.backend, None);
    }
}
