//! Streamed request bodies: the [`BodyReader`] a handler gets from
//! [`Request::body_reader`](crate::Request::body_reader), and the sink the connection fills.
//!
//! A route that streams ([`BodyPolicy::Stream`]) has its handler called as soon as the head is
//! complete; the body follows through a window of [`BODY_WINDOW`] bytes shared by the worker
//! (which decodes the body — chunked or not — into it as it arrives) and the reader (which
//! empties it, on the worker from a [`BodySource`](crate::BodySource), or on any thread with
//! blocking reads). While the window is full the worker stops reading the socket, so a body of
//! any size costs the window and the connection's read buffer, nothing more (`benches/bodies`:
//! a 512 MiB upload echoed by the binary's `/echo` grows its peak RSS by 0.04 MiB). The reader
//! waking the worker when it makes room is the only cross-thread signal.
//!
//! `Expect: 100-continue` is answered only when the handler asks for the body (calls
//! `body_reader`); a handler that answers without reading it gets the rest drained (a known
//! length up to `DRAIN_MAX`) or its connection closed after the answer.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::proto::body::{BodyError, BodySink};
use crate::service::stream::Wake;

/// Body bytes buffered between the connection and its reader.
pub const BODY_WINDOW: usize = 64 * 1024;

/// How a route receives request bodies (see [`Handler::body_policy`](crate::Handler::body_policy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyPolicy {
    /// Buffered whole before the handler runs, up to `Limits::max_body_bytes`; larger bodies
    /// get 413.
    #[default]
    Buffer,
    /// Buffered whole, up to this many bytes (capped at about 4 GiB).
    BufferUpTo(u64),
    /// Streamed: the handler runs at the head and reads the body with
    /// [`Request::body_reader`](crate::Request::body_reader); bodies over this many bytes are
    /// refused (413 from `Content-Length`, or the reader fails for a chunked one).
    Stream(u64),
}

/// How the body ended, or `None` while it is still coming.
type End = Option<Result<(), BodyError>>;

#[derive(Debug, Default)]
struct State {
    data: VecDeque<u8>,
    end: End,
    /// The reader was dropped: the connection drains or closes.
    reader_gone: bool,
    /// The window was found full (by `room`) or filled (by `push`): the worker waits to be
    /// woken when the reader makes room.
    paused: bool,
}

/// What the connection and the reader share.
#[derive(Debug)]
struct Chan {
    state: Mutex<State>,
    /// Signalled when data arrives or the body ends.
    ready: Condvar,
    /// The worker to wake when room appears, and the thread it runs on.
    wake: Option<(Arc<dyn Wake>, u64, u32, std::thread::ThreadId)>,
    limit: u64,
    declared: Option<u64>,
}

/// The request's side of a streamed body, before the handler asks for it.
#[derive(Debug)]
pub(crate) struct BodyTap {
    chan: Arc<Chan>,
    asked: AtomicBool,
}

impl BodyTap {
    /// A body of `declared` bytes (`None`: chunked) up to `limit`, on connection `token` of the
    /// worker whose inbox is `wake`.
    pub(crate) fn new(
        wake: Arc<dyn Wake>,
        token: u64,
        seq: u32,
        limit: u64,
        declared: Option<u64>,
    ) -> Self {
        BodyTap {
            chan: Arc::new(Chan {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
                wake: Some((wake, token, seq, std::thread::current().id())),
                limit,
                declared,
            }),
            asked: AtomicBool::new(false),
        }
    }

    /// The reader (the handler asked for the body).
    pub(crate) fn reader(&self) -> BodyReader {
        self.asked.store(true, Ordering::Relaxed);
        BodyReader {
            chan: self.chan.clone(),
        }
    }

    /// The sink for the connection, if the handler asked for the body.
    pub(crate) fn sink(&self) -> Option<Box<dyn BodySink>> {
        if self.asked.load(Ordering::Relaxed) {
            Some(Box::new(Sink {
                chan: self.chan.clone(),
            }))
        } else {
            None
        }
    }
}

/// The connection's side: decoded bytes go in.
#[derive(Debug)]
struct Sink {
    chan: Arc<Chan>,
}

impl BodySink for Sink {
    fn room(&self) -> usize {
        let mut st = crate::sync::lock(&self.chan.state);
        let room = BODY_WINDOW.saturating_sub(st.data.len());
        if room == 0 {
            st.paused = true;
        }
        room
    }

    fn limit(&self) -> u64 {
        self.chan.limit
    }

