//! Walking the spanned TOML document by hand.
//!
//! serde derive stops at the first problem and forgets where values were; walking toml's
//! spanned `DeTable` instead lets every check run, each error keep its dotted path and line,
//! and unknown keys be reported with suggestions. The helpers here are the small typed steps
//! the section parsers are built from: each either returns a value or records an error and
//! returns `None`, never both silently.

use std::net::{IpAddr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::ConfigError;
use crate::suggest;

/// A byte range in the source text.
pub(crate) type Span = Range<usize>;

/// Longest duration string passed on to the parser. Real durations are a few characters; the
/// cap keeps absurd inputs (thousands of summed components) away from arithmetic that could
/// overflow.
const MAX_DURATION_LEN: usize = 64;

/// The walk's shared state: collected errors, and the line table to turn spans into lines.
pub(crate) struct Ctx {
    /// Byte offset at which each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    errors: Vec<ConfigError>,
    /// The `[filters.NAME]` names the file defines, for checking routes' `filters` lists
    /// (kept here rather than threaded through every listener and route signature).
    pub(crate) filter_names: Vec<String>,
}

impl Ctx {
    pub(crate) fn new(source: &str) -> Ctx {
        let mut line_starts = vec![0];
        line_starts.extend(
            source
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Ctx {
            line_starts,
            errors: Vec::new(),
            filter_names: Vec::new(),
        }
    }

    /// 1-based line holding byte `offset`.
    pub(crate) fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// The line a span starts on. The parser gives the root table (and nothing else real) the
    /// empty span at 0, so that one means "no line".
    fn line_of(&self, span: &Span) -> Option<usize> {
        if span.start == 0 && span.end == 0 {
            None
        } else {
            Some(self.line_at(span.start))
        }
    }

    /// The line a span starts on, for values that carry it on (file references).
    pub(crate) fn line_of_span(&self, span: &Span) -> Option<usize> {
        self.line_of(span)
    }

    /// Records a problem at `path`, on the line where `span` starts.
    pub(crate) fn error(&mut self, path: &str, span: &Span, message: impl Into<String>) {
        let line = self.line_of(span);
        self.errors.push(ConfigError {
            path: path.to_string(),
            line,
            message: message.into(),
        });
    }

    /// Records a problem at `path` on a known line (a value checked after the walk).
    pub(crate) fn error_line(
        &mut self,
        path: &str,
        line: Option<usize>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            path: path.to_string(),
            line,
            message: message.into(),
        });
    }

    /// Records a problem with a value.
    pub(crate) fn error_at(&mut self, node: &Node<'_, '_>, message: impl Into<String>) {
        self.error(&node.path, &node.span, message);
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(crate) fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    /// Records a type mismatch: "expected a string, found an integer".
    pub(crate) fn type_error(&mut self, node: &Node<'_, '_>, expected: &str) {
        let found = a_type(node.value);
        self.error_at(node, format!("expected {expected}, found {found}"));
    }

    pub(crate) fn table<'a, 'i>(&mut self, node: &Node<'a, 'i>) -> Option<Table<'a, 'i>> {
        match node.value {
            DeValue::Table(table) => Some(Table::new(node.path.clone(), node.span.clone(), table)),
            _ => {
                self.type_error(node, "a table");
                None
            }
        }
    }

    /// The elements of an array, each with its own indexed path (`backends[1]`).
    pub(crate) fn array<'a, 'i>(&mut self, node: &Node<'a, 'i>) -> Option<Vec<Node<'a, 'i>>> {
        match node.value {
            DeValue::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Node::new(format!("{}[{i}]", node.path), item))
                    .collect(),
            ),
            _ => {
                self.type_error(node, "an array");
                None
            }
        }
    }

    pub(crate) fn string<'a>(&mut self, node: &Node<'a, '_>) -> Option<&'a str> {
        match node.value {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.type_error(node, "a string");
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, node: &Node<'_, '_>) -> Option<bool> {
        match node.value {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(node, "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer within `range`; the message names the range so the fix is obvious.
    pub(crate) fn integer(
        &mut self,
        node: &Node<'_, '_>,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let DeValue::Integer(int) = node.value else {
            self.type_error(node, "an integer");
            return None;
        };
        let value = i64::from_str_radix(int.as_str(), int.radix()).ok();
        match value {
            Some(v) if range.contains(&v) => Some(v),
            _ => {
                let (lo, hi) = (range.start(), range.end());
                self.error_at(node, format!("must be between {lo} and {hi}, got {int}"));
                None
            }
        }
    }

    /// An integer within `range`, as `u32`. The range must lie inside `u32`.
    pub(crate) fn u32(&mut self, node: &Node<'_, '_>, range: RangeInclusive<u32>) -> Option<u32> {
        let wide = i64::from(*range.start())..=i64::from(*range.end());
        self.integer(node, wide).and_then(|v| u32::try_from(v).ok())
    }

    /// An integer within `range`, as `usize`. The range must lie inside `u32`.
    pub(crate) fn usize(
        &mut self,
        node: &Node<'_, '_>,
        range: RangeInclusive<u32>,
    ) -> Option<usize> {
        self.u32(node, range).and_then(|v| usize::try_from(v).ok())
    }

    /// A finite float; an integer is accepted too (`2` for `2.0`).
    pub(crate) fn float(&mut self, node: &Node<'_, '_>) -> Option<f64> {
        let parsed = match node.value {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                // Config numbers are small; the rounding of huge integers is irrelevant here.
                .map(|v| v as f64),
            _ => {
                self.type_error(node, "a number");
                return None;
            }
        };
        match parsed {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                self.error_at(node, "must be a finite number");
                None
            }
        }
    }

    /// A duration string such as `"5s"`. With `allow_zero` false, `"0s"` is refused: used
    /// for timeouts where zero would mean "fail at once" rather than "no limit".
    pub(crate) fn duration(&mut self, node: &Node<'_, '_>, allow_zero: bool) -> Option<Duration> {
        let DeValue::String(text) = node.value else {
            self.type_error(node, "a duration string like \"5s\"");
            return None;
        };
        let parsed = if text.len() > MAX_DURATION_LEN {
            None
        } else {
            shoal_core::parse_duration(text).ok()
        };
        match parsed {
            Some(d) if d.is_zero() && !allow_zero => {
                self.error_at(node, "must be greater than zero");
                None
            }
            Some(d) => Some(d),
            None => {
                self.error_at(
                    node,
                    format!(
                        "{text:?} is not a duration (a number and a unit: ms, s, m, h, \
                         e.g. \"250ms\", \"5s\", \"1m30s\")"
                    ),
                );
                None
            }
        }
    }

    /// An `IP:PORT` socket address. Host names are refused: shoal binds and connects to
    /// addresses, and resolving names belongs to discovery, not to parsing.
    pub(crate) fn socket_addr(&mut self, node: &Node<'_, '_>) -> Option<SocketAddr> {
        let text = self.string(node)?;
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Some(addr);
        }
        let hint = if text.parse::<IpAddr>().is_ok() {
            " (add a port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\")"
        } else if text.bytes().any(|b| b.is_ascii_alphabetic()) && text.contains(':') {
            " (use an IP address; host names are not resolved)"
        } else {
            ""
        };
        self.error_at(node, format!("{text:?} is not a socket address{hint}"));
        None
    }

    /// Checks a name used as a table key (`[listeners.NAME]`): `[A-Za-z0-9_-]+`, so it can
    /// appear unquoted in paths, logs and metric labels.
    pub(crate) fn name(&mut self, what: &str, path: &str, span: &Span, name: &str) -> bool {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            self.error(
                path,
                span,
                format!("{what} name {name:?} may only contain letters, digits, '_' and '-'"),
            );
        }
        valid
    }

    /// An optional key: `default` when absent, `parse`'s verdict when present.
    pub(crate) fn field<'a, 'i, T>(
        &mut self,
        table: &Table<'a, 'i>,
        key: &str,
        default: T,
        parse: impl FnOnce(&mut Ctx, &Node<'a, 'i>) -> Option<T>,
    ) -> Option<T> {
        match table.get(key) {
            None => Some(default),
            Some(node) => parse(self, &node),
        }
    }

    /// A key that must be present; its absence is reported on the table.
    pub(crate) fn required<'a, 'i, T>(
        &mut self,
        table: &Table<'a, 'i>,
        key: &str,
        hint: &str,
        parse: impl FnOnce(&mut Ctx, &Node<'a, 'i>) -> Option<T>,
    ) -> Option<T> {
        match table.get(key) {
            Some(node) => parse(self, &node),
            None => {
                self.error(
                    &table.path,
                    &table.span,
                    format!("missing key {key:?} ({hint})"),
                );
                None
            }
        }
    }
}

