//! The sans-IO connection: bytes in → requests → response bytes out. No sockets, no threads.
//!
//! The worker (or a test, bench or fuzzer) moves bytes: it asks [`Conn::read_buf`] for room, reads
//! into it, calls [`Conn::process`], writes [`Conn::output`] and reports what was written with
//! [`Conn::consume`]. `process` answers every complete request in the buffer (pipelining), in
//! order, appending all responses of the batch to one write buffer.
//!
//! A partial head is handled without quadratic work: the first attempt parses the buffer; once
//! that says "partial", later reads only judge their own new bytes, resuming the grammar from
//! the saved cursor (so a byte that cannot belong to a request is refused the moment it
//! arrives), and the full parse runs again only once the head is complete.
//!
//! Buffers come from the worker's [`BufPool`] and go back as soon as the connection is idle: an
//! idle keep-alive connection holds no buffer. `Conn` is 80 bytes.
//!
//! Deferred responses keep the order: once a handler defers, the connection holds a queue of
//! slots — waiting for a completion, or responses already encoded behind it — and output moves
//! to the write buffer strictly in request order as the front slots resolve. The queue (and a
//! chunked decoder in progress) lives in a box allocated the first time a connection needs it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crate::date::DateCache;
use crate::defer::{Cell, Done, Inbox, Reply};
use crate::error::RequestError;
use crate::handler::{Handler, Refusal};
use crate::limits::Limits;
use crate::metrics::status_class;
use crate::pool::BufPool;
use crate::proto::body::{self, ChunkedDecoder, Progress};
use crate::proto::encode::{DeferSite, Response};
use crate::proto::grammar::Scan;
use crate::proto::head::{
    self, Cursor, HeaderScratch, Method, Parsed, Request, RequestMeta, Version,
};

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
    /// Where completed deferred replies arrive for this worker.
    pub inbox: Arc<Inbox>,
    /// The token of the connection being processed (the worker sets it, like `meta.peer`);
    /// deferred handles carry it back.
    pub token: u64,
    /// Deferred requests in flight on this worker (bounded by `Limits::max_deferred`).
    pub deferred: usize,
    deadlines: BinaryHeap<Reverse<(Instant, u64, u32)>>,
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
    /// Times a head was parsed from its first byte (complete or not): shows that a trickled head is not
    /// re-parsed on every read.
    pub head_parses: u64,
    /// Requests whose handler deferred the response.
    pub deferred: u64,
    /// Deferred requests answered `504` because their deadline passed.
    pub deferred_expired: u64,
    /// Deferrals refused with `503` because `Limits::max_deferred` were in flight.
    pub deferred_refused: u64,
    /// Deferred requests cancelled because their connection closed first.
    pub deferred_cancelled: u64,
    /// Responses written, by status class (1xx … 5xx).
    pub status: [u64; 5],
    /// Requests refused by the core, by [`RequestError::index`].
    pub errors: [u64; 9],
    /// Connections closed by a timeout: header, idle, write, body rate (the worker counts
    /// these).
    pub timeouts_by_kind: [u64; 4],
    /// Connections accepted (the worker counts these).
    pub accepted: u64,
    /// Connections closed (the worker counts these).
    pub closed: u64,
    /// Bytes read from clients (the worker counts these).
    pub bytes_in: u64,
    /// Bytes written to clients (the worker counts these).
    pub bytes_out: u64,
    /// Time from reading a batch's bytes to its responses being ready, per request.
    pub latency: crate::metrics::Latency,
}

impl Context {
    /// A context for `limits`, with the date rendered for now, and an inbox nobody is woken
    /// for (sans-IO users poll it with [`Context::take_completions`]).
    pub fn new(limits: &Limits) -> Self {
        Context::with_inbox(limits, Arc::new(Inbox::new(|| {})))
    }

