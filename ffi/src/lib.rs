//! C ABI for strela (`libstrela.so`, `libstrela.a`, `strela.h`).
//!
//! This crate owns the boundary between C programs and the engine, both ways: C creates,
//! configures, routes, runs and stops a server (and uses the parser and router on their own);
//! the engine calls C handlers. Every exported function checks its pointers, catches panics and
//! reports failure as a [`strela_result`] plus a thread-local message ([`strela_last_error`]);
//! nothing unwinds into C. Request and response handles passed to a C handler are the engine's
//! own `Request` and `Response`, cast — no copy, no allocation per call.
//!
//! `include/strela.h` is generated from this file by cbindgen (`ffi/cbindgen.toml`); the doc
//! comments here are the header's documentation, including who owns every pointer.
#![allow(non_camel_case_types)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use engine::defer::{Deferred, Reply};
use engine::proto::head::{head_view, parse_head, HeaderScratch, Parsed};
use engine::{Handler, Limits, Request, RequestMeta, Response, ServerHandle, Stopper};

/// Numeric ABI version of this library; bumped on every incompatible change.
pub const STRELA_ABI_VERSION: u32 = 1;

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
}

use strela_result::*;

/// A borrowed byte string: `ptr` to `len` bytes, not NUL-terminated. `{NULL, 0}` means absent.
/// Views handed to a handler are valid only until the handler returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_str {
    /// First byte (NULL when absent).
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

impl strela_str {
    const ABSENT: strela_str = strela_str {
        ptr: std::ptr::null(),
        len: 0,
    };

    #[inline]
    fn of(b: &[u8]) -> strela_str {
        strela_str {
            ptr: b.as_ptr().cast(),
            len: b.len(),
        }
    }

    /// The bytes, or `None` for `{NULL, _}`.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    unsafe fn bytes<'a>(self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            None
        } else {
            // SAFETY: the caller guarantees ptr..ptr+len is readable for 'a.
            Some(unsafe { std::slice::from_raw_parts(self.ptr.cast(), self.len) })
        }
    }
}

// ---- errors ------------------------------------------------------------------------------------

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: impl Into<Vec<u8>>) {
    let mut v = msg.into();
    v.retain(|&b| b != 0);
    let c = CString::new(v).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn fail(code: strela_result, msg: impl Into<Vec<u8>>) -> strela_result {
    set_error(msg);
    code
}

/// Runs `f`, turning a panic into `STRELA_ERR_PANIC` (never unwinding into C).
#[inline]
fn guard(f: impl FnOnce() -> strela_result) -> strela_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => fail(STRELA_ERR_PANIC, "strela panicked inside the call"),
    }
}

/// Like [`guard`] for calls returning a value; `fallback` on panic.
#[inline]
fn guard_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            set_error("strela panicked inside the call");
            fallback
        }
    }
}

/// A NUL-terminated C string as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, strela_result> {
    if p.is_null() {
        return Err(fail(STRELA_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| fail(STRELA_ERR_INVALID, format!("{what} is not UTF-8")))
}

/// A route's method and pattern from two NUL-terminated C strings (both UTF-8).
///
/// # Safety
/// Each pointer is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn route_args<'a>(
    method: *const c_char,
    pattern: *const c_char,
) -> Result<(&'a str, &'a str), strela_result> {
    // SAFETY: per this function's contract.
    unsafe { Ok((c_str(method, "method")?, c_str(pattern, "pattern")?)) }
}

