//! The sans-IO connection: bytes in → complete requests out; answers in → bytes to write out.
//! No sockets, no threads, no clocks, no handlers.
//!
//! The caller moves bytes: it asks [`Conn::read_buf`] for room, reads into it, then calls
//! [`Conn::step`] until it says [`Step::Wait`]. Each step hands one complete request (head,
//! body, fields, and the buffer its answer goes into: an [`Incoming`]) to the caller's closure,
//! which answers it — `crate::service` runs the handler there — and says how ([`Answer`]).
//! Requests the core refuses by itself (a byte that breaks the grammar, a limit) are answered
//! here and come back as [`Step::Refused`], so the caller can log them. Pipelined requests come one after another from the same read; all
//! answers of a batch go into one write buffer ([`Conn::output`], [`Conn::consume`]).
//!
//! The read state is explicit (an enum, `Reading`): before a request, in a partial head (with the
//! grammar's resumable cursor, so a trickled head costs O(n) and each byte is judged when it
//! arrives), waiting for a body, or closed.
//!
//! Buffers come from the worker's [`BufPool`] and go back as soon as the connection is idle: an
//! idle keep-alive connection holds no buffer, and one waiting mid-request keeps only its
//! leftover bytes. `Conn` is 80 bytes.
//!
//! Answers given later keep the order: a request answered later leaves a `P` (the caller's
//! bookkeeping for it) in a queue of slots, answers encoded behind it wait in `Ready` slots, and
//! output moves to the write buffer strictly in request order as the front slots resolve
//! ([`Conn::resolve`]). The queue (and a chunked decoder in progress) lives in a box allocated
//! the first time a connection needs it.

use std::collections::VecDeque;
use std::io::IoSlice;

use crate::proto::body::{self, BodyError, BodySink, ChunkedDecoder, Progress};
use crate::proto::date::DateCache;
use crate::proto::error::RequestError;
use crate::proto::fields::{reason, status_class};
use crate::proto::grammar::Scan;
use crate::proto::head::{self, Cursor, Head, HeaderScratch, HeaderSpan, Parsed};
use crate::proto::limits::Limits;
use crate::proto::output::{Front, Held, Piece, Pieces};
use crate::proto::pool::BufPool;
use crate::proto::stats::{Counter, Stats};

/// Per-worker state the protocol core needs: limits, the date block, the buffer pool, counters
/// and scratch space reused by every request. One per worker; never shared between threads.
#[derive(Debug)]
pub struct Context {
    /// Limits applied to every connection (already normalized).
    pub limits: Limits,
    /// The `Server`/`Date` block; refresh it from the event loop with the current second.
    pub date: DateCache,
    /// The worker's buffer pool.
    pub pool: BufPool,
    /// Counters of what this worker's connections did.
    pub stats: Stats,
    /// The server is shutting down: answers carry `Connection: close`.
    pub draining: bool,
    scratch: Box<HeaderScratch>,
    /// Scratch for response bodies written in place (see `service::response`).
    pub(crate) body_scratch: Vec<u8>,
    /// A body by reference from the answer being given (see [`Incoming::piece`]).
    piece: Option<Piece>,
}

/// Body scratch kept between responses; a larger one (after one big response) is freed.
const BODY_SCRATCH_KEEP: usize = 64 * 1024;

impl Context {
    /// A context for `limits` (normalized here), with the date block for `unix_secs`.
    pub fn new(limits: &Limits, unix_secs: u64) -> Self {
        let limits = limits.normalized();
        Context {
            pool: BufPool::new(limits.buffer_size, limits.pooled_buffers),
            limits,
            date: DateCache::new(unix_secs),
            stats: Stats::default(),
            draining: false,
            scratch: Box::default(),
            body_scratch: Vec::with_capacity(1024),
            piece: None,
        }
    }

    /// Gives back what the body scratch took for one large response.
    #[inline]
    pub(crate) fn trim_scratch(&mut self) {
        if self.body_scratch.capacity() > BODY_SCRATCH_KEEP {
            self.body_scratch = Vec::with_capacity(1024);
        }
    }

    /// Bytes the worker's scratch buffers hold now (they shrink back after a large response).
    pub fn scratch_bytes(&self) -> usize {
        self.body_scratch.capacity()
    }
}

/// Most answers a connection keeps queued behind an unfinished one; beyond it the connection
/// stops reading until the front resolves.
const MAX_SLOTS: usize = 128;

/// A response position behind (or at) the first request answered later.
#[derive(Debug)]
enum Slot<P> {
    /// Waiting for its answer: request `seq`, with the caller's bookkeeping.
    Waiting(u32, P),
    /// Encoded, waiting for the answers before it.
    Ready(Held),
}

/// Connection state most connections never need, boxed once when first needed.
#[derive(Debug)]
struct Extra<P> {
    /// A chunked body in progress across reads.
    chunked: Option<ChunkedDecoder>,
    /// Answers in order from the first unfinished one; empty when none is waiting.
    slots: VecDeque<Slot<P>>,
    /// Output written before the write buffer: sealed buffers and bodies sent by reference.
    out: Pieces,
    /// The body limit a handler chose for the body being buffered (`C_BUFFERING`).
    body_limit: u64,
    /// The request body being streamed to a handler (`Reading::Stream`).
    body: Option<Streamed>,
    /// A head whose body is not all here, between [`Step::Head`] and [`Conn::answer_head`]
    /// (its fields are still in the context's scratch).
    parked: Option<Head>,
}

/// A request body handed to a handler as it arrives.
#[derive(Debug)]
struct Streamed {
    /// Where the bytes go; `None` once nobody reads them (they are drained, up to a bound).
    sink: Option<Box<dyn BodySink>>,
    framing: Framing,
    /// The largest body accepted.
    limit: u64,
    /// Body bytes (as sent) received so far, for the minimum data rate.
    received: u64,
    /// Bytes discarded since nobody reads.
    drained: u64,
}

