//! C handlers: the callback type, the opaque request/response handles, and the engine-side handler that calls C.

use super::*;

/// A request as seen by a C handler (opaque; borrowed for the duration of the handler call).
pub struct strela_request {
    pub(crate) _opaque: [u8; 0],
}

/// The response a C handler fills in (opaque; borrowed for the duration of the handler call).
pub struct strela_response {
    pub(crate) _opaque: [u8; 0],
}

/// A request handler. Called on a worker thread, possibly on several threads at once with the
/// same `userdata`. `req` and `res` and every view taken from them are valid only until it
/// returns. Return 0 for success; any other value discards what was set and answers 500.
pub type strela_handler = Option<
    unsafe extern "C" fn(
        req: *const strela_request,
        res: *mut strela_response,
        userdata: *mut c_void,
    ) -> c_int,
>;

/// A C callback as an engine handler (what `strela_server_route` registers; public for the
/// boundary benches, which dispatch through it).
pub struct CHandler {
    pub(crate) cb:
        unsafe extern "C" fn(*const strela_request, *mut strela_response, *mut c_void) -> c_int,
    pub(crate) userdata: *mut c_void,
}

impl CHandler {
    /// Wraps `handler` and its `userdata`; `None` for a NULL handler.
    pub fn new(handler: strela_handler, userdata: *mut c_void) -> Option<CHandler> {
        handler.map(|cb| CHandler { cb, userdata })
    }
}

// SAFETY: the header documents that a handler and its userdata are called from any worker
// thread, concurrently; making them thread-safe is the C program's side of the contract.
unsafe impl Send for CHandler {}
// SAFETY: as above.
unsafe impl Sync for CHandler {}

impl Handler for CHandler {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        let rq: *const Request<'_> = req;
        let rs: *mut Response<'_> = res;
        // SAFETY: the callback was registered as a valid function pointer; the pointers it gets
        // are to live values that outlive the call, and are only dereferenced by strela's own
        // accessors, which cast them back to these types.
        let rc = unsafe { (self.cb)(rq.cast(), rs.cast(), self.userdata) };
        if rc != 0 {
            res.reset();
            res.status(500)
                .content_type("text/plain")
                .body_static(b"Internal Server Error\n");
        }
    }
}

impl std::fmt::Debug for strela_response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("strela_response").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CHandler").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for strela_request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("strela_request").finish_non_exhaustive()
    }
}
