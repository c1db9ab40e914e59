//! `[filters.NAME]`, routes' `filters` and upstreams' `sticky`: valid tables give the typed
//! config; every mistake is reported at its path and line.

mod common;

use std::time::Duration;

use common::{assert_error, assert_errors, BASE};
use http::{HeaderName, Method};
use shoal_config::{Config, FilterKind, Rate, RateKey, TemplatePart};

/// BASE (lines 1-5) then `[filters.f]` on line 6 with `keys` from line 7.
fn filter(keys: &str) -> String {
    format!("{BASE}[filters.f]\n{keys}\n")
}

fn kind_of(text: &str) -> FilterKind {
    let config = Config::from_toml_str(text).unwrap_or_else(|e| panic!("valid: {e}\n{text}"));
    config.filters[0].kind.clone()
}

#[test]
fn every_kind_parses() {
    let FilterKind::Jwt(jwt) = kind_of(&filter(
        "kind = \"jwt\"\nalgorithms = [\"rs256\", \"ES256\"]\nkeys = \"keys/jwks.json\"\n\
         issuer = \"https://auth.example.com\"\naudience = [\"api\", \"web\"]\nleeway = \"10s\"\n\
         forward_claims = { sub = \"x-user-id\", \"org\" = \"X-Org-Id\" }",
    )) else {
        panic!("jwt")
    };
    assert_eq!(jwt.algorithms, ["RS256", "ES256"]);
    assert_eq!(jwt.keys.path, std::path::Path::new("keys/jwks.json"));
    assert_eq!(jwt.keys.key, "filters.f.keys");
    assert_eq!(jwt.keys.line, Some(10));
    assert_eq!(jwt.issuer, ["https://auth.example.com"]);
    assert_eq!(jwt.audience, ["api", "web"]);
    assert_eq!(jwt.leeway, Duration::from_secs(10));
    assert_eq!(
        jwt.forward_claims,
        [
            ("sub".to_string(), HeaderName::from_static("x-user-id")),
            ("org".to_string(), HeaderName::from_static("x-org-id"))
        ]
    );

    let FilterKind::RateLimit(rl) = kind_of(&filter(
        "kind = \"rate_limit\"\nkey = \"claim:sub\"\nrate = \"6000/m\"\nburst = 50\nstore = \"local\"",
    )) else {
        panic!("rate_limit")
    };
    assert_eq!(rl.key, RateKey::Claim("sub".into()));
    assert_eq!(
        rl.rate,
        Rate {
            count: 6000,
            per: Duration::from_secs(60)
        }
    );
    assert_eq!(rl.burst, 50);
    assert_eq!(rl.max_keys, 100_000);
    let FilterKind::RateLimit(rl) = kind_of(&filter(
        "kind = \"rate_limit\"\nkey = \"client_ip\"\nrate = \"20/s\"",
    )) else {
        panic!("rate_limit")
    };
    assert_eq!(rl.burst, 20, "burst defaults to one period's worth");

    let FilterKind::Limits(limits) = kind_of(&filter(
        "kind = \"limits\"\nmethods = [\"get\", \"POST\"]\nmax_body_bytes = \"1MiB\"\n\
         max_uri_length = 2048\nmax_header_bytes = \"16KiB\"\nmax_header_count = 50\n\
         required_headers = [\"X-Tenant\"]\ncontent_types = [\"Application/JSON\"]",
    )) else {
        panic!("limits")
    };
    assert_eq!(limits.methods, [Method::GET, Method::POST]);
    assert_eq!(limits.max_body_bytes, Some(1 << 20));
    assert_eq!(limits.max_uri_length, Some(2048));
    assert_eq!(limits.max_header_bytes, Some(16384));
    assert_eq!(limits.max_header_count, Some(50));
    assert_eq!(
        limits.required_headers,
        [HeaderName::from_static("x-tenant")]
    );
    assert_eq!(limits.content_types, ["application/json"]);

    let FilterKind::Headers(headers) = kind_of(&filter(
        "kind = \"headers\"\nrequest = { set = { x-client = \"ip=${client_ip}\" }, remove = [\"x-debug\"] }\n\
         response = { append = { x-user = \"${claim.sub}\" } }",
    )) else {
        panic!("headers")
    };
    assert_eq!(headers.request.set[0].0, "x-client");
    assert_eq!(
        headers.request.set[0].1 .0,
        [TemplatePart::Literal("ip=".into()), TemplatePart::ClientIp]
    );
    assert_eq!(headers.request.remove, [HeaderName::from_static("x-debug")]);
    assert_eq!(
        headers.response.append[0].1 .0,
        [TemplatePart::Claim("sub".into())]
    );

    let FilterKind::Cors(cors) = kind_of(&filter(
        "kind = \"cors\"\norigins = [\"https://App.example.com\"]\nmethods = [\"GET\", \"PUT\"]\n\
         headers = [\"content-type\"]\nmax_age = \"10m\"\ncredentials = true",
    )) else {
        panic!("cors")
    };
    assert_eq!(cors.origins, ["https://app.example.com"]);
    assert_eq!(cors.max_age, Some(Duration::from_secs(600)));
    assert!(cors.credentials);

    let FilterKind::Redirect(redirect) = kind_of(&filter(
        "kind = \"redirect\"\nlocation = \"https://new.example.com${path}\"\nstatus = 308",
    )) else {
        panic!("redirect")
    };
    assert_eq!(redirect.status, 308);
    let FilterKind::Respond(respond) = kind_of(&filter(
        "kind = \"respond\"\nstatus = 503\nbody = \"down for maintenance\"\nheaders = { retry-after = \"120\" }",
    )) else {
        panic!("respond")
    };
    assert_eq!(respond.status, 503);
    assert_eq!(respond.content_type, "text/plain; charset=utf-8");
}