#[derive(Debug)]
enum Framing {
    /// `Content-Length`: this many bytes to go.
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Body bytes read and thrown away for a handler that answered without reading its body,
/// before the connection is closed instead (what nginx calls lingering; hyper and Go do the same).
pub const DRAIN_MAX: u64 = 256 * 1024;

/// Whether a request body nobody reads is drained (the connection persists) rather than the
/// connection closed: only a known length within [`DRAIN_MAX`] (every byte of it is drained,
/// what came with the head too), and only if the client does not wait for `100 Continue` (it
/// would never send the body).
pub fn drains(head: &Head) -> bool {
    !head.is_chunked() && !head.expects_continue() && head.content_length() <= DRAIN_MAX
}

impl<P> Default for Extra<P> {
    fn default() -> Self {
        Extra {
            chunked: None,
            slots: VecDeque::new(),
            out: Pieces::default(),
            body_limit: 0,
            body: None,
            parked: None,
        }
    }
}

/// Where the next answer goes: behind the queued ones if one is waiting, otherwise straight
/// into the write buffer.
#[inline(always)]
fn out_buf<'b, P>(
    wbuf: &'b mut Vec<u8>,
    extra: &'b mut Option<Box<Extra<P>>>,
    pool: &mut BufPool,
) -> &'b mut Vec<u8> {
    match extra {
        Some(x) if !x.slots.is_empty() => {
            if !matches!(x.slots.back(), Some(Slot::Ready(_))) {
                x.slots.push_back(Slot::Ready(Held::default()));
            }
            match x.slots.back_mut() {
                Some(Slot::Ready(h)) => {
                    if h.tail.capacity() == 0 {
                        h.tail.reserve(256);
                    }
                    &mut h.tail
                }
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

/// The request `bytes` (in the read buffer) with `head`, as handed to the caller: its fields
/// from the context's scratch, its answer going where [`out_buf`] says.
#[inline(always)]
fn incoming<'c, P>(
    bytes: &'c [u8],
    head: &'c Head,
    wbuf: &'c mut Vec<u8>,
    extra: &'c mut Option<Box<Extra<P>>>,
    cx: &'c mut Context,
    seq: u32,
) -> Incoming<'c> {
    let Context {
        limits,
        date,
        pool,
        scratch,
        body_scratch,
        draining,
        piece,
        ..
    } = cx;
    Incoming {
        bytes,
        spans: head::spans(scratch, head),
        head,
        out: out_buf(wbuf, extra, pool),
        body_scratch,
        piece,
        date,
        limits,
        seq,
        draining: *draining,
    }
}

/// The connection's read state (8 bytes: the cursor's fields sit beside the tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Between requests: the next byte starts a request line.
    Head,
    /// In a partial head; the grammar resumes from this cursor.
    PartialHead {
        pos: u32,
        state: u8,
        fields: u8,
        bits: u8,
    },
    /// A complete head waits for its body: this many bytes (head included) are needed.
    Body(u32),
    /// The body is streamed to its handler as it arrives (`Extra::body`).
    Stream,
    /// Nothing more is read: the connection closes once its output is written.
    Closed,
}

impl Reading {
    #[inline]
    fn partial(c: Cursor) -> Reading {
        Reading::PartialHead {
            pos: c.pos,
            state: c.state,
            fields: c.fields,
            bits: c.bits,
        }
    }
}

const C_EOF: u8 = 1; // the peer closed its sending side
const C_CONTINUED: u8 = 2; // "100 Continue" was sent for the request in progress
const C_BUFFERING: u8 = 4; // the handler asked for this body whole, up to `Extra::body_limit`
const C_LAST: u8 = 8; // the request whose body is streamed is the connection's last
const C_CUT: u8 = 16; // reading stopped while the client may still be sending (see `cut_short`)

/// The first line of the HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Length of an empty line (`CRLF` or bare `LF`) at the start of `b`, if there is one.
#[cold]
fn skip_empty_line(b: &[u8]) -> Option<usize> {
    match b {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n', ..] => Some(1),
        _ => None,
    }
}

/// A complete request, handed out by [`Conn::step`], with everything its answer needs.
#[derive(Debug)]
pub struct Incoming<'c> {
    /// The head followed by its body (a chunked body already decoded in place); the head only
    /// when handed out by [`Conn::answer_head`].
    pub bytes: &'c [u8],
    /// The parsed head (its `content_length` is the body's length).
    pub head: &'c Head,
    /// The head's fields.
    pub spans: &'c [HeaderSpan],
    /// Where the answer goes.
    pub out: &'c mut Vec<u8>,
    /// Scratch for a body written in place.
    pub body_scratch: &'c mut Vec<u8>,
    /// Where a body written by reference goes (it follows what was written to `out`).
    pub piece: &'c mut Option<Piece>,
    /// The `Server`/`Date` block.
    pub date: &'c DateCache,
    /// The limits in force.
    pub limits: &'c Limits,
    /// This request's sequence number on the connection.
    pub seq: u32,
    /// The server is shutting down (the answer closes the connection).
    pub draining: bool,
}

/// A request the core answered itself, as [`Conn::step`] reports it.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'c> {
    /// The status sent.
    pub status: u16,
    /// Why, as a stable name (a [`RequestError`] name, `timeout`, `slow_body`, `panic`).
    pub reason: &'static str,
    /// The request line as received (possibly partial, possibly not text), at most 256 bytes.
    pub line: &'c [u8],
    /// Body bytes of the answer.
    pub bytes: u64,
}

/// How the caller answered a request [`Conn::step`] handed it.
#[derive(Debug)]
pub enum Answer<P> {
    /// Written into the request's `out`: its status, whether the connection persists, and
    /// whether a deferral was refused for lack of room (the answer is then that 503).
    Sent {
        /// The status written.
        status: u16,
        /// The connection persists after it.
        keep_alive: bool,
        /// A deferral was refused (`Limits::max_deferred`) and answered 503.
        deferral_refused: bool,
    },
    /// To be written later: `pending` keeps the request's place in the answer order until
    /// [`Conn::resolve`] with the request's `seq`. Answers to later requests queue behind it.
    Later {
        /// The caller's bookkeeping for the request.
        pending: P,
        /// The connection persists after it.
        keep_alive: bool,
    },
    /// The head is written into the request's `out`; the body follows in parts: `pending`
    /// keeps the request's place until the caller, feeding the body through
    /// [`Conn::front_waiting`], ends it with [`Conn::resolve`].
    Streaming {
        /// The caller's bookkeeping for the stream.
        pending: P,
        /// The connection persists after it.
        keep_alive: bool,
    },
    /// Answering failed (a handler panicked): whatever it wrote was discarded; the connection
    /// answers 500 and closes.
    Failed,
    /// Only for a `pending_body` request, with nothing written: buffer the whole body, up to
    /// `limit` bytes (413 beyond), and hand the request out again once it is complete.
    Buffer {
        /// The largest body accepted (capped at the buffered-body maximum).
        limit: u64,
    },
}

/// What one [`Conn::step`] did.
#[derive(Debug)]
pub enum Step<'c> {
    /// A request was handed out and answered now.
    Sent,
    /// A request was handed out and will be answered later.
    Later,
    /// A request was refused — by the core, or because answering it failed — and answered;
    /// nothing after it is read.
    Refused(Refused<'c>),
    /// Nothing to do until more bytes arrive, the output drains, or queued answers resolve.
    Wait,
    /// The caller asked for a body to be buffered ([`Answer::Buffer`]) and it is all here:
    /// step again to have the request handed out with it.
    Again,
    /// A request whose body has not arrived whole (or is over the default limit) is next:
    /// hand its head out with [`Conn::answer_head`], which decides how the body is taken.
    Head,
}

/// The request line at the start of `buf` (bytes up to the first CR or LF, at most 256).
pub fn request_line(buf: &[u8]) -> &[u8] {
    let b = &buf[..buf.len().min(256)];
    let end = memchr::memchr2(b'\r', b'\n', b).unwrap_or(b.len());
    &b[..end]
}