    fn push(&mut self, data: &[u8]) {
        let mut st = crate::sync::lock(&self.chan.state);
        st.data.extend(data);
        // A push that fills the window leaves the rest of the body in the connection's read
        // buffer, possibly with nothing more to come from the socket: the worker is owed a
        // wake once room appears. The connection asks `room()` again before it stops feeding
        // (`Conn::feed_body`), and a zero there sets the pause too; setting it here as well
        // keeps the obligation with the push that created it, whatever the caller does next.
        if st.data.len() >= BODY_WINDOW {
            st.paused = true;
        }
        drop(st);
        self.chan.ready.notify_all();
    }

    fn end(&mut self, result: Result<(), BodyError>) {
        let mut st = crate::sync::lock(&self.chan.state);
        if st.end.is_none() {
            st.end = Some(result);
        }
        drop(st);
        self.chan.ready.notify_all();
    }

    fn abandoned(&self) -> bool {
        crate::sync::lock(&self.chan.state).reader_gone
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // The connection went away (or stopped reading) before the body ended.
        self.end(Err(BodyError::Closed));
    }
}

/// What [`BodyReader::read_now`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadNow {
    /// This many bytes were appended.
    Data(usize),
    /// Nothing yet: more is coming (on the worker, ask again when called again).
    Pending,
    /// The body is complete and everything was read.
    End,
    /// The body cannot be completed, and why.
    Failed(BodyError),
}

/// A request body as it arrives. `Send`: move it to another thread to read with blocking
/// [`io::Read`], or poll it on the worker with [`BodyReader::read_now`] (from a
/// [`BodySource`](crate::BodySource), for instance). Dropping it before the end tells the
/// connection nobody reads: the rest is drained or the connection closed.
#[derive(Debug)]
pub struct BodyReader {
    chan: Arc<Chan>,
}

impl BodyReader {
    /// A reader over a body that is already complete (it was buffered).
    pub(crate) fn complete(body: &[u8]) -> Self {
        BodyReader {
            chan: Arc::new(Chan {
                state: Mutex::new(State {
                    data: VecDeque::from(body.to_vec()),
                    end: Some(Ok(())),
                    ..State::default()
                }),
                ready: Condvar::new(),
                wake: None,
                limit: body.len() as u64,
                declared: Some(body.len() as u64),
            }),
        }
    }

    /// The body's declared length (`Content-Length`), or `None` for a chunked body.
    pub fn content_length(&self) -> Option<u64> {
        self.chan.declared
    }

    /// Appends up to `max` bytes that have arrived to `out`, without waiting.
    pub fn read_now(&mut self, out: &mut Vec<u8>, max: usize) -> ReadNow {
        self.read_now_with(max, |part| out.extend_from_slice(part))
    }

    /// [`BodyReader::read_now`] into a slice: up to `buf.len()` bytes, without waiting.
    pub fn read_now_into(&mut self, buf: &mut [u8]) -> ReadNow {
        let mut at = 0;
        self.read_now_with(buf.len(), |part| {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        })
    }

    fn read_now_with(&mut self, max: usize, put: impl FnMut(&[u8])) -> ReadNow {
        let mut st = crate::sync::lock(&self.chan.state);
        if !st.data.is_empty() {
            let n = take(&mut st, max, put);
            self.made_room(st);
            return ReadNow::Data(n);
        }
        match st.end {
            None => ReadNow::Pending,
            Some(Ok(())) => ReadNow::End,
            Some(Err(e)) => ReadNow::Failed(e),
        }
    }

    /// Reads the whole body into a vector (blocking; not on the worker thread).
    pub fn read_to_vec(&mut self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io::Read::read_to_end(self, &mut v)?;
        Ok(v)
    }

    /// Wakes the worker if it paused for room and there is room now.
    fn made_room(&self, st: std::sync::MutexGuard<'_, State>) {
        let mut st = st;
        if st.paused && st.data.len() <= BODY_WINDOW / 2 {
            st.paused = false;
            drop(st);
            if let Some((w, token, seq, _)) = &self.chan.wake {
                w.wake(*token, *seq);
            }
        }
    }
}

/// Hands up to `max` buffered bytes to `put` (in at most two parts: the window is a ring) and
/// removes them; returns how many.
fn take(st: &mut State, max: usize, mut put: impl FnMut(&[u8])) -> usize {
    let n = st.data.len().min(max);
    let (a, b) = st.data.as_slices();
    let from_a = a.len().min(n);
    put(&a[..from_a]);
    if n > from_a {
        put(&b[..n - from_a]);
    }
    st.data.drain(..n);
    n
}

