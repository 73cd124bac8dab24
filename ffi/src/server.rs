//! Running a server from C: create, route, run or start, stop, wait, free.

use super::*;

pub(crate) enum Phase {
    /// Collecting routes.
    New(Vec<(String, String, Box<dyn Handler>)>),
    /// Running (blocking in `strela_server_run`, or in the background).
    Running(Stopper),
    /// Stopped; cannot be restarted.
    Done,
}

/// A server (opaque). Create with `strela_server_new`, add routes, then either
/// `strela_server_run` (blocks) or `strela_server_start` + `strela_server_wait`. Free with
/// `strela_server_free` once it is no longer running (free stops and waits if it is).
pub struct strela_server {
    pub(crate) config: strela_config,
    pub(crate) phase: Mutex<Phase>,
    pub(crate) background: Mutex<Option<ServerHandle>>,
    pub(crate) stop_requested: AtomicBool,
    pub(crate) port: AtomicU16,
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
    // SAFETY: the same contract; NULL options are the defaults.
    unsafe {
        strela_server_route_opts(server, method, pattern, handler, userdata, std::ptr::null())
    }
}

/// `strela_server_route` with options (`strela_route_opts`; NULL: the defaults): a body
/// limit of the route's own, and request bodies streamed to the handler as they arrive.
///
/// # Safety
/// As `strela_server_route`; `opts` is NULL or points to a `strela_route_opts` (copied).
#[no_mangle]
pub unsafe extern "C" fn strela_server_route_opts(
    server: *mut strela_server,
    method: *const c_char,
    pattern: *const c_char,
    handler: strela_handler,
    userdata: *mut c_void,
    opts: *const strela_route_opts,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let opts = unsafe { opts.as_ref() }.copied();
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
        let h = CHandler { cb, userdata };
        let h: Box<dyn Handler> = match opts {
            Some(o) if o.stream_body != 0 => {
                let limit = if o.max_body_bytes == 0 {
                    s.config.limits.max_body_bytes as u64
                } else {
                    o.max_body_bytes
                };
                Box::new(engine::stream_body(limit, h))
            }
            Some(o) if o.max_body_bytes != 0 => Box::new(engine::limit_body(o.max_body_bytes, h)),
            _ => Box::new(h),
        };
        let mut phase = lock(&s.phase);
        match &mut *phase {
            Phase::New(routes) => {
                routes.push((method.into(), pattern.into(), h));
                STRELA_OK
            }
            _ => fail(
                STRELA_ERR_STATE,
                "routes can only be added before the server runs",
            ),
        }
    })
}

/// Serves the files below `dir` under `prefix` (starting and ending with '/', e.g.
/// "/static/"): GET and HEAD, with sendfile, single ranges (206/416), ETag and Last-Modified
/// with conditional requests (304/412); paths are confined to `dir` (no `..`, no symlinks out
/// of it: 404/403) and directories are not listed. `index` (NULL or "" for none) is the file
/// answered for a directory. Only before the server runs; `dir` must exist.
///
/// # Safety
/// `server` is NULL or a live server; the strings NULL or NUL-terminated (copied).
#[no_mangle]
pub unsafe extern "C" fn strela_server_static(
    server: *mut strela_server,
    prefix: *const c_char,
    dir: *const c_char,
    index: *const c_char,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { server.as_ref() }) else {
            return fail(STRELA_ERR_NULL, "server is NULL");
        };
        // SAFETY: per the contract.
        let (prefix, dir) = match unsafe { (c_str(prefix, "prefix"), c_str(dir, "dir")) } {
            (Ok(p), Ok(d)) => (p, d),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let index = if index.is_null() {
            ""
        } else {
            // SAFETY: per the contract.
            match unsafe { c_str(index, "index") } {
                Ok(i) => i,
                Err(e) => return e,
            }
        };
        if !(prefix.starts_with('/') && prefix.ends_with('/')) {
            return fail(STRELA_ERR_INVALID, "prefix must start and end with '/'");
        }
        let files = match engine::app::files::StaticFiles::new(dir) {
            Ok(f) => f.index(index),
            Err(e) => return fail(STRELA_ERR_IO, format!("{dir}: {e}")),
        };
        let mut phase = lock(&s.phase);
        match &mut *phase {
            Phase::New(routes) => {
                let below = format!("{prefix}{{*path}}");
                routes.push(("GET".into(), prefix.into(), Box::new(files.clone())));
                routes.push(("GET".into(), below, Box::new(files)));
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
pub(crate) fn launch(s: &strela_server) -> Result<ServerHandle, strela_result> {
    let routes = {
        let mut phase = lock(&s.phase);
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
    let mut phase = lock(&s.phase);
    *phase = Phase::Running(handle.stopper());
    if s.stop_requested.load(Ordering::Acquire) {
        handle.stop();
    }
    Ok(handle)
}

pub(crate) fn finish(s: &strela_server, handle: ServerHandle) -> strela_result {
    let r = handle.join();
    *lock(&s.phase) = Phase::Done;
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
                *lock(&s.background) = Some(h);
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
        let phase = lock(&s.phase);
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
        let h = lock(&s.background).take();
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

impl std::fmt::Debug for strela_server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("strela_server").finish_non_exhaustive()
    }
}

/// Locks `m`, ignoring poisoning: every critical section here is one assignment or read of a
/// phase or handle, so a panic cannot leave the value half-updated.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
