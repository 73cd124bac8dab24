//! Deferred responses: a handler that must wait (a database, a C library, a slow computation)
//! answers later, from any thread, without blocking its worker.
//!
//! [`Response::defer`](crate::Response::defer) gives the handler a [`Deferred`] handle (`Send`,
//! one pointer). Completing it with a [`Reply`] puts the reply in the worker's [`Inbox`] and wakes
//! the worker (an eventfd in its epoll set, written only when the inbox was empty); the worker
//! encodes the reply with its own `Date`, `Content-Length` and keep-alive decision and writes it
//! in request order. Dropping a handle without completing it answers `500`.
//!
//! Each deferred request has a deadline (`Limits::deferred_timeout`, or per route with the
//! [`Deadline`](crate::app::middleware::Deadline) middleware). A request that misses it is answered
//! `504 Gateway Timeout`: the work was accepted but its answer did not come in time, as a proxy
//! whose upstream is too slow. A worker already holding `Limits::max_deferred` deferred requests
//! refuses new ones with `503 Service Unavailable` + `Retry-After: 1`: that is overload, and
//! retrying later is the right client reaction. When the deadline passes or the client goes away
//! the handle's cancellation flag is set ([`Deferred::is_cancelled`], one atomic load), and a
//! completion arriving after that is discarded.
//!
//! [`BlockingPool`] runs closures on a fixed set of threads behind a bounded queue, for users
//! who just want "run this elsewhere and respond with its result".

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;

use crate::proto::fields::{
    check_final_status, check_header, is_framing, reason, valid_name, valid_value, ResponseError,
};
use crate::service::stream::{BodyWriter, Chan, Wake};

const PENDING: u8 = 0;
const CANCELLED: u8 = 1;
const DONE: u8 = 2;

/// A response built away from the worker: status, header lines and body. The worker adds the
/// status line, `Server`, `Date`, `Content-Length` and `Connection` when it writes it.
///
/// Header names and values are checked as in [`Response::header`](crate::Response::header):
/// invalid ones and framing headers are dropped ([`Reply::try_header`] says so instead). A 1xx
/// code is never a final status: [`Reply::new`] panics on one, [`Reply::try_new`] returns the
/// error.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<u8>,
    body: Bytes,
    close: bool,
}

impl Reply {
    /// A reply with `status` (200–999) and an empty body.
    ///
    /// # Panics
    /// On a code that cannot be a final status (1xx, or outside 100..=999); see
    /// [`Reply::try_new`].
    pub fn new(status: u16) -> Self {
        match Reply::try_new(status) {
            Ok(r) => r,
            Err(e) => panic!("Reply::new: {e}"),
        }
    }

    /// A reply with `status` and an empty body, or the error for a code that cannot be a final
    /// status (1xx, or outside 100..=999).
    pub fn try_new(status: u16) -> Result<Self, ResponseError> {
        check_final_status(status)?;
        Ok(Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            close: false,
        })
    }

    /// `200 OK`.
    pub fn ok() -> Self {
        Reply::new(200)
    }

    /// `status` with its reason phrase as a `text/plain` body (e.g. `500` →
    /// `Internal Server Error\n`).
    pub fn plain_status(status: u16) -> Self {
        let reason = reason(status);
        let mut body = Vec::with_capacity(reason.len() + 1);
        body.extend_from_slice(reason.as_bytes());
        body.push(b'\n');
        Reply::new(status).content_type("text/plain").body(body)
    }

    /// The same reply with another status.
    ///
    /// # Panics
    /// As [`Reply::new`].
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Reply::new(status).status;
        self
    }

    /// The same reply with another status, or the error for a code that cannot be a final
    /// status (the reply is then dropped).
    pub fn try_with_status(mut self, status: u16) -> Result<Self, ResponseError> {
        self.status = Reply::try_new(status)?.status;
        Ok(self)
    }

    /// Adds a header line, or says why it is refused (see [`crate::Response::try_header`]).
    pub fn try_header(self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, ResponseError> {
        let v = value.as_ref();
        check_header(name.as_bytes(), v)?;
        Ok(self.header(name, v))
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let (name, value) = (name.as_bytes(), value.as_ref());
        if valid_name(name) && valid_value(value) && !is_framing(name) {
            self.headers.extend_from_slice(name);
            self.headers.extend_from_slice(b": ");
            self.headers.extend_from_slice(value);
            self.headers.extend_from_slice(b"\r\n");
        }
        self
    }

    /// Sets `Content-Type`.
    pub fn content_type(self, value: &str) -> Self {
        self.header("Content-Type", value)
    }

    /// Sets the body: a `&'static` slice, `Vec<u8>`, `String` or `Bytes` — none is copied until
    /// the worker writes it.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Closes the connection after this reply.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    /// The status code.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The header lines set so far (`Name: value\r\n` each).
    pub fn rendered_headers(&self) -> &[u8] {
        &self.headers
    }

    /// Whether the connection closes after this reply.
    pub fn will_close(&self) -> bool {
        self.close
    }

    pub(crate) fn into_parts(self) -> (u16, Vec<u8>, Bytes, bool) {
        (self.status, self.headers, self.body, self.close)
    }
}

