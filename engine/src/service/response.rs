//! Response building and encoding: status line, headers and body straight into the connection's
//! pooled write buffer.
//!
//! A [`Response`] is written in place: creating one copies the pre-rendered
//! `HTTP/1.1 200 OK` + `Server` + `Date` block (one fixed-size copy) to the end of the write
//! buffer, header lines are appended as they are set, and finishing appends `Content-Length`,
//! `Connection` when needed, the blank line and the body. Changing the status rewrites only the
//! status line. The body is referenced (`&'static`, `Bytes`, an owned `Vec`/`String`) or written
//! into a per-worker scratch buffer, and copied once into the write buffer at the end. Nothing
//! allocates in steady state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::proto::date::{DateCache, BLOCK_LEN};
use crate::proto::fields::{
    check_final_status, check_header, is_framing, render_status_line, valid_name, valid_value,
    ResponseError, STATUS_LINE_MAX,
};
use crate::proto::head::Version;
use crate::proto::output::{FileBody, Piece, ZERO_COPY_MIN};
use crate::service::defer::{Cell, Deferred, Inbox};
use crate::service::stream::BodySource;

/// Where the body of a response lives until it is encoded.
#[derive(Debug, Default)]
enum Body {
    #[default]
    Empty,
    Static(&'static [u8]),
    /// In the worker's body scratch buffer.
    Scratch,
    Bytes(Bytes),
    Owned(Vec<u8>),
    File(FileBody),
    Stream(Box<dyn BodySource>),
}

impl std::fmt::Debug for dyn BodySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodySource")
    }
}

impl Body {
    /// The body's length; `scratch` is where a `Scratch` body lives.
    #[inline]
    fn len(&self, scratch: &[u8]) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Static(b) => b.len() as u64,
            Body::Scratch => scratch.len() as u64,
            Body::Bytes(b) => b.len() as u64,
            Body::Owned(v) => v.len() as u64,
            Body::File(f) => f.len,
            Body::Stream(_) => 0,
        }
    }
}

/// Scratch bodies at least this long leave with the response instead of being copied (the
/// worker's scratch is then rebuilt small, as it would be after any large body).
const SCRATCH_HANDOFF_MIN: usize = 64 * 1024;

const R_CLOSE: u8 = 1;
const R_HEAD: u8 = 2;
const R_REFUSED: u8 = 4;

/// What [`Response::defer`] needs from the connection core: where completions go, which
/// connection this is, how many more deferrals the worker takes. Built once per batch of
/// requests on the stack (each response carries its own sequence number); borrowed, so no
/// reference count moves.
pub(crate) struct DeferSite<'a> {
    pub(crate) inbox: &'a Arc<Inbox>,
    pub(crate) token: u64,
    /// When the batch's bytes were read (every request in it shares the reading).
    pub(crate) received: crate::service::clock::Stamp,
    pub(crate) timeout: Duration,
    /// Deferrals the worker still takes (`Limits::max_deferred` less those in flight),
    /// counted down by each one taken in the batch.
    pub(crate) slots: std::cell::Cell<usize>,
    /// Bytes a streamed body may queue ahead of the worker (the write high-water mark).
    pub(crate) stream_limit: usize,
}

/// A deferral taken by the handler: the connection's side of the handle and its deadline.
pub(crate) struct Taken {
    pub(crate) cell: Arc<Cell>,
    pub(crate) deadline: Instant,
}
const OK_LINE_LEN: u16 = 17; // "HTTP/1.1 200 OK\r\n"

/// The response a handler fills in. Starts as `200 OK` with an empty body.
///
/// Framing is strela's job: `Content-Length`, `Transfer-Encoding` and `Connection` set through
/// [`Response::header`] are not copied (use [`Response::close`] to close the connection), and
/// header names or values containing CR, LF or NUL are dropped, so a handler can never split a
/// response; [`Response::try_header`] says so instead. A 1xx status is never a final answer:
/// [`Response::status`] panics on one (the core answers 500), [`Response::try_status`]
/// returns the error.
pub struct Response<'a> {
    out: &'a mut Vec<u8>,
    body_buf: &'a mut Vec<u8>,
    body: Body,
    /// Where this response starts in `out`.
    start: usize,
    line_len: u16,
    status: u16,
    flags: u8,
    /// The request's place on its connection (for a deferral).
    seq: u32,
    site: Option<&'a DeferSite<'a>>,
    taken: Option<Taken>,
    deadline: Option<Duration>,
}

