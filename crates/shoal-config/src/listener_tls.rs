//! `[listeners.NAME.tls]` (an https listener's certificates, optional client verification,
//! handshake timeout) and `redirect_https` (an http listener sending its clients to https).
//!
//! Like `admin.token_file`, the files are only read when the config comes from a file
//! ([`Config::load`]): relative paths are resolved against the config file's directory, and
//! each certificate is checked (readable, parseable, its key matches) with the error at the
//! key that names the file.
//!
//! [`Config::load`]: crate::Config::load

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::document::{all, Ctx, Node};
use crate::listener::one_of;
use crate::types::{ClientAuth, ListenerCertificate, ListenerTlsConfig, RedirectHttps};

const KEYS: &[&str] = &[
    "certificates",
    "client_ca",
    "client_auth",
    "handshake_timeout",
];
const CERTIFICATE_KEYS: &[&str] = &["cert", "key"];
const REDIRECT_KEYS: &[&str] = &["port"];

const CLIENT_AUTH: &[(&str, ClientAuth)] = &[
    ("required", ClientAuth::Required),
    ("optional", ClientAuth::Optional),
];

pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `tls = { ... }` of an https listener. With `base_dir`, the files are resolved and checked.
pub(crate) fn tls(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    base_dir: Option<&Path>,
) -> Option<ListenerTlsConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let certificates = ctx.required(
        &table,
        "certificates",
        "the certificates to present, e.g. certificates = [{ cert = \"shop.pem\", key = \"shop.key\" }]",
        |ctx, n| certificates(ctx, n, base_dir),
    );
    let client_ca = ctx.field(&table, "client_ca", None, |ctx, n| {
        let path = path(ctx, n, base_dir)?;
        if base_dir.is_some() {
            if let Err(e) = shoal_tls::read_roots(&path) {
                ctx.error_at(n, e.to_string());
                return None;
            }
        }
        Some(Some(path))
    });
    let client_auth = match table.get("client_auth") {
        None => Some(ClientAuth::default()),
        Some(n) => {
            let mode = one_of(ctx, &n, "client_auth", CLIENT_AUTH);
            if table.get("client_ca").is_none() {
                ctx.error_at(
                    &n,
                    "client_auth needs client_ca: the CA bundle client certificates are checked against",
                );
                None
            } else {
                mode
            }
        }
    };
    let handshake_timeout = ctx.field(
        &table,
        "handshake_timeout",
        DEFAULT_HANDSHAKE_TIMEOUT,
        |ctx, n| ctx.duration(n, false),
    );
    Some(ListenerTlsConfig {
        certificates: certificates?,
        client_ca: client_ca?,
        client_auth: client_auth?,
        handshake_timeout: handshake_timeout?,
    })
}

fn certificates(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    base_dir: Option<&Path>,
) -> Option<Vec<ListenerCertificate>> {
    let items = ctx.array(node)?;
    if items.is_empty() {
        ctx.error_at(
            node,
            "no certificates: give at least one { cert = \"...\", key = \"...\" } (the first is \
             the default)",
        );
        return None;
    }
    let parsed = items
        .iter()
        .enumerate()
        .map(|(i, item)| certificate(ctx, item, i, base_dir))
        .collect();
    all(parsed)
}

/// One `{ cert, key }`; with `base_dir`, the pair is loaded and checked.
fn certificate(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    index: usize,
    base_dir: Option<&Path>,
) -> Option<ListenerCertificate> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, CERTIFICATE_KEYS);
    let hint = "a PEM file, relative to the config file's directory";
    let cert_node = table.get("cert");
    let key_node = table.get("key");
    let cert = ctx.required(&table, "cert", hint, |ctx, n| path(ctx, n, base_dir));
    let key = ctx.required(&table, "key", hint, |ctx, n| path(ctx, n, base_dir));
    let (cert, key) = (cert?, key?);
    if base_dir.is_some() {
        match shoal_tls::load_key_pair(&cert, &key) {
            Ok(pair) if pair.names.is_empty() && index > 0 => {
                if let Some(n) = &cert_node {
                    ctx.error_at(
                        n,
                        format!(
                            "{} names no DNS names in its subjectAltName, so no client's SNI \
                             can select it (only the first certificate serves clients whose \
                             name matches none)",
                            cert.display()
                        ),
                    );
                }
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                let at = if e.in_key_file() {
                    &key_node
                } else {
                    &cert_node
                };
                if let Some(n) = at {
                    ctx.error_at(n, e.to_string());
                }
                return None;
            }
        }
    }
    Some(ListenerCertificate { cert, key })
}

/// A non-empty path string; resolved against `base_dir` when there is one.
fn path(ctx: &mut Ctx, node: &Node<'_, '_>, base_dir: Option<&Path>) -> Option<PathBuf> {
    let text = ctx.string(node)?;
    if text.trim().is_empty() {
        ctx.error_at(node, "empty path: give the path of a PEM file");
        return None;
    }
    Some(match base_dir {
        Some(dir) => dir.join(text),
        None => PathBuf::from(text),
    })
}

/// `redirect_https = true | false | { port = N }`.
pub(crate) fn redirect_https(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Option<RedirectHttps>> {
    use toml::de::DeValue;
    match node.value {
        DeValue::Boolean(on) => Some(on.then_some(RedirectHttps { port: None })),
        DeValue::Table(_) => {
            let table = ctx.table(node)?;
            table.check_keys(ctx, REDIRECT_KEYS);
            let port = ctx.field(&table, "port", None, |ctx, n| {
                ctx.u32(n, 1..=65535)
                    .and_then(|p| u16::try_from(p).ok())
                    .map(Some)
            });
            Some(Some(RedirectHttps { port: port? }))
        }
        _ => {
            ctx.type_error(node, "true, false or a table like { port = 8443 }");
            None
        }
    }
}
