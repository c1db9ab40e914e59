//! The kubernetes provider against a local HTTP server implementing the API subset it uses
//! (the Deployment scale subresource and EndpointSlices), driven through the real
//! [`Autoscaler`] with an in-memory fleet. No real cluster is involved.
#![cfg(feature = "kubernetes")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use shoal_autoscale::{Autoscaler, Fleet, Options};
use shoal_config::Config;
use shoal_health::BackendStatus;
use shoal_test_support::eventually;
use shoal_upstream::{BackendState, HealthSupervisor, PassiveLimits};

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "t0k3n";
const SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb-svc";

#[derive(Default)]
struct Cluster {
    replicas: u32,
    patches: Vec<u32>,
    endpoints: Vec<Value>,
    refused: Vec<String>,
}

fn endpoint(ip: &str, ready: bool, terminating: bool) -> Value {
    json!({
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": ready || terminating, "terminating": terminating},
        "targetRef": {"kind": "Pod", "name": format!("web-{ip}")}
    })
}

async fn answer(cluster: Arc<Mutex<Cluster>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let json_response = |status: StatusCode, v: Value| {
        let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
        *r.status_mut() = status;
        r
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or(String::new(), |p| p.as_str().to_string());
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {TOKEN}").as_str());
    if !authorized {
        cluster.lock().expect("lock").refused.push(path);
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"kind": "Status", "message": "Unauthorized"}),
        );
    }
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut c = cluster.lock().expect("lock");
    let scale = |replicas: u32| {
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
    };
    match (method.as_str(), path.as_str()) {
        ("GET", SCALE) => json_response(StatusCode::OK, scale(c.replicas)),
        ("PATCH", SCALE) => {
            if content_type.as_deref() != Some("application/merge-patch+json") {
                return json_response(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    json!({"message": "patch type"}),
                );
            }
            let patch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let Some(replicas) = patch["spec"]["replicas"].as_u64() else {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "replicas"}),
                );
            };
            let replicas = u32::try_from(replicas).expect("small");
            c.replicas = replicas;
            c.patches.push(replicas);
            json_response(StatusCode::OK, scale(c.replicas))
        }
        ("GET", SLICES) => json_response(
            StatusCode::OK,
            json!({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "items": [{
                "addressType": "IPv4",
                "metadata": {"name": "web-svc-abc", "labels": {"kubernetes.io/service-name": "web-svc"}},
                "ports": [{"name": "metrics", "port": 9100, "protocol": "TCP"},
                          {"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": c.endpoints.clone(),
            }]}),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"kind": "Status", "message": format!("{method} {path}: not found")}),
        ),
    }
}

async fn fake_api_server(cluster: Arc<Mutex<Cluster>>) -> SocketAddr {
    serve(cluster, None).await
}

