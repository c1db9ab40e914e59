//! `[upstreams.NAME.outlier]`: passive checks, which eject backends that fail live traffic.

use std::time::Duration;

use shoal_core::format_duration;

use crate::document::{Ctx, Node};
use crate::types::OutlierConfig;

const KEYS: &[&str] = &[
    "consecutive_5xx",
    "consecutive_gateway_failures",
    "base_ejection_time",
    "max_ejection_time",
    "max_ejection_percent",
];

/// Most consecutive failures a threshold may ask for; more is a typo, and never trips.
pub(crate) const MAX_CONSECUTIVE: u32 = 1000;

pub(crate) fn outlier(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<OutlierConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let defaults = OutlierConfig::default();
    let count = |ctx: &mut Ctx, n: &Node<'_, '_>| ctx.u32(n, 0..=MAX_CONSECUTIVE);
    let consecutive_5xx = ctx.field(&table, "consecutive_5xx", defaults.consecutive_5xx, count);
    let consecutive_gateway_failures = ctx.field(
        &table,
        "consecutive_gateway_failures",
        defaults.consecutive_gateway_failures,
        count,
    );
    let base_ejection_time = ctx.field(
        &table,
        "base_ejection_time",
        defaults.base_ejection_time,
        |ctx, n| ctx.duration(n, false),
    );
    let max_ejection_time = ctx.field(
        &table,
        "max_ejection_time",
        defaults.max_ejection_time,
        |ctx, n| ctx.duration(n, false),
    );
    let max_ejection_percent = ctx.field(
        &table,
        "max_ejection_percent",
        defaults.max_ejection_percent,
        |ctx, n| ctx.u32(n, 0..=100),
    );
    let times_ok = match (base_ejection_time, max_ejection_time) {
        (Some(base), Some(max)) if max < base => {
            report_times(ctx, &table, base, max);
            false
        }
        _ => true,
    };
    if !times_ok {
        return None;
    }
    Some(OutlierConfig {
        consecutive_5xx: consecutive_5xx?,
        consecutive_gateway_failures: consecutive_gateway_failures?,
        base_ejection_time: base_ejection_time?,
        max_ejection_time: max_ejection_time?,
        max_ejection_percent: max_ejection_percent?,
    })
}

/// `max_ejection_time < base_ejection_time`: the error goes on whichever the file sets
/// (max first), the one to change.
fn report_times(
    ctx: &mut Ctx,
    table: &crate::document::Table<'_, '_>,
    base: Duration,
    max: Duration,
) {
    match (
        table.get("max_ejection_time"),
        table.get("base_ejection_time"),
    ) {
        (Some(n), _) => ctx.error_at(
            &n,
            format!(
                "must be at least base_ejection_time ({})",
                format_duration(base)
            ),
        ),
        (None, Some(n)) => ctx.error_at(
            &n,
            format!(
                "must not exceed max_ejection_time ({}, the default): set max_ejection_time too",
                format_duration(max)
            ),
        ),
        (None, None) => ctx.error(
            &table.path,
            &table.span,
            "max_ejection_time must be at least base_ejection_time",
        ),
    }
}