/// A header line's name (UTF-8) and value (bytes) from two NUL-terminated C strings.
///
/// # Safety
/// Each pointer is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn header_args<'a>(
    name: *const c_char,
    value: *const c_char,
) -> Result<(&'a str, &'a [u8]), strela_result> {
    // SAFETY: per this function's contract.
    let name = unsafe { c_str(name, "name") }?;
    if value.is_null() {
        return Err(fail(STRELA_ERR_NULL, "value is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    Ok((name, unsafe { CStr::from_ptr(value) }.to_bytes()))
}

/// A NUL-terminated ASCII name (header or parameter) as `&str`, in one pass: the hot-path twin of
/// [`c_str`] for accessors (no separate strlen and UTF-8 validation). `None` for NULL or
/// non-ASCII, which can never match a header or parameter name anyway.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
#[inline]
unsafe fn c_name<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    let mut n = 0;
    loop {
        // SAFETY: the string is NUL-terminated, so every byte up to and including the NUL is
        // readable, and the loop stops at the NUL.
        let b = unsafe { *p.add(n) } as u8;
        if b == 0 {
            break;
        }
        if b >= 0x80 {
            return None;
        }
        n += 1;
    }
    // SAFETY: p..p+n was just read; it lives as long as the caller's string.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) };
    // SAFETY: every byte is < 0x80, so the bytes are ASCII and therefore valid UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
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

// ---- config ------------------------------------------------------------------------------------

/// Largest request head, bytes (431 beyond).
pub const STRELA_LIMIT_MAX_HEAD_BYTES: c_int = 1;
/// Most header fields (431 beyond).
pub const STRELA_LIMIT_MAX_HEADERS: c_int = 2;
/// Longest request target, bytes (414 beyond).
pub const STRELA_LIMIT_MAX_URI_BYTES: c_int = 3;
/// Largest request body, bytes (413 beyond).
pub const STRELA_LIMIT_MAX_BODY_BYTES: c_int = 4;
/// Most connections per worker (503 beyond).
pub const STRELA_LIMIT_MAX_CONNS_PER_WORKER: c_int = 5;
/// Header timeout, milliseconds (rounded to whole seconds, ≥ 1 s).
pub const STRELA_LIMIT_HEADER_TIMEOUT_MS: c_int = 6;
/// Idle keep-alive timeout, milliseconds (whole seconds, ≥ 1 s).
pub const STRELA_LIMIT_IDLE_TIMEOUT_MS: c_int = 7;
/// Write stall timeout, milliseconds (whole seconds, ≥ 1 s).
pub const STRELA_LIMIT_WRITE_TIMEOUT_MS: c_int = 8;
/// Deadline of deferred requests, milliseconds (504 when missed).
pub const STRELA_LIMIT_DEFERRED_TIMEOUT_MS: c_int = 9;
/// Most deferred requests in flight per worker (503 beyond).
pub const STRELA_LIMIT_MAX_DEFERRED: c_int = 10;
/// Graceful-stop drain timeout, milliseconds.
pub const STRELA_LIMIT_DRAIN_TIMEOUT_MS: c_int = 11;

/// Server configuration (opaque). Create with `strela_config_new`, free with
/// `strela_config_free`; `strela_server_new` copies it, so it may be freed right after.
#[derive(Debug, Clone)]
pub struct strela_config {
    bind: SocketAddr,
    workers: usize,
    limits: Limits,
    drain_timeout: Duration,
}

impl Default for strela_config {
    fn default() -> Self {
        strela_config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: engine::server::default_workers(),
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// A configuration with the defaults: 127.0.0.1:8080, one worker per core, default limits.
/// The caller owns it: free with `strela_config_free`. NULL only if out of memory.
#[no_mangle]
pub extern "C" fn strela_config_new() -> *mut strela_config {
    guard_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(strela_config::default()))
    })
}

/// Frees a configuration. NULL is allowed and ignored.
///
/// # Safety
/// `cfg` is NULL or came from `strela_config_new` and was not freed before.
#[no_mangle]
pub unsafe extern "C" fn strela_config_free(cfg: *mut strela_config) {
    if !cfg.is_null() {
        // SAFETY: per the contract, cfg is a live Box from strela_config_new, freed once.
        drop(unsafe { Box::from_raw(cfg) });
    }
}

/// Sets the listen address, e.g. "0.0.0.0:8080" or "[::1]:0" (port 0: any free port;
/// read it back with `strela_server_port`). `addr` is borrowed for the call.
///
/// # Safety
/// `cfg` is NULL or a live config; `addr` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strela_config_set_bind(
    cfg: *mut strela_config,
    addr: *const c_char,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract, cfg is NULL or a live, exclusively used config.
        let Some(cfg) = (unsafe { cfg.as_mut() }) else {
            return fail(STRELA_ERR_NULL, "cfg is NULL");
        };
        // SAFETY: per the contract.
        let addr = match unsafe { c_str(addr, "addr") } {
            Ok(a) => a,
            Err(e) => return e,
        };
        match addr.parse() {
            Ok(a) => {
                cfg.bind = a;
                STRELA_OK
            }
            Err(_) => fail(
                STRELA_ERR_INVALID,
                format!("bind address {addr:?} is not IP:PORT"),
            ),
        }
    })
}

