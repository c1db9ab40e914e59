//! `[admin]`: where the operator's HTTP API listens, and the token that guards it.
//!
//! The token file is checked only when the config comes from a file ([`Config::load`]): its
//! path is relative to the config file's directory, which a bare string of TOML does not have.
//!
//! [`Config::load`]: crate::Config::load

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::document::{Ctx, Node};
use crate::types::AdminConfig;

const KEYS: &[&str] = &["bind", "token_file"];

pub(crate) const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090);

/// Largest token file read. A token is a few dozen characters; a bigger file is the wrong
/// file, and the cap keeps a mistaken path (a log, a device) from being read whole.
pub(crate) const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// `[admin]`. `base_dir` is the config file's directory when loading from a file; then
/// `token_file` is resolved against it and the token itself is checked. `listener_binds` are
/// the listeners' addresses as written, so the admin API does not try to share one.
pub(crate) fn admin(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    base_dir: Option<&Path>,
    listener_binds: &[(SocketAddr, &str)],
) -> Option<AdminConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let bind = ctx.field(&table, "bind", DEFAULT_BIND, |ctx, n| {
        let addr = ctx.socket_addr(n)?;
        if addr.port() != 0 {
            if let Some((_, listener)) = listener_binds.iter().find(|(a, _)| *a == addr) {
                ctx.error_at(
                    n,
                    format!("{addr} is already bound by listener {listener:?}"),
                );
                return None;
            }
        }
        Some(addr)
    });
    let token_file = ctx.field(&table, "token_file", None, |ctx, n| {
        token_file(ctx, n, base_dir).map(Some)
    });
    if let (Some(addr), Some(None)) = (bind, &token_file) {
        if !is_loopback(addr.ip()) {
            // `bind` is present here: the default is loopback.
            if let Some(n) = table.get("bind") {
                ctx.error_at(
                    &n,
                    format!(
                        "refusing to expose the admin API on a non-loopback address without \
                         token_file (set token_file, or bind to a loopback address such as \
                         127.0.0.1:{})",
                        addr.port()
                    ),
                );
                return None;
            }
        }
    }
    Some(AdminConfig {
        bind: bind?,
        token_file: token_file?,
    })
}

/// Loopback, including an IPv4 loopback address written IPv6-mapped (`[::ffff:127.0.0.1]`).
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The path as written, or resolved against `base_dir` and checked when there is one.
fn token_file(ctx: &mut Ctx, node: &Node<'_, '_>, base_dir: Option<&Path>) -> Option<PathBuf> {
    let text = ctx.string(node)?;
    if text.trim().is_empty() {
        ctx.error_at(
            node,
            "token_file is empty: give the path of a file holding the token",
        );
        return None;
    }
    let given = PathBuf::from(text);
    let Some(base_dir) = base_dir else {
        return Some(given);
    };
    let path = base_dir.join(&given);
    match check_token(&path) {
        Ok(()) => Some(path),
        Err(message) => {
            ctx.error_at(node, message);
            None
        }
    }
}

/// The file must be a regular file of at most [`MAX_TOKEN_FILE_BYTES`] holding one token:
/// non-empty once trimmed, visible ASCII only (it travels in an `Authorization` header).
fn check_token(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read token file {shown}: {e}"))?;
    // A FIFO or a device could block or never end; only a plain file holds a token.
    if !meta.is_file() {
        return Err(format!("token file {shown} is not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TOKEN_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read token file {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "token file {shown} is larger than {MAX_TOKEN_FILE_BYTES} bytes: it should hold \
             just the token"
        ));
    }
    let token = bytes.trim_ascii();
    if token.is_empty() {
        return Err(format!(
            "token file {shown} is empty: write a token into it, e.g. `openssl rand -hex 32`"
        ));
    }
    if !token.iter().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the token in {shown} may only contain visible ASCII characters (no spaces, \
             no line breaks inside it)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for ip in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "192.168.1.1",
        ] {
            assert!(!is_loopback(ip.parse().expect("ip")), "{ip}");
        }
    }
}
