//! Response building and encoding: status line, headers and body straight into the connection's
//! pooled write buffer.
//!
//! A handler fills a [`Response`]: extra header lines are rendered as they are set into a
//! per-worker scratch buffer, the body is either referenced (`&'static`, `Bytes`, an owned
//! `Vec`/`String`) or written into a second scratch buffer. After the handler returns, `encode`
//! appends `status line + Server/Date block + headers + Content-Length + body` to the write
//! buffer after a single `reserve`, so the write buffer grows at most once per response.

use bytes::Bytes;

use crate::date::BLOCK_LEN;
use crate::proto::head::Version;

/// Where the body of a response lives until it is encoded.
#[derive(Debug, Default)]
enum Body {
    #[default]
    Empty,
    Static(&'static [u8]),
    /// In the worker's body scratch buffer.
    Scratch,
    Bytes(Bytes),
    Owned(Vec<u8>),
}

const R_CLOSE: u8 = 1;
const R_HEAD: u8 = 2;

/// The response a handler fills in. Starts as `200 OK` with an empty body.
///
/// Framing is strela's job: `Content-Length`, `Transfer-Encoding` and `Connection` set through
/// [`Response::header`] are not copied (use [`Response::close`] to close the connection), and
/// header names or values containing CR, LF or NUL are dropped, so a handler can never split a
/// response.
pub struct Response<'a> {
    status: u16,
    flags: u8,
    headers: &'a mut Vec<u8>,
    body_buf: &'a mut Vec<u8>,
    body: Body,
}

impl<'a> Response<'a> {
    /// A fresh response using the given scratch buffers (cleared here).
    pub(crate) fn new(
        headers: &'a mut Vec<u8>,
        body_buf: &'a mut Vec<u8>,
        head_only: bool,
    ) -> Self {
        headers.clear();
        body_buf.clear();
        Response {
            status: 200,
            flags: if head_only { R_HEAD } else { 0 },
            headers,
            body_buf,
            body: Body::Empty,
        }
    }

    /// Sets the status code. Codes outside 100..=999 become 500.
    #[inline]
    pub fn status(&mut self, code: u16) -> &mut Self {
        self.status = if (100..=999).contains(&code) {
            code
        } else {
            500
        };
        self
    }