/// Sets the number of worker threads (≥ 1).
///
/// # Safety
/// `cfg` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn strela_config_set_workers(
    cfg: *mut strela_config,
    workers: usize,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(cfg) = (unsafe { cfg.as_mut() }) else {
            return fail(STRELA_ERR_NULL, "cfg is NULL");
        };
        if workers == 0 {
            return fail(STRELA_ERR_INVALID, "workers must be at least 1");
        }
        cfg.workers = workers;
        STRELA_OK
    })
}

/// Sets one limit (`STRELA_LIMIT_*`). Values are clamped to what the engine supports.
///
/// # Safety
/// `cfg` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn strela_config_set_limit(
    cfg: *mut strela_config,
    key: c_int,
    value: u64,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(cfg) = (unsafe { cfg.as_mut() }) else {
            return fail(STRELA_ERR_NULL, "cfg is NULL");
        };
        let n = usize::try_from(value).unwrap_or(usize::MAX);
        let ms = Duration::from_millis(value);
        let l = &mut cfg.limits;
        match key {
            STRELA_LIMIT_MAX_HEAD_BYTES => l.max_head_bytes = n,
            STRELA_LIMIT_MAX_HEADERS => l.max_headers = n,
            STRELA_LIMIT_MAX_URI_BYTES => l.max_uri_bytes = n,
            STRELA_LIMIT_MAX_BODY_BYTES => l.max_body_bytes = n,
            STRELA_LIMIT_MAX_CONNS_PER_WORKER => l.max_conns_per_worker = n,
            STRELA_LIMIT_HEADER_TIMEOUT_MS => l.header_timeout = ms,
            STRELA_LIMIT_IDLE_TIMEOUT_MS => l.idle_timeout = ms,
            STRELA_LIMIT_WRITE_TIMEOUT_MS => l.write_timeout = ms,
            STRELA_LIMIT_DEFERRED_TIMEOUT_MS => l.deferred_timeout = ms,
            STRELA_LIMIT_MAX_DEFERRED => l.max_deferred = n,
            STRELA_LIMIT_DRAIN_TIMEOUT_MS => cfg.drain_timeout = ms,
            other => return fail(STRELA_ERR_INVALID, format!("unknown limit key {other}")),
        }
        STRELA_OK
    })
}

// ---- handlers ----------------------------------------------------------------------------------

/// A request as seen by a C handler (opaque; borrowed for the duration of the handler call).
pub struct strela_request {
    _opaque: [u8; 0],
}