/// One HTTP/1.1 connection's protocol state and buffers. `P` is the caller's bookkeeping for a
/// request answered later.
#[derive(Debug)]
pub struct Conn<P = ()> {
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Start of the unparsed bytes in `rbuf`.
    rpos: u32,
    /// Bytes of `wbuf` already written.
    wpos: u32,
    reading: Reading,
    flags: u8,
    /// Sequence number of the next request on this connection.
    seq: u32,
    /// Rarely needed state: a chunked decoder in progress, queued answers.
    extra: Option<Box<Extra<P>>>,
}

const _: () = assert!(std::mem::size_of::<Conn<()>>() <= 80);

impl<P> Default for Conn<P> {
    fn default() -> Self {
        Conn {
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            rpos: 0,
            wpos: 0,
            reading: Reading::Head,
            flags: 0,
            seq: 0,
            extra: None,
        }
    }
}

impl<P> Conn<P> {
    /// A new connection with no buffers.
    pub fn new() -> Self {
        Conn::default()
    }

    /// The read buffer with spare room at its end: read into its spare capacity, then call
    /// [`Conn::step`]. Takes a buffer from the pool if the connection holds none.
    #[inline]
    pub fn read_buf(&mut self, cx: &mut Context) -> &mut Vec<u8> {
        if self.rbuf.capacity() == 0 {
            self.rbuf = cx.pool.get();
        } else if self.rbuf.capacity() - self.rbuf.len() < 512 {
            self.make_room(&mut cx.pool);
        }
        &mut self.rbuf
    }

    /// Appends `data` to the read buffer (for tests, benches and fuzzers that have no socket).
    pub fn feed(&mut self, data: &[u8], cx: &mut Context) {
        let buf = self.read_buf(cx);
        buf.extend_from_slice(data);
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

    /// Compacts unparsed bytes to the front, or grows the buffer when they already fill it; a
    /// small leftover buffer ([`Conn::shrink_partial`]) is first swapped for a pooled one.
    /// Growth is bounded: `step` refuses heads and bodies beyond the limits first.
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

    /// Hands the next complete request in the read buffer to `answer` and applies its
    /// [`Answer`]; or answers a request the core refuses; or says there is nothing to do now.
    /// Call it until it returns [`Step::Wait`].
    #[inline(always)]
    pub fn step<F>(&mut self, cx: &mut Context, answer: F) -> Step<'_>
    where
        F: FnOnce(Incoming<'_>) -> Answer<P>,
    {
        loop {
            let len = self.rbuf.len();
            let start = self.rpos as usize;
            if self.reading == Reading::Closed {
                self.rpos = len as u32; // nothing after a closing request is read
                return self.idle_wait();
            }
            if start == len {
                return self.idle_wait();
            }
            if self.reading == Reading::Stream {
                if self.feed_body(cx) {
                    continue; // the body ended (the next request may follow), or feed more
                }
                return Step::Wait;
            }
            if self.queue_full(&cx.limits) {
                return self.idle_wait();
            }
            if self.output_len() >= cx.limits.write_high_water as u64 {
                // Backpressure: a client that pipelines and does not read gets no more answers
                // queued than the high-water mark; the rest waits, unparsed, until it reads.
                return Step::Wait;
            }
            // Empty lines before a request line are skipped here, incrementally (RFC 9112 §2.2).
            // One byte compare on the common path; the skipping itself is cold.
            if self.reading == Reading::Head && matches!(self.rbuf[start], b'\r' | b'\n') {
                match skip_empty_line(&self.rbuf[start..]) {
                    Some(n) => {
                        self.rpos += n as u32;
                        continue;
                    }
                    None if len - start == 1 => return Step::Wait, // a lone CR: the next byte decides
                    None => {}
                }
            }
            let buf = &self.rbuf[start..];
            match self.reading {
                Reading::Body(need) if buf.len() < need as usize => return Step::Wait,
                Reading::PartialHead {
                    pos,
                    state,
                    fields,
                    bits,
                } => {
                    // Judge only the new bytes, from where the last scan stopped.
                    let c = Cursor {
                        pos,
                        state,
                        fields,
                        bits,
                    };
                    match head::resume(buf, c, &cx.limits) {
                        Ok(Scan::Partial(c)) => {
                            self.reading = Reading::partial(c);
                            return Step::Wait;
                        }
                        Ok(Scan::Complete(_)) => {}
                        Err(e) => return self.reject(e, cx),
                    }
                }
                _ => {}
            }
            cx.stats[Counter::HeadParses] += 1;
            let mut head = match head::parse_head(buf, &mut cx.scratch, &cx.limits) {
                Ok(Parsed::Complete(h)) => h,
                Ok(Parsed::Partial(c)) => {
                    self.reading = Reading::partial(c);
                    return Step::Wait;
                }
                Err(e) => return self.reject(e, cx),
            };
            let head_len = head.head_len();
            let buffering = self.flags & C_BUFFERING != 0;
            let limit = if buffering {
                self.buffer_limit()
            } else {
                cx.limits.max_body_bytes as u64
            };
            // Bytes the whole message takes in the buffer; a body that is not all here (or is
            // larger than the default limit) goes to the caller first, who decides.
            let mut pending = false;
            let consumed = if head.is_chunked() {
                let mut dec = self
                    .extra
                    .as_mut()
                    .and_then(|x| x.chunked.take())
                    .unwrap_or_default();
                match dec.advance(&buf[head_len..], limit) {
                    Ok(Progress::Done { encoded, .. }) => head_len + encoded,
                    Ok(Progress::Partial) if buffering => {
                        self.extra.get_or_insert_with(Box::default).chunked = Some(dec);
                        self.reading = Reading::Body((buf.len() + 1) as u32); // more bytes
                        return Step::Wait;
                    }
                    Ok(Progress::Partial) | Err(RequestError::BodyTooLarge) if !buffering => {
                        pending = true;
                        head_len
                    }
                    Ok(Progress::Partial) => unreachable!("handled above"),
                    Err(e) => return self.reject(e, cx),
                }
            } else {
                let cl = head.content_length();
                if cl > limit {
                    if buffering {
                        return self.reject(RequestError::BodyTooLarge, cx);
                    }
                    pending = true;
                    head_len
                } else {
                    // At most the buffered-body maximum (below 4 GiB) here.
                    let total = head_len + cl as usize;
                    if buf.len() < total {
                        if buffering {
                            self.reading = Reading::Body(total as u32);
                            return Step::Wait;
                        }
                        pending = true;
                        head_len
                    } else {
                        total
                    }
                }
            };
            if pending {
                return self.park_head(&head);
            }
            self.flags &= !(C_CONTINUED | C_BUFFERING);
            self.reading = Reading::Head;
            if head.is_chunked() {
                // Complete and validated: move the chunks' data together, in the read buffer.
                let body = &mut self.rbuf[start + head_len..start + consumed];
                head.content_length = body::decode_in_place(body) as u64;
            }
            let total = head_len + head.content_length() as usize;
            let bytes = &self.rbuf[start..start + total];
            let done = answer(incoming(
                bytes,
                &head,
                &mut self.wbuf,
                &mut self.extra,
                cx,
                self.seq,
            ));
            self.rpos += consumed as u32;
            return self.apply(done, consumed, cx);
        }
    }

    /// The body limit the handler chose for the body being buffered.
    #[cold]
    fn buffer_limit(&self) -> u64 {
        self.extra.as_ref().map_or(0, |x| x.body_limit)
    }

    /// Keeps the head of a request whose body is not all here for [`Conn::answer_head`].
    #[cold]
    fn park_head(&mut self, head: &Head) -> Step<'static> {
        self.extra.get_or_insert_with(Box::default).parked = Some(*head);
        Step::Head
    }

    /// Applies the caller's answer to the request just handed out (`consumed` bytes of it
    /// were taken from the read buffer).
    #[inline(always)]
    fn apply(&mut self, done: Answer<P>, consumed: usize, cx: &mut Context) -> Step<'_> {
        {
            match done {
                Answer::Sent {
                    status,
                    keep_alive,
                    deferral_refused,
                } => {
                    if cx.piece.is_some() {
                        self.push_after_answer(cx);
                    }
                    cx.stats.status[status_class(status)] += 1;
                    cx.stats[Counter::Requests] += 1;
                    if deferral_refused {
                        cx.stats[Counter::DeferredRefused] += 1;
                    }
                    cx.trim_scratch();
                    if !keep_alive {
                        self.close_after_request();
                    }
                    Step::Sent
                }
                Answer::Later {
                    pending,
                    keep_alive,
                } => {
                    self.defer(pending, keep_alive);
                    cx.stats[Counter::DeferredStarted] += 1;
                    Step::Later
                }
                Answer::Streaming {
                    pending,
                    keep_alive,
                } => {
                    self.defer(pending, keep_alive);
                    cx.stats[Counter::StreamsStarted] += 1;
                    Step::Later
                }
                Answer::Failed => {
                    cx.stats[Counter::Panics] += 1;
                    self.rpos -= consumed as u32; // the refusal names the request's line
                    Step::Refused(self.refuse(500, "panic", cx))
                }
                Answer::Buffer { .. } => {
                    // Only a pending body may be buffered on request: a caller's mistake.
                    self.rpos -= consumed as u32;
                    Step::Refused(self.refuse(500, "bad_answer", cx))
                }
            }
        }
    }

