//! Helpers shared by the integration tests.
#![allow(dead_code)]

use shoal_config::{Config, ConfigError};

/// The errors for `text`, which must be rejected.
pub fn errors(text: &str) -> Vec<ConfigError> {
    match Config::from_toml_str(text) {
        Ok(config) => panic!("expected errors, got a config: {config:#?}"),
        Err(errors) => {
            assert!(!errors.is_empty(), "an error result must not be empty");
            errors.0
        }
    }
}

/// Asserts `text` is rejected with exactly these errors, in this order: (path, line, a
/// fragment of the message).
#[track_caller]
pub fn assert_errors(text: &str, expected: &[(&str, Option<usize>, &str)]) {
    let got = errors(text);
    let render = |errors: &[ConfigError]| {
        errors
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        got.len(),
        expected.len(),
        "wrong number of errors; got:\n{}",
        render(&got)
    );
    for (e, (path, line, fragment)) in got.iter().zip(expected) {
        assert_eq!(
            (e.path.as_str(), e.line),
            (*path, *line),
            "wrong place; got:\n{}",
            render(&got)
        );
        assert!(
            e.message.contains(fragment),
            "message {:?} should contain {fragment:?}; all:\n{}",
            e.message,
            render(&got)
        );
    }
}

/// Asserts `text` is rejected with exactly one error.
#[track_caller]
pub fn assert_error(text: &str, path: &str, line: usize, fragment: &str) {
    assert_errors(text, &[(path, Some(line), fragment)]);
}

/// A valid listener + upstream; tests append or prepend the part under test. Lines 1-5.
pub const BASE: &str = r#"[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
upstream = "api"
[upstreams.api]
backends = ["127.0.0.1:9001"]
"#;

/// A valid config with an upstream `api` and room for one listener written by the test.
/// Lines 1-2; the test's text starts on line 3.
pub const UPSTREAM_FIRST: &str = r#"[upstreams.api]
backends = ["127.0.0.1:9001"]
"#;

pub fn full_example() -> &'static str {
    include_str!("../data/full.toml")
}
