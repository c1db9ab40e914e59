//! `[access_log]`: one line per request, where to and in which format. Absent = no access
//! log (nothing is formatted on the request path).

use std::path::{Path, PathBuf};

use crate::document::{Ctx, Node};
use crate::listener::one_of;
use crate::types::{AccessLogConfig, AccessLogFormat, AccessLogTarget};

const KEYS: &[&str] = &["path", "format", "sample"];
const FORMATS: &[(&str, AccessLogFormat)] = &[
    ("json", AccessLogFormat::Json),
    ("combined", AccessLogFormat::Combined),
];

pub(crate) fn access_log(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    base_dir: Option<&Path>,
) -> Option<AccessLogConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let target = ctx.field(&table, "path", AccessLogTarget::Stdout, |ctx, n| {
        let text = ctx.string(n)?;
        match text {
            "" => {
                ctx.error_at(n, "path is empty: a file path, or \"stdout\"");
                None
            }
            "stdout" | "-" => Some(AccessLogTarget::Stdout),
            file => {
                let path = PathBuf::from(file);
                Some(AccessLogTarget::File(match base_dir {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                }))
            }
        }
    });
    let format = ctx.field(&table, "format", AccessLogFormat::Json, |ctx, n| {
        one_of(ctx, n, "format", FORMATS)
    });
    let sample = ctx.field(&table, "sample", 1.0, |ctx, n| {
        let value = ctx.float(n)?;
        if !(0.0..=1.0).contains(&value) {
            ctx.error_at(
                n,
                format!("sample must be between 0.0 and 1.0 (a fraction of requests), got {value}"),
            );
            return None;
        }
        Some(value)
    });
    Some(AccessLogConfig {
        target: target?,
        format: format?,
        sample: sample?,
    })
}
