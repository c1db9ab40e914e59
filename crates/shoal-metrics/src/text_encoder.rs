//! Prometheus text exposition format 0.0.4: what `GET /metrics` answers.

use std::fmt::Write as _;

use crate::histogram::HistogramSnapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// Writes families one after another. Call [`TextEncoder::family`] once per metric name, then
/// its samples; all samples of a family must follow its header (the format requires it).
#[derive(Debug, Default)]
pub struct TextEncoder {
    out: String,
}

impl TextEncoder {
    pub fn new() -> TextEncoder {
        TextEncoder::default()
    }

    /// `# HELP` and `# TYPE` lines for `name`.
    pub fn family(&mut self, name: &str, kind: MetricKind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
    }

    /// One sample line: `name{label="value",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// An integer sample (counters and gauges are integers in shoal).
    pub fn sample_int(&mut self, name: &str, labels: &[(&str, &str)], value: i128) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's `_bucket` (cumulative, with `le` in seconds and `+Inf`), `_sum` (seconds)
    /// and `_count` lines.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let mut cumulative = 0u64;
        for (i, count) in h.buckets.iter().enumerate() {
            cumulative += count;
            let le = match h.bounds.get(i) {
                Some(us) => format_seconds(*us),
                None => "+Inf".to_string(),
            };
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, h.sum_us as f64 / 1e6);
        self.out.push('\n');
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {cumulative}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (key, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(key);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Microseconds as seconds without float noise: 500 → "0.0005", 2_500_000 → "2.5".
fn format_seconds(us: u64) -> String {
    let whole = us / 1_000_000;
    let frac = us % 1_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Histogram;
    use std::time::Duration;

    #[test]
    fn families_samples_and_escaping() {
        let mut e = TextEncoder::new();
        e.family(
            "shoal_backend_requests_total",
            MetricKind::Counter,
            "Requests sent to a backend.\nBy status class.",
        );
        e.sample_int(
            "shoal_backend_requests_total",
            &[
                ("upstream", "api"),
                ("backend", "10.0.0.1:80"),
                ("class", "2xx"),
            ],
            42,
        );
        e.sample("shoal_weird", &[("path", "a\"b\\c\nd")], 0.5);
        e.sample("shoal_nan", &[], f64::NAN);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP shoal_backend_requests_total Requests sent to a backend.\\nBy status class.\n\
             # TYPE shoal_backend_requests_total counter\n\
             shoal_backend_requests_total{upstream=\"api\",backend=\"10.0.0.1:80\",class=\"2xx\"} 42\n\
             shoal_weird{path=\"a\\\"b\\\\c\\nd\"} 0.5\n\
             shoal_nan NaN\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_in_seconds() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(400));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut e = TextEncoder::new();
        e.histogram(
            "shoal_request_duration_seconds",
            &[("route", "web")],
            &h.snapshot(),
        );
        let text = e.finish();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "shoal_request_duration_seconds_bucket{route=\"web\",le=\"0.0005\"} 1"
        );
        assert_eq!(
            lines[2],
            "shoal_request_duration_seconds_bucket{route=\"web\",le=\"0.0025\"} 1"
        );
        assert_eq!(
            lines[3],
            "shoal_request_duration_seconds_bucket{route=\"web\",le=\"0.005\"} 2"
        );
        assert_eq!(
            lines[14],
            "shoal_request_duration_seconds_bucket{route=\"web\",le=\"+Inf\"} 3"
        );
        assert_eq!(
            lines[15],
            "shoal_request_duration_seconds_sum{route=\"web\"} 20.0034"
        );
        assert_eq!(
            lines[16],
            "shoal_request_duration_seconds_count{route=\"web\"} 3"
        );
    }

    #[test]
    fn seconds_format() {
        assert_eq!(format_seconds(500), "0.0005");
        assert_eq!(format_seconds(1_000_000), "1");
        assert_eq!(format_seconds(2_500_000), "2.5");
        assert_eq!(format_seconds(10_000), "0.01");
    }
}
