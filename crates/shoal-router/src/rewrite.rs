//! Path rewrites: `strip_prefix` and `replace_prefix`, applied to the path only (the caller
//! keeps the query string as it was).
//!
//! # Where a prefix applies
//!
//! A prefix applies only on a **segment boundary**: the path starts with the prefix and either
//! the prefix ends with `/`, or the path ends right after it, or the next character is `/`.
//! So `strip_prefix = "/v1"` applies to `/v1` and `/v1/users` but not to `/v10/x`, and
//! `strip_prefix = "/v1/"` applies to `/v1/` and `/v1/users` but not to `/v1` (the prefix, slash
//! included, is absent). When it does not apply, [`rewrite_path`] answers `None` and the caller
//! forwards the path unchanged. Routes normally match the same prefix, so `None` is rare.
//!
//! # What it produces
//!
//! The path keeps its own slashes; only the prefix text changes. Read `from` and `to` without
//! one trailing slash (`from'`, `to'`): a path the rule applies to is `from'` followed by a
//! *remainder* that is empty or starts with `/`, and the result is `to'` followed by that same
//! remainder — or `/` when that would be empty. A trailing slash on `to` therefore only marks
//! the seam; it never doubles or adds a slash (no `/v2//users`). `strip_prefix = P` is exactly
//! `replace_prefix = { from = P, to = "/" }`.
//!
//! | rule                                   | path         | result        |
//! |----------------------------------------|--------------|---------------|
//! | `strip_prefix = "/v1"`                 | `/v1/users`  | `/users`      |
//! | `strip_prefix = "/v1"`                 | `/v1`        | `/`           |
//! | `strip_prefix = "/v1"`                 | `/v1/`       | `/`           |
//! | `strip_prefix = "/v1/"`                | `/v1/users`  | `/users`      |
//! | `strip_prefix = "/v1"`                 | `/v10/x`     | `None`        |
//! | `replace_prefix = { "/v1/", "/v2/" }`  | `/v1/users`  | `/v2/users`   |
//! | `replace_prefix = { "/v1/", "/v2/" }`  | `/v1/`       | `/v2/`        |
//! | `replace_prefix = { "/v1", "/v2" }`    | `/v1/users`  | `/v2/users`   |
//! | `replace_prefix = { "/v1", "/v2/" }`   | `/v1`        | `/v2`         |
//! | `replace_prefix = { "/v1/", "/v2" }`   | `/v1/users`  | `/v2/users`   |
//! | `replace_prefix = { "/api", "/" }`     | `/api/users` | `/users`      |
//! | `replace_prefix = { "/", "/app/" }`    | `/`          | `/app/`       |
//!
//! Because the remainder is carried over unchanged, putting `from'` back in front of a result
//! gives the original path (except `/v1` stripped to `/`), and the reverse `replace_prefix`
//! undoes a forward one whenever the remainder is not empty.

use shoal_config::Rewrite;

/// Applies `rewrite` to `path` (no query). `None` when the prefix does not apply (see the
/// module docs for the segment-boundary rule); otherwise the new path, starting with `/`.
///
/// ```
/// use shoal_config::Rewrite;
/// use shoal_router::rewrite_path;
/// let strip = Rewrite::StripPrefix("/v1".into());
/// assert_eq!(rewrite_path(&strip, "/v1/users").as_deref(), Some("/users"));
/// assert_eq!(rewrite_path(&strip, "/v1").as_deref(), Some("/"));
/// assert_eq!(rewrite_path(&strip, "/v10/x"), None);
/// ```
pub fn rewrite_path(rewrite: &Rewrite, path: &str) -> Option<String> {
    match rewrite {
        Rewrite::StripPrefix(prefix) => replace_prefix(prefix, "/", path),
        Rewrite::ReplacePrefix { from, to } => replace_prefix(from, to, path),
    }
}

