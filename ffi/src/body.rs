//! Bodies of any size from C: request bodies read as they arrive, streamed responses (a
//! producer callback on the worker, or a writer on any thread), file responses from an fd,
//! per-route body policies and static files.

use super::*;

use engine::{BodyReader, BodyWriter, Produce, ReadNow};

/// A request body being read (opaque). Owned by the C program from
/// `strela_request_body_reader` until `strela_body_reader_free`; may be moved to and used
/// from any thread (one at a time).
#[derive(Debug)]
pub struct strela_body_reader {
    pub(crate) r: BodyReader,
}

/// Options of a route (`strela_server_route_opts`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_route_opts {
    /// The largest request body the route accepts, in bytes (0: the server's
    /// `max_body_bytes`). Larger bodies are refused with 413.
    pub max_body_bytes: u64,
    /// Non-zero: bodies are streamed to the handler as they arrive (read them with
    /// `strela_request_body_reader`) instead of buffered whole before it runs; then
    /// `max_body_bytes` may exceed 4 GiB.
    pub stream_body: c_int,
}

/// A streamed response's producer, called on the worker when the connection has room: write
/// up to `room` bytes of the body into `buf` and return how many (at least 1), or
/// `STRELA_PRODUCE_END` (0) after the last byte, `STRELA_PRODUCE_PENDING` when nothing is ready
/// now (it is called again at the connection's next event), or `STRELA_PRODUCE_ABORT` to stop
/// (the connection closes: the client sees an incomplete body). Must not block.
pub type strela_producer =
    Option<unsafe extern "C" fn(buf: *mut c_void, room: usize, userdata: *mut c_void) -> isize>;

/// Called exactly once when a streamed response ends — finished, aborted, or the client left —
/// on the worker thread; frees what `userdata` holds.
pub type strela_destructor = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A producer's return: the body is complete.
pub const STRELA_PRODUCE_END: isize = 0;
/// A producer's return: the body stops here and the connection closes.
pub const STRELA_PRODUCE_ABORT: isize = -1;
/// A producer's return: nothing ready now; ask again later.
pub const STRELA_PRODUCE_PENDING: isize = -2;

/// The body of `req` as it arrives, for a route that streams bodies (`stream_body` in
/// `strela_route_opts`); for any other route (or a body that came whole) a reader over a copy
/// of `strela_request_body`. Asking for it is what sends `100 Continue` to a client waiting for
/// one; a handler that never asks gets the body drained or the connection closed. The caller
/// owns the reader: free it with `strela_body_reader_free` (freeing it before the end tells
/// strela nobody reads the rest). NULL on error.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_body_reader(
    req: *const strela_request,
) -> *mut strela_body_reader {
    guard_or(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        match unsafe { request(req) } {
            Some(r) => Box::into_raw(Box::new(strela_body_reader { r: r.body_reader() })),
            None => {
                set_error("req is NULL");
                std::ptr::null_mut()
            }
        }
    })
}

/// Whether the body of `req` is streamed (still arriving: read it with a body reader;
/// `strela_request_body` is empty). 0 or 1.
///
/// # Safety
/// `req` is NULL or the request of a running handler.
#[no_mangle]
pub unsafe extern "C" fn strela_request_body_streamed(req: *const strela_request) -> c_int {
    guard_or(0, || {
        // SAFETY: per the contract.
        let r = unsafe { request(req) };
        r.map_or(0, |r| c_int::from(r.body_streamed()))
    })
}

/// The body's declared length (`Content-Length`), or -1 when it is chunked (unknown).
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn strela_body_content_length(r: *const strela_body_reader) -> i64 {
    // SAFETY: per the contract.
    let Some(r) = (unsafe { r.as_ref() }) else {
        return -1;
    };
    r.r.content_length().map_or(-1, |n| n as i64)
}

/// Reads up to `len` bytes into `buf`, blocking until some arrive: returns how many, 0 at the
/// end of the body, or -1 if it cannot be completed (malformed, over the limit, the connection
/// closed, or the body came in too slowly; `strela_last_error` says which). Never blocks on a worker thread (a handler, a producer):
/// there it returns -1 with the error "would block" — use `strela_body_read_now` there.
///
/// # Safety
/// `r` is NULL or a live reader, not used by two threads at once; `buf` has `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn strela_body_read(
    r: *mut strela_body_reader,
    buf: *mut c_void,
    len: usize,
) -> isize {
    guard_or(-1, || {
        // SAFETY: per the contract.
        let Some(r) = (unsafe { r.as_mut() }) else {
            set_error("r is NULL");
            return -1;
        };
        if buf.is_null() && len > 0 {
            set_error("buf is NULL");
            return -1;
        }
        let out: &mut [u8] = if len == 0 {
            &mut []
        } else {
            // SAFETY: per the contract, buf..buf+len is writable and not aliased during the call.
            unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) }
        };
        match std::io::Read::read(&mut r.r, out) {
            Ok(n) => n as isize,
            Err(e) => {
                set_error(e.to_string());
                -1
            }
        }
    })
}