/// One value in the document, with the dotted path that leads to it.
#[derive(Clone)]
pub(crate) struct Node<'a, 'i> {
    pub(crate) path: String,
    pub(crate) value: &'a DeValue<'i>,
    pub(crate) span: Span,
}

impl<'a, 'i> Node<'a, 'i> {
    fn new(path: String, value: &'a Spanned<DeValue<'i>>) -> Node<'a, 'i> {
        Node {
            path,
            value: value.get_ref(),
            span: value.span(),
        }
    }
}

/// A table, its entries in file order.
pub(crate) struct Table<'a, 'i> {
    pub(crate) path: String,
    pub(crate) span: Span,
    /// (key, key span, value). Sorted by position: the parser's map is ordered by key, but
    /// listeners and upstreams keep the order the file declares them in.
    entries: Vec<(&'a str, Span, &'a Spanned<DeValue<'i>>)>,
}

impl<'a, 'i> Table<'a, 'i> {
    pub(crate) fn new(path: String, span: Span, table: &'a DeTable<'i>) -> Table<'a, 'i> {
        let mut entries: Vec<(&'a str, Span, &'a Spanned<DeValue<'i>>)> = table
            .iter()
            .map(|(key, value)| (key.get_ref().as_ref(), key.span(), value))
            .collect();
        // A `[header]` table's span starts at its `[`, before its key; a plain value's span
        // starts after its key. The earlier of the two is where the entry begins.
        entries.sort_by_key(|(_, key_span, value)| key_span.start.min(value.span().start));
        Table {
            path,
            span,
            entries,
        }
    }

    /// Reports every key not in `allowed`, with a suggestion when one is close.
    pub(crate) fn check_keys(&self, ctx: &mut Ctx, allowed: &[&str]) {
        for (key, key_span, _) in &self.entries {
            if !allowed.contains(key) {
                ctx.error(
                    &child_path(&self.path, key),
                    key_span,
                    suggest::unknown_key(key, allowed),
                );
            }
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Node<'a, 'i>> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(k, _, value)| Node::new(child_path(&self.path, k), value))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry in file order: (key, key span, value).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a str, Span, Node<'a, 'i>)> + '_ {
        self.entries.iter().map(|(k, span, value)| {
            (
                *k,
                span.clone(),
                Node::new(child_path(&self.path, k), value),
            )
        })
    }

