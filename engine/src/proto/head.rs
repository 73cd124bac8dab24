//! Request-head parsing (httparse) into the zero-copy [`Request`] view.
//!
//! httparse does the RFC 9112 tokenising; this module turns its borrowed slices into 16-bit spans
//! relative to the start of the head, picks out the framing headers (`Content-Length`,
//! `Transfer-Encoding`, `Connection`, `Host`) in the same pass, and answers where a partial head
//! ends so that a trickled head is scanned once, not re-parsed on every read.
//!
//! Sizes (checked at compile time): [`Span`] 4 bytes, [`HeaderSpan`] 8 bytes, [`Head`] 32 bytes,
//! [`Request`] 80 bytes.

use std::mem::MaybeUninit;

use crate::error::RequestError;
use crate::limits::{Limits, MAX_HEADERS_CAP};

/// A byte range of the head: offset and length, both 16-bit (heads are at most 64 KiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    off: u16,
    len: u16,
}

impl Span {
    #[inline]
    fn of(base: &[u8], part: &[u8]) -> Span {
        // Plain address arithmetic; `part` always lies inside `base` (both come from httparse
        // parsing `base`), and the head limit keeps offsets below 64 KiB.
        let off = part.as_ptr() as usize - base.as_ptr() as usize;
        debug_assert!(off + part.len() <= base.len() && off + part.len() <= u16::MAX as usize);
        Span {
            off: off as u16,
            len: part.len() as u16,
        }
    }

    #[inline]
    fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.off as usize..self.off as usize + self.len as usize]
    }
}

/// One header field: spans of its name and value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderSpan {
    name: Span,
    value: Span,
}

/// The request method, decoded once so handlers and the router compare a byte, not a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
    /// CONNECT
    Connect,
    /// TRACE
    Trace,
    /// Any other (extension) method; see [`Request::method`] for its name.
    Other,
}

impl Method {
    /// Decodes a method token (case-sensitive, as RFC 9110 §9.1 says).
    #[inline]
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }

    /// The method's name (`"OTHER"` for extension methods).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other => "OTHER",
        }
    }
}

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

pub(crate) const F_KEEP_ALIVE: u8 = 1; // the connection persists after this request
pub(crate) const F_HAS_QUERY: u8 = 2;
pub(crate) const F_CHUNKED: u8 = 4; // the body is chunked (Transfer-Encoding: chunked)
pub(crate) const F_EXPECT_CONTINUE: u8 = 8; // Expect: 100-continue

/// Everything about a parsed head except the borrowed slices: what the connection keeps between
/// parsing and answering. Copy, 32 bytes.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    pub(crate) method: Span,
    pub(crate) path: Span,
    pub(crate) query: Span,
    pub(crate) head_len: u32,
    pub(crate) content_length: u64,
    pub(crate) nheaders: u8,
    pub(crate) method_kind: Method,
    pub(crate) version: Version,
    pub(crate) flags: u8,
}

impl Head {
    /// Bytes of the head, request line to the blank line included.
    pub fn head_len(&self) -> usize {
        self.head_len as usize
    }

    /// The declared body length (0 without `Content-Length`; for a chunked body, 0 until it is
    /// decoded, then the decoded length).
    pub fn content_length(&self) -> u64 {
        self.content_length
    }

    /// Whether the body is chunked.
    pub fn is_chunked(&self) -> bool {
        self.flags & F_CHUNKED != 0
    }

    /// Whether the client sent `Expect: 100-continue` (and waits for a `100` before the body).
    pub fn expects_continue(&self) -> bool {
        self.flags & F_EXPECT_CONTINUE != 0 && self.version == Version::Http11
    }
}

