//! "Did you mean …?" for misspelt keys and upstream names: a typo should cost the operator one
//! glance, not a trip to the docs.

/// The candidate closest to `word`, if one is close enough to be a plausible typo.
///
/// Uses the optimal-string-alignment distance (a swap of two neighbours counts as one edit,
/// so `bnid` → `bind`), case-insensitively; `-` and `_` are treated as the same character
/// because `x-forwarded-for` for `x_forwarded_for` is the commonest slip of all.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| -> Vec<char> {
        s.chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let w = norm(word);
    // Short words allow fewer edits, or every three-letter key would "suggest" every other.
    let budget = match w.len() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (distance(&w, &norm(c)), *c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The message for a key the table does not accept.
pub(crate) fn unknown_key(key: &str, allowed: &[&str]) -> String {
    match closest(key, allowed) {
        Some(close) => format!("unknown key {key:?}, did you mean {close:?}?"),
        None => format!(
            "unknown key {key:?} (accepted keys: {})",
            allowed.join(", ")
        ),
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions each cost one.
fn distance(a: &[char], b: &[char]) -> usize {
    // Three rolling rows: the transposition step looks two rows back.
    let mut two_back: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(two_back[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let keys = ["bind", "protocol", "x_forwarded_for", "idle_timeout"];
        assert_eq!(closest("bnid", &keys), Some("bind"));
        assert_eq!(closest("protocl", &keys), Some("protocol"));
        assert_eq!(closest("x-forwarded-for", &keys), Some("x_forwarded_for"));
        assert_eq!(closest("Idle_Timeout", &keys), Some("idle_timeout"));
        assert_eq!(closest("weight", &keys), None);
    }

    #[test]
    fn distance_counts_edits() {
        let d = |a: &str, b: &str| {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            distance(&a, &b)
        };
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", "abc"), 0);
        assert_eq!(d("abc", "acb"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
    }

    #[test]
    fn message_lists_keys_when_nothing_is_close() {
        assert_eq!(
            unknown_key("zzz", &["a", "b"]),
            "unknown key \"zzz\" (accepted keys: a, b)"
        );
        assert_eq!(
            unknown_key("bnid", &["bind"]),
            "unknown key \"bnid\", did you mean \"bind\"?"
        );
    }
}
