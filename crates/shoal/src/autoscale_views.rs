//! The autoscaler's status as the admin API shows it.

use shoal_admin::{AutoscaleView, DecisionView, InstanceView, TargetView};
use shoal_autoscale::Status;

pub fn view(status: Status) -> AutoscaleView {
    AutoscaleView {
        upstream: status.upstream,
        provider: status.provider.to_string(),
        min: status.min,
        max: status.max,
        evaluate_every_ms: u64::try_from(status.evaluate_every.as_millis()).unwrap_or(u64::MAX),
        current: status.current,
        desired: status.desired,
        provider_error: status.provider_error,
        instances: status
            .instances
            .into_iter()
            .map(|i| InstanceView {
                id: i.id,
                addr: i.addr,
                state: i.state.as_str().to_string(),
                pid: i.pid,
                cpu_percent: i.cpu_percent,
            })
            .collect(),
        events: status
            .events
            .into_iter()
            .map(|e| DecisionView {
                at_unix_ms: e.at_unix_ms,
                last_at_unix_ms: e.last_at_unix_ms,
                repeated: e.repeated,
                action: e.action.to_string(),
                current: e.current,
                desired: e.desired,
                unready: e.unready,
                recommendation: e.recommendation,
                targets: e
                    .targets
                    .into_iter()
                    .map(|t| TargetView {
                        metric: t.key.to_string(),
                        target: t.target,
                        value: t.value,
                        measured: t.measured,
                        missing: t.missing,
                        recommendation: t.recommendation,
                    })
                    .collect(),
                reason: e.reason,
            })
            .collect(),
    }
}
