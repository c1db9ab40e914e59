//! `kind = "basic_auth"`: `Authorization: Basic` checked against an htpasswd file of bcrypt
//! entries (`htpasswd -B`). Other hash schemes (MD5 `$apr1$`, SHA1, crypt) are refused when
//! the file is loaded. Missing or wrong credentials: 401 with
//! `WWW-Authenticate: Basic realm="..."`.
//!
//! bcrypt is deliberately slow (milliseconds), so it runs off the event loop
//! (`spawn_blocking`), and a successful check is remembered for a minute (keyed by a SHA-256
//! of the credentials, never the password itself) so a client's next requests cost nothing.
//! Put a `rate_limit` before this filter to bound what wrong passwords cost.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::StatusCode;
use sha2::{Digest, Sha256};
use shoal_config::BasicAuthConfig;

use crate::clock;
use crate::exchange::{Exchange, Rejection, RequestCtx};

/// How long a verified credential is remembered.
const REMEMBER_NS: u64 = 60_000_000_000;
/// Most remembered credentials; the cache is cleared when it fills.
const REMEMBER_MAX: usize = 10_000;

#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    challenge: HeaderValue,
    remembered: Mutex<HashMap<[u8; 32], u64>>,
}

/// What the request asked for: settled at once, or a bcrypt check to run.
pub enum Pending {
    Done(Result<(), Rejection>),
    Verify(Verify),
}

/// A bcrypt check to run off the event loop, then [`BasicAuth::finish`].
pub struct Verify {
    user: String,
    password: String,
    hash: String,
    fingerprint: [u8; 32],
}

impl Verify {
    /// The slow part; true when the password matches.
    pub fn run(&self) -> bool {
        bcrypt::verify(&self.password, &self.hash).unwrap_or(false)
    }
}

impl BasicAuth {
    pub fn new(config: &BasicAuthConfig) -> Result<BasicAuth, String> {
        let users = load(&config.htpasswd.path)?;
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.realm))
            .map_err(|_| "realm is not a valid header value".to_string())?;
        Ok(BasicAuth {
            users,
            challenge,
            remembered: Mutex::new(HashMap::new()),
        })
    }

    fn reject(&self, why: &'static str) -> Rejection {
        Rejection::new(StatusCode::UNAUTHORIZED, why)
            .with_header(WWW_AUTHENTICATE, self.challenge.clone())
    }

    /// Checks the request's credentials without the slow part when it can.
    pub fn start(&self, req: &RequestCtx<'_>) -> Pending {
        let Some((user, password)) = credentials(req.parts.headers.get(AUTHORIZATION)) else {
            return Pending::Done(Err(self.reject("credentials are required")));
        };
        let Some(hash) = self.users.get(&user) else {
            return Pending::Done(Err(self.reject("the user name or password is wrong")));
        };
        let mut hasher = Sha256::new();
        hasher.update(user.as_bytes());
        hasher.update([0u8]);
        hasher.update(password.as_bytes());
        hasher.update([0u8]);
        hasher.update(hash.as_bytes());
        let fingerprint: [u8; 32] = hasher.finalize().into();
        let now = clock::now_ns();
        {
            let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered
                .get(&fingerprint)
                .is_some_and(|until| *until > now)
            {
                return Pending::Done(Ok(()));
            }
        }
        Pending::Verify(Verify {
            user,
            password,
            hash: hash.clone(),
            fingerprint,
        })
    }

    /// After [`Verify::run`]: remembers a success and records the user.
    pub fn finish(&self, verify: Verify, ok: bool, ex: &mut Exchange) -> Result<(), Rejection> {
        if !ok {
            return Err(self.reject("the user name or password is wrong"));
        }
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= REMEMBER_MAX {
            remembered.clear();
        }
        remembered.insert(
            verify.fingerprint,
            clock::now_ns().saturating_add(REMEMBER_NS),
        );
        ex.user = Some(Arc::from(verify.user.as_str()));
        Ok(())
    }

    /// Records the user of a remembered success.
    pub fn user_of(req: &RequestCtx<'_>) -> Option<Arc<str>> {
        credentials(req.parts.headers.get(AUTHORIZATION)).map(|(u, _)| Arc::from(u.as_str()))
    }
}

/// `Basic base64(user:password)`.
fn credentials(value: Option<&HeaderValue>) -> Option<(String, String)> {
    let text = value?.to_str().ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4096 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn load(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Result<HashMap<String, String>, String> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: expected `user:hash`"))?;
        let bcrypt_like = ["$2a$", "$2b$", "$2y$", "$2x$"]
            .iter()
            .any(|p| hash.starts_with(p))
            && hash.len() == 60;
        if !bcrypt_like {
            return Err(format!(
                "line {n}: user {user:?} does not have a bcrypt hash (make entries with `htpasswd -B`)"
            ));
        }
        if user.is_empty() || users.insert(user.to_string(), hash.to_string()).is_some() {
            return Err(format!("line {n}: user {user:?} is empty or listed twice"));
        }
    }
    if users.is_empty() {
        return Err("no users (lines `user:$2y$...`)".into());
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bcrypt_only() {
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let users = parse(&format!("# users\nalice:{hash}\n")).expect("valid");
        assert!(bcrypt::verify("pw", &users["alice"]).expect("verify"));
        assert!(parse("bob:$apr1$xyz$abc").unwrap_err().contains("bcrypt"));
        assert!(parse("").unwrap_err().contains("no users"));
        assert!(parse(&format!("a:{hash}\na:{hash}"))
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn decodes_credentials() {
        let v = HeaderValue::from_static("Basic YWxpY2U6cHc6eA==");
        assert_eq!(
            credentials(Some(&v)),
            Some(("alice".to_string(), "pw:x".to_string()))
        );
        for bad in ["Bearer x", "Basic !!!", "Basic", "Basic YWxpY2U="] {
            assert_eq!(
                credentials(Some(&HeaderValue::from_static(bad))),
                None,
                "{bad}"
            );
        }
    }
}