    /// A request whose body has not arrived whole (or is larger than `Limits::max_body_bytes`):
    /// hands its head (`bytes` is the head only; `head.content_length` the declared length)
    /// to the caller, who either asks for the body to be buffered ([`Answer::Buffer`]; the
    /// request is handed out again, whole, by [`Conn::step`]), or answers now and returns a
    /// sink that receives the body as it arrives. A body nobody reads is drained or the
    /// connection closed after the answer ([`drains`]).
    ///
    /// Call it after [`Step::Head`] (otherwise it says [`Step::Wait`]).
    #[cold]
    #[inline(never)]
    pub fn answer_head<F>(&mut self, cx: &mut Context, answer: F) -> Step<'_>
    where
        F: FnOnce(Incoming<'_>) -> (Answer<P>, Option<Box<dyn BodySink>>),
    {
        let start = self.rpos as usize;
        let Some(head) = self.extra.as_mut().and_then(|x| x.parked.take()) else {
            return Step::Wait;
        };
        let head_len = head.head_len();
        let have = self.rbuf.len() - start - head_len;
        let declared = head.content_length;
        let bytes = &self.rbuf[start..start + head_len];
        let (done, sink) = answer(incoming(
            bytes,
            &head,
            &mut self.wbuf,
            &mut self.extra,
            cx,
            self.seq,
        ));
        if let Answer::Buffer { limit } = done {
            let limit = limit.min(crate::proto::limits::MAX_BODY_CAP as u64);
            if !head.is_chunked() && declared > limit {
                return self.reject(RequestError::BodyTooLarge, cx);
            }
            self.flags |= C_BUFFERING;
            self.extra.get_or_insert_with(Box::default).body_limit = limit;
            self.send_continue(&head, cx);
            // Parsed again, with this limit, once enough bytes are here (the head is kept).
            let need = if head.is_chunked() {
                have + 1 // a chunked body is validated as it comes
            } else {
                declared as usize
            };
            if have >= need || (head.is_chunked() && have > 0) {
                self.reading = Reading::Head;
                return Step::Again;
            }
            self.reading = Reading::Body((head_len + need) as u32);
            return Step::Wait;
        }
        // The handler ran on the head: the body follows it as it arrives.
        let framing = if head.is_chunked() {
            Framing::Chunked(ChunkedDecoder::new())
        } else {
            Framing::Length(declared)
        };
        let limit = sink.as_ref().map_or(u64::MAX, |s| s.limit());
        let closes = sink.is_none() && !drains(&head);
        self.flags &= !(C_CONTINUED | C_BUFFERING);
        self.extra.get_or_insert_with(Box::default).body = Some(Streamed {
            sink,
            framing,
            limit,
            received: 0,
            drained: 0,
        });
        self.reading = Reading::Stream;
        if closes {
            self.close_reading();
        }
        self.rpos += head_len as u32;
        self.apply(done, head_len, cx)
    }

    /// Moves the bytes of a streamed body from the read buffer to its sink, as much as the
    /// sink has room for. Returns whether to go on: the body ended (the next request may
    /// follow), or the room the sink gave ran out with bytes left (ask it again).
    ///
    /// Feeding stops with bytes left only when the sink says it has no room (`room()` is 0):
    /// that answer, given under the sink's lock, is what obliges the reader to wake the
    /// connection once it makes room. Having used up an earlier, non-zero `room()` is not
    /// enough — a reader on another thread may have emptied the window meanwhile, and would
    /// wait for bytes that stay in the read buffer with nothing left on the socket to raise an
    /// edge.
    #[cold]
    fn feed_body(&mut self, _cx: &mut Context) -> bool {
        let start = self.rpos as usize;
        let input = &self.rbuf[start..];
        let Some(sb) = self.extra.as_mut().and_then(|x| x.body.as_mut()) else {
            self.reading = Reading::Head;
            return true;
        };
        if sb.sink.as_ref().is_some_and(|s| s.abandoned()) {
            sb.sink = None;
        }
        let room = sb.sink.as_ref().map_or(u64::MAX, |s| s.room() as u64);
        let sink = &mut sb.sink;
        let r = match &mut sb.framing {
            Framing::Length(left) => {
                let n = (input.len() as u64).min(*left).min(room) as usize;
                if let Some(s) = sink.as_mut().filter(|_| n > 0) {
                    s.push(&input[..n]);
                }
                *left -= n as u64;
                Ok((n, *left == 0))
            }
            Framing::Chunked(dec) => dec.stream(input, sb.limit, room, |d| {
                if let Some(s) = sink.as_mut() {
                    s.push(d);
                }
            }),
        };
        let again = room > 0 && r.as_ref().is_ok_and(|&(used, _)| used < input.len());
        match r {
            Ok((used, done)) => {
                sb.received += used as u64;
                self.rpos += used as u32;
                if sb.sink.is_none() {
                    sb.drained += used as u64;
                    if sb.drained > DRAIN_MAX && !done {
                        self.close_reading();
                        return false;
                    }
                }
                if done {
                    if let Some(mut s) = sb.sink.take() {
                        s.end(Ok(()));
                    }
                    if let Some(x) = self.extra.as_mut() {
                        x.body = None;
                    }
                    if self.flags & C_LAST != 0 {
                        // The last request's body is all here: a clean end of reading.
                        self.flags &= !C_LAST;
                        self.reading = Reading::Closed;
                        return false;
                    }
                    self.reading = Reading::Head;
                }
                done || again
            }
            Err(e) => {
                if let Some(mut s) = sb.sink.take() {
                    s.end(Err(e.into()));
                }
                self.close_reading();
                false
            }
        }
    }

    /// Nothing more to do now: give back an empty read buffer's positions.
    #[inline]
    fn idle_wait(&mut self) -> Step<'static> {
        if self.rpos as usize == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            if !matches!(self.reading, Reading::Closed | Reading::Stream) {
                self.reading = Reading::Head;
            }
        }
        Step::Wait
    }

    /// Keeps the place of a request answered later.
    #[cold]
    fn defer(&mut self, pending: P, keep_alive: bool) {
        let x = self.extra.get_or_insert_with(Box::default);
        x.slots.push_back(Slot::Waiting(self.seq, pending));
        self.seq = self.seq.wrapping_add(1);
        if !keep_alive {
            self.close_after_request();
        }
    }

    /// No request after this one is read; a body still streamed to its reader is read first.
    #[inline]
    fn close_after_request(&mut self) {
        if self.reading == Reading::Stream && self.stream_room().is_some() {
            self.flags |= C_LAST;
        } else {
            self.reading = Reading::Closed;
        }
    }

    /// `Expect: 100-continue` and the body is still to come: tell the client to send it (once per
    /// request). strela reads every body for its handler, so the answer is always "continue";
    /// a body over the limit was already refused with 413 from its Content-Length.
    fn send_continue(&mut self, head: &Head, cx: &mut Context) {
        if head.expects_continue() && self.flags & C_CONTINUED == 0 {
            self.flags |= C_CONTINUED;
            // Behind any answer still owed to an earlier request.
            out_buf(&mut self.wbuf, &mut self.extra, &mut cx.pool)
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// Whether no more requests should be handed out until queued answers resolve: too many
    /// slots, or too many answer bytes held behind them.
    #[inline]
    fn queue_full(&self, limits: &Limits) -> bool {
        match &self.extra {
            Some(x) if !x.slots.is_empty() => {
                x.slots.len() >= MAX_SLOTS
                    || x.slots
                        .iter()
                        .map(|s| match s {
                            Slot::Ready(h) => h.bytes(),
                            Slot::Waiting(..) => 0,
                        })
                        .sum::<u64>()
                        >= limits.write_high_water as u64
            }
            _ => false,
        }
    }

    /// The bookkeeping of request `seq`, if it still waits for its answer.
    pub fn waiting(&self, seq: u32) -> Option<&P> {
        self.extra.as_ref()?.slots.iter().find_map(|s| match s {
            Slot::Waiting(q, p) if *q == seq => Some(p),
            _ => None,
        })
    }

    /// Whether request `seq` still waits for its answer.
    pub fn is_waiting(&self, seq: u32) -> bool {
        self.waiting(seq).is_some()
    }

    /// Answers request `seq`, which waited: `encode` writes the answer into the buffer it is
    /// given (the write buffer when it is at the front of the queue) and returns whether the
    /// connection persists after it. Answers queued behind it move to the output as soon as
    /// everything before them is answered; if it closes the connection, the requests after it
    /// are dropped and `cancel` gets their bookkeeping. Returns `false` when `seq` is not
    /// waiting (answered already, or cancelled).
    pub fn resolve(
        &mut self,
        seq: u32,
        cx: &mut Context,
        encode: impl FnOnce(P, &mut Vec<u8>, &DateCache, &mut Vec<u8>) -> (bool, Option<Piece>),
        mut cancel: impl FnMut(P),
    ) -> bool {
        let Some(x) = self.extra.as_mut() else {
            return false;
        };
        let Some(i) = x
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Waiting(q, _) if *q == seq))
        else {
            return false;
        };
        let Slot::Waiting(_, p) = std::mem::replace(&mut x.slots[i], Slot::Ready(Held::default()))
        else {
            unreachable!("position() found a Waiting slot");
        };
        let keep_alive = if i == 0 {
            if self.wbuf.capacity() == 0 {
                self.wbuf = cx.pool.get();
            }
            let (keep_alive, body) = encode(p, &mut self.wbuf, &cx.date, &mut cx.body_scratch);
            if let Some(piece) = body {
                seal_and_push(
                    &mut x.out,
                    &mut self.wbuf,
                    &mut self.wpos,
                    piece,
                    &mut cx.pool,
                );
            }
            keep_alive
        } else {
            let Slot::Ready(h) = &mut x.slots[i] else {
                unreachable!("just replaced");
            };
            h.tail.reserve(256);
            let (keep_alive, body) = encode(p, &mut h.tail, &cx.date, &mut cx.body_scratch);
            if let Some(piece) = body {
                h.push(piece, &mut cx.pool);
            }
            keep_alive
        };
        cx.trim_scratch();
        if !keep_alive {
            // Nothing after this answer will be sent.
            for s in x.slots.drain(i + 1..) {
                if let Slot::Waiting(_, p) = s {
                    cancel(p);
                }
            }
            // Input left unread (pipelined requests, a body still coming) makes it a cut.
            if x.chunked.is_some() || x.body.is_some() || (self.rpos as usize) < self.rbuf.len() {
                self.flags |= C_CUT;
            }
            x.chunked = None;
            x.body = None;
            self.reading = Reading::Closed;
            self.rpos = self.rbuf.len() as u32;
        }
        if i == 0 {
            x.slots.pop_front();
            while let Some(Slot::Ready(_)) = x.slots.front() {
                if let Some(Slot::Ready(mut h)) = x.slots.pop_front() {
                    if !h.pieces.is_empty() {
                        // Behind what the write buffer holds now, in order.
                        if self.wpos as usize != self.wbuf.len() {
                            let buf = std::mem::take(&mut self.wbuf);
                            let pos = self.wpos as usize;
                            x.out.push(Piece::Buf { buf, pos }, &mut cx.pool);
                            self.wpos = 0;
                        }
                        x.out.append(&mut h.pieces);
                    }
                    if !h.tail.is_empty() {
                        if self.wbuf.capacity() == 0 {
                            self.wbuf = cx.pool.get();
                        }
                        self.wbuf.extend_from_slice(&h.tail);
                    }
                }
            }
        }
        true
    }

    /// Queues `piece` right behind the answer just written (into the write buffer, or into
    /// the answers held behind a waiting one).
    #[cold]
    fn push_after_answer(&mut self, cx: &mut Context) {
        let Some(piece) = cx.piece.take() else {
            return;
        };
        let pool = &mut cx.pool;
        let x = self.extra.get_or_insert_with(Box::default);
        match x.slots.back_mut() {
            Some(Slot::Ready(h)) => h.push(piece, pool),
            Some(Slot::Waiting(..)) => unreachable!("an answer given now went to a Ready slot"),
            None => seal_and_push(&mut x.out, &mut self.wbuf, &mut self.wpos, piece, pool),
        }
    }

    /// The front of the answer queue when it is a request still waiting: its sequence number,
    /// the caller's bookkeeping, and the connection's output, where that answer's bytes go now
    /// (everything before it is already there). For answers produced in parts (streams); end
    /// one with [`Conn::resolve`].
    pub fn front_waiting<'a>(
        &'a mut self,
        cx: &'a mut Context,
    ) -> Option<(u32, &'a mut P, StreamOut<'a>)> {
        let x = self.extra.as_deref_mut()?;
        let Extra { slots, out, .. } = x;
        match slots.front_mut() {
            Some(Slot::Waiting(seq, p)) => Some((
                *seq,
                p,
                StreamOut {
                    wbuf: &mut self.wbuf,
                    wpos: &mut self.wpos,
                    out,
                    pool: &mut cx.pool,
                    date: &cx.date,
                },
            )),
            _ => None,
        }
    }

    /// The bookkeeping of request `seq`, if it still waits, for changing it.
    pub fn waiting_mut(&mut self, seq: u32) -> Option<&mut P> {
        self.extra.as_mut()?.slots.iter_mut().find_map(|s| match s {
            Slot::Waiting(q, p) if *q == seq => Some(p),
            _ => None,
        })
    }

    /// Whether an answer is owed to a request answered later (answers may be queued behind it).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| !x.slots.is_empty())
    }

    /// Whether the peer closed its sending side.
    #[inline]
    pub fn saw_eof(&self) -> bool {
        self.flags & C_EOF != 0
    }

    /// Answers a request the core refused: its status, a one-line body, and close.
    #[cold]
    fn reject(&mut self, e: RequestError, cx: &mut Context) -> Step<'_> {
        cx.stats[Counter::Rejected] += 1;
        cx.stats.errors[e.index()] += 1;
        Step::Refused(self.refuse(e.status(), e.as_str(), cx))
    }

    /// Answers `status` for the request at `rpos` without its handler and closes; returns what
    /// a log needs to record it.
    #[cold]
    fn refuse(&mut self, status: u16, reason: &'static str, cx: &mut Context) -> Refused<'_> {
        let start = (self.rpos as usize).min(self.rbuf.len());
        let bytes = if status == 505 && self.rbuf[start..].starts_with(H2_PREFACE) {
            self.goaway_h2(cx)
        } else {
            self.fail(status, cx)
        };
        Refused {
            status,
            reason,
            line: request_line(&self.rbuf[start..]),
            bytes,
        }
    }

    /// Answers `408 Request Timeout` and closes: a head did not arrive in time (`reason`
    /// `timeout`), or a body came in slower than the minimum data rate (`slow_body`).
    ///
    /// A streamed body's reader is told (`BodyError::TimedOut`). Its handler has been called,
    /// so there the 408 goes out only in place of the answer owed for it: the only one owed,
    /// still waiting, and with none of it written (`unstarted`); that answer goes to `cancel`.
    /// Otherwise the connection just closes.
    #[cold]
    pub fn time_out(
        &mut self,
        reason: &'static str,
        unstarted: impl FnOnce(&P) -> bool,
        cancel: impl FnOnce(P),
        cx: &mut Context,
    ) -> Refused<'_> {
        if self.reading == Reading::Stream {
            if let Some(s) = self.extra.as_mut().and_then(|x| x.body.as_mut()) {
                if let Some(mut sink) = s.sink.take() {
                    sink.end(Err(BodyError::TimedOut));
                }
            }
            if let Some(owed) = self.withdraw_unstarted(unstarted) {
                cancel(owed);
                return self.refuse(408, reason, cx);
            }
            self.close_reading();
            return Refused {
                status: 408,
                reason,
                line: b"",
                bytes: 0,
            };
        }
        self.refuse(408, reason, cx)
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
        self.close_reading();
        0
    }

    /// Answers `status` with a one-line body and closes; nothing after it is read. Returns the
    /// body's length.
    #[cold]
    fn fail(&mut self, status: u16, cx: &mut Context) -> u64 {
        cx.stats.status[status_class(status)] += 1;
        let out = out_buf(&mut self.wbuf, &mut self.extra, &mut cx.pool);
        let body = plain_answer(out, status, &cx.date, b"");
        self.close_reading();
        body
    }

    /// Stops reading with the client possibly still sending: a refusal, a timeout, a body
    /// nobody reads, an error in its framing.
    fn close_reading(&mut self) {
        self.flags |= C_CUT;
        self.reading = Reading::Closed;
        if let Some(x) = &mut self.extra {
            x.chunked = None;
            x.body = None; // a streamed body's reader sees the end (`BodyError::Closed`)
        }
    }

    /// Response bytes waiting in the write buffer. When [`Conn::has_pieces`] says so, pieces
    /// come before them: write from [`Conn::front`] or [`Conn::gather`] instead.
    #[inline]
    pub fn output(&self) -> &[u8] {
        &self.wbuf[self.wpos as usize..]
    }

    /// Whether bodies written by reference (or sealed buffers) wait ahead of [`Conn::output`].
    #[inline]
    pub fn has_pieces(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| !x.out.is_empty())
    }

    /// Whether response bytes wait to be written.
    #[inline]
    pub fn has_output(&self) -> bool {
        (self.wpos as usize) < self.wbuf.len() || self.has_pieces()
    }

    /// Response bytes waiting to be written, pieces included.
    #[inline]
    pub fn output_len(&self) -> u64 {
        let queued = match &self.extra {
            Some(x) => x.out.bytes(),
            None => 0,
        };
        queued + (self.wbuf.len() - self.wpos as usize) as u64
    }

    /// What to write next: the first piece, or the write buffer.
    pub fn front(&self) -> Front<'_> {
        match &self.extra {
            Some(x) if !x.out.is_empty() => x.out.front(),
            _ if self.has_output() => Front::Bytes(self.output()),
            _ => Front::Nothing,
        }
    }

    /// Fills `iov` with the memory to write next, in order: the pieces up to the first file
    /// piece (or all of them and then the write buffer). Returns how many slices it filled;
    /// 0 when a file piece comes first ([`Conn::front`] says which).
    pub fn gather<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> usize {
        let (mut k, all) = match &self.extra {
            Some(x) => x.out.gather(iov),
            None => (0, true),
        };
        if all && k < iov.len() && self.wpos as usize != self.wbuf.len() {
            iov[k] = IoSlice::new(self.output());
            k += 1;
        }
        k
    }

    /// Whether bytes wait in the write buffer itself ([`Conn::output`]).
    #[inline]
    pub fn has_buffered_output(&self) -> bool {
        (self.wpos as usize) < self.wbuf.len()
    }

    /// Marks `n` bytes of [`Conn::output`] as written, when no pieces are queued
    /// ([`Conn::has_pieces`] is false; otherwise use [`Conn::consume`]).
    #[inline]
    pub fn consume_buffered(&mut self, n: usize) {
        debug_assert!(!self.has_pieces());
        let w = self.wpos as usize + n;
        if w >= self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        } else {
            self.wpos = w as u32;
        }
    }

    /// Marks `n` bytes of the output as written, from the front (pieces, then the write
    /// buffer). Written pieces' buffers go back to `pool`.
    #[inline]
    pub fn consume(&mut self, n: usize, pool: &mut BufPool) {
        let n = match &mut self.extra {
            Some(x) if !x.out.is_empty() => x.out.consume(n as u64, pool) as usize,
            _ => n,
        };
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
        self.reading == Reading::Closed || self.flags & C_EOF != 0
    }

    /// Whether reading stopped while the client may still be sending (a refusal, a timeout, an
    /// unread or unfinished body, requests after a closing answer): closing the socket with
    /// its bytes unread would reset the connection and can destroy the answer in flight, so
    /// the worker closes such a connection lingering (its sending side first, then discarding
    /// input for a while).
    #[inline]
    pub fn cut_short(&self) -> bool {
        self.flags & C_CUT != 0
    }

    /// Whether the connection is finished: closing and nothing left to write.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.is_closing() && !self.has_output() && !self.has_pending()
    }

    /// Whether the worker should read more: not closing, and the unsent output is below the
    /// write high-water mark (backpressure against clients that do not read their responses).
    #[inline(always)]
    pub fn wants_read(&self, limits: &Limits) -> bool {
        !self.is_closing()
            && self.output_len() < limits.write_high_water as u64
            && !self.queue_full(limits)
            && !self.stream_full()
    }

    /// A streamed body whose reader has no room: reading pauses until it makes some.
    #[inline]
    fn stream_full(&self) -> bool {
        self.reading == Reading::Stream && self.stream_room() == Some(0)
    }

    /// Room the sink of a streamed body has now (`None`: no sink, the body is drained).
    #[cold]
    fn stream_room(&self) -> Option<usize> {
        let sb = self.extra.as_ref()?.body.as_ref()?;
        sb.sink.as_ref().map(|s| s.room())
    }

    /// Whether a request body is being streamed to its handler.
    #[inline]
    pub fn streaming_body(&self) -> bool {
        self.reading == Reading::Stream
    }

    /// Whether [`Conn::step`] has buffered bytes to work on: a request not yet handed out, or
    /// body bytes for a handler reading a streamed body (read even after the peer's EOF).
    #[inline]
    pub fn has_work(&self) -> bool {
        self.mid_request() && (!self.is_closing() || self.streaming_body())
    }

    /// Whether a request head has started and is not complete yet (the header timeout applies).
    #[inline]
    pub fn reading_head(&self) -> bool {
        self.mid_request() && !matches!(self.reading, Reading::Body(_) | Reading::Stream)
    }

    /// Whether a complete head waits for (more of) its body.
    #[inline]
    pub fn reading_body(&self) -> bool {
        match self.reading {
            Reading::Body(_) => self.mid_request(),
            // Waiting for the client only while the handler has room for more.
            Reading::Stream => self.stream_room() != Some(0),
            _ => false,
        }
    }

    /// Bytes of the request in progress received so far (its head and body as buffered).
    #[inline]
    pub fn buffered_request_bytes(&self) -> u32 {
        if self.reading == Reading::Stream {
            // A streamed body: what arrived of it (modulo 2^32; compare with wrapping_sub).
            let got = self.extra.as_ref().and_then(|x| x.body.as_ref());
            let buffered = (self.rbuf.len() as u32).wrapping_sub(self.rpos);
            return got.map_or(0, |b| b.received as u32).wrapping_add(buffered);
        }
        (self.rbuf.len() as u32).saturating_sub(self.rpos)
    }

    /// Whether bytes of an unfinished request are buffered (mid-head or mid-body).
    #[inline]
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

    /// Takes back the answer owed for a streamed request if it is the only one owed, still
    /// waits, and `unstarted` says none of it was written, so that another can go in its place.
    fn withdraw_unstarted(&mut self, unstarted: impl FnOnce(&P) -> bool) -> Option<P> {
        let x = self.extra.as_mut()?;
        match x.slots.front() {
            Some(Slot::Waiting(_, p)) if x.slots.len() == 1 && unstarted(p) => {
                match x.slots.pop_front() {
                    Some(Slot::Waiting(_, p)) => Some(p),
                    _ => unreachable!("the front was just seen waiting"),
                }
            }
            _ => None,
        }
    }

    /// The connection is being closed: hands the bookkeeping of every request still waiting to
    /// `cancel` and gives every buffer back to the pool.
    pub fn release_all(&mut self, pool: &mut BufPool, mut cancel: impl FnMut(P)) {
        if let Some(x) = &mut self.extra {
            for s in x.slots.drain(..) {
                match s {
                    Slot::Waiting(_, p) => cancel(p),
                    Slot::Ready(mut h) => h.pieces.clear(pool),
                }
            }
            x.out.clear(pool);
        }
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

/// The connection's output, for an answer written in parts ([`Conn::front_waiting`]).
#[derive(Debug)]
pub struct StreamOut<'a> {
    wbuf: &'a mut Vec<u8>,
    wpos: &'a mut u32,
    out: &'a mut Pieces,
    pool: &'a mut BufPool,
    /// The `Server`/`Date` block, for a head written now.
    pub date: &'a DateCache,
}

