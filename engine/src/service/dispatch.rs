//! Driving a connection with a handler: the one place a request meets its handler.
//!
//! [`process`] takes every complete request [`Conn::step`] hands out, builds the [`Request`]
//! view and the [`Response`] over the connection's output, calls the handler with a panic guard,
//! and reports the answer back to the connection — written now, or deferred (its place kept
//! in the answer order with a [`Waiting`] entry until [`complete`]). It counts what happened and
//! times each batch (the clock is read here, never in `proto`). Requests the core refused are
//! told to the handler ([`Handler::refused`], for access logs) and logged at debug level.
//!
//! [`Service`] is the per-worker state this needs beside the protocol's [`Context`]: the inbox
//! deferred answers come back through, their deadlines, the facts of the request being
//! answered.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crate::service::clock::Stamp;

use crate::proto::body::BodySink;
use crate::proto::conn::{Answer, Conn, Context, Incoming, Refused, Step};
use crate::proto::fields::status_class;
use crate::proto::head::{Method, Version};
use crate::proto::limits::Limits;
use crate::proto::stats::Counter;
use crate::service::body::{BodyPolicy, BodyTap};
use crate::service::defer::{Cell, Done, Inbox, Reply};
use crate::service::handler::{Handler, Refusal};
use crate::service::request::{Request, RequestMeta};
use crate::service::response::{DeferSite, Response};
use crate::service::stream::{BodySource, Chan, Produce};

/// A request answered later, or whose body is still being streamed: what its answer needs.
#[derive(Debug)]
pub struct Waiting {
    received: Stamp,
    /// The deferred handle's shared state (none for a stream started on the worker).
    cell: Option<Arc<Cell>>,
    keep_alive: bool,
    head_only: bool,
    version: Version,
    /// The body being streamed, once its head is given.
    stream: Option<Box<Streaming>>,
}

/// A streamed body in progress.
struct Streaming {
    source: Source,
    /// `Transfer-Encoding: chunked` (HTTP/1.1); otherwise the body ends with the connection.
    chunked: bool,
    /// A deferred stream's head, written when the stream reaches the front of the queue.
    head: Option<Reply>,
    /// The status sent.
    status: u16,
    /// Parts taken from a writer, reused between pumps.
    parts: Vec<bytes::Bytes>,
}

enum Source {
    Local(Box<dyn BodySource>),
    Writer(Arc<Chan>),
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("chunked", &self.chunked)
            .field("writer", &matches!(self.source, Source::Writer(_)))
            .finish_non_exhaustive()
    }
}

impl Waiting {
    /// The request will not be answered (its connection closes): tells whoever produces the
    /// answer. Returns whether it was a deferred request still awaiting its reply.
    fn cancel(self) -> bool {
        match self.stream {
            Some(s) => {
                if let Source::Writer(chan) = &s.source {
                    chan.close();
                }
                false
            }
            None => {
                if let Some(c) = &self.cell {
                    c.cancel();
                }
                self.cell.is_some()
            }
        }
    }
}

/// A connection driven by [`process`].
pub type Connection = Conn<Waiting>;

/// Which connection is being processed: its token in the worker (deferred handles carry it
/// back) and its peer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    /// The connection's token.
    pub token: u64,
    /// The client's address, when known.
    pub peer: Option<SocketAddr>,
}

/// Per-worker state of the handler side: where deferred answers arrive, how many are in
/// flight, their deadlines, and the facts of the request being answered.
#[derive(Debug)]
pub struct Service {
    /// Where completed deferred replies arrive for this worker.
    pub inbox: Arc<Inbox>,
    /// Deferred requests in flight on this worker (bounded by `Limits::max_deferred`).
    pub deferred: usize,
    /// Facts for the next request: `received` is set by the caller when the bytes were read,
    /// `peer` per connection, `id` advances per request (the top 16 bits are the worker's).
    pub meta: RequestMeta,
    /// A clock reading the caller may take as the next `meta.received` instead of reading the
    /// clock again: set when latency is observed (and by the worker on waking up), taken by
    /// the next read. Nothing but a read may happen between its setting and its use.
    pub clock: Option<Stamp>,
    /// Requests answered since latency was last observed, all timed from `meta.received`.
    unobserved: u64,
    deadlines: BinaryHeap<Reverse<(Instant, u64, u32)>>,
}

