//! CPU time of a process from `/proc/PID/stat`, for `cpu_percent` targets.

use std::time::Instant;

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on every Linux seen).
fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// user + system time of `pid` (all its threads) in clock ticks; `None` when the process is
/// gone or the file is not what we expect.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

/// Fields after the parenthesised command name (which may itself hold spaces and
/// parentheses): state is the 1st, utime the 12th, stime the 13th.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// Turns successive CPU readings of one process into percent of one core.
#[derive(Debug, Default, Clone)]
pub struct CpuMeter {
    last: Option<(u64, Instant)>,
}

impl CpuMeter {
    /// The CPU used since the previous reading, percent of one core; `None` on the first
    /// reading or when the process cannot be read.
    pub fn sample(&mut self, pid: u32, now: Instant) -> Option<f64> {
        let ticks = cpu_ticks(pid)?;
        let previous = self.last.replace((ticks, now));
        let (before, at) = previous?;
        let seconds = now.saturating_duration_since(at).as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let used = ticks.saturating_sub(before) as f64 / ticks_per_second();
        Some(used / seconds * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let stat =
            "1234 (my (odd) app) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        let mut meter = CpuMeter::default();
        let t0 = Instant::now();
        assert_eq!(
            meter.sample(pid, t0),
            None,
            "the first reading has no interval"
        );
        // Burn a little CPU so the second reading has something to measure.
        let mut x = 0u64;
        while t0.elapsed().as_millis() < 50 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        let cpu = meter.sample(pid, Instant::now()).expect("a second reading");
        assert!((0.0..=400.0).contains(&cpu), "{cpu}");
    }
}
