//! A strict reader of the Prometheus text exposition format 0.0.4, as shoal writes it: the
//! tests hold `/metrics` to it, and it gives them the values to compare with the traffic they
//! sent.
//!
//! Stricter than Prometheus where shoal can afford it: every family has exactly one `# HELP`
//! then one `# TYPE` before its samples; a family's samples are contiguous; no series
//! appears twice; histogram buckets are cumulative and end at `+Inf` equal to `_count`.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name (`shoal_x_bucket` for a histogram's bucket).
    pub name: String,
    /// In the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// One metric family: its header and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// A whole scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    /// The family called `name`.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the sample `name` whose labels are exactly `labels` (in any order).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeSet<(&str, &str)> = labels.iter().copied().collect();
        self.families
            .iter()
            .flat_map(|f| f.samples.iter())
            .find(|s| {
                s.name == name
                    && s.labels.len() == wanted.len()
                    && s.labels
                        .iter()
                        .all(|(k, v)| wanted.contains(&(k.as_str(), v.as_str())))
            })
            .map(|s| s.value)
    }

    /// Every sample called `name` (all label sets).
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .flat_map(|f| f.samples.iter())
            .filter(move |s| s.name == name)
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

/// Label pairs in the order written.
type Labels = Vec<(String, String)>;

/// `{a="x",b="y"} rest` → the labels and `rest`.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = text
        .strip_prefix('{')
        .ok_or_else(|| "labels must start with {".to_string())?;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("label without '=' in {text:?}"))?;
        let name = &rest[..eq];
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} value is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                value.push(match c {
                    'n' => '\n',
                    '\\' => '\\',
                    '"' => '"',
                    other => return Err(format!("invalid escape \\{other} in label {name}")),
                });
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(eq + 1 + i + 1);
                break;
            } else {
                value.push(c);
            }
        }
        let end = end.ok_or_else(|| format!("label {name} value is not closed"))?;
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} twice"));
        }
        labels.push((name.to_string(), value));
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {name}"));
        }
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let rest = &line[name_end..];
    let (labels, rest) = if rest.starts_with('{') {
        parse_labels(rest)?
    } else {
        (Vec::new(), rest)
    };
    let value_text = rest
        .strip_prefix(' ')
        .ok_or_else(|| "expected a space before the value".to_string())?;
    // shoal writes no timestamps.
    let value = parse_value(value_text).ok_or_else(|| format!("invalid value {value_text:?}"))?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Which family a sample named `sample` belongs to, if `family` of `kind`.
fn belongs(sample: &str, family: &str, kind: &str) -> bool {
    if kind == "histogram" {
        return ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| sample.strip_suffix(suffix) == Some(family));
    }
    sample == family
}

/// Reads and checks a scrape. `Err` says the first thing wrong, with its line number.
pub fn parse(text: &str) -> Result<Exposition, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text must end with a newline".to_string());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut names = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut pending_help: Option<(String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if let Some(help) = line.strip_prefix("# HELP ") {
            if pending_help.is_some() {
                return Err(at("HELP without TYPE before it".to_string()));
            }
            let (name, text) = help.split_once(' ').unwrap_or((help, ""));
            if !valid_metric_name(name) {
                return Err(at(format!("invalid metric name {name:?}")));
            }
            if !names.insert(name.to_string()) {
                return Err(at(format!("family {name} declared twice")));
            }
            pending_help = Some((name.to_string(), text.to_string()));
        } else if let Some(kind) = line.strip_prefix("# TYPE ") {
            let (name, kind) = kind.split_once(' ').unwrap_or((kind, ""));
            let Some((help_name, help)) = pending_help.take() else {
                return Err(at("TYPE without HELP first".to_string()));
            };
            if help_name != name {
                return Err(at(format!("TYPE for {name} after HELP for {help_name}")));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind:?}")));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(at(format!("counter {name} does not end in _total")));
            }
            families.push(Family {
                name: name.to_string(),
                kind: kind.to_string(),
                help,
                samples: Vec::new(),
            });
        } else if line.starts_with('#') || line.is_empty() {
            return Err(at("unexpected comment or blank line".to_string()));
        } else {
            if pending_help.is_some() {
                return Err(at("sample between HELP and TYPE".to_string()));
            }
            let sample = parse_sample(line).map_err(at)?;
            let Some(family) = families.last_mut() else {
                return Err(at("sample before any family".to_string()));
            };
            if !belongs(&sample.name, &family.name, &family.kind) {
                return Err(at(format!(
                    "sample {} is not of the current family {} ({})",
                    sample.name, family.name, family.kind
                )));
            }
            let mut key: Labels = sample.labels.clone();
            key.sort();
            if !series.insert((sample.name.clone(), key)) {
                return Err(at("the same series twice".to_string()));
            }
            family.samples.push(sample);
        }
    }
    if let Some((name, _)) = pending_help {
        return Err(format!("HELP for {name} without TYPE"));
    }
    for family in families.iter().filter(|f| f.kind == "histogram") {
        check_histogram(family)?;
    }
    Ok(Exposition { families })
}