#[test]
fn unknown_kind_lists_the_accepted_ones() {
    assert_error(
        &filter("kind = \"jwtt\""),
        "filters.f.kind",
        8,
        "unknown filter kind \"jwtt\" (did you mean \"jwt\"? accepted kinds: jwt, api_key, basic_auth, rate_limit, limits, headers, cors, redirect, respond)",
    );
    assert_error(&filter(""), "filters.f", 7, "missing key \"kind\"");
    assert_error(
        &filter("kind = \"cors\"\norigins = [\"*\"]\nbogus = 1"),
        "filters.f.bogus",
        10,
        "unknown key \"bogus\"",
    );
}

#[test]
fn rate_limit_mistakes() {
    assert_error(
        &filter("kind = \"rate_limit\"\nkey = \"client_ip\"\nrate = \"100/d\""),
        "filters.f.rate",
        10,
        "\"100/d\" is not a rate",
    );
    assert_error(
        &filter("kind = \"rate_limit\"\nkey = \"user\"\nrate = \"1/s\""),
        "filters.f.key",
        9,
        "not a rate-limit key",
    );
    assert_error(
        &filter("kind = \"rate_limit\"\nkey = \"route\"\nrate = \"1/s\"\nstore = \"redis\""),
        "filters.f.store",
        11,
        "store \"redis\" is not available yet",
    );
    assert_error(
        &filter("kind = \"rate_limit\"\nkey = \"route\"\nrate = \"1/s\"\nburst = 0"),
        "filters.f.burst",
        11,
        "between 1 and",
    );
    assert_error(
        &filter("kind = \"rate_limit\"\nkey = \"route\""),
        "filters.f",
        7,
        "missing key \"rate\"",
    );
}

#[test]
fn auth_mistakes() {
    assert_error(
        &filter("kind = \"jwt\"\nalgorithms = [\"none\"]\nkeys = \"k\""),
        "filters.f.algorithms[0]",
        9,
        "unknown algorithm \"none\"",
    );
    assert_error(
        &filter("kind = \"jwt\"\nalgorithms = [\"HS256\", \"RS256\"]\nkeys = \"k\""),
        "filters.f.algorithms",
        9,
        "cannot be mixed",
    );
    assert_error(
        &filter("kind = \"jwt\"\nalgorithms = [\"RS256\"]\nkeys = \"k\"\nforward_claims = { sub = \"x-request-id\" }"),
        "filters.f.forward_claims.sub",
        11,
        "manages",
    );
    assert_error(
        &filter("kind = \"api_key\""),
        "filters.f",
        7,
        "missing key \"keys\"",
    );
    assert_error(
        &filter("kind = \"basic_auth\"\nhtpasswd = \"\""),
        "filters.f.htpasswd",
        9,
        "is empty",
    );
}

#[test]
fn other_kind_mistakes() {
    assert_error(
        &filter("kind = \"limits\"\njson_schema = \"s.json\""),
        "filters.f",
        7,
        "json_schema needs max_body_bytes",
    );
    assert_error(
        &filter("kind = \"limits\"\nmax_body_bytes = \"1 lot\""),
        "filters.f.max_body_bytes",
        9,
        "is not a size",
    );
    assert_error(
        &filter("kind = \"headers\"\nrequest = { set = { x-a = \"${nope}\" } }"),
        "filters.f.request.set.x-a",
        9,
        "unknown variable \"${nope}\"",
    );
    assert_error(
        &filter("kind = \"headers\"\nrequest = { set = { host = \"x\" } }"),
        "filters.f.request.set.host",
        9,
        "managed by shoal",
    );
    assert_error(
        &filter("kind = \"headers\""),
        "filters.f",
        7,
        "does nothing",
    );
    assert_error(
        &filter("kind = \"cors\"\norigins = [\"*\"]\ncredentials = true"),
        "filters.f",
        7,
        "credentials = true cannot be combined",
    );
    assert_error(
        &filter("kind = \"cors\"\norigins = [\"https://a.example/path\"]"),
        "filters.f.origins[0]",
        9,
        "is not an origin",
    );
    assert_error(
        &filter("kind = \"redirect\"\nlocation = \"/x\"\nstatus = 304"),
        "filters.f.status",
        10,
        "must be 301, 302, 303, 307 or 308",
    );
}

