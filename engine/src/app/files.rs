//! Files: a directory served under a prefix ([`StaticFiles`]), and one open file answered with
//! everything a client expects ([`send_file`]): `Content-Type` from the extension, `ETag` and
//! `Last-Modified`, conditional requests (`If-None-Match`/`If-Modified-Since` → 304,
//! `If-Match`/`If-Unmodified-Since` → 412), a single byte range (→ 206 with `Content-Range`;
//! unsatisfiable → 416), `HEAD`. The body goes out with `sendfile(2)`; memory use does not
//! depend on the file's size.
//!
//! Paths are confined to the directory twice: the URL path is decoded and normalised first
//! ([`normalize`]: `%XX` decoded, `.` dropped, `..` resolved, and refused with 404 if it would
//! climb above the directory; an encoded `/` or NUL is refused), then the file is opened with
//! `openat2(RESOLVE_BENEATH)`, so a symlink that leads out of the directory is refused with 403
//! (symlinks that stay inside are followed). There is no directory listing: a directory is
//! answered with its index file if one is configured, otherwise 404.
//!
//! Ranges: one `bytes=` range is served as 206 (`first-last`, `first-`, `-suffix`; a last
//! position past the end is clamped); a range that starts at or past the end, or a zero
//! suffix, is 416. Several ranges are answered with the whole file (200): strela sends no
//! `multipart/byteranges`, which RFC 9110 allows; if none of them is satisfiable, 416. A
//! `Range` that does not parse, or not in bytes, is ignored (200), as is any `Range` on `HEAD`
//! (ranges are defined for GET) or one whose `If-Range` does not match.
//!
//! Opening and `stat` happen on the worker thread, as `sendfile` does: fine for local disks
//! and the page cache (nginx without aio does the same).

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::proto::date::{format_imf_fixdate, parse_imf_fixdate};
use crate::proto::head::Method;
use crate::service::handler::Handler;
use crate::service::request::Request;
use crate::service::response::Response;

/// A URL path below a prefix, decoded and normalised to a relative file path; `None` when it
/// must be refused (404): it climbs above the root, it has a malformed `%` escape, or a
/// segment decodes to something containing `/` or NUL.
///
/// `""`, `"/"` and `"a/.."` are the root itself (an empty path).
pub fn normalize(url_path: &str) -> Option<PathBuf> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    for raw in url_path.split('/') {
        let seg = percent_decode(raw.as_bytes())?;
        if seg.contains(&b'/') || seg.contains(&0) {
            return None;
        }
        match &seg[..] {
            b"" | b"." => {}
            b".." => {
                segs.pop()?;
            }
            _ => segs.push(seg),
        }
    }
    let mut p = PathBuf::new();
    for s in segs {
        p.push(OsStr::from_bytes(&s));
    }
    Some(p)
}

fn percent_decode(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// How a `Range` header applies to a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Send the whole representation (no usable range, or several ranges).
    Full,
    /// Send bytes `first..=last` (206).
    Part {
        /// First byte.
        first: u64,
        /// Last byte, inclusive.
        last: u64,
    },
    /// No requested range overlaps the representation (416).
    Unsatisfiable,
}

/// Reads a `Range` value (RFC 9110 §14.1.2) against a representation of `size` bytes.
pub fn parse_range(value: &[u8], size: u64) -> ByteRange {
    let v = value.trim_ascii();
    let Some(set) = strip_prefix_ignore_case(v, b"bytes=") else {
        return ByteRange::Full; // another unit: ignored
    };
    let mut satisfiable = None;
    let mut count = 0usize;
    for spec in set.split(|&b| b == b',') {
        let spec = spec.trim_ascii();
        if spec.is_empty() {
            continue; // empty list elements are allowed
        }
        count += 1;
        let Some(dash) = spec.iter().position(|&b| b == b'-') else {
            return ByteRange::Full; // malformed: ignore the header
        };
        let (a, b) = (&spec[..dash], &spec[dash + 1..]);
        let r = match (digits(a), digits(b)) {
            (Some(first), Some(last)) if !a.is_empty() && !b.is_empty() => {
                if first > last {
                    return ByteRange::Full;
                }
                (first < size).then(|| (first, last.min(size - 1)))
            }
            (Some(first), _) if !a.is_empty() && b.is_empty() => {
                (first < size).then(|| (first, size - 1))
            }
            (_, Some(suffix)) if a.is_empty() && !b.is_empty() => {
                (suffix > 0 && size > 0).then(|| (size - suffix.min(size), size - 1))
            }
            _ => return ByteRange::Full,
        };
        if satisfiable.is_none() {
            satisfiable = r;
        }
    }
    match (count, satisfiable) {
        (0, _) => ByteRange::Full,
        (_, None) => ByteRange::Unsatisfiable,
        (1, Some((first, last))) => ByteRange::Part { first, last },
        _ => ByteRange::Full,
    }
}