/// Buckets cumulative (non-decreasing in `le`), ending at `+Inf` = `_count`, per label set.
fn check_histogram(family: &Family) -> Result<(), String> {
    let bucket = format!("{}_bucket", family.name);
    let count = format!("{}_count", family.name);
    let sum = format!("{}_sum", family.name);
    let mut buckets: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<Labels, f64> = BTreeMap::new();
    let mut sums: BTreeSet<Labels> = BTreeSet::new();
    for s in &family.samples {
        let mut labels = s.labels.clone();
        if s.name == bucket {
            let Some(pos) = labels.iter().position(|(k, _)| k == "le") else {
                return Err(format!("{bucket} without le"));
            };
            let (_, le) = labels.remove(pos);
            let le = parse_value(&le).ok_or_else(|| format!("{bucket}: le {le:?}"))?;
            labels.sort();
            buckets.entry(labels).or_default().push((le, s.value));
        } else if s.name == count {
            labels.sort();
            counts.insert(labels, s.value);
        } else if s.name == sum {
            labels.sort();
            sums.insert(labels);
        }
    }
    for (labels, list) in &buckets {
        let mut last = (f64::NEG_INFINITY, 0.0);
        for &(le, n) in list {
            if le <= last.0 || n < last.1 {
                return Err(format!(
                    "{bucket} {labels:?}: buckets not cumulative at le={le}"
                ));
            }
            last = (le, n);
        }
        if last.0 != f64::INFINITY {
            return Err(format!("{bucket} {labels:?}: no +Inf bucket"));
        }
        if counts.get(labels) != Some(&last.1) {
            return Err(format!("{count} {labels:?} differs from the +Inf bucket"));
        }
        if !sums.contains(labels) {
            return Err(format!("{sum} {labels:?} missing"));
        }
    }
    if counts.len() != buckets.len() {
        return Err(format!("{count} without buckets"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_scrape_reads() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\n\
                    a_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 3\na_total{x=\"2\"} 4\n\
                    # HELP h H.\n# TYPE h histogram\n\
                    h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n\
                    # HELP g G.\n# TYPE g gauge\ng NaN\n";
        let e = parse(text).expect("valid");
        assert_eq!(e.families.len(), 3);
        assert_eq!(e.value("a_total", &[("x", "2")]), Some(4.0));
        assert_eq!(
            e.value("a_total", &[("y", "q\"\\\n"), ("x", "1")]),
            Some(3.0)
        );
        assert_eq!(
            e.value("a_total", &[("x", "1")]),
            None,
            "labels match exactly"
        );
        assert_eq!(e.value("h_count", &[]), Some(2.0));
        assert_eq!(e.samples("h_bucket").count(), 2);
        assert_eq!(e.family("g").map(|f| f.kind.as_str()), Some("gauge"));
    }

    #[test]
    fn bad_scrapes_are_refused() {
        for bad in [
            "a 1\n",                                              // no family
            "# TYPE a gauge\na 1\n",                              // TYPE without HELP
            "# HELP a A.\na 1\n",                                 // HELP without TYPE
            "# HELP a A.\n# TYPE a gauge\nb 1\n",                 // another family's sample
            "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",            // duplicate series
            "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", // label twice
            "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",            // unquoted
            "# HELP a A.\n# TYPE a gauge\na x\n",                 // bad value
            "# HELP a A.\n# TYPE a gauge\na 1",                   // no final newline
            "# HELP a A.\n# TYPE a counter\na 1\n",               // counter without _total
            "# HELP a A.\n# TYPE a gauge\n# HELP a A.\n# TYPE a gauge\n", // twice
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad:?}");
        }
        assert_eq!(parse(""), Ok(Exposition::default()));
    }
}
