//! Nothing a config file contains may panic the process: arbitrary text and arbitrary edits
//! of a valid file must come back as `Ok` or as errors.

mod common;

use proptest::prelude::*;
use shoal_config::{summary, Config};

/// Runs the parser and, when it succeeds, the summary; errors must be non-empty and render.
fn exercise(text: &str) {
    match Config::from_toml_str(text) {
        Ok(config) => {
            let _ = summary(&config);
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            let _ = errors.to_string();
            for e in &errors {
                if let Some(line) = e.line {
                    assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{e}");
                }
            }
        }
    }
}

/// One edit of the text, chosen by the strategy below.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Replace { at: usize, len: usize, text: String },
    DuplicateLine { line: usize },
    DeleteLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    // Inserted text leans on TOML's own punctuation and on values the validator cares about,
    // so edits reach deep checks instead of failing at the first syntax error.
    let fragment = prop_oneof![
        any::<String>(),
        "[\\[\\]{}=,\"'#.\n a-z0-9_:/*-]{0,12}",
        Just("0".to_string()),
        Just("\"0s\"".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("\"\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"*.\"".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("\"tcp\"".to_string()),
        Just("\"599-100\"".to_string()),
        Just("\"0.0.0.0:9090\"".to_string()),
        Just("[upstreams.api.health]\n".to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..20).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), fragment.clone()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), 0usize..10, fragment).prop_map(|(at, len, text)| Edit::Replace {
            at,
            len,
            text
        }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Edit::DeleteLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
    ]
}

/// Applies an edit on char boundaries (positions are taken modulo the length).
fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.lines().collect();
    let pos = |at: usize| at % (chars.len() + 1);
    let span = |at: usize, len: usize| {
        let start = pos(at);
        (start, (start + len).min(chars.len()))
    };
    match edit {
        Edit::Delete { at, len } => {
            let (start, end) = span(*at, *len);
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Edit::Insert { at, text } => {
            let at = pos(*at);
            let mut out: String = chars[..at].iter().collect();
            out.push_str(text);
            out.extend(&chars[at..]);
            out
        }
        Edit::Replace { at, len, text } => {
            let (start, end) = span(*at, *len);
            let mut out: String = chars[..start].iter().collect();
            out.push_str(text);
            out.extend(&chars[end..]);
            out
        }
        Edit::DuplicateLine { line } if !lines.is_empty() => {
            let i = line % lines.len();
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Edit::DeleteLine { line } if !lines.is_empty() => {
            lines.remove(line % lines.len());
            lines.join("\n")
        }
        Edit::SwapLines { a, b } if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
        _ => text.to_string(),
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let n = 100_000;
    for text in [
        format!("a = {}", "[".repeat(n)),
        format!("a = {}1{}", "[".repeat(n), "]".repeat(n)),
        format!("a = {}", "{b=".repeat(n)),
        format!("{}=1", "a.".repeat(n)),
        format!("[{}]", "a.".repeat(n)),
    ] {
        exercise(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn toml_looking_text_never_panics(text in "[\\[\\]{}=,\"'#.\n a-z0-9_:/*-]{0,200}") {
        exercise(&text);
    }

    #[test]
    fn edited_valid_files_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let mut text = common::full_example().to_string();
        for e in &edits {
            text = apply(&text, e);
        }
        exercise(&text);
    }
}