impl Service {
    /// A service whose completions arrive in `inbox`; request ids start at `worker << 48`.
    pub fn new(inbox: Arc<Inbox>, worker: u16) -> Self {
        Service {
            inbox,
            deferred: 0,
            meta: RequestMeta {
                id: u64::from(worker) << 48,
                ..RequestMeta::default()
            },
            clock: None,
            unobserved: 0,
            deadlines: BinaryHeap::new(),
        }
    }

    /// Observes the latency of the requests answered since the last observation — from
    /// `meta.received` to `now`, the caller's clock reading once their answers are written —
    /// and keeps `now` in [`Service::clock`] for the next read. Reads no clock itself.
    #[inline]
    pub fn observe_latency(&mut self, stats: &mut crate::proto::stats::Stats, now: Stamp) {
        if self.unobserved != 0 {
            let ns = now.nanos_since(self.meta.received);
            stats.latency.observe(ns, self.unobserved);
            self.unobserved = 0;
        }
        self.clock = Some(now);
    }

    /// Whether answered requests wait for [`Service::observe_latency`].
    #[inline]
    pub fn has_unobserved(&self) -> bool {
        self.unobserved != 0
    }

    /// A service with an inbox nobody is woken for (sans-IO users poll it with
    /// [`Service::take_completions`]).
    pub fn unattached() -> Self {
        Service::new(Arc::new(Inbox::new(|| {})), 0)
    }

    /// Moves the completed deferred replies waiting in the inbox into `out`.
    pub fn take_completions(&self, out: &mut Vec<Done>) {
        self.inbox.take(out);
    }

    /// The earliest deadline of a deferred request still remembered (it may have been answered
    /// since: [`expire`] then does nothing).
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

/// Tells the handler (access logs) and the debug log about a request the core answered itself.
#[cold]
fn tell<H: Handler + ?Sized>(handler: &H, r: &Refused<'_>, peer: Option<SocketAddr>) {
    log::debug!(
        "refused peer={} status={} reason={} line={:?}",
        peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
        r.status,
        r.reason,
        String::from_utf8_lossy(r.line)
    );
    handler.refused(&Refusal {
        peer,
        status: r.status,
        reason: r.reason,
        line: r.line,
        bytes: r.bytes,
    });
}

/// Answers every complete request in the connection's read buffer (pipelining), in order,
/// appending all answers of the batch to one write buffer. Returns how many requests were
/// answered (refusals included). Stops at the first request that closes the connection, or
/// once the high-water mark of output waits.
#[inline]
pub fn process<H: Handler + ?Sized>(
    conn: &mut Connection,
    at: Origin,
    handler: &H,
    cx: &mut Context,
    svc: &mut Service,
) -> usize {
    svc.meta.peer = at.peer;
    let mut answered = 0;
    let mut finished = 0u64;
    // The service's parts, borrowed apart: the deferral site holds the inbox for the whole
    // batch while each request takes its id and a deferral takes its deadline.
    let Service {
        inbox,
        deferred,
        meta,
        deadlines,
        unobserved,
        ..
    } = svc;
    let site = defer_site(inbox, *deferred, meta.received, at, &cx.limits);
    loop {
        let step = conn.step(cx, |inc| {
            let Incoming {
                bytes,
                head,
                spans,
                out,
                body_scratch,
                piece,
                date,
                seq,
                draining,
                ..
            } = inc;
            meta.id += 1;
            let req = Request::new(bytes, head, spans, meta);
            let mut res = Response::new(out, body_scratch, date, head.method_kind == Method::Head);
            res.set_site(&site, seq);
            if !run_handler(handler, &req, &mut res) {
                res.discard();
                return Answer::Failed;
            }
            let (ka, received) = (req.keep_alive(), meta.received);
            if res.is_plain() {
                // The usual answer, finished where it is (moving the response costs a copy).
                let answer = send(&mut res, ka, head.version, draining, piece);
                res.dispose();
                return answer;
            }
            conclude(
                res,
                ka,
                head.version,
                draining,
                piece,
                deadlines,
                deferred,
                received,
                at,
                seq,
            )
        });
        match step {
            Step::Wait => break,
            Step::Again => continue,
            Step::Head => {
                let step = conn.answer_head(cx, |inc| {
                    answer_head(inc, at, handler, &site, meta, deadlines, deferred)
                });
                match step {
                    Step::Wait => break,
                    Step::Again => continue,
                    Step::Refused(r) => tell(handler, &r, at.peer),
                    Step::Sent | Step::Later | Step::Head => {}
                }
            }
            Step::Sent => finished += 1,
            Step::Later => {}
            Step::Refused(r) => tell(handler, &r, at.peer),
        }
        answered += 1;
    }
    // Observed by the caller once the answers are written (one clock reading per batch, which
    // also starts the next read's timing): pipelined requests share the observation.
    *unobserved += finished;
    answered
}

/// Where a handler that defers finds its connection (the inbox, the connection, the
/// deadline, the deferrals left), for one batch.
#[inline(always)]
fn defer_site<'a>(
    inbox: &'a Arc<Inbox>,
    in_flight: usize,
    received: Stamp,
    at: Origin,
    limits: &Limits,
) -> DeferSite<'a> {
    DeferSite {
        inbox,
        token: at.token,
        received,
        timeout: limits.deferred_timeout,
        slots: std::cell::Cell::new(limits.max_deferred.saturating_sub(in_flight)),
        stream_limit: limits.write_high_water,
    }
}