impl StreamOut<'_> {
    /// The write buffer (a pooled one is taken if the connection holds none): append here.
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        if self.wbuf.capacity() == 0 {
            *self.wbuf = self.pool.get();
        }
        self.wbuf
    }

    /// Appends `b`: copied if small, queued by reference if large.
    pub fn push_bytes(&mut self, b: bytes::Bytes) {
        if b.len() < crate::proto::output::ZERO_COPY_MIN {
            self.buf().extend_from_slice(&b);
        } else {
            seal_and_push(self.out, self.wbuf, self.wpos, Piece::Bytes(b), self.pool);
        }
    }

    /// Bytes of output not written yet.
    #[inline]
    pub fn pending(&self) -> u64 {
        self.out.bytes() + (self.wbuf.len() - *self.wpos as usize) as u64
    }
}

/// Queues `piece` behind the write buffer's unwritten bytes: they are sealed into a piece of
/// their own first, so the order on the wire stays the order of the answers.
fn seal_and_push(
    out: &mut Pieces,
    wbuf: &mut Vec<u8>,
    wpos: &mut u32,
    piece: Piece,
    pool: &mut BufPool,
) {
    if *wpos as usize != wbuf.len() {
        let buf = std::mem::take(wbuf);
        out.push(
            Piece::Buf {
                buf,
                pos: *wpos as usize,
            },
            pool,
        );
    } else if wbuf.capacity() != 0 {
        wbuf.clear();
    }
    *wpos = 0;
    out.push(piece, pool);
}