/// The fake API server, over TLS when `tls` is given.
async fn serve(cluster: Arc<Mutex<Cluster>>, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let cluster = Arc::clone(&cluster);
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let cluster = Arc::clone(&cluster);
                    async move { Ok::<_, Infallible>(answer(cluster, req).await) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    addr
}

/// The upstream's backends, in memory.
struct MemoryFleet {
    backends: Mutex<Vec<Arc<BackendState>>>,
    health: HealthSupervisor,
}

impl Fleet for MemoryFleet {
    fn backends(&self, _upstream: &str) -> Vec<Arc<BackendState>> {
        self.backends.lock().expect("lock").clone()
    }
    fn add(&self, upstream: &str, addr: SocketAddr) -> Result<(), String> {
        let mut b = self.backends.lock().expect("lock");
        if !b.iter().any(|s| s.addr() == addr) {
            b.push(Arc::new(BackendState::new(
                upstream,
                addr,
                1,
                1,
                BackendStatus::Ready,
                PassiveLimits::default(),
            )));
        }
        Ok(())
    }
    fn remove(&self, _upstream: &str, addr: SocketAddr) -> Result<(), String> {
        self.backends
            .lock()
            .expect("lock")
            .retain(|s| s.addr() != addr);
        Ok(())
    }
    fn health(&self) -> HealthSupervisor {
        self.health.clone()
    }
}

fn addrs(fleet: &MemoryFleet) -> Vec<String> {
    let mut a: Vec<String> = fleet
        .backends("app")
        .iter()
        .map(|b| b.addr().to_string())
        .collect();
    a.sort();
    a
}

#[tokio::test]
async fn replicas_are_patched_and_endpoints_followed() {
    let cluster = Arc::new(Mutex::new(Cluster {
        replicas: 1,
        endpoints: vec![
            endpoint("10.0.0.1", true, false),
            endpoint("10.0.0.9", false, false),
        ],
        ..Cluster::default()
    }));
    let server = fake_api_server(Arc::clone(&cluster)).await;
    let dir = std::env::temp_dir().join(format!("shoal-k8s-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: http://{server}\n  name: local\n\
             contexts:\n- context:\n    cluster: local\n    user: shoal\n    namespace: shop\n  name: local\n\
             current-context: local\nusers:\n- name: shoal\n  user:\n    token: {TOKEN}\n"
        ),
    )
    .expect("kubeconfig");
    let config = Config::from_toml_str(&format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\n[[listeners.web.routes]]\nupstream = \"app\"\n\
         [upstreams.app]\n[upstreams.app.autoscale]\nprovider = \"kubernetes\"\n\
         deployment = \"web\"\nservice = \"web-svc\"\nport = \"http\"\nkubeconfig = \"{}\"\n\
         min = 3\nmax = 5\ntarget = {{ rps_per_backend = 100 }}\nevaluate_every = \"100ms\"\n\
         warmup = \"0s\"\ndrain_timeout = \"1s\"\n",
        kubeconfig.display()
    ))
    .unwrap_or_else(|e| panic!("{e}"));

    let (health, task, _events) = HealthSupervisor::new();
    let (stop_health, signal) = shoal_core::Shutdown::new();
    tokio::spawn(task.run(signal));
    let fleet = Arc::new(MemoryFleet {
        backends: Mutex::new(Vec::new()),
        health,
    });
    let autoscaler =
        Autoscaler::start(Arc::clone(&fleet) as Arc<dyn Fleet>, Options::default()).expect("start");
    autoscaler.apply(&config);

    // Below min: spec.replicas patched to 3 through the scale subresource.
    eventually(WAIT, || async {
        cluster.lock().expect("lock").replicas == 3
    })
    .await;
    assert_eq!(cluster.lock().expect("lock").patches, vec![3]);
    // Ready endpoints become backends (on the named port); not-ready ones do not.
    eventually(WAIT, || async { addrs(&fleet) == ["10.0.0.1:8080"] }).await;

    // The pods come up; the first one terminates (still serving): it is drained, then removed.
    cluster.lock().expect("lock").endpoints = vec![
        endpoint("10.0.0.1", false, true),
        endpoint("10.0.0.2", true, false),
        endpoint("10.0.0.3", true, false),
    ];
    eventually(WAIT, || async {
        addrs(&fleet) == ["10.0.0.2:8080", "10.0.0.3:8080"]
    })
    .await;
    let status = autoscaler.status("app").expect("status");
    assert_eq!(status.provider, "kubernetes");
    assert_eq!(status.current, 3, "spec.replicas");
    assert!(
        status.provider_error.is_none(),
        "{:?}",
        status.provider_error
    );
    assert!(
        cluster.lock().expect("lock").refused.is_empty(),
        "every call carried the token"
    );
    autoscaler.shutdown().await;
    // The platform is left as it is when shoal stops.
    assert_eq!(cluster.lock().expect("lock").replicas, 3);
    stop_health.trigger();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn api_errors_are_reported_not_fatal() {
    let cluster = Arc::new(Mutex::new(Cluster::default()));
    let server = fake_api_server(Arc::clone(&cluster)).await;
    let dir = std::env::temp_dir().join(format!("shoal-k8s-test-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "{{\"current-context\": \"c\", \"contexts\": [{{\"name\": \"c\", \"context\": {{\"cluster\": \"k\", \"user\": \"u\"}}}}],\
              \"clusters\": [{{\"name\": \"k\", \"cluster\": {{\"server\": \"http://{server}\"}}}}],\
              \"users\": [{{\"name\": \"u\", \"user\": {{\"token\": \"wrong\"}}}}]}}"
        ),
    )
    .expect("kubeconfig");
    let config = Config::from_toml_str(&format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\n[[listeners.web.routes]]\nupstream = \"app\"\n\
         [upstreams.app]\n[upstreams.app.autoscale]\nprovider = \"kubernetes\"\n\
         namespace = \"shop\"\ndeployment = \"web\"\nkubeconfig = \"{}\"\n\
         max = 5\ntarget = {{ rps_per_backend = 100 }}\nevaluate_every = \"100ms\"\n",
        kubeconfig.display()
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let (health, _task, _events) = HealthSupervisor::new();
    let fleet = Arc::new(MemoryFleet {
        backends: Mutex::new(Vec::new()),
        health,
    });
    let autoscaler = Autoscaler::start(fleet as Arc<dyn Fleet>, Options::default()).expect("start");
    autoscaler.apply(&config);
    eventually(WAIT, || async {
        autoscaler
            .status("app")
            .and_then(|s| s.provider_error)
            .is_some_and(|e| e.contains("401") && e.contains("Unauthorized"))
    })
    .await;
    autoscaler.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn talks_https_to_an_api_server_it_has_the_ca_of() {
    use shoal_tls::pki_types::pem::PemObject;
    use shoal_tls::pki_types::{CertificateDer, PrivateKeyDer};

    let ca = shoal_test_support::TestCa::new();
    let leaf = ca.issue(&["localhost"]);
    let chain = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
    let server_config =
        shoal_tls::rustls::ServerConfig::builder_with_provider(shoal_tls::crypto_provider())
            .with_protocol_versions(shoal_tls::PROTOCOL_VERSIONS)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let cluster = Arc::new(Mutex::new(Cluster {
        replicas: 1,
        endpoints: vec![endpoint("10.0.0.7", true, false)],
        ..Cluster::default()
    }));
    let server = serve(Arc::clone(&cluster), Some(acceptor)).await;
    let dir = std::env::temp_dir().join(format!("shoal-k8s-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).expect("ca");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "clusters:\n- cluster:\n    server: https://localhost:{}\n    certificate-authority: ca.pem\n  name: k\n\
             contexts:\n- context:\n    cluster: k\n    user: u\n    namespace: shop\n  name: c\n\
             current-context: c\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n",
            server.port()
        ),
    )
    .expect("kubeconfig");
    let config = Config::from_toml_str(&format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\n[[listeners.web.routes]]\nupstream = \"app\"\n\
         [upstreams.app]\n[upstreams.app.autoscale]\nprovider = \"kubernetes\"\n\
         deployment = \"web\"\nservice = \"web-svc\"\nkubeconfig = \"{}\"\n\
         min = 2\nmax = 5\ntarget = {{ rps_per_backend = 100 }}\nevaluate_every = \"100ms\"\n",
        kubeconfig.display()
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let (health, _task, _events) = HealthSupervisor::new();
    let fleet = Arc::new(MemoryFleet {
        backends: Mutex::new(Vec::new()),
        health,
    });
    let autoscaler =
        Autoscaler::start(Arc::clone(&fleet) as Arc<dyn Fleet>, Options::default()).expect("start");
    autoscaler.apply(&config);
    eventually(WAIT, || async {
        cluster.lock().expect("lock").replicas == 2
    })
    .await;
    // No port named: the slice's first one.
    eventually(WAIT, || async { addrs(&fleet) == ["10.0.0.7:9100"] }).await;
    autoscaler.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