/// Calls the handler; `false` if it panicked. A panicking handler must not take the worker
/// down: the caller drops its partial response and the client gets a 500 and a close. Free on
/// the happy path.
#[inline(always)]
fn run_handler<H: Handler + ?Sized>(
    handler: &H,
    req: &Request<'_>,
    res: &mut Response<'_>,
) -> bool {
    catch_unwind(AssertUnwindSafe(|| handler.call(req, res))).is_ok()
}

/// What the handler's response becomes: deferred (its place in the answer order kept), a
/// stream, or written now. `wants_keep_alive`: the request asks for the connection to persist
/// (and nothing else, such as an undrainable body, closes it).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn conclude(
    mut res: Response<'_>,
    wants_keep_alive: bool,
    version: Version,
    draining: bool,
    piece: &mut Option<crate::proto::output::Piece>,
    deadlines: &mut BinaryHeap<Reverse<(Instant, u64, u32)>>,
    deferred: &mut usize,
    received: Stamp,
    at: Origin,
    seq: u32,
) -> Answer<Waiting> {
    if let Some(taken) = res.take_deferred() {
        // Answered later: keep this request's place in the answer order.
        let head_only = res.is_head_only();
        res.discard();
        let keep_alive = wants_keep_alive && !draining;
        deadlines.push(Reverse((taken.deadline, at.token, seq)));
        *deferred += 1;
        return Answer::Later {
            pending: Waiting {
                received,
                cell: Some(taken.cell),
                keep_alive,
                head_only,
                version,
                stream: None,
            },
            keep_alive,
        };
    }
    if res.is_stream() {
        let keep_alive = wants_keep_alive && !res.will_close() && !draining;
        return start_stream(res, keep_alive, version, received);
    }
    send(&mut res, wants_keep_alive, version, draining, piece)
}

/// A response neither deferred nor streamed: finished into the output now.
#[inline(always)]
fn send(
    res: &mut Response<'_>,
    wants_keep_alive: bool,
    version: Version,
    draining: bool,
    piece: &mut Option<crate::proto::output::Piece>,
) -> Answer<Waiting> {
    let keep_alive = wants_keep_alive && !res.will_close() && !draining;
    let deferral_refused = res.defer_refused();
    let status = res.status_code();
    res.finish_ref(keep_alive, version, piece);
    Answer::Sent {
        status,
        keep_alive,
        deferral_refused,
    }
}

