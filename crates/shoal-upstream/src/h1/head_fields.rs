//! Header fields taken out of a parsed HTTP/1 head without copying their values, for both
//! sides (responses here, requests in shoal-proxy's server): httparse's fields borrow the
//! read buffer, so their offsets are noted first (on the stack for the usual few fields),
//! then the head is split off and frozen, and the values become slices of it — one
//! allocation for the head instead of one per value.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Fields whose offsets fit on the stack.
const FEW: usize = 24;

/// Name start and end, value start and end, within the head.
type Span = (u32, u32, u32, u32);

/// Where each field of a head lies in it.
pub struct FieldOffsets {
    few: [Span; FEW],
    many: Vec<Span>,
    len: usize,
}

/// A field httparse returned outside the head's bytes (it cannot; checked anyway, since
/// slicing out of range would panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfHead;

/// Where `part` (a subslice of `buf`) lies within the first `used` bytes of `buf`.
pub fn locate(buf: &[u8], used: usize, part: &[u8]) -> Result<(u32, u32), OutOfHead> {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    let end = start.wrapping_add(part.len());
    if part.is_empty() {
        Ok((0, 0))
    } else if start < end && end <= used && used <= u32::MAX as usize {
        Ok((start as u32, end as u32))
    } else {
        Err(OutOfHead)
    }
}

impl FieldOffsets {
    /// Notes where `fields` (parsed from `buf`, whose first `used` bytes are the head) lie.
    pub fn of(
        buf: &[u8],
        used: usize,
        fields: &[httparse::Header<'_>],
    ) -> Result<FieldOffsets, OutOfHead> {
        let mut offsets = FieldOffsets {
            few: [(0, 0, 0, 0); FEW],
            many: Vec::new(),
            len: fields.len(),
        };
        if fields.len() > FEW {
            offsets.many.resize(fields.len(), (0, 0, 0, 0));
        }
        let spans = offsets.spans_mut();
        for (span, field) in spans.iter_mut().zip(fields) {
            let (ns, ne) = locate(buf, used, field.name.as_bytes())?;
            let (vs, ve) = locate(buf, used, field.value)?;
            *span = (ns, ne, vs, ve);
        }
        Ok(offsets)
    }

    fn spans_mut(&mut self) -> &mut [Span] {
        if self.len <= FEW {
            &mut self.few[..self.len]
        } else {
            &mut self.many
        }
    }

    fn spans(&self) -> &[Span] {
        if self.len <= FEW {
            &self.few[..self.len]
        } else {
            &self.many
        }
    }

    /// Builds the header map from `head` (the frozen head the offsets were taken in), with
    /// room for `extra` more fields; `note` sees each field as it goes in. An invalid name
    /// or value is `invalid`.
    pub fn into_map<E: Clone>(
        &self,
        head: &Bytes,
        extra: usize,
        invalid: E,
        mut note: impl FnMut(&HeaderName, &HeaderValue) -> Result<(), E>,
    ) -> Result<HeaderMap, E> {
        let mut headers = HeaderMap::with_capacity(self.len + extra);
        for &(ns, ne, vs, ve) in self.spans() {
            let name = head
                .get(ns as usize..ne as usize)
                .and_then(|n| HeaderName::from_bytes(n).ok())
                .ok_or_else(|| invalid.clone())?;
            let value = if vs == ve {
                HeaderValue::from_static("")
            } else if (ve as usize) <= head.len() {
                HeaderValue::from_maybe_shared(head.slice(vs as usize..ve as usize))
                    .map_err(|_| invalid.clone())?
            } else {
                return Err(invalid);
            };
            note(&name, &value)?;
            headers.append(name, value);
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::MaybeUninit;

    fn parse(text: &[u8]) -> (Bytes, FieldOffsets) {
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
        let mut request = httparse::Request::new(&mut []);
        let used = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut request,
            text,
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(used)) => used,
            other => panic!("not a complete head: {other:?}"),
        };
        let offsets = FieldOffsets::of(text, used, request.headers).expect("inside");
        (Bytes::copy_from_slice(&text[..used]), offsets)
    }

    #[test]
    fn few_and_many_fields_come_out_as_sent() {
        for n in [0, 3, FEW, FEW + 5] {
            let mut text = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                text.push_str(&format!("X-F{i}: v{i}\r\n"));
            }
            text.push_str("X-Empty:\r\n\r\n");
            let (head, offsets) = parse(text.as_bytes());
            let mut seen = 0;
            let map = offsets
                .into_map(&head, 2, "bad", |_, _| {
                    seen += 1;
                    Ok(())
                })
                .expect("valid");
            assert_eq!(seen, n + 1);
            assert_eq!(map.len(), n + 1);
            for i in 0..n {
                assert_eq!(map[format!("x-f{i}").as_str()], format!("v{i}").as_str());
            }
            assert_eq!(map["x-empty"], "");
        }
    }

    #[test]
    fn a_part_outside_the_head_is_refused() {
        let buf = b"GET / HTTP/1.1\r\n\r\n";
        let elsewhere = b"x-other";
        assert_eq!(locate(buf, buf.len(), elsewhere), Err(OutOfHead));
        assert_eq!(locate(buf, buf.len(), &buf[4..5]), Ok((4, 5)));
        assert_eq!(locate(buf, 3, &buf[4..5]), Err(OutOfHead));
    }
}