impl<'a> Response<'a> {
    /// Starts a `200 OK` response at the end of `out`; `body_buf` is scratch for the body.
    /// The connection core does this for every request; it is public for benches, fuzzers and
    /// foreign-language bindings that encode responses on their own. Finish with
    /// [`Response::finish`].
    #[inline]
    pub fn new(
        out: &'a mut Vec<u8>,
        body_buf: &'a mut Vec<u8>,
        date: &DateCache,
        head_only: bool,
    ) -> Self {
        let start = out.len();
        out.reserve(256);
        out.extend_from_slice(date.head_200());
        body_buf.clear();
        Response {
            out,
            body_buf,
            body: Body::Empty,
            start,
            line_len: OK_LINE_LEN,
            status: 200,
            flags: if head_only { R_HEAD } else { 0 },
            seq: 0,
            site: None,
            taken: None,
            deadline: None,
        }
    }

    /// Lets the handler defer this response, request `seq` of its connection (the connection
    /// core calls this).
    #[inline]
    pub(crate) fn set_site(&mut self, site: &'a DeferSite<'a>, seq: u32) {
        self.site = Some(site);
        self.seq = seq;
    }

    /// Answers this request later: returns a handle to complete from any thread (see
    /// [`crate::service::defer`]). Whatever was set on this response is dropped; the handler should return
    /// after handing the handle on.
    ///
    /// When the worker already holds `Limits::max_deferred` deferred requests, this response
    /// becomes `503` with `Retry-After: 1` and the handle is inert (completing it does nothing).
    /// A second call in the same handler, or a response made outside a connection, also gives an
    /// inert handle.
    pub fn defer(&mut self) -> Deferred {
        let Some(site) = self.site else {
            return Deferred::inert();
        };
        if self.taken.is_some() || self.flags & R_REFUSED != 0 {
            return Deferred::inert();
        }
        let slots = site.slots.get();
        if slots == 0 {
            self.flags |= R_REFUSED;
            self.reset();
            self.status(503)
                .header("Retry-After", "1")
                .content_type("text/plain")
                .body_static(b"Service Unavailable\n");
            return Deferred::inert();
        }
        let deadline = site.received.instant() + self.deadline.unwrap_or(site.timeout);
        let (d, cell) = Deferred::new(
            site.inbox,
            site.token,
            self.seq,
            deadline,
            site.stream_limit,
        );
        site.slots.set(slots - 1);
        self.taken = Some(Taken { cell, deadline });
        d
    }

    /// Sets the deadline of this request if it is deferred, counted from when its bytes were
    /// read; the default is `Limits::deferred_timeout`. Call before [`Response::defer`] (the
    /// [`Deadline`](crate::app::middleware::Deadline) middleware does it per route).
    pub fn set_deadline(&mut self, d: Duration) -> &mut Self {
        self.deadline = Some(d);
        self
    }

    /// Whether the handler deferred this response (it is answered later).
    #[inline]
    pub fn is_deferred(&self) -> bool {
        self.taken.is_some()
    }

    /// Whether [`Response::defer`] refused a deferral because of the limit.
    pub fn defer_refused(&self) -> bool {
        self.flags & R_REFUSED != 0
    }

    /// The deferral taken by the handler, if any.
    #[inline]
    pub(crate) fn take_deferred(&mut self) -> Option<Taken> {
        self.taken.take()
    }

    /// Applies a completed [`crate::service::defer::Reply`] (already validated header lines).
    pub(crate) fn apply(&mut self, reply: crate::service::defer::Reply) {
        let (status, headers, body, close) = reply.into_parts();
        // A Reply's status was checked when it was set; never panic on the worker regardless.
        if self.try_status(status).is_err() {
            self.status(500);
        }
        self.out.extend_from_slice(&headers);
        if !body.is_empty() {
            self.set_body(Body::Bytes(body));
        }
        if close {
            self.flags |= R_CLOSE;
        }
    }

    #[inline]
    fn headers_start(&self) -> usize {
        self.start + self.line_len as usize + BLOCK_LEN
    }

