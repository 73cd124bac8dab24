//! Sans-IO HTTP/1.1: no sockets, no threads, no clocks, no handlers. Bytes and the current
//! second go in; requests, decisions and response bytes come out. Everything here imports only
//! from `proto` (a test in `engine/tests/layers.rs` checks it).
//!
//! - [`limits`], [`error`]: what a client may send and the one status each refusal gets.
//! - [`grammar`]: the request-head grammar, judged byte by byte as the bytes arrive.
//! - [`head`]: complete heads: the framing fields, `Host`, `Connection`, `Expect`.
//! - [`body`]: chunked request bodies (strict, incremental, decoded in place).
//! - [`fields`]: which header names and values may be sent, status lines, status classes.
//! - [`date`]: the `Date` header, rendered once per second from a given time.
//! - [`pool`]: the per-worker buffer pool.
//! - `simd`: sixteen bytes at a time (SSE2) for the grammar's tokens, paths and values, and
//!   for the JSON string escaper.
//! - [`stats`]: what a worker counts, with typed indices.
//! - [`conn`]: the connection state machine tying them together: bytes in, requests out,
//!   answers in, bytes to write out.
//!
//! The handler side (the [`Request`](crate::Request) view, the [`Response`](crate::Response),
//! dispatch) is in `crate::service`; [`crate::testing`] drives a connection with a handler.

pub mod body;
pub mod conn;
pub mod date;
pub mod error;
pub mod fields;
pub mod grammar;
pub mod head;
pub mod limits;
pub mod output;
pub mod pool;
pub(crate) mod simd;
pub mod span;
pub mod stats;
