//! [`render`]: [`Readings`] as Prometheus text, one family after another (every family's
//! HELP and TYPE are written even when it has no sample yet, so the set of names is the same
//! on every shoal). The families and their labels are listed in `docs/metrics.md`; a test
//! holds the two together.

use shoal_metrics::{MetricKind, TextEncoder};

use super::readings::{BackendReading, ListenerReading, Readings, UpstreamReading};

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn int(n: u64) -> i128 {
    i128::from(n)
}

/// Writes one family whose samples are one per backend, labelled `upstream` and `backend`.
fn per_backend(
    e: &mut TextEncoder,
    upstreams: &[UpstreamReading],
    name: &str,
    kind: MetricKind,
    help: &str,
    value: impl Fn(&BackendReading) -> Option<i128>,
) {
    e.family(name, kind, help);
    for u in upstreams {
        for b in &u.backends {
            if let Some(v) = value(b) {
                e.sample_int(name, &[("upstream", &u.name), ("backend", &b.addr)], v);
            }
        }
    }
}

/// The whole `/metrics` text.
pub fn render(r: &Readings) -> String {
    let mut e = TextEncoder::new();
    e.family(
        "shoal_build_info",
        MetricKind::Gauge,
        "Always 1; the version label says which shoal is running.",
    );
    e.sample_int("shoal_build_info", &[("version", r.version)], 1);
    listeners(&mut e, r);
    routes(&mut e, r);
    upstreams(&mut e, r);
    backends(&mut e, r);
    filters(&mut e, r);
    autoscalers(&mut e, r);
    e.finish()
}

fn listeners(e: &mut TextEncoder, r: &Readings) {
    e.family(
        "shoal_listener_open_connections",
        MetricKind::Gauge,
        "Client connections open on the listener now, over all workers.",
    );
    for l in &r.listeners {
        e.sample_int(
            "shoal_listener_open_connections",
            &[("listener", &l.name)],
            int(l.open_connections),
        );
    }
    e.family(
        "shoal_listener_requests_total",
        MetricKind::Counter,
        "Responses on the listener, by status class, including those no route saw (400, 404, 408).",
    );
    for l in &r.listeners {
        for (class, n) in CLASSES.iter().zip(l.responses) {
            e.sample_int(
                "shoal_listener_requests_total",
                &[("listener", &l.name), ("class", class)],
                int(n),
            );
        }
    }
    for (name, help, pick) in [
        (
            "shoal_listener_received_bytes_total",
            "Bytes read from the listener's client connections (after TLS; HTTP listeners).",
            (|l: &ListenerReading| l.bytes_received) as fn(&ListenerReading) -> u64,
        ),
        (
            "shoal_listener_sent_bytes_total",
            "Bytes written to the listener's client connections (after TLS; HTTP listeners).",
            |l: &ListenerReading| l.bytes_sent,
        ),
    ] {
        e.family(name, MetricKind::Counter, help);
        for l in &r.listeners {
            e.sample_int(name, &[("listener", &l.name)], int(pick(l)));
        }
    }
    let tls = r
        .listeners
        .iter()
        .filter_map(|l| l.tls.map(|t| (l.name.as_str(), t)));
    e.family(
        "shoal_tls_handshakes_total",
        MetricKind::Counter,
        "TLS handshakes completed on an https listener.",
    );
    for (name, t) in tls.clone() {
        e.sample_int(
            "shoal_tls_handshakes_total",
            &[("listener", name)],
            int(t.handshakes),
        );
    }
    e.family(
        "shoal_tls_handshake_failures_total",
        MetricKind::Counter,
        "TLS handshakes on an https listener that failed or timed out.",
    );
    for (name, t) in tls.clone() {
        e.sample_int(
            "shoal_tls_handshake_failures_total",
            &[("listener", name)],
            int(t.handshake_failures),
        );
    }
    e.family(
        "shoal_tls_certificate_reloads_total",
        MetricKind::Counter,
        "Changed certificate files of an https listener loaded (result=ok) or refused, the previous ones serving on (result=failed).",
    );
    for (name, t) in tls {
        for (result, n) in [("ok", t.reloads), ("failed", t.reload_failures)] {
            e.sample_int(
                "shoal_tls_certificate_reloads_total",
                &[("listener", name), ("result", result)],
                int(n),
            );
        }
    }
}