    /// Sets the status code (200–999).
    ///
    /// # Panics
    /// On a code that cannot be a final status: 1xx (strela sends `100 Continue` itself, and
    /// 101 needs an upgrade strela does not do) or one outside 100..=999. That is a bug in the
    /// handler, so it never reaches the wire: the panic is contained and answered with 500.
    /// [`Response::try_status`] returns the error instead.
    #[inline]
    pub fn status(&mut self, code: u16) -> &mut Self {
        match self.try_status(code) {
            Ok(r) => r,
            Err(e) => panic!("Response::status: {e}"),
        }
    }

    /// Sets the status code, or refuses one that cannot be a final status (1xx, or outside
    /// 100..=999), leaving the response as it was.
    #[inline]
    pub fn try_status(&mut self, code: u16) -> Result<&mut Self, ResponseError> {
        check_final_status(code)?;
        if code != self.status {
            self.set_status_line(code);
        }
        Ok(self)
    }

    #[cold]
    fn set_status_line(&mut self, code: u16) {
        let mut line = [0u8; STATUS_LINE_MAX];
        let len = render_status_line(code, &mut line);
        let at = self.start;
        self.out
            .splice(at..at + self.line_len as usize, line[..len].iter().copied());
        self.line_len = len as u16;
        self.status = code;
    }

    /// The status code set so far.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// Adds a header line, or says why it is refused (a framing header, a name that is not a
    /// token, a value with a control byte), leaving the response as it was.
    pub fn try_header(
        &mut self,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<&mut Self, ResponseError> {
        let v = value.as_ref();
        Response::check_header(name, v)?;
        Ok(self.header(name, v))
    }

    /// Whether a header line may be set, and why not: a framing header, a name that is not a
    /// token, a value with a control byte.
    pub fn check_header(name: &str, value: &[u8]) -> Result<(), ResponseError> {
        check_header(name.as_bytes(), value)
    }

    /// Adds a header line. See the type docs for what is refused.
    #[inline]
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        let name = name.as_bytes();
        if valid_name(name) && valid_value(value) && !is_framing(name) {
            self.out.reserve(name.len() + value.len() + 4);
            self.out.extend_from_slice(name);
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        self
    }

    /// Sets `Content-Type`.
    ///
    /// The usual types are whole pre-rendered lines: with a literal argument the choice is
    /// made at compile time and the call is one fixed-size copy. Any other value is checked
    /// (an invalid one is left out) and copied.
    #[inline(always)]
    pub fn content_type(&mut self, value: &str) -> &mut Self {
        let line: &'static [u8] = match value {
            "text/plain" => b"Content-Type: text/plain\r\n",
            "text/plain; charset=utf-8" => b"Content-Type: text/plain; charset=utf-8\r\n",
            "application/json" => b"Content-Type: application/json\r\n",
            "text/html; charset=utf-8" => b"Content-Type: text/html; charset=utf-8\r\n",
            "application/octet-stream" => b"Content-Type: application/octet-stream\r\n",
            _ => return self.content_type_any(value),
        };
        self.out.extend_from_slice(line);
        self
    }