/// The response a C handler fills in (opaque; borrowed for the duration of the handler call).
pub struct strela_response {
    _opaque: [u8; 0],
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
    cb: unsafe extern "C" fn(*const strela_request, *mut strela_response, *mut c_void) -> c_int,
    userdata: *mut c_void,
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

/// Casts a handler's request handle back.
///
/// # Safety
/// `p` is NULL or a `strela_request` passed to a running handler.
#[inline]
unsafe fn request<'a>(p: *const strela_request) -> Option<&'a Request<'a>> {
    // SAFETY: strela_request pointers are made only from &Request in CHandler::call.
    unsafe { p.cast::<Request<'a>>().as_ref() }
}

/// Casts a handler's response handle back.
///
/// # Safety
/// `p` is NULL or a `strela_response` passed to a running handler.
#[inline]
unsafe fn response<'a>(p: *mut strela_response) -> Option<&'a mut Response<'a>> {
    // SAFETY: strela_response pointers are made only from &mut Response in CHandler::call.
    unsafe { p.cast::<Response<'a>>().as_mut() }
}

/// Runs `f` on the request behind `req`, or reports NULL.
#[inline]
fn req_view(req: *const strela_request, f: impl FnOnce(&Request<'_>) -> strela_str) -> strela_str {
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
    guard_or(strela_str::ABSENT, || {
        // SAFETY: per the contract.
        let (Some(r), Some(name)) = (unsafe { request(req) }, unsafe { c_name(name) }) else {
            set_error("req or name is NULL (or name is not ASCII)");
            return strela_str::ABSENT;
        };
        r.header(name).map_or(strela_str::ABSENT, strela_str::of)
    })
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
    guard_or(strela_str::ABSENT, || {
        // SAFETY: per the contract.
        let (Some(r), Some(name)) = (unsafe { request(req) }, unsafe { c_name(name) }) else {
            set_error("req or name is NULL (or name is not ASCII)");
            return strela_str::ABSENT;
        };
        r.param(name)
            .map_or(strela_str::ABSENT, |v| strela_str::of(v.as_bytes()))
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

macro_rules! with_res {
    ($res:expr, |$r:ident| $body:expr) => {
        guard(|| {
            // SAFETY: the caller's contract: NULL or the response of a running handler.
            match unsafe { response($res) } {
                Some($r) => $body,
                None => fail(STRELA_ERR_NULL, "res is NULL"),
            }
        })
    };
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

// ---- deferred ----------------------------------------------------------------------------------

/// A deferred response (opaque): the promise to answer a request later, from any thread.
/// Owned by the C program from `strela_response_defer` until exactly one of
/// `strela_deferred_complete` or `strela_deferred_free` consumes it.
pub struct strela_deferred {
    d: Deferred,
    reply: Option<Reply>,
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

// ---- server ------------------------------------------------------------------------------------

enum Phase {
    /// Collecting routes.
    New(Vec<(String, String, CHandler)>),
    /// Running (blocking in `strela_server_run`, or in the background).
    Running(Stopper),
    /// Stopped; cannot be restarted.
    Done,
}

/// A server (opaque). Create with `strela_server_new`, add routes, then either
/// `strela_server_run` (blocks) or `strela_server_start` + `strela_server_wait`. Free with
/// `strela_server_free` once it is no longer running (free stops and waits if it is).
pub struct strela_server {
    config: strela_config,
    phase: Mutex<Phase>,
    background: Mutex<Option<ServerHandle>>,
    stop_requested: AtomicBool,
    port: AtomicU16,
}

/// A server for `cfg` (copied; NULL → defaults). The caller owns it: free with
/// `strela_server_free`. NULL on failure (see `strela_last_error`).
///
/// # Safety
/// `cfg` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn strela_server_new(cfg: *const strela_config) -> *mut strela_server {
    guard_or(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let config = unsafe { cfg.as_ref() }.cloned().unwrap_or_default();
        Box::into_raw(Box::new(strela_server {
            config,
            phase: Mutex::new(Phase::New(Vec::new())),
            background: Mutex::new(None),
            stop_requested: AtomicBool::new(false),
            port: AtomicU16::new(0),
        }))
    })
}

/// Routes `method` + `pattern` (e.g. "GET", "/users/{id}", "/static/{*path}") to `handler`
/// with `userdata` (passed back on every call, from any worker thread; strela never frees it).
/// Only before the server runs. Pattern conflicts are reported when it starts.
///
/// # Safety
/// `server` is NULL or a live server; `method`, `pattern` NULL or NUL-terminated (copied).
#[no_mangle]
pub unsafe extern "C" fn strela_server_route(
    server: *mut strela_server,
    method: *const c_char,
    pattern: *const c_char,
    handler: strela_handler,
    userdata: *mut c_void,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { server.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "server is NULL");
        };
        // SAFETY: per the contract.
        let (method, pattern) = match unsafe { route_args(method, pattern) } {
            Ok(mp) => mp,
            Err(e) => return e,
        };
        let Some(cb) = handler else {
            return fail(STRELA_ERR_NULL, "handler is NULL");
        };
        let mut phase = s.phase.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *phase {
            Phase::New(routes) => {
                routes.push((method.into(), pattern.into(), CHandler { cb, userdata }));
                STRELA_OK
            }
            _ => fail(
                STRELA_ERR_STATE,
                "routes can only be added before the server runs",
            ),
        }
    })
}

/// Binds and starts the workers; on success the server is `Running`.
fn launch(s: &strela_server) -> Result<ServerHandle, strela_result> {
    let routes = {
        let mut phase = s.phase.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *phase, Phase::Done) {
            Phase::New(r) => r,
            other => {
                *phase = other;
                return Err(fail(STRELA_ERR_STATE, "the server was already started"));
            }
        }
    };
    let c = &s.config;
    let mut b = engine::Server::builder()
        .bind(c.bind)
        .workers(c.workers)
        .limits(c.limits.clone())
        .drain_timeout(c.drain_timeout);
    for (m, p, h) in routes {
        b = b.route(&m, &p, h);
    }
    let handle = b.start().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::InvalidInput {
            STRELA_ERR_INVALID
        } else {
            STRELA_ERR_IO
        };
        fail(code, format!("starting the server: {e}"))
    })?;
    s.port.store(handle.local_addr().port(), Ordering::Release);
    let mut phase = s.phase.lock().unwrap_or_else(|e| e.into_inner());
    *phase = Phase::Running(handle.stopper());
    if s.stop_requested.load(Ordering::Acquire) {
        handle.stop();
    }
    Ok(handle)
}

