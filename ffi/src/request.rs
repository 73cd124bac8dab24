//! Request accessors for C handlers: views into the engine's request, valid until the handler returns.

use super::*;

/// Casts a handler's request handle back.
///
/// # Safety
/// `p` is NULL or a `strela_request` passed to a running handler.
#[inline]
pub(crate) unsafe fn request<'a>(p: *const strela_request) -> Option<&'a Request<'a>> {
    // SAFETY: strela_request pointers are made only from &Request in CHandler::call.
    unsafe { p.cast::<Request<'a>>().as_ref() }
}

/// Runs `f` on the request behind `req`, or reports NULL.
#[inline]
pub(crate) fn req_view(
    req: *const strela_request,
    f: impl FnOnce(&Request<'_>) -> strela_str,
) -> strela_str {
    guard_or(strela_str::ABSENT, || {
        // SAFETY: every caller's contract: NULL or the request of a running handler.
        match unsafe { request(req) } {
            Some(r) => f(r),
            None => {
                set_error("req is NULL");
                strela_str::ABSENT
            }
        }
    })
}

/// The method, e.g. "GET". Valid until the handler returns.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_method(req: *const strela_request) -> strela_str {
    req_view(req, |r| strela_str::of(r.method().as_bytes()))
}

/// The path, without the query. Valid until the handler returns.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_path(req: *const strela_request) -> strela_str {
    req_view(req, |r| strela_str::of(r.path().as_bytes()))
}

/// The query string after `?` (empty when there is none). Valid until the handler returns.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_query(req: *const strela_request) -> strela_str {
    req_view(req, |r| strela_str::of(r.query().as_bytes()))
}

/// The body (empty when there is none; chunked bodies are already decoded). Valid until the handler returns.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_body(req: *const strela_request) -> strela_str {
    req_view(req, |r| strela_str::of(r.body()))
}

/// The route pattern that matched, e.g. "/users/{id}" ({NULL, 0} without a router). Valid until the handler returns.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_route(req: *const strela_request) -> strela_str {
    req_view(req, |r| {
        r.route()
            .map_or(strela_str::ABSENT, |p| strela_str::of(p.as_bytes()))
    })
}

/// The value of header `name` (case-insensitive; the first if repeated), or {NULL, 0}.
///
/// # Safety
/// `req` is NULL or the request of a running handler; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strela_request_header(
    req: *const strela_request,
    name: *const c_char,
) -> strela_str {
    // SAFETY: the caller's contract is this function's.
    unsafe { lookup(req, name, |r, n| r.header(n)) }
}

/// The route parameter `name` (e.g. "id" for "/users/{id}"), or {NULL, 0}.
///
/// # Safety
/// `req` is NULL or the request of a running handler; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strela_request_param(
    req: *const strela_request,
    name: *const c_char,
) -> strela_str {
    // SAFETY: the caller's contract is this function's.
    unsafe { lookup(req, name, |r, n| r.param(n).map(str::as_bytes)) }
}

/// A value of the request found by name, as a `strela_str` ({NULL, 0} when absent, or when
/// `req` or `name` is NULL or `name` is not ASCII: the last error then says so).
///
/// # Safety
/// `req` is NULL or the request of a running handler; `name` is NULL or NUL-terminated.
unsafe fn lookup(
    req: *const strela_request,
    name: *const c_char,
    get: impl for<'r> FnOnce(&'r Request<'r>, &str) -> Option<&'r [u8]>,
) -> strela_str {
    guard_or(strela_str::ABSENT, || {
        // SAFETY: per this function's contract.
        let (Some(r), Some(name)) = (unsafe { request(req) }, unsafe { c_name(name) }) else {
            set_error("req or name is NULL (or name is not ASCII)");
            return strela_str::ABSENT;
        };
        get(r, name).map_or(strela_str::ABSENT, strela_str::of)
    })
}

/// Number of header fields.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_header_count(req: *const strela_request) -> usize {
    guard_or(0, || {
        // SAFETY: per the contract.
        unsafe { request(req) }.map_or(0, |r| r.header_count())
    })
}

/// Header field `index` (0-based, in arrival order) into `*name` and `*value`.
///
/// # Safety
/// `req` is NULL or the request of a running handler; `name` and `value` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn strela_request_header_at(
    req: *const strela_request,
    index: usize,
    name: *mut strela_str,
    value: *mut strela_str,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(r) = (unsafe { request(req) }) else {
            return fail(STRELA_ERR_NULL, "req is NULL");
        };
        if name.is_null() || value.is_null() {
            return fail(STRELA_ERR_NULL, "name or value is NULL");
        }
        match r.headers().nth(index) {
            Some((n, v)) => {
                // SAFETY: both checked non-NULL; writable per the contract.
                unsafe {
                    *name = strela_str::of(n.as_bytes());
                    *value = strela_str::of(v);
                }
                STRELA_OK
            }
            None => fail(STRELA_ERR_NOT_FOUND, format!("no header at index {index}")),
        }
    })
}
