//! Where the API server is and how to authenticate: the in-cluster service account, or a
//! kubeconfig (the configured file, else `$KUBECONFIG`'s first file, else
//! `~/.kube/config`). Supported in a kubeconfig: `server`, `certificate-authority(-data)`,
//! `token`, `tokenFile`, `client-certificate(-data)` + `client-key(-data)`, the context's
//! `namespace`. Not supported (an error says so): `exec` and `auth-provider` plugins,
//! `insecure-skip-tls-verify`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shoal_config::KubernetesProviderConfig;

use super::yaml;

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    Token(String),
    /// Re-read for every request (service account tokens are rotated).
    TokenFile(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// `https://host:port` or `http://host:port` (tests, `kubectl proxy`).
    pub server: String,
    /// PEM of the CA to trust (https); `None` = the server must be http.
    pub ca_pem: Option<Vec<u8>>,
    pub auth: Auth,
    /// PEM certificate chain and key for client-certificate authentication.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The context's (or service account's) namespace.
    pub namespace: Option<String>,
}

pub fn load(config: &KubernetesProviderConfig) -> Result<Credentials, String> {
    if let Some(path) = &config.kubeconfig {
        return from_kubeconfig(path, config.context.as_deref());
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && Path::new(SERVICE_ACCOUNT).join("token").exists()
    {
        return in_cluster(Path::new(SERVICE_ACCOUNT));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        if let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()) {
            return from_kubeconfig(&first, config.context.as_deref());
        }
    }
    let home =
        std::env::var_os("HOME").ok_or("no kubeconfig: set kubeconfig, $KUBECONFIG or $HOME")?;
    from_kubeconfig(
        &PathBuf::from(home).join(".kube").join("config"),
        config.context.as_deref(),
    )
}

/// The pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, its token, CA and
/// namespace files under `dir`.
pub fn in_cluster(dir: &Path) -> Result<Credentials, String> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .map_err(|_| "KUBERNETES_SERVICE_HOST is not set".to_string())?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".to_string());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let ca = read(&dir.join("ca.crt"))?;
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    Ok(Credentials {
        server: format!("https://{host}:{port}"),
        ca_pem: Some(ca),
        auth: Auth::TokenFile(dir.join("token")),
        client_identity: None,
        namespace,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `name`'s entry of the list `key` (`clusters`, `users`, `contexts`), its inner object.
fn named<'a>(doc: &'a Value, key: &str, inner: &str, name: &str) -> Result<&'a Value, String> {
    doc[key]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["name"] == name))
        .map(|e| &e[inner])
        .ok_or_else(|| format!("kubeconfig has no {inner} named {name:?}"))
}

pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Credentials, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
    let doc = yaml::parse(&text).map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = match context {
        Some(c) => c.to_string(),
        None => doc["current-context"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("kubeconfig {} has no current-context", path.display()))?
            .to_string(),
    };
    let ctx = named(&doc, "contexts", "context", &name)?;
    let cluster_name = ctx["cluster"].as_str().ok_or("context has no cluster")?;
    let user_name = ctx["user"].as_str();
    let cluster = named(&doc, "clusters", "cluster", cluster_name)?;
    let server = cluster["server"]
        .as_str()
        .ok_or_else(|| format!("cluster {cluster_name:?} has no server"))?
        .trim_end_matches('/')
        .to_string();
    if cluster["insecure-skip-tls-verify"] == true {
        return Err(format!(
            "cluster {cluster_name:?}: insecure-skip-tls-verify is not supported; give its CA"
        ));
    }
    let file_or_data =
        |obj: &Value, file_key: &str, data_key: &str| -> Result<Option<Vec<u8>>, String> {
            if let Some(data) = obj[data_key].as_str() {
                return base64_decode(data)
                    .map(Some)
                    .ok_or_else(|| format!("{data_key} is not valid base64"));
            }
            if let Some(file) = obj[file_key].as_str() {
                return read(&dir.join(file)).map(Some);
            }
            Ok(None)
        };
    let ca_pem = file_or_data(
        cluster,
        "certificate-authority",
        "certificate-authority-data",
    )?;
    let mut auth = Auth::None;
    let mut client_identity = None;
    if let Some(user_name) = user_name {
        let user = named(&doc, "users", "user", user_name)?;
        if !user["exec"].is_null() || !user["auth-provider"].is_null() {
            return Err(format!(
                "user {user_name:?}: exec and auth-provider plugins are not supported; use a \
                 token, a token file or a client certificate"
            ));
        }
        if let Some(token) = user["token"].as_str() {
            auth = Auth::Token(token.to_string());
        } else if let Some(file) = user["tokenFile"].as_str() {
            auth = Auth::TokenFile(dir.join(file));
        }
        let cert = file_or_data(user, "client-certificate", "client-certificate-data")?;
        let key = file_or_data(user, "client-key", "client-key-data")?;
        if let (Some(cert), Some(key)) = (cert, key) {
            client_identity = Some((cert, key));
        }
    }
    Ok(Credentials {
        server,
        ca_pem,
        auth,
        client_identity,
        namespace: ctx["namespace"].as_str().map(str::to_string),
    })
}