impl io::Read for BodyReader {
    /// Blocks until bytes arrive or the body ends (`Ok(0)`); an error if it cannot complete.
    /// On the worker thread it never blocks (that would stop the very connection it waits
    /// for): it fails with `WouldBlock` instead — use [`BodyReader::read_now`] there.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = crate::sync::lock(&self.chan.state);
        loop {
            if !st.data.is_empty() {
                let mut at = 0;
                let n = take(&mut st, buf.len(), |part| {
                    buf[at..at + part.len()].copy_from_slice(part);
                    at += part.len();
                });
                self.made_room(st);
                return Ok(n);
            }
            match st.end {
                Some(Ok(())) => return Ok(0),
                Some(Err(e)) => {
                    let kind = match e {
                        BodyError::Malformed | BodyError::TooLarge => io::ErrorKind::InvalidData,
                        BodyError::Closed => io::ErrorKind::UnexpectedEof,
                        BodyError::TimedOut => io::ErrorKind::TimedOut,
                    };
                    return Err(io::Error::new(kind, e));
                }
                None => {}
            }
            if let Some((_, _, _, worker)) = &self.chan.wake {
                if *worker == std::thread::current().id() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
            }
            st = self.chan.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        let mut st = crate::sync::lock(&self.chan.state);
        if st.end.is_none() {
            st.reader_gone = true;
            st.data.clear();
            let paused = std::mem::replace(&mut st.paused, false);
            drop(st);
            if paused {
                if let Some((w, token, seq, _)) = &self.chan.wake {
                    w.wake(*token, *seq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes a sink sends its worker.
    #[derive(Debug, Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(&self, _token: u64, _seq: u32) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn sink_and_reader() -> (Arc<Wakes>, Box<dyn BodySink>, BodyReader) {
        let wakes = Arc::new(Wakes::default());
        let tap = BodyTap::new(wakes.clone(), 7, 0, u64::MAX, None);
        let reader = tap.reader();
        let sink = tap.sink().expect("the handler asked for the body");
        (wakes, sink, reader)
    }

    /// Reads `n` bytes on another thread (on the worker's thread a read would not block).
    fn read_elsewhere(mut reader: BodyReader, n: usize) -> BodyReader {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; n];
            reader.read_exact(&mut buf).unwrap();
            reader
        })
        .join()
        .unwrap()
    }

    fn wakes(w: &Wakes) -> usize {
        w.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_push_that_fills_the_window_is_woken_when_room_appears() {
        // The connection fed the window full and stopped with the rest of the body in its read
        // buffer, without asking for room again: the reader's draining must still wake it.
        let (w, mut sink, reader) = sink_and_reader();
        assert_eq!(sink.room(), BODY_WINDOW);
        sink.push(&vec![1u8; BODY_WINDOW]);
        let _reader = read_elsewhere(reader, BODY_WINDOW / 2);
        assert_eq!(wakes(&w), 1);
        assert_eq!(sink.room(), BODY_WINDOW / 2);
    }

    #[test]
    fn a_window_found_full_is_woken_once_half_is_read() {
        let (w, mut sink, reader) = sink_and_reader();
        sink.push(&vec![1u8; BODY_WINDOW - 10]);
        assert_eq!(sink.room(), 10);
        sink.push(&[2u8; 10]);
        assert_eq!(sink.room(), 0);
        let reader = read_elsewhere(reader, BODY_WINDOW / 2 - 1);
        assert_eq!(wakes(&w), 0, "still over half full");
        let _reader = read_elsewhere(reader, 1);
        assert_eq!(wakes(&w), 1);
    }

    #[test]
    fn a_window_never_full_wakes_nobody() {
        let (w, mut sink, reader) = sink_and_reader();
        sink.push(&vec![1u8; BODY_WINDOW - 1]);
        assert_eq!(sink.room(), 1);
        let _reader = read_elsewhere(reader, BODY_WINDOW - 1);
        assert_eq!(wakes(&w), 0);
    }

    #[test]
    fn the_reader_is_told_why_the_body_ended_early() {
        let cases = [
            (Some(BodyError::Malformed), io::ErrorKind::InvalidData),
            (Some(BodyError::TooLarge), io::ErrorKind::InvalidData),
            (Some(BodyError::TimedOut), io::ErrorKind::TimedOut),
            (None, io::ErrorKind::UnexpectedEof), // the sink is dropped: the connection closed
        ];
        for (end, kind) in cases {
            let (_, mut sink, reader) = sink_and_reader();
            sink.push(b"ab");
            if let Some(e) = end {
                sink.end(Err(e));
            }
            drop(sink);
            let why = end.unwrap_or(BodyError::Closed);
            let mut reader = reader;
            let mut got = Vec::new();
            assert_eq!(
                reader.read_now(&mut got, 10),
                ReadNow::Data(2),
                "data first"
            );
            assert_eq!(reader.read_now(&mut got, 10), ReadNow::Failed(why));
            let err = std::thread::spawn(move || {
                let mut reader = reader;
                io::Read::read(&mut reader, &mut [0u8; 4]).unwrap_err()
            })
            .join()
            .unwrap();
            assert_eq!(err.kind(), kind, "{why:?}");
            assert_eq!(err.to_string(), why.to_string());
        }
    }
}
