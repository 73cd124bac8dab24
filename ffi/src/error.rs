//! Result codes, the thread's last error, and the panic guard every exported function runs in.

use super::*;

/// Result codes. `STRELA_OK` (0) is success; negative values are errors, with a message from
/// `strela_last_error()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum strela_result {
    /// Success.
    STRELA_OK = 0,
    /// More input is needed (`strela_parse_request` on a partial head).
    STRELA_PARTIAL = 1,
    /// A required pointer was NULL.
    STRELA_ERR_NULL = -1,
    /// An argument was invalid (bad address, pattern, UTF-8, limit key, route conflict...).
    STRELA_ERR_INVALID = -2,
    /// An operating-system error (bind, threads).
    STRELA_ERR_IO = -3,
    /// The call is not allowed in the object's current state (e.g. routing a running server).
    STRELA_ERR_STATE = -4,
    /// strela panicked inside the call; the call had no effect beyond what the message says.
    STRELA_ERR_PANIC = -5,
    /// The bytes are not a valid request head (`error_status` says which HTTP status fits).
    STRELA_ERR_PARSE = -6,
    /// Nothing matched (router lookup, header or parameter absent).
    STRELA_ERR_NOT_FOUND = -7,
    /// The client is gone: nothing more will be sent (`strela_writer_write`).
    STRELA_ERR_GONE = -8,
}

use strela_result::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_error(msg: impl Into<Vec<u8>>) {
    let mut v = msg.into();
    v.retain(|&b| b != 0);
    let c = CString::new(v).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub(crate) fn fail(code: strela_result, msg: impl Into<Vec<u8>>) -> strela_result {
    set_error(msg);
    code
}

/// Runs `f`, turning a panic into `STRELA_ERR_PANIC` (never unwinding into C).
#[inline]
pub(crate) fn guard(f: impl FnOnce() -> strela_result) -> strela_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => fail(STRELA_ERR_PANIC, "strela panicked inside the call"),
    }
}

/// Like [`guard`] for calls returning a value; `fallback` on panic.
#[inline]
pub(crate) fn guard_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            set_error("strela panicked inside the call");
            fallback
        }
    }
}

/// The message of the last failed call on this thread ("" if none). Owned by strela; valid until
/// the next failing strela call on the same thread. Never free it.
#[no_mangle]
pub extern "C" fn strela_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The library version as a static NUL-terminated string (e.g. "0.1.0"). Never free it.
#[no_mangle]
pub extern "C" fn strela_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The numeric ABI version (`STRELA_ABI_VERSION` of the library actually loaded).
#[no_mangle]
pub extern "C" fn strela_abi_version() -> u32 {
    STRELA_ABI_VERSION
}
