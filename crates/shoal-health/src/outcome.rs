/// How one proxied request to a backend went, as passive health (outlier detection) sees it.
/// The data plane classifies; this crate only counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Any response that is not a 5xx: the backend answered (a 4xx is the client's problem).
    Success,
    /// The backend answered with a 5xx.
    ServerError,
    /// No usable answer: connect refused, reset, or timed out.
    GatewayFailure,
}
