//! Response setters for C handlers.

use super::*;

/// Casts a handler's response handle back.
///
/// # Safety
/// `p` is NULL or a `strela_response` passed to a running handler.
#[inline]
pub(crate) unsafe fn response<'a>(p: *mut strela_response) -> Option<&'a mut Response<'a>> {
    // SAFETY: strela_response pointers are made only from &mut Response in CHandler::call.
    unsafe { p.cast::<Response<'a>>().as_mut() }
}

/// Sets the status code, 200–999. A 1xx code (not a final status: strela sends `100 Continue`
/// itself) or one outside 100–999 returns `STRELA_ERR_INVALID` and leaves the status as it was.
///
/// # Safety
/// `res` is NULL or the response of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_response_status(
    res: *mut strela_response,
    status: u16,
) -> strela_result {
    with_res!(res, |r| {
        match r.try_status(status) {
            Ok(_) => STRELA_OK,
            Err(e) => fail(STRELA_ERR_INVALID, e.to_string()),
        }
    })
}

/// Adds a header line; both strings are copied. A framing header (Content-Length,
/// Transfer-Encoding, Connection: strela sets those) or a name that is not a token or a value
/// with a control byte returns `STRELA_ERR_INVALID` (`strela_last_error()` says which) and
/// adds nothing.
///
/// # Safety
/// `res` is NULL or the response of a running handler; `name`, `value` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strela_response_header(
    res: *mut strela_response,
    name: *const c_char,
    value: *const c_char,
) -> strela_result {
    with_res!(res, |r| {
        // SAFETY: per the contract.
        match unsafe { header_args(name, value) } {
            Ok((name, value)) => match r.try_header(name, value) {
                Ok(_) => STRELA_OK,
                Err(e) => fail(STRELA_ERR_INVALID, e.to_string()),
            },
            Err(e) => e,
        }
    })
}

/// Sets Content-Type (copied).
///
/// # Safety
/// `res` is NULL or the response of a running handler; `value` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strela_response_content_type(
    res: *mut strela_response,
    value: *const c_char,
) -> strela_result {
    with_res!(res, |r| {
        // SAFETY: per the contract.
        match unsafe { c_str(value, "value") } {
            Ok(v) => {
                r.content_type(v);
                STRELA_OK
            }
            Err(e) => e,
        }
    })
}

/// Sets the body by copying `len` bytes from `data` into the worker's pooled buffer (no
/// allocation in steady state). `data` may be freed as soon as this returns.
///
/// # Safety
/// `res` is NULL or the response of a running handler; `data` points to `len` readable bytes
/// (or is NULL with `len` 0).
#[no_mangle]
pub unsafe extern "C" fn strela_response_body(
    res: *mut strela_response,
    data: *const c_void,
    len: usize,
) -> strela_result {
    with_res!(res, |r| {
        let s = strela_str {
            ptr: data.cast(),
            len,
        };
        // SAFETY: per the contract, data..data+len is readable during the call.
        match unsafe { s.bytes() } {
            Some(b) => {
                r.body(b);
                STRELA_OK
            }
            None if len == 0 => {
                r.body(&[]);
                STRELA_OK
            }
            None => fail(STRELA_ERR_NULL, "data is NULL"),
        }
    })
}

/// Sets the body without copying it now: `data` must stay valid and unchanged for as long as
/// the server runs (a string literal or other static data). Copied once, into the output.
///
/// # Safety
/// `res` is NULL or the response of a running handler; `data` points to `len` bytes that live
/// and stay unchanged until the server has stopped.
#[no_mangle]
pub unsafe extern "C" fn strela_response_body_static(
    res: *mut strela_response,
    data: *const c_void,
    len: usize,
) -> strela_result {
    with_res!(res, |r| {
        if data.is_null() {
            return fail(STRELA_ERR_NULL, "data is NULL");
        }
        // SAFETY: the caller promises the bytes outlive the server (static data), so treating
        // them as 'static is sound for as long as any response can reference them.
        let b: &'static [u8] = unsafe { std::slice::from_raw_parts(data.cast(), len) };
        r.body_static(b);
        STRELA_OK
    })
}

/// Closes the connection after this response.
///
/// # Safety
/// `res` is NULL or the response of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_response_close(res: *mut strela_response) -> strela_result {
    with_res!(res, |r| {
        r.close();
        STRELA_OK
    })
}
