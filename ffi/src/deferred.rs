//! Deferred responses from C: answer a request later, from any thread.

use super::*;

/// A deferred response (opaque): the promise to answer a request later, from any thread.
/// Owned by the C program from `strela_response_defer` until exactly one of
/// `strela_deferred_complete` or `strela_deferred_free` consumes it.
pub struct strela_deferred {
    pub(crate) d: Deferred,
    pub(crate) reply: Option<Reply>,
}

/// Defers the response: the handler returns (with 0) and the request is answered when the
/// returned handle is completed, from any thread. Request views stay valid only until the
/// handler returns, so copy what the work needs first.
///
/// Returns NULL when the deferral is refused because the worker's deferred limit is reached:
/// the response has then been set to 503 with Retry-After and the handler should just return.
///
/// # Safety
/// `res` is NULL or the response of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_response_defer(res: *mut strela_response) -> *mut strela_deferred {
    guard_or(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let Some(r) = (unsafe { response(res) }) else {
            set_error("res is NULL");
            return std::ptr::null_mut();
        };
        let d = r.defer();
        if d.is_cancelled() {
            set_error("deferral refused: the deferred limit is reached (answered 503)");
            return std::ptr::null_mut();
        }
        Box::into_raw(Box::new(strela_deferred {
            d,
            reply: Some(Reply::ok()),
        }))
    })
}

/// Adds a header line to the deferred response (copied; checked as in
/// `strela_response_header`: a framing header or an invalid name or value returns
/// `STRELA_ERR_INVALID` and adds nothing).
///
/// # Safety
/// `d` is NULL or a live handle not used concurrently; `name`, `value` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strela_deferred_header(
    d: *mut strela_deferred,
    name: *const c_char,
    value: *const c_char,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(d) = (unsafe { d.as_mut() }) else {
            return fail(STRELA_ERR_NULL, "d is NULL");
        };
        // SAFETY: per the contract.
        match unsafe { header_args(name, value) } {
            Ok((name, value)) => {
                if let Err(e) = engine::Response::check_header(name, value) {
                    return fail(STRELA_ERR_INVALID, e.to_string());
                }
                d.reply = d.reply.take().map(|r| r.header(name, value));
                STRELA_OK
            }
            Err(e) => e,
        }
    })
}

/// Whether the answer is no longer wanted (deadline passed, client gone). Long work should
/// check it now and then and stop early. One atomic load.
///
/// # Safety
/// `d` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn strela_deferred_is_cancelled(d: *const strela_deferred) -> bool {
    guard_or(true, || {
        // SAFETY: per the contract.
        unsafe { d.as_ref() }.map_or(true, |d| d.d.is_cancelled())
    })
}

/// Answers the deferred request: `status` (200–999), an optional Content-Type (NULL for none),
/// and `len` bytes of body copied from `body`. Consumes `d` in every case (it must not be used
/// again); a completion after cancellation is discarded. A status that is not a final one (1xx)
/// returns `STRELA_ERR_INVALID` and the request is answered 500.
///
/// # Safety
/// `d` is NULL or a live handle; `content_type` NULL or NUL-terminated; `body` points to `len`
/// readable bytes (or is NULL with `len` 0).
#[no_mangle]
pub unsafe extern "C" fn strela_deferred_complete(
    d: *mut strela_deferred,
    status: u16,
    content_type: *const c_char,
    body: *const c_void,
    len: usize,
) -> strela_result {
    guard(|| {
        if d.is_null() {
            return fail(STRELA_ERR_NULL, "d is NULL");
        }
        // SAFETY: per the contract, d is a live handle from strela_response_defer, consumed once.
        let mut d = unsafe { Box::from_raw(d) };
        let mut reply = match d
            .reply
            .take()
            .unwrap_or_else(Reply::ok)
            .try_with_status(status)
        {
            Ok(r) => r,
            Err(e) => {
                drop(d); // answers 500
                return fail(STRELA_ERR_INVALID, e.to_string());
            }
        };
        if !content_type.is_null() {
            // SAFETY: non-NULL, NUL-terminated per the contract.
            let ct = unsafe { CStr::from_ptr(content_type) };
            match ct.to_str() {
                Ok(ct) => reply = reply.content_type(ct),
                Err(_) => {
                    drop(d); // answers 500
                    return fail(STRELA_ERR_INVALID, "content_type is not UTF-8");
                }
            }
        }
        let b = strela_str {
            ptr: body.cast(),
            len,
        };
        // SAFETY: per the contract, body..body+len is readable during the call.
        match unsafe { b.bytes() } {
            Some(bytes) => reply = reply.body(bytes.to_vec()),
            None if len == 0 => {}
            None => {
                drop(d);
                return fail(STRELA_ERR_NULL, "body is NULL");
            }
        }
        let strela_deferred { d, .. } = *d;
        d.complete(reply);
        STRELA_OK
    })
}

/// Abandons a deferred response: the request is answered 500 (unless it was cancelled). NULL is
/// allowed and ignored.
///
/// # Safety
/// `d` is NULL or a live handle, consumed here.
#[no_mangle]
pub unsafe extern "C" fn strela_deferred_free(d: *mut strela_deferred) {
    if !d.is_null() {
        // SAFETY: per the contract, a live handle consumed once.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(d) })));
    }
}

impl std::fmt::Debug for strela_deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("strela_deferred").finish_non_exhaustive()
    }
}