/// Reads up to `len` bytes that have arrived, without waiting: returns how many (at least 1),
/// 0 at the end of the body, `STRELA_PRODUCE_PENDING` (-2) when none have arrived yet, or -1
/// when the body cannot be completed (`strela_last_error` says why, as `strela_body_read`).
///
/// # Safety
/// `r` is NULL or a live reader, not used by two threads at once; `buf` has `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn strela_body_read_now(
    r: *mut strela_body_reader,
    buf: *mut c_void,
    len: usize,
) -> isize {
    guard_or(-1, || {
        // SAFETY: per the contract.
        let Some(r) = (unsafe { r.as_mut() }) else {
            set_error("r is NULL");
            return -1;
        };
        if buf.is_null() || len == 0 {
            set_error("buf is NULL or len is 0");
            return -1;
        }
        // SAFETY: per the contract, buf..buf+len is writable and not aliased during the call.
        let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        match r.r.read_now_into(out) {
            ReadNow::Data(n) => n as isize,
            ReadNow::Pending => STRELA_PRODUCE_PENDING,
            ReadNow::End => 0,
            ReadNow::Failed(e) => {
                set_error(e.to_string());
                -1
            }
        }
    })
}

/// Frees a reader (NULL is fine). Before the end of the body, the rest is not read: strela
/// drains it or closes the connection after the answer.
///
/// # Safety
/// `r` is NULL or a live reader, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn strela_body_reader_free(r: *mut strela_body_reader) {
    if !r.is_null() {
        // SAFETY: per the contract, r came from Box::into_raw in strela_request_body_reader.
        drop(unsafe { Box::from_raw(r) });
    }
}

/// A producer and its userdata; the destructor runs once, when this is dropped.
struct CProducer {
    cb: unsafe extern "C" fn(*mut c_void, usize, *mut c_void) -> isize,
    destructor: strela_destructor,
    userdata: *mut c_void,
}

impl engine::BodySource for CProducer {
    fn produce(&mut self, out: &mut Vec<u8>, room: usize) -> Produce {
        // The producer writes straight into the connection's output, after what is there.
        let room = room.clamp(1, 256 * 1024);
        out.reserve(room);
        let spare = out.spare_capacity_mut();
        // SAFETY: the producer was registered as a valid function pointer; `spare` has at least
        // `room` bytes of writable (uninitialised) memory, which C may write but not read.
        let n = unsafe { (self.cb)(spare.as_mut_ptr().cast(), room, self.userdata) };
        match n {
            STRELA_PRODUCE_END => Produce::Done,
            STRELA_PRODUCE_PENDING => Produce::More,
            n if n > 0 && n as usize <= room => {
                // SAFETY: the producer's contract: it wrote `n` (≤ room ≤ spare) bytes there.
                unsafe { out.set_len(out.len() + n as usize) };
                Produce::More
            }
            _ => Produce::Abort,
        }
    }
}

impl Drop for CProducer {
    fn drop(&mut self) {
        if let Some(d) = self.destructor {
            // SAFETY: registered as a valid function pointer; called exactly once, here.
            unsafe { d(self.userdata) };
        }
    }
}

/// Streams the response body from `producer` (see `strela_producer`): chunked to HTTP/1.1
/// clients, ended by closing the connection for HTTP/1.0 ones. The producer is called on the
/// worker only when the connection has room, so memory stays bounded however large the body
/// and however slow the client. `destructor` (may be NULL) is called exactly once with
/// `userdata` when the stream ends for any reason — also when the handler fails afterwards or
/// the response is never sent. Headers set before or after this call are sent.
///
/// # Safety
/// `res` is NULL or the response of a running handler; `producer` and `destructor` are valid
/// functions callable from the worker thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn strela_response_stream(
    res: *mut strela_response,
    producer: strela_producer,
    destructor: strela_destructor,
    userdata: *mut c_void,
) -> strela_result {
    with_res!(res, |r| {
        let Some(cb) = producer else {
            if let Some(d) = destructor {
                // SAFETY: registered as a valid function; called once since nothing else will.
                unsafe { d(userdata) };
            }
            return fail(STRELA_ERR_NULL, "producer is NULL");
        };
        r.stream(CProducer {
            cb,
            destructor,
            userdata,
        });
        STRELA_OK
    })
}

