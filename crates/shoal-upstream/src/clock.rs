use std::sync::OnceLock;
use std::time::Instant;

/// Monotonic nanoseconds since the first call in this process: the `now` the pure cores take.
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
