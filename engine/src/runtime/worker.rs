//! One worker thread: its own SO_REUSEPORT listener, its own edge-triggered epoll, a slab of
//! connections, a buffer pool, a timer wheel and the protocol context. Shared-nothing: the only
//! thing workers share is the stop flag, read once per wake-up.
//!
//! Per readiness event a connection does one read → `process` (answer every complete request) →
//! one write of the whole batch. A partial write leaves the rest in the connection's write buffer
//! and is resumed on the next `OUT` edge; while more than `write_high_water` bytes wait, the
//! worker stops reading from that client and resumes once the client has drained its responses.
//!
//! Timeouts (no syscall per request): each connection carries a deadline tick, updated by plain
//! stores as it moves between states — reading a head (`header_timeout`, started when the head
//! starts and never extended by trickled bytes), reading a body (the minimum data rate:
//! `min_body_rate` bytes/s averaged over each `body_rate_grace` window, checked when the window
//! ends; below it → 408), idle between requests (`idle_timeout`), waiting for the client to
//! read responses (`write_timeout`). The wheel holds one reminder per connection and checks the
//! real deadline when the reminder comes due.
//!
//! Deferred responses come back through the worker's inbox: a completing thread posts the reply
//! and writes the worker's eventfd (only if the inbox was empty); the worker takes the whole inbox,
//! hands each reply to its connection (which keeps request order) and flushes each touched
//! connection once. Deferred deadlines sit in a heap in the context, and the poll timeout is cut
//! short to the earliest of them (rounded up to the next millisecond), so a missed deadline is not
//! held back to the one-second timer tick.
//! A client that goes away (EOF or hang-up) while deferred answers are owed is treated as gone:
//! the connection closes and the requests' cancellation flags are set, as Go's net/http cancels a
//! request's context when its connection closes.
//!
//! Stopping is graceful: the listener is closed, idle connections are closed at once, a request
//! already being received is finished and answered with `Connection: close`, and whatever is
//! still open when the drain timeout passes is closed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::service::clock::Stamp;

use crate::proto::conn::{plain_answer, Context};
use crate::proto::output::Front;
use crate::proto::stats::{Counter, TimeoutKind};
use crate::runtime::shared::Shared;
use crate::runtime::slab::Slab;
use crate::runtime::timer::Wheel;
use crate::service::defer::{Done, Inbox};
use crate::service::dispatch::{self, Connection, Origin, Service};
use crate::service::handler::{Handler, Refusal};
use crate::sys::{self, Poller, ReadOutcome, Ready, SendFile};

const TOKEN_WAKER: u64 = u64::MAX;
/// Listener `i` is registered as `TOKEN_LISTENER0 - i` (connection tokens are slab indices,
/// far below).
const TOKEN_LISTENER0: u64 = u64::MAX - 1;
const MAX_LISTENERS: u64 = 1024;
/// How long to wait before retrying accept after running out of descriptors.
const ACCEPT_BACKOFF_MS: u64 = 50;
/// The event loop wakes at least this often, to advance the timer wheel.
const TICK_MS: u64 = 250;

/// A connection slot: the socket, the peer address, timing and the protocol state. 128 bytes.
struct Entry {
    fd: OwnedFd,
    /// When this connection's current timeout expires (worker tick, seconds).
    deadline: u32,
    peer: Option<std::net::SocketAddr>,
    /// Reading stopped for backpressure; resume after the output drains.
    read_paused: bool,
    /// The header clock is running: a request head has started and is not complete.
    in_head: bool,
    /// A request body is being received and its data rate is checked: `deadline` is the next
    /// check, `body_mark` the request's buffered bytes at the last one.
    in_body: bool,
    body_mark: u32,
    /// Closing lingering (see [`LINGER`]): the sending side is shut, input is read and thrown
    /// away until the client closes or `deadline`.
    lingering: bool,
    conn: Connection,
}

/// How long a connection whose reading stopped early ([`Connection::cut_short`]: a refusal,
/// a body nobody reads) stays open after its last answer, its sending side shut and its input
/// discarded, before it is closed. Closing at once with unread input sends a reset, which
/// makes the client's kernel drop whatever of the answer it has not read yet (and the
/// server's drop what it has not sent): nginx's lingering close, for the same reason.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

