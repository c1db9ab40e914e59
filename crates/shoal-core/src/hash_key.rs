use std::fmt;
use std::str::FromStr;

/// Where a hashing balancer (ring_hash, maglev) or a rate limiter takes its key from.
///
/// Config spelling: `client_ip`, `header:NAME`, `cookie:NAME`, `query:NAME`, `path`.
/// Header names are kept lower-case so lookups need no case folding on the hot path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashKey {
    ClientIp,
    Header(String),
    Cookie(String),
    Query(String),
    Path,
}

/// Why a hash key spelling was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a hash key (expected client_ip, path, header:NAME, cookie:NAME or query:NAME)")]
pub struct HashKeyError {
    input: String,
}

impl FromStr for HashKey {
    type Err = HashKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HashKeyError {
            input: s.to_string(),
        };
        let named = |name: &str| -> Result<String, HashKeyError> {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if valid {
                Ok(name.to_string())
            } else {
                Err(err())
            }
        };
        match s.split_once(':') {
            None if s == "client_ip" => Ok(HashKey::ClientIp),
            None if s == "path" => Ok(HashKey::Path),
            Some(("header", name)) => Ok(HashKey::Header(named(name)?.to_ascii_lowercase())),
            Some(("cookie", name)) => Ok(HashKey::Cookie(named(name)?)),
            Some(("query", name)) => Ok(HashKey::Query(named(name)?)),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashKey::ClientIp => f.write_str("client_ip"),
            HashKey::Path => f.write_str("path"),
            HashKey::Header(n) => write!(f, "header:{n}"),
            HashKey::Cookie(n) => write!(f, "cookie:{n}"),
            HashKey::Query(n) => write!(f, "query:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("client_ip".parse(), Ok(HashKey::ClientIp));
        assert_eq!("path".parse(), Ok(HashKey::Path));
        assert_eq!(
            "header:X-User-Id".parse(),
            Ok(HashKey::Header("x-user-id".into()))
        );
        assert_eq!(
            "cookie:session_id".parse(),
            Ok(HashKey::Cookie("session_id".into()))
        );
        assert_eq!("query:user".parse(), Ok(HashKey::Query("user".into())));
        for bad in ["", "header:", "ip", "header:a b", "body:x"] {
            assert!(bad.parse::<HashKey>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "client_ip",
            "path",
            "header:x-user-id",
            "cookie:sid",
            "query:u",
        ] {
            assert_eq!(s.parse::<HashKey>().expect("valid").to_string(), s);
        }
    }
}
