//! The application layer: routes (strela-router) and middleware in front of handlers.
//!
//! An [`App`] is itself a [`Handler`]: the server calls it for every request, it looks the
//! request up in its router and calls the route's handler with the route's parameters attached
//! to the request. Unrouted paths get 404 (or the fallback handler), a routed path with another
//! method 405 with `Allow`, `OPTIONS` an automatic 204 with `Allow`, and a near miss a redirect
//! (trailing slash, 301 for GET/HEAD and 308 otherwise). `HEAD` is served by the `GET` handler;
//! the core drops the body. Middleware wraps the whole app, outermost first.

use strela_router::{InsertError, Lookup, Options, Router};

use crate::handler::Handler;
use crate::middleware::{Chain, Middleware};
use crate::proto::encode::Response;
use crate::proto::head::{Request, RouteMatch};

/// Routes plus an optional fallback. Build with [`AppBuilder`] (or through `ServerBuilder`).
pub struct App {
    router: Router<Box<dyn Handler>>,
    fallback: Option<Box<dyn Handler>>,
}

impl Handler for App {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match self.router.lookup(req.method(), req.path()) {
            Lookup::Found(f) => {
                let m = RouteMatch {
                    pattern: f.pattern,
                    params: &f.params,
                };
                f.value.call(&req.with_route(&m), res);
            }
            Lookup::MethodNotAllowed { allow } => {
                res.status(405)
                    .header("Allow", allow)
                    .content_type("text/plain")
                    .body_static(b"Method Not Allowed\n");
            }
            Lookup::Options { allow } => {
                res.status(204).header("Allow", allow);
            }
            Lookup::Redirect {
                mut location,
                status,
            } => {
                if req.has_query() {
                    location.push('?');
                    location.push_str(req.query());
                }
                res.status(status).header("Location", &location);
            }
            Lookup::NotFound => match &self.fallback {
                Some(h) => h.call(req, res),
                None => {
                    res.status(404)
                        .content_type("text/plain")
                        .body_static(b"Not Found\n");
                }
            },
        }
    }
}

/// Collects routes, middleware and options; [`AppBuilder::build`] checks them and returns the
/// handler to serve. Route errors (conflicts, bad patterns) are kept and reported by `build`,
/// so a chain of calls needs one `?` at the end.
#[derive(Default)]
pub struct AppBuilder {
    router: Router<Box<dyn Handler>>,
    middleware: Vec<Box<dyn Middleware>>,
    fallback: Option<Box<dyn Handler>>,
    errors: Vec<InsertError>,
}

impl AppBuilder {
    /// An empty app.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `method` + `pattern` to `handler`. See strela-router for pattern syntax.
    pub fn route(&mut self, method: &str, pattern: &str, handler: impl Handler) -> &mut Self {
        if let Err(e) = self.router.insert(method, pattern, Box::new(handler)) {
            self.errors.push(e);
        }
        self
    }

    /// Adds middleware; the first added is the outermost (sees the request first).
    pub fn wrap(&mut self, m: impl Middleware) -> &mut Self {
        self.middleware.push(Box::new(m));
        self
    }

    /// The handler for paths no route matches (default: a plain 404).
    pub fn fallback(&mut self, h: impl Handler) -> &mut Self {
        self.fallback = Some(Box::new(h));
        self
    }

    /// Router options (redirects, automatic OPTIONS, HEAD from GET).
    pub fn options(&mut self, o: Options) -> &mut Self {
        self.router.set_options(o);
        self
    }

    /// Whether any route or middleware was added.
    pub fn is_empty(&self) -> bool {
        self.router.is_empty() && self.middleware.is_empty()
    }

    /// The finished handler: the router, wrapped by the middleware. Fails with every route error
    /// collected on the way (each names the routes involved).
    pub fn build(self) -> Result<Box<dyn Handler>, Vec<InsertError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let mut h: Box<dyn Handler> = if self.router.is_empty() {
            match self.fallback {
                Some(f) => f,
                None => Box::new(App {
                    router: self.router,
                    fallback: None,
                }),
            }
        } else {
            Box::new(App {
                router: self.router,
                fallback: self.fallback,
            })
        };
        for m in self.middleware.into_iter().rev() {
            h = Box::new(Chain::new(m, h));
        }
        Ok(h)
    }
}
