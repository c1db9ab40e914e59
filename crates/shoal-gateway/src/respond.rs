//! `kind = "redirect"` and `kind = "respond"`: answers without a backend (a moved API, a
//! maintenance page).

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use http::StatusCode;
use shoal_config::{RedirectConfig, RespondConfig};

use crate::exchange::{Answer, Exchange, Rejection, Reply, RequestCtx};
use crate::template;

#[derive(Debug)]
pub struct Redirect {
    config: RedirectConfig,
    status: StatusCode,
}

impl Redirect {
    pub fn new(config: &RedirectConfig) -> Redirect {
        Redirect {
            status: StatusCode::from_u16(config.status).unwrap_or(StatusCode::MOVED_PERMANENTLY),
            config: config.clone(),
        }
    }

    pub fn answer(&self, req: &RequestCtx<'_>, ex: &Exchange) -> Answer {
        let location = template::render_text(&self.config.location, req, ex);
        let Ok(value) = HeaderValue::from_str(&location) else {
            return Rejection::new(StatusCode::BAD_REQUEST, "the redirect target is not valid")
                .into();
        };
        let body = format!("{} {}\n", self.status.as_u16(), location);
        Answer::Reply(Reply {
            status: self.status,
            headers: vec![
                (LOCATION, value),
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
            ],
            body: Bytes::from(body),
        })
    }
}

#[derive(Debug)]
pub struct Respond {
    reply: Reply,
}

impl Respond {
    pub fn new(config: &RespondConfig) -> Respond {
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        if let Ok(v) = HeaderValue::from_str(&config.content_type) {
            headers.push((CONTENT_TYPE, v));
        }
        for (name, value) in &config.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.push((name.clone(), v));
            }
        }
        Respond {
            reply: Reply {
                status: StatusCode::from_u16(config.status).unwrap_or(StatusCode::OK),
                headers,
                body: Bytes::from(config.body.clone()),
            },
        }
    }

    pub fn answer(&self) -> Answer {
        Answer::Reply(self.reply.clone())
    }
}