/// Standard base64 (padding optional, whitespace ignored).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVs\nbG8h"), Some(b"hello!".to_vec()));
        assert_eq!(base64_decode("a*b"), None);
    }

    #[test]
    fn in_cluster_service_account() {
        let dir = std::env::temp_dir().join(format!("shoal-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("token"), "tok\n").expect("token");
        std::fs::write(dir.join("ca.crt"), "PEM").expect("ca");
        std::fs::write(dir.join("namespace"), "shop\n").expect("namespace");
        // Only this test touches these variables in this test binary.
        std::env::set_var("KUBERNETES_SERVICE_HOST", "10.96.0.1");
        std::env::set_var("KUBERNETES_SERVICE_PORT", "6443");
        let c = in_cluster(&dir).expect("service account");
        assert_eq!(c.server, "https://10.96.0.1:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(c.auth, Auth::TokenFile(dir.join("token")));
        assert_eq!(c.namespace.as_deref(), Some("shop"));
        std::env::set_var("KUBERNETES_SERVICE_HOST", "fd00::1");
        assert_eq!(
            in_cluster(&dir).expect("v6").server,
            "https://[fd00::1]:6443"
        );
        std::env::remove_var("KUBERNETES_SERVICE_HOST");
        std::env::remove_var("KUBERNETES_SERVICE_PORT");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kubeconfig_with_token_and_ca_data() {
        let dir = std::env::temp_dir().join(format!("shoal-kubeconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.1.2.3:6443/\n    \
             certificate-authority-data: aGVsbG8=\n  name: c\ncontexts:\n- context:\n    \
             cluster: c\n    user: u\n    namespace: shop\n  name: x\n- context:\n    \
             cluster: c\n  name: other\ncurrent-context: x\nusers:\n- name: u\n  user:\n    \
             token: s3cret\n",
        )
        .expect("write");
        let c = from_kubeconfig(&path, None).expect("loads");
        assert_eq!(c.server, "https://10.1.2.3:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"hello"[..]));
        assert_eq!(c.auth, Auth::Token("s3cret".into()));
        assert_eq!(c.namespace.as_deref(), Some("shop"));
        let other = from_kubeconfig(&path, Some("other")).expect("loads");
        assert_eq!(other.auth, Auth::None);
        assert!(from_kubeconfig(&path, Some("missing")).is_err());
        std::fs::write(
            &path,
            "clusters:\n- cluster:\n    server: https://x\n  name: c\ncontexts:\n- context:\n    \
             cluster: c\n    user: u\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user:\n    \
             exec:\n      command: aws\n",
        )
        .expect("write");
        let err = from_kubeconfig(&path, None).expect_err("exec refused");
        assert!(err.contains("exec"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
