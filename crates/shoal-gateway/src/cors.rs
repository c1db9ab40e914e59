//! `kind = "cors"`: answers preflights (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) itself with 204, and adds the CORS headers to the
//! responses of allowed origins. A preflight from an origin not allowed, or asking for a
//! method or headers not allowed, gets 403; an ordinary request from such an origin passes
//! without CORS headers (the browser then keeps the response from the page). Put `cors`
//! before authentication filters: preflights carry no credentials.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use shoal_config::CorsConfig;

use crate::exchange::{Answer, Exchange, Rejection, Reply, RequestCtx, ResponseEdit};

#[derive(Debug)]
pub struct Cors {
    config: CorsConfig,
    methods: HeaderValue,
    headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

fn join<T: AsRef<str>>(items: &[T]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    let names: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    HeaderValue::from_str(&names.join(", ")).ok()
}

impl Cors {
    pub fn new(config: &CorsConfig) -> Cors {
        let methods: Vec<&str> = config.methods.iter().map(Method::as_str).collect();
        Cors {
            methods: join(&methods).unwrap_or(HeaderValue::from_static("GET, HEAD, POST")),
            headers: join(
                &config
                    .headers
                    .iter()
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>(),
            ),
            expose: join(
                &config
                    .expose_headers
                    .iter()
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>(),
            ),
            max_age: config.max_age.map(|d| HeaderValue::from(d.as_secs())),
            config: config.clone(),
        }
    }

    fn allowed(&self, origin: &str) -> bool {
        self.config.any_origin()
            || self
                .config
                .origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin.
    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.config.any_origin() && !self.config.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }

    pub fn apply(&self, req: &RequestCtx<'_>, ex: &mut Exchange) -> Result<(), Answer> {
        let headers = &req.parts.headers;
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let allowed = origin.to_str().is_ok_and(|o| self.allowed(o));
        let preflight = req.parts.method == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        // The answer depends on Origin: caches must keep one per origin.
        ex.response_edits.push(ResponseEdit::Append(
            header::VARY,
            HeaderValue::from_static("Origin"),
        ));
        if preflight {
            return Err(self.preflight(req, origin, allowed));
        }
        if allowed {
            ex.response_edits.push(ResponseEdit::Set(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.allow_origin(origin),
            ));
            if self.config.credentials {
                ex.response_edits.push(ResponseEdit::Set(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                ));
            }
            if let Some(expose) = &self.expose {
                ex.response_edits.push(ResponseEdit::Set(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    expose.clone(),
                ));
            }
        }
        Ok(())
    }

    fn preflight(&self, req: &RequestCtx<'_>, origin: &HeaderValue, allowed: bool) -> Answer {
        let headers = &req.parts.headers;
        if !allowed {
            return Rejection::new(StatusCode::FORBIDDEN, "CORS: this origin is not allowed")
                .into();
        }
        let method_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .and_then(|m| Method::from_bytes(m.trim().as_bytes()).ok())
            .is_some_and(|m| self.config.methods.contains(&m));
        if !method_ok {
            return Rejection::new(StatusCode::FORBIDDEN, "CORS: this method is not allowed")
                .into();
        }
        let requested: Vec<String> = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let headers_ok = requested
            .iter()
            .all(|h| self.config.headers.iter().any(|a| a.as_str() == h));
        if !headers_ok {
            return Rejection::new(
                StatusCode::FORBIDDEN,
                "CORS: a requested header is not allowed",
            )
            .into();
        }
        let mut out = vec![
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.allow_origin(origin),
            ),
            (header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone()),
        ];
        if let Some(h) = &self.headers {
            out.push((header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone()));
        }
        if let Some(age) = &self.max_age {
            out.push((header::ACCESS_CONTROL_MAX_AGE, age.clone()));
        }
        if self.config.credentials {
            out.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        Answer::Reply(Reply {
            status: StatusCode::NO_CONTENT,
            headers: out,
            body: bytes::Bytes::new(),
        })
    }
}
