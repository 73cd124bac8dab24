//! The sans-IO connection: bytes in → requests → response bytes out. No sockets, no threads.
//!
//! The worker (or a test, bench or fuzzer) moves bytes: it asks [`Conn::read_buf`] for room, reads
//! into it, calls [`Conn::process`], writes [`Conn::output`] and reports what was written with
//! [`Conn::consume`]. `process` answers every complete request in the buffer (pipelining), in
//! order, appending all responses of the batch to one write buffer.
//!
//! A partial head is handled without quadratic work: the first attempt hands the buffer to
//! httparse; once that says "partial", later reads only scan their own new bytes for the end of
//! the head (memchr), and httparse runs again only when it is there.
//!
//! Buffers come from the worker's [`BufPool`] and go back as soon as the connection is idle: an
//! idle keep-alive connection holds no buffer. `Conn` is 80 bytes.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::date::DateCache;
use crate::error::RequestError;
use crate::handler::Handler;
use crate::limits::Limits;
use crate::pool::BufPool;
use crate::proto::body::{self, ChunkedDecoder, Progress};
use crate::proto::encode::Response;
use crate::proto::head::{self, HeaderScratch, Method, Parsed, Request, RequestMeta};

/// Per-worker state the protocol core needs: limits, the date block, the buffer pool and scratch
/// space reused by every request. One per worker; never shared between threads.
pub struct Context {
    /// Limits applied to every connection (already normalized).
    pub limits: Limits,
    /// The `Server`/`Date` block; refresh it from the event loop.
    pub date: DateCache,
    /// The worker's buffer pool.
    pub pool: BufPool,
    /// Counters of what this worker's connections did.
    pub stats: Stats,
    /// Facts for the next request: the worker sets `received` once per event-loop turn and
    /// `peer` before processing each connection; `id` is advanced per request.
    pub meta: RequestMeta,
    /// The server is shutting down: responses carry `Connection: close`.
    pub draining: bool,
    scratch: Box<HeaderScratch>,
    resp_body: Vec<u8>,
}

/// Plain per-worker counters (no atomics: one thread owns them).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Requests answered by a handler.
    pub requests: u64,
    /// Requests refused by the protocol core (4xx/5xx before any handler ran).
    pub rejected: u64,
    /// Handlers that panicked (each answered 500, connection closed, worker unharmed).
    pub panics: u64,
    /// Connections closed by a timeout (header, idle or write).
    pub timeouts: u64,
    /// Times httparse was run on a head (complete or not): shows that a trickled head is not
    /// re-parsed on every read.
    pub head_parses: u64,
}

impl Context {
    /// A context for `limits`, with the date rendered for now.
    pub fn new(limits: &Limits) -> Self {
        let limits = limits.normalized();
        Context {
            pool: BufPool::new(limits.buffer_size, limits.pooled_buffers),
            limits,
            date: DateCache::now(),
            stats: Stats::default(),
            meta: RequestMeta::default(),
            draining: false,
            scratch: Box::default(),
            resp_body: Vec::with_capacity(1024),
        }
    }
}

const C_CLOSE: u8 = 1; // answer nothing more; close once the output is written
const C_EOF: u8 = 2; // the peer closed its sending side
const C_CONTINUED: u8 = 4; // "100 Continue" was sent for the request in progress

/// Length of an empty line (`CRLF` or bare `LF`) at the start of `b`, if there is one.
#[cold]
fn skip_empty_line(b: &[u8]) -> Option<usize> {
    match b {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n', ..] => Some(1),
        _ => None,
    }
}

/// One HTTP/1.1 connection's protocol state and buffers.
#[derive(Debug, Default)]
pub struct Conn {
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Start of the unparsed bytes in `rbuf`.
    rpos: u32,
    /// When non-zero: a partial head starts at `rpos` and `rbuf[..scan]` has been searched.
    scan: u32,
    /// When non-zero: a complete head at `rpos` waits for its body; this many bytes are needed.
    need: u32,
    /// Bytes of `wbuf` already written.
    wpos: u32,
    flags: u8,
    /// A chunked body in progress across reads (boxed: most connections never need one).
    chunked: Option<Box<ChunkedDecoder>>,
}

const _: () = assert!(std::mem::size_of::<Conn>() <= 80);

impl Conn {
    /// A new connection with no buffers.
    pub fn new() -> Self {
        Conn::default()
    }

    /// The read buffer with spare room at its end: read into its spare capacity, then call
    /// [`Conn::process`]. Takes a buffer from the pool if the connection holds none.
    #[inline]
    pub fn read_buf(&mut self, cx: &mut Context) -> &mut Vec<u8> {
        if self.rbuf.capacity() == 0 {
            self.rbuf = cx.pool.get();
        } else if self.rbuf.capacity() - self.rbuf.len() < 512 {
            self.make_room();
        }
        &mut self.rbuf
    }

