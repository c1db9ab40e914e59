//! [`Stats`]: what a run measured, and the [`Summary`] printed at its end (text for people,
//! JSON for machines). Pure: fed outcomes and durations, no clock.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Highest latency the histogram tracks (1 hour, in µs); longer ones are clamped to it.
const MAX_US: u64 = 3_600_000_000;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A whole answer with this status.
    Status(u16),
    /// No connection.
    Connect,
    /// The connection failed during the exchange.
    Io,
    /// No whole answer within the timeout.
    Timeout,
}

impl Outcome {
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Status(s) if s < 400)
    }
}

fn histogram() -> Histogram<u64> {
    // 3 significant digits over 1 µs..1 h. The constructor only fails for invalid constant
    // arguments (low < 1, high < 2 × low, sigfig > 5), which these are not.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid constant histogram bounds")
}

/// Counters and latency histograms: one for the whole run, one for the current progress
/// interval.
#[derive(Debug, Clone)]
pub struct Stats {
    total: Histogram<u64>,
    interval: Histogram<u64>,
    interval_errors: u64,
    ok: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    connect_errors: u64,
    io_errors: u64,
    timeouts: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            total: histogram(),
            interval: histogram(),
            interval_errors: 0,
            ok: 0,
            errors: 0,
            statuses: BTreeMap::new(),
            connect_errors: 0,
            io_errors: 0,
            timeouts: 0,
        }
    }
}