    /// [`Response::content_type`] for a value without a pre-rendered line.
    #[inline(never)]
    fn content_type_any(&mut self, value: &str) -> &mut Self {
        let value = value.as_bytes();
        if valid_value(value) {
            self.out.reserve(value.len() + 16);
            self.out.extend_from_slice(b"Content-Type: ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        self
    }

    /// Uses a static body: copied once into the write buffer if it is small, written by
    /// reference (no copy) if it is large.
    #[inline]
    pub fn body_static(&mut self, body: &'static [u8]) -> &mut Self {
        self.set_body(Body::Static(body));
        self
    }

    /// Copies `body` into the worker's scratch buffer (reused: no allocation in steady state).
    pub fn body(&mut self, body: &[u8]) -> &mut Self {
        self.body_buf.clear();
        self.body_buf.extend_from_slice(body);
        self.set_body(Body::Scratch);
        self
    }

    /// Takes ownership of a `String` body (a large one is written without a copy).
    pub fn body_string(&mut self, body: String) -> &mut Self {
        self.set_body(Body::Owned(body.into_bytes()));
        self
    }

    /// Uses a shared `Bytes` body (reference-counted; a large one is written by reference,
    /// never copied). A `Vec<u8>` becomes one without a copy: `res.body_bytes(vec.into())`.
    pub fn body_bytes(&mut self, body: Bytes) -> &mut Self {
        self.set_body(Body::Bytes(body));
        self
    }

    /// Sends `len` bytes of `file` from `offset` as the body, with `sendfile(2)`: the bytes go
    /// from the page cache to the socket without passing through user space, and memory use
    /// does not depend on the file's size. The response owns `file` and closes it when the body
    /// is sent or the connection closes. If the file turns out shorter than `offset + len`
    /// while it is sent, the connection is closed rather than send a wrong length. For whole
    /// files with ranges and conditional requests see `strela::app::files`.
    pub fn body_file(&mut self, file: std::fs::File, offset: u64, len: u64) -> &mut Self {
        self.body_buf.clear();
        self.set_body(Body::File(FileBody { file, offset, len }));
        self
    }

    /// Streams the body from `source`, part by part as the connection has room for it
    /// (`Transfer-Encoding: chunked` to HTTP/1.1 clients; to HTTP/1.0 clients the body ends
    /// with the connection). See [`crate::service::stream`]. Answers queued behind it on the
    /// same connection wait until it ends.
    pub fn stream(&mut self, source: impl BodySource) -> &mut Self {
        self.body_buf.clear();
        self.set_body(Body::Stream(Box::new(source)));
        self
    }

    /// Whether the handler chose to stream the body.
    #[inline]
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.body, Body::Stream(_))
    }

    /// Replaces the body. The usual bodies own nothing, so the old one is dropped only when it
    /// does (keeps the drop glue of the rarer kinds off the hot path).
    #[inline(always)]
    fn set_body(&mut self, b: Body) {
        if !matches!(self.body, Body::Empty | Body::Static(_) | Body::Scratch) {
            drop_body(&mut self.body);
        }
        // What is replaced owns nothing now, so forgetting it skips only the drop glue.
        std::mem::forget(std::mem::replace(&mut self.body, b));
    }

    /// The body source, if the handler chose to stream.
    pub(crate) fn take_stream(&mut self) -> Option<Box<dyn BodySource>> {
        match std::mem::take(&mut self.body) {
            Body::Stream(s) => Some(s),
            other => {
                self.body = other;
                None
            }
        }
    }

    /// Finishes the head of a streamed response: `Transfer-Encoding: chunked` when `chunked`,
    /// else no length at all (the body ends with the connection, so `keep_alive` is false);
    /// then the blank line. Returns whether a body follows (not for HEAD, 204, 304).
    pub(crate) fn finish_stream(self, keep_alive: bool, version: Version, chunked: bool) -> bool {
        let has_body = !(self.status < 200 || self.status == 204 || self.status == 304);
        if has_body && chunked {
            self.out
                .extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        let tail = head_tail(true, keep_alive, version);
        self.out.extend_from_slice(&tail[2..]);
        has_body && self.flags & R_HEAD == 0
    }

    /// A writer for the body: the worker's scratch buffer, emptied. Use with `write!` or
    /// `serde_json::to_writer`; it replaces any body set before.
    pub fn body_writer(&mut self) -> &mut Vec<u8> {
        self.body_buf.clear();
        self.set_body(Body::Scratch);
        self.body_buf
    }

    /// Serialises `value` as the JSON body with `Content-Type: application/json`.
    /// A value that fails to serialise turns the response into a 500 (headers set so far dropped).
    pub fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        if serde_json::to_writer(self.body_writer(), value).is_ok() {
            self.content_type("application/json")
        } else {
            self.body_buf.clear();
            let h = self.headers_start();
            self.out.truncate(h);
            self.status(500).body_static(b"Internal Server Error\n")
        }
    }

    /// Closes the connection after this response is written.
    pub fn close(&mut self) -> &mut Self {
        self.flags |= R_CLOSE;
        self
    }

    /// Whether the connection will be closed after this response.
    #[inline]
    pub fn will_close(&self) -> bool {
        self.flags & R_CLOSE != 0
    }

