//! Host normalisation: turns a raw `Host` header (or URI authority) into the form routes are
//! written in — lower-case, no port, no trailing dot — or rejects it.
//!
//! Rules, in order:
//!
//! 1. An IPv6 literal is written in brackets, `[::1]` or `[::1]:8080`; the text between the
//!    brackets must parse as an IPv6 address (zone ids and IPvFuture are rejected). The result
//!    keeps the brackets and is the canonical RFC 5952 text (`[0:0::1]` → `[::1]`), because
//!    that is how a route names it in `match.host`.
//! 2. Otherwise the host ends at the first `:`; everything after it is the port. A second `:`
//!    makes the port invalid, so `a:1:2` and an unbracketed `::1` are rejected.
//! 3. A port is ASCII digits with a value ≤ 65535. An empty port (`example.com:`) is allowed,
//!    as RFC 3986 allows it (`port = *DIGIT`), and means "no port".
//! 4. One trailing dot (a fully-qualified name, `example.com.`) is removed; two are not.
//! 5. The name must be non-empty and made of dot-separated, non-empty labels of ASCII letters,
//!    digits, `-` and `_` (underscores occur in real internal names). Anything else — spaces,
//!    `%`, `@`, `/`, non-ASCII — is not a host, and the proxy answers 400.
//! 6. ASCII upper case is lowered.
//!
//! A name is not checked against DNS length limits (253/63 bytes): the limit on the request head
//! already bounds it, and an over-long name simply matches no host route.
//!
//! The result borrows from the input unless it had to be lowered, so the common case (a
//! lower-case host, with or without a port) costs no allocation on the request path.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::Ipv6Addr;

/// Normalises a raw `Host` value: lower-case, port and one trailing dot removed. `None` when
/// `raw` is not a valid host (the proxy answers 400). See the module docs for the exact rules.
///
/// ```
/// use shoal_router::normalize_host;
/// assert_eq!(normalize_host("API.Example.com.:8080").as_deref(), Some("api.example.com"));
/// assert_eq!(normalize_host("[::1]:8080").as_deref(), Some("[::1]"));
/// assert_eq!(normalize_host("a:1:2"), None);
/// ```
pub fn normalize_host(raw: &str) -> Option<Cow<'_, str>> {
    if raw.starts_with('[') {
        return ipv6_literal(raw);
    }
    let name = match raw.split_once(':') {
        Some((name, port)) => {
            valid_port(port).then_some(())?;
            name
        }
        None => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if scan_name(name)? {
        Some(Cow::Owned(name.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(name))
    }
}

/// `[v6addr]` or `[v6addr]:port` → `[v6addr]` in canonical RFC 5952 form (lower-case, zeros
/// compressed), so `[0:0::1]` and `[::1]` reach the same route.
fn ipv6_literal(raw: &str) -> Option<Cow<'_, str>> {
    let close = raw.find(']')?;
    let addr: Ipv6Addr = raw.get(1..close)?.parse().ok()?;
    let after = &raw[close + 1..];
    if !after.is_empty() {
        valid_port(after.strip_prefix(':')?).then_some(())?;
    }
    let literal = &raw[..=close];
    // Format on the stack and compare, so a literal already in canonical form costs nothing.
    let mut canonical = StackText::default();
    write!(canonical, "[{addr}]").ok()?;
    let canonical = canonical.as_str()?;
    if canonical == literal {
        Some(Cow::Borrowed(literal))
    } else {
        Some(Cow::Owned(canonical.to_owned()))
    }
}

/// A fixed buffer big enough for any bracketed IPv6 address (45 + 2 bytes).
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.buf.get(..self.len)?).ok()
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Digits only, value ≤ 65535; empty is allowed (RFC 3986 `port = *DIGIT`). Leading zeros are
/// tolerated since they do not change the value.
fn valid_port(port: &str) -> bool {
    let mut value: u32 = 0;
    for b in port.bytes() {
        if !b.is_ascii_digit() {
            return false;
        }
        value = value * 10 + u32::from(b - b'0');
        // Checked per digit so a long run of digits can never overflow the accumulator.
        if value > u32::from(u16::MAX) {
            return false;
        }
    }
    true
}

/// Checks that `name` is dot-separated non-empty labels of `[A-Za-z0-9_-]` and tells whether
/// it has upper case. One pass over the bytes: this runs for every request.
fn scan_name(name: &str) -> Option<bool> {
    let mut label_len = 0usize;
    let mut has_upper = false;
    for b in name.bytes() {
        match b {
            b'.' if label_len == 0 => return None,
            b'.' => label_len = 0,
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => label_len += 1,
            b'A'..=b'Z' => {
                has_upper = true;
                label_len += 1;
            }
            _ => return None,
        }
    }
    // Also rejects the empty name and a second trailing dot (an empty last label).
    (label_len > 0).then_some(has_upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_hosts_are_normalised() {
        let cases = [
            ("example.com", "example.com"),
            ("Example.COM", "example.com"),
            ("example.com:8080", "example.com"),
            ("example.com.", "example.com"),
            ("example.com.:443", "example.com"),
            ("EXAMPLE.com.:443", "example.com"),
            ("example.com:", "example.com"),
            ("example.com:65535", "example.com"),
            ("example.com:0", "example.com"),
            ("example.com:00080", "example.com"),
            ("localhost", "localhost"),
            ("my_svc-1.internal", "my_svc-1.internal"),
            ("127.0.0.1", "127.0.0.1"),
            ("127.0.0.1:9000", "127.0.0.1"),
            ("[::1]", "[::1]"),
            ("[::1]:8080", "[::1]"),
            ("[2001:DB8::A]:443", "[2001:db8::a]"),
            ("[0:0:0:0:0:0:0:1]", "[::1]"),
            ("[2001:db8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]"),
            ("[::ffff:10.0.0.1]", "[::ffff:10.0.0.1]"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_host(raw).as_deref(), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn invalid_hosts_are_rejected() {
        let cases = [
            "",
            ":80",
            ".",
            "example.com..",
            ".example.com",
            "a..b",
            "a:1:2",
            "::1",
            "exa mple.com",
            "example.com:65536",
            "example.com:99999999999999999999",
            "example.com:8o",
            "example.com:-1",
            "example.com: 80",
            "user@example.com",
            "example.com/path",
            "exa%41mple.com",
            "ex\u{e9}mple.com",
            "[::1",
            "[::1]x",
            "[::1]:70000",
            "[not-v6]",
            "[fe80::1%25eth0]",
            "[]",
            "[::1]]",
        ];
        for raw in cases {
            assert_eq!(normalize_host(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn empty_port_means_no_port_for_names_and_literals_alike() {
        assert_eq!(normalize_host("a:").as_deref(), Some("a"));
        assert_eq!(normalize_host("[::1]:").as_deref(), Some("[::1]"));
    }

    #[test]
    fn lower_case_hosts_are_borrowed_not_copied() {
        for raw in [
            "api.example.com",
            "api.example.com:8080",
            "api.example.com.",
            "[::1]:80",
        ] {
            assert!(
                matches!(normalize_host(raw), Some(Cow::Borrowed(_))),
                "{raw:?} should not allocate"
            );
        }
        assert!(matches!(
            normalize_host("API.example.com"),
            Some(Cow::Owned(_))
        ));
    }
}
