//! One worker thread: its own SO_REUSEPORT listener, its own edge-triggered epoll, a slab of
//! connections, a buffer pool and the protocol context. Shared-nothing: the only thing workers
//! share is the stop flag, read once per wake-up.
//!
//! Per readiness event a connection does one read → `process` (answer every complete request) →
//! one write of the whole batch. A partial write leaves the rest in the connection's write buffer
//! and is resumed on the next `OUT` edge; while more than `write_high_water` bytes wait, the
//! worker stops reading from that client and resumes once the client has drained its responses.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::handler::Handler;
use crate::proto::conn::{Conn, Context};
use crate::server::Shared;
use crate::slab::Slab;
use crate::sys::{self, Poller, ReadOutcome, Ready};

const TOKEN_LISTENER: u64 = u64::MAX;
const TOKEN_WAKER: u64 = u64::MAX - 1;
/// How long to wait before retrying accept after running out of descriptors.
const ACCEPT_BACKOFF_MS: u64 = 50;

/// A connection slot: the socket, the peer address and the protocol state. 112 bytes.
struct Entry {
    fd: OwnedFd,
    peer: Option<std::net::SocketAddr>,
    /// Reading stopped for backpressure; resume after the output drains.
    read_paused: bool,
    conn: Conn,
}

const _: () = assert!(std::mem::size_of::<Entry>() <= 112);

pub(crate) struct Worker<H: ?Sized> {
    pub(crate) id: usize,
    pub(crate) listener: OwnedFd,
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: Arc<H>,
}

/// The mutable state of a running worker, split from the poller so events can be iterated while
/// connections are handled.
struct State<'h, H: ?Sized> {
    listener: OwnedFd,
    slab: Slab<Entry>,
    cx: Context,
    handler: &'h H,
    accept_paused: bool,
}

impl<H: Handler + ?Sized> Worker<H> {
    /// Runs the event loop until the server is stopped. Errors are fatal to the whole server.
    pub(crate) fn run(self) -> io::Result<()> {
        let mut poller = Poller::new(1024)?;
        let waker = &self.shared.wakers[self.id];
        poller.add(self.listener.as_fd(), TOKEN_LISTENER, sys::read_interest())?;
        poller.add(waker.as_fd(), TOKEN_WAKER, sys::read_interest())?;
        let mut st = State {
            listener: self.listener,
            slab: Slab::default(),
            cx: {
                let mut cx = Context::new(&self.shared.limits);
                cx.meta.id = (self.id as u64) << 48;
                cx
            },
            handler: &*self.handler,
            accept_paused: false,
        };
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            let timeout = st.accept_paused.then_some(ACCEPT_BACKOFF_MS);
            let n = poller.wait(timeout)?;
            st.cx.date.refresh(sys::coarse_unix_secs());
            st.cx.meta.received = std::time::Instant::now();
            if st.accept_paused && n == 0 {
                st.accept_paused = false;
                st.accept_all(&poller);
            }
            for ev in poller.events() {
                let r = Ready::of(ev);
                match r.token {
                    TOKEN_LISTENER => {
                        if !st.accept_paused {
                            st.accept_all(&poller)
                        }
                    }
                    TOKEN_WAKER => waker.drain(),
                    token => st.on_conn(token, r),
                }
            }
            let g = &self.shared.gauges[self.id];
            g.connections.store(st.slab.len(), Ordering::Relaxed);
            g.buffers.store(st.cx.pool.outstanding(), Ordering::Relaxed);
            g.requests.store(
                st.cx.stats.requests + st.cx.stats.rejected,
                Ordering::Relaxed,
            );
        }
        // Stopping: close every connection and give its buffers back.
        let tokens = st.slab.tokens();
        for t in tokens {
            st.close(t);
        }
        let g = &self.shared.gauges[self.id];
        g.connections.store(st.slab.len(), Ordering::Relaxed);
        g.buffers.store(st.cx.pool.outstanding(), Ordering::Relaxed);
        Ok(())
    }
}

impl<H: Handler + ?Sized> State<'_, H> {
    fn accept_all(&mut self, poller: &Poller) {
        loop {
            match sys::accept(self.listener.as_fd()) {
                Ok(Some((fd, peer))) => {
                    if self.slab.len() >= self.cx.limits.max_conns_per_worker {
                        drop(fd); // over the limit: refuse by closing at once
                        continue;
                    }
                    let token = self.slab.insert(Entry {
                        fd,
                        peer,
                        read_paused: false,
                        conn: Conn::new(),
                    });
                    let registered = match self.slab.get_mut(token) {
                        Some(e) => poller
                            .add(e.fd.as_fd(), token, sys::conn_interest())
                            .is_ok(),
                        None => false,
                    };
                    if !registered {
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
        let Some(e) = self.slab.get_mut(token) else {
            return;
        };
        if r.error {
            self.close(token);
            return;
        }
        if r.writable && e.conn.has_output() {
            if flush(e).is_err() {
                self.close(token);
                return;
            }
            if e.read_paused && e.conn.wants_read(&self.cx.limits) {
                e.read_paused = false;
                return self.read_ready(token, r.peer_closed);
            }
        }
        if r.readable {
            self.read_ready(token, r.peer_closed);
        } else if e.conn.is_done() {
            self.close(token);
        }
    }

    /// Reads, answers and writes until the socket has no more to give (or backpressure says stop).
    /// A short read ends the loop (the queue was empty; new data raises a new edge) unless the
    /// peer has closed, in which case the end of stream must be read now: no edge will follow.
    #[inline]
    fn read_ready(&mut self, token: u64, peer_closed: bool) {
        let Some(e) = self.slab.get_mut(token) else {
            return;
        };
        let cx = &mut self.cx;
        let alive = loop {
            if !e.conn.wants_read(&cx.limits) {
                e.read_paused = !e.conn.is_closing();
                break true;
            }
            let outcome = sys::read(e.fd.as_fd(), e.conn.read_buf(cx));
            match outcome {
                Ok(ReadOutcome::Data { full, .. }) => {
                    cx.meta.peer = e.peer;
                    e.conn.process(self.handler, cx);
                    if flush(e).is_err() {
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
        };
        if !alive || e.conn.is_done() {
            self.close(token);
        } else {
            e.conn.release_idle(&mut cx.pool);
        }
    }

    fn close(&mut self, token: u64) {
        if let Some(mut e) = self.slab.remove(token) {
            e.conn.release_all(&mut self.cx.pool);
            drop(e.fd); // closing the fd removes it from the epoll set
        }
    }
}

/// Writes pending output until done or the socket is full.
#[inline]
fn flush(e: &mut Entry) -> io::Result<()> {
    while e.conn.has_output() {
        let n = sys::write(e.fd.as_fd(), e.conn.output())?;
        if n == 0 {
            break; // EAGAIN: resume on the next OUT edge
        }
        e.conn.consume(n);
    }
    Ok(())
}