impl Entry {
    /// Where this connection's requests come from, for dispatch.
    #[inline]
    fn origin(&self, token: u64) -> Origin {
        Origin {
            token,
            peer: self.peer,
        }
    }
}

const _: () = assert!(std::mem::size_of::<Entry>() <= 128);
/// The size of a connection slot (the README states it).
#[cfg(test)]
pub(crate) const ENTRY_SIZE: usize = std::mem::size_of::<Entry>();

pub(crate) struct Worker<H: ?Sized> {
    pub(crate) id: usize,
    /// One listener per bound address.
    pub(crate) listeners: Vec<OwnedFd>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: Arc<H>,
}

/// The mutable state of a running worker, split from the poller so events can be iterated while
/// connections are handled.
struct State<'h, H: ?Sized> {
    /// The listeners; emptied when draining begins.
    listeners: Vec<OwnedFd>,
    slab: Slab<Entry>,
    cx: Context,
    svc: Service,
    handler: &'h H,
    accept_paused: bool,
    wheel: Wheel,
    start: Stamp,
    tick: u64,
    due: Vec<u64>,
    /// Draining since this instant (stop requested).
    draining: Option<Instant>,
    /// While draining: idle keep-alive connections stay open until this instant, so a client
    /// about to reuse one gets its request answered (with `Connection: close`) instead of a
    /// closed socket. `None` once they were closed.
    idle_grace_end: Option<Instant>,
    /// Completions taken from the inbox, and connections they touched (reused buffers).
    done: Vec<Done>,
    touched: Vec<u64>,
    wakes: Vec<(u64, u32)>,
    /// Where the answer to a connection beyond the limit is rendered (reused).
    overload: Vec<u8>,
}