/// A completed reply on its way back to the worker that owns the connection.
#[derive(Debug)]
pub struct Done {
    /// The connection's token in its worker.
    pub token: u64,
    /// The request's sequence number on that connection.
    pub seq: u32,
    /// The reply.
    pub reply: Reply,
    /// For a streamed answer, where its body comes from (the reply is its head).
    pub(crate) stream: Option<Arc<Chan>>,
}

/// One worker's mailbox for completed replies: a short mutex-protected vector (taken whole by
/// the worker) and a wake-up function, called only when the vector was empty, so a burst of
/// completions costs one wake-up.
pub struct Inbox {
    done: Mutex<Vec<Done>>,
    /// Streams with new parts (or an end): `(token, seq)`.
    wakes: Mutex<Vec<(u64, u32)>>,
    notify: Box<dyn Fn() + Send + Sync>,
    /// Live completion cells (handles not yet dropped by both sides): a leak check.
    live: AtomicUsize,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// An inbox that calls `notify` when a reply arrives in an empty inbox.
    pub fn new(notify: impl Fn() + Send + Sync + 'static) -> Self {
        Inbox {
            done: Mutex::new(Vec::new()),
            wakes: Mutex::new(Vec::new()),
            notify: Box::new(notify),
            live: AtomicUsize::new(0),
        }
    }

    /// Moves every waiting reply into `out` (appended, in arrival order).
    pub fn take(&self, out: &mut Vec<Done>) {
        let mut q = crate::sync::lock(&self.done);
        if out.is_empty() {
            std::mem::swap(&mut *q, out);
        } else {
            out.append(&mut q);
        }
    }

    /// Completion cells alive: deferred requests whose handle or slot still exists. 0 once
    /// every deferred request was answered, expired or cancelled and every handle dropped.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn post(&self, d: Done) {
        let mut q = crate::sync::lock(&self.done);
        let was_empty = q.is_empty();
        q.push(d);
        drop(q);
        if was_empty {
            (self.notify)();
        }
    }

    /// A stream of request `seq` on connection `token` has parts (or ended): wake the worker.
    fn wake_stream(&self, token: u64, seq: u32) {
        let mut w = crate::sync::lock(&self.wakes);
        let was_empty = w.is_empty();
        w.push((token, seq));
        drop(w);
        if was_empty {
            (self.notify)();
        }
    }

    /// Moves the streams woken since the last call into `out`.
    pub fn take_wakes(&self, out: &mut Vec<(u64, u32)>) {
        let mut w = crate::sync::lock(&self.wakes);
        out.append(&mut w);
    }
}

impl Wake for Inbox {
    fn wake(&self, token: u64, seq: u32) {
        self.wake_stream(token, seq);
    }
}

/// The state one deferred request shares between its handle and its connection.
pub(crate) struct Cell {
    state: AtomicU8,
    seq: u32,
    token: u64,
    deadline: Instant,
    inbox: Arc<Inbox>,
    /// Bytes a streamed body may queue ahead of the worker (the write high-water mark).
    stream_limit: usize,
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell")
            .field("seq", &self.seq)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Cell {
    /// Sets the cancellation flag (deadline passed, client gone, connection closed).
    pub(crate) fn cancel(&self) {
        let _ =
            self.state
                .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire);
    }

