//! [`Split`]: a weighted choice among a route's upstreams (a canary is a split with a small
//! weight on the new upstream).
//!
//! Pure: the caller supplies a uniformly random `roll`, so tests drive it with fixed sequences.
//! Entry `i` owns the half-open range `[w0 + … + w(i-1), w0 + … + wi)` of `0..total`; a roll is
//! reduced with `roll % total` and the owner is found by binary search over the cumulative
//! weights. Over any `total` consecutive rolls every entry is picked exactly `weight` times.
//! Weights are `u32` summed into a `u64`, so the total cannot overflow. The relative modulo bias
//! of a 64-bit roll is at most `total / 2⁶⁴` (about 5·10⁻¹⁸ for weights summing to 100), far
//! below anything a distribution could show, so no rejection sampling is done.

use shoal_config::SplitEntry;

/// Weighted choice among upstreams, built once per config snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// `ends[i]` = sum of weights `0..=i`: the exclusive end of entry `i`'s range.
    ends: Box<[u64]>,
}

impl Split {
    /// Config validation guarantees at least one entry and weights > 0. Should that ever not
    /// hold, nothing panics: zero-weight entries are never picked, an all-zero split picks
    /// uniformly, and an empty split answers 0 (check [`Split::is_empty`] first).
    pub fn new(entries: &[SplitEntry]) -> Split {
        let mut sum = 0u64;
        let mut ends: Box<[u64]> = entries
            .iter()
            .map(|e| {
                sum += u64::from(e.weight);
                sum
            })
            .collect();
        if sum == 0 {
            // All weights zero: an equal share each is the least surprising reading.
            for (i, end) in ends.iter_mut().enumerate() {
                *end = i as u64 + 1;
            }
        }
        Split { ends }
    }

    /// The index of the chosen entry for a uniformly random `roll`.
    pub fn pick(&self, roll: u64) -> usize {
        match self.ends.last() {
            // A single upstream (or none) needs no arithmetic: the common, non-canary case.
            None => 0,
            Some(_) if self.ends.len() == 1 => 0,
            Some(&total) => {
                let point = roll % total;
                // First entry whose range ends after `point`; zero-width ranges are skipped
                // because their end equals the previous end, which is ≤ point.
                self.ends.partition_point(|&end| end <= point)
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the split has no entries (config validation prevents it).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Sum of the weights: one full cycle of rolls.
    pub fn total_weight(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weights: &[u32]) -> Split {
        let entries: Vec<SplitEntry> = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| SplitEntry {
                upstream: format!("u{i}"),
                weight,
            })
            .collect();
        Split::new(&entries)
    }

    fn counts(s: &Split, rolls: impl Iterator<Item = u64>) -> Vec<u64> {
        let mut counts = vec![0u64; s.len()];
        for roll in rolls {
            counts[s.pick(roll)] += 1;
        }
        counts
    }

    #[test]
    fn one_full_cycle_gives_exact_weights() {
        let s = split(&[1, 3, 6]);
        assert_eq!(s.total_weight(), 10);
        assert_eq!(counts(&s, 0..10), vec![1, 3, 6]);
        // The same holds for any window of `total` consecutive rolls, including the top of the
        // u64 range.
        assert_eq!(counts(&s, 1_000_003..1_000_013), vec![1, 3, 6]);
        assert_eq!(counts(&s, (u64::MAX - 9)..=u64::MAX), vec![1, 3, 6]);
    }

    #[test]
    fn canary_five_percent() {
        let s = split(&[95, 5]);
        assert_eq!(counts(&s, 0..100), vec![95, 5]);
        assert_eq!(counts(&s, 0..10_000), vec![9_500, 500]);
    }

    #[test]
    fn ranges_are_contiguous_in_entry_order() {
        let s = split(&[2, 1, 3]);
        let picks: Vec<usize> = (0..6).map(|r| s.pick(r)).collect();
        assert_eq!(picks, vec![0, 0, 1, 2, 2, 2]);
    }

    #[test]
    fn extreme_rolls_and_weights_do_not_panic() {
        let s = split(&[u32::MAX, u32::MAX, 1]);
        assert_eq!(s.pick(0), 0);
        assert_eq!(s.pick(u64::from(u32::MAX)), 1);
        assert_eq!(s.pick(2 * u64::from(u32::MAX)), 2);
        assert!(s.pick(u64::MAX) < 3);
    }

    #[test]
    fn single_entry_always_wins() {
        let s = split(&[7]);
        assert_eq!(s.len(), 1);
        assert!((0..100).chain([u64::MAX]).all(|r| s.pick(r) == 0));
    }

    #[test]
    fn degenerate_splits_never_panic() {
        let empty = split(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.pick(42), 0);

        let with_zero = split(&[0, 2, 0, 1]);
        assert_eq!(counts(&with_zero, 0..3), vec![0, 2, 0, 1]);

        let all_zero = split(&[0, 0, 0]);
        assert_eq!(counts(&all_zero, 0..3), vec![1, 1, 1]);
    }
}