impl<H: Handler + ?Sized> Worker<H> {
    /// Runs the event loop until the server is stopped and drained. Errors are fatal to the
    /// whole server.
    pub(crate) fn run(self, ready: std::sync::mpsc::Sender<io::Result<()>>) -> io::Result<()> {
        let waker = &self.shared.wakers[self.id];
        sys::block_sigpipe();
        let setup = || -> io::Result<Poller> {
            let poller = Poller::new(1024)?;
            if self.listeners.len() as u64 > MAX_LISTENERS {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "too many listen addresses",
                ));
            }
            for (i, l) in self.listeners.iter().enumerate() {
                poller.add(l.as_fd(), TOKEN_LISTENER0 - i as u64, sys::read_interest())?;
            }
            poller.add(waker.as_fd(), TOKEN_WAKER, sys::read_interest())?;
            Ok(poller)
        };
        // `start` returns once every worker has its epoll set up (or reports why one could not).
        let mut poller = match setup() {
            Ok(p) => {
                let _ = ready.send(Ok(()));
                p
            }
            Err(e) => {
                let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        let inbox = {
            let shared = self.shared.clone();
            let id = self.id;
            Arc::new(Inbox::new(move || shared.wakers[id].wake()))
        };
        let mut limits_gen = self.shared.limits_gen.load(Ordering::Acquire);
        let cx = Context::new(&self.shared.limits(), sys::coarse_unix_secs());
        let svc = Service::new(inbox.clone(), self.id as u16);
        let start = Stamp::now();
        let mut st = State {
            listeners: self.listeners,
            slab: Slab::default(),
            cx,
            svc,
            handler: &*self.handler,
            accept_paused: false,
            wheel: Wheel::new(0),
            start,
            tick: 0,
            due: Vec::new(),
            draining: None,
            idle_grace_end: None,
            done: Vec::new(),
            touched: Vec::new(),
            wakes: Vec::new(),
            overload: Vec::new(),
        };
        loop {
            if st.draining.is_none() && self.shared.stop.load(Ordering::Acquire) {
                st.begin_drain(&poller, self.shared.drain_idle_grace);
            }
            if st.idle_grace_end.is_some_and(|end| Instant::now() >= end) {
                st.idle_grace_end = None;
                for t in st.slab.tokens() {
                    st.settle(t); // closes the idle ones now
                }
            }
            if let Some(since) = st.draining {
                if st.slab.is_empty()
                    || since.elapsed() >= self.shared.drain_timeout
                    || self.shared.abort.load(Ordering::Acquire)
                {
                    break;
                }
            }
            let mut timeout = if st.accept_paused {
                ACCEPT_BACKOFF_MS
            } else {
                TICK_MS
            };
            if let Some(at) = st
                .svc
                .next_deadline()
                .into_iter()
                .chain(st.idle_grace_end)
                .min()
            {
                let left = at.saturating_duration_since(Instant::now());
                timeout = timeout.min(left.as_millis() as u64 + 1);
            }
            let n = poller.wait(Some(timeout))?;
            let gen = self.shared.limits_gen.load(Ordering::Acquire);
            if gen != limits_gen {
                // New limits were swapped in (copy-on-write): take the whole new set.
                limits_gen = gen;
                st.cx.limits = (*self.shared.limits()).clone();
            }
            let now = Stamp::now();
            st.cx.date.refresh(sys::coarse_unix_secs());
            st.svc.meta.received = now;
            // The first read of this turn is timed from the wake-up: nothing ran since.
            st.svc.clock = Some(now);
            if st.accept_paused && n == 0 {
                st.accept_paused = false;
                st.accept_all(&poller);
            }
            for ev in poller.events() {
                let r = Ready::of(ev);
                match r.token {
                    TOKEN_WAKER => {
                        waker.drain();
                        st.take_completions();
                        st.svc.clock = None; // time has passed: the next read reads the clock
                    }
                    t if t > TOKEN_LISTENER0 - MAX_LISTENERS => {
                        if !st.accept_paused {
                            st.accept_from((TOKEN_LISTENER0 - t) as usize, &poller)
                        }
                        st.svc.clock = None;
                    }
                    token => st.on_conn(token, r),
                }
            }
            st.svc.clock = None; // kept for reads in this turn only
            if let Some(at) = st.svc.next_deadline() {
                let now = Instant::now(); // deadlines are instants; read only when one is set
                if at <= now {
                    st.expire_deferred(now);
                }
            }
            let tick = now.nanos_since(st.start) / 1_000_000_000;
            if tick > st.tick {
                st.expire(tick);
            }
            st.publish(&self.shared.slots[self.id], inbox.live());
        }
        // Stopped (drained, or the drain timeout passed): close what is left.
        for t in st.slab.tokens() {
            st.close(t);
        }
        st.publish(&self.shared.slots[self.id], inbox.live());
        Ok(())
    }
}