    fn deliver(&self, reply: Reply, stream: Option<Arc<Chan>>) -> bool {
        if self
            .state
            .compare_exchange(PENDING, DONE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.inbox.post(Done {
                token: self.token,
                seq: self.seq,
                reply,
                stream,
            });
            true
        } else {
            false
        }
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        self.inbox.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The promise of a response: complete it from any thread with [`Deferred::complete`]. Dropping
/// it uncompleted answers `500 Internal Server Error`. One pointer; cheap to move.
///
/// A handle can be *inert*: refused because the worker's deferred limit was reached (the
/// response was already set to `503`), taken twice in one handler, or taken outside a
/// connection. An inert handle reports [`Deferred::is_cancelled`] and completing it does nothing.
pub struct Deferred {
    cell: Option<Arc<Cell>>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Deferred {
    /// A live handle for request `seq` of connection `token`, and the connection's side of it.
    pub(crate) fn new(
        inbox: &Arc<Inbox>,
        token: u64,
        seq: u32,
        deadline: Instant,
        stream_limit: usize,
    ) -> (Deferred, Arc<Cell>) {
        inbox.live.fetch_add(1, Ordering::Relaxed);
        let cell = Arc::new(Cell {
            state: AtomicU8::new(PENDING),
            seq,
            token,
            deadline,
            inbox: inbox.clone(),
            stream_limit,
        });
        (
            Deferred {
                cell: Some(cell.clone()),
            },
            cell,
        )
    }

    /// An inert handle.
    pub(crate) fn inert() -> Deferred {
        Deferred { cell: None }
    }

    /// Answers the request with `reply`. Ignored if the request was cancelled meanwhile.
    pub fn complete(mut self, reply: Reply) {
        if let Some(c) = self.cell.take() {
            c.deliver(reply, None);
        }
    }

    /// Answers the request with a streamed body: `head` gives the status and headers (its
    /// body, if any, is the first part), the returned [`BodyWriter`] the rest, written from
    /// this or any thread (see [`crate::service::stream`]). The deadline no longer applies once
    /// the head is given. If the request was cancelled meanwhile, the writer is already
    /// [`Gone`](crate::service::stream::Gone).
    pub fn stream(mut self, head: Reply) -> BodyWriter {
        let Some(c) = self.cell.take() else {
            return BodyWriter::gone();
        };
        let chan = Chan::new(
            c.inbox.clone() as Arc<dyn Wake>,
            c.token,
            c.seq,
            c.stream_limit,
        );
        let (status, headers, body, close) = head.into_parts();
        if !body.is_empty() {
            let mut q = crate::sync::lock(&chan.q);
            q.bytes = body.len();
            q.parts.push_back(body);
        }
        let head = Reply {
            status,
            headers,
            body: Bytes::new(),
            close,
        };
        if c.deliver(head, Some(chan.clone())) {
            BodyWriter::new(chan)
        } else {
            BodyWriter::gone()
        }
    }

    /// Whether the answer is no longer wanted: the deadline passed, the client went away, or the
    /// handle is inert. Long work should check it now and then and stop early.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        match &self.cell {
            Some(c) => c.state.load(Ordering::Acquire) == CANCELLED,
            None => true,
        }
    }

    /// A token to check cancellation from code that does not own the handle.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken {
            cell: self.cell.clone(),
        }
    }

    /// When the request's deadline passes (`None` for an inert handle).
    pub fn deadline(&self) -> Option<Instant> {
        self.cell.as_ref().map(|c| c.deadline)
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some(c) = self.cell.take() {
            c.deliver(Reply::plain_status(500), None);
        }
    }
}

/// A shared view of a deferred request's cancellation flag (`Clone`, `Send`, `Sync`).
#[derive(Clone)]
pub struct CancelToken {
    cell: Option<Arc<Cell>>,
}

impl CancelToken {
    /// Whether the answer is no longer wanted (see [`Deferred::is_cancelled`]).
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        match &self.cell {
            Some(c) => c.state.load(Ordering::Acquire) == CANCELLED,
            None => true,
        }
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

type Work = Box<dyn FnOnce(&Deferred) -> Reply + Send>;

struct Job {
    deferred: Deferred,
    work: Work,
}

/// A fixed set of threads behind a bounded queue, answering deferred requests with the result
/// of a closure. A full queue answers `503` + `Retry-After: 1` at once instead of growing; a
/// request cancelled while queued is skipped; a panicking closure answers `500`. Dropping the
/// pool lets the queued jobs finish and joins the threads.
pub struct BlockingPool {
    tx: Option<crossbeam_channel::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl BlockingPool {
    /// `threads` threads (≥ 1) and room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue);
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("strela-blocking-{i}"))
                    .spawn(move || {
                        for job in rx {
                            job.run();
                        }
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(BlockingPool {
            tx: Some(tx),
            threads,
        })
    }

    /// Runs `work` on a pool thread and completes `deferred` with its reply. The closure gets
    /// the handle to check [`Deferred::is_cancelled`] or [`Deferred::deadline`].
    pub fn run<F>(&self, deferred: Deferred, work: F)
    where
        F: FnOnce(&Deferred) -> Reply + Send + 'static,
    {
        if deferred.is_cancelled() {
            return; // inert (e.g. refused: already answered 503)
        }
        let job = Job {
            deferred,
            work: Box::new(work),
        };
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send(job) {
            let job = e.into_inner();
            job.deferred
                .complete(Reply::plain_status(503).header("Retry-After", "1"));
        }
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.len())
    }
}

impl Job {
    fn run(self) {
        let Job { deferred, work } = self;
        if deferred.is_cancelled() {
            return; // the answer is no longer wanted: skip the work
        }
        match catch_unwind(AssertUnwindSafe(|| work(&deferred))) {
            Ok(reply) => deferred.complete(reply),
            Err(_) => drop(deferred), // answers 500
        }
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn inbox() -> (Arc<Inbox>, Arc<AtomicUsize>) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let inbox = Arc::new(Inbox::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        (inbox, wakes)
    }

    #[test]
    fn completion_posts_once_and_wakes_only_an_empty_inbox() {
        let (inbox, wakes) = inbox();
        let now = Instant::now();
        let (a, ca) = Deferred::new(&inbox, 7, 1, now, 65536);
        let (b, cb) = Deferred::new(&inbox, 7, 2, now, 65536);
        assert_eq!(inbox.live(), 2);
        a.complete(Reply::ok().body("a"));
        b.complete(Reply::new(201));
        assert_eq!(
            wakes.load(Ordering::Relaxed),
            1,
            "second post found the inbox non-empty"
        );
        let mut out = Vec::new();
        inbox.take(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].token, out[0].seq), (7, 1));
        assert_eq!(out[1].reply.status_code(), 201);
        drop((ca, cb));
        assert_eq!(inbox.live(), 0);
    }

