//! Request ids: passed through when the client (or a balancer in front) sent one, generated
//! otherwise. Generated ids are 32 hex digits: a per-process random prefix and a counter, so
//! making one costs no system call and no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::HeaderValue;

/// Longest client-supplied id passed through; a longer one is replaced (it would only bloat
/// every log line and backend request).
const MAX_LEN: usize = 128;

fn prefix() -> u64 {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        shoal_balance::Rng::new(nanos ^ u64::from(std::process::id()).rotate_left(32)).next_u64()
    })
}

/// A fresh id. Hex-encoded by hand: `format!` showed up in profiles of the request path.
pub(crate) fn generate() -> HeaderValue {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; 32];
    for (i, word) in [prefix(), n].into_iter().enumerate() {
        for j in 0..16 {
            let nibble = (word >> (60 - 4 * j)) & 0xf;
            text[i * 16 + j] = HEX[nibble as usize];
        }
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The client's id if it is usable (visible ASCII, bounded length), else a new one.
pub(crate) fn accept_or_generate(sent: Option<&HeaderValue>) -> HeaderValue {
    match sent {
        Some(v)
            if !v.is_empty()
                && v.len() <= MAX_LEN
                && v.as_bytes().iter().all(|b| b.is_ascii_graphic()) =>
        {
            v.clone()
        }
        _ => generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_hex() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        let prefix = format!("{:016x}", prefix());
        assert!(a.to_str().expect("ascii").starts_with(&prefix));
        let (na, nb) = (
            &a.to_str().expect("ascii")[16..],
            &b.to_str().expect("ascii")[16..],
        );
        let (na, nb) = (
            u64::from_str_radix(na, 16).expect("hex"),
            u64::from_str_radix(nb, 16).expect("hex"),
        );
        assert!(nb > na);
        assert_eq!(a.len(), 32);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn client_ids_pass_only_when_sane() {
        let good = HeaderValue::from_static("abc-123");
        assert_eq!(accept_or_generate(Some(&good)), good);
        let spaced = HeaderValue::from_static("a b");
        assert_ne!(accept_or_generate(Some(&spaced)), spaced);
        let long = HeaderValue::from_str(&"x".repeat(200)).expect("valid");
        assert_eq!(accept_or_generate(Some(&long)).len(), 32);
        assert_eq!(accept_or_generate(None).len(), 32);
    }
}
