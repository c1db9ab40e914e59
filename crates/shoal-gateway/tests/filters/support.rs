//! What every filter test uses: a scratch directory for key files, a config compiled by
//! `Gateway`, a route's chain run on a request, and keys and tokens made at test time.

pub(crate) use std::net::IpAddr;
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) use http::{HeaderValue, Method, Request, StatusCode};
pub(crate) use jsonwebtoken::jwk::{Jwk, JwkSet};
pub(crate) use jsonwebtoken::{Algorithm, EncodingKey, Header};
pub(crate) use serde_json::json;
pub(crate) use shoal_config::Config;
pub(crate) use shoal_gateway::{Answer, Exchange, Gateway, GatewaySnapshot, RequestCtx};

pub(crate) struct Dir(pub(crate) PathBuf);

impl Dir {
    pub(crate) fn new() -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "shoal-gateway-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("mkdir");
        Dir(path)
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        // Write then rename: how deploy tools replace key files.
        let tmp = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config with route filters `names` and the given `[filters]` text.
pub(crate) fn compile(gateway: &Gateway, filters: &str) -> GatewaySnapshot {
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:1\"\n[[listeners.web.routes]]\nupstream = \"api\"\n\
         [upstreams.api]\nbackends = [\"127.0.0.1:9\"]\n{filters}"
    );
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    gateway.compile(&config).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn compile_err(filters: &str) -> String {
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:1\"\n[[listeners.web.routes]]\nupstream = \"api\"\n\
         [upstreams.api]\nbackends = [\"127.0.0.1:9\"]\n{filters}"
    );
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    shoal_gateway::check(&config)
        .expect_err("should be refused")
        .to_string()
}

/// What a request got from a chain.
pub(crate) struct Outcome {
    pub(crate) answer: Option<Answer>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) exchange: Exchange,
}

impl Outcome {
    pub(crate) fn status(&self) -> StatusCode {
        match &self.answer {
            None => StatusCode::OK,
            Some(Answer::Reject(r)) => r.status,
            Some(Answer::Reply(r)) => r.status,
        }
    }

    pub(crate) fn answer_header(&self, name: &str) -> Option<String> {
        let list = match &self.answer {
            Some(Answer::Reject(r)) => &r.headers,
            Some(Answer::Reply(r)) => &r.headers,
            None => return None,
        };
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap_or_default().to_string())
    }

    pub(crate) fn cause(&self) -> String {
        match &self.answer {
            Some(Answer::Reject(r)) => r.cause.to_string(),
            _ => String::new(),
        }
    }
}

pub(crate) async fn run(
    snapshot: &GatewaySnapshot,
    names: &[&str],
    request: Request<()>,
) -> Outcome {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let chain = snapshot.chain(&names).expect("a chain");
    let (mut parts, ()) = request.into_parts();
    let id = HeaderValue::from_static("req-1");
    let peer: IpAddr = "192.0.2.7".parse().expect("ip");
    let mut exchange = Exchange::default();
    let answer = {
        let mut ctx = RequestCtx {
            parts: &mut parts,
            peer,
            request_id: &id,
            host: Some("api.example.com"),
            route: "web.routes[0]",
        };
        chain.run(&mut ctx, &mut exchange).await.err()
    };
    Outcome {
        answer,
        headers: parts.headers,
        exchange,
    }
}

pub(crate) fn get(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).expect("request")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub(crate) fn token(
    key: &EncodingKey,
    alg: Algorithm,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

pub(crate) struct EcKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) public_pem: String,
}

pub(crate) fn ec_key() -> EcKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
    EcKey {
        encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("ec key"),
        public_pem: pair.public_key_pem(),
    }
}

pub(crate) fn jwks(keys: &[(&EncodingKey, Algorithm, &str)]) -> String {
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|(k, alg, kid)| {
                let mut jwk = Jwk::from_encoding_key(k, *alg).expect("jwk");
                jwk.common.key_id = Some(kid.to_string());
                jwk
            })
            .collect(),
    };
    serde_json::to_string(&set).expect("json")
}

pub(crate) fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

pub(crate) fn jwt_filter(path: &Path, algorithms: &str, extra: &str) -> String {
    format!(
        "[filters.auth]\nkind = \"jwt\"\nalgorithms = {algorithms}\nkeys = {:?}\n\
         issuer = \"https://auth.example.com\"\naudience = \"api\"\nleeway = \"5s\"\n\
         forward_claims = {{ sub = \"x-user-id\", org = \"x-org-id\" }}\n{extra}",
        path.display().to_string()
    )
}

pub(crate) fn good_claims() -> serde_json::Value {
    json!({"sub": "alice", "org": 42, "iss": "https://auth.example.com", "aud": "api", "exp": now() + 300})
}