const _: () = assert!(std::mem::size_of::<Span>() == 4);
const _: () = assert!(std::mem::size_of::<HeaderSpan>() == 8);
const _: () = assert!(std::mem::size_of::<Head>() <= 32);
const _: () = assert!(std::mem::size_of::<Request<'static>>() <= 80);

/// Per-worker scratch for header spans (one array, reused by every request).
pub struct HeaderScratch {
    spans: [HeaderSpan; MAX_HEADERS_CAP],
}

impl Default for HeaderScratch {
    fn default() -> Self {
        HeaderScratch {
            spans: [HeaderSpan::default(); MAX_HEADERS_CAP],
        }
    }
}

/// A parsed request: a zero-copy view into the connection's read buffer, valid while the handler
/// runs. Method, path, query and header names are `&str`; header values and the body are bytes.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The head followed by the body bytes, as received (the body is `buf[head_len..]`).
    buf: &'a [u8],
    headers: &'a [HeaderSpan],
    meta: &'a RequestMeta,
    route: Option<&'a RouteMatch<'a>>,
    head: Head,
}

/// Per-request facts that are not in the bytes: when it arrived, its id, who sent it, its
/// deadline. Typed fields, no untyped extension map.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta {
    /// When the worker woke up with this request's bytes (one clock read per event-loop turn,
    /// shared by every request handled in that turn).
    pub received: std::time::Instant,
    /// Server-unique id: worker index in the top 16 bits, a per-worker sequence below.
    pub id: u64,
    /// The client's address, when the connection has one.
    pub peer: Option<std::net::SocketAddr>,
    /// When the answer is due, if a deadline applies.
    pub deadline: Option<std::time::Instant>,
}

impl Default for RequestMeta {
    fn default() -> Self {
        RequestMeta {
            received: std::time::Instant::now(),
            id: 0,
            peer: None,
            deadline: None,
        }
    }
}

/// The route a request matched: its pattern and parameters (views into the path).
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a> {
    /// The matched pattern, e.g. `/users/{id}`.
    pub pattern: &'a str,
    /// The parameters.
    pub params: &'a strela_router::Params<'a, 'a>,
}

impl<'a> Request<'a> {
    /// Builds the view over `buf` (which starts at the head) from a parse result.
    #[inline]
    pub(crate) fn new(
        buf: &'a [u8],
        head: Head,
        headers: &'a [HeaderSpan],
        meta: &'a RequestMeta,
    ) -> Self {
        debug_assert_eq!(
            buf.len() as u64,
            u64::from(head.head_len) + head.content_length
        );
        Request {
            buf,
            headers,
            meta,
            route: None,
            head,
        }
    }

    /// The same request with its route match attached (done by the router).
    #[inline]
    pub fn with_route<'b>(&self, route: &'b RouteMatch<'b>) -> Request<'b>
    where
        'a: 'b,
    {
        Request {
            buf: self.buf,
            headers: self.headers,
            meta: self.meta,
            route: Some(route),
            head: self.head,
        }
    }

