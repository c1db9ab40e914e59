//! Golden test for the summary `shoal check` prints.

mod common;

use shoal_config::{summary, Config};

#[test]
fn summary_of_the_full_example_matches_the_golden_file() {
    let config = Config::from_toml_str(common::full_example()).expect("valid");
    let got = summary(&config);
    let expected = include_str!("data/full.summary.txt");
    assert_eq!(
        got, expected,
        "summary changed; if on purpose, update tests/data/full.summary.txt to:\n{got}"
    );
}

#[test]
fn summary_has_no_trailing_spaces_or_tabs() {
    let config = Config::from_toml_str(common::full_example()).expect("valid");
    for line in summary(&config).lines() {
        assert_eq!(line, line.trim_end(), "trailing whitespace in {line:?}");
        assert!(!line.contains('\t'));
        assert!(!line.contains('\x1b'), "no colours");
    }
}