    /// The keys, in file order.
    pub(crate) fn keys(&self) -> Vec<&'a str> {
        self.entries.iter().map(|(k, _, _)| *k).collect()
    }
}

/// `parent.key`, quoting a key that is not a bare TOML key (`headers."x.y"`).
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// Every element, or `None` if any is missing. Unlike `collect::<Option<_>>()` on a lazy
/// iterator, the caller has already run every check, so no error goes unreported.
pub(crate) fn all<T>(items: Vec<Option<T>>) -> Option<Vec<T>> {
    items.into_iter().collect()
}

/// "a string", "an integer", … for type-mismatch messages.
fn a_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let ctx = Ctx::new("a\nbc\n\nd");
        assert_eq!(ctx.line_at(0), 1);
        assert_eq!(ctx.line_at(1), 1);
        assert_eq!(ctx.line_at(2), 2);
        assert_eq!(ctx.line_at(5), 3);
        assert_eq!(ctx.line_at(6), 4);
        assert_eq!(ctx.line_at(1000), 4);
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(child_path("", "listeners"), "listeners");
        assert_eq!(child_path("a", "b-c_d"), "a.b-c_d");
        assert_eq!(child_path("a", "x.y"), "a.\"x.y\"");
        assert_eq!(child_path("a", ""), "a.\"\"");
    }

    #[test]
    fn entries_keep_file_order() {
        let text = "[z]\nk = 1\n[a]\nk = 2\n[m]\n";
        let doc = DeTable::parse(text).expect("valid toml");
        let root = Table::new(String::new(), doc.span(), doc.get_ref());
        assert_eq!(root.keys(), ["z", "a", "m"]);
    }
}
