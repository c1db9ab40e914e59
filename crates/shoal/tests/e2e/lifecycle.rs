//! Backends coming and going while clients keep sending: operator drain / disable / enable,
//! twenty reloads changing the backend list, a backend killed and restarted, graceful
//! shutdown. The promise checked throughout: no idempotent request fails while a healthy
//! backend remains, and no request goes where the config (old or new) does not send it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_health::BackendStatus::{Disabled, Down, Draining, Ready};
use shoal_test_support::{eventually, TestBackend, TestClient, TestProxy};
use shoal_upstream::Operation;
use tokio::task::JoinHandle;

use crate::support::*;

/// Most requests one load task sends, whatever happens.
const MAX_PER_TASK: usize = 50_000;

/// One request of a [`Load`].
#[derive(Debug)]
struct Sample {
    /// The test's config generation when the request was sent and when its answer was in.
    generation: (usize, usize),
    /// `(200, x-backend)`, or what went wrong: the transport error, or the status and body
    /// of any other answer.
    result: Result<(u16, String), String>,
}

/// Concurrent client loops of `GET`s (idempotent, no body) on keep-alive connections, until
/// told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// `tasks` clients sending to `url`; each sample records `generation` around its request.
    fn start(url: String, tasks: usize, generation: Arc<AtomicUsize>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks = (0..tasks)
            .map(|t| {
                let (url, stop, done, generation) = (
                    format!("{url}/t{t}"),
                    Arc::clone(&stop),
                    Arc::clone(&done),
                    Arc::clone(&generation),
                );
                tokio::spawn(async move {
                    let client = TestClient::http1().timeout(Duration::from_secs(5));
                    let mut samples = Vec::new();
                    for _ in 0..MAX_PER_TASK {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let before = generation.load(Ordering::SeqCst);
                        let result = match client.get(&url).await {
                            // A failure's answer names its cause (shoal's error body).
                            Ok(r) if r.status != 200 => Err(format!("{}: {}", r.status, r.text())),
                            Ok(r) => Ok((200, r.backend().unwrap_or("").to_string())),
                            Err(e) => Err(format!("{e:#}")),
                        };
                        let after = generation.load(Ordering::SeqCst);
                        samples.push(Sample {
                            generation: (before, after),
                            result,
                        });
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    samples
                })
            })
            .collect();
        Load { stop, done, tasks }
    }

    fn completed(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` more requests than now have completed.
    async fn progress(&self, n: usize) {
        let target = self.completed() + n;
        eventually(Duration::from_secs(5), || async {
            self.completed() >= target
        })
        .await;
    }

    /// Stops the clients after their current request; every sample.
    async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("load task"));
        }
        all
    }
}

/// Every sample that is not a 200, with what went wrong.
fn failures(samples: &[Sample]) -> Vec<&Sample> {
    samples
        .iter()
        .filter(|s| !matches!(s.result, Ok((200, _))))
        .collect()
}

#[track_caller]
fn assert_no_failures(samples: &[Sample]) {
    let failed = failures(samples);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed; first ones: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(5)]
    );
}

/// Upstream `app` (round robin, `extra`) over `addrs`, two workers.
fn over(addrs: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    config(
        2,
        "",
        &format!(
            "{}[upstreams.app]\nalgorithm = \"round_robin\"\nbackends = [{}]\n{extra}\n",
            route("", "upstream = \"app\"", ""),
            list.join(", ")
        ),
    )
}

fn addrs(backends: &[TestBackend]) -> Vec<SocketAddr> {
    backends.iter().map(TestBackend::addr).collect()
}

// ----- Operator -----

#[tokio::test]
async fn drain_lets_the_in_flight_request_finish_and_sends_nothing_new() {
    let backends = named(&["a", "b"]).await;
    let (a, b) = (&backends[0], &backends[1]);
    // One worker, round robin: the first request goes to the first backend.
    let text = over(&addrs(&backends), "").replace("workers = 2", "workers = 1");
    let proxy = TestProxy::start(&text);
    a.set_delay(ms(700));
    let slow = {
        let url = proxy.url("/slow");
        tokio::spawn(async move { TestClient::http1().get(&url).await })
    };
    eventually(Duration::from_secs(2), || async { a.in_flight() == 1 }).await;

    let health = proxy.proxy().health();
    assert_eq!(
        health.operate("app", a.addr(), Operation::Drain).await,
        Some(Draining)
    );
    assert_eq!(status(&proxy, a.addr()), Draining);
    a.set_delay(Duration::ZERO);
    let client = TestClient::http1();
    for i in 0..20 {
        let response = get(&client, &proxy.url(&format!("/new{i}"))).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.backend(), Some("b"), "request {i} after the drain");
    }
    assert_eq!(a.hits(), 1, "nothing new reached the draining backend");

    let response = slow
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "a");
    let state = backend_state(&proxy, "app", a.addr()).expect("a");
    eventually(Duration::from_secs(1), || async { state.in_flight() == 0 }).await;
    assert_eq!(status(&proxy, a.addr()), Draining, "stays out once drained");
    for _ in 0..6 {
        assert_eq!(
            get(&client, &proxy.url("/later")).await.backend(),
            Some("b")
        );
    }
    assert_eq!(a.hits(), 1);
    assert!(b.hits() >= 26);

    // Enable undoes the drain.
    assert_eq!(
        health.operate("app", a.addr(), Operation::Enable).await,
        Some(Ready)
    );
    let seen: Vec<String> = {
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(
                get(&client, &proxy.url("/back"))
                    .await
                    .backend()
                    .unwrap_or("")
                    .to_string(),
            );
        }
        seen
    };
    assert_eq!(seen.iter().filter(|n| *n == "a").count(), 5, "{seen:?}");
}

#[tokio::test]
async fn disable_takes_a_backend_out_and_enable_brings_it_back() {
    let backends = named(&["a", "b"]).await;
    let (a, b) = (&backends[0], &backends[1]);
    let proxy = TestProxy::start(&over(&addrs(&backends), ""));
    let health = proxy.proxy().health();
    let client = TestClient::http1();

    assert_eq!(
        health.operate("app", a.addr(), Operation::Disable).await,
        Some(Disabled)
    );
    assert_eq!(status(&proxy, a.addr()), Disabled);
    for _ in 0..20 {
        let response = get(&client, &proxy.url("/c")).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.backend(), Some("b"));
    }
    assert_eq!(a.hits(), 0);
    let view = health.view("app", a.addr()).await.expect("a is known");
    assert_eq!(view.status, Disabled);

    assert_eq!(
        health.operate("app", a.addr(), Operation::Enable).await,
        Some(Ready)
    );
    for _ in 0..20 {
        assert_eq!(get(&client, &proxy.url("/c")).await.status, 200);
    }
    assert_eq!(a.hits(), 10, "back in the rotation");
    assert_eq!(b.hits(), 30);

    // Unknown backend or upstream: nothing to operate on.
    let stranger = Refusing::new();
    assert_eq!(
        health
            .operate("app", stranger.addr(), Operation::Disable)
            .await,
        None
    );
    assert_eq!(
        health.operate("nope", a.addr(), Operation::Disable).await,
        None
    );
    assert_eq!(status(&proxy, a.addr()), Ready);
}

#[tokio::test]
async fn drain_under_load_loses_nothing_and_nothing_reaches_the_drained_backend() {
    let mut backends = Vec::new();
    for name in ["a", "b", "c"] {
        backends.push(TestBackend::http().name(name).delay(ms(3)).await);
    }
    let b = &backends[1];
    let proxy = TestProxy::start(&over(&addrs(&backends), ""));
    let load = Load::start(proxy.url("/load"), 4, Arc::new(AtomicUsize::new(0)));
    load.progress(100).await;

    let health = proxy.proxy().health();
    assert_eq!(
        health.operate("app", b.addr(), Operation::Drain).await,
        Some(Draining)
    );
    // Drained once the requests it had finish.
    let state = backend_state(&proxy, "app", b.addr()).expect("b");
    eventually(Duration::from_secs(2), || async { state.in_flight() == 0 }).await;
    let hits = b.hits();
    load.progress(300).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert_eq!(
        b.hits(),
        hits,
        "a request reached b after its drain completed"
    );
    assert!(backends[0].hits() > 100 && backends[2].hits() > 100);
}

// ----- Reloads, kills, shutdown under load -----

#[tokio::test]
async fn twenty_reloads_under_load_lose_nothing_and_route_only_to_old_or_new_backends() {
    let mut pool = Vec::new();
    for i in 0..6 {
        pool.push(TestBackend::http().name(format!("p{i}")).delay(ms(2)).await);
    }
    // Config k: three consecutive backends of the pool starting at k (mod 6), so every reload
    // adds one backend and removes one. Active checks on: new backends wait for a probe.
    let members = |k: usize| -> Vec<usize> { (0..3).map(|j| (k + j) % pool.len()).collect() };
    let text = |k: usize| {
        let list: Vec<SocketAddr> = members(k).iter().map(|&i| pool[i].addr()).collect();
        over(
            &list,
            "[upstreams.app.health]\ninterval = \"100ms\"\ntimeout = \"80ms\"\n",
        )
    };
    let proxy = TestProxy::start(&text(0));
    // The first backends pass their first check before the clients start.
    for &i in &members(0) {
        until_status(&proxy, pool[i].addr(), Ready, Duration::from_secs(3)).await;
    }
    let generation = Arc::new(AtomicUsize::new(0));
    let load = Load::start(proxy.url("/r"), 4, Arc::clone(&generation));
    load.progress(50).await;
    const RELOADS: usize = 20;
    for k in 1..=RELOADS {
        proxy.reload(&text(k));
        generation.store(k, Ordering::SeqCst);
        load.progress(30).await;
    }
    load.progress(50).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);

    // A request sent under generation g0 and answered under g1 was routed by config g0..=g1,
    // or g1 + 1 when the swap happened just before the counter moved.
    let mut stray = Vec::new();
    for s in &samples {
        let Ok((_, name)) = &s.result else { continue };
        let (g0, g1) = s.generation;
        let allowed: BTreeSet<String> = (g0..=(g1 + 1).min(RELOADS))
            .flat_map(&members)
            .map(|i| pool[i].name().to_string())
            .collect();
        if !allowed.contains(name) {
            stray.push((name.clone(), s.generation, allowed));
        }
    }
    assert!(
        stray.is_empty(),
        "{} answers came from a backend in neither the old nor the new config: {:?}",
        stray.len(),
        &stray[..stray.len().min(5)]
    );
    for b in &pool {
        assert!(
            b.hits() > 0,
            "{} never served: a reload did not take",
            b.name()
        );
    }
    // After the last reload, only its backends serve.
    let last: BTreeSet<String> = members(RELOADS)
        .iter()
        .map(|&i| pool[i].name().to_string())
        .collect();
    let client = TestClient::http1();
    for _ in 0..12 {
        let response = get(&client, &proxy.url("/after")).await;
        assert_eq!(response.status, 200);
        let name = response.backend().unwrap_or("").to_string();
        assert!(
            last.contains(&name),
            "{name} is not in the last config {last:?}"
        );
    }
}

/// Three backends under load from `clients` concurrent clients; the third is killed with a
/// request on it, then restarted. Asserts zero failed requests and that it serves again.
async fn kill_and_restart(clients: usize) {
    let mut backends = Vec::new();
    for name in ["a", "b", "c"] {
        backends.push(TestBackend::http().name(name).delay(ms(5)).await);
    }
    // Passive checks only: connect refused counts as a gateway failure.
    let text = over(
        &addrs(&backends),
        "outlier = { base_ejection_time = \"300ms\", max_ejection_time = \"600ms\" }",
    );
    let proxy = TestProxy::start(&text);
    let c_addr = backends[2].addr();
    let load = Load::start(proxy.url("/k"), clients, Arc::new(AtomicUsize::new(0)));
    load.progress(100).await;

    // Killed with a request on it: its connections die with the process.
    eventually(Duration::from_secs(2), || async {
        backends[2].in_flight() >= 1
    })
    .await;
    backends[2].stop().await;
    until_status(&proxy, c_addr, Down, Duration::from_secs(2)).await;
    // Still dead when its first ejection ends: tried again, refused, ejected again.
    let health = proxy.proxy().health();
    eventually(Duration::from_secs(3), || async {
        health
            .view("app", c_addr)
            .await
            .is_some_and(|v| v.ejections >= 2)
    })
    .await;
    load.progress(100).await;

    backends[2]
        .restart()
        .await
        .expect("the killed backend's port is free again");
    let at_restart = backends[2].hits();
    eventually(Duration::from_secs(3), || async {
        backends[2].hits() >= at_restart + 20
    })
    .await;
    assert_eq!(status(&proxy, c_addr), Ready);
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert!(samples.len() >= 400, "{} requests", samples.len());
}

/// Three clients: the retry budget always allows three retries at once (see the next test
/// for more clients).
#[tokio::test]
async fn killing_a_backend_under_load_loses_no_idempotent_request_and_restart_brings_it_back() {
    kill_and_restart(3).await;
}

#[tokio::test]
async fn killing_a_backend_under_load_from_eight_clients_loses_no_idempotent_request() {
    kill_and_restart(8).await;
}

#[tokio::test]
async fn graceful_shutdown_during_load_finishes_every_request_in_flight() {
    let mut backends = Vec::new();
    for name in ["a", "b"] {
        backends.push(TestBackend::http().name(name).delay(ms(250)).await);
    }
    let proxy = TestProxy::start(&over(&addrs(&backends), ""));
    const TASKS: usize = 6;
    let load = Load::start(proxy.url("/s"), TASKS, Arc::new(AtomicUsize::new(0)));
    load.progress(TASKS).await;
    let in_flight = || backends.iter().map(TestBackend::in_flight).sum::<usize>();
    eventually(Duration::from_secs(3), || async { in_flight() == TASKS }).await;

    // No new requests from here; the ones in flight must all complete.
    load.stop.store(true, Ordering::SeqCst);
    proxy.begin_shutdown();
    let at_shutdown = in_flight();
    assert!(
        at_shutdown >= 1,
        "requests were in flight when shutdown began"
    );
    let samples = tokio::time::timeout(Duration::from_secs(10), load.finish())
        .await
        .expect("the clients finish");
    assert_no_failures(&samples);
    let hits: u64 = backends.iter().map(TestBackend::hits).sum();
    assert_eq!(
        samples.len() as u64,
        hits,
        "every request a backend received was answered"
    );
    let stopping = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), proxy.stop())
        .await
        .expect("stop returns");
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "nothing was left in flight, stop should not wait out the grace period"
    );
}
