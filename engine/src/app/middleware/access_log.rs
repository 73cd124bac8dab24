//! [`AccessLog`]: one record per request (handled or refused by the core) sent through a
//! bounded channel to a logger thread that formats it as common log format or JSON lines;
//! a full channel drops and counts the record instead of waiting.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::Middleware;
use crate::service::handler::{Handler, Refusal};
use crate::service::request::Request;
use crate::service::response::Response;

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

impl AccessLog {
    /// Queues the record of one answered request for the logger thread (out of line: the
    /// pass-through above stays small while the log is off).
    #[cold]
    #[inline(never)]
    fn record(&self, req: &Request<'_>, res: &Response<'_>) {
        let (m, t) = (req.method().as_bytes(), req.path().as_bytes());
        let q = req.query().as_bytes();
        let mut r = Record {
            peer: req.peer_addr(),
            method: [0; 16],
            method_len: m.len().min(16) as u8,
            target: [0; TARGET_MAX],
            target_len: 0,
            http10: req.version() == crate::proto::head::Version::Http10,
            refused: None,
            status: res.status_code(),
            bytes: res.body_len(),
            micros: req.meta().received.elapsed().as_micros() as u64,
            unix_secs: crate::sys::unix_now(),
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
}

impl Middleware for AccessLog {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        next.call(req, res);
        if self.enabled.load(Ordering::Relaxed) {
            self.record(req, res);
        }
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
            unix_secs: crate::sys::unix_now(),
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
