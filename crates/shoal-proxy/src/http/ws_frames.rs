//! Just enough of WebSocket framing (RFC 6455 §5.2) for a tunnel to close cleanly: where one
//! frame ends and the next begins, and the Close frame shoal sends when it ends a tunnel
//! itself (drain, shutdown, idle timeout).
//!
//! The tunnel relays bytes untouched; [`FrameCursor`] only follows the frame headers going
//! past (a few bytes per frame, payloads skipped by arithmetic) so that shoal can stop at a
//! frame boundary and insert its own Close frame there without corrupting the stream. It
//! validates nothing the endpoints validate themselves; bytes that cannot be WebSocket
//! framing (a 64-bit length with its top bit set) make it give up, and the tunnel then
//! closes with a plain TCP close instead.

/// Longest frame header: 2 bytes, an 8-byte extended length, a 4-byte mask key.
const MAX_HEADER: usize = 14;
const OPCODE_CLOSE: u8 = 0x8;

/// Close status 1001, "going away" (RFC 6455 §7.4.1): the endpoint (here, the proxy in
/// front of it) is going away.
pub(crate) const GOING_AWAY: u16 = 1001;

/// Follows the frames of one direction of a WebSocket connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrameCursor {
    header: [u8; MAX_HEADER],
    /// Header bytes of the current frame seen so far; 0 with `remaining == 0` is a boundary.
    have: usize,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// The bytes are not WebSocket framing: boundaries are unknown from here on.
    lost: bool,
    /// A Close frame went this way: the receiver must get no other frame after it.
    close_seen: bool,
}

impl FrameCursor {
    /// Between two frames (and still following the stream).
    pub(crate) fn at_boundary(&self) -> bool {
        !self.lost && self.have == 0 && self.remaining == 0
    }

    /// The bytes were not WebSocket framing: boundaries are unknown.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost
    }

    /// A Close frame went this way.
    pub(crate) fn close_seen(&self) -> bool {
        self.close_seen
    }

    /// True when shoal may still insert a Close frame in this direction: framing followed,
    /// and the sender has not sent its own Close already.
    pub(crate) fn may_insert_close(&self) -> bool {
        !self.lost && !self.close_seen
    }

    /// Moves past `bytes`, which went through.
    pub(crate) fn advance(&mut self, bytes: &[u8]) {
        self.step(bytes, false);
    }

    /// How many of `bytes` (the next ones to go through) finish the current frame: `Some(0)`
    /// at a boundary, `None` when the frame goes on past them (or framing is lost).
    pub(crate) fn bytes_to_boundary(&self, bytes: &[u8]) -> Option<usize> {
        if self.at_boundary() {
            return Some(0);
        }
        let mut probe = *self;
        let used = probe.step(bytes, true);
        probe.at_boundary().then_some(used)
    }

    /// Consumes `bytes`; with `stop`, returns as soon as a frame ends. Returns the bytes
    /// consumed.
    fn step(&mut self, bytes: &[u8], stop: bool) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            if self.lost {
                return bytes.len();
            }
            if self.remaining > 0 {
                let left = (bytes.len() - i) as u64;
                let take = self.remaining.min(left);
                // `take` ≤ `left`, which came from a usize.
                i += take as usize;
                self.remaining -= take;
                if self.remaining == 0 && stop {
                    return i;
                }
                continue;
            }
            self.header[self.have] = bytes[i];
            self.have += 1;
            i += 1;
            if self.have >= 2 && self.have == header_len(self.header[0], self.header[1]) {
                self.have = 0;
                match payload_len(&self.header) {
                    Some(len) => self.remaining = len,
                    None => {
                        self.lost = true;
                        return bytes.len();
                    }
                }
                if self.header[0] & 0x0f == OPCODE_CLOSE {
                    self.close_seen = true;
                }
                if self.remaining == 0 && stop {
                    return i;
                }
            }
        }
        i
    }
}

/// The header's length from its first two bytes.
fn header_len(_b0: u8, b1: u8) -> usize {
    let extended = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// The payload length of a complete header; None for a 64-bit length with its most
/// significant bit set (RFC 6455 §5.2: it MUST be 0).
fn payload_len(header: &[u8; MAX_HEADER]) -> Option<u64> {
    match header[1] & 0x7f {
        126 => Some(u64::from(u16::from_be_bytes([header[2], header[3]]))),
        127 => {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&header[2..10]);
            let len = u64::from_be_bytes(eight);
            (len >> 63 == 0).then_some(len)
        }
        short => Some(u64::from(short)),
    }
}

