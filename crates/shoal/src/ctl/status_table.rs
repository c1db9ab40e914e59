//! `shoal ctl status`: upstreams and their backends as an aligned table, states in colour
//! when writing to a terminal (plain when piped, or with `NO_COLOR`).

use shoal_admin::{BackendState, UpstreamView};

const HEADERS: [&str; 9] = [
    "UPSTREAM",
    "BACKEND",
    "STATE",
    "WEIGHT",
    "EFFECTIVE",
    "IN-FLIGHT",
    "REQUESTS",
    "FAILURES",
    "LAST CHECK",
];
/// Columns aligned to the right (numbers).
const RIGHT: [bool; 9] = [false, false, false, true, true, true, true, true, false];

fn colour(state: BackendState) -> &'static str {
    match state {
        BackendState::Ready => "\x1b[32m",    // green
        BackendState::Warming => "\x1b[36m",  // cyan
        BackendState::NotReady => "\x1b[33m", // yellow
        BackendState::Down => "\x1b[31m",     // red
        BackendState::Draining => "\x1b[35m", // magenta
        BackendState::Disabled => "\x1b[90m", // grey
    }
}

fn weight_text(weight: f64) -> String {
    if weight.fract() == 0.0 {
        format!("{weight:.0}")
    } else {
        format!("{weight:.2}")
    }
}

/// The table, one line per backend (an upstream's name and flags on its first line), ending
/// with a newline.
pub fn render(upstreams: &[UpstreamView], colours: bool) -> String {
    let mut rows: Vec<([String; 9], Option<BackendState>)> = Vec::new();
    for up in upstreams {
        let mut name = up.name.clone();
        if up.panic {
            name.push_str(" (panic)");
        }
        if up.backends.is_empty() {
            rows.push((
                [
                    name,
                    "-".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                None,
            ));
            continue;
        }
        for (i, b) in up.backends.iter().enumerate() {
            let check = match &b.last_check {
                None => "-".to_string(),
                Some(c) => {
                    let result = serde_json::to_value(c.result)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    match &c.reason {
                        Some(reason) => format!("{result}: {reason}"),
                        None => result,
                    }
                }
            };
            rows.push((
                [
                    if i == 0 { name.clone() } else { String::new() },
                    b.addr.clone(),
                    b.state.as_str().to_string(),
                    b.weight.to_string(),
                    weight_text(b.effective_weight),
                    b.in_flight.to_string(),
                    b.requests.to_string(),
                    b.failures.to_string(),
                    check,
                ],
                Some(b.state),
            ));
        }
    }
    let mut widths = HEADERS.map(str::len);
    for (cells, _) in &rows {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line =
        |out: &mut String, cells: &[String; 9], state: Option<BackendState>, header: bool| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                let last = i == cells.len() - 1;
                let (before, after) = if RIGHT[i] {
                    (pad, 0)
                } else {
                    (0, if last { 0 } else { pad })
                };
                text.push_str(&" ".repeat(before));
                match (colours, header, state) {
                    (true, true, _) => {
                        text.push_str("\x1b[1m");
                        text.push_str(cell);
                        text.push_str("\x1b[0m");
                    }
                    (true, false, Some(s)) if i == 2 => {
                        text.push_str(colour(s));
                        text.push_str(cell);
                        text.push_str("\x1b[0m");
                    }
                    _ => text.push_str(cell),
                }
                text.push_str(&" ".repeat(after));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
    line(&mut out, &HEADERS.map(str::to_string), None, true);
    for (cells, state) in &rows {
        line(&mut out, cells, *state, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use shoal_admin::{BackendView, CheckResult, CheckView};

    use super::*;

    fn backend(addr: &str, state: BackendState) -> BackendView {
        BackendView {
            addr: addr.into(),
            state,
            weight: 2,
            effective_weight: 0.5,
            in_flight: 3,
            requests: 1200,
            failures: 4,
            tunnels: 0,
            tunnels_closed_by_drain: 0,
            last_check: Some(CheckView {
                at_unix_ms: 1,
                result: CheckResult::NotReady,
                reason: Some("status 503".into()),
            }),
        }
    }

    fn upstreams() -> Vec<UpstreamView> {
        vec![UpstreamView {
            name: "api".into(),
            algorithm: "round_robin".into(),
            backends: vec![
                backend("127.0.0.1:9001", BackendState::Ready),
                backend("127.0.0.1:9002", BackendState::Draining),
            ],
            panic: false,
            eligible: 1,
        }]
    }

    #[test]
    fn plain_table() {
        let text = render(&upstreams(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("UPSTREAM  BACKEND"), "{text}");
        assert!(
            lines[1].starts_with("api       127.0.0.1:9001  ready"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("          127.0.0.1:9002  draining"),
            "{text}"
        );
        assert!(lines[1].ends_with("not_ready: status 503"), "{text}");
        assert!(!text.contains('\x1b'), "no escapes when plain");
        // Numbers are right-aligned under their headers.
        let weight_end = lines[0].find("WEIGHT").map(|i| i + "WEIGHT".len());
        assert_eq!(lines[1].find("     2").map(|i| i + 6), weight_end, "{text}");
    }

    #[test]
    fn coloured_states() {
        let text = render(&upstreams(), true);
        assert!(text.contains("\x1b[32mready\x1b[0m"), "{text:?}");
        assert!(text.contains("\x1b[35mdraining\x1b[0m"), "{text:?}");
    }
}
