//! Byte sizes as written in the config: an integer of bytes (`1048576`) or a number with a
//! unit (`"64KiB"`, `"1MiB"`, `"10MB"`, `"512B"`).

use toml::de::DeValue;

use crate::document::{Ctx, Node};

/// Largest size accepted anywhere: 1 TiB (beyond it is a typo, not a limit).
const MAX_SIZE: u64 = 1 << 40;

/// `(unit, bytes)`, longest spellings first so `KiB` is tried before `B`.
const UNITS: &[(&str, u64)] = &[
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("B", 1),
];

/// Parses `"64KiB"` and friends; None when it is not a size.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, multiplier) = UNITS
        .iter()
        .find_map(|(unit, m)| text.strip_suffix(unit).map(|n| (n.trim(), *m)))?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || number.len() > 15 {
        return None;
    }
    number.parse::<u64>().ok()?.checked_mul(multiplier)
}

impl Ctx {
    /// A byte size of at least `min`: an integer, or a string with a unit.
    pub(crate) fn size(&mut self, node: &Node<'_, '_>, min: u64) -> Option<u64> {
        let value = match node.value {
            DeValue::Integer(_) => self
                .integer(node, 0..=i64::MAX)
                .and_then(|v| u64::try_from(v).ok())?,
            DeValue::String(text) => match parse_size(text) {
                Some(v) => v,
                None => {
                    self.error_at(
                        node,
                        format!(
                            "{text:?} is not a size (bytes as an integer, or a number and a \
                             unit: B, KiB, MiB, GiB, KB, MB, GB, e.g. \"1MiB\")"
                        ),
                    );
                    return None;
                }
            },
            _ => {
                self.type_error(node, "a size like \"1MiB\" or a number of bytes");
                return None;
            }
        };
        if value < min || value > MAX_SIZE {
            self.error_at(
                node,
                format!("must be between {min} bytes and 1 TiB, got {value} bytes"),
            );
            return None;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("512B"), Some(512));
        assert_eq!(parse_size("64KiB"), Some(65_536));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("2 GiB"), Some(2 << 30));
        for bad in ["", "KiB", "1.5MiB", "-1B", "1mb", "12", "1 TB"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