fn routes(e: &mut TextEncoder, r: &Readings) {
    e.family(
        "shoal_route_requests_total",
        MetricKind::Counter,
        "Responses to requests matched by the route, by status class (backend answers and shoal's own alike).",
    );
    for l in &r.listeners {
        for route in &l.routes {
            for (class, n) in CLASSES.iter().zip(route.responses) {
                e.sample_int(
                    "shoal_route_requests_total",
                    &[
                        ("listener", &l.name),
                        ("route", &route.name),
                        ("class", class),
                    ],
                    int(n),
                );
            }
        }
    }
    e.family(
        "shoal_route_request_duration_seconds",
        MetricKind::Histogram,
        "Time from a request's head arriving to its response head being ready, for requests matched by the route.",
    );
    for l in &r.listeners {
        for route in &l.routes {
            e.histogram(
                "shoal_route_request_duration_seconds",
                &[("listener", &l.name), ("route", &route.name)],
                &route.duration,
            );
        }
    }
}

fn upstreams(e: &mut TextEncoder, r: &Readings) {
    type Value = fn(&UpstreamReading) -> u64;
    let families: [(&str, &str, Value); 3] = [
        (
            "shoal_upstream_backends",
            "Backends in the upstream now, whatever their state.",
            |u| u.backends.len() as u64,
        ),
        (
            "shoal_upstream_eligible_backends",
            "Backends of the upstream the balancer may pick now (warming or ready).",
            |u| {
                u.backends
                    .iter()
                    .filter(|b| b.status.is_eligible())
                    .count() as u64
            },
        ),
        (
            "shoal_upstream_panic",
            "1 while the upstream is in panic mode (too few healthy backends: every backend not switched off takes traffic), else 0.",
            |u| u64::from(u.panic),
        ),
    ];
    for (name, help, value) in families {
        e.family(name, MetricKind::Gauge, help);
        for u in &r.upstreams {
            e.sample_int(name, &[("upstream", &u.name)], int(value(u)));
        }
    }
}

fn backends(e: &mut TextEncoder, r: &Readings) {
    let ups = &r.upstreams;
    e.family(
        "shoal_backend_state",
        MetricKind::Gauge,
        "1 for the backend's current state, 0 for the others (warming, ready, not_ready, down, draining, disabled).",
    );
    for u in ups {
        for b in &u.backends {
            for state in shoal_health::BackendStatus::ALL {
                e.sample_int(
                    "shoal_backend_state",
                    &[
                        ("upstream", &u.name),
                        ("backend", &b.addr),
                        ("state", state.as_str()),
                    ],
                    i128::from(state == b.status),
                );
            }
        }
    }
    per_backend(
        e,
        ups,
        "shoal_backend_weight",
        MetricKind::Gauge,
        "The backend's configured weight (or the operator's).",
        |b| Some(i128::from(b.weight)),
    );
    e.family(
        "shoal_backend_effective_weight",
        MetricKind::Gauge,
        "The weight balancers use now: the weight lowered by slow start; 0 while not eligible.",
    );
    for u in ups {
        for b in &u.backends {
            e.sample(
                "shoal_backend_effective_weight",
                &[("upstream", &u.name), ("backend", &b.addr)],
                b.effective_weight,
            );
        }
    }
    per_backend(
        e,
        ups,
        "shoal_backend_in_flight",
        MetricKind::Gauge,
        "Requests (and TCP connections, WebSocket tunnels) under way to the backend now.",
        |b| Some(int(b.in_flight)),
    );
    per_backend(
        e,
        ups,
        "shoal_backend_requests_total",
        MetricKind::Counter,
        "Attempts sent to the backend: each try of a request (retries included), TCP connection or WebSocket upgrade.",
        |b| Some(int(b.requests)),
    );
    e.family(
        "shoal_backend_responses_total",
        MetricKind::Counter,
        "Response heads the backend sent, by status class.",
    );
    for u in ups {
        for b in &u.backends {
            for (class, n) in CLASSES.iter().zip(b.responses) {
                e.sample_int(
                    "shoal_backend_responses_total",
                    &[
                        ("upstream", &u.name),
                        ("backend", &b.addr),
                        ("class", class),
                    ],
                    int(n),
                );
            }
        }
    }
    per_backend(
        e,
        ups,
        "shoal_backend_failures_total",
        MetricKind::Counter,
        "Attempts that failed without a response: connect errors, resets, invalid responses, response timeouts.",
        |b| Some(int(b.failures)),
    );
    per_backend(
        e,
        ups,
        "shoal_backend_connect_failures_total",
        MetricKind::Counter,
        "New connections to the backend that could not be opened (TCP, TLS, HTTP/2 handshake).",
        |b| Some(int(b.connect_failures)),
    );
    per_backend(
        e,
        ups,
        "shoal_backend_retries_total",
        MetricKind::Counter,
        "Attempts sent to the backend that were a retry: not their request's first attempt.",
        |b| Some(int(b.retries)),
    );
    per_backend(
        e,
        ups,
        "shoal_backend_ejections_total",
        MetricKind::Counter,
        "Times outlier detection ejected the backend (consecutive 5xx or gateway failures).",
        |b| b.ejections.map(int),
    );
    e.family(
        "shoal_backend_response_duration_seconds",
        MetricKind::Histogram,
        "Time from sending a request to the backend to receiving its response head.",
    );
    for u in ups {
        for b in &u.backends {
            e.histogram(
                "shoal_backend_response_duration_seconds",
                &[("upstream", &u.name), ("backend", &b.addr)],
                &b.response_time,
            );
        }
    }
    e.family(
        "shoal_backend_connect_duration_seconds",
        MetricKind::Histogram,
        "Time to open a new HTTP/1.1 connection to the backend (TCP connect, plus the TLS handshake for TLS upstreams).",
    );
    for u in ups {
        for b in &u.backends {
            e.histogram(
                "shoal_backend_connect_duration_seconds",
                &[("upstream", &u.name), ("backend", &b.addr)],
                &b.connect_time,
            );
        }
    }
    per_backend(
        e,
        ups,
        "shoal_backend_idle_connections",
        MetricKind::Gauge,
        "Idle HTTP/1.1 keep-alive connections pooled for the backend, over all workers.",
        |b| Some(int(b.idle_connections)),
    );
    per_backend(
        e,
        ups,
        "shoal_backend_h2_connections",
        MetricKind::Gauge,
        "Open HTTP/2 connections to the backend, over all workers.",
        |b| Some(int(b.h2_connections)),
    );
    per_backend(
        e,
        ups,
        "shoal_backend_websocket_tunnels",
        MetricKind::Gauge,
        "WebSocket tunnels open to the backend now.",
        |b| Some(int(b.tunnels)),
    );
}

