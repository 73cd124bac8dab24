//! Middleware: handler → handler. Each piece sees the request before the handler and the
//! response after it, and decides whether to call the next handler at all. Nothing here costs
//! anything unless it is added.
//!
//! - [`Recover`]: a panicking handler becomes a 500 on a connection that stays open; the panic
//!   message is logged once, with the request line.
//! - [`AccessLog`]: one record per request, sent through a bounded channel to a logger thread
//!   (common log format or JSON lines); when the channel is full the record is dropped and
//!   counted, never waited for.
//! - [`Timing`]: a `Server-Timing: app;dur=<ms>` header.
//! - [`RequestId`]: echoes a valid incoming `X-Request-Id` or sets one from the request's id.
//! - [`Deadline`]: the deadline of deferred requests on a route.
//! - [`BearerAuth`] / [`BasicAuth`]: 401 with `WWW-Authenticate` unless the credentials match.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Instant;

use crate::service::handler::{Handler, Refusal};
use crate::service::request::Request;
use crate::service::response::Response;

/// Wraps a handler: gets the request and response and the next handler to call (or not).
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`; call `next.call(req, res)` to pass it on.
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler);

    /// Told about a request the core answered itself (see [`Handler::refused`]); the default
    /// does nothing. The chain passes it on to the next handler either way.
    #[inline]
    fn refused(&self, _refusal: &Refusal<'_>) {}
}

impl<F> Middleware for F
where
    F: Fn(&Request<'_>, &mut Response<'_>, &dyn Handler) + Send + Sync + 'static,
{
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        self(req, res, next)
    }
}

/// A middleware in front of a handler, itself a handler.
pub struct Chain {
    m: Box<dyn Middleware>,
    next: Box<dyn Handler>,
}

impl Chain {
    /// `m` in front of `next`.
    pub fn new(m: Box<dyn Middleware>, next: Box<dyn Handler>) -> Self {
        Chain { m, next }
    }
}

impl Handler for Chain {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self.m.call(req, res, &*self.next)
    }

    fn refused(&self, refusal: &Refusal<'_>) {
        self.m.refused(refusal);
        self.next.refused(refusal);
    }
}

/// `handler` behind `m`, as one handler: middleware for a single route
/// (`.post("/items", layer(auth.clone(), create))`).
pub fn layer(m: impl Middleware, handler: impl Handler) -> impl Handler {
    Chain::new(Box::new(m), Box::new(handler))
}

// ---- recover -----------------------------------------------------------------------------------

thread_local! {
    static IN_RECOVER: Cell<bool> = const { Cell::new(false) };
    static PANIC_MSG: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Turns a panicking handler into a `500 Internal Server Error`; the connection and the worker
/// carry on. The panic is logged once (the default panic hook is silenced inside `Recover`, and
/// `Recover` logs the message with the request line to stderr).
///
/// Without `Recover` a panic is still contained by the core, which answers 500 and closes the
/// connection.
#[derive(Debug, Default, Clone)]
pub struct Recover {
    panics: Arc<AtomicU64>,
}

impl Recover {
    /// A recover middleware; installs (once per process) a panic hook that stays quiet for
    /// panics caught here and defers to the previous hook for all others.
    pub fn new() -> Self {
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if IN_RECOVER.with(Cell::get) {
                    let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                        (*s).to_string()
                    } else if let Some(s) = info.payload().downcast_ref::<String>() {
                        s.clone()
                    } else {
                        "non-string panic payload".to_string()
                    };
                    let at = info
                        .location()
                        .map(|l| format!(" at {l}"))
                        .unwrap_or_default();
                    PANIC_MSG.with(|m| *m.borrow_mut() = Some(format!("{msg}{at}")));
                } else {
                    prev(info);
                }
            }));
        });
        Recover::default()
    }

    /// Panics caught so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

impl Middleware for Recover {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        IN_RECOVER.with(|f| f.set(true));
        let r = catch_unwind(AssertUnwindSafe(|| next.call(req, res)));
        IN_RECOVER.with(|f| f.set(false));
        if r.is_err() {
            self.panics.fetch_add(1, Ordering::Relaxed);
            let msg = PANIC_MSG
                .with(|m| m.borrow_mut().take())
                .unwrap_or_default();
            eprintln!(
                "strela: handler panicked on {} {}: {msg}",
                req.method(),
                req.path()
            );
            res.reset();
            res.status(500)
                .content_type("text/plain")
                .body_static(b"Internal Server Error\n");
        }
    }
}

// ---- access log --------------------------------------------------------------------------------

/// Access-log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// NCSA common log format, as Apache, nginx, goaccess and awstats read it:
    /// `host - - [01/Dec/2026:07:58:49 +0000] "GET /path HTTP/1.1" 200 13`.
    Common,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `common` or `json`.
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "common" => Some(LogFormat::Common),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    /// The name [`LogFormat::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Common => "common",
            LogFormat::Json => "json",
        }
    }
}

