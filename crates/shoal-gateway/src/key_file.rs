//! The keys a `jwt` filter verifies with, from one file: a JWKS (`{"keys": [...]}`), a PEM
//! public key (RSA, EC or Ed25519), or a shared secret for HS* algorithms. The file is
//! watched and reloaded when it changes (key rotation without a config reload); a change
//! that does not parse keeps the old keys and is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Shortest shared secret accepted: below this, HS256 tokens can be brute-forced.
pub const MIN_SECRET_BYTES: usize = 16;

/// One usable key.
pub struct Key {
    pub kid: Option<String>,
    pub family: AlgorithmFamily,
    /// The algorithm the JWK pins (`alg`), if any.
    pub algorithm: Option<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// Every key of the file.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<Key>,
}

impl KeySet {
    /// The keys that may verify a token signed with `alg` and naming `kid`: with a kid, the
    /// key of that kid only; without, every key of the algorithm's family.
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |k| {
            k.family == alg.family()
                && k.algorithm.is_none_or(|a| a == alg)
                && match (kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    (Some(_), None) => true,
                    (None, _) => true,
                }
        })
    }
}

fn family_name(f: AlgorithmFamily) -> &'static str {
    match f {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "Ed25519",
    }
}

/// Reads and parses `path` for a filter accepting `algorithms`.
pub fn load(path: &Path, algorithms: &[Algorithm]) -> Result<KeySet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&bytes, algorithms).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a key file's contents.
pub fn parse(bytes: &[u8], algorithms: &[Algorithm]) -> Result<KeySet, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let trimmed = text.trim();
    let hmac = algorithms
        .iter()
        .any(|a| a.family() == AlgorithmFamily::Hmac);
    let set = if trimmed.starts_with('{') {
        jwks(trimmed)?
    } else if trimmed.starts_with("-----BEGIN") {
        if hmac {
            return Err("a PEM key cannot verify HS* tokens (give the shared secret)".into());
        }
        pem(trimmed.as_bytes())?
    } else if hmac {
        let secret = trimmed.as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the shared secret is shorter than {MIN_SECRET_BYTES} bytes"
            ));
        }
        let key = DecodingKey::from_secret(secret).map_err(|e| e.to_string())?;
        KeySet {
            keys: vec![Key {
                kid: None,
                family: AlgorithmFamily::Hmac,
                algorithm: None,
                key,
            }],
        }
    } else {
        return Err("neither a JWKS (JSON) nor a PEM public key".into());
    };
    let usable = set
        .keys
        .iter()
        .any(|k| algorithms.iter().any(|a| a.family() == k.family));
    if !usable {
        let found: Vec<&str> = set.keys.iter().map(|k| family_name(k.family)).collect();
        return Err(format!(
            "no key for the configured algorithms (keys found: {})",
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        ));
    }
    Ok(set)
}

/// A JWKS: each key parsed on its own, so one key of an unsupported type (a future `kty`)
/// does not take the others down with it.
fn jwks(text: &str) -> Result<KeySet, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let list = value
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("a JWKS needs a \"keys\" array")?;
    let mut keys = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let jwk: Jwk = match serde_json::from_value(item.clone()) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::warn!(index = i, error = %e, "JWKS key skipped: not a supported key");
                continue;
            }
        };
        let algorithm = jwk
            .common
            .key_algorithm
            .and_then(|a| Algorithm::try_from(a).ok());
        let key = match DecodingKey::from_jwk(&jwk) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(index = i, error = %e, "JWKS key skipped: unusable");
                continue;
            }
        };
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            family: key.family(),
            algorithm,
            key,
        });
    }
    Ok(KeySet { keys })
}

/// A PEM public key: RSA, EC or Ed25519, whichever parses.
fn pem(bytes: &[u8]) -> Result<KeySet, String> {
    let key = DecodingKey::from_rsa_pem(bytes)
        .or_else(|_| DecodingKey::from_ec_pem(bytes))
        .or_else(|_| DecodingKey::from_ed_pem(bytes))
        .map_err(|_| "not an RSA, EC or Ed25519 public key in PEM".to_string())?;
    Ok(KeySet {
        keys: vec![Key {
            kid: None,
            family: key.family(),
            algorithm: None,
            key,
        }],
    })
}

/// Keys that follow their file.
pub struct WatchedKeys {
    current: Arc<ArcSwap<KeySet>>,
    // Dropping the watcher ends the watch (when the filter's snapshot is dropped).
    _watcher: Option<RecommendedWatcher>,
}

impl std::fmt::Debug for WatchedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedKeys").finish_non_exhaustive()
    }
}

impl WatchedKeys {
    /// Loads `path` now (errors are the caller's config error) and, with `watch`, reloads it
    /// whenever it changes. The directory is watched, not the file, so a file replaced by
    /// rename (how deploy tools and editors write) is seen too.
    pub fn open(path: &Path, algorithms: &[Algorithm], watch: bool) -> Result<WatchedKeys, String> {
        let initial = load(path, algorithms)?;
        let current = Arc::new(ArcSwap::from_pointee(initial));
        let watcher = if watch {
            match start_watch(
                path.to_path_buf(),
                algorithms.to_vec(),
                Arc::clone(&current),
            ) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot watch the JWT key file; it is re-read on config reload only");
                    None
                }
            }
        } else {
            None
        };
        Ok(WatchedKeys {
            current,
            _watcher: watcher,
        })
    }

    pub fn load(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.current.load()
    }
}

/// Re-reads the key file into `current`; a file that does not load leaves the keys as they
/// were (a file caught half-written fails here and succeeds on its next event).
fn reload(path: &Path, algorithms: &[Algorithm], current: &ArcSwap<KeySet>) -> bool {
    match load(path, algorithms) {
        Ok(keys) => {
            tracing::info!(file = %path.display(), keys = keys.keys.len(), "JWT keys reloaded");
            current.store(Arc::new(keys));
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "JWT key file changed but does not load; keeping the previous keys");
            false
        }
    }
}

fn start_watch(
    path: PathBuf,
    algorithms: Vec<Algorithm>,
    current: Arc<ArcSwap<KeySet>>,
) -> notify::Result<RecommendedWatcher> {
    let path = std::path::absolute(&path)?;
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .ok_or_else(|| notify::Error::generic("the key path names no file"))?;
    let dir = path
        .parent()
        .ok_or_else(|| notify::Error::generic("the key file has no directory"))?
        .to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let Ok(event) = event else { return };
        let relevant = matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_))
            && event
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()));
        if relevant {
            reload(&path, &algorithms, &current);
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_file_keeps_the_previous_keys() {
        let dir = std::env::temp_dir().join(format!("shoal-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("secret");
        let algorithms = [Algorithm::HS256];
        std::fs::write(&path, "a secret long enough to use").expect("write");
        let keys = WatchedKeys::open(&path, &algorithms, false).expect("loads");
        assert_eq!(keys.load().keys.len(), 1);
        std::fs::write(&path, "short").expect("write");
        assert!(!reload(&path, &algorithms, &keys.current));
        assert_eq!(keys.load().keys.len(), 1, "still the old key");
        std::fs::write(&path, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "a"}, {"kty": "oct", "k": "b3RoZXItb3RoZXItb3RoZXI", "kid": "b"}]}"#).expect("write");
        assert!(reload(&path, &algorithms, &keys.current));
        assert_eq!(keys.load().keys.len(), 2, "the new set");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