impl<H: Handler + ?Sized> State<'_, H> {
    /// Copies this worker's figures to its published slot (once per loop turn).
    fn publish(&self, slot: &crate::ops::Slot, deferred_live: usize) {
        let mut f = crate::sync::lock(&slot.0);
        f.stats.clone_from(&self.cx.stats);
        f.connections = self.slab.len() as u64;
        f.buffers = self.cx.pool.outstanding() as u64;
        f.deferred = self.svc.deferred as u64;
        f.deferred_live = deferred_live as u64;
    }

    /// Accepts what waits on every listener.
    fn accept_all(&mut self, poller: &Poller) {
        for i in 0..self.listeners.len() {
            self.accept_from(i, poller);
        }
    }

    /// Accepts every connection waiting on listener `i`.
    fn accept_from(&mut self, i: usize, poller: &Poller) {
        loop {
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            match sys::accept(listener.as_fd()) {
                Ok(Some((fd, peer))) => {
                    self.cx.stats[Counter::Accepted] += 1;
                    if self.slab.len() >= self.cx.limits.max_conns_per_worker {
                        // Over the limit: accept, answer 503 in one best-effort write, close.
                        // (Not accepting would leave clients hanging in the backlog.)
                        let mut out = std::mem::take(&mut self.overload);
                        out.clear();
                        let bytes =
                            plain_answer(&mut out, 503, &self.cx.date, b"Retry-After: 1\r\n");
                        let _ = sys::write(fd.as_fd(), &out);
                        self.overload = out;
                        self.cx.stats[Counter::Rejected] += 1;
                        self.cx.stats.status[4] += 1;
                        self.cx.stats[Counter::Closed] += 1;
                        drop(fd);
                        log::debug!(
                            "refused peer={} status=503 reason=overloaded connections={}",
                            peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
                            self.slab.len()
                        );
                        self.handler.refused(&Refusal {
                            peer,
                            status: 503,
                            reason: "overloaded",
                            line: b"",
                            bytes,
                        });
                        continue;
                    }
                    log::debug!(
                        "accepted peer={} listener={i} connections={}",
                        peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
                        self.slab.len() + 1
                    );
                    // A new connection has `header_timeout` to send its first request.
                    let deadline = self.deadline(self.cx.limits.header_timeout);
                    let entry = Entry {
                        fd,
                        deadline,
                        peer,
                        read_paused: false,
                        in_head: true,
                        in_body: false,
                        body_mark: 0,
                        lingering: false,
                        conn: Connection::new(),
                    };
                    let token = self.slab.insert(entry);
                    let registered = match self.slab.get_mut(token) {
                        Some(e) => poller
                            .add(e.fd.as_fd(), token, sys::conn_interest())
                            .is_ok(),
                        None => false,
                    };
                    if registered {
                        self.wheel.schedule(token, u64::from(deadline));
                    } else {
                        self.close(token);
                    }
                }
                Ok(None) => break,
                Err(e) if sys::is_resource_exhaustion(&e) => {
                    // Out of fds or memory: retry after a pause instead of spinning.
                    self.accept_paused = true;
                    break;
                }
                Err(_) => break,
            }
        }
    }

    #[inline]
    fn on_conn(&mut self, token: u64, r: Ready) {
        let drained = self.drained();
        let Some(e) = self.slab.get_mut(token) else {
            return;
        };
        if r.error || (r.peer_closed && e.conn.has_pending()) {
            // Gone while deferred answers are owed: cancel them (see the module docs).
            self.close(token);
            return;
        }
        if r.writable && e.conn.has_output() {
            if flush(e, &mut self.cx).is_err() {
                self.close(token);
                return;
            }
            if e.conn.has_pending() {
                // A stream at the front gets room as the output drains.
                let at = e.origin(token);
                if answer(e, at, self.handler, &mut self.cx, &mut self.svc).is_err() {
                    self.close(token);
                    return;
                }
            }
            if (e.read_paused || e.conn.mid_request() || e.conn.streaming_body())
                && e.conn.wants_read(&self.cx.limits)
            {
                // A streamed body may have bytes in the socket that raised their edge already.
                let paused =
                    std::mem::replace(&mut e.read_paused, false) || e.conn.streaming_body();
                // Requests that arrived while the output was over the high-water mark wait
                // in the buffer: answer them before reading more.
                if e.conn.mid_request() {
                    let at = e.origin(token);
                    if answer(e, at, self.handler, &mut self.cx, &mut self.svc).is_err() {
                        self.close(token);
                        return;
                    }
                }
                if paused {
                    return self.read_ready(token, r.peer_closed);
                }
            }
        }
        let (cx, svc, wheel) = (&mut self.cx, &mut self.svc, &mut self.wheel);
        let read = r.readable.then_some(r.peer_closed);
        if !serve(
            e,
            token,
            read,
            self.handler,
            cx,
            svc,
            wheel,
            self.tick,
            drained,
        ) {
            self.close(token);
        }
    }

    /// Reads, answers and writes until the socket has no more to give (or backpressure says stop).
    /// A short read ends the loop (the queue was empty; new data raises a new edge) unless the
    /// peer has closed, in which case the end of stream must be read now: no edge will follow.
    #[inline]
    fn read_ready(&mut self, token: u64, peer_closed: bool) {
        let drained = self.drained();
        let Some(e) = self.slab.get_mut(token) else {
            return;
        };
        let (cx, svc, wheel) = (&mut self.cx, &mut self.svc, &mut self.wheel);
        if !serve(
            e,
            token,
            Some(peer_closed),
            self.handler,
            cx,
            svc,
            wheel,
            self.tick,
            drained,
        ) {
            self.close(token);
        }
    }

    /// After activity: close a finished connection, otherwise give back idle buffers and set the
    /// deadline for the state it is in now.
    #[inline]
    fn settle(&mut self, token: u64) {
        let drained = self.drained();
        let Some(e) = self.slab.get_mut(token) else {
            return;
        };
        if !settle_entry(e, token, &mut self.cx, &mut self.wheel, self.tick, drained) {
            self.close(token);
        }
    }

    /// Stopping, and idle connections are to close now (no grace period, or it has passed).
    #[inline]
    fn drained(&self) -> bool {
        self.draining.is_some() && self.idle_grace_end.is_none()
    }

    fn deadline(&self, d: std::time::Duration) -> u32 {
        deadline_after(self.tick, d)
    }

    /// Advances the wheel to `tick` and expires connections whose deadline has passed.
    fn expire(&mut self, tick: u64) {
        self.tick = tick;
        let mut due = std::mem::take(&mut self.due);
        self.wheel.advance(tick, &mut due);
        // A connection may have two reminders (see `settle`); handle it once.
        due.sort_unstable();
        due.dedup();
        for token in due.drain(..) {
            let Some(e) = self.slab.get_mut(token) else {
                continue;
            };
            if e.conn.has_pending() && !e.conn.has_output() && !(e.in_body && e.conn.reading_body())
            {
                // Waiting for our own deferred answers, not for the client: the deferred
                // deadlines govern, not the idle timeout.
                e.deadline = deadline_after(tick, self.cx.limits.idle_timeout);
            }
            if u64::from(e.deadline) > tick {
                self.wheel.schedule(token, u64::from(e.deadline));
                continue;
            }
            if e.lingering {
                self.close(token);
                continue;
            }
            let l = &self.cx.limits;
            if e.in_body && !e.conn.has_output() {
                // The minimum data rate, averaged over the window that just ended.
                let now = e.conn.buffered_request_bytes();
                let got = u64::from(now.wrapping_sub(e.body_mark));
                let want = (l.min_body_rate as u64).saturating_mul(l.body_rate_grace.as_secs());
                if got >= want || !e.conn.reading_body() {
                    e.body_mark = now;
                    e.deadline = deadline_after(tick, l.body_rate_grace);
                    self.wheel.schedule(token, u64::from(e.deadline));
                    continue;
                }
            }
            let kind = if e.in_head {
                TimeoutKind::Header
            } else if e.conn.has_output() {
                TimeoutKind::Write
            } else if e.in_body {
                TimeoutKind::BodyRate
            } else {
                TimeoutKind::Idle
            };
            self.cx.stats.timeout(kind);
            log::debug!(
                "timeout peer={} kind={}",
                e.peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
                kind.as_str()
            );
            let unfinished = e.conn.mid_request() || e.conn.streaming_body();
            if (e.in_head || e.in_body) && unfinished && !e.conn.has_output() {
                // Best effort: tell a slow client why (one write attempt, then close); a
                // streamed body's reader is told instead (its handler answers).
                let reason = if e.in_body { "slow_body" } else { "timeout" };
                dispatch::time_out(
                    &mut e.conn,
                    reason,
                    e.peer,
                    self.handler,
                    &mut self.cx,
                    &mut self.svc,
                );
                let _ = flush(e, &mut self.cx);
            }
            self.close(token);
        }
        self.due = due;
    }

    /// Stop accepting; answer what every connection has already sent (a request on the wire
    /// when the stop came is answered, with `Connection: close`); close the idle ones, at once
    /// or after `idle_grace`. The rest finish their current request. With a grace period the
    /// connections already waiting in the listen queue are accepted first and served like idle
    /// ones, instead of being reset when the listener closes.
    fn begin_drain(&mut self, poller: &Poller, idle_grace: std::time::Duration) {
        let now = Instant::now();
        self.draining = Some(now);
        self.cx.draining = true;
        if !idle_grace.is_zero() {
            self.idle_grace_end = Some(now + idle_grace);
            self.accept_all(poller);
        }
        self.listeners.clear(); // closing a listener removes it from epoll
        for t in self.slab.tokens() {
            self.read_ready(t, false); // ends in settle(), which closes idle connections
        }
    }

    /// Hands every completed deferred reply in the inbox to its connection, then writes and
    /// settles each touched connection once.
    fn take_completions(&mut self) {
        let mut done = std::mem::take(&mut self.done);
        self.svc.take_completions(&mut done);
        for d in done.drain(..) {
            if let Some(e) = self.slab.get_mut(d.token) {
                let token = d.token;
                if dispatch::deliver(&mut e.conn, d, &mut self.cx, &mut self.svc) {
                    self.touched.push(token);
                }
            }
        }
        self.done = done;
        // Streams with new parts: their connections are pumped below.
        let mut wakes = std::mem::take(&mut self.wakes);
        self.svc.inbox.take_wakes(&mut wakes);
        for (token, _seq) in wakes.drain(..) {
            if self.slab.get_mut(token).is_some() {
                self.touched.push(token);
            }
        }
        self.wakes = wakes;
        self.after_completions();
        let slab = &self.slab;
        self.svc
            .prune_deadlines(|token, seq| slab.get(token).is_some_and(|e| e.conn.is_waiting(seq)));
    }

    /// Answers `504` for deferred requests whose deadline has passed.
    #[cold]
    fn expire_deferred(&mut self, now: Instant) {
        while let Some((token, seq)) = self.svc.pop_expired(now) {
            if let Some(e) = self.slab.get_mut(token) {
                if dispatch::expire(&mut e.conn, seq, &mut self.cx, &mut self.svc) {
                    self.touched.push(token);
                }
            }
        }
        self.after_completions();
    }

    /// After deferred answers moved: dispatch requests that waited for room in the queue,
    /// write, resume reading a connection that was paused, settle.
    fn after_completions(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &token in &touched {
            let Some(e) = self.slab.get_mut(token) else {
                continue;
            };
            let at = e.origin(token);
            if answer(e, at, self.handler, &mut self.cx, &mut self.svc).is_err() {
                self.close(token);
                continue;
            }
            if (e.read_paused || e.conn.streaming_body()) && e.conn.wants_read(&self.cx.limits) {
                // A reader made room: bytes may wait in the socket with no edge to come.
                e.read_paused = false;
                self.read_ready(token, false);
            } else {
                self.settle(token);
            }
        }
        touched.clear();
        self.touched = touched;
    }

    fn close(&mut self, token: u64) {
        if let Some(mut e) = self.slab.remove(token) {
            self.cx.stats[Counter::Closed] += 1;
            dispatch::release(&mut e.conn, &mut self.cx, &mut self.svc);
            drop(e.fd); // closing the fd removes it from the epoll set
        }
    }
}