/// What the live progress line shows for the last interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub requests: u64,
    pub errors: u64,
    pub p50: Duration,
    pub p99: Duration,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_US)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Stats {
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        let value = us(latency);
        let _ = self.total.record(value);
        let _ = self.interval.record(value);
        if outcome.is_ok() {
            self.ok += 1;
        } else {
            self.errors += 1;
            self.interval_errors += 1;
        }
        match outcome {
            Outcome::Status(s) => *self.statuses.entry(s).or_insert(0) += 1,
            Outcome::Connect => self.connect_errors += 1,
            Outcome::Io => self.io_errors += 1,
            Outcome::Timeout => self.timeouts += 1,
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The interval since the last call, and a fresh one started.
    pub fn take_interval(&mut self) -> Interval {
        let i = Interval {
            requests: self.interval.len(),
            errors: self.interval_errors,
            p50: Duration::from_micros(self.interval.value_at_quantile(0.5)),
            p99: Duration::from_micros(self.interval.value_at_quantile(0.99)),
        };
        self.interval.reset();
        self.interval_errors = 0;
        i
    }

    /// The end-of-run summary; `elapsed` is the run's wall time (the rate's denominator).
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let h = &self.total;
        let q = |q: f64| ms(h.value_at_quantile(q));
        let mut spectrum = Vec::new();
        if !h.is_empty() {
            for v in h.iter_quantiles(1) {
                spectrum.push((
                    v.quantile_iterated_to() * 100.0,
                    ms(h.highest_equivalent(v.value_iterated_to())),
                    v.count_since_last_iteration(),
                ));
            }
        }
        let seconds = elapsed.as_secs_f64();
        Summary {
            requests: self.requests(),
            ok: self.ok,
            errors: self.errors,
            statuses: self.statuses.clone(),
            connect_errors: self.connect_errors,
            io_errors: self.io_errors,
            timeouts: self.timeouts,
            elapsed,
            rate: if seconds > 0.0 {
                self.requests() as f64 / seconds
            } else {
                0.0
            },
            min_ms: if h.is_empty() { 0.0 } else { ms(h.min()) },
            mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
            spectrum,
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub connect_errors: u64,
    pub io_errors: u64,
    pub timeouts: u64,
    pub elapsed: Duration,
    /// Requests finished per second of `elapsed`.
    pub rate: f64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The HDR percentile spectrum: (percentile, latency ms, requests in this step).
    pub spectrum: Vec<(f64, f64, u64)>,
}

impl Summary {
    /// `header` describes the run (URL, mode); the rest is the numbers.
    pub fn to_text(&self, header: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{header}");
        let _ = writeln!(
            out,
            "  requests   {} in {:.2}s (ok {}, errors {})",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.ok,
            self.errors
        );
        let _ = writeln!(out, "  rate       {:.1}/s", self.rate);
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  statuses   {}",
            if statuses.is_empty() {
                "none".to_string()
            } else {
                statuses.join(", ")
            }
        );
        if self.connect_errors + self.io_errors + self.timeouts > 0 {
            let _ = writeln!(
                out,
                "  failures   connect {}, io {}, timeout {}",
                self.connect_errors, self.io_errors, self.timeouts
            );
        }
        let _ = writeln!(
            out,
            "  latency    min {:.2}ms  mean {:.2}ms  p50 {:.2}ms  p90 {:.2}ms  p99 {:.2}ms  p99.9 {:.2}ms  max {:.2}ms",
            self.min_ms, self.mean_ms, self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
        );
        if !self.spectrum.is_empty() {
            let _ = writeln!(
                out,
                "  HDR histogram (latency from the intended send time in open loop)"
            );
            let _ = writeln!(
                out,
                "    {:>12}  {:>12}  {:>10}",
                "percentile", "latency", "count"
            );
            for (p, l, n) in &self.spectrum {
                let _ = writeln!(out, "    {:>11.4}%  {:>10.3}ms  {:>10}", p, l, n);
            }
        }
        out
    }

    /// The JSON object `--json` prints; `run` says what was run (URL, mode, ...).
    pub fn to_json(&self, run: Value) -> Value {
        let statuses: serde_json::Map<String, Value> = self
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), json!(n)))
            .collect();
        json!({
            "run": run,
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": statuses,
            "failures": {
                "connect": self.connect_errors,
                "io": self.io_errors,
                "timeout": self.timeouts,
            },
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rate": self.rate,
            "latency_ms": {
                "min": self.min_ms,
                "mean": self.mean_ms,
                "p50": self.p50_ms,
                "p90": self.p90_ms,
                "p99": self.p99_ms,
                "p99_9": self.p999_ms,
                "max": self.max_ms,
            },
            "histogram": self.spectrum.iter().map(|(p, l, n)| json!({
                "percentile": p,
                "latency_ms": l,
                "count": n,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let mut s = Stats::default();
        for i in 1..=100u64 {
            s.record(Duration::from_millis(i), Outcome::Status(200));
        }
        s.record(Duration::from_millis(5), Outcome::Status(503));
        s.record(Duration::from_millis(5), Outcome::Timeout);
        s.record(Duration::from_millis(5), Outcome::Connect);
        let sum = s.summary(Duration::from_secs(2));
        assert_eq!((sum.requests, sum.ok, sum.errors), (103, 100, 3));
        assert_eq!(sum.statuses.get(&200), Some(&100));
        assert_eq!(sum.statuses.get(&503), Some(&1));
        assert_eq!((sum.timeouts, sum.connect_errors), (1, 1));
        assert!((sum.rate - 51.5).abs() < 1e-9);
        assert!((sum.p99_ms - 99.0).abs() < 0.2, "{}", sum.p99_ms);
        assert!((sum.max_ms - 100.0).abs() < 0.2, "{}", sum.max_ms);
        let counted: u64 = sum.spectrum.iter().map(|(_, _, n)| n).sum();
        assert_eq!(counted, 103, "the spectrum accounts for every request");
        let last = sum.spectrum.last().expect("a spectrum");
        assert!((last.0 - 100.0).abs() < 1e-9);
    }

    #[test]
    fn intervals_reset() {
        let mut s = Stats::default();
        s.record(Duration::from_millis(2), Outcome::Status(200));
        s.record(Duration::from_millis(2), Outcome::Io);
        let i = s.take_interval();
        assert_eq!((i.requests, i.errors), (2, 1));
        assert_eq!(s.take_interval().requests, 0);
        assert_eq!(s.requests(), 2, "the total keeps everything");
    }

    #[test]
    fn renderings() {
        let mut s = Stats::default();
        s.record(Duration::from_micros(1500), Outcome::Status(200));
        let sum = s.summary(Duration::from_secs(1));
        let text = sum.to_text("shoal load: test");
        assert!(
            text.contains("requests   1 in 1.00s (ok 1, errors 0)"),
            "{text}"
        );
        assert!(text.contains("statuses   200: 1"), "{text}");
        assert!(text.contains("HDR histogram"), "{text}");
        let v = sum.to_json(json!({"url": "http://x/"}));
        assert_eq!(v["requests"], 1);
        assert_eq!(v["statuses"]["200"], 1);
        assert_eq!(v["run"]["url"], "http://x/");
        assert!(v["latency_ms"]["p99"].as_f64().is_some());
        assert!(v["histogram"].as_array().is_some_and(|a| !a.is_empty()));
        // An empty run renders too.
        let empty = Stats::default().summary(Duration::ZERO);
        assert_eq!(empty.rate, 0.0);
        assert!(empty.to_text("x").contains("statuses   none"));
    }
}
