//! Filling in `${client_ip}`, `${request_id}`, `${claim.NAME}`, ... per request.

use std::fmt::Write;

use http::HeaderValue;
use shoal_config::{Template, TemplatePart};

use crate::exchange::{Exchange, RequestCtx};

/// A template made ready: a value without variables is built once.
#[derive(Debug, Clone)]
pub struct Compiled {
    fixed: Option<HeaderValue>,
    template: Template,
}

impl Compiled {
    pub fn new(template: &Template) -> Compiled {
        Compiled {
            fixed: template
                .literal()
                .and_then(|text| HeaderValue::from_str(text).ok()),
            template: template.clone(),
        }
    }

    /// The value for this request; None when a variable's value cannot be a header value
    /// (a claim with a line break, say): the header is then left out, never mangled.
    pub fn render(&self, req: &RequestCtx<'_>, ex: &Exchange) -> Option<HeaderValue> {
        if let Some(fixed) = &self.fixed {
            return Some(fixed.clone());
        }
        let text = render_text(&self.template, req, ex);
        HeaderValue::from_str(&text).ok()
    }
}

/// The template as text (variables without a value are empty).
pub fn render_text(template: &Template, req: &RequestCtx<'_>, ex: &Exchange) -> String {
    let mut out = String::new();
    for part in &template.0 {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::ClientIp => {
                let _ = write!(out, "{}", req.peer);
            }
            TemplatePart::RequestId => {
                out.push_str(req.request_id.to_str().unwrap_or_default());
            }
            TemplatePart::Claim(name) => {
                if let Some(value) = ex.claim_text(name) {
                    out.push_str(&value);
                }
            }
            TemplatePart::ApiKeyName => {
                if let Some(name) = &ex.api_key_name {
                    out.push_str(name);
                }
            }
            TemplatePart::Host => out.push_str(req.host.unwrap_or_default()),
            TemplatePart::Path => out.push_str(req.parts.uri.path()),
            TemplatePart::Query => out.push_str(req.parts.uri.query().unwrap_or_default()),
        }
    }
    out
}
