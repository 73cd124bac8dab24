//! Sans-IO HTTP/1.1: no sockets, no threads, no clocks. Bytes in, response bytes out.
//!
//! - [`grammar`]: the request-head grammar, judged byte by byte as the bytes arrive.
//! - [`head`]: request heads into the zero-copy [`Request`](head::Request) view.
//! - [`encode`]: the [`Response`](encode::Response) a handler fills and its encoding.
//! - [`body`]: chunked request bodies (strict, incremental, decoded in place).
//! - [`conn`]: the connection state machine tying them to pooled buffers.
//!
//! Nothing here reaches `sys` or the worker: tests, benches and fuzzers drive [`conn::Conn`]
//! directly.

pub mod body;
pub mod conn;
pub mod encode;
pub mod grammar;
pub mod head;
