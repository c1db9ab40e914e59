//! The `kubernetes` provider (cargo feature `kubernetes`): a Deployment's replicas through
//! its scale subresource, its pods' addresses from the EndpointSlices of a Service.
//!
//! The API subset used, and nothing else:
//!
//! - `GET /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale` → `spec.replicas` is the
//!   current count;
//! - `PATCH` of the same path with `application/merge-patch+json`
//!   `{"spec":{"replicas":N}}` to scale;
//! - `GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io/service-name={service}`
//!   → each endpoint's first address with the chosen port: `ready` ones become backends,
//!   `terminating` but still `serving` ones are drained, others are not (yet) backends.
//!
//! Authentication: see [`credentials`]. No real cluster is exercised in CI: the tests run
//! against a local HTTP server implementing this subset.

pub mod client;
pub mod credentials;
pub mod yaml;

use std::net::{IpAddr, SocketAddr};

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shoal_config::{KubernetesProviderConfig, PortRef};

use crate::process::Member;
use crate::provider::ProviderView;
use client::ApiClient;

pub struct KubernetesProvider {
    upstream: String,
    namespace: String,
    deployment: String,
    service: String,
    port: Option<PortRef>,
    client: ApiClient,
}

impl KubernetesProvider {
    pub fn new(
        upstream: &str,
        config: &KubernetesProviderConfig,
    ) -> Result<KubernetesProvider, String> {
        let creds = credentials::load(config)?;
        let client = ApiClient::new(&creds)?;
        let namespace = config
            .namespace
            .clone()
            .or(creds.namespace)
            .unwrap_or_else(|| "default".to_string());
        Ok(KubernetesProvider {
            upstream: upstream.to_string(),
            namespace,
            deployment: config.deployment.clone(),
            service: config.service.clone(),
            port: config.port.clone(),
            client,
        })
    }

    fn scale_path(&self) -> String {
        format!(
            "/apis/apps/v1/namespaces/{}/deployments/{}/scale",
            self.namespace, self.deployment
        )
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Value, String> {
        let (status, bytes) = self.client.send(method.clone(), path, body).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["message"].as_str().map_or_else(
                || String::from_utf8_lossy(&bytes).chars().take(300).collect(),
                str::to_string,
            );
            let hint = if status == StatusCode::FORBIDDEN {
                " (the service account needs get/patch on deployments/scale and list on endpointslices)"
            } else {
                ""
            };
            return Err(format!("{method} {path}: {status}: {message}{hint}"));
        }
        Ok(value)
    }

    /// Sets `spec.replicas` through the scale subresource.
    pub(crate) async fn scale_to(&mut self, count: u32) -> Result<(), String> {
        let body = json!({"spec": {"replicas": count}})
            .to_string()
            .into_bytes();
        let path = self.scale_path();
        self.call(
            Method::PATCH,
            &path,
            Some(("application/merge-patch+json", body)),
        )
        .await?;
        tracing::info!(upstream = %self.upstream, deployment = %self.deployment, namespace = %self.namespace, replicas = count, "deployment scaled");
        Ok(())
    }

    /// The current replicas and the pods' addresses.
    pub(crate) async fn poll(&mut self) -> Result<ProviderView, String> {
        let path = self.scale_path();
        let scale = self.call(Method::GET, &path, None).await?;
        let current = scale["spec"]["replicas"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        let path = format!(
            "/apis/discovery.k8s.io/v1/namespaces/{}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{}",
            self.namespace, self.service
        );
        let slices = self.call(Method::GET, &path, None).await?;
        Ok(ProviderView {
            current,
            members: members_from_slices(&slices, self.port.as_ref()),
        })
    }
}

/// The backends an EndpointSliceList describes.
pub fn members_from_slices(list: &Value, port: Option<&PortRef>) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    for slice in list["items"].as_array().into_iter().flatten() {
        if !matches!(slice["addressType"].as_str(), Some("IPv4" | "IPv6")) {
            continue;
        }
        let ports = slice["ports"].as_array().cloned().unwrap_or_default();
        let chosen = match port {
            None => ports.first(),
            Some(PortRef::Name(name)) => ports.iter().find(|p| p["name"] == name.as_str()),
            Some(PortRef::Number(n)) => ports.iter().find(|p| p["port"] == *n),
        };
        let Some(number) = chosen
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
        else {
            continue;
        };
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            let Some(ip) = endpoint["addresses"][0]
                .as_str()
                .and_then(|a| a.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let conditions = &endpoint["conditions"];
            // Absent conditions read as ready / serving, not terminating (the API's rules).
            let ready = conditions["ready"].as_bool().unwrap_or(true);
            let serving = conditions["serving"].as_bool().unwrap_or(ready);
            let terminating = conditions["terminating"].as_bool().unwrap_or(false);
            let addr = SocketAddr::new(ip, number);
            let leaving = if ready && !terminating {
                false
            } else if serving && terminating {
                true
            } else {
                continue;
            };
            if members.iter().any(|m| m.addr == addr) {
                continue;
            }
            members.push(Member {
                id: endpoint["targetRef"]["name"]
                    .as_str()
                    .map_or_else(|| addr.to_string(), str::to_string),
                addr,
                up: true,
                leaving,
                pid: None,
                cpu_percent: None,
            });
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_condition_and_port() {
        let list = json!({"items": [
            {"addressType": "IPv4",
             "ports": [{"name": "metrics", "port": 9100}, {"name": "http", "port": 8080}],
             "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "targetRef": {"name": "web-a"}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.4"]},
                {"addresses": ["not-an-ip"]}
             ]},
            {"addressType": "FQDN", "ports": [{"port": 80}], "endpoints": [{"addresses": ["x.example"]}]}
        ]});
        let members = members_from_slices(&list, Some(&PortRef::Name("http".into())));
        let got: Vec<(String, String, bool)> = members
            .iter()
            .map(|m| (m.id.clone(), m.addr.to_string(), m.leaving))
            .collect();
        assert_eq!(
            got,
            vec![
                ("web-a".to_string(), "10.0.0.1:8080".to_string(), false),
                (
                    "10.0.0.2:8080".to_string(),
                    "10.0.0.2:8080".to_string(),
                    true
                ),
                (
                    "10.0.0.4:8080".to_string(),
                    "10.0.0.4:8080".to_string(),
                    false
                ),
            ]
        );
        let first_port = members_from_slices(&list, None);
        assert_eq!(first_port[0].addr.port(), 9100);
        assert!(members_from_slices(&list, Some(&PortRef::Number(1))).is_empty());
        assert!(members_from_slices(&json!({}), None).is_empty());
    }
}