/// A run of ASCII digits as a number (`None` if empty, not digits, or over u64).
fn digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u64, |n, &c| {
        if c.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

fn strip_prefix_ignore_case<'a>(v: &'a [u8], p: &[u8]) -> Option<&'a [u8]> {
    (v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p)).then(|| &v[p.len()..])
}

/// The media type for a file name's extension (`application/octet-stream` when unknown);
/// text types carry `charset=utf-8`.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => "application/octet-stream",
    }
}

/// A file's validators: its `ETag` (from size and modification time, in nanoseconds) and its
/// modification time in whole seconds (for `Last-Modified`).
fn validators(meta: &Metadata) -> ([u8; 48], usize, u64) {
    let mut tag = [0u8; 48];
    let mut c = std::io::Cursor::new(&mut tag[..]);
    let _ = write!(
        c,
        "\"{:x}.{:x}-{:x}\"",
        meta.mtime().max(0),
        meta.mtime_nsec().max(0),
        meta.size()
    );
    let n = c.position() as usize;
    (tag, n, meta.mtime().max(0) as u64)
}

/// Whether the `If-None-Match` / `If-Match` list `list` contains `etag` (`*` matches any);
/// `weak` compares ignoring `W/` (RFC 9110 §8.8.3.2).
fn etag_listed(list: &[u8], etag: &[u8], weak: bool) -> bool {
    let list = list.trim_ascii();
    if list == b"*" {
        return true;
    }
    list.split(|&b| b == b',').any(|t| {
        let t = t.trim_ascii();
        match t.strip_prefix(b"W/") {
            Some(w) => weak && w == etag,
            None => t == etag,
        }
    })
}

/// Answers `req` with the open file `file` (a regular file; `meta` its metadata, `name` for the
/// media type): validators, conditional requests, a single range, HEAD. Only GET and HEAD get
/// the file; other methods get 405 with `Allow: GET, HEAD`.
pub fn send_file(
    req: &Request<'_>,
    res: &mut Response<'_>,
    file: File,
    meta: &Metadata,
    name: &Path,
) {
    let head = match req.method_kind() {
        Method::Get => false,
        Method::Head => true,
        _ => {
            res.status(405)
                .header("Allow", "GET, HEAD")
                .content_type("text/plain")
                .body_static(b"Method Not Allowed\n");
            return;
        }
    };
    let size = meta.size();
    let (tag, tag_len, mtime) = validators(meta);
    let etag = &tag[..tag_len];
    let mut date = [0u8; 29];
    format_imf_fixdate(mtime, &mut date);
    res.header("ETag", etag).header("Last-Modified", date);

    // Preconditions, in RFC 9110 §13.2.2's order.
    if let Some(v) = req.header("if-match") {
        if !etag_listed(v, etag, false) {
            return precondition_failed(res);
        }
    } else if let Some(t) = req
        .header("if-unmodified-since")
        .and_then(parse_imf_fixdate)
    {
        if mtime > t {
            return precondition_failed(res);
        }
    }
    let not_modified = match req.header("if-none-match") {
        Some(v) => etag_listed(v, etag, true),
        None => req
            .header("if-modified-since")
            .and_then(parse_imf_fixdate)
            .is_some_and(|t| mtime <= t),
    };
    if not_modified {
        res.status(304);
        return;
    }

    res.header("Accept-Ranges", "bytes")
        .content_type(content_type(name));
    let range = match req.header("range") {
        Some(r) if !head && if_range_holds(req.header("if-range"), etag, mtime) => {
            parse_range(r, size)
        }
        _ => ByteRange::Full,
    };
    match range {
        ByteRange::Full => {
            res.body_file(file, 0, size);
        }
        ByteRange::Part { first, last } => {
            let mut cr = [0u8; 72];
            let mut c = std::io::Cursor::new(&mut cr[..]);
            let _ = write!(c, "bytes {first}-{last}/{size}");
            let n = c.position() as usize;
            res.status(206).header("Content-Range", &cr[..n]).body_file(
                file,
                first,
                last - first + 1,
            );
        }
        ByteRange::Unsatisfiable => {
            let mut cr = [0u8; 40];
            let mut c = std::io::Cursor::new(&mut cr[..]);
            let _ = write!(c, "bytes */{size}");
            let n = c.position() as usize;
            res.status(416)
                .header("Content-Range", &cr[..n])
                .content_type("text/plain")
                .body_static(b"Range Not Satisfiable\n");
        }
    }
}

