//! Testing handlers without sockets: a [`Driver`] is one sans-IO connection answered by your
//! handler (or a whole app built with [`crate::app::AppBuilder`]). Feed it request bytes — whole,
//! split, one byte at a time — and read back the parsed [`TestResponse`]s. Everything the
//! server does between the socket and the handler happens as in a worker: the strict parser,
//! framing, pipelining, panic containment, deferred answers in order, `Connection: close`.
//!
//! ```
//! use strela::testing::Driver;
//! use strela::{Request, Response};
//!
//! fn hello(req: &Request<'_>, res: &mut Response<'_>) {
//!     res.content_type("text/plain").body_string(format!("hi {}", req.path()));
//! }
//!
//! let mut d = Driver::new(hello);
//! d.feed(b"GET /you HTTP/1.1\r\nHost: x\r\n\r\nGET /again HTTP/1.1\r\nHost: x\r\n\r\n");
//! let r = d.responses();
//! assert_eq!((r[0].status, r[0].body_str()), (200, "hi /you"));
//! assert_eq!(r[1].body_str(), "hi /again");
//! ```
//!
//! The date in `Date:` headers is fixed (1 January 1970) so output is reproducible; set another
//! with `driver.cx.date.refresh(secs)`.

use std::net::SocketAddr;

use crate::proto::conn::Context;
use crate::proto::limits::Limits;
use crate::proto::output::Front;
use crate::service::defer::Done;
use crate::service::dispatch::{self, Connection, Origin, Service};
use crate::service::handler::Handler;

/// A sans-IO connection and the handler that answers it. Its parts are public for tests that
/// need to look inside (the counters in `cx.stats`, `conn.wants_read(..)`).
#[derive(Debug)]
pub struct Driver<H> {
    /// The connection.
    pub conn: Connection,
    /// The protocol's per-worker state: limits, date, buffers, counters.
    pub cx: Context,
    /// The handler side's per-worker state: deferred answers, request facts.
    pub svc: Service,
    /// The handler.
    pub handler: H,
    /// Everything the connection wrote so far.
    pub out: Vec<u8>,
    /// A file body turned out shorter than its length while it was "sent": a worker closes
    /// the connection there.
    pub file_short: bool,
    origin: Origin,
    done: Vec<Done>,
}

impl<H: Handler> Driver<H> {
    /// A connection with the default limits.
    pub fn new(handler: H) -> Self {
        Self::with_limits(handler, &Limits::default())
    }

    /// A connection with `limits`.
    pub fn with_limits(handler: H, limits: &Limits) -> Self {
        Driver {
            conn: Connection::new(),
            cx: Context::new(limits, 0),
            svc: Service::unattached(),
            handler,
            out: Vec::new(),
            file_short: false,
            origin: Origin::default(),
            done: Vec::new(),
        }
    }

    /// Sets the peer address requests report (`req.peer_addr()`).
    pub fn set_peer(&mut self, peer: Option<SocketAddr>) {
        self.origin.peer = peer;
    }

