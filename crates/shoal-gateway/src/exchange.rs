//! What the filters of one request share: the request as they see it, what earlier filters
//! learnt (claims, API key name), what the response will get (headers), and how a filter
//! answers instead of the backend.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::json_schema::Schema;

/// The request, as filters see and change it.
pub struct RequestCtx<'a> {
    /// Method, target and headers; filters add and remove headers here.
    pub parts: &'a mut Parts,
    pub peer: IpAddr,
    pub request_id: &'a HeaderValue,
    /// The normalised host (no port), when the request had one.
    pub host: Option<&'a str>,
    /// How logs name the route (`web.routes[2]`); the `route` rate-limit key.
    pub route: &'a str,
}

/// A change to the response, decided while the request went through the filters.
#[derive(Debug, Clone)]
pub enum ResponseEdit {
    Set(HeaderName, HeaderValue),
    Append(HeaderName, HeaderValue),
    Remove(HeaderName),
}

/// State one request carries through its filters and into its response.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The verified token's claims (set by `jwt`).
    pub claims: Option<Map<String, Value>>,
    /// The name of the API key that authenticated the request (set by `api_key`).
    pub api_key_name: Option<Arc<str>>,
    /// The user `basic_auth` authenticated.
    pub user: Option<Arc<str>>,
    /// Applied, in order, to whatever response the request gets (the backend's or shoal's).
    pub response_edits: Vec<ResponseEdit>,
    /// The body must not be longer (`limits`); the smallest of several wins.
    pub body_limit: Option<u64>,
    /// A JSON body must satisfy this schema (`limits` with `json_schema`).
    pub schema: Option<Arc<Schema>>,
}

impl Exchange {
    /// A claim's value as header text: strings as they are, numbers and booleans printed,
    /// anything else as JSON. None when absent.
    pub fn claim_text(&self, name: &str) -> Option<Cow<'_, str>> {
        let value = self.claims.as_ref()?.get(name)?;
        Some(match value {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Null => return None,
            other => Cow::Owned(other.to_string()),
        })
    }

    /// Applies the recorded response edits.
    pub fn apply_response(&self, headers: &mut HeaderMap) {
        for edit in &self.response_edits {
            match edit {
                ResponseEdit::Set(name, value) => {
                    headers.insert(name.clone(), value.clone());
                }
                ResponseEdit::Append(name, value) => {
                    headers.append(name.clone(), value.clone());
                }
                ResponseEdit::Remove(name) => {
                    headers.remove(name);
                }
            }
        }
    }
}

/// A filter's refusal: an error status, why, and headers the answer needs
/// (`WWW-Authenticate`, `Allow`, `Retry-After`, ...). The proxy renders it like its own errors.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: StatusCode,
    pub cause: Cow<'static, str>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Rejection {
    pub fn new(status: StatusCode, cause: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection {
            status,
            cause: cause.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Rejection {
        self.headers.push((name, value));
        self
    }
}

/// An answer a filter gives instead of the backend (a redirect, a configured response, a
/// CORS preflight).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// How a filter ends a request.
#[derive(Debug, Clone)]
pub enum Answer {
    Reject(Rejection),
    Reply(Reply),
}

impl From<Rejection> for Answer {
    fn from(r: Rejection) -> Answer {
        Answer::Reject(r)
    }
}
