//! The standalone request parser: views into the caller's buffer, no server needed.

use super::*;

/// One header field: views into the caller's buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_header {
    /// Field name as received.
    pub name: strela_str,
    /// Field value, without surrounding whitespace.
    pub value: strela_str,
}

/// A parsed request head: views into the caller's buffer, valid while that buffer is.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_parsed_request {
    /// Method.
    pub method: strela_str,
    /// Path (before `?`).
    pub path: strela_str,
    /// Query (after `?`; empty when none).
    pub query: strela_str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: c_int,
    /// Bytes of the head, including the blank line: the body (if any) starts here.
    pub head_len: usize,
    /// Declared Content-Length (0 when none or chunked).
    pub content_length: u64,
    /// Transfer-Encoding: chunked.
    pub chunked: bool,
    /// Whether the connection persists after this request.
    pub keep_alive: bool,
    /// Header fields written to the caller's array.
    pub header_count: usize,
    /// With `STRELA_ERR_PARSE`: the status a server would answer (400, 413, 414, 431, 501, 505).
    pub error_status: u16,
}

/// The limits `strela_parse_request` applies: the engine's head rules, with room for
/// `headers_cap` headers, the largest head the engine supports, and no body limit (the caller
/// frames the body). Public for the fuzz check that compares it with the engine's parser.
pub fn standalone_limits(headers_cap: usize) -> Limits {
    Limits {
        max_headers: headers_cap.max(1),
        max_head_bytes: engine::proto::limits::MAX_HEAD_CAP,
        max_uri_bytes: engine::proto::limits::MAX_HEAD_CAP,
        max_body_bytes: usize::MAX,
        ..Limits::default()
    }
    .normalized()
}

/// Parses the request head at the start of `buf` (the same parser and rules as the server),
/// with no copy: `*out` and the `headers` array (room for `headers_cap` fields; more → 431)
/// receive views into `buf`. Returns `STRELA_OK` for a complete head, `STRELA_PARTIAL` when more
/// bytes are needed, `STRELA_ERR_PARSE` with `out->error_status` for a bad one.
///
/// # Safety
/// `buf` points to `len` readable bytes; `out` is writable; `headers` has `headers_cap`
/// writable elements (or is NULL with `headers_cap` 0).
#[no_mangle]
pub unsafe extern "C" fn strela_parse_request(
    buf: *const c_char,
    len: usize,
    out: *mut strela_parsed_request,
    headers: *mut strela_header,
    headers_cap: usize,
) -> strela_result {
    guard(|| {
        if buf.is_null() || out.is_null() || (headers.is_null() && headers_cap != 0) {
            return fail(STRELA_ERR_NULL, "buf, out or headers is NULL");
        }
        // SAFETY: per the contract.
        let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.cast(), len) };
        // SAFETY: out is writable per the contract.
        let out = unsafe { &mut *out };
        *out = strela_parsed_request {
            method: strela_str::ABSENT,
            path: strela_str::ABSENT,
            query: strela_str::ABSENT,
            version_minor: 0,
            head_len: 0,
            content_length: 0,
            chunked: false,
            keep_alive: false,
            header_count: 0,
            error_status: 0,
        };
        let limits = standalone_limits(headers_cap);
        let mut scratch = Box::<HeaderScratch>::default();
        let head = match parse_head(data, &mut scratch, &limits) {
            Ok(Parsed::Complete(h)) => h,
            Ok(Parsed::Partial(_)) => return STRELA_PARTIAL,
            Err(e) => {
                out.error_status = e.status();
                return fail(STRELA_ERR_PARSE, format!("bad request head: {e:?}"));
            }
        };
        let meta = RequestMeta::default();
        let req = head_view(data, &head, &scratch, &meta);
        if headers_cap == 0 && req.header_count() > 0 {
            out.error_status = 431;
            return fail(STRELA_ERR_PARSE, "no room for headers (headers_cap is 0)");
        }
        out.method = strela_str::of(req.method().as_bytes());
        out.path = strela_str::of(req.path().as_bytes());
        out.query = strela_str::of(req.query().as_bytes());
        out.version_minor = c_int::from(req.version() == engine::Version::Http11);
        out.head_len = head.head_len();
        out.content_length = if head.is_chunked() {
            0
        } else {
            head.content_length()
        };
        out.chunked = head.is_chunked();
        out.keep_alive = req.keep_alive();
        for (i, (n, v)) in req.headers().enumerate().take(headers_cap) {
            // SAFETY: i < headers_cap and the array has headers_cap writable elements.
            unsafe {
                *headers.add(i) = strela_header {
                    name: strela_str::of(n.as_bytes()),
                    value: strela_str::of(v),
                };
            }
            out.header_count = i + 1;
        }
        STRELA_OK
    })
}