/// Where an access log writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, appended to (created if missing) and reopened by [`LogReopener::reopen`].
    File(std::path::PathBuf),
}

impl LogTarget {
    /// `stdout`, `stderr`, or a file path.
    pub fn parse(s: &str) -> LogTarget {
        match s {
            "stdout" => LogTarget::Stdout,
            "stderr" => LogTarget::Stderr,
            path => LogTarget::File(path.into()),
        }
    }

    fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::Stderr => Box::new(std::io::stderr()),
            LogTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        })
    }
}

const TARGET_MAX: usize = 256;

/// One request, as sent to the logger thread (fixed size: no allocation per request).
struct Record {
    peer: Option<std::net::SocketAddr>,
    method: [u8; 16],
    method_len: u8,
    /// The request target, or for a refused request the raw request line.
    target: [u8; TARGET_MAX],
    target_len: u16,
    http10: bool,
    /// Why the core refused the request (`target` then holds the raw line); `None` for a
    /// request a handler answered.
    refused: Option<&'static str>,
    status: u16,
    bytes: u64,
    micros: u64,
    unix_secs: u64,
}

// The channel's slots are preallocated, so records travel inline, never boxed per request.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Record(Record),
    /// Close and open the target again (log rotation).
    Reopen,
}

/// Logs every request from a logger thread, including the ones the core answers itself (400,
/// 408, 413, 414, 431, 503 …, through [`Middleware::refused`]). Records travel through a
/// bounded channel; when it is full the record is dropped and counted ([`AccessLog::dropped`]),
/// so a slow log never slows requests. Request targets longer than 256 bytes are truncated in
/// the log.
pub struct AccessLog {
    tx: crossbeam_channel::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    format: LogFormat,
    enabled: Arc<AtomicBool>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// Asks an access log to reopen its file (what `SIGUSR1` does in the `strela` binary, after
/// logrotate renamed the file): the logger thread writes what it has, closes the file and
/// opens the path again. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct LogReopener(crossbeam_channel::Sender<Msg>);

impl std::fmt::Debug for LogReopener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogReopener")
    }
}

impl LogReopener {
    /// Queues the reopen behind the records already sent (waits for room if the queue is full).
    pub fn reopen(&self) {
        let _ = self.0.send(Msg::Reopen);
    }
}

impl AccessLog {
    /// Logs to `out` (stdout, a file, ...) in `format`, with a channel of `capacity` records.
    /// A reopen request flushes `out` and keeps it.
    pub fn new(out: impl Write + Send + 'static, format: LogFormat, capacity: usize) -> Self {
        Self::spawn(Box::new(out), None, format, capacity)
    }

    /// Logs to `target` in `format`, with a channel of `capacity` records; a file is opened
    /// now (the error is returned) and again on every [`LogReopener::reopen`].
    pub fn open(target: &LogTarget, format: LogFormat, capacity: usize) -> std::io::Result<Self> {
        let out = target.open()?;
        Ok(Self::spawn(out, Some(target.clone()), format, capacity))
    }

