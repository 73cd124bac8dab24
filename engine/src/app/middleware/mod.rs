//! Middleware: handler → handler. Each piece sees the request before the handler and the
//! response after it, and decides whether to call the next handler at all. Nothing here costs
//! anything unless it is added.
//!
//! - [`Recover`]: a panicking handler becomes a 500 on a connection that stays open; the panic
//!   message is logged once, with the request line.
//! - [`AccessLog`]: one record per request, sent through a bounded channel to a logger thread
//!   (common log format or JSON lines); when the channel is full the record is dropped and
//!   counted, never waited for.
//! - [`Timing`]: a `Server-Timing: app;dur=<ms>` header.
//! - [`RequestId`]: echoes a valid incoming `X-Request-Id` or sets one from the request's id.
//! - [`Deadline`]: the deadline of deferred requests on a route.
//! - [`BearerAuth`] / [`BasicAuth`]: 401 with `WWW-Authenticate` unless the credentials match.

mod access_log;
mod auth;
mod deadline;
mod recover;
mod request_id;
mod timing;

pub use access_log::{AccessLog, LogFormat, LogReopener, LogTarget};
pub use auth::{BasicAuth, BearerAuth};
pub use deadline::Deadline;
pub use recover::Recover;
pub use request_id::RequestId;
pub use timing::Timing;

use crate::service::handler::{Handler, Refusal};
use crate::service::request::Request;
use crate::service::response::Response;

/// Wraps a handler: gets the request and response and the next handler to call (or not).
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`; call `next.call(req, res)` to pass it on.
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler);

    /// Told about a request the core answered itself (see [`Handler::refused`]); the default
    /// does nothing. The chain passes it on to the next handler either way.
    #[inline]
    fn refused(&self, _refusal: &Refusal<'_>) {}
}

impl<F> Middleware for F
where
    F: Fn(&Request<'_>, &mut Response<'_>, &dyn Handler) + Send + Sync + 'static,
{
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        self(req, res, next)
    }
}

/// A middleware in front of a handler, itself a handler. The middleware is held by its own
/// type, so the chain's call into it is direct (one dynamic call per layer, not two); so is
/// the next handler when its type is known (the innermost layer over the router).
pub struct Chain<M, N = Box<dyn Handler>> {
    m: M,
    next: N,
}

impl<M: Middleware, N: Handler> Chain<M, N> {
    /// `m` in front of `next`.
    pub fn new(m: M, next: N) -> Self {
        Chain { m, next }
    }
}

impl<M: Middleware, N: Handler> Handler for Chain<M, N> {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self.m.call(req, res, &self.next)
    }

    fn refused(&self, refusal: &Refusal<'_>) {
        self.m.refused(refusal);
        self.next.refused(refusal);
    }

    fn body_policy(&self, req: &Request<'_>) -> crate::service::body::BodyPolicy {
        self.next.body_policy(req)
    }
}

/// `handler` behind `m`, as one handler: middleware for a single route
/// (`.post("/items", layer(auth.clone(), create))`).
pub fn layer(m: impl Middleware, handler: impl Handler) -> impl Handler {
    Chain::new(m, handler)
}

impl<M, N> std::fmt::Debug for Chain<M, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").finish_non_exhaustive()
    }
}
