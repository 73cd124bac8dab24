//! Complete request heads: the parsed [`Head`] and its field spans, which the zero-copy
//! [`Request`](crate::Request) view reads.
//!
//! [`super::grammar`] judges every byte against the RFC grammar and records 16-bit spans
//! relative to the start of the head; this module then applies the rules that need the whole
//! head — the framing fields (`Content-Length`, `Transfer-Encoding`), `Host`, `Connection`,
//! `Expect` — in one pass over the recorded fields. A partial head is resumed from its
//! [`Cursor`], so a trickled head is scanned once, not re-parsed on every read.
//!
//! Sizes (checked at compile time): [`Span`] 4 bytes, [`HeaderSpan`] 8 bytes, [`Head`] 32 bytes.

use crate::proto::error::RequestError;
use crate::proto::grammar::{self, Line, Scan};
use crate::proto::limits::{Limits, MAX_HEADERS_CAP};

pub use crate::proto::grammar::Cursor;
pub use crate::proto::span::{HeaderSpan, Span};

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
    /// Any other (extension) method; see [`Request::method`](crate::Request::method) for its name.
    Other,
}

impl Method {
    /// Decodes a method token (case-sensitive, as RFC 9110 §9.1 says).
    #[inline]
    pub fn from_bytes(m: &[u8]) -> Method {
        // The usual one first: one length test and one 3-byte compare.
        if m == b"GET" {
            return Method::Get;
        }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Per-worker scratch for header spans (one array, reused by every request).
pub struct HeaderScratch {
    pub(crate) spans: [HeaderSpan; MAX_HEADERS_CAP],
}

impl std::fmt::Debug for HeaderScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderScratch")
    }
}

impl Default for HeaderScratch {
    fn default() -> Self {
        HeaderScratch {
            spans: [HeaderSpan::default(); MAX_HEADERS_CAP],
        }
    }
}

/// Outcome of trying to parse a head at the start of a buffer.
#[derive(Debug)]
pub enum Parsed {
    /// A complete head; its spans are in the scratch, its summary here.
    Complete(Head),
    /// Every byte so far is a valid prefix of a head; more are needed. Resume with the cursor
    /// ([`resume`]) instead of parsing again from the start.
    Partial(Cursor),
}

/// Parses one request head at the start of `buf`.
///
/// Headers go into `scratch`; the returned [`Head`] says how many. A head that breaks the
/// grammar or a limit — as soon as the first byte that does arrives — and every head the
/// server cannot serve are errors with the status to answer.
pub fn parse_head(
    buf: &[u8],
    scratch: &mut HeaderScratch,
    limits: &Limits,
) -> Result<Parsed, RequestError> {
    let mut line = Line::default();
    let head_len = match grammar::fast(buf, limits, &mut line, &mut scratch.spans) {
        Some(n) => n,
        None => {
            line = Line::default();
            match grammar::scan::<true>(
                buf,
                Cursor::default(),
                limits,
                &mut line,
                &mut scratch.spans,
            )? {
                Scan::Partial(c) => return Ok(Parsed::Partial(c)),
                Scan::Complete(n) => n,
            }
        }
    };
    finish(buf, head_len, &line, &scratch.spans[..line.fields as usize]).map(Parsed::Complete)
}

/// [`parse_head`] without its fast path: the general scanner alone. For the fuzz target and
/// tests that check the two agree; not for serving.
#[doc(hidden)]
pub fn parse_head_general(
    buf: &[u8],
    scratch: &mut HeaderScratch,
    limits: &Limits,
) -> Result<Parsed, RequestError> {
    let mut line = Line::default();
    match grammar::scan::<true>(
        buf,
        Cursor::default(),
        limits,
        &mut line,
        &mut scratch.spans,
    )? {
        Scan::Partial(c) => Ok(Parsed::Partial(c)),
        Scan::Complete(n) => {
            finish(buf, n, &line, &scratch.spans[..line.fields as usize]).map(Parsed::Complete)
        }
    }
}

