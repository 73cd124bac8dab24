//! strela: a high-performance, low-level HTTP/1.1 server engine.
//!
//! One worker thread per core, each with its own `SO_REUSEPORT` listener and edge-triggered
//! epoll; a sans-IO HTTP/1.1 core ([`proto`]) that answers every pipelined request in a read
//! buffer with one write; zero-copy [`Request`] views; responses encoded straight into pooled
//! buffers; a per-worker `Date` cache.
//!
//! ```no_run
//! use strela::{Request, Response, Server};
//!
//! fn hello(_req: &Request<'_>, res: &mut Response<'_>) {
//!     res.content_type("text/plain").body_static(b"Hello, World!");
//! }
//!
//! Server::builder()
//!     .bind("127.0.0.1:8080".parse().unwrap())
//!     .workers(2)
//!     .get("/hello", hello)
//!     .run()
//!     .unwrap();
//! ```
//!
//! What a library user sees is re-exported here: [`Server`], [`ServerBuilder`], [`ServerHandle`],
//! [`Request`], [`Response`], [`Handler`], [`Limits`], [`HttpError`]; routing is strela-router
//! (re-exported as [`router`]), middleware lives in [`middleware`]. The global allocator is never set by the
//! library; the `strela` binary uses mimalloc (feature `mimalloc`, on by default).
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
// `unsafe` is allowed by name where it is needed: `Request::str_of` (the UTF-8 view of
// grammar-checked spans), the SSE2 loads in `proto::simd`, small copies into reserved room
// (`service::response::{end_small, extend_small}`), and in `sys` the three hot-path syscalls
// through glibc's `syscall()` and `pthread_sigmask`; other syscalls go through rustix.
#![deny(unsafe_code)]

pub mod app;
pub mod endpoints;
pub mod ops;
pub mod proto;
pub mod runtime;
pub mod service;
mod sync;
mod sys;
pub mod testing;

pub use app::error::{fallible, HttpError};
pub use app::middleware;
pub use proto::body::BodyError;
pub use proto::date;
pub use proto::error::RequestError;
pub use proto::fields::ResponseError;
pub use proto::head::{Method, Version};
pub use proto::limits::Limits;
pub use runtime::server::{
    default_workers, Server, ServerBuilder, ServerHandle, ServerStats, Stopper,
};
pub use service::body::{BodyPolicy, BodyReader, ReadNow};
pub use service::clock::Stamp;
pub use service::defer::{BlockingPool, CancelToken, Deferred, Reply};
pub use service::handler::{limit_body, stream_body, Handler, Refusal, WithBody};
pub use service::request::{Request, RequestMeta, RouteMatch};
pub use service::response::Response;
pub use service::stream::{BodySource, BodyWriter, Gone, Produce};
pub use strela_router as router;
pub use sys::{process_facts, raise_fd_limit, unix_now, ProcessFacts};

/// The README states these sizes; this keeps the sentence true (it fails when either changes).
#[cfg(test)]
mod readme_sizes {
    use std::mem::size_of;

    #[test]
    fn readme_states_the_real_sizes() {
        let readme = include_str!("../../README.md");
        let sentence = format!(
            "`Request` view {} B (spans are 16-bit offsets into the head), header span {} B, `Conn` {} B, connection slot {} B",
            size_of::<crate::service::request::Request<'static>>(),
            size_of::<crate::proto::head::HeaderSpan>(),
            size_of::<crate::proto::conn::Conn>(),
            crate::runtime::worker::ENTRY_SIZE,
        );
        assert!(
            readme.contains(&sentence),
            "README.md should say: {sentence}"
        );
    }
}
