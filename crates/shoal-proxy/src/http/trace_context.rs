//! W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): shoal is one hop
//! of the trace. A valid incoming `traceparent` keeps its trace id and flags and gets a new
//! parent id (this hop's span), so the backend's span hangs under shoal's; a missing or
//! invalid one starts a new trace (sampled, so tracers that follow their parent record it).
//! `tracestate` rides along untouched with a valid parent and is dropped with an invalid one
//! (the specification forbids reading it then).

use http::HeaderValue;

pub(crate) const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
pub(crate) const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// `00-` + 32 + `-` + 16 + `-` + 2.
const LEN: usize = 55;
const SAMPLED: u8 = 0x01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub trace_id: u128,
    pub parent_id: u64,
    pub flags: u8,
}

/// The trace this request belongs to from here on, and what to tell the backend.
#[derive(Debug)]
pub(crate) struct Hop {
    /// The `traceparent` to send: same trace, this hop as the parent.
    pub header: HeaderValue,
    pub trace_id: u128,
    /// False when the incoming value was missing or invalid (then `tracestate` goes too).
    pub continued: bool,
}

/// Parses a `traceparent` value. Version `00` exactly; a later version is read by its first
/// 55 characters when what follows starts with `-` (forward compatibility, §4.3); `ff`, upper
/// case hex and all-zero ids are invalid.
pub(crate) fn parse(value: &[u8]) -> Option<TraceParent> {
    if value.len() < LEN {
        return None;
    }
    let version = hex_u64(&value[0..2])? as u8;
    if version == 0xff || (version == 0 && value.len() != LEN) {
        return None;
    }
    if version > 0 && value.len() > LEN && value[LEN] != b'-' {
        return None;
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace_id =
        (u128::from(hex_u64(&value[3..19])?) << 64) | u128::from(hex_u64(&value[19..35])?);
    let parent_id = hex_u64(&value[36..52])?;
    let flags = hex_u64(&value[53..55])? as u8;
    if trace_id == 0 || parent_id == 0 {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        flags,
    })
}

/// Lower-case hex only (the specification's `HEXDIGLC`), at most 16 digits.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        n = (n << 4) | u64::from(v);
    }
    Some(n)
}

/// This hop: continue `incoming` or start a trace. `random` supplies fresh ids (never zero).
pub(crate) fn hop(incoming: Option<&HeaderValue>, mut random: impl FnMut() -> u64) -> Hop {
    let mut nonzero = move || loop {
        let n = random();
        if n != 0 {
            return n;
        }
    };
    let parent = incoming.and_then(|v| parse(v.as_bytes()));
    let (trace_id, flags, continued) = match parent {
        Some(p) => (p.trace_id, p.flags, true),
        None => (
            (u128::from(nonzero()) << 64) | u128::from(nonzero()),
            SAMPLED,
            false,
        ),
    };
    let span = nonzero();
    Hop {
        header: format_header(trace_id, span, flags),
        trace_id,
        continued,
    }
}

/// `00-{trace}-{span}-{flags}`, hex-encoded by hand (no `format!` on the request path).
fn format_header(trace_id: u128, span: u64, flags: u8) -> HeaderValue {
    let mut text = [0u8; LEN];
    text[..3].copy_from_slice(b"00-");
    write_hex(&mut text[3..35], trace_id);
    text[35] = b'-';
    write_hex(&mut text[36..52], u128::from(span));
    text[52] = b'-';
    write_hex(&mut text[53..55], u128::from(flags));
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("00-0-0-00"))
}

fn write_hex(out: &mut [u8], mut n: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// A trace id as the 32 hex digits logs and headers use.
pub(crate) fn trace_id_hex(trace_id: u128) -> String {
    format!("{trace_id:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn counter() -> impl FnMut() -> u64 {
        let mut n = 0u64;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn parses_the_specification_example() {
        let p = parse(EXAMPLE.as_bytes()).expect("valid");
        assert_eq!(p.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(p.parent_id, 0x00f067aa0ba902b7);
        assert_eq!(p.flags, 1);
    }

    #[test]
    fn refuses_what_the_specification_refuses() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        // A later version with extra fields is read by its version-00 part.
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future";
        assert!(parse(future.as_bytes()).is_some());
    }

    #[test]
    fn a_valid_parent_is_continued_with_a_new_span() {
        let incoming = HeaderValue::from_static(EXAMPLE);
        let hop = hop(Some(&incoming), counter());
        assert!(hop.continued);
        assert_eq!(hop.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(
            hop.header,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-01"
        );
    }

    #[test]
    fn a_missing_or_invalid_parent_starts_a_sampled_trace() {
        let invalid = HeaderValue::from_static("00-nonsense");
        for incoming in [None, Some(&invalid)] {
            let hop = hop(incoming, counter());
            assert!(!hop.continued);
            assert_eq!(hop.trace_id, (1u128 << 64) | 2);
            assert_eq!(
                hop.header,
                "00-00000000000000010000000000000002-0000000000000003-01"
            );
            assert!(
                parse(hop.header.as_bytes()).is_some(),
                "what we send parses"
            );
        }
        assert_eq!(trace_id_hex(0xabc), "00000000000000000000000000000abc");
    }

    #[test]
    fn zero_from_the_random_source_is_skipped() {
        let mut values = [0u64, 0, 7, 0, 8, 9].into_iter();
        let hop = hop(None, move || values.next().unwrap_or(5));
        assert_eq!(hop.trace_id, (7u128 << 64) | 8);
        assert!(hop
            .header
            .to_str()
            .expect("ascii")
            .contains("-0000000000000009-"));
    }
}
