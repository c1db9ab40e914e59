//! [`RouteTable`]: the admin API's endpoints as one list that both builds the axum router and
//! is exported ([`crate::route_table`]) for the test that holds `docs/admin-api.yaml` to the
//! real routes. A route cannot be served without being listed, so the two cannot drift.

use axum::handler::Handler;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use http::Method;

use super::AdminState;

/// One endpoint: a method on a path, in axum's syntax (`/api/v1/upstreams/{upstream}`), which
/// is OpenAPI's too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub method: Method,
    pub path: String,
}

/// Builds the router and the list of its endpoints together.
pub(super) struct RouteTable {
    router: Router<AdminState>,
    endpoints: Vec<Endpoint>,
}

impl RouteTable {
    pub(super) fn new() -> RouteTable {
        RouteTable {
            router: Router::new(),
            endpoints: Vec::new(),
        }
    }

    fn add(mut self, method: Method, path: &str, route: MethodRouter<AdminState>) -> Self {
        self.endpoints.push(Endpoint {
            method,
            path: path.to_string(),
        });
        // axum merges method routers given for the same path.
        self.router = self.router.route(path, route);
        self
    }

    /// `GET` (axum answers `HEAD` through it too).
    pub(super) fn get<H, T>(self, path: &str, handler: H) -> Self
    where
        H: Handler<T, AdminState>,
        T: 'static,
    {
        self.add(Method::GET, path, get(handler))
    }

    pub(super) fn post<H, T>(self, path: &str, handler: H) -> Self
    where
        H: Handler<T, AdminState>,
        T: 'static,
    {
        self.add(Method::POST, path, post(handler))
    }

    pub(super) fn put<H, T>(self, path: &str, handler: H) -> Self
    where
        H: Handler<T, AdminState>,
        T: 'static,
    {
        self.add(Method::PUT, path, put(handler))
    }

    pub(super) fn delete<H, T>(self, path: &str, handler: H) -> Self
    where
        H: Handler<T, AdminState>,
        T: 'static,
    {
        self.add(Method::DELETE, path, delete(handler))
    }

    pub(super) fn into_parts(self) -> (Router<AdminState>, Vec<Endpoint>) {
        (self.router, self.endpoints)
    }
}