    /// Appends `bytes` as the client sent them, answers what is complete and collects the
    /// output into [`Driver::out`] (as a client that reads everything at once). Returns how many requests were answered. Bytes after the
    /// connection decided to close are ignored, as a server ignores them.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        if self.conn.is_closing() {
            return 0;
        }
        self.push(bytes);
        let n = self.answer_all();
        // What the worker does once the socket has nothing more to read.
        self.conn.release_idle(&mut self.cx.pool);
        self.conn.shrink_partial(&mut self.cx.pool);
        n
    }

    /// One exchange as a benchmark wants it: append `bytes`, answer what is complete, drop the
    /// output as if written, give idle buffers back. Returns how many requests were answered.
    /// (It reads no clock: latency is timed from the last [`Driver::process`] or `feed`.)
    #[inline]
    pub fn exchange(&mut self, bytes: &[u8]) -> usize {
        self.conn.feed(bytes, &mut self.cx);
        let n = dispatch::process(
            &mut self.conn,
            self.origin,
            &self.handler,
            &mut self.cx,
            &mut self.svc,
        );
        if self.svc.has_unobserved() {
            self.svc
                .observe_latency(&mut self.cx.stats, crate::service::clock::Stamp::now());
        }
        if self.conn.has_pieces() {
            self.take_output();
            self.out.clear();
        } else {
            let out = self.conn.output().len();
            std::hint::black_box(self.conn.output());
            self.conn.consume(out, &mut self.cx.pool);
        }
        self.conn.release_idle(&mut self.cx.pool);
        n
    }

    /// Appends `bytes` to the read buffer without answering anything yet.
    pub fn push(&mut self, bytes: &[u8]) {
        self.conn.feed(bytes, &mut self.cx);
    }

    /// Answers the complete requests in the read buffer (as the worker does after a read or
    /// once the client read enough output). Returns how many were answered.
    pub fn process(&mut self) -> usize {
        self.svc.meta.received = crate::service::clock::Stamp::now();
        let n = dispatch::process(
            &mut self.conn,
            self.origin,
            &self.handler,
            &mut self.cx,
            &mut self.svc,
        );
        if self.svc.has_unobserved() {
            self.svc
                .observe_latency(&mut self.cx.stats, crate::service::clock::Stamp::now());
        }
        n
    }

    /// Moves what the connection wants written into [`Driver::out`] (the client read it).
    /// Returns how many bytes.
    pub fn take_output(&mut self) -> usize {
        use std::os::unix::fs::FileExt;
        let mut total = 0;
        loop {
            let n = match self.conn.front() {
                Front::Nothing => break,
                Front::Bytes(b) => {
                    self.out.extend_from_slice(b);
                    b.len()
                }
                Front::File { file, offset, len } => {
                    // What sendfile would send: the file's bytes, or the end of the
                    // connection if the file is shorter now (then stop here).
                    let mut buf = vec![0u8; len.min(1 << 20) as usize];
                    let got = file.read_at(&mut buf, offset).unwrap_or(0);
                    if got == 0 {
                        self.file_short = true;
                        break;
                    }
                    self.out.extend_from_slice(&buf[..got]);
                    got
                }
            };
            self.conn.consume(n, &mut self.cx.pool);
            total += n;
        }
        total
    }

    /// Hands completed deferred answers to the connection (as the worker does when woken),
    /// answers requests that waited behind them, and collects the output. Returns how many
    /// completions were delivered.
    pub fn deliver(&mut self) -> usize {
        self.svc.take_completions(&mut self.done);
        let mut n = 0;
        for d in self.done.drain(..) {
            if dispatch::deliver(&mut self.conn, d, &mut self.cx, &mut self.svc) {
                n += 1;
            }
        }
        let mut wakes = Vec::new();
        self.svc.inbox.take_wakes(&mut wakes); // streams with parts: pumped below
        self.answer_all();
        self.conn.release_idle(&mut self.cx.pool);
        n
    }

    /// As the worker after a read: answer, write everything (this client reads it all), and
    /// answer what the write high-water mark held back, until nothing more is complete.
    fn answer_all(&mut self) -> usize {
        let mut n = 0;
        loop {
            let k = if self.conn.has_work() {
                self.process()
            } else {
                0
            };
            n += k;
            let streamed = self.pump();
            let wrote = self.take_output();
            if (k == 0 && streamed == 0 && wrote == 0) || self.file_short {
                return n;
            }
        }
    }

    /// Feeds a streamed body at the front of the answer queue while there is room, as the
    /// worker does when the output drains or a writer has parts. Returns the body bytes added.
    pub fn pump(&mut self) -> usize {
        if self.conn.has_pending() {
            dispatch::pump(&mut self.conn, &mut self.cx, &mut self.svc)
        } else {
            0
        }
    }

    /// Whether the connection decided to close (after a refusal, `Connection: close`, …).
    pub fn is_closing(&self) -> bool {
        self.conn.is_closing()
    }

    /// Closes the connection as the worker does: deferred requests still waiting are cancelled
    /// and the buffers go back.
    pub fn close(&mut self) {
        dispatch::release(&mut self.conn, &mut self.cx, &mut self.svc);
    }

    /// The responses written so far, parsed.
    pub fn responses(&self) -> Vec<TestResponse> {
        parse_responses(&self.out)
    }
}

/// One response as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body (framed by `Content-Length`).
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    ///
    /// # Panics
    /// If the body is not UTF-8 (read [`TestResponse::body`] then).
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the body is not UTF-8")
    }
}

/// Parses consecutive responses (interim `1xx` ones skipped, bodies framed by
/// `Content-Length`, HEAD-style empty bodies not guessed); stops at the first incomplete one.
pub fn parse_responses(out: &[u8]) -> Vec<TestResponse> {
    parse_responses_to(out, |_| false)
}

/// [`parse_responses`] for a stream that may answer `HEAD` requests: `is_head(i)` says whether
/// the `i`-th final response (counting from 0, interim ones not counted) answers one, and then
/// it has no body whatever its `Content-Length` or `Transfer-Encoding` say.
pub fn parse_responses_to(
    mut out: &[u8],
    mut is_head: impl FnMut(usize) -> bool,
) -> Vec<TestResponse> {
    let mut v: Vec<TestResponse> = Vec::new();
    while let Some(end) = memchr::memmem::find(out, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&out[..end]);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let rest = &out[end + 4..];
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let (body, used) = if status >= 200 && is_head(v.len()) {
            (Vec::new(), 0)
        } else if chunked {
            match dechunk(rest) {
                Some(x) => x,
                None => break,
            }
        } else {
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            if rest.len() < len {
                break;
            }
            (rest[..len].to_vec(), len)
        };
        if status >= 200 {
            v.push(TestResponse {
                status,
                headers,
                body,
            });
        }
        out = &rest[used..];
    }
    v
}

/// A complete chunked body at the start of `b`: its data and the bytes it took; `None` if
/// it is not complete (or not valid).
pub fn dechunk(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut data = Vec::new();
    let mut i = 0;
    loop {
        let line_end = i + memchr::memmem::find(&b[i..], b"\r\n")?;
        let size_text = std::str::from_utf8(&b[i..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        i = line_end + 2;
        if size == 0 {
            // Trailers (none from strela), then the blank line.
            let end = i + memchr::memmem::find(&b[i..], b"\r\n")?;
            return (end == i).then_some((data, end + 2));
        }
        if b.len() < i + size + 2 || &b[i + size..i + size + 2] != b"\r\n" {
            return None;
        }
        data.extend_from_slice(&b[i..i + size]);
        i += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_to_head_has_no_body_whatever_its_framing_says() {
        let out = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
            HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
        let got: Vec<(u16, Vec<u8>)> = parse_responses_to(out, |i| i != 1)
            .into_iter()
            .map(|r| (r.status, r.body))
            .collect();
        assert_eq!(
            got,
            [(200, vec![]), (200, b"hi".to_vec()), (204, vec![])],
            "the interim response is skipped and not counted"
        );
        // Without knowing about HEAD the first answer swallows the rest as a chunked body.
        assert!(parse_responses(out).is_empty());
    }
}
