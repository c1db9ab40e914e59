//! `kind = "jwt"`: `Authorization: Bearer <token>` verified against the key file (signature
//! with an allowed algorithm, `exp` required, `nbf`, `iss`, `aud`, with leeway). A missing or
//! invalid token is 401 with `WWW-Authenticate: Bearer ...`; a valid token for another
//! audience or issuer is 403. Chosen claims are forwarded to the backend as headers; copies
//! of those headers sent by the client are removed first, whatever the outcome.

use std::str::FromStr;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::StatusCode;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use shoal_config::JwtConfig;

use crate::exchange::{Exchange, Rejection, RequestCtx};
use crate::key_file::WatchedKeys;

/// Longest token looked at; real ones are a few KiB at most.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug)]
pub struct Jwt {
    algorithms: Vec<Algorithm>,
    keys: WatchedKeys,
    issuer: Vec<String>,
    audience: Vec<String>,
    leeway: u64,
    forward: Vec<(String, HeaderName)>,
}

/// The configured algorithm names as jsonwebtoken's (config validated the spellings).
pub fn algorithms(config: &JwtConfig) -> Vec<Algorithm> {
    config
        .algorithms
        .iter()
        .filter_map(|a| Algorithm::from_str(a).ok())
        .collect()
}

impl Jwt {
    pub fn new(config: &JwtConfig, watch: bool) -> Result<Jwt, String> {
        let algorithms = algorithms(config);
        let keys = WatchedKeys::open(&config.keys.path, &algorithms, watch)?;
        Ok(Jwt {
            algorithms,
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway.as_secs(),
            forward: config.forward_claims.clone(),
        })
    }

    /// Headers this filter forwards claims in: the chain strips client copies of them.
    pub fn forwarded_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.forward.iter().map(|(_, h)| h)
    }

    pub fn apply(&self, req: &mut RequestCtx<'_>, ex: &mut Exchange) -> Result<(), Rejection> {
        let token = bearer(req.parts.headers.get(AUTHORIZATION)).ok_or_else(|| {
            Rejection::new(StatusCode::UNAUTHORIZED, "a bearer token is required")
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        })?;
        let claims = self.verify(token)?;
        for (claim, header) in &self.forward {
            let text = match claims.get(claim) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            };
            // A claim that cannot be a header value (a line break) is left out, not mangled.
            if let Some(value) = text.and_then(|t| HeaderValue::from_str(&t).ok()) {
                req.parts.headers.insert(header.clone(), value);
            }
        }
        ex.claims = Some(claims);
        Ok(())
    }

    fn verify(&self, token: &str) -> Result<Map<String, Value>, Rejection> {
        let invalid = |why: &'static str| {
            Rejection::new(StatusCode::UNAUTHORIZED, why).with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            )
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the token is too long"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(invalid("the token's algorithm is not accepted"));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if self.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&self.issuer);
        }
        if self.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audience);
        }
        let keys = self.keys.load();
        let mut last = invalid("no key matches the token");
        for key in keys.candidates(header.alg, header.kid.as_deref()) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::InvalidIssuer => Rejection::new(
                            StatusCode::FORBIDDEN,
                            "the token was issued by an issuer this route does not accept",
                        ),
                        ErrorKind::InvalidAudience => Rejection::new(
                            StatusCode::FORBIDDEN,
                            "the token is for another audience",
                        ),
                        ErrorKind::ExpiredSignature => invalid("the token has expired"),
                        ErrorKind::ImmatureSignature => invalid("the token is not valid yet"),
                        ErrorKind::MissingRequiredClaim(_) => invalid("the token has no exp claim"),
                        ErrorKind::InvalidSignature => invalid("the token's signature is invalid"),
                        _ => invalid("the token is invalid"),
                    };
                    // Claims are only checked once a signature verified: a claim error
                    // means this was the right key, so stop here.
                    if !matches!(
                        e.kind(),
                        ErrorKind::InvalidSignature
                            | ErrorKind::InvalidAlgorithm
                            | ErrorKind::InvalidEcdsaKey
                            | ErrorKind::InvalidRsaKey(_)
                            | ErrorKind::InvalidEddsaKey
                            | ErrorKind::InvalidKeyFormat
                    ) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(value: Option<&HeaderValue>) -> Option<&str> {
    let text = value?.to_str().ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
