//! Server configuration (`strela_config`): address, workers, limits.

use super::*;

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
    pub(crate) bind: SocketAddr,
    pub(crate) workers: usize,
    pub(crate) limits: Limits,
    pub(crate) drain_timeout: Duration,
}

impl Default for strela_config {
    fn default() -> Self {
        strela_config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: engine::default_workers(),
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