/// A request whose body has not arrived whole: asks the handler how it takes the body. A
/// buffering route has the body buffered (and is called again with it); a streaming route's
/// handler runs now, with a [`BodyTap`] on the request: if it asks for the body, the
/// connection feeds it the body as it arrives, otherwise the body is drained or the
/// connection closed after the answer.
#[cold]
#[inline(never)]
fn answer_head<H: Handler + ?Sized>(
    inc: Incoming<'_>,
    at: Origin,
    handler: &H,
    site: &DeferSite<'_>,
    meta: &mut RequestMeta,
    deadlines: &mut BinaryHeap<Reverse<(Instant, u64, u32)>>,
    deferred: &mut usize,
) -> (Answer<Waiting>, Option<Box<dyn BodySink>>) {
    let Incoming {
        bytes,
        head,
        spans,
        out,
        body_scratch,
        piece,
        date,
        limits,
        seq,
        draining,
    } = inc;
    let declared = head.content_length;
    let mut view = *head;
    view.content_length = 0; // the view holds the head only
    let probe = Request::new(bytes, &view, spans, meta);
    let limit = match handler.body_policy(&probe) {
        BodyPolicy::Buffer => {
            let limit = limits.max_body_bytes as u64;
            return (Answer::Buffer { limit }, None);
        }
        BodyPolicy::BufferUpTo(limit) => return (Answer::Buffer { limit }, None),
        // Declared over the limit: refused with 413 from its Content-Length.
        BodyPolicy::Stream(limit) if !head.is_chunked() && declared > limit => {
            return (Answer::Buffer { limit }, None)
        }
        BodyPolicy::Stream(limit) => limit,
    };
    meta.id += 1;
    let tap = BodyTap::new(
        site.inbox.clone(),
        at.token,
        seq,
        limit,
        (!head.is_chunked()).then_some(declared),
    );
    let req = Request::new(bytes, &view, spans, meta).with_tap(&tap);
    // A client waiting for "100 Continue" gets it if the handler asks for the body; it is
    // written now, ahead of the answer, and taken back if the handler does not ask.
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let expects = head.expects_continue();
    if expects {
        out.extend_from_slice(CONTINUE);
    }
    let mut res = Response::new(out, body_scratch, date, head.method_kind == Method::Head);
    res.set_site(site, seq);
    if !run_handler(handler, &req, &mut res) {
        res.discard();
        return (Answer::Failed, None);
    }
    let sink = tap.sink();
    if sink.is_none() && expects {
        res.unprefix(CONTINUE.len()); // not asked for: the 100 is taken back
    }
    let ka = req.keep_alive() && (sink.is_some() || crate::proto::conn::drains(head));
    let received = meta.received;
    let answer = conclude(
        res,
        ka,
        head.version,
        draining,
        piece,
        deadlines,
        deferred,
        received,
        at,
        seq,
    );
    (answer, sink)
}

/// The handler chose to stream: writes the head into the request's output and keeps the
/// request's place while the body is pumped ([`pump`]). HTTP/1.0 gets a body delimited by
/// the connection's end; HEAD, 204 and 304 get the head only.
#[cold]
fn start_stream(
    mut res: Response<'_>,
    keep_alive: bool,
    version: Version,
    received: Stamp,
) -> Answer<Waiting> {
    let Some(source) = res.take_stream() else {
        unreachable!("is_stream said so");
    };
    let status = res.status_code();
    let chunked = version == Version::Http11;
    let keep_alive = keep_alive && chunked;
    if !res.finish_stream(keep_alive, version, chunked) {
        return Answer::Sent {
            status,
            keep_alive,
            deferral_refused: false,
        };
    }
    Answer::Streaming {
        pending: Waiting {
            received,
            cell: None,
            keep_alive,
            head_only: false,
            version,
            stream: Some(Box::new(Streaming {
                source: Source::Local(source),
                chunked,
                head: None,
                status,
                parts: Vec::new(),
            })),
        },
        keep_alive,
    }
}