fn filters(e: &mut TextEncoder, r: &Readings) {
    e.family(
        "shoal_filter_denied_total",
        MetricKind::Counter,
        "Requests a gateway filter refused, by the status they got (401/403 auth failures, 429 rate limited, ...).",
    );
    for f in &r.filters {
        let statuses = f
            .denied
            .iter()
            .map(|(status, n)| (status.to_string(), *n))
            .chain((f.denied_other > 0).then(|| ("other".to_string(), f.denied_other)));
        for (status, n) in statuses {
            e.sample_int(
                "shoal_filter_denied_total",
                &[("filter", &f.name), ("kind", f.kind), ("status", &status)],
                int(n),
            );
        }
    }
    e.family(
        "shoal_filter_answered_total",
        MetricKind::Counter,
        "Requests a gateway filter answered itself: redirects, configured responses, CORS preflights.",
    );
    for f in &r.filters {
        e.sample_int(
            "shoal_filter_answered_total",
            &[("filter", &f.name), ("kind", f.kind)],
            int(f.answered),
        );
    }
    let rate = r
        .filters
        .iter()
        .filter_map(|f| f.rate_limit.map(|l| (f.name.as_str(), l)));
    e.family(
        "shoal_filter_rate_limit_keys",
        MetricKind::Gauge,
        "Keys a rate_limit filter tracks now.",
    );
    for (name, l) in rate.clone() {
        e.sample_int(
            "shoal_filter_rate_limit_keys",
            &[("filter", name)],
            int(l.keys),
        );
    }
    e.family(
        "shoal_filter_rate_limit_evictions_total",
        MetricKind::Counter,
        "Keys a full rate_limit table dropped while they still mattered (raise max_keys when this grows).",
    );
    for (name, l) in rate {
        e.sample_int(
            "shoal_filter_rate_limit_evictions_total",
            &[("filter", name)],
            int(l.evictions),
        );
    }
}

