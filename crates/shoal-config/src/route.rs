//! `[[listeners.NAME.routes]]`: one route's target (`upstream` or `split`) and `rewrite`.
//! The `match` part is in `route_match.rs`.

use toml::de::DeValue;

use crate::document::{all, Ctx, Node, Table};
use crate::route_match;
use crate::suggest;
use crate::types::{Rewrite, RouteConfig, RouteMatch, RouteTarget, SplitEntry};

const KEYS: &[&str] = &["match", "upstream", "split", "rewrite", "filters"];
const SPLIT_KEYS: &[&str] = &["upstream", "weight"];
const REWRITE_KEYS: &[&str] = &["replace_prefix", "strip_prefix"];
const REPLACE_KEYS: &[&str] = &["from", "to"];

/// Largest weight of one split entry: enough for 0.01 % steps.
pub(crate) const MAX_SPLIT_WEIGHT: u32 = 10_000;

/// The `routes` array of `listener`; a listener without routes is an error (it could only
/// ever answer 404).
pub(crate) fn routes(
    ctx: &mut Ctx,
    listener: &Table<'_, '_>,
    upstreams: &[&str],
) -> Option<Vec<RouteConfig>> {
    let none = format!(
        "listener has no routes: add at least one [[{}.routes]] table",
        listener.path
    );
    let Some(node) = listener.get("routes") else {
        ctx.error(&listener.path, &listener.span, none);
        return None;
    };
    if matches!(node.value, DeValue::Table(_)) {
        // `[listeners.web.routes]` with single brackets: the commonest slip with arrays.
        ctx.error_at(
            &node,
            format!(
                "routes must be an array of tables: write [[{}.routes]] with double brackets",
                listener.path
            ),
        );
        return None;
    }
    let items = ctx.array(&node)?;
    if items.is_empty() {
        ctx.error_at(&node, none);
        return None;
    }
    let parsed = items
        .iter()
        .enumerate()
        .map(|(index, item)| route(ctx, index, item, upstreams))
        .collect();
    all(parsed)
}

fn route(
    ctx: &mut Ctx,
    index: usize,
    node: &Node<'_, '_>,
    upstreams: &[&str],
) -> Option<RouteConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let matcher = ctx.field(&table, "match", RouteMatch::default(), route_match::parse);
    let target = target(ctx, &table, upstreams);
    let rewrite = ctx.field(&table, "rewrite", None, |ctx, n| rewrite(ctx, n).map(Some));
    let filters = ctx.field(&table, "filters", Vec::new(), filter_refs);
    Some(RouteConfig {
        index,
        matcher: matcher?,
        target: target?,
        rewrite: rewrite?,
        filters: filters?,
    })
}

/// Exactly one of `upstream` and `split`.
fn target(ctx: &mut Ctx, route: &Table<'_, '_>, upstreams: &[&str]) -> Option<RouteTarget> {
    match (route.get("upstream"), route.get("split")) {
        (Some(upstream), Some(entries)) => {
            ctx.error(
                &route.path,
                &route.span,
                "route has both `upstream` and `split`: give exactly one",
            );
            // Still check both, so their own problems are reported in this same run.
            upstream_ref(ctx, &upstream, upstreams);
            split(ctx, &entries, upstreams);
            None
        }
        (None, None) => {
            ctx.error(
                &route.path,
                &route.span,
                "route has no target: add `upstream = \"NAME\"` or \
                 `split = [{ upstream = \"NAME\", weight = N }, ...]`",
            );
            None
        }
        (Some(node), None) => upstream_ref(ctx, &node, upstreams).map(RouteTarget::Upstream),
        (None, Some(node)) => split(ctx, &node, upstreams).map(RouteTarget::Split),
    }
}

/// A name that must match one of the `[upstreams.NAME]` tables.
pub(crate) fn upstream_ref(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    upstreams: &[&str],
) -> Option<String> {
    let name = ctx.string(node)?;
    if upstreams.contains(&name) {
        return Some(name.to_string());
    }
    let hint = match suggest::closest(name, upstreams) {
        Some(close) => format!("did you mean {close:?}?"),
        None if upstreams.is_empty() => "no upstreams are defined".to_string(),
        None => format!("defined: {}", upstreams.join(", ")),
    };
    ctx.error_at(node, format!("no upstream named {name:?} ({hint})"));
    None
}