fn finish(s: &strela_server, handle: ServerHandle) -> strela_result {
    let r = handle.join();
    *s.phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Done;
    match r {
        Ok(()) => STRELA_OK,
        Err(e) => fail(STRELA_ERR_IO, format!("server stopped with an error: {e}")),
    }
}

/// Runs the server on the calling thread until `strela_server_stop` (from another thread or a
/// handler) and the drain finish. A server runs once.
///
/// # Safety
/// `server` is NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn strela_server_run(server: *mut strela_server) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { server.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "server is NULL");
        };
        match launch(s) {
            Ok(h) => finish(s, h),
            Err(e) => e,
        }
    })
}

/// Starts the server on background threads and returns once it listens (the port is then
/// known). Stop it with `strela_server_stop`, wait with `strela_server_wait`.
///
/// # Safety
/// `server` is NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn strela_server_start(server: *mut strela_server) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { server.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "server is NULL");
        };
        match launch(s) {
            Ok(h) => {
                *s.background.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                STRELA_OK
            }
            Err(e) => e,
        }
    })
}

/// The port the server listens on (0 before it started).
///
/// # Safety
/// `server` is NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn strela_server_port(server: *const strela_server) -> u16 {
    guard_or(0, || {
        // SAFETY: per the contract.
        unsafe { server.as_ref() }.map_or(0, |s| s.port.load(Ordering::Acquire))
    })
}

/// Asks the server to stop gracefully (stop accepting, answer what is in flight, close idle
/// connections, within the drain timeout). Safe from any thread, also before it runs (it then
/// stops as soon as it starts) and from a handler.
///
/// # Safety
/// `server` is NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn strela_server_stop(server: *const strela_server) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { server.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "server is NULL");
        };
        let phase = s.phase.lock().unwrap_or_else(|e| e.into_inner());
        s.stop_requested.store(true, Ordering::Release);
        if let Phase::Running(stopper) = &*phase {
            stopper.stop();
        }
        STRELA_OK
    })
}

/// Waits for a server started with `strela_server_start` to stop. Returns at once when it is
/// not running in the background.
///
/// # Safety
/// `server` is NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn strela_server_wait(server: *mut strela_server) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { server.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "server is NULL");
        };
        let h = s
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match h {
            Some(h) => finish(s, h),
            None => STRELA_OK,
        }
    })
}

