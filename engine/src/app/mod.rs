//! The application layer: routes (strela-router) and middleware in front of handlers.
//!
//! An [`App`] is itself a [`Handler`]: the server calls it for every request, it looks the
//! request up in its router and calls the route's handler with the route's parameters attached
//! to the request. Unrouted paths get 404 (or the fallback handler), a routed path with another
//! method 405 with `Allow`, `OPTIONS` an automatic 204 with `Allow`, and a near miss a redirect
//! (trailing slash, 301 for GET/HEAD and 308 otherwise). `HEAD` is served by the `GET` handler;
//! the core drops the body. Middleware wraps the whole app, outermost first.

use std::sync::Arc;

use strela_router::{InsertError, Lookup, MethodKey, Options, Params, Router};

use crate::proto::head::Method;

pub mod error;
mod ext;
pub mod files;
pub mod middleware;
pub mod query;

use crate::app::middleware::{Chain, Middleware};
use crate::ops::RouteCounters;
use crate::service::handler::Handler;
use crate::service::request::{Request, RouteMatch};
use crate::service::response::Response;

/// A routed handler and its index in the per-route counters.
struct Route {
    idx: usize,
    handler: Box<dyn Handler>,
}

/// Routes plus an optional fallback. Build with [`AppBuilder`] (or through `ServerBuilder`).
/// Counts every request per route and status class (see [`RouteCounters`]).
pub struct App {
    router: Router<Route>,
    fallback: Option<Box<dyn Handler>>,
    counters: Arc<RouteCounters>,
    /// Counter index of requests no route matched.
    unmatched: usize,
    /// The parameters of a static route: none.
    no_params: Params<'static, 'static>,
}

/// The router keys of the methods [`Method`] names, in the order of its variants (`Other` is
/// not among them: its key is made from the name).
const METHOD_KEYS: [MethodKey; 9] = {
    use Method::*;
    let ms = [Get, Head, Post, Put, Delete, Patch, Options, Connect, Trace];
    let mut keys = [MethodKey::of_const(""); 9];
    let mut i = 0;
    while i < ms.len() {
        keys[ms[i] as usize] = MethodKey::of_const(ms[i].as_str());
        i += 1;
    }
    keys
};

/// The request's method as a router key: a table entry for the methods the head decoded.
#[inline(always)]
fn method_key(req: &Request<'_>) -> MethodKey {
    match METHOD_KEYS.get(req.method_kind() as usize) {
        Some(&k) => k,
        None => MethodKey::of(req.method()),
    }
}

impl Route {
    /// Calls the route's handler on `req` with its match attached; returns its counter index.
    #[inline(always)]
    fn call(
        &self,
        pattern: &str,
        params: &Params<'_, '_>,
        req: &Request<'_>,
        res: &mut Response<'_>,
    ) -> usize {
        let m = RouteMatch { pattern, params };
        self.handler.call(&req.with_route(&m), res);
        self.idx
    }
}

impl App {
    /// Everything but a static hit: a parameterised route, 405, `OPTIONS`, a redirect, the
    /// fallback or 404. Returns the counter index. Out of line: its `Lookup` (matchit's
    /// inline parameters) would otherwise give every static hit a large frame to set up.
    #[inline(never)]
    fn call_looked_up(&self, req: &Request<'_>, res: &mut Response<'_>) -> usize {
        // Matched by reference: binding the result by value would copy matchit's inline
        // parameters once more (a 16-byte load of just-written 8-byte stores, which stalls).
        match &self.router.lookup(req.method(), req.path()) {
            Lookup::Found(f) => f.value.call(f.pattern, &f.params, req, res),
            Lookup::MethodNotAllowed { allow } => {
                res.status(405)
                    .header("Allow", allow)
                    .content_type("text/plain")
                    .body_static(b"Method Not Allowed\n");
                self.unmatched
            }
            Lookup::Options { allow } => {
                res.status(204).header("Allow", allow);
                self.unmatched
            }
            Lookup::Redirect { location, status } => {
                let (mut location, status) = (location.clone(), *status);
                if req.has_query() {
                    location.push('?');
                    location.push_str(req.query());
                }
                res.status(status).header("Location", &location);
                self.unmatched
            }
            Lookup::NotFound => {
                match &self.fallback {
                    Some(h) => h.call(req, res),
                    None => {
                        res.status(404)
                            .content_type("text/plain")
                            .body_static(b"Not Found\n");
                    }
                }
                self.unmatched
            }
        }
    }
}

