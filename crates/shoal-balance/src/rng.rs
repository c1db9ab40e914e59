//! [`Rng`]: the small, fast, seedable PRNG the randomised balancers draw from.
//!
//! wyrand (Wang Yi): one add and one 64×64→128 multiply per output, passes BigCrush and
//! PractRand, 8 bytes of state. Each worker owns its own `Rng` (it is `&mut` in
//! [`crate::Balancer::pick`]), so there is no shared state and no atomics. Tests seed it for
//! reproducibility; production seeds it per worker from anything that differs between workers.
//! It is not cryptographic and must never be used for secrets.

const WY_ADD: u64 = 0xA076_1D64_78BD_642F;
const WY_XOR: u64 = 0xE703_7ED1_A0B4_28DB;

/// wyrand pseudo-random generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 uniformly distributed bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(WY_ADD);
        let t = u128::from(self.state).wrapping_mul(u128::from(self.state ^ WY_XOR));
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A value in `0..n` (0 when `n` is 0, so callers never divide by zero).
    ///
    /// Lemire's multiply-shift without the rejection step: the bias is below `n / 2^64`,
    /// i.e. unmeasurable for any backend count or weight sum shoal will see, and it costs no
    /// division and no loop.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A float uniformly distributed in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn below_stays_in_range_and_handles_zero() {
        let mut r = Rng::new(7);
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
        for n in [2u64, 3, 10, 1000, u64::MAX] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
    }

    #[test]
    fn below_is_uniform_within_sampling_noise() {
        // 10 buckets, 200k draws: each count is Binomial(200k, 0.1), sd ≈ 134; 6 sd ≈ 805.
        let mut r = Rng::new(3);
        let mut counts = [0u32; 10];
        for _ in 0..200_000 {
            counts[r.below(10) as usize] += 1;
        }
        for c in counts {
            assert!((i64::from(c) - 20_000).abs() < 805, "{counts:?}");
        }
    }

    #[test]
    fn next_f64_is_in_unit_interval_with_mean_near_half() {
        let mut r = Rng::new(9);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        // mean of U(0,1) has sd 1/sqrt(12 n) ≈ 0.0009; allow 6 sd.
        assert!((sum / f64::from(n) - 0.5).abs() < 0.0055);
    }
}
