//! The standalone router: patterns to values, matched with parameters.

use super::*;

/// Most parameters a route match reports.
pub const STRELA_MAX_PARAMS: usize = 16;

/// A router (opaque) mapping method + path pattern to a caller-chosen value, usable without a
/// server. Create with `strela_router_new`, free with `strela_router_free`. Lookups may run on
/// several threads at once; inserts must not overlap with anything else.
pub struct strela_router {
    pub(crate) r: engine::router::Router<usize>,
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

impl std::fmt::Debug for strela_router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("strela_router").finish_non_exhaustive()
    }
}
