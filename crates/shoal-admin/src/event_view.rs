//! [`EventView`]: one entry of the recent-events log (`GET /api/v1/events`): what an operator
//! did, what a reload changed, how a backend's health state moved.

use serde::{Deserialize, Serialize};

/// One recorded event. Ids grow by one per event, so a client polls with `?since=<last id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub id: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub kind: EventKind,
    /// The upstream it concerns, if one.
    pub upstream: Option<String>,
    /// The backend's address, if one.
    pub backend: Option<String>,
    /// For people: `"drained"`, `"weight 1 -> 3"`, `"ready -> not_ready: readiness: 3
    /// consecutive failures ..."`.
    pub message: String,
}

/// What kind of event. Kinds a newer shoal adds read as [`EventKind::Other`] in an older
/// client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An operator drained a backend.
    Drain,
    /// An operator enabled a backend.
    Enable,
    /// An operator disabled a backend.
    Disable,
    /// An operator changed a backend's weight.
    Weight,
    /// A backend was added (by an operator).
    Add,
    /// A backend is being removed (drains, then goes).
    Remove,
    /// The config was reloaded (API, SIGHUP or file change).
    Reload,
    /// A reload was refused; the old config keeps serving.
    ReloadFailed,
    /// A backend's health state changed (checks, ejection, slow start).
    Health,
    /// The autoscaler changed an upstream's size.
    Scale,
    #[serde(other)]
    Other,
}

impl EventKind {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Drain => "drain",
            EventKind::Enable => "enable",
            EventKind::Disable => "disable",
            EventKind::Weight => "weight",
            EventKind::Add => "add",
            EventKind::Remove => "remove",
            EventKind::Reload => "reload",
            EventKind::ReloadFailed => "reload_failed",
            EventKind::Health => "health",
            EventKind::Scale => "scale",
            EventKind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_names_and_unknown_ones_read_as_other() {
        for kind in [
            EventKind::Drain,
            EventKind::Enable,
            EventKind::Disable,
            EventKind::Weight,
            EventKind::Add,
            EventKind::Remove,
            EventKind::Reload,
            EventKind::ReloadFailed,
            EventKind::Health,
            EventKind::Scale,
            EventKind::Other,
        ] {
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        let later: EventKind = serde_json::from_str("\"canary_step\"").expect("parses");
        assert_eq!(later, EventKind::Other);
    }
}
