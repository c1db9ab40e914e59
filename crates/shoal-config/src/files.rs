//! The files gateway filters and sticky upstreams name: resolved against the config file's
//! directory and checked (a readable regular file of sane size) when the config comes from a
//! file. What is inside them (keys, hashes, schemas) is parsed by shoal-gateway, which
//! reports problems at the same key and line.

use std::path::Path;

use crate::document::Ctx;
use crate::filter_types::{FileRef, FilterKind};
use crate::types::Config;

/// Largest file a filter reads: key sets, password and key lists, schemas are small; a
/// bigger file is the wrong file (a log, a device).
pub const MAX_FILTER_FILE_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) fn resolve(ctx: &mut Ctx, config: &mut Config, base_dir: &Path) {
    let mut refs: Vec<&mut FileRef> = Vec::new();
    for filter in &mut config.filters {
        match &mut filter.kind {
            FilterKind::Jwt(c) => refs.push(&mut c.keys),
            FilterKind::ApiKey(c) => refs.push(&mut c.keys),
            FilterKind::BasicAuth(c) => refs.push(&mut c.htpasswd),
            FilterKind::Limits(c) => refs.extend(c.json_schema.as_mut()),
            _ => {}
        }
    }
    for upstream in &mut config.upstreams {
        if let Some(sticky) = &mut upstream.sticky {
            refs.extend(sticky.secret_file.as_mut());
        }
    }
    for file in refs {
        file.path = base_dir.join(&file.path);
        if let Err(message) = check(&file.path) {
            ctx.error_line(&file.key, file.line, message);
        }
    }
}

fn check(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > MAX_FILTER_FILE_BYTES {
        return Err(format!(
            "{shown} is larger than {MAX_FILTER_FILE_BYTES} bytes: is it the right file?"
        ));
    }
    std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    Ok(())
}
