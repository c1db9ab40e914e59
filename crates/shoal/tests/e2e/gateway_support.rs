//! Helpers for the gateway suites: configs with filters, keys and tokens made at test time.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use shoal_test_support::TestBackend;

use crate::support::*;

/// Listener `web`: `/api/` runs `filters` (names) then goes to upstream `app`; every other
/// path goes to `app` with no filters. `filter_tables` are the `[filters.NAME]` tables.
pub fn gateway_config(
    backends: &[&TestBackend],
    filters: &[&str],
    filter_tables: &str,
    upstream_extra: &str,
) -> String {
    let names: Vec<String> = filters.iter().map(|f| format!("{f:?}")).collect();
    config(
        1,
        "",
        &format!(
            "{}{}{}\n{filter_tables}\n",
            route(
                "{ path_prefix = \"/api/\" }",
                "upstream = \"app\"",
                &format!("filters = [{}]", names.join(", "))
            ),
            route("", "upstream = \"app\"", ""),
            upstream("app", "round_robin", backends, upstream_extra)
        ),
    )
}

/// A TOML string for a path.
pub fn toml_path(path: &std::path::Path) -> String {
    format!("{:?}", path.display().to_string())
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An ES256 key pair made now.
pub fn ec_key() -> EncodingKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
    EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("ec key")
}

/// A JWKS holding the public halves of `keys`, with their kids.
pub fn jwks(keys: &[(&EncodingKey, &str)]) -> String {
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|(k, kid)| {
                let mut jwk = Jwk::from_encoding_key(k, Algorithm::ES256).expect("jwk");
                jwk.common.key_id = Some(kid.to_string());
                jwk
            })
            .collect(),
    };
    serde_json::to_string(&set).expect("json")
}

/// An ES256 token for `sub` (issuer `https://auth.example.com`, audience `api`, valid for
/// five minutes), with `extra` claims merged in.
pub fn token(key: &EncodingKey, kid: &str, sub: &str, extra: serde_json::Value) -> String {
    let mut claims = serde_json::json!({
        "sub": sub,
        "iss": "https://auth.example.com",
        "aud": "api",
        "exp": unix_now() + 300,
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

/// `[filters.auth]`: jwt over the JWKS at `path`, forwarding `sub` as `x-user-id` and `org`
/// as `x-org-id`.
pub fn jwt_table(path: &std::path::Path) -> String {
    format!(
        "[filters.auth]\nkind = \"jwt\"\nalgorithms = [\"ES256\"]\nkeys = {}\n\
         issuer = \"https://auth.example.com\"\naudience = \"api\"\n\
         forward_claims = {{ sub = \"x-user-id\", org = \"x-org-id\" }}\n",
        toml_path(path)
    )
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