    /// A route parameter by name (`{id}` in `/users/{id}`): a raw view into the path, not
    /// percent-decoded. `None` outside a routed request or for an unknown name.
    #[inline]
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.route?.params.get(name)
    }

    /// The matched route pattern, e.g. `/users/{id}`.
    pub fn route(&self) -> Option<&'a str> {
        self.route.map(|r| r.pattern)
    }

    /// The route parameters, in pattern order.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.route.into_iter().flat_map(|r| r.params.iter())
    }

    /// Arrival time, id, peer address and deadline.
    #[inline]
    pub fn meta(&self) -> &'a RequestMeta {
        self.meta
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.meta.peer
    }

    /// A route parameter parsed as `T`; a missing or unparsable one is a 400, not a 500.
    pub fn param_as<T: std::str::FromStr>(&self, name: &str) -> Result<T, crate::error::HttpError> {
        let v = self.param(name).ok_or_else(|| {
            crate::error::HttpError::bad_request(format!("missing parameter `{name}`"))
        })?;
        v.parse()
            .map_err(|_| crate::error::HttpError::bad_request(format!("bad parameter `{name}`")))
    }

    /// The body parsed as JSON; a body that is not JSON (or not this shape) is a 400, and a
    /// `Content-Type` other than `application/json` (when present) a 415.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::error::HttpError> {
        if let Some(ct) = self.header("content-type") {
            let essence = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
            if !essence.eq_ignore_ascii_case(b"application/json") {
                return Err(crate::error::HttpError::unsupported_media_type());
            }
        }
        serde_json::from_slice(self.body())
            .map_err(|e| crate::error::HttpError::bad_request(format!("bad JSON body: {e}")))
    }

    /// The first query parameter called `name`, percent-decoded (and `+` as space) only when it
    /// needs to be: borrowed when the raw value has no escapes. A key present without `=` gives
    /// `Some("")`. Invalid escapes or non-UTF-8 results give `None` for that pair.
    pub fn query_param(&self, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        crate::query::find(self.query(), name)
    }

    #[inline]
    fn str_of(&self, s: Span) -> &'a str {
        let bytes = s.get(self.buf);
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: every `Span` read through this function (method, path, query, header names) was
        // made by `parse_head` from a `&str` that httparse returned while parsing these same bytes;
        // `buf` is borrowed immutably for 'a, so the bytes are still that valid UTF-8. Query spans
        // are a suffix of the target split at an ASCII '?', so they stay on a char boundary.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The method token, e.g. `"GET"`.
    #[inline]
    pub fn method(&self) -> &'a str {
        self.str_of(self.head.method)
    }

    /// The decoded method.
    #[inline]
    pub fn method_kind(&self) -> Method {
        self.head.method_kind
    }

    /// The request target without its query, e.g. `"/users/7"` (not percent-decoded).
    #[inline]
    pub fn path(&self) -> &'a str {
        self.str_of(self.head.path)
    }

    /// The raw query after `?` (empty when there is none); not percent-decoded.
    #[inline]
    pub fn query(&self) -> &'a str {
        self.str_of(self.head.query)
    }

    /// Whether the target had a `?` (possibly with an empty query).
    pub fn has_query(&self) -> bool {
        self.head.flags & F_HAS_QUERY != 0
    }

    /// The HTTP version.
    #[inline]
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// Whether the connection stays open after this request (keep-alive).
    #[inline]
    pub fn keep_alive(&self) -> bool {
        self.head.flags & F_KEEP_ALIVE != 0
    }

    /// The first header with this name (ASCII case-insensitive), if any.
    #[inline]
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        self.headers.iter().find_map(|h| {
            let n = h.name.get(self.buf);
            (n.len() == name.len() && n.eq_ignore_ascii_case(name)).then(|| h.value.get(self.buf))
        })
    }

    /// All headers, in the order received, as (name, value) pairs.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers
            .iter()
            .map(move |h| (self.str_of(h.name), h.value.get(self.buf)))
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The request body (empty when there is none). Borrowed from the read buffer, not copied.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.buf[self.head.head_len as usize..]
    }

    /// The raw head bytes, request line to the blank line included.
    pub fn raw_head(&self) -> &'a [u8] {
        &self.buf[..self.head.head_len as usize]
    }
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("path", &self.path())
            .field("query", &self.query())
            .field("version", &self.version())
            .field("headers", &self.header_count())
            .field("body_len", &self.body().len())
            .finish()
    }
}

/// Where a head ends: the index just past the blank line, searching only `buf[from..]` for the
/// final LF (looking back two bytes before `from`). Accepts CRLF and bare-LF line endings, like
/// httparse; it only decides when httparse is worth calling, httparse decides validity.
#[inline]
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    for i in memchr::memchr_iter(b'\n', &buf[from..]) {
        let i = from + i;
        if i >= 1 && buf[i - 1] == b'\n' {
            return Some(i + 1);
        }
        if i >= 2 && buf[i - 1] == b'\r' && buf[i - 2] == b'\n' {
            return Some(i + 1);
        }
    }
    None
}