/// The tick by which a timeout of `d` started at `tick` has passed. Ticks are whole seconds: +1
/// so a timeout never fires early (it fires within [d, d + 1 s + one loop turn]).
#[inline]
fn deadline_after(tick: u64, d: std::time::Duration) -> u32 {
    (tick + d.as_secs() + 1) as u32
}

/// An event's work on the entry at hand (one slab lookup per event): the read loop when
/// `read` is `Some(peer_closed)`, then [`settle_entry`]. `false`: close the connection now.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn serve<H: Handler + ?Sized>(
    e: &mut Entry,
    token: u64,
    read: Option<bool>,
    handler: &H,
    cx: &mut Context,
    svc: &mut Service,
    wheel: &mut Wheel,
    tick: u64,
    drained: bool,
) -> bool {
    let alive = match read {
        Some(peer_closed) => read_loop(e, token, peer_closed, handler, cx, svc),
        None => true,
    };
    alive && settle_entry(e, token, cx, wheel, tick, drained)
}

/// The read loop of [`State::read_ready`] on an entry at hand: `false` when the connection
/// failed (to be closed).
#[inline(always)]
fn read_loop<H: Handler + ?Sized>(
    e: &mut Entry,
    token: u64,
    peer_closed: bool,
    handler: &H,
    cx: &mut Context,
    svc: &mut Service,
) -> bool {
    let at = e.origin(token);
    loop {
        if !e.conn.wants_read(&cx.limits) {
            e.read_paused = !e.conn.is_closing();
            break true;
        }
        let outcome = sys::read(e.fd.as_fd(), e.conn.read_buf(cx));
        match outcome {
            Ok(ReadOutcome::Data { full, n }) => {
                cx.stats[Counter::BytesIn] += n as u64;
                // Latency is measured from here, per read (not per loop turn, which
                // would count time queued behind other connections): from the clock
                // reading that ended the previous batch's writes (or the wake-up) when
                // nothing but this read came since, else from a new one.
                svc.meta.received = svc.clock.take().unwrap_or_else(Stamp::now);
                if answer(e, at, handler, cx, svc).is_err() {
                    break false;
                }
                if !full && !peer_closed {
                    break true;
                }
            }
            Ok(ReadOutcome::WouldBlock) => break true,
            Ok(ReadOutcome::Eof) => {
                e.conn.set_eof();
                break true;
            }
            Err(_) => break false,
        }
    }
}

