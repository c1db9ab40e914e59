//! `kind = "headers"`: set, append and remove request and response headers, values with
//! `${...}` variables. Request edits apply at once (later filters and the backend see
//! them); response edits are applied to whatever answer the request gets.

use http::HeaderName;
use shoal_config::{HeaderOps, HeadersConfig};

use crate::exchange::{Exchange, RequestCtx, ResponseEdit};
use crate::template::Compiled;

#[derive(Debug)]
struct Ops {
    set: Vec<(HeaderName, Compiled)>,
    append: Vec<(HeaderName, Compiled)>,
    remove: Vec<HeaderName>,
}

impl Ops {
    fn new(ops: &HeaderOps) -> Ops {
        let compile = |list: &[(HeaderName, shoal_config::Template)]| {
            list.iter()
                .map(|(n, t)| (n.clone(), Compiled::new(t)))
                .collect()
        };
        Ops {
            set: compile(&ops.set),
            append: compile(&ops.append),
            remove: ops.remove.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Headers {
    request: Ops,
    response: Ops,
}

impl Headers {
    pub fn new(config: &HeadersConfig) -> Headers {
        Headers {
            request: Ops::new(&config.request),
            response: Ops::new(&config.response),
        }
    }

    pub fn apply(&self, req: &mut RequestCtx<'_>, ex: &mut Exchange) {
        for name in &self.request.remove {
            req.parts.headers.remove(name);
        }
        for (name, template) in &self.request.set {
            match template.render(req, ex) {
                Some(value) => {
                    req.parts.headers.insert(name.clone(), value);
                }
                None => {
                    req.parts.headers.remove(name);
                }
            }
        }
        for (name, template) in &self.request.append {
            if let Some(value) = template.render(req, ex) {
                req.parts.headers.append(name.clone(), value);
            }
        }
        for name in &self.response.remove {
            ex.response_edits.push(ResponseEdit::Remove(name.clone()));
        }
        for (name, template) in &self.response.set {
            match template.render(req, ex) {
                Some(value) => ex
                    .response_edits
                    .push(ResponseEdit::Set(name.clone(), value)),
                None => ex.response_edits.push(ResponseEdit::Remove(name.clone())),
            }
        }
        for (name, template) in &self.response.append {
            if let Some(value) = template.render(req, ex) {
                ex.response_edits
                    .push(ResponseEdit::Append(name.clone(), value));
            }
        }
    }
}
