//! `kind = "limits"`: request validation, cheapest checks first. Method not allowed → 405
//! with `Allow`; target too long → 414; too many or too large headers → 431; a required
//! header missing → 400; a body of another media type → 415; `Content-Length` over the body
//! limit → 413 before anything reaches a backend. A streamed body is cut at the limit by the
//! proxy (413 if the response has not started); with a JSON Schema, the body is buffered up
//! to the limit and validated (400 listing the first violations).

use std::sync::Arc;

use http::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, StatusCode};
use shoal_config::LimitsConfig;

use crate::exchange::{Exchange, Rejection, RequestCtx};
use crate::json_schema::Schema;

#[derive(Debug)]
pub struct Limits {
    config: LimitsConfig,
    allow: Option<HeaderValue>,
    schema: Option<Arc<Schema>>,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Result<Limits, String> {
        let allow = (!config.methods.is_empty())
            .then(|| {
                let names: Vec<&str> = config.methods.iter().map(Method::as_str).collect();
                HeaderValue::from_str(&names.join(", ")).ok()
            })
            .flatten();
        let schema = match &config.json_schema {
            Some(file) => Some(Arc::new(Schema::load(&file.path)?)),
            None => None,
        };
        Ok(Limits {
            config: config.clone(),
            allow,
            schema,
        })
    }

    pub fn apply(&self, req: &RequestCtx<'_>, ex: &mut Exchange) -> Result<(), Rejection> {
        let c = &self.config;
        let parts = &*req.parts;
        if !c.methods.is_empty() && !c.methods.contains(&parts.method) {
            let mut r = Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not allowed on this route",
            );
            if let Some(allow) = &self.allow {
                r = r.with_header(ALLOW, allow.clone());
            }
            return Err(r);
        }
        if let Some(max) = c.max_uri_length {
            let len = parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path().len(), |pq| pq.as_str().len());
            if len > max {
                return Err(Rejection::new(
                    StatusCode::URI_TOO_LONG,
                    "the request target is too long",
                ));
            }
        }
        if let Some(max) = c.max_header_count {
            if parts.headers.len() > max {
                return Err(Rejection::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too many request headers",
                ));
            }
        }
        if let Some(max) = c.max_header_bytes {
            let bytes: usize = parts
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum();
            if bytes > max {
                return Err(Rejection::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the request headers are too large",
                ));
            }
        }
        if let Some(missing) = c
            .required_headers
            .iter()
            .find(|h| !parts.headers.contains_key(*h))
        {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("the {} header is required", missing.as_str()),
            ));
        }
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let has_body =
            declared.is_some_and(|n| n > 0) || parts.headers.contains_key("transfer-encoding");
        if !c.content_types.is_empty() && (has_body || parts.headers.contains_key(CONTENT_TYPE)) {
            let media = media_type(parts.headers.get(CONTENT_TYPE));
            if !media.is_some_and(|m| c.content_types.contains(&m)) {
                return Err(Rejection::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "the content type must be one of: {}",
                        c.content_types.join(", ")
                    ),
                ));
            }
        }
        if let Some(max) = c.max_body_bytes {
            if declared.is_some_and(|n| n > max) {
                return Err(Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {max} bytes"),
                ));
            }
            ex.body_limit = Some(ex.body_limit.map_or(max, |l| l.min(max)));
        }
        if let Some(schema) = &self.schema {
            // Only JSON bodies are validated; a route that accepts only JSON says so with
            // content_types.
            let json = media_type(parts.headers.get(CONTENT_TYPE))
                .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
            if json {
                ex.schema = Some(Arc::clone(schema));
            }
        }
        Ok(())
    }
}

/// `application/json` of `Application/JSON; charset=utf-8`.
fn media_type(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let media = text.split(';').next()?.trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}