/// Frees a server; one running in the background is stopped and waited for first. NULL is
/// allowed. Must not be called while `strela_server_run` is still blocking on it.
///
/// # Safety
/// `server` is NULL or a live server, not used by any other thread during or after this call.
#[no_mangle]
pub unsafe extern "C" fn strela_server_free(server: *mut strela_server) {
    if server.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per the contract.
        unsafe {
            strela_server_stop(server);
            strela_server_wait(server);
            drop(Box::from_raw(server));
        }
    }));
}

// ---- standalone parser -------------------------------------------------------------------------

/// One header field: views into the caller's buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_header {
    /// Field name as received.
    pub name: strela_str,
    /// Field value, without surrounding whitespace.
    pub value: strela_str,
}

/// A parsed request head: views into the caller's buffer, valid while that buffer is.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_parsed_request {
    /// Method.
    pub method: strela_str,
    /// Path (before `?`).
    pub path: strela_str,
    /// Query (after `?`; empty when none).
    pub query: strela_str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: c_int,
    /// Bytes of the head, including the blank line: the body (if any) starts here.
    pub head_len: usize,
    /// Declared Content-Length (0 when none or chunked).
    pub content_length: u64,
    /// Transfer-Encoding: chunked.
    pub chunked: bool,
    /// Whether the connection persists after this request.
    pub keep_alive: bool,
    /// Header fields written to the caller's array.
    pub header_count: usize,
    /// With `STRELA_ERR_PARSE`: the status a server would answer (400, 413, 414, 431, 501, 505).
    pub error_status: u16,
}

/// The limits `strela_parse_request` applies: the engine's head rules, with room for
/// `headers_cap` headers, the largest head the engine supports, and no body limit (the caller
/// frames the body). Public for the fuzz check that compares it with the engine's parser.
pub fn standalone_limits(headers_cap: usize) -> Limits {
    Limits {
        max_headers: headers_cap.max(1),
        max_head_bytes: engine::limits::MAX_HEAD_CAP,
        max_uri_bytes: engine::limits::MAX_HEAD_CAP,
        max_body_bytes: usize::MAX,
        ..Limits::default()
    }
    .normalized()
}

/// Parses the request head at the start of `buf` (the same parser and rules as the server),
/// with no copy: `*out` and the `headers` array (room for `headers_cap` fields; more → 431)
/// receive views into `buf`. Returns `STRELA_OK` for a complete head, `STRELA_PARTIAL` when more
/// bytes are needed, `STRELA_ERR_PARSE` with `out->error_status` for a bad one.
///
/// # Safety
/// `buf` points to `len` readable bytes; `out` is writable; `headers` has `headers_cap`
/// writable elements (or is NULL with `headers_cap` 0).
#[no_mangle]
pub unsafe extern "C" fn strela_parse_request(
    buf: *const c_char,
    len: usize,
    out: *mut strela_parsed_request,
    headers: *mut strela_header,
    headers_cap: usize,
) -> strela_result {
    guard(|| {
        if buf.is_null() || out.is_null() || (headers.is_null() && headers_cap != 0) {
            return fail(STRELA_ERR_NULL, "buf, out or headers is NULL");
        }
        // SAFETY: per the contract.
        let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.cast(), len) };
        // SAFETY: out is writable per the contract.
        let out = unsafe { &mut *out };
        *out = strela_parsed_request {
            method: strela_str::ABSENT,
            path: strela_str::ABSENT,
            query: strela_str::ABSENT,
            version_minor: 0,
            head_len: 0,
            content_length: 0,
            chunked: false,
            keep_alive: false,
            header_count: 0,
            error_status: 0,
        };
        let limits = standalone_limits(headers_cap);
        let mut scratch = Box::<HeaderScratch>::default();
        let head = match parse_head(data, &mut scratch, &limits) {
            Ok(Parsed::Complete(h)) => h,
            Ok(Parsed::Partial(_)) => return STRELA_PARTIAL,
            Err(e) => {
                out.error_status = e.status();
                return fail(STRELA_ERR_PARSE, format!("bad request head: {e:?}"));
            }
        };
        let meta = RequestMeta::default();
        let req = head_view(data, &head, &scratch, &meta);
        if headers_cap == 0 && req.header_count() > 0 {
            out.error_status = 431;
            return fail(STRELA_ERR_PARSE, "no room for headers (headers_cap is 0)");
        }
        out.method = strela_str::of(req.method().as_bytes());
        out.path = strela_str::of(req.path().as_bytes());
        out.query = strela_str::of(req.query().as_bytes());
        out.version_minor = c_int::from(req.version() == engine::Version::Http11);
        out.head_len = head.head_len();
        out.content_length = if head.is_chunked() {
            0
        } else {
            head.content_length()
        };
        out.chunked = head.is_chunked();
        out.keep_alive = req.keep_alive();
        for (i, (n, v)) in req.headers().enumerate().take(headers_cap) {
            // SAFETY: i < headers_cap and the array has headers_cap writable elements.
            unsafe {
                *headers.add(i) = strela_header {
                    name: strela_str::of(n.as_bytes()),
                    value: strela_str::of(v),
                };
            }
            out.header_count = i + 1;
        }
        STRELA_OK
    })
}