/// A Close frame with `code` and `reason` (at most 123 bytes, cut if longer). `mask`: the
/// masking key, which frames towards a server must carry (RFC 6455 §5.3); frames towards a
/// client must not.
pub(crate) fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason);
    let mut frame = Vec::with_capacity(6 + payload.len());
    frame.push(0x80 | OPCODE_CLOSE);
    // ≤ 125: fits the 7-bit length.
    let len = payload.len() as u8;
    match mask {
        Some(key) => {
            frame.push(0x80 | len);
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => {
            frame.push(len);
            frame.extend_from_slice(&payload);
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a client (masked) or server sends it.
    fn frame(opcode: u8, payload_len: usize, masked: bool) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        let mask_bit = if masked { 0x80 } else { 0 };
        if payload_len < 126 {
            f.push(mask_bit | payload_len as u8);
        } else if payload_len <= 0xffff {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(payload_len as u16).to_be_bytes());
        } else {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
        if masked {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f.extend(std::iter::repeat_n(0x55, payload_len));
        f
    }

    #[test]
    fn follows_frames_of_every_length_form_fed_byte_by_byte() {
        for masked in [false, true] {
            let mut stream = Vec::new();
            let mut ends = Vec::new();
            for len in [0, 5, 125, 126, 300, 65535, 65536, 70000] {
                stream.extend(frame(0x2, len, masked));
                ends.push(stream.len());
            }
            let mut cursor = FrameCursor::default();
            let mut boundaries = Vec::new();
            for (i, b) in stream.iter().enumerate() {
                cursor.advance(std::slice::from_ref(b));
                if cursor.at_boundary() {
                    boundaries.push(i + 1);
                }
            }
            assert_eq!(boundaries, ends, "masked {masked}");
        }
    }

    #[test]
    fn finds_the_next_boundary_without_moving() {
        let mut stream = frame(0x1, 10, true);
        let first_end = stream.len();
        stream.extend(frame(0x2, 300, true));
        let mut cursor = FrameCursor::default();
        assert_eq!(
            cursor.bytes_to_boundary(&stream),
            Some(0),
            "at a boundary already"
        );
        cursor.advance(&stream[..3]);
        assert_eq!(cursor.bytes_to_boundary(&stream[3..]), Some(first_end - 3));
        assert_eq!(cursor.bytes_to_boundary(&stream[3..first_end - 1]), None);
        // Nothing moved: the same answer again.
        assert_eq!(cursor.bytes_to_boundary(&stream[3..]), Some(first_end - 3));
        cursor.advance(&stream[3..first_end + 1]);
        assert!(!cursor.at_boundary());
        assert_eq!(
            cursor.bytes_to_boundary(&stream[first_end + 1..]),
            Some(stream.len() - first_end - 1)
        );
    }

    #[test]
    fn an_empty_frame_ends_where_its_header_does() {
        let stream = [frame(0x9, 0, false), frame(0x1, 3, false)].concat();
        let mut cursor = FrameCursor::default();
        cursor.advance(&stream[..1]);
        assert_eq!(cursor.bytes_to_boundary(&stream[1..]), Some(1));
    }

    #[test]
    fn notes_a_close_frame_and_gives_up_on_non_framing() {
        let mut cursor = FrameCursor::default();
        cursor.advance(&frame(0x1, 4, false));
        assert!(cursor.may_insert_close());
        cursor.advance(&frame(OPCODE_CLOSE, 2, false));
        assert!(cursor.at_boundary());
        assert!(
            !cursor.may_insert_close(),
            "the receiver already has a Close"
        );

        let mut cursor = FrameCursor::default();
        cursor.advance(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]);
        assert!(!cursor.at_boundary());
        assert!(!cursor.may_insert_close());
        assert_eq!(cursor.bytes_to_boundary(b"anything"), None);
        // HTTP bytes are not framing either; whatever they parse as, no panic.
        let mut cursor = FrameCursor::default();
        cursor.advance(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[test]
    fn close_frames_are_well_formed() {
        assert_eq!(
            close_frame(GOING_AWAY, "bye", None),
            [0x88, 5, 0x03, 0xe9, b'b', b'y', b'e']
        );
        let key = [0x11, 0x22, 0x33, 0x44];
        let masked = close_frame(GOING_AWAY, "bye", Some(key));
        assert_eq!(&masked[..6], &[0x88, 0x85, 0x11, 0x22, 0x33, 0x44]);
        let unmasked: Vec<u8> = masked[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        assert_eq!(unmasked, [0x03, 0xe9, b'b', b'y', b'e']);
        // A frame the cursor itself follows: one frame, a Close.
        let mut cursor = FrameCursor::default();
        cursor.advance(&masked);
        assert!(cursor.at_boundary() && !cursor.may_insert_close());
        // The reason is cut to fit a control frame.
        let long = close_frame(GOING_AWAY, &"x".repeat(500), None);
        assert_eq!(long.len(), 2 + 125);
    }
}