/// Sends `len` bytes of the open file `fd` from `offset` as the body, with `sendfile(2)`
/// (`len` = UINT64_MAX: to the end of the file). strela takes ownership of `fd` in every case,
/// also on error: it closes it once the body is sent or the connection closes. A file that
/// turns out shorter than promised closes the connection instead of sending a wrong length.
/// For whole files with ranges and conditional requests use `strela_server_static`.
///
/// # Safety
/// `res` is NULL or the response of a running handler; `fd` is an open file descriptor the
/// caller owns and does not use afterwards.
#[no_mangle]
pub unsafe extern "C" fn strela_response_file(
    res: *mut strela_response,
    fd: c_int,
    offset: u64,
    len: u64,
) -> strela_result {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return fail(STRELA_ERR_INVALID, "fd is negative");
    }
    // SAFETY: per the contract, fd is open and ownership passes to strela here.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    with_res!(res, |r| {
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return fail(STRELA_ERR_IO, format!("fd: {e}")),
        };
        if offset > size {
            return fail(STRELA_ERR_INVALID, "offset is past the end of the file");
        }
        let len = if len == u64::MAX {
            size - offset
        } else {
            len.min(size - offset)
        };
        r.body_file(file, offset, len);
        STRELA_OK
    })
}

/// A streamed response body written from any thread (opaque), from `strela_deferred_stream`.
/// Owned by the C program until `strela_writer_finish` or `strela_writer_free` consumes it.
#[derive(Debug)]
pub struct strela_writer {
    pub(crate) w: BodyWriter,
}

/// Answers a deferred request with a streamed body: the status and headers set on the handle
/// so far go out now, the body follows from the returned writer (chunked to HTTP/1.1). The
/// handle is consumed (do not free it). NULL if `d` is NULL.
///
/// # Safety
/// `d` is NULL or a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn strela_deferred_stream(d: *mut strela_deferred) -> *mut strela_writer {
    guard_or(std::ptr::null_mut(), || {
        if d.is_null() {
            set_error("d is NULL");
            return std::ptr::null_mut();
        }
        // SAFETY: per the contract, d came from Box::into_raw in strela_response_defer.
        let mut d = unsafe { Box::from_raw(d) };
        let reply = d.reply.take().unwrap_or_else(Reply::ok);
        let w = d.d.stream(reply);
        Box::into_raw(Box::new(strela_writer { w }))
    })
}

/// Queues `len` bytes (copied) of the body. Blocks while what is queued and not yet sent
/// reaches the connection's write high-water mark. `STRELA_ERR_GONE` once the client is gone
/// (stop producing; free the writer).
///
/// # Safety
/// `w` is NULL or a live writer, not used by two threads at once; `data` has `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn strela_writer_write(
    w: *mut strela_writer,
    data: *const c_void,
    len: usize,
) -> strela_result {
    guard(|| {
        // SAFETY: per the contract.
        let Some(w) = (unsafe { w.as_mut() }) else {
            return fail(STRELA_ERR_NULL, "w is NULL");
        };
        let s = strela_str {
            ptr: data.cast(),
            len,
        };
        // SAFETY: per the contract, data..data+len is readable during the call.
        let bytes = match unsafe { s.bytes() } {
            Some(b) => b.to_vec(),
            None if len == 0 => return STRELA_OK,
            None => return fail(STRELA_ERR_NULL, "data is NULL"),
        };
        match w.w.write(bytes) {
            Ok(()) => STRELA_OK,
            Err(e) => fail(STRELA_ERR_GONE, e.to_string()),
        }
    })
}

/// Ends the body (what was written is sent, then the end of the message) and frees the writer.
///
/// # Safety
/// `w` is NULL or a live writer, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn strela_writer_finish(w: *mut strela_writer) -> strela_result {
    guard(|| {
        if w.is_null() {
            return fail(STRELA_ERR_NULL, "w is NULL");
        }
        // SAFETY: per the contract, w came from Box::into_raw in strela_deferred_stream.
        let w = unsafe { Box::from_raw(w) };
        match w.w.finish() {
            Ok(()) => STRELA_OK,
            Err(e) => fail(STRELA_ERR_GONE, e.to_string()),
        }
    })
}

/// Frees a writer without finishing: the body is cut short and the connection closes (the
/// client sees an incomplete message). NULL is fine.
///
/// # Safety
/// `w` is NULL or a live writer, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn strela_writer_free(w: *mut strela_writer) {
    if !w.is_null() {
        // SAFETY: per the contract, w came from Box::into_raw in strela_deferred_stream.
        drop(unsafe { Box::from_raw(w) });
    }
}
