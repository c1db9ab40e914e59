//! The dashboard: a self-contained page (HTML, CSS, JavaScript and an icon written for shoal,
//! no CDN, works offline) embedded in the binary and served at `/`. It polls the JSON API
//! with the bearer token the operator typed (kept in `sessionStorage`, sent as a header, never
//! in a URL).
//!
//! The files hold no data, so they are served without a token. Every answer carries a strict
//! Content-Security-Policy: scripts and styles only from these files (no inline script or
//! style), connections only back to this server, no frames, no forms.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};

/// One embedded file.
pub(crate) struct Asset {
    pub(crate) path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every file of the dashboard.
pub(crate) const ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../dashboard/index.html"),
    },
    Asset {
        path: "/ui/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../dashboard/dashboard.js"),
    },
    Asset {
        path: "/ui/dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../dashboard/dashboard.css"),
    },
    Asset {
        path: "/ui/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../dashboard/favicon.svg"),
    },
];

/// The policy for every dashboard file: nothing runs or loads but these files, the page
/// talks only to this server, and no other site may frame it.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is one of the dashboard's files (served without a token).
pub(crate) fn is_asset(path: &str) -> bool {
    ASSETS.iter().any(|a| a.path == path)
}

impl Asset {
    pub(crate) fn response(&self) -> Response {
        let mut response = self.body.into_response();
        let headers = response.headers_mut();
        for (name, value) in [
            (header::CONTENT_TYPE, self.content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            // The files change with the binary; a browser must not keep an old page.
            (header::CACHE_CONTROL, "no-cache"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        let html = ASSETS[0].body;
        for asset in &ASSETS[1..] {
            assert!(html.contains(asset.path), "index.html links {}", asset.path);
        }
        // No inline script or style: the policy would block them.
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains("<style"), "no inline style");
        assert!(!html.contains(" style="), "no style attribute");
        assert!(!has_inline_handler(html), "no inline event handler");
        for asset in &ASSETS {
            // An SVG names its XML namespace with a URL; nothing is fetched from it.
            let body = asset
                .body
                .replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!body.contains("http://"), "{}: no remote URL", asset.path);
            assert!(!body.contains("https://"), "{}: no remote URL", asset.path);
        }
    }

    /// An attribute such as ` onclick=`: ` on`, letters, `=`.
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(at, _)| {
            let rest = &html[at + 3..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            letters > 0 && rest[letters..].starts_with('=')
        })
    }

    #[test]
    fn inline_handlers_are_spotted() {
        assert!(has_inline_handler("<a onclick=\"x()\">"));
        assert!(!has_inline_handler("<p>fills in once shoal serves</p>"));
    }

    #[test]
    fn the_script_never_puts_the_token_in_a_url() {
        let js = ASSETS[1].body;
        assert!(js.contains("sessionStorage"));
        assert!(js.contains("Authorization"));
        assert!(
            !js.contains("localStorage"),
            "the token lives for the session only"
        );
        assert!(!js.contains("?token"), "never in a URL");
        assert!(
            !js.contains("innerHTML"),
            "text goes in as text, never as markup"
        );
        assert!(!js.contains("eval("));
    }

    #[test]
    fn responses_carry_type_and_policy() {
        for asset in &ASSETS {
            let response = asset.response();
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(header(header::CONTENT_TYPE), asset.content_type);
            assert_eq!(
                header(header::CONTENT_SECURITY_POLICY),
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
    }
}