    fn spawn(
        out: Box<dyn Write + Send>,
        target: Option<LogTarget>,
        format: LogFormat,
        capacity: usize,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(capacity.max(1));
        std::thread::Builder::new()
            .name("strela-accesslog".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(out);
                let mut line = String::with_capacity(256);
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Record(r) => {
                            format_record(&r, format, &mut line);
                            let _ = out.write_all(line.as_bytes());
                        }
                        Msg::Reopen => {
                            let _ = out.flush();
                            if let Some(t) = &target {
                                match t.open() {
                                    Ok(w) => out = std::io::BufWriter::new(w),
                                    Err(e) => log::error!(
                                        "cannot reopen the access log, writing on to the old file target={t:?} error={:?}",
                                        e.to_string()
                                    ),
                                }
                            }
                        }
                    }
                    if rx.is_empty() {
                        let _ = out.flush();
                    }
                }
                let _ = out.flush();
            })
            .expect("spawn the access-log thread");
        AccessLog {
            tx,
            dropped: Arc::default(),
            format,
            enabled: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A switch for this log, shared: storing `false` stops logging (one relaxed load per
    /// request while off), `true` resumes it. For turning the access log on and off live.
    pub fn switch(&self) -> Arc<AtomicBool> {
        self.enabled.clone()
    }

    /// A handle that makes the logger reopen its file (log rotation).
    pub fn reopener(&self) -> LogReopener {
        LogReopener(self.tx.clone())
    }

    /// Records dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The line format.
    pub fn format(&self) -> LogFormat {
        self.format
    }

    fn send(&self, r: Record) {
        if self.tx.try_send(Msg::Record(r)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Middleware for AccessLog {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        next.call(req, res);
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let (m, t) = (req.method().as_bytes(), req.path().as_bytes());
        let q = req.query().as_bytes();
        let mut r = Record {
            peer: req.peer_addr(),
            method: [0; 16],
            method_len: m.len().min(16) as u8,
            target: [0; TARGET_MAX],
            target_len: 0,
            http10: req.version() == crate::Version::Http10,
            refused: None,
            status: res.status_code(),
            bytes: res.body_bytes_ref().len() as u64,
            micros: req.meta().received.elapsed().as_micros() as u64,
            unix_secs: crate::proto::date::unix_now(),
        };
        r.method[..r.method_len as usize].copy_from_slice(&m[..r.method_len as usize]);
        let mut n = t.len().min(TARGET_MAX);
        r.target[..n].copy_from_slice(&t[..n]);
        if req.has_query() && n < TARGET_MAX {
            r.target[n] = b'?';
            n += 1;
            let k = q.len().min(TARGET_MAX - n);
            r.target[n..n + k].copy_from_slice(&q[..k]);
            n += k;
        }
        r.target_len = n as u16;
        self.send(r);
    }

    fn refused(&self, f: &Refusal<'_>) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut r = Record {
            peer: f.peer,
            method: [0; 16],
            method_len: 0,
            target: [0; TARGET_MAX],
            target_len: f.line.len().min(TARGET_MAX) as u16,
            http10: false,
            refused: Some(f.reason),
            status: f.status,
            bytes: f.bytes,
            micros: 0,
            unix_secs: crate::proto::date::unix_now(),
        };
        r.target[..r.target_len as usize].copy_from_slice(&f.line[..r.target_len as usize]);
        self.send(r);
    }
}

/// Appends `b` to `out` as a log-safe string: printable ASCII as is, `"`, `\` and every other
/// byte as `\xHH` (as nginx escapes its log variables), so one record is always one line.
fn push_escaped(out: &mut String, b: &[u8]) {
    use std::fmt::Write as _;
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            out.push(c as char);
        } else {
            let _ = write!(out, "\\x{c:02X}");
        }
    }
}

fn format_record(r: &Record, format: LogFormat, line: &mut String) {
    use std::fmt::Write as _;
    line.clear();
    let method = &r.method[..r.method_len as usize];
    let target = &r.target[..r.target_len as usize];
    let host = r
        .peer
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let version = if r.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    match format {
        LogFormat::Common => {
            let _ = write!(
                line,
                "{host} - - [{}] \"",
                crate::proto::date::format_clf(r.unix_secs)
            );
            match r.refused {
                None => {
                    push_escaped(line, method);
                    line.push(' ');
                    push_escaped(line, target);
                    line.push(' ');
                    line.push_str(version);
                }
                Some(_) if target.is_empty() => line.push('-'),
                Some(_) => push_escaped(line, target),
            }
            let _ = writeln!(line, "\" {} {}", r.status, r.bytes);
        }
        LogFormat::Json => {
            let mut v = serde_json::json!({
                "ts": r.unix_secs, "peer": host, "method": String::from_utf8_lossy(method),
                "target": String::from_utf8_lossy(target), "version": version,
                "status": r.status, "bytes": r.bytes, "micros": r.micros,
            });
            if let Some(reason) = r.refused {
                // The raw request line (which may not be one) instead of method and target.
                v["method"] = serde_json::Value::Null;
                v["version"] = serde_json::Value::Null;
                v["target"] = serde_json::Value::Null;
                v["line"] = String::from_utf8_lossy(target).into();
                v["refused"] = reason.into();
            }
            let _ = writeln!(line, "{v}");
        }
    }
}