// ---- standalone router -------------------------------------------------------------------------

/// Most parameters a route match reports.
pub const STRELA_MAX_PARAMS: usize = 16;

/// A router (opaque) mapping method + path pattern to a caller-chosen value, usable without a
/// server. Create with `strela_router_new`, free with `strela_router_free`. Lookups may run on
/// several threads at once; inserts must not overlap with anything else.
pub struct strela_router {
    r: engine::router::Router<usize>,
}

/// One route parameter: name (view into the router's pattern) and value (view into the path).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_param {
    /// Name, as in the pattern.
    pub name: strela_str,
    /// Value, from the looked-up path.
    pub value: strela_str,
}

/// The outcome of a lookup.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_route_match {
    /// 200 found; 404 nothing matches; 405 method not allowed (`allow` set); 204 automatic
    /// OPTIONS answer (`allow` set); 301/308 redirect (`location` set).
    pub status: u16,
    /// The value inserted for the matching route (when 200).
    pub value: usize,
    /// The matching pattern (when 200).
    pub pattern: strela_str,
    /// The Allow header value (when 405 or 204).
    pub allow: strela_str,
    /// Where to redirect (when 301/308): valid until the next lookup on this thread.
    pub location: strela_str,
    /// Parameters filled in `params`.
    pub param_count: usize,
    /// Parameters: names view the router (valid until it is changed or freed), values view the
    /// path (valid while the path is).
    pub params: [strela_param; STRELA_MAX_PARAMS],
}

thread_local! {
    static LOCATION: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A new, empty router; the caller owns it (free with `strela_router_free`). NULL on failure.
#[no_mangle]
pub extern "C" fn strela_router_new() -> *mut strela_router {
    guard_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(strela_router {
            r: engine::router::Router::new(),
        }))
    })
}

/// Frees a router. NULL is allowed.
///
/// # Safety
/// `r` is NULL or came from `strela_router_new` and was not freed before.
#[no_mangle]
pub unsafe extern "C" fn strela_router_free(r: *mut strela_router) {
    if !r.is_null() {
        // SAFETY: per the contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(r) })));
    }
}

/// Adds a route. Conflicting, duplicate or malformed patterns → `STRELA_ERR_INVALID` with a
/// message naming the routes.
///
/// # Safety
/// `r` is NULL or a live router not used concurrently; `method`, `pattern` NULL or
/// NUL-terminated (copied).
#[no_mangle]
pub unsafe extern "C" fn strela_router_insert(
    r: *mut strela_router,
    method: *const c_char,
    pattern: *const c_char,
    value: usize,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(r) = (unsafe { r.as_mut() }) else {
            return fail(STRELA_ERR_NULL, "router is NULL");
        };
        // SAFETY: per the contract.
        let (method, pattern) = match unsafe { route_args(method, pattern) } {
            Ok(mp) => mp,
            Err(e) => return e,
        };
        match r.r.insert(method, pattern, value) {
            Ok(()) => STRELA_OK,
            Err(e) => fail(STRELA_ERR_INVALID, e.to_string()),
        }
    })
}