/// [`State::settle`] on an entry at hand (no second slab lookup): `false` when the connection
/// is to be closed now.
#[inline(always)]
fn settle_entry(
    e: &mut Entry,
    token: u64,
    cx: &mut Context,
    wheel: &mut Wheel,
    tick: u64,
    drained: bool,
) -> bool {
    let pending = e.conn.has_pending();
    let idle = !e.conn.mid_request() && !e.conn.has_output() && !pending;
    if e.conn.is_done() || (idle && drained) || (pending && e.conn.saw_eof()) {
        // A lingering connection is always done (so its read loop read nothing): its input is
        // discarded here, off the path of live connections; the client's close or its
        // deadline ends it.
        if e.lingering {
            return !drained && linger_read(e, cx);
        }
        if e.conn.is_done() && e.conn.cut_short() && !e.conn.saw_eof() && !drained {
            return start_linger(e, token, cx, wheel, tick);
        }
        return false;
    }
    e.conn.release_idle(&mut cx.pool);
    e.conn.shrink_partial(&mut cx.pool);
    let l = &cx.limits;
    if e.conn.has_output() {
        e.in_head = false;
        e.in_body = false;
        e.deadline = deadline_after(tick, l.write_timeout);
    } else if e.conn.reading_head() {
        e.in_body = false;
        if !e.in_head {
            e.in_head = true; // the header clock starts now and is not extended by trickling
            e.deadline = deadline_after(tick, l.header_timeout);
        }
    } else if e.conn.reading_body() && l.min_body_rate > 0 && !e.read_paused {
        e.in_head = false;
        if !e.in_body {
            // The body's clock: its rate is checked once per grace window, from now. The
            // window may end before the reminder already in the wheel, so add one (`expire`
            // merges reminders that come due together).
            e.in_body = true;
            e.body_mark = e.conn.buffered_request_bytes();
            e.deadline = deadline_after(tick, l.body_rate_grace);
            wheel.schedule(token, u64::from(e.deadline));
        }
    } else {
        e.in_head = false;
        e.in_body = false;
        e.deadline = deadline_after(tick, l.idle_timeout);
    }
    true
}

