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

use crate::proto::conn::{Answer, Conn, Context, Incoming, Refused, Step};
use crate::proto::fields::status_class;
use crate::proto::head::{Method, Version};
use crate::proto::stats::Counter;
use crate::service::defer::{Cell, Done, Inbox, Reply};
use crate::service::handler::{Handler, Refusal};
use crate::service::request::{Request, RequestMeta};
use crate::service::response::{DeferSite, Response};

/// A request answered later: what its answer needs once it comes.
#[derive(Debug)]
pub struct Waiting {
    received: Instant,
    cell: Arc<Cell>,
    keep_alive: bool,
    head_only: bool,
    version: Version,
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
            deadlines: BinaryHeap::new(),
        }
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
                limits,
                seq,
                draining,
            } = inc;
            svc.meta.id += 1;
            let req = Request::new(bytes, head, spans, &svc.meta);
            let head_only = head.method_kind == Method::Head;
            let site = DeferSite {
                inbox: &svc.inbox,
                token: at.token,
                seq,
                received: svc.meta.received,
                timeout: limits.deferred_timeout,
                room: svc.deferred < limits.max_deferred,
            };
            let mut res = Response::new(out, body_scratch, date, head_only);
            res.set_site(&site);
            // A panicking handler must not take the worker down: its partial response is
            // dropped and the client gets a 500 and a close. Free on the happy path.
            let ran = catch_unwind(AssertUnwindSafe(|| handler.call(&req, &mut res)));
            if ran.is_err() {
                res.discard();
                return Answer::Failed;
            }
            if let Some(taken) = res.take_deferred() {
                // Answered later: keep this request's place in the answer order.
                res.discard();
                let keep_alive = req.keep_alive() && !draining;
                svc.deadlines.push(Reverse((taken.deadline, at.token, seq)));
                svc.deferred += 1;
                return Answer::Later {
                    pending: Waiting {
                        received: svc.meta.received,
                        cell: taken.cell,
                        keep_alive,
                        head_only,
                        version: head.version,
                    },
                    keep_alive,
                };
            }
            let deferral_refused = res.defer_refused();
            let keep_alive = req.keep_alive() && !res.will_close() && !draining;
            let status = res.status_code();
            res.finish_into(keep_alive, head.version, piece);
            Answer::Sent {
                status,
                keep_alive,
                deferral_refused,
            }
        });
        match step {
            Step::Wait => break,
            Step::Sent => finished += 1,
            Step::Later => {}
            Step::Refused(r) => tell(handler, &r, at.peer),
        }
        answered += 1;
    }
    if finished != 0 {
        // One clock read per batch; pipelined requests share the observation.
        let ns = svc.meta.received.elapsed().as_nanos() as u64;
        cx.stats.latency.observe(ns, finished);
    }
    answered
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
    let mut answered: Option<(u16, Instant)> = None;
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
        |w| {
            w.cell.cancel();
            cancelled += 1;
        },
    );
    if let Some((status, received)) = answered {
        svc.deferred -= 1;
        cx.stats[Counter::Requests] += 1;
        cx.stats.status[status_class(status)] += 1;
        cx.stats
            .latency
            .observe(received.elapsed().as_nanos() as u64, 1);
    }
    svc.deferred -= cancelled;
    cx.stats[Counter::DeferredCancelled] += cancelled as u64;
    found
}

/// Answers deferred request `seq` with `504 Gateway Timeout` (its deadline passed) and sets its
/// cancellation flag. Does nothing if it is not waiting.
pub fn expire(conn: &mut Connection, seq: u32, cx: &mut Context, svc: &mut Service) -> bool {
    let Some(w) = conn.waiting(seq) else {
        return false;
    };
    w.cell.cancel();
    cx.stats[Counter::DeferredExpired] += 1;
    complete(conn, seq, Reply::plain_status(504), cx, svc)
}

/// Answers `408` for a request that took too long to arrive (`reason`: `timeout` for a head,
/// `slow_body` for a body under the minimum data rate) and tells the handler.
#[cold]
pub fn time_out<H: Handler + ?Sized>(
    conn: &mut Connection,
    reason: &'static str,
    peer: Option<SocketAddr>,
    handler: &H,
    cx: &mut Context,
) {
    let r = conn.time_out(reason, cx);
    tell(handler, &r, peer);
}

/// The connection is going away: cancels its deferred requests still waiting (their handles
/// see the cancellation) and gives its buffers back.
pub fn release(conn: &mut Connection, cx: &mut Context, svc: &mut Service) {
    let mut cancelled = 0usize;
    conn.release_all(&mut cx.pool, |w| {
        w.cell.cancel();
        cancelled += 1;
    });
    svc.deferred -= cancelled;
    cx.stats[Counter::DeferredCancelled] += cancelled as u64;
}