    /// Compacts unparsed bytes to the front, or grows the buffer when they already fill it.
    /// Growth is bounded: `process` refuses heads and bodies beyond the limits first.
    #[cold]
    fn make_room(&mut self) {
        let rpos = self.rpos as usize;
        if rpos > 0 {
            self.rbuf.drain(..rpos);
            self.scan = self.scan.saturating_sub(self.rpos);
            self.rpos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < 512 {
            self.rbuf.reserve(self.rbuf.capacity().max(4096));
        }
    }

    /// Appends `data` to the read buffer (for tests, benches and fuzzers that have no socket).
    pub fn feed(&mut self, data: &[u8], cx: &mut Context) {
        let buf = self.read_buf(cx);
        buf.extend_from_slice(data);
    }

    /// Parses and answers every complete request in the read buffer. Returns how many requests
    /// were answered (errors included). Stops at the first request that closes the connection.
    pub fn process<H: Handler + ?Sized>(&mut self, handler: &H, cx: &mut Context) -> usize {
        let mut answered = 0;
        loop {
            let len = self.rbuf.len();
            let start = self.rpos as usize;
            if self.flags & C_CLOSE != 0 {
                self.rpos = len as u32; // nothing after a closing request is read
                break;
            }
            if start == len {
                break;
            }
            // Empty lines before a request line are skipped here, incrementally (RFC 9112 §2.2),
            // so the blank-line search below never mistakes them for the end of a head.
            // One byte compare on the common path; the skipping itself is cold.
            if self.scan == 0 && self.need == 0 && matches!(self.rbuf[start], b'\r' | b'\n') {
                match skip_empty_line(&self.rbuf[start..]) {
                    Some(n) => {
                        self.rpos += n as u32;
                        continue;
                    }
                    None if self.rbuf.len() - start == 1 => break, // a lone CR: the next byte decides
                    None => {}
                }
            }
            let buf = &self.rbuf[start..];
            if self.need != 0 && buf.len() < self.need as usize {
                break; // still waiting for the body
            }
            if self.scan != 0 {
                let searched = self.scan as usize - start;
                if head::find_head_end(buf, searched).is_none() {
                    if let Some(e) = head::partial_limit(buf, searched, &cx.limits) {
                        self.reject(e, cx);
                        answered += 1;
                        continue;
                    }
                    self.scan = len as u32;
                    break;
                }
            }
            cx.stats.head_parses += 1;
            let head = match head::parse_head(buf, &mut cx.scratch, &cx.limits) {
                Ok(Parsed::Complete(h)) => h,
                Ok(Parsed::Partial) => {
                    self.scan = len as u32;
                    break;
                }
                Err(e) => {
                    self.reject(e, cx);
                    answered += 1;
                    continue;
                }
            };
            self.scan = 0;
            let mut head = head;
            let head_len = head.head_len as usize;
            // Bytes the whole message takes in the buffer, and the body's length once decoded.
            let consumed = if head.is_chunked() {
                let mut dec = self.chunked.take().map(|b| *b).unwrap_or_default();
                match dec.advance(&buf[head_len..], cx.limits.max_body_bytes as u64) {
                    Ok(Progress::Done { encoded, .. }) => head_len + encoded,
                    Ok(Progress::Partial) => {
                        self.chunked = Some(Box::new(dec));
                        self.need = (buf.len() + 1) as u32; // wait for more bytes
                        self.send_continue(&head, cx);
                        break;
                    }
                    Err(e) => {
                        self.reject(e, cx);
                        answered += 1;
                        continue;
                    }
                }
            } else {
                // Bounded by Limits::max_body_bytes (≤ usize) in parse_head.
                let total = head_len + head.content_length as usize;
                if buf.len() < total {
                    self.need = total as u32;
                    self.send_continue(&head, cx);
                    break;
                }
                total
            };
            self.flags &= !C_CONTINUED;
            self.need = 0;
            if head.is_chunked() {
                // Complete and validated: move the chunks' data together, in the read buffer.
                let body = &mut self.rbuf[start + head_len..start + consumed];
                head.content_length = body::decode_in_place(body) as u64;
            }
            let buf = &self.rbuf[start..];
            let total = head_len + head.content_length as usize;

            cx.meta.id += 1;
            let req = Request::new(
                &buf[..total],
                head,
                head::spans(&cx.scratch, &head),
                &cx.meta,
            );
            if self.wbuf.capacity() == 0 {
                self.wbuf = cx.pool.get();
            }
            let head_only = head.method_kind == Method::Head;
            let mut res = Response::new(&mut self.wbuf, &mut cx.resp_body, &cx.date, head_only);
            // A panicking handler must not take the worker down: its partial response is
            // dropped and the client gets a 500 and a close. Free on the happy path.
            let ran = catch_unwind(AssertUnwindSafe(|| handler.call(&req, &mut res)));
            answered += 1;
            if ran.is_err() {
                res.discard();
                cx.stats.panics += 1;
                self.fail(500, cx);
                continue;
            }
            let keep_alive = req.keep_alive() && !res.will_close() && !cx.draining;
            res.finish(keep_alive, head.version);
            cx.stats.requests += 1;
            self.rpos = (start + consumed) as u32;
            if !keep_alive {
                self.flags |= C_CLOSE;
            }
        }
        if self.rpos as usize == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            self.scan = 0;
        }
        answered
    }