/// `filters = ["a", "b"]`: each a defined `[filters.NAME]`, none twice.
fn filter_refs(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<String>> {
    let items = ctx.array(node)?;
    let defined = std::mem::take(&mut ctx.filter_names);
    let names: Vec<&str> = defined.iter().map(String::as_str).collect();
    let mut parsed = Vec::new();
    for item in &items {
        let Some(name) = ctx.string(item) else {
            parsed.push(None);
            continue;
        };
        if !names.contains(&name) {
            let hint = match suggest::closest(name, &names) {
                Some(close) => format!("did you mean {close:?}?"),
                None if names.is_empty() => "no filters are defined".to_string(),
                None => format!("defined: {}", names.join(", ")),
            };
            ctx.error_at(item, format!("no filter named {name:?} ({hint})"));
            parsed.push(None);
            continue;
        }
        if parsed.iter().flatten().any(|seen: &String| seen == name) {
            ctx.error_at(item, format!("filter {name:?} is listed twice"));
            parsed.push(None);
            continue;
        }
        parsed.push(Some(name.to_string()));
    }
    ctx.filter_names = defined;
    all(parsed)
}

fn split(ctx: &mut Ctx, node: &Node<'_, '_>, upstreams: &[&str]) -> Option<Vec<SplitEntry>> {
    let items = ctx.array(node)?;
    if items.is_empty() {
        ctx.error_at(
            node,
            "split is empty: list at least one { upstream, weight }",
        );
        return None;
    }
    // Duplicates are found by name even when an entry has other errors, so fixing one
    // problem does not reveal another on the next run.
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let mut parsed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        parsed.push(split_entry(ctx, item, upstreams));
        let Some(name) = item
            .value
            .get("upstream")
            .and_then(|n| n.get_ref().as_str())
        else {
            continue;
        };
        match seen.iter().find(|(seen, _)| *seen == name) {
            Some((_, first)) => ctx.error(
                &format!("{}.upstream", item.path),
                &item.span,
                format!("upstream {name:?} is already in this split at split[{first}]: merge the weights"),
            ),
            None => seen.push((name, i)),
        }
    }
    all(parsed)
}

fn split_entry(ctx: &mut Ctx, node: &Node<'_, '_>, upstreams: &[&str]) -> Option<SplitEntry> {
    if !matches!(node.value, DeValue::Table(_)) {
        ctx.type_error(node, "a table { upstream = \"NAME\", weight = N }");
        return None;
    }
    let table = ctx.table(node)?;
    table.check_keys(ctx, SPLIT_KEYS);
    let upstream = ctx.required(&table, "upstream", "the upstream's name", |ctx, n| {
        upstream_ref(ctx, n, upstreams)
    });
    let weight = ctx.required(
        &table,
        "weight",
        "a share such as 95; shares are relative",
        |ctx, n| ctx.u32(n, 1..=MAX_SPLIT_WEIGHT),
    );
    Some(SplitEntry {
        upstream: upstream?,
        weight: weight?,
    })
}

/// `{ replace_prefix = { from, to } }` or `{ strip_prefix = "/v1" }`: exactly one.
fn rewrite(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Rewrite> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, REWRITE_KEYS);
    match (table.get("replace_prefix"), table.get("strip_prefix")) {
        (Some(_), Some(_)) => {
            ctx.error_at(
                node,
                "rewrite has both `replace_prefix` and `strip_prefix`: give exactly one",
            );
            None
        }
        (None, None) => {
            ctx.error_at(
                node,
                "rewrite is empty: give `replace_prefix = { from, to }` or `strip_prefix = \"/PREFIX\"`",
            );
            None
        }
        (Some(replace), None) => {
            let table = ctx.table(&replace)?;
            table.check_keys(ctx, REPLACE_KEYS);
            let from = ctx.required(&table, "from", "the prefix to replace", |ctx, n| {
                path_string(ctx, n, "from")
            });
            let to = ctx.required(&table, "to", "the prefix to put in its place", |ctx, n| {
                path_string(ctx, n, "to")
            });
            Some(Rewrite::ReplacePrefix {
                from: from?,
                to: to?,
            })
        }
        (None, Some(strip)) => path_string(ctx, &strip, "strip_prefix").map(Rewrite::StripPrefix),
    }
}

/// A URL path (or prefix of one): starts with `/`, and has no query, fragment, whitespace
/// or control characters, which could never match a request path.
pub(crate) fn path_string(ctx: &mut Ctx, node: &Node<'_, '_>, what: &str) -> Option<String> {
    let text = ctx.string(node)?;
    if !text.starts_with('/') {
        ctx.error_at(node, format!("{what} must start with \"/\" (got {text:?})"));
        return None;
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '?' || *c == '#')
    {
        ctx.error_at(
            node,
            format!("{what} {text:?} contains {bad:?}, which cannot appear in a request path"),
        );
        return None;
    }
    Some(text.to_string())
}
