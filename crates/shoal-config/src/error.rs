//! What a rejected config file produces: one [`ConfigError`] per problem, all of them collected
//! in [`ConfigErrors`] so the operator fixes the file in one pass instead of one error per run.

use std::fmt;

/// One problem in a config file.
///
/// Displays as `upstreams.api.backends[1] (line 14): "10.0.0:80" is not a socket address`.
/// Without a path (a syntax error, an unreadable file) the path part is left out:
/// `line 3: invalid basic string`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path to the offending key or value, e.g. `listeners.web.routes[0].upstream`.
    /// Keys that are not bare TOML keys are quoted (`headers."x.y"`). Empty for problems that
    /// belong to no key (syntax errors, unreadable files).
    pub path: String,
    /// 1-based line in the file, where the parser knows one.
    pub line: Option<usize>,
    /// What is wrong, and where it helps, what would be right.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.path, self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
            (true, Some(line)) => write!(f, "line {line}: {}", self.message),
            (true, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config file, in file order: by line, then by path; problems with
/// no line (such as "no listeners") come last. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Wraps `errors`, putting them in file order. The sort is stable, so two problems on the
    /// same line and path keep the order they were found in.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> ConfigErrors {
        errors.sort_by(|a, b| {
            let line = |e: &ConfigError| e.line.unwrap_or(usize::MAX);
            line(a).cmp(&line(b)).then_with(|| a.path.cmp(&b.path))
        });
        ConfigErrors(errors)
    }

    /// Wraps problems found outside this crate (the contents of files the config names),
    /// in file order.
    pub fn from_errors(errors: Vec<ConfigError>) -> ConfigErrors {
        ConfigErrors::sorted(errors)
    }

    /// One error that belongs to no key, such as a file that cannot be read.
    pub(crate) fn single(line: Option<usize>, message: String) -> ConfigErrors {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            line,
            message,
        }])
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &str, line: Option<usize>, message: &str) -> ConfigError {
        ConfigError {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    #[test]
    fn display_has_path_and_line_when_known() {
        let e = err(
            "upstreams.api.backends[1]",
            Some(14),
            "\"10.0.0:80\" is not a socket address",
        );
        assert_eq!(
            e.to_string(),
            "upstreams.api.backends[1] (line 14): \"10.0.0:80\" is not a socket address"
        );
        assert_eq!(err("listeners", None, "m").to_string(), "listeners: m");
        assert_eq!(err("", Some(3), "m").to_string(), "line 3: m");
        assert_eq!(err("", None, "m").to_string(), "m");
    }

    #[test]
    fn sorted_by_line_then_path_with_lineless_last() {
        let errors = ConfigErrors::sorted(vec![
            err("listeners", None, "none"),
            err("b", Some(5), "b5"),
            err("a", Some(5), "a5"),
            err("z", Some(1), "z1"),
        ]);
        assert_eq!(
            errors.to_string(),
            "z (line 1): z1\na (line 5): a5\nb (line 5): b5\nlisteners: none"
        );
    }
}