    #[test]
    fn dropped_handle_answers_500_and_cancelled_one_nothing() {
        let (inbox, _) = inbox();
        let (a, _ca) = Deferred::new(&inbox, 1, 0, Instant::now(), 65536);
        drop(a);
        let (b, cb) = Deferred::new(&inbox, 1, 1, Instant::now(), 65536);
        let token = b.cancel_token();
        assert!(!token.is_cancelled());
        cb.cancel();
        assert!(b.is_cancelled() && token.is_cancelled());
        b.complete(Reply::ok());
        let mut out = Vec::new();
        inbox.take(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reply.status_code(), 500);
        assert_eq!(out[0].seq, 0);
    }

    #[test]
    fn reply_drops_invalid_and_framing_headers() {
        let r = Reply::new(201)
            .header("X-Ok", "1")
            .header("Content-Length", "5")
            .header("Bad\r\nName", "x")
            .header("X-Bad", "a\r\nb");
        assert_eq!(r.status_code(), 201);
        assert_eq!(r.rendered_headers(), b"X-Ok: 1\r\n");
        use ResponseError as E;
        assert_eq!(
            Reply::ok().try_header("Content-Length", "5").err(),
            Some(E::FramingHeader)
        );
        assert_eq!(
            Reply::ok().try_header("X-Bad", "a\r\nb").err(),
            Some(E::InvalidHeader)
        );
        assert!(Reply::ok().try_header("X-Ok", "1").is_ok());
    }

    #[test]
    fn a_reply_is_never_an_interim_status() {
        for code in [0, 42, 100, 101, 103, 199, 1000] {
            assert_eq!(
                Reply::try_new(code).err(),
                Some(ResponseError::NotAFinalStatus(code))
            );
            assert!(Reply::ok().try_with_status(code).is_err());
            assert!(std::panic::catch_unwind(|| Reply::new(code)).is_err());
        }
        assert_eq!(Reply::try_new(204).unwrap().status_code(), 204);
    }

    #[test]
    fn pool_runs_skips_cancelled_and_refuses_when_full() {
        let (inbox, _) = inbox();
        let pool = BlockingPool::new(1, 1).unwrap();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let mut cells = Vec::new();
        let mut submit = |seq: u32| {
            let (d, c) = Deferred::new(&inbox, 0, seq, Instant::now(), 65536);
            cells.push(c);
            let g = gate.clone();
            pool.run(d, move |_| {
                drop(g.lock().unwrap());
                Reply::ok()
            });
        };
        submit(0); // taken by the thread, blocked on the gate
        std::thread::sleep(std::time::Duration::from_millis(50));
        submit(1); // queued
        submit(2); // queue full → 503
        cells[1].cancel(); // cancelled while queued → skipped
        drop(held);
        drop(pool); // joins
        let mut out = Vec::new();
        inbox.take(&mut out);
        let mut got: Vec<(u32, u16)> = out.iter().map(|d| (d.seq, d.reply.status_code())).collect();
        got.sort();
        assert_eq!(got, vec![(0, 200), (2, 503)]);
        let full = out.iter().find(|d| d.seq == 2).unwrap();
        assert!(full.reply.rendered_headers().starts_with(b"Content-Type"));
        assert!(std::str::from_utf8(full.reply.rendered_headers())
            .unwrap()
            .contains("Retry-After: 1\r\n"));
    }

    #[test]
    fn pool_turns_a_panic_into_500() {
        let (inbox, _) = inbox();
        let pool = BlockingPool::new(2, 4).unwrap();
        let (d, _c) = Deferred::new(&inbox, 0, 9, Instant::now(), 65536);
        pool.run(d, |_| panic!("boom"));
        drop(pool);
        let mut out = Vec::new();
        inbox.take(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reply.status_code(), 500);
    }
}