    /// The length of the body set so far.
    pub fn body_len(&self) -> u64 {
        self.body.len(self.body_buf)
    }

    /// The extra header lines set so far (`Name: value\r\n` each).
    pub fn rendered_headers(&self) -> &[u8] {
        &self.out[self.headers_start()..]
    }

    /// Forgets the headers and body set so far and goes back to `200 OK` (for middleware that
    /// replaces a handler's answer, e.g. with a 500 or a 401).
    pub fn reset(&mut self) {
        let h = self.headers_start();
        self.out.truncate(h);
        self.set_body(Body::Empty);
        self.body_buf.clear();
        self.status(200);
    }

    /// Whether this answers a HEAD request (the body is not sent).
    #[inline]
    pub(crate) fn is_head_only(&self) -> bool {
        self.flags & R_HEAD != 0
    }

    /// Removes the `n` bytes written right before this response (see `dispatch`).
    pub(crate) fn unprefix(&mut self, n: usize) {
        self.out.drain(self.start - n..self.start);
        self.start -= n;
    }

    /// Removes everything this response wrote (a handler failed: its partial answer is dropped).
    pub fn discard(self) {
        self.out.truncate(self.start);
    }

    /// Finishes the response: `Content-Length`, `Connection` when needed, the blank line, the
    /// body. `keep_alive` is whether the connection persists after it. A small body is copied
    /// after the head; a large one (or a file) is returned, to be written by reference right
    /// after it.
    #[inline]
    pub fn finish(mut self, keep_alive: bool, version: Version) -> Option<Piece> {
        let mut piece = None;
        self.finish_ref(keep_alive, version, &mut piece);
        piece
    }

    /// Ends a finished response. The usual one owns nothing (an empty, static or scratch body,
    /// no deferral): dropping it would only run the out-of-line drop glue to find that out,
    /// so it is forgotten instead (equivalent: there is nothing to free); any other is dropped.
    #[inline(always)]
    pub(crate) fn dispose(self) {
        if self.taken.is_none()
            && matches!(self.body, Body::Empty | Body::Static(_) | Body::Scratch)
        {
            std::mem::forget(self);
        } else {
            drop(self);
        }
    }

    /// Whether this response is neither deferred nor a stream (what
    /// [`Response::finish_ref`] finishes).
    #[inline(always)]
    pub(crate) fn is_plain(&self) -> bool {
        self.taken.is_none() && !self.is_stream()
    }

    /// [`Response::finish`] through a reference, leaving a body by reference in `piece`
    /// (untouched otherwise): the response is not moved (a copy of the whole struct per
    /// request); the usual bodies stay where they are and are dropped with the response (they
    /// own nothing); a large or file body is taken out as the piece.
    #[inline(always)]
    pub(crate) fn finish_ref(
        &mut self,
        keep_alive: bool,
        version: Version,
        piece: &mut Option<Piece>,
    ) {
        let status = self.status;
        let bytes: &[u8] = match &self.body {
            Body::Empty => &[],
            Body::Static(b) => b,
            Body::Scratch => &*self.body_buf,
            Body::Bytes(b) => b,
            Body::Owned(v) => v,
            Body::File(_) | Body::Stream(_) => {
                return self.finish_taken(keep_alive, version, piece)
            }
        };
        let has_body = !(status < 200 || status == 204 || status == 304);
        let send_body = has_body && self.flags & R_HEAD == 0;
        let by_ref = send_body && bytes.len() >= ZERO_COPY_MIN;
        let out = &mut *self.out;
        if has_body && keep_alive && version == Version::Http11 && bytes.len() < SMALL_END_MAX {
            // The usual end: the length line (its digits and the blank line as one word) and
            // a small body, in reserved room with one length update.
            let (tail, n) = length_tail(bytes.len());
            end_small(out, tail, n, if send_body { bytes } else { &[] });
            return;
        }
        out.reserve(48 + if send_body && !by_ref { bytes.len() } else { 0 });
        if has_body {
            let mut cl = itoa::Buffer::new();
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(cl.format(bytes.len()).as_bytes());
        }
        out.extend_from_slice(head_tail(has_body, keep_alive, version));
        if by_ref {
            *piece = by_reference(std::mem::take(&mut self.body), self.body_buf);
            return;
        }
        if send_body {
            extend_small(out, bytes);
        }
    }