/// Outcome of trying to parse a head at the start of a buffer.
#[derive(Debug)]
pub enum Parsed {
    /// A complete head; its spans are in the scratch, its summary here.
    Complete(Head),
    /// More bytes are needed.
    Partial,
}

/// Parses one request head at the start of `buf`.
///
/// Headers go into `scratch`; the returned [`Head`] says how many. Partial heads longer than the
/// head limit, and every malformed or unsupported head, are errors with the status to answer.
pub fn parse_head(
    buf: &[u8],
    scratch: &mut HeaderScratch,
    limits: &Limits,
) -> Result<Parsed, RequestError> {
    let max = limits.max_headers.min(MAX_HEADERS_CAP);
    let mut raw: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS_CAP] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS_CAP];
    let mut req = httparse::Request::new(&mut []);
    let status = req.parse_with_uninit_headers(buf, &mut raw[..max]);
    let head_len = match status {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return match partial_limit(buf, 0, limits) {
                Some(e) => Err(e),
                None => Ok(Parsed::Partial),
            };
        }
        // A head is judged only once it is terminated (or too long): httparse can spot some
        // errors before the blank line, but a connection that only scans new bytes for the
        // blank line would see them later, so deciding early would make the answer depend on
        // how the bytes were split (the connection fuzzer's split-invariance property).
        Err(_) if find_head_end(buf, 0).is_none() => {
            return match partial_limit(buf, 0, limits) {
                Some(e) => Err(e),
                None => Ok(Parsed::Partial),
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(_) => return Err(RequestError::Malformed),
    };
    if head_len > limits.max_head_bytes {
        return Err(RequestError::HeadTooLarge);
    }
    // httparse fills these on Complete.
    let (method, target, minor) = match (req.method, req.path, req.version) {
        (Some(m), Some(p), Some(v)) => (m, p, v),
        _ => return Err(RequestError::Malformed),
    };
    if target.len() > limits.max_uri_bytes {
        return Err(RequestError::UriTooLong);
    }
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };

    let mut flags = 0u8;
    // Targets are short: a plain loop beats a vectorised search's call overhead here.
    let (path, query) = match target.bytes().position(|b| b == b'?') {
        Some(q) => {
            flags |= F_HAS_QUERY;
            (&target[..q], &target[q + 1..])
        }
        None => (target, &target[target.len()..]),
    };

    let mut content_length: Option<u64> = None;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut hosts = 0u32;
    let mut te_seen = false;
    let mut te_chunked_last = false;
    let mut te_chunked_count = 0u32;
    let mut te_other = false;
    let n = req.headers.len();
    for (slot, h) in scratch.spans.iter_mut().zip(req.headers.iter()) {
        *slot = HeaderSpan {
            name: Span::of(buf, h.name.as_bytes()),
            value: Span::of(buf, h.value),
        };
        let name = h.name.as_bytes();
        // Framing headers, matched by length first so ordinary headers cost one compare.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => hosts += 1,
            6 if name.eq_ignore_ascii_case(b"expect") => {
                // RFC 9110 §10.1.1: 100-continue is the only expectation; others → 417.
                if h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                    flags |= F_EXPECT_CONTINUE;
                } else {
                    return Err(RequestError::ExpectationFailed);
                }
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let t = token.trim_ascii();
                    if t.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let v = parse_content_length(h.value)?;
                if content_length.is_some_and(|old| old != v) {
                    return Err(RequestError::BadContentLength);
                }
                content_length = Some(v);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                te_seen = true;
                for coding in h.value.split(|&b| b == b',') {
                    let c = coding.trim_ascii();
                    if c.is_empty() {
                        continue;
                    }
                    if c.eq_ignore_ascii_case(b"chunked") {
                        te_chunked_count += 1;
                        te_chunked_last = true;
                    } else {
                        te_other = true;
                        te_chunked_last = false;
                    }
                }
            }
            _ => {}
        }
    }
    if te_seen {
        // RFC 9112 §6.1–6.3: framing in doubt → 400 and close; a coding we do not implement → 501.
        if content_length.is_some() || version == Version::Http10 {
            return Err(RequestError::Malformed);
        }
        if !te_chunked_last || te_chunked_count != 1 {
            return Err(if te_chunked_count == 0 && te_other {
                RequestError::NotImplemented
            } else {
                RequestError::Malformed
            });
        }
        if te_other {
            return Err(RequestError::NotImplemented);
        }
        flags |= F_CHUNKED;
    }
    if (version == Version::Http11 && hosts != 1) || hosts > 1 {
        return Err(RequestError::BadHost);
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > limits.max_body_bytes as u64 {
        return Err(RequestError::BodyTooLarge);
    }
    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    if keep_alive {
        flags |= F_KEEP_ALIVE;
    }
    Ok(Parsed::Complete(Head {
        method: Span::of(buf, method.as_bytes()),
        path: Span::of(buf, path.as_bytes()),
        query: Span::of(buf, query.as_bytes()),
        head_len: head_len as u32,
        content_length,
        nheaders: n as u8,
        method_kind: Method::from_bytes(method.as_bytes()),
        version,
        flags,
    }))
}