impl Handler for App {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        // A static route (the usual case) first: no `Lookup` to build and match.
        let key = method_key(req);
        let idx = match self.router.lookup_static_key(key, req.method(), req.path()) {
            Some((route, pattern)) => route.call(pattern, &self.no_params, req, res),
            None => self.call_looked_up(req, res),
        };
        let status = (!res.is_deferred()).then(|| res.status_code());
        self.counters.count(req.meta().id, idx, status);
    }

    fn body_policy(&self, req: &Request<'_>) -> crate::service::body::BodyPolicy {
        match self.router.lookup(req.method(), req.path()) {
            Lookup::Found(f) => f.value.handler.body_policy(req),
            Lookup::NotFound => self
                .fallback
                .as_ref()
                .map_or(Default::default(), |h| h.body_policy(req)),
            // Answered without reading the body: nothing is gained by buffering it.
            _ => Default::default(),
        }
    }
}

/// A finished application: the handler to serve and its per-route counters.
pub type Built = (Box<dyn Handler>, Arc<RouteCounters>);

/// Puts one middleware, by its own type, in front of a handler.
type Layer = Box<dyn Wrap>;

/// One middleware, by its own type, waiting to be put in front of a handler: the router
/// itself for the innermost layer (so that layer calls it directly), any handler otherwise.
trait Wrap: Send {
    fn over(self: Box<Self>, next: Box<dyn Handler>) -> Box<dyn Handler>;
    fn over_app(self: Box<Self>, app: App) -> Box<dyn Handler>;
}

struct WrapWith<M>(M);

impl<M: Middleware> Wrap for WrapWith<M> {
    fn over(self: Box<Self>, next: Box<dyn Handler>) -> Box<dyn Handler> {
        Box::new(Chain::new(self.0, next))
    }

    fn over_app(self: Box<Self>, app: App) -> Box<dyn Handler> {
        Box::new(Chain::new(self.0, app))
    }
}

/// Collects routes, middleware and options; [`AppBuilder::build`] checks them and returns the
/// handler to serve. Route errors (conflicts, bad patterns) are kept and reported by `build`,
/// so a chain of calls needs one `?` at the end.
#[derive(Default)]
pub struct AppBuilder {
    router: Router<Route>,
    routes: Vec<(String, String)>,
    /// Each added middleware as the step that puts it in front of the handler built so far.
    middleware: Vec<Layer>,
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
        let route = Route {
            idx: self.routes.len(),
            handler: Box::new(handler),
        };
        match self.router.insert(method, pattern, route) {
            Ok(()) => self.routes.push((method.to_string(), pattern.to_string())),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Adds middleware; the first added is the outermost (sees the request first).
    pub fn wrap(&mut self, m: impl Middleware) -> &mut Self {
        self.middleware.push(Box::new(WrapWith(m)));
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
        self.build_counted(1).map(|(h, _)| h)
    }

    /// Like [`AppBuilder::build`], also returning the per-route counters, sized for `workers`
    /// workers (request ids carry their worker's index).
    pub fn build_counted(self, workers: usize) -> Result<Built, Vec<InsertError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let mut names = self.routes;
        let unmatched = names.len();
        names.push(("*".to_string(), "(unmatched)".to_string()));
        let counters = Arc::new(RouteCounters::new(names, workers));
        let mut layers = self.middleware.into_iter().rev();
        let mut h: Box<dyn Handler> = match self.fallback {
            Some(f) if self.router.is_empty() => f,
            fallback => {
                let app = App {
                    router: self.router,
                    fallback,
                    counters: counters.clone(),
                    unmatched,
                    no_params: Params::new(),
                };
                match layers.next() {
                    Some(innermost) => innermost.over_app(app),
                    None => Box::new(app),
                }
            }
        };
        for wrap in layers {
            h = wrap.over(h);
        }
        Ok((h, counters))
    }
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_keys_follow_the_method_variants() {
        use Method::*;
        for m in [Get, Head, Post, Put, Delete, Patch, Options, Connect, Trace] {
            assert_eq!(METHOD_KEYS[m as usize], MethodKey::of(m.as_str()), "{m:?}");
        }
        assert!(METHOD_KEYS.get(Other as usize).is_none());
    }
}