/// Continues the scan of a partial head over the bytes that arrived since (`buf` starts at the
/// head's first byte): `Partial` with the new cursor, or `Complete(head_len)` — then call
/// [`parse_head`] for the parsed head — or the error the new bytes made certain.
pub fn resume(buf: &[u8], cursor: Cursor, limits: &Limits) -> Result<Scan, RequestError> {
    grammar::scan::<false>(buf, cursor, limits, &mut Line::default(), &mut [])
}

/// The rules that need the whole head, over its recorded fields.
#[inline]
fn finish(
    buf: &[u8],
    head_len: usize,
    line: &Line,
    fields: &[HeaderSpan],
) -> Result<Head, RequestError> {
    let version = if line.minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let mut flags = 0u8;
    let query = match line.query {
        Some((off, len)) => {
            flags |= F_HAS_QUERY;
            Span { off, len }
        }
        None => Span::default(),
    };
    let mut content_length: Option<u64> = None;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut hosts = 0u32;
    let mut host_ok = true;
    let mut te = TransferCodings::default();
    for f in fields {
        let name = f.name.get(buf);
        // Framing fields, matched by length first so ordinary fields cost one compare.
        match name.len() {
            4 if eq_lower(name, b"host") => {
                hosts += 1;
                host_ok &= grammar::is_host_at(buf, f.value);
            }
            6 if eq_lower(name, b"expect") => {
                // RFC 9110 §10.1.1: 100-continue is the only expectation; others → 417.
                if eq_lower(f.value.get(buf), b"100-continue") {
                    flags |= F_EXPECT_CONTINUE;
                } else {
                    return Err(RequestError::ExpectationFailed);
                }
            }
            10 if eq_lower(name, b"connection") => {
                let value = f.value.get(buf);
                // The usual single option first, then the general list.
                if eq_lower(value, b"keep-alive") {
                    conn_keep_alive = true;
                } else if eq_lower(value, b"close") {
                    conn_close = true;
                } else {
                    for token in value.split(|&b| b == b',') {
                        let t = token.trim_ascii();
                        if t.eq_ignore_ascii_case(b"close") {
                            conn_close = true;
                        } else if t.eq_ignore_ascii_case(b"keep-alive") {
                            conn_keep_alive = true;
                        }
                    }
                }
            }
            14 if eq_lower(name, b"content-length") => {
                let v = parse_content_length(f.value.get(buf))?;
                if content_length.is_some_and(|old| old != v) {
                    return Err(RequestError::BadContentLength);
                }
                content_length = Some(v);
            }
            17 if eq_lower(name, b"transfer-encoding") => te.add(f.value.get(buf))?,
            _ => {}
        }
    }
    if te.seen {
        // RFC 9112 §6.1–6.3: framing in doubt → 400 and close; a coding we do not implement → 501.
        if content_length.is_some() || version == Version::Http10 {
            return Err(RequestError::Malformed);
        }
        te.check()?;
        flags |= F_CHUNKED;
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1 (at most one in 1.0), and a valid one.
    if (version == Version::Http11 && hosts != 1) || hosts > 1 || !host_ok {
        return Err(RequestError::BadHost);
    }
    // Its size is judged by the connection: a route may take more than the default limit.
    let content_length = content_length.unwrap_or(0);
    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    if keep_alive {
        flags |= F_KEEP_ALIVE;
    }
    let method = Span::at(0, line.method_end as usize);
    Ok(Head {
        method,
        path: Span {
            off: line.path.0,
            len: line.path.1,
        },
        query,
        head_len: head_len as u32,
        content_length,
        nheaders: fields.len() as u8,
        method_kind: if line.get {
            Method::Get
        } else {
            Method::from_bytes(method.get(buf))
        },
        version,
        flags,
    })
}

/// `s` equals `lower` ignoring ASCII case, for a `lower` made of lower-case letters, digits
/// and `-`, and an `s` of token or field-value bytes: eight bytes per compare (then four,
/// two, one). `b | 0x20` maps the two cases of a letter onto the lower one; of the bytes a
/// token or a value may hold, only those two land on a letter, and only `-` and the digits
/// themselves land on `-` or a digit (0x0D and 0x10–0x19 are control bytes, never in a token
/// or a value).
#[inline(always)]
fn eq_lower<const N: usize>(s: &[u8], lower: &[u8; N]) -> bool {
    if s.len() != N {
        return false;
    }
    let mut k = 0;
    while k + 8 <= N {
        let a = u64::from_le_bytes(s[k..k + 8].try_into().expect("eight bytes"));
        let b = u64::from_le_bytes(lower[k..k + 8].try_into().expect("eight bytes"));
        if a | 0x2020_2020_2020_2020 != b {
            return false;
        }
        k += 8;
    }
    if k + 4 <= N {
        let a = u32::from_le_bytes(s[k..k + 4].try_into().expect("four bytes"));
        let b = u32::from_le_bytes(lower[k..k + 4].try_into().expect("four bytes"));
        if a | 0x2020_2020 != b {
            return false;
        }
        k += 4;
    }
    if k + 2 <= N {
        let a = u16::from_le_bytes(s[k..k + 2].try_into().expect("two bytes"));
        let b = u16::from_le_bytes(lower[k..k + 2].try_into().expect("two bytes"));
        if a | 0x2020 != b {
            return false;
        }
        k += 2;
    }
    while k < N {
        if s[k] | 0x20 != lower[k] {
            return false;
        }
        k += 1;
    }
    true
}

/// The spans the last `parse_head` wrote, for `head`.
#[inline]
pub(crate) fn spans<'s>(scratch: &'s HeaderScratch, head: &Head) -> &'s [HeaderSpan] {
    &scratch.spans[..head.nheaders as usize]
}