// ---- timing, request id ------------------------------------------------------------------------

/// Adds `Server-Timing: app;dur=<milliseconds>` measured around the rest of the chain.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timing;

impl Middleware for Timing {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        let t0 = Instant::now();
        next.call(req, res);
        let us = t0.elapsed().as_micros() as u64;
        // "app;dur=<ms>.<µs, 3 digits>" built on the stack: no allocation per request.
        let mut v = [0u8; 40];
        let mut n = 0;
        for part in [
            &b"app;dur="[..],
            itoa::Buffer::new().format(us / 1000).as_bytes(),
            b".",
        ] {
            v[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        let frac = us % 1000;
        v[n..n + 3].copy_from_slice(&[
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ]);
        res.header("Server-Timing", &v[..n + 3]);
    }
}

/// Sets the deadline of deferred requests on the routes it wraps (the global default is
/// `Limits::deferred_timeout`): `.get("/report", layer(Deadline(Duration::from_secs(2)), report))`.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub std::time::Duration);

impl Middleware for Deadline {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        res.set_deadline(self.0);
        next.call(req, res)
    }
}

/// Echoes an incoming `X-Request-Id` (1–128 visible ASCII characters) or sets one from the
/// request's server-unique id (16 hex digits).
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestId;

impl Middleware for RequestId {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        next.call(req, res);
        match req.header("x-request-id") {
            Some(v)
                if !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_graphic()) =>
            {
                res.header("X-Request-Id", v);
            }
            _ => {
                let mut hex = [0u8; 16];
                let id = req.meta().id;
                for (i, h) in hex.iter_mut().enumerate() {
                    *h = b"0123456789abcdef"[((id >> (60 - 4 * i)) & 0xf) as usize];
                }
                res.header("X-Request-Id", hex);
            }
        }
    }
}

// ---- auth --------------------------------------------------------------------------------------

/// Equal-length comparison that does not stop at the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized(res: &mut Response<'_>, challenge: &str) {
    res.reset();
    res.status(401)
        .header("WWW-Authenticate", challenge)
        .content_type("text/plain")
        .body_static(b"Unauthorized\n");
}

/// Requires `Authorization: Bearer <token>` with one of the given tokens.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    tokens: Arc<Vec<Vec<u8>>>,
    challenge: String,
}

impl BearerAuth {
    /// Accepts any of `tokens`; `realm` goes into the challenge.
    pub fn new(realm: &str, tokens: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Self {
        BearerAuth {
            tokens: Arc::new(tokens.into_iter().map(Into::into).collect()),
            challenge: format!("Bearer realm=\"{realm}\""),
        }
    }
}

impl Middleware for BearerAuth {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        let ok = req
            .header("authorization")
            .and_then(|v| {
                v.strip_prefix(b"Bearer ")
                    .or_else(|| v.strip_prefix(b"bearer "))
            })
            .is_some_and(|t| self.tokens.iter().any(|k| ct_eq(k, t.trim_ascii())));
        if ok {
            next.call(req, res)
        } else {
            unauthorized(res, &self.challenge)
        }
    }
}

/// Requires HTTP Basic credentials (RFC 7617) matching `user:password`.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    expected: Arc<Vec<u8>>,
    challenge: String,
}

impl BasicAuth {
    /// Accepts exactly `user` / `password`; `realm` goes into the challenge.
    pub fn new(realm: &str, user: &str, password: &str) -> Self {
        BasicAuth {
            expected: Arc::new(base64(format!("{user}:{password}").as_bytes())),
            challenge: format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
        }
    }
}

impl Middleware for BasicAuth {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        let ok = req
            .header("authorization")
            .and_then(|v| {
                v.strip_prefix(b"Basic ")
                    .or_else(|| v.strip_prefix(b"basic "))
            })
            .is_some_and(|c| ct_eq(&self.expected, c.trim_ascii()));
        if ok {
            next.call(req, res)
        } else {
            unauthorized(res, &self.challenge)
        }
    }
}

/// Standard base64 with padding (for the expected Basic credential, computed once).
fn base64(input: &[u8]) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63]);
        out.push(T[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            b"QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), b"YQ==");
        assert_eq!(base64(b"ab"), b"YWI=");
        assert_eq!(base64(b""), b"");
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
