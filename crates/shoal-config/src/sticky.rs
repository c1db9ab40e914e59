//! An upstream's `sticky = { cookie = "shoal_affinity", ttl = "1h", secret_file = "..." }`.

use std::path::PathBuf;
use std::time::Duration;

use crate::document::{Ctx, Node};
use crate::filter_types::{FileRef, StickyConfig};

const KEYS: &[&str] = &["cookie", "ttl", "secret_file"];

pub(crate) const DEFAULT_COOKIE: &str = "shoal_affinity";
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(3600);

pub(crate) fn sticky(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<StickyConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let cookie = ctx.field(&table, "cookie", DEFAULT_COOKIE.to_string(), |ctx, n| {
        cookie_name(ctx, n)
    });
    let ttl = ctx.field(&table, "ttl", DEFAULT_TTL, |ctx, n| ctx.duration(n, false));
    let secret_file = ctx.field(&table, "secret_file", None, |ctx, n| {
        ctx.file_ref(n).map(Some)
    });
    Some(StickyConfig {
        cookie: cookie?,
        ttl: ttl?,
        secret_file: secret_file?,
    })
}

/// A cookie name: an RFC 6265 token (no separators, no spaces).
pub(crate) fn cookie_name(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<String> {
    let name = ctx.string(node)?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        ctx.error_at(
            node,
            format!(
                "{name:?} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~, at most 64)"
            ),
        );
        return None;
    }
    Some(name.to_string())
}

impl Ctx {
    /// A file path, kept as written; `Config::load` resolves it against the config file's
    /// directory and checks it afterwards.
    pub(crate) fn file_ref(&mut self, node: &Node<'_, '_>) -> Option<FileRef> {
        let text = self.string(node)?;
        if text.trim().is_empty() {
            self.error_at(node, "is empty: give the path of a file");
            return None;
        }
        Some(FileRef {
            path: PathBuf::from(text),
            key: node.path.clone(),
            line: self.line_of_span(&node.span),
        })
    }
}
