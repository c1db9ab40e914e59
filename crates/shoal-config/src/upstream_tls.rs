//! `[upstreams.NAME] protocol` and `tls = { ca, server_name, client_cert, client_key }`: how
//! shoal talks to an upstream's backends.
//!
//! Paths are relative to the config file's directory, like `admin.token_file`. When the config
//! comes from a file ([`Config::load`], so `shoal check`, `shoal run` and reloads), the files
//! are read and tried: the CA bundle must give trust anchors and a client key must belong to
//! its certificate, each problem reported at its key with its line. A bare string of TOML has
//! no directory, so its paths are kept as written and read only when the upstream is built.
//!
//! [`Config::load`]: crate::Config::load

use std::path::{Path, PathBuf};

use shoal_tls::{ClientMaterial, ClientTlsError, TlsFileError};

use crate::document::{Ctx, Node};
use crate::listener::one_of;
use crate::types::{TlsIdentity, UpstreamProtocol, UpstreamTls};

const KEYS: &[&str] = &["ca", "server_name", "client_cert", "client_key"];

const PROTOCOLS: &[(&str, UpstreamProtocol)] = &[
    ("http1", UpstreamProtocol::Http1),
    ("h2", UpstreamProtocol::H2),
];

/// `protocol = "http1" | "h2"`.
pub(crate) fn protocol(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<UpstreamProtocol> {
    one_of(ctx, node, "protocol", PROTOCOLS)
}

/// `tls = { ... }`; `base_dir` as in [`crate::admin`]: set when loading from a file.
pub(crate) fn tls(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    base_dir: Option<&Path>,
) -> Option<UpstreamTls> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let ca = ctx.required(
        &table,
        "ca",
        "a PEM file of the CA certificates the backends' certificates chain to, e.g. \
         ca = \"certs/backend-ca.pem\"",
        |ctx, n| path(ctx, n, base_dir),
    );
    let server_name = ctx.field(&table, "server_name", None, |ctx, n| {
        let text = ctx.string(n)?;
        if shoal_tls::server_name(text).is_none() {
            ctx.error_at(
                n,
                format!("{text:?} is not a DNS name or an IP address (it is sent as SNI and checked against the backends' certificates)"),
            );
            return None;
        }
        Some(Some(text.to_string()))
    });
    let client_cert = ctx.field(&table, "client_cert", None, |ctx, n| {
        path(ctx, n, base_dir).map(Some)
    });
    let client_key = ctx.field(&table, "client_key", None, |ctx, n| {
        path(ctx, n, base_dir).map(Some)
    });
    let client_identity = match (&client_cert, &client_key) {
        (Some(Some(cert)), Some(Some(key))) => Some(Some(TlsIdentity {
            cert: cert.clone(),
            key: key.clone(),
        })),
        (Some(None), Some(None)) => Some(None),
        (Some(Some(_)), Some(None)) => {
            ctx.error(
                &table.path,
                &table.span,
                "client_cert needs client_key (the private key of the client certificate)",
            );
            None
        }
        (Some(None), Some(Some(_))) => {
            ctx.error(
                &table.path,
                &table.span,
                "client_key needs client_cert (the certificate the key belongs to)",
            );
            None
        }
        // One of them is invalid: already reported.
        _ => None,
    };
    if let (Some(_), Some(ca), Some(identity)) = (base_dir, &ca, &client_identity) {
        check_files(ctx, &table_nodes(&table), ca, identity.as_ref());
    }
    Some(UpstreamTls {
        ca: ca?,
        server_name: server_name?,
        client_identity: client_identity?,
    })
}

/// The nodes errors about the files are reported at.
struct FileNodes<'a, 'i> {
    ca: Option<Node<'a, 'i>>,
    cert: Option<Node<'a, 'i>>,
    key: Option<Node<'a, 'i>>,
}

fn table_nodes<'a, 'i>(table: &crate::document::Table<'a, 'i>) -> FileNodes<'a, 'i> {
    FileNodes {
        ca: table.get("ca"),
        cert: table.get("client_cert"),
        key: table.get("client_key"),
    }
}

/// Reads the files and tries them together; each problem goes to the key of the file it is
/// about (a key that does not match its certificate: at `client_key`).
fn check_files(
    ctx: &mut Ctx,
    nodes: &FileNodes<'_, '_>,
    ca: &Path,
    identity: Option<&TlsIdentity>,
) {
    let report = |ctx: &mut Ctx, node: &Option<Node<'_, '_>>, message: String| {
        if let Some(node) = node {
            ctx.error_at(node, message);
        }
    };
    // The CA alone first, so its problems are reported even when the identity has others.
    if let Err(e) = ClientMaterial::load_and_check(ca, None) {
        report(ctx, &nodes.ca, e.to_string());
        return;
    }
    let Some(identity) = identity else {
        return;
    };
    match ClientMaterial::load_and_check(ca, Some((&identity.cert, &identity.key))) {
        Ok(_) => {}
        Err(ClientTlsError::File(e)) => {
            let at = match &e {
                TlsFileError::Read { path, .. }
                | TlsFileError::Invalid { path, .. }
                | TlsFileError::Empty { path, .. }
                | TlsFileError::BadAnchor { path, .. }
                    if *path == identity.cert =>
                {
                    &nodes.cert
                }
                _ => &nodes.key,
            };
            report(ctx, at, e.to_string());
        }
        Err(e @ ClientTlsError::Config(_)) => report(ctx, &nodes.key, e.to_string()),
    }
}

/// A non-empty path, resolved against `base_dir` when there is one.
fn path(ctx: &mut Ctx, node: &Node<'_, '_>, base_dir: Option<&Path>) -> Option<PathBuf> {
    let text = ctx.string(node)?;
    if text.trim().is_empty() {
        let key = node.path.rsplit('.').next().unwrap_or_default().to_string();
        ctx.error_at(node, format!("{key} is empty: give the path of a PEM file"));
        return None;
    }
    let given = PathBuf::from(text);
    Some(match base_dir {
        Some(base) => base.join(given),
        None => given,
    })
}