    /// The status code set so far.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// Adds a header line. See the type docs for what is refused.
    #[inline]
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        if !valid_name(name.as_bytes()) || !valid_value(value) || is_framing(name.as_bytes()) {
            return self;
        }
        self.headers.reserve(name.len() + value.len() + 4);
        self.headers.extend_from_slice(name.as_bytes());
        self.headers.extend_from_slice(b": ");
        self.headers.extend_from_slice(value);
        self.headers.extend_from_slice(b"\r\n");
        self
    }

    /// Adds a header whose value is a number, formatted without allocating.
    pub fn header_num(&mut self, name: &str, value: u64) -> &mut Self {
        let mut b = itoa::Buffer::new();
        let v = b.format(value);
        self.header(name, v)
    }

    /// Sets `Content-Type`.
    #[inline]
    pub fn content_type(&mut self, value: &str) -> &mut Self {
        self.header("Content-Type", value)
    }

    /// Uses a static body: no copy until the single copy into the write buffer.
    #[inline]
    pub fn body_static(&mut self, body: &'static [u8]) -> &mut Self {
        self.body = Body::Static(body);
        self
    }

    /// Copies `body` into the worker's scratch buffer (reused: no allocation in steady state).
    pub fn body(&mut self, body: &[u8]) -> &mut Self {
        self.body_buf.clear();
        self.body_buf.extend_from_slice(body);
        self.body = Body::Scratch;
        self
    }

    /// Takes ownership of a `String` body.
    pub fn body_string(&mut self, body: String) -> &mut Self {
        self.body = Body::Owned(body.into_bytes());
        self
    }

    /// Takes ownership of a `Vec<u8>` body.
    pub fn body_vec(&mut self, body: Vec<u8>) -> &mut Self {
        self.body = Body::Owned(body);
        self
    }

    /// Uses a shared `Bytes` body (reference-counted, not copied until encoding).
    pub fn body_bytes(&mut self, body: Bytes) -> &mut Self {
        self.body = Body::Bytes(body);
        self
    }

    /// A writer for the body: the worker's scratch buffer, emptied. Use with `write!` or
    /// `serde_json::to_writer`; it replaces any body set before.
    pub fn body_writer(&mut self) -> &mut Vec<u8> {
        self.body_buf.clear();
        self.body = Body::Scratch;
        self.body_buf
    }

    /// Serialises `value` as the JSON body with `Content-Type: application/json`.
    /// A value that fails to serialise turns the response into a 500.
    pub fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        let ok = serde_json::to_writer(self.body_writer(), value).is_ok();
        if ok {
            self.content_type("application/json")
        } else {
            self.body_buf.clear();
            self.headers.clear();
            self.status(500).body_static(b"Internal Server Error\n")
        }
    }

    /// Closes the connection after this response is written.
    pub fn close(&mut self) -> &mut Self {
        self.flags |= R_CLOSE;
        self
    }

    /// Whether the connection will be closed after this response.
    pub fn will_close(&self) -> bool {
        self.flags & R_CLOSE != 0
    }

    /// The body bytes set so far.
    pub fn body_bytes_ref(&self) -> &[u8] {
        match &self.body {
            Body::Empty => &[],
            Body::Static(b) => b,
            Body::Scratch => self.body_buf,
            Body::Bytes(b) => b,
            Body::Owned(v) => v,
        }
    }

    /// The extra header lines rendered so far (`Name: value\r\n` each).
    pub fn rendered_headers(&self) -> &[u8] {
        self.headers
    }

    /// Appends the encoded response to `out`. `keep_alive` is whether the connection persists.
    #[inline]
    pub(crate) fn encode(
        self,
        out: &mut Vec<u8>,
        date_block: &[u8; BLOCK_LEN],
        keep_alive: bool,
        version: Version,
    ) {
        let status = self.status;
        let body = self.body_bytes_ref();
        let has_body = !(status < 200 || status == 204 || status == 304);
        let mut cl = itoa::Buffer::new();
        let cl = cl.format(body.len()).as_bytes();
        let send_body = has_body && self.flags & R_HEAD == 0;

        let line = status_line(status);
        out.reserve(
            STATUS_LINE_MAX
                + BLOCK_LEN
                + self.headers.len()
                + 40
                + if send_body { body.len() } else { 0 },
        );
        match line {
            Some(l) => out.extend_from_slice(l),
            None => {
                out.extend_from_slice(b"HTTP/1.1 ");
                out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
                out.push(b' ');
                out.extend_from_slice(reason(status).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(date_block);
        out.extend_from_slice(self.headers);
        if has_body {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(cl);
            out.extend_from_slice(b"\r\n");
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if send_body {
            out.extend_from_slice(body);
        }
    }
}

const STATUS_LINE_MAX: usize = 64;

/// Pre-rendered status lines for the statuses strela itself sends and the common ones.
#[inline]
fn status_line(code: u16) -> Option<&'static [u8]> {
    Some(match code {
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        308 => b"HTTP/1.1 308 Permanent Redirect\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        401 => b"HTTP/1.1 401 Unauthorized\r\n",
        403 => b"HTTP/1.1 403 Forbidden\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
        413 => b"HTTP/1.1 413 Content Too Large\r\n",
        414 => b"HTTP/1.1 414 URI Too Long\r\n",
        431 => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        501 => b"HTTP/1.1 501 Not Implemented\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        505 => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        _ => return None,
    })
}

/// The reason phrase for a status code (RFC 9110 §15); empty-ish `"Unknown"` for others.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// RFC 9110 §5.1 field-name: a token.
fn valid_name(n: &[u8]) -> bool {
    !n.is_empty()
        && n.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// RFC 9110 §5.5 field-value: no CR, LF or NUL (other controls than HTAB refused too).
fn valid_value(v: &[u8]) -> bool {
    v.iter()
        .all(|&b| b >= 0x20 && b != 0x7f || b == b'\t' || b >= 0x80)
}

/// Headers whose framing meaning strela owns.
fn is_framing(n: &[u8]) -> bool {
    n.eq_ignore_ascii_case(b"content-length")
        || n.eq_ignore_ascii_case(b"transfer-encoding")
        || n.eq_ignore_ascii_case(b"connection")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::DateCache;

    fn render(f: impl FnOnce(&mut Response<'_>), keep_alive: bool, head: bool) -> String {
        let (mut h, mut b, mut out) = (Vec::new(), Vec::new(), Vec::new());
        let mut res = Response::new(&mut h, &mut b, head);
        f(&mut res);
        res.encode(
            &mut out,
            DateCache::new(0).block(),
            keep_alive,
            Version::Http11,
        );
        String::from_utf8(out).unwrap()
    }

    const DATE: &str = "Server: strela\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n";

    #[test]
    fn encodes_status_headers_body() {
        let s = render(
            |r| {
                r.content_type("text/plain").body_static(b"hi");
            },
            true,
            false,
        );
        assert_eq!(
            s,
            format!(
                "HTTP/1.1 200 OK\r\n{DATE}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
            )
        );
    }

    #[test]
    fn unusual_status_gets_a_rendered_line_and_close() {
        let s = render(
            |r| {
                r.status(418);
            },
            false,
            false,
        );
        assert_eq!(
            s,
            format!("HTTP/1.1 418 Unknown\r\n{DATE}Content-Length: 0\r\nConnection: close\r\n\r\n")
        );
    }

    #[test]
    fn head_and_no_body_statuses() {
        let s = render(
            |r| {
                r.body(b"abc");
            },
            true,
            true,
        );
        assert!(s.ends_with("Content-Length: 3\r\n\r\n"), "{s}");
        let s = render(
            |r| {
                r.status(204).body(b"abc");
            },
            true,
            false,
        );
        assert!(
            !s.contains("Content-Length") && s.ends_with("\r\n\r\n"),
            "{s}"
        );
    }

    #[test]
    fn refuses_response_splitting_and_framing_headers() {
        let s = render(
            |r| {
                r.header("X-A", "ok\r\nX-Evil: 1")
                    .header("Bad Name", "v")
                    .header("content-length", "99")
                    .header("X-Good", "fine");
            },
            true,
            false,
        );
        assert!(
            !s.contains("Evil") && !s.contains("99") && !s.contains("Bad Name"),
            "{s}"
        );
        assert!(s.contains("X-Good: fine\r\n"));
    }

    #[test]
    fn json_helper_and_invalid_status() {
        let s = render(
            |r| {
                r.status(42).json(&serde_json::json!({"a": 1}));
            },
            true,
            false,
        );
        assert!(s.starts_with("HTTP/1.1 500 "));
        assert!(
            s.contains("Content-Type: application/json\r\n") && s.ends_with("{\"a\":1}"),
            "{s}"
        );
    }
}