/// Starts closing `e` lingering: shuts its sending side (a FIN after the answer), gives its
/// buffers back and gives the client [`LINGER`] to close. `false`: close now (it failed).
#[cold]
fn start_linger(e: &mut Entry, token: u64, cx: &mut Context, wheel: &mut Wheel, tick: u64) -> bool {
    if sys::shutdown_write(e.fd.as_fd()).is_err() {
        return false;
    }
    cx.stats[Counter::Lingered] += 1;
    e.conn.release_all(&mut cx.pool, |_| {});
    e.lingering = true;
    e.in_head = false;
    e.in_body = false;
    e.deadline = deadline_after(tick, LINGER);
    wheel.schedule(token, u64::from(e.deadline));
    // What is already there is thrown away now; the edge for it may have come and gone.
    linger_read(e, cx)
}

/// A lingering connection's input, discarded into a pooled buffer lent for the call: `false`
/// once the client has closed (or the socket failed), when it is closed.
#[cold]
fn linger_read(e: &mut Entry, cx: &mut Context) -> bool {
    let mut scratch = cx.pool.get();
    let open = matches!(sys::discard(e.fd.as_fd(), &mut scratch), Ok(true));
    cx.pool.put(scratch);
    open
}

/// Answers the complete requests in the read buffer and writes; while the writes drain the
/// output and requests held back by the high-water mark remain, answers those too. Then one
/// clock reading times what was answered (written, or queued when the socket is full).
#[inline]
fn answer<H: Handler + ?Sized>(
    e: &mut Entry,
    at: Origin,
    handler: &H,
    cx: &mut Context,
    svc: &mut Service,
) -> io::Result<()> {
    let r = answer_and_write(e, at, handler, cx, svc);
    if svc.has_unobserved() {
        svc.observe_latency(&mut cx.stats, Stamp::now());
    }
    r
}

