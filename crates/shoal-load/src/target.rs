//! [`Target`]: the URL a run hits, parsed once.

use std::net::SocketAddr;

/// Why a URL cannot be a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} is not a URL: {1}")]
    Invalid(String, String),
    #[error("{0:?}: only http:// URLs are supported")]
    Scheme(String),
    #[error("{0:?}: cannot resolve {1}: {2}")]
    Resolve(String, String, String),
}

/// Where requests go: the address to connect to, the `Host` header, and the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    pub authority: String,
    pub path_and_query: String,
}

impl Target {
    /// Parses `http://host[:port]/path?query` and resolves the host.
    pub async fn resolve(url: &str) -> Result<Target, TargetError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| TargetError::Invalid(url.into(), e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::Scheme(url.into()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| TargetError::Invalid(url.into(), "no host".into()))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| TargetError::Resolve(url.into(), host.into(), e.to_string()))?
            .next()
            .ok_or_else(|| TargetError::Resolve(url.into(), host.into(), "no address".into()))?;
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(Target {
            url: url.to_string(),
            addr,
            authority: authority.as_str().to_string(),
            path_and_query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_and_resolves() {
        let t = Target::resolve("http://127.0.0.1:8080/a/b?c=1")
            .await
            .expect("valid");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path_and_query, "/a/b?c=1");
        let t = Target::resolve("http://[::1]").await.expect("valid");
        assert_eq!(t.addr.port(), 80);
        assert_eq!(t.path_and_query, "/");
        assert!(matches!(
            Target::resolve("https://127.0.0.1/").await,
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            Target::resolve("not a url").await,
            Err(TargetError::Invalid(..))
        ));
    }
}