    /// [`Response::finish_ref`] for a file body: the head here, the file range as the piece.
    #[cold]
    fn finish_taken(&mut self, keep_alive: bool, version: Version, piece: &mut Option<Piece>) {
        let Body::File(f) = std::mem::take(&mut self.body) else {
            return; // dispatch takes streams out before finishing
        };
        let has_body = !(self.status < 200 || self.status == 204 || self.status == 304);
        if has_body {
            let mut cl = itoa::Buffer::new();
            self.out.extend_from_slice(b"Content-Length: ");
            self.out.extend_from_slice(cl.format(f.len).as_bytes());
        }
        self.out
            .extend_from_slice(head_tail(has_body, keep_alive, version));
        *piece = (has_body && self.flags & R_HEAD == 0).then_some(Piece::File(f));
    }
}

/// Bodies below this many bytes end through [`end_small`] (their length has at most four
/// digits, and they are always copied, never written by reference).
const SMALL_END_MAX: usize = 10_000;
const _: () = assert!(SMALL_END_MAX <= ZERO_COPY_MIN);

/// Appends `Content-Length: `, the first `n` bytes of `tail` (from [`length_tail`]) and
/// `body`: one reservation, fixed-size stores ([`copy_small`] for the body) and one length
/// update — no capacity check per piece.
#[allow(unsafe_code)]
#[inline(always)]
fn end_small(out: &mut Vec<u8>, tail: u64, n: usize, body: &[u8]) {
    const NAME: &[u8; 16] = b"Content-Length: ";
    debug_assert!(n <= 8);
    let len = body.len();
    out.reserve(16 + 8 + len);
    let at = out.len();
    // SAFETY: `reserve` left room for 16 + 8 + `len` bytes after `at`. The stores stay inside
    // it: the name's 16 bytes, the tail as one 8-byte word after it (`n` <= 8 of its bytes
    // count; the body overwrites the rest), the body's `len` bytes from 16 + `n`. Every byte
    // up to the new length has been written before `set_len`.
    unsafe {
        let p = out.as_mut_ptr().add(at);
        std::ptr::copy_nonoverlapping(NAME.as_ptr(), p, 16);
        p.add(16).cast::<u64>().write_unaligned(tail.to_le());
        copy_small(body, p.add(16 + n));
        out.set_len(at + 16 + n + len);
    }
}

/// Copies `b` to `d`: a body of 8 to 32 bytes as two overlapping fixed-size loads and stores
/// (no `memcpy` call, which costs more than the copy at this size), any other by `memcpy`.
///
/// # Safety
/// `d` must be valid for `b.len()` bytes of writes and must not overlap `b`.
#[allow(unsafe_code)]
#[inline(always)]
unsafe fn copy_small(b: &[u8], d: *mut u8) {
    let len = b.len();
    let s = b.as_ptr();
    // SAFETY: the loads read whole words that start at `s` or end at `s + len`, only when
    // `len` is at least the word's size, so they stay inside `b`; the stores likewise stay
    // inside `d..d + len`, which the caller guarantees is writable and disjoint from `b`.
    unsafe {
        if (8..=16).contains(&len) {
            let (lo, hi) = (
                s.cast::<u64>().read_unaligned(),
                s.add(len - 8).cast::<u64>().read_unaligned(),
            );
            d.cast::<u64>().write_unaligned(lo);
            d.add(len - 8).cast::<u64>().write_unaligned(hi);
        } else if (17..=32).contains(&len) {
            let (lo, hi) = (
                s.cast::<u128>().read_unaligned(),
                s.add(len - 16).cast::<u128>().read_unaligned(),
            );
            d.cast::<u128>().write_unaligned(lo);
            d.add(len - 16).cast::<u128>().write_unaligned(hi);
        } else {
            std::ptr::copy_nonoverlapping(s, d, len);
        }
    }
}