/// `If-Range`: the range applies only if the validator still matches (a strong ETag compared
/// strongly, or the exact `Last-Modified` date).
fn if_range_holds(v: Option<&[u8]>, etag: &[u8], mtime: u64) -> bool {
    let Some(v) = v else {
        return true;
    };
    let v = v.trim_ascii();
    if v.first() == Some(&b'"') {
        v == etag
    } else {
        parse_imf_fixdate(v) == Some(mtime)
    }
}

fn precondition_failed(res: &mut Response<'_>) {
    res.status(412)
        .content_type("text/plain")
        .body_static(b"Precondition Failed\n");
}

fn not_found(res: &mut Response<'_>) {
    res.status(404)
        .content_type("text/plain")
        .body_static(b"Not Found\n");
}

fn forbidden(res: &mut Response<'_>) {
    res.status(403)
        .content_type("text/plain")
        .body_static(b"Forbidden\n");
}

/// A directory served as files, as a handler. Mount it on a catch-all route whose parameter is
/// named `path`, plus the prefix itself for the index (or use
/// [`ServerBuilder::files`](crate::ServerBuilder::files), which does both):
///
/// ```no_run
/// use strela::app::files::StaticFiles;
/// let files = StaticFiles::new("./public").unwrap().index("index.html");
/// strela::Server::builder()
///     .files("/static/", files)
///     .run()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct StaticFiles {
    root: Arc<Root>,
    index: Option<Arc<str>>,
}

struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl std::fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticFiles")
            .field("root", &self.root.path)
            .field("index", &self.index)
            .finish()
    }
}

impl StaticFiles {
    /// Serves the files below `dir` (opened now; it must exist and be a directory).
    pub fn new(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = dir.as_ref().canonicalize()?;
        let fd = crate::sys::open_dir(&path)?;
        Ok(StaticFiles {
            root: Arc::new(Root { fd, path }),
            index: None,
        })
    }

    /// Answers a directory with this file inside it (e.g. `index.html`); without one a
    /// directory is 404 (there is no listing).
    pub fn index(mut self, name: &str) -> Self {
        self.index = (!name.is_empty()).then(|| Arc::from(name));
        self
    }

    /// The directory served (canonical).
    pub fn root(&self) -> &Path {
        &self.root.path
    }

    /// Answers the request for `url_path` (the part of the URL below the mount point, still
    /// percent-encoded).
    pub fn serve(&self, url_path: &str, req: &Request<'_>, res: &mut Response<'_>) {
        let Some(rel) = normalize(url_path) else {
            return not_found(res);
        };
        let (file, meta) = match self.open(&rel) {
            Ok(f) => f,
            Err(status) => return refuse(res, status),
        };
        if meta.is_dir() {
            if !req.path().ends_with('/') {
                // `/static/docs` → `/static/docs/`, so relative links in the index resolve.
                let mut to = String::with_capacity(req.path().len() + 1);
                to.push_str(req.path());
                to.push('/');
                res.status(301)
                    .header("Location", &to)
                    .content_type("text/plain")
                    .body_static(b"Moved Permanently\n");
                return;
            }
            let Some(index) = &self.index else {
                return not_found(res);
            };
            let rel = rel.join(&**index);
            return match self.open(&rel) {
                Ok((f, m)) if m.is_file() => send_file(req, res, f, &m, &rel),
                Ok(_) => not_found(res),
                Err(status) => refuse(res, status),
            };
        }
        send_file(req, res, file, &meta, &rel)
    }