fn replace_prefix(from: &str, to: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix(from)?;
    // The remainder after `from` read without its trailing slash: the prefix's own slash is
    // part of the path's structure and is carried over like the rest of it.
    let remainder = match from.strip_suffix('/') {
        Some(bare) => path.get(bare.len()..)?,
        None if rest.is_empty() || rest.starts_with('/') => rest,
        // Not on a segment boundary: `/v1` does not apply to `/v10`.
        None => return None,
    };
    let to = to.strip_suffix('/').unwrap_or(to);

    let mut out = String::with_capacity(to.len() + remainder.len() + 1);
    // Keep the result in origin form even for an empty `to` or one without a leading slash.
    let starts_with_slash = if to.is_empty() {
        remainder.starts_with('/')
    } else {
        to.starts_with('/')
    };
    if !starts_with_slash {
        out.push('/');
    }
    out.push_str(to);
    out.push_str(remainder);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(prefix: &str, path: &str) -> Option<String> {
        rewrite_path(&Rewrite::StripPrefix(prefix.into()), path)
    }

    fn replace(from: &str, to: &str, path: &str) -> Option<String> {
        let rule = Rewrite::ReplacePrefix {
            from: from.into(),
            to: to.into(),
        };
        rewrite_path(&rule, path)
    }

    #[test]
    fn strip_prefix_cases() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("/v1", "/v1/users", Some("/users")),
            ("/v1", "/v1", Some("/")),
            ("/v1", "/v1/", Some("/")),
            ("/v1", "/v10/x", None),
            ("/v1", "/v2/users", None),
            ("/v1", "/", None),
            ("/v1/", "/v1/users", Some("/users")),
            ("/v1/", "/v1/", Some("/")),
            ("/v1/", "/v1", None),
            ("/v1/", "/v1//x", Some("//x")),
            ("/", "/users", Some("/users")),
            ("/", "/", Some("/")),
            (
                "/api/v1",
                "/api/v1/a/b?not-a-query",
                Some("/a/b?not-a-query"),
            ),
        ];
        for &(prefix, path, want) in cases {
            assert_eq!(
                strip(prefix, path).as_deref(),
                want,
                "strip {prefix:?} on {path:?}"
            );
        }
    }

    #[test]
    fn replace_prefix_cases() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            ("/v1/", "/v2/", "/v1/users", Some("/v2/users")),
            ("/v1/", "/v2/", "/v1/", Some("/v2/")),
            ("/v1/", "/v2", "/v1/", Some("/v2/")),
            ("/v1", "/v2/", "/v1", Some("/v2")),
            ("/v1", "/v2/", "/v1/", Some("/v2/")),
            ("/v1/", "/v2/", "/v1", None),
            ("/v1", "/v2", "/v1/users", Some("/v2/users")),
            ("/v1", "/v2", "/v1", Some("/v2")),
            ("/v1", "/v2", "/v10", None),
            ("/v1", "/v2/", "/v1/users", Some("/v2/users")),
            ("/v1/", "/v2", "/v1/users", Some("/v2/users")),
            ("/api", "/", "/api/users", Some("/users")),
            ("/api", "/", "/api", Some("/")),
            ("/api", "", "/api", Some("/")),
            ("/api", "", "/api/x", Some("/x")),
            ("/api", "backend", "/api/x", Some("/backend/x")),
            ("/", "/app/", "/x", Some("/app/x")),
            ("/", "/app", "/", Some("/app/")),
            ("/", "/app/", "/", Some("/app/")),
            ("/", "", "/", Some("/")),
            ("", "/app", "/x", Some("/app/x")),
            ("/old", "/new/deeper", "/old/a/b", Some("/new/deeper/a/b")),
        ];
        for &(from, to, path, want) in cases {
            assert_eq!(
                replace(from, to, path).as_deref(),
                want,
                "replace {from:?} -> {to:?} on {path:?}"
            );
        }
    }

    #[test]
    fn strip_equals_replace_with_root() {
        for path in ["/v1", "/v1/", "/v1/a", "/v10", "/v1//a", "/"] {
            for prefix in ["/v1", "/v1/", "/", ""] {
                assert_eq!(
                    strip(prefix, path),
                    replace(prefix, "/", path),
                    "{prefix} {path}"
                );
            }
        }
    }
}
