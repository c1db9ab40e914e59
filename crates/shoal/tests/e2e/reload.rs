//! Reloading listeners: a reload binds new listeners, stops removed ones (their open
//! connections finish), and a listener that cannot bind refuses the whole reload.

use std::time::Duration;

use shoal_config::Config;
use shoal_test_support::{eventually, TestBackend, TestClient, TestProxy};

const WAIT: Duration = Duration::from_secs(5);

fn config(backend: &TestBackend, extra_listener: Option<&str>) -> String {
    let extra = extra_listener.map_or_else(String::new, |bind| {
        format!(
            "[listeners.extra]\nbind = \"{bind}\"\n\n\
             [[listeners.extra.routes]]\nupstream = \"app\"\n\n"
        )
    });
    format!(
        "[server]\nworkers = 2\ngrace_period = \"2s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         {extra}\
         [upstreams.app]\nbackends = [\"{}\"]\n",
        backend.addr()
    )
}

#[tokio::test]
async fn reload_adds_and_removes_listeners() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&config(&backend, None));
    let web = proxy.listener("web");
    assert!(proxy.proxy().listener_addr("extra").is_none());

    proxy.reload(&config(&backend, Some("127.0.0.1:0")));
    let extra = proxy.listener("extra");
    assert_ne!(extra.port(), 0);
    let client = TestClient::http1().keep_alive(false);
    let r = client
        .get(&format!("http://{extra}/new"))
        .await
        .expect("served");
    assert_eq!((r.status.as_u16(), r.backend()), (200, Some("b")));
    assert_eq!(
        proxy.listener("web"),
        web,
        "an unchanged listener keeps its socket"
    );

    proxy.reload(&config(&backend, None));
    assert!(proxy.proxy().listener_addr("extra").is_none());
    eventually(WAIT, || async {
        tokio::net::TcpStream::connect(extra).await.is_err()
    })
    .await;
    let r = client
        .get(&format!("http://{web}/still"))
        .await
        .expect("served");
    assert_eq!(r.status.as_u16(), 200);
}

#[tokio::test]
async fn a_listener_that_cannot_bind_refuses_the_reload() {
    let backend = TestBackend::http().name("b").await;
    let other = TestBackend::http().name("other").await;
    let proxy = TestProxy::start(&config(&backend, None));
    // A port in use by someone else (a backend's listener).
    let taken = other.addr().to_string();
    let text = config(&other, Some(&taken));
    let new = Config::from_toml_str(&text).expect("valid config");
    let err = proxy.proxy().reload(&new).expect_err("bind fails");
    assert!(err.to_string().contains("listeners.extra"), "{err}");
    // Nothing of the refused config applies: same upstream, no new listener.
    assert!(proxy.proxy().listener_addr("extra").is_none());
    let r = TestClient::http1()
        .get(&proxy.url("/same"))
        .await
        .expect("served");
    assert_eq!((r.status.as_u16(), r.backend()), (200, Some("b")));
}
