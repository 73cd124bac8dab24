//! [`Deadline`]: the deadline of deferred requests on the routes it wraps.

use super::Middleware;
use crate::service::handler::Handler;
use crate::service::request::Request;
use crate::service::response::Response;

/// Sets the deadline of deferred requests on the routes it wraps (the global default is
/// `Limits::deferred_timeout`): `.get("/report", layer(Deadline(Duration::from_secs(2)), report))`.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub std::time::Duration);

impl Middleware for Deadline {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        res.set_deadline(self.0);
        next.call(req, res)
    }
}