    /// A context whose deferred completions arrive in `inbox`.
    pub fn with_inbox(limits: &Limits, inbox: Arc<Inbox>) -> Self {
        let limits = limits.normalized();
        Context {
            inbox,
            token: 0,
            deferred: 0,
            deadlines: BinaryHeap::new(),
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

    /// Gives back what the body scratch took for one large response.
    #[cold]
    fn shrink_scratch(&mut self) {
        self.resp_body = Vec::with_capacity(1024);
    }

    /// Bytes the worker's scratch buffers hold now (they shrink back after a large response).
    pub fn scratch_bytes(&self) -> usize {
        self.resp_body.capacity()
    }

    /// Moves the completed deferred replies waiting in the inbox into `out`.
    pub fn take_completions(&self, out: &mut Vec<Done>) {
        self.inbox.take(out);
    }

    /// The earliest deadline of a deferred request still remembered (it may have been answered
    /// since: [`Conn::expire_deferred`] then does nothing).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Forgets remembered deadlines of requests answered since, once they outnumber the
    /// requests still in flight (keeps the heap at O(in flight); amortised O(1) per request).
    /// `waiting(token, seq)` says whether a request still waits.
    pub fn prune_deadlines(&mut self, mut waiting: impl FnMut(u64, u32) -> bool) {
        if self.deadlines.len() > 2 * self.deferred + 1024 {
            self.deadlines
                .retain(|Reverse((_, token, seq))| waiting(*token, *seq));
        }
    }

    /// Pops one deferred request whose deadline is at or before `now`: `(token, seq)`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(u64, u32)> {
        match self.deadlines.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                let Reverse((_, token, seq)) = self.deadlines.pop()?;
                Some((token, seq))
            }
            _ => None,
        }
    }
}

/// Body scratch kept between responses; a larger one (after one big response) is freed.
const RESP_SCRATCH_KEEP: usize = 64 * 1024;

/// Most responses a connection keeps queued behind an unfinished deferred one; beyond it the
/// connection stops reading until the front resolves.
const MAX_SLOTS: usize = 128;

/// A response position behind (or at) the first unfinished deferred response.
enum Slot {
    /// Waiting for a completion.
    Waiting(Waiting),
    /// Encoded, waiting for the responses before it.
    Ready(Vec<u8>),
}

struct Waiting {
    seq: u32,
    received: Instant,
    cell: Arc<Cell>,
    keep_alive: bool,
    head_only: bool,
    version: Version,
}

/// Connection state most connections never need, boxed once when first needed.
#[derive(Default)]
struct Extra {
    /// A chunked body in progress across reads.
    chunked: Option<ChunkedDecoder>,
    /// Responses in order from the first unfinished deferred one; empty when none is waiting.
    slots: VecDeque<Slot>,
}

impl std::fmt::Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extra")
            .field("chunked", &self.chunked.is_some())
            .field("slots", &self.slots.len())
            .finish()
    }
}

/// Where the next response goes: behind the queued ones if a deferred response is waiting,
/// otherwise straight into the write buffer.
#[inline]
fn out_buf<'b>(
    wbuf: &'b mut Vec<u8>,
    extra: &'b mut Option<Box<Extra>>,
    pool: &mut BufPool,
) -> &'b mut Vec<u8> {
    match extra {
        Some(x) if !x.slots.is_empty() => {
            if !matches!(x.slots.back(), Some(Slot::Ready(_))) {
                x.slots.push_back(Slot::Ready(Vec::with_capacity(256)));
            }
            match x.slots.back_mut() {
                Some(Slot::Ready(v)) => v,
                _ => unreachable!("a Ready slot was just ensured"),
            }
        }
        _ => {
            if wbuf.capacity() == 0 {
                *wbuf = pool.get();
            }
            wbuf
        }
    }
}