#[inline(always)]
fn answer_and_write<H: Handler + ?Sized>(
    e: &mut Entry,
    at: Origin,
    handler: &H,
    cx: &mut Context,
    svc: &mut Service,
) -> io::Result<()> {
    loop {
        let n = if e.conn.has_work() {
            dispatch::process(&mut e.conn, at, handler, cx, svc)
        } else {
            0
        };
        // A stream at the front that finds no room now may find it once this flush drains
        // the output (no OUT edge comes when the socket never filled): then go round again.
        let (streamed, blocked) = if e.conn.has_pending() {
            let blocked = e.conn.output_len() >= cx.limits.write_high_water as u64;
            (dispatch::pump(&mut e.conn, cx, svc), blocked)
        } else {
            (0, false)
        };
        flush(e, cx)?;
        if e.conn.has_output() {
            return Ok(()); // the socket is full: the OUT edge resumes
        }
        if streamed == 0 && !blocked && (n == 0 || !e.conn.mid_request()) {
            return Ok(());
        }
    }
}

/// Writes pending output until done or the socket is full; counts what was written.
#[inline]
fn flush(e: &mut Entry, cx: &mut Context) -> io::Result<()> {
    if e.conn.has_pieces() {
        return flush_pieces(e, cx);
    }
    while e.conn.has_buffered_output() {
        let n = sys::write(e.fd.as_fd(), e.conn.output())?;
        if n == 0 {
            break; // EAGAIN: resume on the next OUT edge
        }
        cx.stats[Counter::BytesOut] += n as u64;
        e.conn.consume_buffered(n);
    }
    Ok(())
}

/// [`flush`] when pieces are queued ahead of the write buffer.
#[cold]
fn flush_pieces(e: &mut Entry, cx: &mut Context) -> io::Result<()> {
    while e.conn.has_output() {
        let n = if e.conn.has_pieces() {
            match write_pieces(e)? {
                Some(n) => n,
                None => break,
            }
        } else {
            sys::write(e.fd.as_fd(), e.conn.output())?
        };
        if n == 0 {
            break; // EAGAIN: resume on the next OUT edge
        }
        cx.stats[Counter::BytesOut] += n as u64;
        e.conn.consume(n, &mut cx.pool);
    }
    Ok(())
}

/// One write of the output when bodies by reference are queued: the memory ahead gathered
/// into one `sendmsg`, or a file range with `sendfile`. `None` on `EAGAIN` from sendfile.
#[cold]
fn write_pieces(e: &mut Entry) -> io::Result<Option<usize>> {
    const IOV: usize = 16;
    let sock = e.fd.as_fd();
    if let Front::File { file, offset, len } = e.conn.front() {
        return match sys::send_file(sock, file, offset, len)? {
            SendFile::Sent(n) => Ok(Some(n)),
            SendFile::WouldBlock => Ok(None),
            // The file shrank: the length promised cannot be kept; close the connection.
            SendFile::Eof => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than its response length",
            )),
        };
    }
    let mut iov = [io::IoSlice::new(&[]); IOV];
    let k = e.conn.gather(&mut iov);
    sys::write_vectored(sock, &iov[..k]).map(Some)
}