/// Looks up `method` + `path` (views; the path without its query). Fills `*out` and returns
/// `STRELA_OK` when a route matched (status 200), `STRELA_ERR_NOT_FOUND` otherwise (status
/// 404, 405, 204 or 301/308 says why).
///
/// # Safety
/// `r` is NULL or a live router; `method` and `path` view readable bytes; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn strela_router_lookup(
    r: *const strela_router,
    method: strela_str,
    path: strela_str,
    out: *mut strela_route_match,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(r) = (unsafe { r.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "router is NULL");
        };
        if out.is_null() {
            return fail(STRELA_ERR_NULL, "out is NULL");
        }
        // SAFETY: per the contract.
        let (Some(m), Some(p)) = (unsafe { method.bytes() }, unsafe { path.bytes() }) else {
            return fail(STRELA_ERR_NULL, "method or path is NULL");
        };
        let (Ok(m), Ok(p)) = (std::str::from_utf8(m), std::str::from_utf8(p)) else {
            return fail(STRELA_ERR_INVALID, "method or path is not UTF-8");
        };
        // SAFETY: checked non-NULL; writable per the contract.
        let out = unsafe { &mut *out };
        *out = strela_route_match {
            status: 404,
            value: 0,
            pattern: strela_str::ABSENT,
            allow: strela_str::ABSENT,
            location: strela_str::ABSENT,
            param_count: 0,
            params: [strela_param {
                name: strela_str::ABSENT,
                value: strela_str::ABSENT,
            }; STRELA_MAX_PARAMS],
        };
        use engine::router::Lookup;
        match r.r.lookup(m, p) {
            Lookup::Found(f) => {
                out.status = 200;
                out.value = *f.value;
                out.pattern = strela_str::of(f.pattern.as_bytes());
                for (i, (k, v)) in f.params.iter().enumerate().take(STRELA_MAX_PARAMS) {
                    out.params[i] = strela_param {
                        name: strela_str::of(k.as_bytes()),
                        value: strela_str::of(v.as_bytes()),
                    };
                    out.param_count = i + 1;
                }
                return STRELA_OK;
            }
            Lookup::MethodNotAllowed { allow } => {
                out.status = 405;
                out.allow = strela_str::of(allow.as_bytes());
            }
            Lookup::Options { allow } => {
                out.status = 204;
                out.allow = strela_str::of(allow.as_bytes());
            }
            Lookup::Redirect { location, status } => {
                out.status = status;
                out.location = LOCATION.with(|l| {
                    let mut l = l.borrow_mut();
                    *l = location;
                    strela_str::of(l.as_bytes())
                });
            }
            Lookup::NotFound => {}
        }
        STRELA_ERR_NOT_FOUND
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: strela_version returns a pointer to a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(strela_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(strela_abi_version(), STRELA_ABI_VERSION);
    }

    #[test]
    fn null_pointers_are_errors_with_a_message() {
        // SAFETY: NULL is allowed by every function's contract.
        unsafe {
            assert_eq!(
                strela_config_set_workers(std::ptr::null_mut(), 2),
                STRELA_ERR_NULL
            );
            let msg = CStr::from_ptr(strela_last_error()).to_str().unwrap();
            assert_eq!(msg, "cfg is NULL");
            assert!(strela_request_path(std::ptr::null()).ptr.is_null());
            assert_eq!(
                strela_response_status(std::ptr::null_mut(), 200),
                STRELA_ERR_NULL
            );
            let s = strela_server_new(std::ptr::null());
            assert!(!s.is_null(), "NULL config means defaults");
            assert_eq!(
                strela_server_route(
                    s,
                    c"GET".as_ptr(),
                    c"/".as_ptr(),
                    None,
                    std::ptr::null_mut()
                ),
                STRELA_ERR_NULL
            );
            strela_server_free(s);
            strela_server_free(std::ptr::null_mut());
            strela_config_free(std::ptr::null_mut());
            strela_router_free(std::ptr::null_mut());
            strela_deferred_free(std::ptr::null_mut());
        }
    }
}