/// Writes a complete `status` answer with its reason phrase as a one-line `text/plain` body,
/// the header lines in `extra` (`Name: value\r\n` each), and `Connection: close` to `out`;
/// returns the body's length. The one place a refusal is rendered (the core's refusals and
/// timeouts, the worker's overload answer).
pub fn plain_answer(out: &mut Vec<u8>, status: u16, date: &DateCache, extra: &[u8]) -> u64 {
    let reason = reason(status);
    let mut line = [0u8; crate::proto::fields::STATUS_LINE_MAX];
    let n = crate::proto::fields::render_status_line(status, &mut line);
    out.extend_from_slice(&line[..n]);
    out.extend_from_slice(date.block());
    out.extend_from_slice(extra);
    out.extend_from_slice(b"Content-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(reason.len() + 1).as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
    reason.len() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_answer_is_a_complete_response() {
        let mut out = Vec::new();
        let n = plain_answer(&mut out, 413, &DateCache::new(0), b"");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(n, "Content Too Large\n".len() as u64);
        assert!(text.starts_with("HTTP/1.1 413 Content Too Large\r\nServer: strela\r\nDate: "));
        assert!(
            text.ends_with("Content-Length: 18\r\nConnection: close\r\n\r\nContent Too Large\n")
        );
    }

    /// A sink whose reader (on another thread, in life) keeps emptying the window: it never
    /// has room for more than `grant` bytes at a time, and is never full.
    #[derive(Debug)]
    struct Draining {
        grant: usize,
        got: std::sync::Arc<std::sync::Mutex<(Vec<u8>, Option<bool>)>>,
    }

    impl BodySink for Draining {
        fn room(&self) -> usize {
            self.grant
        }
        fn limit(&self) -> u64 {
            u64::MAX
        }
        fn push(&mut self, data: &[u8]) {
            assert!(data.len() <= self.grant, "pushed more than the room given");
            self.got.lock().unwrap().0.extend_from_slice(data);
        }
        fn end(&mut self, result: Result<(), BodyError>) {
            self.got.lock().unwrap().1.get_or_insert(result.is_ok());
        }
        fn abandoned(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_streamed_body_is_fed_until_the_sink_says_it_is_full() {
        // The sink's room ran out with the rest of the body in the read buffer and nothing
        // more on its way from the socket, while its reader emptied the window: feeding must
        // go on (asking the sink again), not wait for a wake nobody owes.
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut chunked = Vec::new();
        for part in body.chunks(777) {
            chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let length = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        for (framing, encoded) in [
            (&b"Transfer-Encoding: chunked\r\n\r\n"[..], &chunked),
            (&length[..], &body),
        ] {
            let mut cx = Context::new(&Limits::default(), 0);
            let mut c: Conn = Conn::new();
            let mut wire = b"POST /up HTTP/1.1\r\nHost: a\r\n".to_vec();
            wire.extend_from_slice(framing);
            wire.extend_from_slice(&encoded[..10]); // the head and the start of the body
            c.feed(&wire, &mut cx);
            let sent = |_: Incoming<'_>| Answer::Sent {
                status: 200,
                keep_alive: true,
                deferral_refused: false,
            };
            assert!(matches!(c.step(&mut cx, sent), Step::Head));
            let got = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), None)));
            let sink = Draining {
                grant: 100,
                got: got.clone(),
            };
            let stream = |_: Incoming<'_>| {
                let sink: Box<dyn BodySink> = Box::new(sink);
                (
                    Answer::Sent {
                        status: 200,
                        keep_alive: true,
                        deferral_refused: false,
                    },
                    Some(sink),
                )
            };
            assert!(matches!(c.answer_head(&mut cx, stream), Step::Sent));
            // The rest of the body and the next request arrive in one read.
            let mut rest = encoded[10..].to_vec();
            rest.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
            c.feed(&rest, &mut cx);
            let mut next = None;
            let step = c.step(&mut cx, |r| {
                next = Some(r.head.path.get(r.bytes).to_vec());
                sent(r)
            });
            assert!(
                matches!(step, Step::Sent),
                "the next request was not reached"
            );
            assert_eq!(next.as_deref(), Some(&b"/next"[..]));
            let got = got.lock().unwrap();
            assert_eq!(got.1, Some(true), "the body did not end");
            assert!(
                got.0 == body,
                "the sink got {} of {} bytes",
                got.0.len(),
                body.len()
            );
        }
    }

    #[test]
    fn the_read_state_follows_the_bytes() {
        let mut cx = Context::new(&Limits::default(), 0);
        let mut c: Conn = Conn::new();
        assert_eq!(c.reading, Reading::Head);
        c.feed(b"POST / HTTP/1.1\r\nHo", &mut cx);
        // A body not all here is first offered to the caller, who has it buffered.
        let sent = |_: Incoming<'_>| Answer::Sent {
            status: 200,
            keep_alive: false,
            deferral_refused: false,
        };
        assert!(matches!(c.step(&mut cx, sent), Step::Wait));
        assert!(matches!(c.reading, Reading::PartialHead { .. }));
        assert!(c.reading_head() && !c.reading_body());
        c.feed(b"st: a\r\nContent-Length: 3\r\n\r\nab", &mut cx);
        assert!(matches!(c.step(&mut cx, sent), Step::Head));
        let buffer = |_: Incoming<'_>| (Answer::Buffer { limit: 1 << 20 }, None);
        assert!(matches!(c.answer_head(&mut cx, buffer), Step::Wait));
        assert!(matches!(c.reading, Reading::Body(_)));
        assert!(c.reading_body());
        c.feed(b"c", &mut cx);
        let mut len = 0;
        let step = c.step(&mut cx, |r| {
            len = r.head.content_length();
            Answer::Sent {
                status: 200,
                keep_alive: false,
                deferral_refused: false,
            }
        });
        assert!(matches!(step, Step::Sent));
        assert_eq!(len, 3);
        assert_eq!(c.reading, Reading::Closed);
        assert!(matches!(c.step(&mut cx, sent), Step::Wait));
    }
}