/// Feeds the streamed body at the front of the connection's answer queue while the
/// connection has room (output below the write high-water mark): asks a source for parts,
/// or takes a writer's queued parts, frames them (chunked) into the output, and ends the
/// stream when it is done — then the answers queued behind it move out too. Returns the bytes
/// of body added. A source that aborts or panics, or a writer dropped unfinished, ends the
/// stream without its terminator and closes the connection.
pub fn pump(conn: &mut Connection, cx: &mut Context, svc: &mut Service) -> usize {
    let mut added = 0;
    let limit = cx.limits.write_high_water as u64;
    loop {
        let Some((seq, w, mut out)) = conn.front_waiting(cx) else {
            return added;
        };
        let Some(st) = w.stream.as_deref_mut() else {
            return added; // a deferred answer not given yet
        };
        if let Some(head) = st.head.take() {
            // A deferred stream reached the front: its head goes out first.
            let date = out.date;
            let mut scratch = Vec::new();
            let mut res = Response::new(out.buf(), &mut scratch, date, w.head_only);
            res.apply(head);
            st.status = res.status_code();
            if !res.finish_stream(w.keep_alive, w.version, st.chunked) {
                // HEAD, 204, 304: the head is the whole answer.
                if let Source::Writer(c) = &st.source {
                    c.close();
                }
                let (received, status, keep_alive) = (w.received, st.status, w.keep_alive);
                end_stream(conn, seq, cx, svc, received, status, keep_alive);
                continue;
            }
        }
        let pending = out.pending();
        if pending >= limit {
            return added;
        }
        let room = (limit - pending) as usize;
        let (n, end) = match &mut st.source {
            Source::Local(src) => {
                let buf = out.buf();
                let at = buf.len();
                if st.chunked {
                    buf.extend_from_slice(b"00000000\r\n"); // the size, filled in below
                }
                let start = buf.len();
                let r = catch_unwind(AssertUnwindSafe(|| src.produce(buf, room)));
                let n = buf.len() - start;
                if st.chunked {
                    if n == 0 {
                        buf.truncate(at);
                    } else {
                        write_size(&mut buf[at..at + 8], n);
                        buf.extend_from_slice(b"\r\n");
                    }
                }
                let end = match r {
                    Ok(Produce::More) => None,
                    Ok(Produce::Done) => Some(true),
                    Ok(Produce::Abort) | Err(_) => Some(false),
                };
                (n, end)
            }
            Source::Writer(chan) => {
                let end = chan.take(room, &mut st.parts);
                let mut n = 0;
                for part in st.parts.drain(..) {
                    n += part.len();
                    if st.chunked {
                        let b = out.buf();
                        let at = b.len();
                        b.extend_from_slice(b"00000000\r\n");
                        write_size(&mut b[at..at + 8], part.len());
                        out.push_bytes(part);
                        out.buf().extend_from_slice(b"\r\n");
                    } else {
                        out.push_bytes(part);
                    }
                }
                (n, end)
            }
        };
        added += n;
        match end {
            None if n == 0 => return added, // nothing now: a writer wakes the worker later
            None => {}
            Some(finished) => {
                if finished && st.chunked {
                    out.buf().extend_from_slice(b"0\r\n\r\n");
                }
                let (received, status) = (w.received, st.status);
                let keep_alive = finished && w.keep_alive;
                if !finished {
                    cx.stats[Counter::StreamsAborted] += 1;
                }
                end_stream(conn, seq, cx, svc, received, status, keep_alive);
            }
        }
    }
}

/// `n` as eight hex digits (a chunk size with leading zeros, which RFC 9112 allows).
fn write_size(out: &mut [u8], n: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out[..8].iter_mut().enumerate() {
        *b = HEX[(n >> (28 - 4 * i)) & 0xf];
    }
}

/// Takes the finished stream `seq` off the front and counts it; `keep_alive` false closes the
/// connection after its output (the requests queued behind it are cancelled).
fn end_stream(
    conn: &mut Connection,
    seq: u32,
    cx: &mut Context,
    svc: &mut Service,
    received: Stamp,
    status: u16,
    keep_alive: bool,
) {
    let mut cancelled = 0usize;
    let found = conn.resolve(
        seq,
        cx,
        |_, _, _, _| (keep_alive, None),
        |w| cancelled += usize::from(w.cancel()),
    );
    if found {
        cx.stats[Counter::Requests] += 1;
        cx.stats.status[status_class(status)] += 1;
        cx.stats
            .latency
            .observe(Stamp::now().nanos_since(received), 1);
    }
    svc.deferred -= cancelled;
    cx.stats[Counter::DeferredCancelled] += cancelled as u64;
}

/// Answers deferred request `seq` with `reply`. Returns `false`, dropping the reply, when that
/// request is not waiting any more (answered already, expired, or cancelled). A reply that
/// closes the connection cancels the requests after it.
pub fn complete(
    conn: &mut Connection,
    seq: u32,
    reply: Reply,
    cx: &mut Context,
    svc: &mut Service,
) -> bool {
    let draining = cx.draining;
    let mut answered: Option<(u16, Stamp)> = None;
    let mut cancelled = 0usize;
    let found = conn.resolve(
        seq,
        cx,
        |w, out, date, scratch| {
            let keep_alive = w.keep_alive && !reply.will_close() && !draining;
            answered = Some((reply.status_code(), w.received));
            let mut res = Response::new(out, scratch, date, w.head_only);
            res.apply(reply);
            (keep_alive, res.finish(keep_alive, w.version))
        },
        |w| cancelled += usize::from(w.cancel()),
    );
    if let Some((status, received)) = answered {
        svc.deferred -= 1;
        cx.stats[Counter::Requests] += 1;
        cx.stats.status[status_class(status)] += 1;
        cx.stats
            .latency
            .observe(Stamp::now().nanos_since(received), 1);
    }
    svc.deferred -= cancelled;
    cx.stats[Counter::DeferredCancelled] += cancelled as u64;
    found
}