/// The rest of `Content-Length: N\r\n\r\n` for `N` below 10,000 — the digits and the blank
/// line — as one little-endian word and how many of its bytes count (at most 8). The digits
/// come in pairs from a table (one division by 100 at most, no loop).
#[inline(always)]
fn length_tail(len: usize) -> (u64, usize) {
    debug_assert!(len < 10_000);
    const CRLF2: u64 = u32::from_le_bytes(*b"\r\n\r\n") as u64;
    let pair = |v: usize| u64::from(PAIRS[2 * v]) | u64::from(PAIRS[2 * v + 1]) << 8;
    let (digits, n) = if len < 10 {
        (u64::from(b'0' + len as u8), 1)
    } else if len < 100 {
        (pair(len), 2)
    } else if len < 1000 {
        (
            u64::from(b'0' + (len / 100) as u8) | pair(len % 100) << 8,
            3,
        )
    } else {
        (pair(len / 100) | pair(len % 100) << 16, 4)
    };
    (digits | CRLF2 << (8 * n), n + 4)
}

/// `00` to `99`, two bytes each.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                            2021222324252627282930313233343536373839\
                            4041424344454647484950515253545556575859\
                            6061626364656667686970717273747576777879\
                            8081828384858687888990919293949596979899";

/// Appends `b` to `out`: one reservation and [`copy_small`] (no `memcpy` call for 8 to 32
/// bytes), one length update.
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn extend_small(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    out.reserve(n);
    let at = out.len();
    // SAFETY: `reserve` left room for `n` bytes after `at`, which cannot overlap `b` (a
    // shared borrow while `out` is borrowed mutably); `copy_small` writes exactly those `n`
    // bytes before `set_len` counts them.
    unsafe {
        copy_small(b, out.as_mut_ptr().add(at));
        out.set_len(at + n);
    }
}

/// The end of a head after its `Content-Length` line (if it has one): the `Connection` line a
/// client needs and the blank line.
#[inline(always)]
fn head_tail(has_length: bool, keep_alive: bool, version: Version) -> &'static [u8] {
    let tail: &'static [u8] = match (keep_alive, version) {
        (false, _) => b"\r\nConnection: close\r\n\r\n",
        (true, Version::Http10) => b"\r\nConnection: keep-alive\r\n\r\n",
        (true, Version::Http11) => b"\r\n\r\n",
    };
    // Without a Content-Length line the tail's leading CRLF would be an empty line too soon.
    if has_length {
        tail
    } else {
        &tail[2..]
    }
}

#[cold]
#[inline(never)]
fn drop_body(b: &mut Body) {
    drop(std::mem::take(b));
}

/// A large body as a piece written after the head, without copying its bytes.
#[cold]
fn by_reference(body: Body, scratch: &mut Vec<u8>) -> Option<Piece> {
    Some(match body {
        Body::Empty => return None,
        Body::Static(b) => Piece::Bytes(Bytes::from_static(b)),
        Body::Bytes(b) => Piece::Bytes(b),
        Body::Owned(v) => Piece::Bytes(Bytes::from(v)),
        Body::File(f) => Piece::File(f), // (finish_taken sends files; kept for completeness)
        Body::Stream(_) => return None,
        Body::Scratch if scratch.len() >= SCRATCH_HANDOFF_MIN => {
            Piece::Bytes(Bytes::from(std::mem::take(scratch)))
        }
        // Between the zero-copy and the hand-off sizes: one copy, and the scratch stays.
        Body::Scratch => Piece::Bytes(Bytes::copy_from_slice(scratch)),
    })
}

