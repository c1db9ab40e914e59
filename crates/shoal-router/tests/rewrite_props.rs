//! Property tests for `rewrite_path`: always an origin-form path, segment boundaries respected,
//! and a strip (or replace) can be undone by putting the prefix back.

use proptest::prelude::*;
use shoal_config::Rewrite;
use shoal_router::rewrite_path;

/// A prefix as configs write them: `/seg`, `/seg/seg/`, ...
fn prefix() -> impl Strategy<Value = String> {
    "(/[a-z]{1,3}){1,3}/?"
}

fn applies(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_input_gives_none_or_a_path_starting_with_slash(
        from in any::<String>(),
        to in any::<String>(),
        path in any::<String>(),
        strip in any::<bool>(),
    ) {
        let rule = if strip {
            Rewrite::StripPrefix(from.clone())
        } else {
            Rewrite::ReplacePrefix { from: from.clone(), to }
        };
        match rewrite_path(&rule, &path) {
            Some(out) => {
                prop_assert!(out.starts_with('/'), "{:?}", out);
                prop_assert!(applies(&from, &path));
            }
            None => prop_assert!(!applies(&from, &path)),
        }
    }

    #[test]
    fn strip_then_reprefix_gives_back_the_path(p in prefix(), tail in "[a-z/]{0,8}") {
        let path = format!("{p}{tail}");
        let out = rewrite_path(&Rewrite::StripPrefix(p.clone()), &path);
        if !applies(&p, &path) {
            prop_assert_eq!(out, None);
            return Ok(());
        }
        let out = out.unwrap_or_default();
        prop_assert!(out.starts_with('/'));
        if tail.is_empty() && !p.ends_with('/') {
            // `/v1` → `/`: the only case where the slash is added, not kept.
            prop_assert_eq!(out, "/");
        } else {
            let bare = p.strip_suffix('/').unwrap_or(&p);
            prop_assert_eq!(format!("{bare}{out}"), path);
        }
    }

    #[test]
    fn replace_keeps_the_remainder_and_the_reverse_undoes_it(
        from in prefix(),
        to in prefix(),
        tail in "[a-z/]{0,8}",
    ) {
        let path = format!("{from}{tail}");
        prop_assume!(applies(&from, &path));
        let forward = Rewrite::ReplacePrefix { from: from.clone(), to: to.clone() };
        let out = rewrite_path(&forward, &path).unwrap_or_default();
        let bare_from = from.strip_suffix('/').unwrap_or(&from);
        let bare_to = to.strip_suffix('/').unwrap_or(&to);
        let remainder = &path[bare_from.len()..];
        prop_assert_eq!(&out, &format!("{bare_to}{remainder}"));
        if !remainder.is_empty() {
            let back = Rewrite::ReplacePrefix { from: to, to: from.clone() };
            prop_assert_eq!(rewrite_path(&back, &out), Some(path));
        }
    }
}
