//! The validated gateway config: `[filters.NAME]` tables (one kind each), and an upstream's
//! `sticky` cookie. Plain data: shoal-gateway compiles these into running filters, and reads
//! the files they name (a [`FileRef`] keeps where the config named the file, so a file that
//! does not parse is reported at its key and line).

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Method};

/// A file the config names: the path (resolved against the config file's directory when
/// loaded from a file), and the key and line that named it, for errors about its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub path: PathBuf,
    /// Dotted path of the key, e.g. `filters.jwt_users.keys`.
    pub key: String,
    pub line: Option<usize>,
}

/// `[filters.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub struct FilterConfig {
    pub name: String,
    pub kind: FilterKind,
}

/// The accepted `kind` values, in the order docs list them.
pub const FILTER_KINDS: &[&str] = &[
    "jwt",
    "api_key",
    "basic_auth",
    "rate_limit",
    "limits",
    "headers",
    "cors",
    "redirect",
    "respond",
];

#[derive(Debug, Clone, PartialEq)]
pub enum FilterKind {
    Jwt(JwtConfig),
    ApiKey(ApiKeyConfig),
    BasicAuth(BasicAuthConfig),
    RateLimit(RateLimitConfig),
    Limits(LimitsConfig),
    Headers(HeadersConfig),
    Cors(CorsConfig),
    Redirect(RedirectConfig),
    Respond(RespondConfig),
}

impl FilterKind {
    /// The `kind` spelling.
    pub fn name(&self) -> &'static str {
        match self {
            FilterKind::Jwt(_) => "jwt",
            FilterKind::ApiKey(_) => "api_key",
            FilterKind::BasicAuth(_) => "basic_auth",
            FilterKind::RateLimit(_) => "rate_limit",
            FilterKind::Limits(_) => "limits",
            FilterKind::Headers(_) => "headers",
            FilterKind::Cors(_) => "cors",
            FilterKind::Redirect(_) => "redirect",
            FilterKind::Respond(_) => "respond",
        }
    }
}

/// JWT signature algorithms shoal verifies (`algorithms = [...]`).
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// `kind = "jwt"`: a bearer token in `Authorization`, verified against `keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtConfig {
    /// Spellings from [`JWT_ALGORITHMS`]; non-empty, no duplicates.
    pub algorithms: Vec<String>,
    /// A JWKS file (`{"keys": [...]}`), a PEM public key, or a shared secret (HS*). Reloaded
    /// when it changes.
    pub keys: FileRef,
    /// Accepted `iss` values; empty = not checked.
    pub issuer: Vec<String>,
    /// Accepted `aud` values; empty = not checked (a token's `aud` is then ignored).
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`. Default 30s.
    pub leeway: Duration,
    /// Claim name → request header it is forwarded in. Client-sent copies of these headers
    /// are always removed.
    pub forward_claims: Vec<(String, HeaderName)>,
}

/// `kind = "api_key"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyConfig {
    /// Lines `NAME SHA256-HEX` (the key's SHA-256, 64 hex digits).
    pub keys: FileRef,
    /// Header the key comes in. Default `x-api-key`.
    pub header: HeaderName,
    /// Query parameter the key may come in instead; None = header only.
    pub query: Option<String>,
}

/// `kind = "basic_auth"`.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuthConfig {
    /// An htpasswd file of bcrypt entries (`user:$2y$...`).
    pub htpasswd: FileRef,
    /// Sent in `WWW-Authenticate: Basic realm="..."`. Default `shoal`.
    pub realm: String,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    ClientIp,
    /// Lower-case header name.
    Header(HeaderName),
    Cookie(String),
    Query(String),
    /// A claim of the token an earlier `jwt` filter verified.
    Claim(String),
    /// One bucket for the whole route.
    Route,
}

/// `rate = "100/s"`: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// `kind = "rate_limit"`: GCRA, equivalent to a token bucket of capacity `burst` refilled
/// at `rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    pub key: RateKey,
    pub rate: Rate,
    /// Requests admitted at once from a full bucket. Default: the rate's count (one
    /// period's worth), at least 1.
    pub burst: u32,
    /// Most keys tracked at once; past it the least recently seen key is evicted.
    /// Default 100000.
    pub max_keys: usize,
}

/// `kind = "limits"`: request validation. Every check is optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LimitsConfig {
    /// Empty = any method.
    pub methods: Vec<Method>,
    pub max_body_bytes: Option<u64>,
    pub max_uri_length: Option<usize>,
    /// Sum of name + value lengths (+ 4 per field, as on the wire).
    pub max_header_bytes: Option<usize>,
    pub max_header_count: Option<usize>,
    /// Lower-case names.
    pub required_headers: Vec<HeaderName>,
    /// Media types (lower-case, no parameters) a request with a body may have; empty = any.
    pub content_types: Vec<String>,
    /// A JSON Schema file (the subset in docs/config.md) a JSON body must satisfy.
    pub json_schema: Option<FileRef>,
}

/// One piece of a header value template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    /// `${client_ip}`
    ClientIp,
    /// `${request_id}`
    RequestId,
    /// `${claim.NAME}`
    Claim(String),
    /// `${api_key_name}`
    ApiKeyName,
    /// `${host}`
    Host,
    /// `${path}`
    Path,
    /// `${query}` (without the `?`)
    Query,
}

/// A value with `${...}` variables, filled in per request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template(pub Vec<TemplatePart>);

impl Template {
    /// True when the template has no variables (the value can be made once).
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [TemplatePart::Literal(text)] => Some(text),
            _ => None,
        }
    }
}

/// `set`, `append` and `remove` for one direction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeaderOps {
    pub set: Vec<(HeaderName, Template)>,
    pub append: Vec<(HeaderName, Template)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderOps {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.append.is_empty() && self.remove.is_empty()
    }
}

/// `kind = "headers"`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeadersConfig {
    pub request: HeaderOps,
    pub response: HeaderOps,
}

/// `kind = "cors"`.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`, lower-case), or `["*"]` for any.
    pub origins: Vec<String>,
    /// Methods a preflight may ask for. Default GET, HEAD, POST.
    pub methods: Vec<Method>,
    /// Request headers a preflight may ask for (lower-case).
    pub headers: Vec<HeaderName>,
    /// Response headers the browser may show to scripts.
    pub expose_headers: Vec<HeaderName>,
    pub max_age: Option<Duration>,
    pub credentials: bool,
}

impl CorsConfig {
    pub fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }
}

/// `kind = "redirect"`.
#[derive(Debug, Clone, PartialEq)]
pub struct RedirectConfig {
    /// The `Location`, a template (`https://new.example.com${path}`).
    pub location: Template,
    /// 301, 302, 303, 307 or 308. Default 301.
    pub status: u16,
}

/// `kind = "respond"`.
#[derive(Debug, Clone, PartialEq)]
pub struct RespondConfig {
    /// Default 200.
    pub status: u16,
    pub body: String,
    /// Default `text/plain; charset=utf-8`.
    pub content_type: String,
    pub headers: Vec<(HeaderName, String)>,
}

/// An upstream's `sticky = { cookie, ttl, secret_file }`.
#[derive(Debug, Clone, PartialEq)]
pub struct StickyConfig {
    /// Cookie name. Default `shoal_affinity`.
    pub cookie: String,
    /// The cookie's Max-Age, and how long a cookie is honoured. Default 1h.
    pub ttl: Duration,
    /// The HMAC key that signs cookies. Absent: a random key per process (cookies then do
    /// not survive a restart, and are not shared between shoal instances).
    pub secret_file: Option<FileRef>,
}