    /// `Expect: 100-continue` and the body is still to come: tell the client to send it (once per
    /// request). strela reads every body for its handler, so the answer is always "continue";
    /// a body over the limit was already refused with 413 from its Content-Length.
    fn send_continue(&mut self, head: &head::Head, cx: &mut Context) {
        if head.expects_continue() && self.flags & C_CONTINUED == 0 {
            self.flags |= C_CONTINUED;
            if self.wbuf.capacity() == 0 {
                self.wbuf = cx.pool.get();
            }
            self.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// Answers a request the core refused: its status, a one-line body, and close.
    #[cold]
    fn reject(&mut self, e: RequestError, cx: &mut Context) {
        cx.stats.rejected += 1;
        self.fail(e.status(), cx);
    }

    /// Answers `status` with a one-line body and closes; nothing after it is read.
    #[cold]
    fn fail(&mut self, status: u16, cx: &mut Context) {
        if self.wbuf.capacity() == 0 {
            self.wbuf = cx.pool.get();
        }
        let mut res = Response::new(&mut self.wbuf, &mut cx.resp_body, &cx.date, false);
        res.status(status).content_type("text/plain");
        let body = res.body_writer();
        body.extend_from_slice(crate::proto::encode::reason(status).as_bytes());
        body.push(b'\n');
        res.finish(false, head::Version::Http11);
        self.flags |= C_CLOSE;
        self.rpos = self.rbuf.len() as u32;
        self.scan = 0;
        self.need = 0;
        self.chunked = None;
    }

    /// Response bytes waiting to be written.
    #[inline]
    pub fn output(&self) -> &[u8] {
        &self.wbuf[self.wpos as usize..]
    }

    /// Whether response bytes wait to be written.
    #[inline]
    pub fn has_output(&self) -> bool {
        (self.wpos as usize) < self.wbuf.len()
    }

    /// Marks `n` bytes of [`Conn::output`] as written.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        let w = self.wpos as usize + n;
        debug_assert!(w <= self.wbuf.len());
        if w >= self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        } else {
            self.wpos = w as u32;
        }
    }

    /// Records that the peer closed its sending side (read returned 0).
    pub fn set_eof(&mut self) {
        self.flags |= C_EOF;
    }

    /// Whether no more requests will be read: the connection closes once its output is written.
    #[inline]
    pub fn is_closing(&self) -> bool {
        self.flags & (C_CLOSE | C_EOF) != 0
    }

    /// Whether the connection is finished: closing and nothing left to write.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.is_closing() && !self.has_output()
    }

    /// Whether the worker should read more: not closing, and the unsent output is below the
    /// write high-water mark (backpressure against clients that do not read their responses).
    #[inline]
    pub fn wants_read(&self, limits: &Limits) -> bool {
        !self.is_closing() && self.output().len() < limits.write_high_water
    }

    /// Whether a request head has started and is not complete yet (the header timeout applies).
    #[inline]
    pub fn reading_head(&self) -> bool {
        self.mid_request() && self.need == 0
    }

    /// Answers `408 Request Timeout` and closes (the head did not arrive in time).
    pub fn timeout_response(&mut self, cx: &mut Context) {
        self.fail(408, cx);
    }

    /// Whether bytes of an unfinished request are buffered (mid-head or mid-body).
    pub fn mid_request(&self) -> bool {
        (self.rpos as usize) < self.rbuf.len()
    }

    /// Gives empty buffers back to the pool, so an idle connection holds none.
    #[inline]
    pub fn release_idle(&mut self, pool: &mut BufPool) {
        if self.rbuf.is_empty() && self.rbuf.capacity() != 0 {
            pool.put(std::mem::take(&mut self.rbuf));
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() != 0 {
            pool.put(std::mem::take(&mut self.wbuf));
        }
    }

    /// Gives every buffer back to the pool (the connection is being closed).
    pub fn release_all(&mut self, pool: &mut BufPool) {
        self.rbuf.clear();
        self.wbuf.clear();
        self.rpos = 0;
        self.wpos = 0;
        self.release_idle(pool);
    }

    /// Bytes of buffer memory this connection holds (capacity of both buffers).
    pub fn buffer_bytes(&self) -> usize {
        self.rbuf.capacity() + self.wbuf.capacity()
    }
}
