//! Streamed response bodies, of a length nobody knows in advance: `Transfer-Encoding: chunked`
//! to HTTP/1.1 clients, the end of the connection as the end of the body for HTTP/1.0 ones.
//!
//! Two producers, one rule — the producer is asked for more only when the connection has room
//! (its unsent output is below `Limits::write_high_water`), so a streaming connection holds at
//! most about that much, whatever the body's size and however slowly the client reads:
//!
//! - on the worker, a [`BodySource`] ([`Response::stream`](crate::Response::stream)): called
//!   with a buffer and the room left, it appends the next part and says whether more follows;
//! - from another thread, a [`BodyWriter`] ([`Deferred::stream`](crate::Deferred::stream)):
//!   `write` queues a part and blocks while the parts queued reach the high-water mark, until
//!   the worker has sent enough of them; `finish` ends the body.
//!
//! A body that ends early — the source says [`Produce::Abort`] or panics, a writer is dropped
//! without `finish` — closes the connection after what was sent, so the client sees an
//! incomplete message instead of a wrong one. A client that leaves makes the next `write`
//! fail with [`Gone`] and drops a source.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

/// Who is told when a writer queued parts: the worker's inbox.
pub(crate) trait Wake: Send + Sync + std::fmt::Debug {
    /// The stream of request `seq` on connection `token` has parts, or ended.
    fn wake(&self, token: u64, seq: u32);
}

/// What a [`BodySource`] says after producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produce {
    /// More follows: ask again when there is room.
    More,
    /// That was the last part (what was appended in this call is sent).
    Done,
    /// Stop here and close the connection (the body is incomplete).
    Abort,
}

/// A body produced on the worker, part by part, as the connection has room for it.
pub trait BodySource: 'static {
    /// Appends the next part of the body to `out`, about `room` bytes or fewer (more is
    /// accepted, but every byte beyond `room` is memory held for a slow client). Appending
    /// nothing with [`Produce::More`] is allowed but wastes a call.
    fn produce(&mut self, out: &mut Vec<u8>, room: usize) -> Produce;
}

impl<F> BodySource for F
where
    F: FnMut(&mut Vec<u8>, usize) -> Produce + 'static,
{
    fn produce(&mut self, out: &mut Vec<u8>, room: usize) -> Produce {
        self(out, room)
    }
}

/// The client is gone (or the request was cancelled): nothing more will be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client is gone")
    }
}

impl std::error::Error for Gone {}

/// The parts a [`BodyWriter`] queued for its worker.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(crate) parts: VecDeque<Bytes>,
    pub(crate) bytes: usize,
    pub(crate) finished: bool,
    pub(crate) aborted: bool,
    pub(crate) gone: bool,
}

/// What a writer and its worker share.
#[derive(Debug)]
pub(crate) struct Chan {
    pub(crate) q: Mutex<Queue>,
    /// Signalled when the worker takes parts (room for a blocked writer) or the client goes.
    room: Condvar,
    limit: usize,
    inbox: Arc<dyn Wake>,
    token: u64,
    seq: u32,
}

impl Chan {
    pub(crate) fn new(inbox: Arc<dyn Wake>, token: u64, seq: u32, limit: usize) -> Arc<Chan> {
        Arc::new(Chan {
            q: Mutex::new(Queue::default()),
            room: Condvar::new(),
            limit: limit.max(1),
            inbox,
            token,
            seq,
        })
    }

    /// The worker takes up to about `room` bytes of parts; says whether the body ended (and
    /// how: `Some(true)` finished, `Some(false)` aborted).
    pub(crate) fn take(&self, room: usize, out: &mut Vec<Bytes>) -> Option<bool> {
        let mut q = crate::sync::lock(&self.q);
        let mut took = 0;
        while took < room {
            let Some(p) = q.parts.pop_front() else {
                break;
            };
            took += p.len();
            q.bytes -= p.len();
            out.push(p);
        }
        if took > 0 {
            self.room.notify_all();
        }
        if q.parts.is_empty() {
            if q.aborted {
                return Some(false);
            }
            if q.finished {
                return Some(true);
            }
        }
        None
    }

    /// The connection is gone: writers blocked or to come get [`Gone`].
    pub(crate) fn close(&self) {
        let mut q = crate::sync::lock(&self.q);
        q.gone = true;
        q.parts.clear();
        q.bytes = 0;
        drop(q);
        self.room.notify_all();
    }

    fn push(&self, part: Option<Bytes>, finish: bool, abort: bool) -> Result<(), Gone> {
        let mut q = crate::sync::lock(&self.q);
        if part.is_some() {
            while !q.gone && q.bytes >= self.limit {
                q = self.room.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        }
        if q.gone {
            return Err(Gone);
        }
        let was_idle = q.parts.is_empty();
        if let Some(p) = part {
            if !p.is_empty() {
                q.bytes += p.len();
                q.parts.push_back(p);
            }
        }
        q.finished |= finish;
        q.aborted |= abort;
        drop(q);
        if was_idle || finish || abort {
            self.inbox.wake(self.token, self.seq);
        }
        Ok(())
    }
}

/// Writes a streamed body from any thread ([`Deferred::stream`](crate::Deferred::stream)).
/// `Send`; dropping it without [`BodyWriter::finish`] aborts the body (the connection closes).
#[derive(Debug)]
pub struct BodyWriter {
    chan: Option<Arc<Chan>>,
}

impl BodyWriter {
    pub(crate) fn new(chan: Arc<Chan>) -> Self {
        BodyWriter { chan: Some(chan) }
    }

    /// A writer whose client is already gone (every call fails).
    pub(crate) fn gone() -> Self {
        BodyWriter { chan: None }
    }

    /// Queues the next part of the body (a `Vec<u8>`, `Bytes`, `&'static [u8]` … without a
    /// copy). Blocks while the parts queued and not yet taken by the worker reach the
    /// connection's write high-water mark. Fails once the client is gone.
    pub fn write(&mut self, part: impl Into<Bytes>) -> Result<(), Gone> {
        match &self.chan {
            Some(c) => c.push(Some(part.into()), false, false),
            None => Err(Gone),
        }
    }

    /// Ends the body: what was written is sent, then the end of the message.
    pub fn finish(mut self) -> Result<(), Gone> {
        match self.chan.take() {
            Some(c) => c.push(None, true, false),
            None => Err(Gone),
        }
    }

    /// Whether the client is gone (a `write` would fail).
    pub fn is_gone(&self) -> bool {
        self.chan
            .as_ref()
            .map_or(true, |c| crate::sync::lock(&c.q).gone)
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        if let Some(c) = self.chan.take() {
            let _ = c.push(None, false, true);
        }
    }
}
