//! `GET /api/v1/events`: the recent events, oldest first.

use axum::extract::{RawQuery, State};
use axum::Json;

use super::AdminState;
use crate::api_error::ApiError;
use crate::views::EventView;

/// Most events one answer carries (`?limit=` may ask for fewer).
pub const MAX_EVENTS: usize = 1000;

/// 200 with the events whose id is greater than `?since=` (default 0: all kept), at most
/// `?limit=` of them (default and maximum [`MAX_EVENTS`]), the most recent ones when cut.
pub(super) async fn list(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let (since, limit) = parse_query(query.as_deref().unwrap_or_default())?;
    let mut events = state.call(move |control| control.events(since)).await?;
    if events.len() > limit {
        events.drain(..events.len() - limit);
    }
    Ok(Json(events))
}

/// `since` and `limit` from a query string; anything else, or a value that is not a number,
/// is a 400 naming it.
fn parse_query(query: &str) -> Result<(u64, usize), ApiError> {
    let mut since = 0;
    let mut limit = MAX_EVENTS;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            ApiError::bad_request(
                "invalid_query",
                format!(
                    "invalid query parameter {:?}: expected since=<event id> and/or \
                     limit=<1..={MAX_EVENTS}>",
                    crate::backend_path::truncate(pair)
                ),
            )
        };
        match key {
            "since" => since = value.parse::<u64>().map_err(|_| bad())?,
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_EVENTS).contains(n))
                    .ok_or_else(bad)?;
            }
            _ => return Err(bad()),
        }
    }
    Ok((since, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(parse_query("").ok(), Some((0, MAX_EVENTS)));
        assert_eq!(parse_query("since=7").ok(), Some((7, MAX_EVENTS)));
        assert_eq!(parse_query("since=7&limit=20").ok(), Some((7, 20)));
        assert_eq!(parse_query("limit=1&").ok(), Some((0, 1)));
        for bad in [
            "since=-1",
            "since=x",
            "since",
            "limit=0",
            "limit=1001",
            "sinse=3",
            "limit=",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }
}