/// Hands a completion from the inbox to its connection: a reply ([`complete`]), or the head
/// of a streamed body whose parts follow ([`pump`]). Returns `false` when the request is not
/// waiting any more.
pub fn deliver(conn: &mut Connection, done: Done, cx: &mut Context, svc: &mut Service) -> bool {
    match done.stream {
        None => complete(conn, done.seq, done.reply, cx, svc),
        Some(chan) => start_deferred_stream(conn, done.seq, done.reply, chan, cx, svc),
    }
}

/// Deferred request `seq` is answered with a streamed body: `head` now, the parts from
/// `chan` as they come ([`pump`]). Returns `false` when the request is not waiting any more
/// (the writer then finds the client gone).
fn start_deferred_stream(
    conn: &mut Connection,
    seq: u32,
    head: Reply,
    chan: Arc<Chan>,
    cx: &mut Context,
    svc: &mut Service,
) -> bool {
    let draining = cx.draining;
    let Some(w) = conn.waiting_mut(seq) else {
        chan.close();
        return false;
    };
    if w.stream.is_some() {
        chan.close();
        return false;
    }
    let chunked = w.version == Version::Http11;
    w.keep_alive = w.keep_alive && !head.will_close() && !draining && chunked;
    w.stream = Some(Box::new(Streaming {
        source: Source::Writer(chan),
        chunked,
        head: Some(head),
        status: 200,
        parts: Vec::new(),
    }));
    svc.deferred -= 1;
    cx.stats[Counter::StreamsStarted] += 1;
    pump(conn, cx, svc);
    true
}

/// Answers deferred request `seq` with `504 Gateway Timeout` (its deadline passed) and sets its
/// cancellation flag. Does nothing if it is not waiting.
pub fn expire(conn: &mut Connection, seq: u32, cx: &mut Context, svc: &mut Service) -> bool {
    let Some(w) = conn.waiting(seq) else {
        return false;
    };
    if w.stream.is_some() {
        return false; // streaming: the deadline was for the head
    }
    if let Some(c) = &w.cell {
        c.cancel();
    }
    cx.stats[Counter::DeferredExpired] += 1;
    complete(conn, seq, Reply::plain_status(504), cx, svc)
}

/// Answers `408` for a request that took too long to arrive (`reason`: `timeout` for a head,
/// `slow_body` for a body under the minimum data rate) and tells the handler. A streamed
/// body's handler may be answering already: the 408 goes out only while its answer waits
/// with nothing written (deferred, no stream started).
#[cold]
pub fn time_out<H: Handler + ?Sized>(
    conn: &mut Connection,
    reason: &'static str,
    peer: Option<SocketAddr>,
    handler: &H,
    cx: &mut Context,
    svc: &mut Service,
) {
    // A deferred answer with no stream started has written nothing.
    let mut cancelled = 0;
    let r = conn.time_out(
        reason,
        |w| w.stream.is_none(),
        |w| cancelled += usize::from(w.cancel()),
        cx,
    );
    tell(handler, &r, peer);
    count_cancelled(cancelled, cx, svc);
}

/// The connection is going away: cancels its deferred requests still waiting (their handles
/// see the cancellation) and gives its buffers back.
pub fn release(conn: &mut Connection, cx: &mut Context, svc: &mut Service) {
    let mut cancelled = 0usize;
    conn.release_all(&mut cx.pool, |w| cancelled += usize::from(w.cancel()));
    count_cancelled(cancelled, cx, svc);
}

/// Deferred requests cancelled (their handles told): no longer in flight, and counted.
fn count_cancelled(n: usize, cx: &mut Context, svc: &mut Service) {
    svc.deferred -= n;
    cx.stats[Counter::DeferredCancelled] += n as u64;
}