    /// Opens `rel` below the root: the file and its metadata; or the status to answer (404
    /// missing, 403 outside the root or not a regular file or directory).
    fn open(&self, rel: &Path) -> Result<(File, Metadata), u16> {
        let file =
            crate::sys::open_beneath(self.root.fd.as_fd(), &self.root.path, rel).map_err(|e| {
                match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ENAMETOOLONG) => 404,
                    _ => 403u16, // EXDEV (escapes), ELOOP, EACCES, EPERM, …
                }
            })?;
        let meta = file.metadata().map_err(|_| 403u16)?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(403); // devices, FIFOs, sockets
        }
        Ok((file, meta))
    }
}

fn refuse(res: &mut Response<'_>, status: u16) {
    if status == 404 {
        not_found(res)
    } else {
        forbidden(res)
    }
}

impl Handler for StaticFiles {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        let path = req.param("path").unwrap_or("");
        self.serve(path, req, res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_inside_the_root_and_refuse_to_leave_it() {
        let ok = |u: &str| normalize(u).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(ok("a/b.txt").as_deref(), Some("a/b.txt"));
        assert_eq!(ok("a//./b.txt").as_deref(), Some("a/b.txt"));
        assert_eq!(ok("a/../b.txt").as_deref(), Some("b.txt"));
        assert_eq!(ok("a/%2e%2E/b.txt").as_deref(), Some("b.txt"));
        assert_eq!(ok("%61%20b").as_deref(), Some("a b"));
        assert_eq!(ok("").as_deref(), Some(""));
        assert_eq!(ok("a/..").as_deref(), Some(""));
        for bad in [
            "..",
            "../etc/passwd",
            "a/../../x",
            "%2e%2e/x",
            "a%2fb",
            "a%00b",
            "%zz",
            "%4",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use ByteRange::*;
        let r = |v: &str, size| parse_range(v.as_bytes(), size);
        assert_eq!(
            r("bytes=0-499", 1000),
            Part {
                first: 0,
                last: 499
            }
        );
        assert_eq!(
            r("bytes=500-", 1000),
            Part {
                first: 500,
                last: 999
            }
        );
        assert_eq!(
            r("bytes=-500", 1000),
            Part {
                first: 500,
                last: 999
            }
        );
        assert_eq!(
            r("bytes=-5000", 1000),
            Part {
                first: 0,
                last: 999
            }
        );
        assert_eq!(
            r("bytes=900-5000", 1000),
            Part {
                first: 900,
                last: 999
            }
        );
        assert_eq!(
            r("BYTES = 1-2", 1000),
            Full,
            "no space before = in the grammar"
        );
        assert_eq!(r("Bytes=1-2", 1000), Part { first: 1, last: 2 });
        assert_eq!(r("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(r("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(r("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(r("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(r("bytes=-1", 0), Unsatisfiable);
        assert_eq!(
            r("bytes=0-1,5-6", 1000),
            Full,
            "several ranges: the whole file"
        );
        assert_eq!(r("bytes=2000-,3000-", 1000), Unsatisfiable);
        assert_eq!(r("bytes=0-1, ,", 1000), Part { first: 0, last: 1 });
        assert_eq!(r("bytes=5-1", 1000), Full, "invalid: ignored");
        assert_eq!(r("bytes=a-b", 1000), Full);
        assert_eq!(r("bytes=", 1000), Full);
        assert_eq!(r("items=0-1", 1000), Full);
        assert_eq!(
            r("bytes=99999999999999999999-", 1000),
            Full,
            "overflow: ignored"
        );
    }

    #[test]
    fn etag_lists() {
        assert!(etag_listed(b"\"a\", \"b\"", b"\"b\"", false));
        assert!(etag_listed(b"*", b"\"b\"", false));
        assert!(etag_listed(b"W/\"b\"", b"\"b\"", true));
        assert!(!etag_listed(b"W/\"b\"", b"\"b\"", false));
        assert!(!etag_listed(b"\"c\"", b"\"b\"", true));
    }

    #[test]
    fn media_types() {
        assert_eq!(
            content_type(Path::new("a/B.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.woff2")), "font/woff2");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