fn autoscalers(e: &mut TextEncoder, r: &Readings) {
    type Value = fn(&super::readings::AutoscaleReading) -> u32;
    let gauges: [(&str, &str, Value); 4] = [
        (
            "shoal_autoscale_current_backends",
            "Instances the autoscaler has asked for and is not removing.",
            |a| a.current,
        ),
        (
            "shoal_autoscale_desired_backends",
            "Instances the autoscaler's last decision asked for.",
            |a| a.desired,
        ),
        (
            "shoal_autoscale_min_backends",
            "The autoscaled upstream's configured minimum.",
            |a| a.min,
        ),
        (
            "shoal_autoscale_max_backends",
            "The autoscaled upstream's configured maximum.",
            |a| a.max,
        ),
    ];
    for (name, help, value) in gauges {
        e.family(name, MetricKind::Gauge, help);
        for a in &r.autoscalers {
            e.sample_int(name, &[("upstream", &a.upstream)], i128::from(value(a)));
        }
    }
    e.family(
        "shoal_autoscale_decisions_total",
        MetricKind::Counter,
        "Autoscaler decisions, by action (scale_up, scale_down, none, manual).",
    );
    for a in &r.autoscalers {
        for (action, n) in &a.decisions {
            e.sample_int(
                "shoal_autoscale_decisions_total",
                &[("upstream", &a.upstream), ("action", action)],
                int(*n),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use shoal_health::BackendStatus;
    use shoal_metrics::Histogram;

    use super::*;
    use crate::metrics::parse::parse;
    use crate::metrics::readings::*;

    fn histogram(observations: &[u64]) -> shoal_metrics::HistogramSnapshot {
        let h = Histogram::default();
        for ms in observations {
            h.observe(Duration::from_millis(*ms));
        }
        h.snapshot()
    }

    fn backend(addr: &str, status: BackendStatus) -> BackendReading {
        BackendReading {
            addr: addr.to_string(),
            status,
            weight: 2,
            effective_weight: 1.5,
            in_flight: 1,
            requests: 10,
            failures: 1,
            connect_failures: 1,
            retries: 2,
            ejections: Some(3),
            responses: [0, 7, 0, 0, 2],
            response_time: histogram(&[1, 2, 300]),
            connect_time: histogram(&[1]),
            idle_connections: 4,
            h2_connections: 0,
            tunnels: 0,
        }
    }

    fn readings() -> Readings {
        Readings {
            version: "9.9.9",
            listeners: vec![
                ListenerReading {
                    name: "web".into(),
                    open_connections: 3,
                    tls: Some(TlsReading {
                        handshakes: 5,
                        handshake_failures: 1,
                        reloads: 2,
                        reload_failures: 0,
                    }),
                    routes: vec![
                        RouteReading {
                            name: "web.routes[0]".into(),
                            responses: [0, 7, 0, 1, 3],
                            duration: histogram(&[1, 1, 5, 40, 2_000]),
                        },
                        RouteReading {
                            name: "web.routes[1]".into(),
                            responses: [0; 5],
                            duration: histogram(&[]),
                        },
                    ],
                    responses: [0, 7, 0, 2, 3],
                    bytes_received: 1_000,
                    bytes_sent: 20_000,
                },
                ListenerReading {
                    name: "db \"quoted\"".into(),
                    open_connections: 0,
                    tls: None,
                    routes: Vec::new(),
                    responses: [0; 5],
                    bytes_received: 0,
                    bytes_sent: 0,
                },
            ],
            upstreams: vec![
                UpstreamReading {
                    name: "api".into(),
                    panic: false,
                    backends: vec![
                        backend("127.0.0.1:9001", BackendStatus::Ready),
                        backend("[::1]:9002", BackendStatus::Down),
                    ],
                },
                UpstreamReading {
                    name: "empty".into(),
                    panic: true,
                    backends: Vec::new(),
                },
            ],
            filters: vec![FilterReading {
                name: "per_user".into(),
                kind: "rate_limit",
                denied: vec![(429, 4)],
                denied_other: 1,
                answered: 0,
                rate_limit: Some(RateReading {
                    keys: 12,
                    evictions: 0,
                }),
            }],
            autoscalers: vec![AutoscaleReading {
                upstream: "api".into(),
                min: 1,
                max: 5,
                current: 2,
                desired: 3,
                decisions: vec![
                    ("scale_up", 1),
                    ("scale_down", 0),
                    ("none", 9),
                    ("manual", 0),
                ],
            }],
        }
    }

    #[test]
    fn the_text_is_valid_exposition_with_the_values_read() {
        let text = render(&readings());
        let e = parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
        assert_eq!(
            e.value("shoal_build_info", &[("version", "9.9.9")]),
            Some(1.0)
        );
        assert_eq!(
            e.value(
                "shoal_listener_open_connections",
                &[("listener", "db \"quoted\"")]
            ),
            Some(0.0),
            "label values are escaped and read back"
        );
        let route = [("listener", "web"), ("route", "web.routes[0]")];
        let class = |c| [route[0], route[1], ("class", c)];
        assert_eq!(
            e.value("shoal_route_requests_total", &class("2xx")),
            Some(7.0)
        );
        assert_eq!(
            e.value("shoal_route_requests_total", &class("5xx")),
            Some(3.0)
        );
        assert_eq!(
            e.value("shoal_route_requests_total", &class("1xx")),
            Some(0.0)
        );
        assert_eq!(
            e.value("shoal_route_request_duration_seconds_count", &route),
            Some(5.0)
        );
        assert_eq!(
            e.value(
                "shoal_route_request_duration_seconds_count",
                &[("listener", "web"), ("route", "web.routes[1]")]
            ),
            Some(0.0),
            "an idle route shows zeros"
        );
        let tls = [("listener", "web"), ("result", "ok")];
        assert_eq!(
            e.value("shoal_tls_certificate_reloads_total", &tls),
            Some(2.0)
        );
        assert_eq!(
            e.samples("shoal_tls_handshakes_total").count(),
            1,
            "https only"
        );

        let b = [("upstream", "api"), ("backend", "[::1]:9002")];
        let state = |s| [b[0], b[1], ("state", s)];
        assert_eq!(e.value("shoal_backend_state", &state("down")), Some(1.0));
        assert_eq!(e.value("shoal_backend_state", &state("ready")), Some(0.0));
        assert_eq!(e.samples("shoal_backend_state").count(), 2 * 6);
        assert_eq!(e.value("shoal_backend_effective_weight", &b), Some(1.5));
        assert_eq!(e.value("shoal_backend_ejections_total", &b), Some(3.0));
        assert_eq!(
            e.value("shoal_backend_response_duration_seconds_count", &b),
            Some(3.0)
        );
        assert_eq!(
            e.value("shoal_upstream_panic", &[("upstream", "empty")]),
            Some(1.0)
        );
        assert_eq!(
            e.value("shoal_upstream_eligible_backends", &[("upstream", "api")]),
            Some(1.0)
        );
        let f = [("filter", "per_user"), ("kind", "rate_limit")];
        assert_eq!(
            e.value(
                "shoal_filter_denied_total",
                &[f[0], f[1], ("status", "429")]
            ),
            Some(4.0)
        );
        assert_eq!(
            e.value(
                "shoal_filter_denied_total",
                &[f[0], f[1], ("status", "other")]
            ),
            Some(1.0)
        );
        assert_eq!(
            e.value(
                "shoal_autoscale_decisions_total",
                &[("upstream", "api"), ("action", "none")]
            ),
            Some(9.0)
        );
        assert_eq!(
            e.value("shoal_autoscale_desired_backends", &[("upstream", "api")]),
            Some(3.0)
        );
    }

    #[test]
    fn an_empty_shoal_still_declares_every_family() {
        let full = parse(&render(&readings())).expect("valid");
        let empty = parse(&render(&Readings::default())).expect("valid");
        let names = |e: &crate::metrics::parse::Exposition| -> Vec<String> {
            e.families.iter().map(|f| f.name.clone()).collect()
        };
        assert_eq!(names(&full), names(&empty));
    }

    #[test]
    fn a_backend_without_a_health_answer_leaves_out_its_ejections() {
        let mut r = readings();
        r.upstreams[0].backends[0].ejections = None;
        let e = parse(&render(&r)).expect("valid");
        assert_eq!(e.samples("shoal_backend_ejections_total").count(), 1);
    }

    /// `docs/metrics.md` lists exactly the families `/metrics` has, with their types.
    #[test]
    fn the_docs_list_every_family_with_its_type() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
        let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Table rows: | `name` | type | labels | meaning |
        let documented: BTreeSet<(String, String)> = doc
            .lines()
            .filter_map(|l| {
                let mut cells = l.split('|').map(str::trim).skip(1);
                let name = cells.next()?.strip_prefix("`shoal_")?.strip_suffix('`')?;
                let kind = cells.next()?;
                Some((format!("shoal_{name}"), kind.to_string()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = parse(&render(&readings()))
            .expect("valid")
            .families
            .into_iter()
            .map(|f| (f.name, f.kind))
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && unserved.is_empty(),
            "docs/metrics.md and /metrics disagree.\n\
             Served but not documented: {undocumented:#?}\n\
             Documented but not served: {unserved:#?}"
        );
    }
}