#[test]
fn routes_name_defined_filters() {
    let text = "[listeners.web]\nbind = \"127.0.0.1:8080\"\n[[listeners.web.routes]]\n\
                upstream = \"api\"\nfilters = [\"limit\", \"limts\", \"limit\"]\n\
                [upstreams.api]\nbackends = [\"127.0.0.1:9001\"]\n\
                [filters.limit]\nkind = \"limits\"\nmax_uri_length = 100\n";
    assert_errors(
        text,
        &[
            (
                "listeners.web.routes[0].filters[1]",
                Some(5),
                "no filter named \"limts\" (did you mean \"limit\"?)",
            ),
            (
                "listeners.web.routes[0].filters[2]",
                Some(5),
                "filter \"limit\" is listed twice",
            ),
        ],
    );
    let ok = text.replace("\"limit\", \"limts\", \"limit\"", "\"limit\"");
    let config = Config::from_toml_str(&ok).expect("valid");
    assert_eq!(config.listeners[0].routes[0].filters, ["limit"]);
    assert_eq!(
        config.filter("limit").map(|f| f.kind.name()),
        Some("limits")
    );
    assert_error(
        &BASE.replace(
            "upstream = \"api\"",
            "upstream = \"api\"\nfilters = [\"x\"]",
        ),
        "listeners.web.routes[0].filters[0]",
        5,
        "no filters are defined",
    );
}

#[test]
fn sticky_upstreams() {
    let config = Config::from_toml_str(&format!(
        "{BASE}sticky = {{ cookie = \"aff\", ttl = \"10m\" }}\n"
    ))
    .expect("valid");
    let sticky = config.upstreams[0].sticky.clone().expect("sticky");
    assert_eq!(sticky.cookie, "aff");
    assert_eq!(sticky.ttl, Duration::from_secs(600));
    assert!(sticky.secret_file.is_none());
    let config = Config::from_toml_str(&format!("{BASE}sticky = {{}}\n")).expect("valid");
    let sticky = config.upstreams[0].sticky.clone().expect("sticky");
    assert_eq!(
        (sticky.cookie.as_str(), sticky.ttl),
        ("shoal_affinity", Duration::from_secs(3600))
    );
    assert_error(
        &format!("{BASE}sticky = {{ cookie = \"a b\" }}\n"),
        "upstreams.api.sticky.cookie",
        7,
        "is not a cookie name",
    );
    assert_error(
        &format!("{BASE}sticky = {{ ttl = \"0s\" }}\n"),
        "upstreams.api.sticky.ttl",
        7,
        "greater than zero",
    );
}

#[test]
fn load_resolves_and_checks_files() {
    let dir = std::env::temp_dir().join(format!("shoal-config-filters-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("keys")).expect("mkdir");
    std::fs::write(dir.join("keys/jwks.json"), "{\"keys\": []}").expect("write");
    let text = format!(
        "{BASE}sticky = {{ secret_file = \"missing.key\" }}\n\
         [filters.j]\nkind = \"jwt\"\nalgorithms = [\"ES256\"]\nkeys = \"keys/jwks.json\"\n\
         [filters.k]\nkind = \"api_key\"\nkeys = \"keys\"\n"
    );
    let path = dir.join("shoal.toml");
    std::fs::write(&path, text).expect("write");
    let errors = Config::load(&path).expect_err("files are checked");
    let got: Vec<(String, Option<usize>)> =
        errors.iter().map(|e| (e.path.clone(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("upstreams.api.sticky.secret_file".to_string(), Some(7)),
            ("filters.k.keys".to_string(), Some(14)),
        ],
        "{errors}"
    );
    assert!(
        errors.to_string().contains("is not a regular file"),
        "{errors}"
    );
    std::fs::write(dir.join("missing.key"), "secret").expect("write");
    std::fs::write(dir.join("keys.txt"), "").expect("write");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("keys = \"keys\"", "keys = \"keys.txt\"");
    std::fs::write(&path, text).expect("write");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("valid: {e}"));
    let FilterKind::Jwt(jwt) = &config.filters[0].kind else {
        panic!("jwt")
    };
    assert_eq!(jwt.keys.path, dir.join("keys/jwks.json"));
    let _ = std::fs::remove_dir_all(&dir);
}
