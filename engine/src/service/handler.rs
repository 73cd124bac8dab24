//! The handler contract: what a user writes to answer a request, and what it is told about
//! requests the core answered itself ([`Refusal`]).

use std::sync::Arc;

use crate::service::body::BodyPolicy;
use crate::service::request::Request;
use crate::service::response::Response;

/// Answers one request by filling in a [`Response`]. Runs on a worker thread, shared by all
/// workers, so it must be `Send + Sync`; it must not block (defer slow work instead).
///
/// Any `Fn(&Request, &mut Response) + Send + Sync + 'static` closure or function is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Handles `req`, writing the answer into `res`.
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>);

    /// Told about a request the core answered without calling [`Handler::call`] (a malformed
    /// or oversized request, a header timeout, an overloaded worker, a panic no middleware
    /// caught), after the answer was queued. For access logs; the default does nothing.
    #[inline]
    fn refused(&self, _refusal: &Refusal<'_>) {}

    /// How the body of `req` is received, asked only when it has not arrived whole with the
    /// head (or is larger than `Limits::max_body_bytes`); `req` has the head only. The default
    /// buffers it up to `Limits::max_body_bytes`. See [`stream_body`] and
    /// [`limit_body`] for routes that differ.
    #[inline]
    fn body_policy(&self, _req: &Request<'_>) -> BodyPolicy {
        BodyPolicy::Buffer
    }
}

/// A request the core answered itself: what an access log needs to record it.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    /// The client, when known.
    pub peer: Option<std::net::SocketAddr>,
    /// The status sent (400, 408, 413, 414, 431, 500, 501, 503, 505 …).
    pub status: u16,
    /// Why, as a stable name (a [`crate::RequestError`] name, `timeout`, `overloaded`, `panic`).
    pub reason: &'static str,
    /// The request line as received, up to its line end and at most 256 bytes: possibly
    /// partial or not text at all; empty when nothing was received.
    pub line: &'a [u8],
    /// Body bytes of the answer.
    pub bytes: u64,
}

impl Refusal<'_> {
    /// The request line of `buf` (bytes up to the first CR or LF, at most 256).
    pub fn line_of(buf: &[u8]) -> &[u8] {
        let b = &buf[..buf.len().min(256)];
        let end = memchr::memchr2(b'\r', b'\n', b).unwrap_or(b.len());
        &b[..end]
    }
}

impl<F> Handler for F
where
    F: Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self(req, res)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        (**self).call(req, res)
    }

    fn refused(&self, refusal: &Refusal<'_>) {
        (**self).refused(refusal)
    }

    fn body_policy(&self, req: &Request<'_>) -> BodyPolicy {
        (**self).body_policy(req)
    }
}

impl Handler for Box<dyn Handler> {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        (**self).call(req, res)
    }

    fn refused(&self, refusal: &Refusal<'_>) {
        (**self).refused(refusal)
    }

    fn body_policy(&self, req: &Request<'_>) -> BodyPolicy {
        (**self).body_policy(req)
    }
}

/// A handler with its own body policy (see [`stream_body`], [`limit_body`]).
#[derive(Debug)]
pub struct WithBody<H> {
    policy: BodyPolicy,
    handler: H,
}

/// `handler` receives request bodies streamed, as they arrive, up to `limit` bytes (it reads
/// them with [`Request::body_reader`]); for an upload route of any size.
pub fn stream_body<H: Handler>(limit: u64, handler: H) -> WithBody<H> {
    WithBody {
        policy: BodyPolicy::Stream(limit),
        handler,
    }
}

/// `handler` receives request bodies buffered whole, up to `limit` bytes (more or fewer than
/// `Limits::max_body_bytes`, capped at about 4 GiB); larger ones get 413.
pub fn limit_body<H: Handler>(limit: u64, handler: H) -> WithBody<H> {
    WithBody {
        policy: BodyPolicy::BufferUpTo(limit),
        handler,
    }
}

impl<H: Handler> Handler for WithBody<H> {
    #[inline]
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>) {
        let limit = match self.policy {
            BodyPolicy::Buffer => u64::MAX,
            BodyPolicy::BufferUpTo(l) | BodyPolicy::Stream(l) => l,
        };
        // A body that came whole with its head skipped the policy: hold it to the limit here.
        if req.body().len() as u64 > limit {
            res.status(413)
                .close()
                .content_type("text/plain")
                .body_static(b"Payload Too Large\n");
            return;
        }
        self.handler.call(req, res)
    }

    fn refused(&self, refusal: &Refusal<'_>) {
        self.handler.refused(refusal)
    }

    fn body_policy(&self, _req: &Request<'_>) -> BodyPolicy {
        self.policy
    }
}