impl std::fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_tail_renders_every_length_below_ten_thousand() {
        for len in 0..10_000 {
            let (w, n) = length_tail(len);
            assert_eq!(&w.to_le_bytes()[..n], format!("{len}\r\n\r\n").as_bytes());
        }
    }

    #[test]
    fn extend_small_appends_exactly_the_bytes_at_every_length_and_capacity() {
        let src: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for n in 0..=40 {
            for (before, cap) in [(0, 0), (3, 8), (5, 64), (100, 128)] {
                let mut out = Vec::with_capacity(cap);
                out.extend((0..before).map(|i| i as u8));
                let mut want = out.clone();
                want.extend_from_slice(&src[7..7 + n]);
                extend_small(&mut out, &src[7..7 + n]);
                assert_eq!(out, want, "n={n} before={before} cap={cap}");
            }
        }
    }

    #[test]
    fn end_small_appends_the_length_line_and_body_at_every_length_and_capacity() {
        let src: Vec<u8> = (0..128u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for len in (0..=70).chain([99, 100, 1000]) {
            let body = &src.repeat(8)[3..3 + len];
            for (before, cap) in [(0, 0), (3, 8), (5, 64), (100, 128), (7, 7 + 16 + 8 + len)] {
                let mut out = Vec::with_capacity(cap);
                out.extend((0..before).map(|i| i as u8));
                let mut want = out.clone();
                want.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
                want.extend_from_slice(body);
                let (tail, n) = length_tail(len);
                end_small(&mut out, tail, n, body);
                assert_eq!(out, want, "len={len} before={before} cap={cap}");
            }
        }
    }

    fn render(f: impl FnOnce(&mut Response<'_>), keep_alive: bool, head: bool) -> String {
        let (mut b, mut out) = (Vec::new(), b"previous".to_vec());
        let mut res = Response::new(&mut out, &mut b, &DateCache::new(0), head);
        f(&mut res);
        res.finish(keep_alive, Version::Http11);
        let s = String::from_utf8(out).unwrap();
        s.strip_prefix("previous")
            .expect("earlier output untouched")
            .to_string()
    }

    const DATE: &str = "Server: strela\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n";

    #[test]
    fn encodes_status_headers_body() {
        let s = render(
            |r| {
                r.content_type("text/plain").body_static(b"hi");
            },
            true,
            false,
        );
        assert_eq!(
            s,
            format!(
                "HTTP/1.1 200 OK\r\n{DATE}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
            )
        );
    }

    #[test]
    fn unusual_status_gets_a_rendered_line_and_close() {
        let s = render(
            |r| {
                r.status(418);
            },
            false,
            false,
        );
        assert_eq!(
            s,
            format!("HTTP/1.1 418 Unknown\r\n{DATE}Content-Length: 0\r\nConnection: close\r\n\r\n")
        );
    }

    #[test]
    fn head_and_no_body_statuses() {
        let s = render(
            |r| {
                r.body(b"abc");
            },
            true,
            true,
        );
        assert!(s.ends_with("Content-Length: 3\r\n\r\n"), "{s}");
        let s = render(
            |r| {
                r.status(204).body(b"abc");
            },
            true,
            false,
        );
        assert!(
            !s.contains("Content-Length") && s.ends_with("\r\n\r\n"),
            "{s}"
        );
    }

    #[test]
    fn refuses_response_splitting_and_framing_headers() {
        let s = render(
            |r| {
                r.header("X-A", "ok\r\nX-Evil: 1")
                    .header("Bad Name", "v")
                    .header("content-length", "99")
                    .header("X-Good", "fine");
            },
            true,
            false,
        );
        assert!(
            !s.contains("Evil") && !s.contains("99") && !s.contains("Bad Name"),
            "{s}"
        );
        assert!(s.contains("X-Good: fine\r\n"));
    }

    #[test]
    fn value_validation_matches_the_byte_table() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..200 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        // Mostly printable, sometimes a control, tab, DEL or high byte.
                        match rng % 16 {
                            0 => (rng >> 8) as u8 % 0x20,
                            1 => 0x7f,
                            2 => b'\t',
                            3 => 0x80 | (rng >> 8) as u8,
                            _ => b' ' + (rng >> 8) as u8 % 95,
                        }
                    })
                    .collect();
                let want = v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
                assert_eq!(valid_value(&v), want, "{v:?}");
            }
        }
    }

    #[test]
    fn json_helper_and_invalid_status() {
        let s = render(
            |r| {
                assert_eq!(
                    r.try_status(42).err(),
                    Some(ResponseError::NotAFinalStatus(42))
                );
                for interim in [100, 101, 199] {
                    assert!(r.try_status(interim).is_err(), "{interim}");
                }
                assert_eq!(
                    r.try_header("content-length", "1").err(),
                    Some(ResponseError::FramingHeader)
                );
                r.json(&serde_json::json!({"a": 1}));
            },
            true,
            false,
        );
        assert!(
            s.starts_with("HTTP/1.1 200 "),
            "a refused status leaves the response as it was"
        );
        assert!(
            s.contains("Content-Type: application/json\r\n") && s.ends_with("{\"a\":1}"),
            "{s}"
        );
    }
}
