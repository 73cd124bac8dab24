//! The handler contract: what a user writes to answer a request.

use std::sync::Arc;

use crate::proto::encode::Response;
use crate::proto::head::Request;

/// Answers one request by filling in a [`Response`]. Runs on a worker thread, shared by all
/// workers, so it must be `Send + Sync`; it must not block (defer slow work instead).
///
/// Any `Fn(&Request, &mut Response) + Send + Sync + 'static` closure or function is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Handles `req`, writing the answer into `res`.
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>);
}

impl<F> Handler for F
where
    F: Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self(req, res)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        (**self).call(req, res)
    }
}