/// What the `Transfer-Encoding` fields of a request say, all lines taken as one list.
#[derive(Default)]
struct TransferCodings {
    seen: bool,
    chunked: u32,
    chunked_last: bool,
    other: bool,
}

impl TransferCodings {
    /// Adds one field value: a comma-separated list of codings. An element that is not a bare
    /// token (empty, quoted, with parameters) is a 400 at once: only `chunked` is implemented
    /// and it takes no parameters.
    fn add(&mut self, value: &[u8]) -> Result<(), RequestError> {
        self.seen = true;
        for coding in value.split(|&b| b == b',') {
            let c = coding.trim_ascii();
            if c.is_empty() || !c.iter().all(|&b| strela_router::is_tchar(b)) {
                return Err(RequestError::Malformed);
            }
            if c.eq_ignore_ascii_case(b"chunked") {
                self.chunked += 1;
                self.chunked_last = true;
            } else {
                self.other = true;
                self.chunked_last = false;
            }
        }
        Ok(())
    }

    /// `chunked` exactly once and last (else 400: the length is in doubt), and no coding
    /// strela does not implement (501).
    fn check(&self) -> Result<(), RequestError> {
        if self.chunked == 0 && self.other {
            return Err(RequestError::NotImplemented);
        }
        if !self.chunked_last || self.chunked != 1 {
            return Err(RequestError::Malformed);
        }
        if self.other {
            return Err(RequestError::NotImplemented);
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_and_the_general_scanner_agree_on_request_targets() {
        // Paths and queries of every length class around the sixteen-byte steps, escapes at
        // the edges, `?` inside a query, and the bytes either part refuses.
        let long = "a".repeat(40);
        let targets = [
            "/".to_string(),
            "/plaintext".into(),
            format!("/{long}"),
            format!("/{long}?{long}"),
            "/?".into(),
            "/a?".into(),
            "/a??b?".into(),
            "/a?b=1&c=/d?e".into(),
            "/%41%2f?%3D%zz".into(),
            "/%41%2fb?%3Dc".into(),
            format!("/{long}%2"),
            format!("/{long}?x%4"),
            "/a#b".into(),
            "/a?b#c".into(),
            "/a b".into(),
            "/a?b c".into(),
            "/a\x7f".into(),
            format!("/{long}/_-.~!$&'()*+,;=:@?{long}/?_-.~"),
            "/[x]".into(),
            "/a?[x]".into(),
            "*".into(),
            "http://h/a?b".into(),
        ];
        let limits = Limits::default();
        let meta = crate::service::request::RequestMeta::default();
        for t in targets {
            for tail in ["", "?"] {
                let req = format!("GET {t}{tail} HTTP/1.1\r\nHost: h\r\n\r\n");
                let b = req.as_bytes();
                let (mut s1, mut s2) = (HeaderScratch::default(), HeaderScratch::default());
                let fast = format!("{:?}", parse_head(b, &mut s1, &limits));
                let general = format!("{:?}", parse_head_general(b, &mut s2, &limits));
                assert_eq!(fast, general, "{req:?}");
                let origin_form = t.starts_with('/');
                if let (true, Ok(Parsed::Complete(h))) =
                    (origin_form, parse_head(b, &mut s1, &limits))
                {
                    let spans = spans(&s1, &h);
                    let r =
                        crate::service::request::Request::new(&b[..h.head_len()], &h, spans, &meta);
                    let q = if r.has_query() {
                        format!("?{}", r.query())
                    } else {
                        String::new()
                    };
                    assert_eq!(format!("{}{q}", r.path()), format!("{t}{tail}"), "{req:?}");
                }
            }
        }
    }

    #[test]
    fn the_fast_path_and_the_general_scanner_agree_on_request_methods() {
        // `GET ` is matched as four bytes; its neighbours must still take the token run (or
        // be refused) exactly as the general scanner does.
        let limits = Limits::default();
        for m in [
            "GET", "GETX", "GE", "get", "HEAD", "POST", "OPTIONS", "CONNECT", "X", "GET\t", "",
            "G ET",
        ] {
            for rest in [" /", "  /", " *", "/"] {
                let req = format!("{m}{rest} HTTP/1.1\r\nHost: h\r\n\r\n");
                let b = req.as_bytes();
                let (mut s1, mut s2) = (HeaderScratch::default(), HeaderScratch::default());
                let fast = parse_head(b, &mut s1, &limits);
                let general = parse_head_general(b, &mut s2, &limits);
                assert_eq!(format!("{fast:?}"), format!("{general:?}"), "{req:?}");
                if let Ok(Parsed::Complete(h)) = fast {
                    assert_eq!(h.method.get(b), m.as_bytes(), "{req:?}");
                    assert_eq!(h.method_kind, Method::from_bytes(m.as_bytes()), "{req:?}");
                }
            }
        }
    }

    #[test]
    fn eq_lower_is_ascii_case_insensitive_equality_on_tokens_and_values() {
        // Every token or field-value byte in every position, against targets of each length
        // class (a byte, four, eight, more).
        let targets: [&[u8]; 4] = [b"host", b"connection", b"content-length", b"100-continue"];
        for t in targets {
            for at in 0..t.len() {
                for b in 0..=255u8 {
                    if !(strela_router::is_tchar(b) || b == b' ' || b == b'\t' || b >= 0x21) {
                        continue;
                    }
                    let mut s = t.to_vec();
                    s[at] = b;
                    let want = s.eq_ignore_ascii_case(t);
                    let got = match t.len() {
                        4 => eq_lower(&s, b"host"),
                        10 => eq_lower(&s, b"connection"),
                        14 => eq_lower(&s, b"content-length"),
                        _ => eq_lower(&s, b"100-continue"),
                    };
                    assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&s));
                }
            }
        }
        assert!(!eq_lower(b"hos", b"host"));
        assert!(!eq_lower(b"hosts", b"host"));
        assert!(eq_lower(b"KEEP-ALIVE", b"keep-alive"));
    }
}