/// The spans the last `parse_head` wrote, for `head`.
#[inline]
pub(crate) fn spans<'s>(scratch: &'s HeaderScratch, head: &Head) -> &'s [HeaderSpan] {
    &scratch.spans[..head.nheaders as usize]
}

/// A view of a parsed head alone (its body, if any, is not part of it), for callers that parse
/// heads themselves, such as the C ABI: `buf` and `scratch` are what [`parse_head`] was given.
pub fn head_view<'a>(
    buf: &'a [u8],
    head: &Head,
    scratch: &'a HeaderScratch,
    meta: &'a RequestMeta,
) -> Request<'a> {
    let mut h = *head;
    h.content_length = 0;
    Request::new(
        &buf[..head.head_len as usize],
        h,
        spans(scratch, head),
        meta,
    )
}

/// Whether a partial head has already broken a limit: 414 while the request line alone is longer
/// than the URI limit allows, 431 once the head passes the head limit. `checked_upto` is how much of
/// `buf` an earlier call already looked at, so a trickled head costs O(n) over all calls.
pub fn partial_limit(buf: &[u8], checked_upto: usize, limits: &Limits) -> Option<RequestError> {
    let line_max = limits.max_uri_bytes + 32; // the target plus method, version and spaces
    if checked_upto <= line_max
        && buf.len() > line_max
        && memchr::memchr(b'\n', &buf[..=line_max]).is_none()
    {
        return Some(RequestError::UriTooLong);
    }
    (buf.len() > limits.max_head_bytes).then_some(RequestError::HeadTooLarge)
}

/// httparse's `Version` error: 505 for a well-formed `HTTP/x.y` we do not speak, 400 otherwise.
fn version_error(buf: &[u8]) -> RequestError {
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    // Exactly `method SP target SP version`; anything else is a malformed line, not a version.
    let mut parts = line.split(|&b| b == b' ');
    let (_, _, version, extra) = (
        parts.next(),
        parts.next(),
        parts.next().unwrap_or(b""),
        parts.next(),
    );
    if extra.is_some() {
        return RequestError::Malformed;
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', maj, b'.', min]
            if maj.is_ascii_digit() && min.is_ascii_digit() =>
        {
            RequestError::VersionNotSupported
        }
        [b'H', b'T', b'T', b'P', b'/', maj] if maj.is_ascii_digit() => {
            RequestError::VersionNotSupported
        }
        _ => RequestError::Malformed,
    }
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no spaces inside, no list, no overflow.
fn parse_content_length(v: &[u8]) -> Result<u64, RequestError> {
    if v.is_empty() || v.len() > 19 {
        return Err(RequestError::BadContentLength);
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(RequestError::BadContentLength);
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Ok(n)
}