/// The first line of the HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

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
    /// When non-zero: a partial head starts at `rpos` and its first `scan` bytes were judged
    /// valid; the grammar's state there is in `scan_state`, `scan_fields`, `scan_bits`.
    scan: u32,
    scan_state: u8,
    scan_fields: u8,
    scan_bits: u8,
    /// When non-zero: a complete head at `rpos` waits for its body; this many bytes are needed.
    need: u32,
    /// Bytes of `wbuf` already written.
    wpos: u32,
    flags: u8,
    /// Sequence number of the next deferred request on this connection.
    seq: u32,
    /// Rarely needed state: a chunked decoder in progress, queued deferred responses.
    extra: Option<Box<Extra>>,
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
            self.make_room(&mut cx.pool);
        }
        &mut self.rbuf
    }

    /// A connection waiting for the rest of a request keeps only the bytes it sent: the
    /// unparsed leftover moves out of the pooled read buffer into an allocation of its own
    /// size and the pooled buffer goes back (1,000 slowloris clients then hold their few
    /// bytes each, not 8 KiB). The next read swaps a pooled buffer in again
    /// ([`Conn::read_buf`]). Call it when the socket has nothing more to read right now.
    #[inline]
    pub fn shrink_partial(&mut self, pool: &mut BufPool) {
        let left = self.rbuf.len() - self.rpos as usize;
        if left != 0 && self.rbuf.capacity() >= pool.buf_size() && left <= pool.buf_size() / 4 {
            self.move_leftover(pool, left);
        }
    }

    #[cold]
    fn move_leftover(&mut self, pool: &mut BufPool, left: usize) {
        let mut small = Vec::with_capacity(left.next_multiple_of(64));
        small.extend_from_slice(&self.rbuf[self.rpos as usize..]);
        pool.put(std::mem::replace(&mut self.rbuf, small));
        self.rpos = 0;
    }

    /// Where the scan of the partial head at `rpos` stopped.
    #[inline]
    fn cursor(&self) -> Cursor {
        Cursor {
            pos: self.scan,
            state: self.scan_state,
            fields: self.scan_fields,
            bits: self.scan_bits,
        }
    }

    #[inline]
    fn save_cursor(&mut self, c: Cursor) {
        debug_assert!(c.pos != 0, "a partial scan judged at least one byte");
        self.scan = c.pos;
        self.scan_state = c.state;
        self.scan_fields = c.fields;
        self.scan_bits = c.bits;
    }

    /// Compacts unparsed bytes to the front, or grows the buffer when they already fill it; a
    /// small leftover buffer ([`Conn::shrink_partial`]) is first swapped for a pooled one.
    /// Growth is bounded: `process` refuses heads and bodies beyond the limits first.
    #[cold]
    fn make_room(&mut self, pool: &mut BufPool) {
        if self.rbuf.capacity() < pool.buf_size() {
            let mut big = pool.get();
            big.extend_from_slice(&self.rbuf[self.rpos as usize..]);
            self.rbuf = big; // the small one is freed: it never came from the pool
            self.rpos = 0;
        }
        let rpos = self.rpos as usize;
        if rpos > 0 {
            self.rbuf.drain(..rpos);
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
        let mut finished = 0u64;
        loop {
            let len = self.rbuf.len();
            let start = self.rpos as usize;
            if self.flags & C_CLOSE != 0 {
                self.rpos = len as u32; // nothing after a closing request is read
                break;
            }
            if start == len || self.queue_full(&cx.limits) {
                break;
            }
            if self.wbuf.len() - self.wpos as usize >= cx.limits.write_high_water {
                // Backpressure: a client that pipelines and does not read gets no more answers
                // queued than the high-water mark; the rest waits, unparsed, until it reads.
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
                // A partial head: judge only the new bytes, from where the last scan stopped.
                match head::resume(buf, self.cursor(), &cx.limits) {
                    Ok(Scan::Partial(c)) => {
                        self.save_cursor(c);
                        break;
                    }
                    Ok(Scan::Complete(_)) => {}
                    Err(e) => {
                        self.reject(e, handler, cx);
                        answered += 1;
                        continue;
                    }
                }
            }
            cx.stats.head_parses += 1;
            let head = match head::parse_head(buf, &mut cx.scratch, &cx.limits) {
                Ok(Parsed::Complete(h)) => h,
                Ok(Parsed::Partial(c)) => {
                    self.save_cursor(c);
                    break;
                }
                Err(e) => {
                    self.reject(e, handler, cx);
                    answered += 1;
                    continue;
                }
            };
            self.scan = 0;
            let mut head = head;
            let head_len = head.head_len as usize;
            // Bytes the whole message takes in the buffer, and the body's length once decoded.
            let consumed = if head.is_chunked() {
                let mut dec = self
                    .extra
                    .as_mut()
                    .and_then(|x| x.chunked.take())
                    .unwrap_or_default();
                match dec.advance(&buf[head_len..], cx.limits.max_body_bytes as u64) {
                    Ok(Progress::Done { encoded, .. }) => head_len + encoded,
                    Ok(Progress::Partial) => {
                        self.extra.get_or_insert_with(Box::default).chunked = Some(dec);
                        self.need = (buf.len() + 1) as u32; // wait for more bytes
                        self.send_continue(&head, cx);
                        break;
                    }
                    Err(e) => {
                        self.reject(e, handler, cx);
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
            let head_only = head.method_kind == Method::Head;
            let site = DeferSite {
                inbox: &cx.inbox,
                token: cx.token,
                seq: self.seq,
                received: cx.meta.received,
                timeout: cx.limits.deferred_timeout,
                room: cx.deferred < cx.limits.max_deferred,
            };
            let out = out_buf(&mut self.wbuf, &mut self.extra, &mut cx.pool);
            let mut res = Response::new(out, &mut cx.resp_body, &cx.date, head_only);
            res.set_site(&site);
            // A panicking handler must not take the worker down: its partial response is
            // dropped and the client gets a 500 and a close. Free on the happy path.
            let ran = catch_unwind(AssertUnwindSafe(|| handler.call(&req, &mut res)));
            answered += 1;
            if ran.is_err() {
                res.discard();
                cx.stats.panics += 1;
                self.refuse(500, "panic", handler, cx);
                continue;
            }
            if let Some(taken) = res.take_deferred() {
                // Answered later: keep this request's place in the response order.
                res.discard();
                let keep_alive = req.keep_alive() && !cx.draining;
                self.push_waiting(taken, keep_alive, head_only, head.version, cx);
                self.rpos = (start + consumed) as u32;
                if !keep_alive {
                    self.flags |= C_CLOSE;
                }
                continue;
            }
            if res.defer_refused() {
                cx.stats.deferred_refused += 1;
            }
            let keep_alive = req.keep_alive() && !res.will_close() && !cx.draining;
            cx.stats.status[status_class(res.status_code())] += 1;
            res.finish(keep_alive, head.version);
            if cx.resp_body.capacity() > RESP_SCRATCH_KEEP {
                cx.shrink_scratch();
            }
            cx.stats.requests += 1;
            finished += 1;
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
        if finished != 0 {
            // One clock read per batch; pipelined requests share the observation.
            let ns = cx.meta.received.elapsed().as_nanos() as u64;
            cx.stats.latency.observe(ns, finished);
        }
        answered
    }

    /// `Expect: 100-continue` and the body is still to come: tell the client to send it (once per
    /// request). strela reads every body for its handler, so the answer is always "continue";
    /// a body over the limit was already refused with 413 from its Content-Length.
    fn send_continue(&mut self, head: &head::Head, cx: &mut Context) {
        if head.expects_continue() && self.flags & C_CONTINUED == 0 {
            self.flags |= C_CONTINUED;
            // Behind any response still owed to an earlier request.
            out_buf(&mut self.wbuf, &mut self.extra, &mut cx.pool)
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// Queues a deferred request's place in the response order and remembers its deadline.
    #[cold]
    fn push_waiting(
        &mut self,
        taken: crate::proto::encode::Taken,
        keep_alive: bool,
        head_only: bool,
        version: Version,
        cx: &mut Context,
    ) {
        let x = self.extra.get_or_insert_with(Box::default);
        x.slots.push_back(Slot::Waiting(Waiting {
            seq: self.seq,
            received: cx.meta.received,
            cell: taken.cell,
            keep_alive,
            head_only,
            version,
        }));
        cx.deadlines
            .push(Reverse((taken.deadline, cx.token, self.seq)));
        self.seq = self.seq.wrapping_add(1);
        cx.deferred += 1;
        cx.stats.deferred += 1;
    }

    /// Whether no more requests should be dispatched until queued deferred responses resolve:
    /// too many slots, or too many response bytes held behind them.
    #[inline]
    fn queue_full(&self, limits: &Limits) -> bool {
        match &self.extra {
            Some(x) if !x.slots.is_empty() => {
                x.slots.len() >= MAX_SLOTS
                    || x.slots
                        .iter()
                        .map(|s| match s {
                            Slot::Ready(v) => v.len(),
                            Slot::Waiting(_) => 0,
                        })
                        .sum::<usize>()
                        >= limits.write_high_water
            }
            _ => false,
        }
    }

    /// Answers deferred request `seq` with `reply`. Returns `false`, dropping the reply, when
    /// that request is not waiting any more (answered already, expired, or cancelled).
    /// Responses queued behind it move to the output as soon as everything before them is
    /// answered; a reply that closes the connection cancels the requests after it.
    pub fn complete(&mut self, seq: u32, reply: Reply, cx: &mut Context) -> bool {
        let Some(x) = self.extra.as_mut() else {
            return false;
        };
        let Some(i) = x
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Waiting(w) if w.seq == seq))
        else {
            return false;
        };
        let Slot::Waiting(w) = std::mem::replace(&mut x.slots[i], Slot::Ready(Vec::new())) else {
            unreachable!("position() found a Waiting slot");
        };
        cx.deferred -= 1;
        cx.stats.requests += 1;
        cx.stats.status[status_class(reply.status_code())] += 1;
        let ns = w.received.elapsed().as_nanos() as u64;
        cx.stats.latency.observe(ns, 1);
        let keep_alive = w.keep_alive && !reply.will_close() && !cx.draining;
        {
            let out = if i == 0 {
                if self.wbuf.capacity() == 0 {
                    self.wbuf = cx.pool.get();
                }
                &mut self.wbuf
            } else {
                match &mut x.slots[i] {
                    Slot::Ready(v) => v,
                    Slot::Waiting(_) => unreachable!("just replaced"),
                }
            };
            let mut res = Response::new(out, &mut cx.resp_body, &cx.date, w.head_only);
            res.apply(reply);
            res.finish(keep_alive, w.version);
        }
        if !keep_alive {
            // Nothing after this response will be sent.
            for s in x.slots.drain(i + 1..) {
                if let Slot::Waiting(w) = s {
                    w.cell.cancel();
                    cx.deferred -= 1;
                    cx.stats.deferred_cancelled += 1;
                }
            }
            x.chunked = None;
            self.flags |= C_CLOSE;
            self.rpos = self.rbuf.len() as u32;
            self.scan = 0;
            self.need = 0;
        }
        if i == 0 {
            x.slots.pop_front();
            while let Some(Slot::Ready(_)) = x.slots.front() {
                if let Some(Slot::Ready(v)) = x.slots.pop_front() {
                    self.wbuf.extend_from_slice(&v);
                }
            }
        }
        true
    }

    /// Answers deferred request `seq` with `504 Gateway Timeout` (its deadline passed) and sets
    /// its cancellation flag. Does nothing if it is not waiting.
    pub fn expire_deferred(&mut self, seq: u32, cx: &mut Context) -> bool {
        let Some(w) = self.waiting(seq) else {
            return false;
        };
        w.cell.cancel();
        cx.stats.deferred_expired += 1;
        self.complete(seq, Reply::plain_status(504), cx)
    }

    fn waiting(&self, seq: u32) -> Option<&Waiting> {
        self.extra.as_ref()?.slots.iter().find_map(|s| match s {
            Slot::Waiting(w) if w.seq == seq => Some(w),
            _ => None,
        })
    }

    /// Whether deferred request `seq` still waits for its completion.
    pub fn is_waiting(&self, seq: u32) -> bool {
        self.waiting(seq).is_some()
    }

    /// Whether a deferred response is owed (responses may be queued behind it).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| !x.slots.is_empty())
    }

    /// Whether the peer closed its sending side.
    #[inline]
    pub fn saw_eof(&self) -> bool {
        self.flags & C_EOF != 0
    }

    /// Cancels every deferred request still waiting (the connection is going away).
    fn cancel_pending(&mut self, cx: &mut Context) {
        if let Some(x) = &mut self.extra {
            for s in x.slots.drain(..) {
                if let Slot::Waiting(w) = s {
                    w.cell.cancel();
                    cx.deferred -= 1;
                    cx.stats.deferred_cancelled += 1;
                }
            }
        }
    }

    /// Answers a request the core refused: its status, a one-line body, and close.
    #[cold]
    fn reject<H: Handler + ?Sized>(&mut self, e: RequestError, handler: &H, cx: &mut Context) {
        cx.stats.rejected += 1;
        cx.stats.errors[e.index()] += 1;
        self.refuse(e.status(), e.as_str(), handler, cx);
    }

    /// Answers `status` for the request at `rpos` without its handler, closes, and tells the
    /// handler (access logs) and the debug log why.
    #[cold]
    fn refuse<H: Handler + ?Sized>(
        &mut self,
        status: u16,
        reason: &'static str,
        handler: &H,
        cx: &mut Context,
    ) {
        let start = (self.rpos as usize).min(self.rbuf.len());
        let bytes = if status == 505 && self.rbuf[start..].starts_with(H2_PREFACE) {
            self.goaway_h2(cx)
        } else {
            self.fail(status, cx)
        };
        let line = Refusal::line_of(&self.rbuf[start..]);
        log::debug!(
            "refused peer={} status={status} reason={reason} line={:?}",
            cx.meta
                .peer
                .map_or_else(|| "-".to_string(), |p| p.to_string()),
            String::from_utf8_lossy(line)
        );
        handler.refused(&Refusal {
            peer: cx.meta.peer,
            status,
            reason,
            line,
            bytes,
        });
    }

    /// A client that speaks HTTP/2 with prior knowledge (`h2load` without `--h1`, `curl
    /// --http2-prior-knowledge`) gets what an HTTP/2 peer understands instead of an HTTP/1.1
    /// status line it cannot read: the server preface (an empty SETTINGS frame) and a GOAWAY
    /// with `HTTP_1_1_REQUIRED` (RFC 9113 §3.4, §7), then the connection closes.
    #[cold]
    fn goaway_h2(&mut self, cx: &mut Context) -> u64 {
        cx.stats.status[status_class(505)] += 1;
        const FRAMES: [u8; 26] = [
            0, 0, 0, 0x4, 0, 0, 0, 0, 0, // SETTINGS, empty, stream 0
            0, 0, 8, 0x7, 0, 0, 0, 0, 0, // GOAWAY, 8 bytes, stream 0
            0, 0, 0, 0, // last stream id 0
            0, 0, 0, 0xd, // HTTP_1_1_REQUIRED
        ];
        out_buf(&mut self.wbuf, &mut self.extra, &mut cx.pool).extend_from_slice(&FRAMES);
        self.flags |= C_CLOSE;
        self.rpos = self.rbuf.len() as u32;
        self.scan = 0;
        self.need = 0;
        0
    }

    /// Answers `status` with a one-line body and closes; nothing after it is read. Returns the
    /// body's length.
    #[cold]
    fn fail(&mut self, status: u16, cx: &mut Context) -> u64 {
        cx.stats.status[status_class(status)] += 1;
        let out = out_buf(&mut self.wbuf, &mut self.extra, &mut cx.pool);
        let mut res = Response::new(out, &mut cx.resp_body, &cx.date, false);
        res.status(status).content_type("text/plain");
        let body = res.body_writer();
        body.extend_from_slice(crate::proto::encode::reason(status).as_bytes());
        body.push(b'\n');
        let bytes = body.len() as u64;
        res.finish(false, head::Version::Http11);
        self.flags |= C_CLOSE;
        self.rpos = self.rbuf.len() as u32;
        self.scan = 0;
        self.need = 0;
        if let Some(x) = &mut self.extra {
            x.chunked = None;
        }
        bytes
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
        self.is_closing() && !self.has_output() && !self.has_pending()
    }

    /// Whether the worker should read more: not closing, and the unsent output is below the
    /// write high-water mark (backpressure against clients that do not read their responses).
    #[inline]
    pub fn wants_read(&self, limits: &Limits) -> bool {
        !self.is_closing()
            && self.output().len() < limits.write_high_water
            && !self.queue_full(limits)
    }

    /// Whether a request head has started and is not complete yet (the header timeout applies).
    #[inline]
    pub fn reading_head(&self) -> bool {
        self.mid_request() && self.need == 0
    }

    /// Answers `408 Request Timeout` and closes (the head did not arrive in time); `handler`
    /// is told ([`Handler::refused`]).
    pub fn timeout_response<H: Handler + ?Sized>(&mut self, handler: &H, cx: &mut Context) {
        self.refuse(408, "timeout", handler, cx);
    }

    /// Answers `408 Request Timeout` and closes: the body came in slower than the minimum
    /// data rate. `handler` is told ([`Handler::refused`]).
    pub fn slow_body_response<H: Handler + ?Sized>(&mut self, handler: &H, cx: &mut Context) {
        self.refuse(408, "slow_body", handler, cx);
    }

    /// Whether a complete head waits for (more of) its body.
    #[inline]
    pub fn reading_body(&self) -> bool {
        self.mid_request() && self.need != 0
    }

    /// Bytes of the request in progress received so far (its head and body as buffered).
    #[inline]
    pub fn buffered_request_bytes(&self) -> u32 {
        (self.rbuf.len() as u32).saturating_sub(self.rpos)
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

    /// The connection is being closed: cancels the deferred requests still waiting and gives
    /// every buffer back to the pool.
    pub fn release_all(&mut self, cx: &mut Context) {
        self.cancel_pending(cx);
        self.rbuf.clear();
        self.wbuf.clear();
        self.rpos = 0;
        self.wpos = 0;
        self.release_idle(&mut cx.pool);
    }

    /// Bytes of buffer memory this connection holds (capacity of both buffers).
    pub fn buffer_bytes(&self) -> usize {
        self.rbuf.capacity() + self.wbuf.capacity()
    }
}
