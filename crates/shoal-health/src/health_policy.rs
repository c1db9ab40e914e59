use std::time::Duration;

use shoal_config::{OutlierConfig, UpstreamConfig};

/// The numbers one upstream's [`crate::HealthState`]s judge by: a flat copy of the relevant
/// parts of the config, so the state machine can be built and tested without a whole
/// `UpstreamConfig`. Built once per upstream per snapshot with
/// [`HealthPolicy::from_upstream`].
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    /// Whether active checks run at all (`[upstreams.NAME.health]` present). Without them
    /// only passive checks (ejection) and the operator change a backend's status.
    pub active_checks: bool,
    /// Consecutive successful checks to become ready again. 0 acts as 1.
    pub rise: u32,
    /// Consecutive failed checks to leave ready (and consecutive liveness failures to go
    /// down). 0 acts as 1.
    pub fall: u32,
    /// With active checks: a new backend starts `not_ready` until its first successful check.
    pub wait_for_first_check: bool,
    /// Slow-start window; `None` = recovered backends go straight to `ready`.
    pub slow_start: Option<Duration>,
    /// How long `draining` may last before [`crate::TickEvent::DrainExpired`].
    pub drain_timeout: Duration,
    /// Consecutive 5xx (gateway failures included) that eject; 0 disables.
    pub consecutive_5xx: u32,
    /// Consecutive gateway failures that eject; 0 disables.
    pub consecutive_gateway_failures: u32,
    pub base_ejection_time: Duration,
    pub max_ejection_time: Duration,
    /// Envoy's `successful_active_health_check_uneject_host` (default true there and here):
    /// a passing active check ends an ejection early. Not in the config file yet.
    pub uneject_on_active_success: bool,
}

impl HealthPolicy {
    pub fn from_upstream(upstream: &UpstreamConfig) -> HealthPolicy {
        let mut policy = HealthPolicy::passive_only(&upstream.outlier);
        if let Some(health) = &upstream.health {
            policy.active_checks = true;
            policy.rise = health.rise;
            policy.fall = health.fall;
            policy.wait_for_first_check = health.wait_for_first_check;
        }
        policy.slow_start = upstream.slow_start.filter(|w| !w.is_zero());
        policy.drain_timeout = upstream.drain_timeout;
        policy
    }

    /// No active checks; outlier detection as given; config defaults for the rest.
    pub fn passive_only(outlier: &OutlierConfig) -> HealthPolicy {
        HealthPolicy {
            active_checks: false,
            consecutive_5xx: outlier.consecutive_5xx,
            consecutive_gateway_failures: outlier.consecutive_gateway_failures,
            base_ejection_time: outlier.base_ejection_time,
            max_ejection_time: outlier.max_ejection_time,
            ..HealthPolicy::default()
        }
    }

    pub(crate) fn rise(&self) -> u32 {
        self.rise.max(1)
    }

    pub(crate) fn fall(&self) -> u32 {
        self.fall.max(1)
    }
}

impl Default for HealthPolicy {
    /// The config file's defaults: active checks on (rise 2, fall 3, wait for the first
    /// check), no slow start, 30 s drain, Envoy's outlier defaults.
    fn default() -> Self {
        let outlier = OutlierConfig::default();
        HealthPolicy {
            active_checks: true,
            rise: 2,
            fall: 3,
            wait_for_first_check: true,
            slow_start: None,
            drain_timeout: Duration::from_secs(30),
            consecutive_5xx: outlier.consecutive_5xx,
            consecutive_gateway_failures: outlier.consecutive_gateway_failures,
            base_ejection_time: outlier.base_ejection_time,
            max_ejection_time: outlier.max_ejection_time,
            uneject_on_active_success: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_config::{HealthCheckKind, HealthConfig};

    fn upstream(health: Option<HealthConfig>) -> UpstreamConfig {
        UpstreamConfig {
            name: "api".to_string(),
            algorithm: shoal_core::Algorithm::RoundRobin,
            backends: Vec::new(),
            hash_key: None,
            hash_balance_factor: None,
            virtual_nodes: 160,
            maglev_table_size: 65537,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(30),
            retries: 2,
            retry_backoff: Duration::from_millis(25),
            keepalive_timeout: Duration::from_secs(60),
            max_idle_connections: 128,
            protocol: shoal_config::UpstreamProtocol::Http1,
            tls: None,
            health,
            outlier: OutlierConfig {
                consecutive_5xx: 7,
                consecutive_gateway_failures: 0,
                base_ejection_time: Duration::from_secs(10),
                max_ejection_time: Duration::from_secs(100),
                max_ejection_percent: 20,
            },
            panic_threshold: 50,
            slow_start: Some(Duration::from_secs(60)),
            drain_timeout: Duration::from_secs(45),
            ws_idle_timeout: Duration::from_secs(3600),
            sticky: None,
            autoscale: None,
        }
    }

    #[test]
    fn copies_the_upstream_config() {
        let health = HealthConfig {
            kind: HealthCheckKind::Http,
            path: "/health/ready".to_string(),
            liveness_path: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            rise: 4,
            fall: 5,
            expect_status: (200, 399),
            host: None,
            wait_for_first_check: false,
        };
        let p = HealthPolicy::from_upstream(&upstream(Some(health)));
        assert!(p.active_checks);
        assert_eq!((p.rise, p.fall, p.wait_for_first_check), (4, 5, false));
        assert_eq!(p.slow_start, Some(Duration::from_secs(60)));
        assert_eq!(p.drain_timeout, Duration::from_secs(45));
        assert_eq!((p.consecutive_5xx, p.consecutive_gateway_failures), (7, 0));
        assert_eq!(p.base_ejection_time, Duration::from_secs(10));
        assert_eq!(p.max_ejection_time, Duration::from_secs(100));
        assert!(p.uneject_on_active_success);

        let p = HealthPolicy::from_upstream(&upstream(None));
        assert!(!p.active_checks);
        assert_eq!(p.consecutive_5xx, 7);
    }

    #[test]
    fn zero_rise_and_fall_act_as_one() {
        let p = HealthPolicy {
            rise: 0,
            fall: 0,
            ..HealthPolicy::default()
        };
        assert_eq!((p.rise(), p.fall()), (1, 1));
    }
}
