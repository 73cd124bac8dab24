//! The request-head grammar as one resumable byte scanner: RFC 9112 §2–5 for the request line
//! and field lines, RFC 9110 §5.6.2 for tokens, RFC 3986 for request targets.
//!
//! Every prefix is judged as it arrives: the first byte that cannot stand where it stands ends
//! the scan with an error, whether the head came whole, split anywhere or one byte at a time.
//! The same function does both jobs — a full parse (`RECORD = true`, from the head's first
//! byte, recording spans) and a cheap resumption over new bytes of a partial head (`RECORD =
//! false`, from a saved [`Cursor`]) — so the two cannot disagree: a trickled head costs one
//! O(n) scan plus one full parse at the end.
//!
//! | where | accepted | otherwise |
//! |---|---|---|
//! | method | `token` | 400 |
//! | target | origin-form `/path[?query]` (RFC 3986 `pchar`, `%XX`); absolute-form `http(s)://authority[/path][?query]` (no userinfo); asterisk-form `*` with OPTIONS; authority-form `host:port` with CONNECT | 400; longer than `max_uri_bytes` → 414 |
//! | version | `HTTP/` DIGIT `.` DIGIT | 400; well-formed but not 1.0/1.1 → 505 |
//! | separators | one SP each, CRLF line ends | 400 |
//! | field name | `token`, then `:` at once (no whitespace before it) | 400 |
//! | field value | VCHAR, obs-text, SP, HTAB (OWS around it not part of it) | 400 (CTL, DEL, bare CR) |
//! | line start | not SP/HTAB (no obs-fold, no whitespace before the first field) | 400 |
//! | bare LF | refused; `Limits::lf_only_heads` accepts heads whose every line ends in LF (mixed endings are refused either way) | 400 |
//! | size | at most `max_head_bytes` bytes and `max_headers` fields | 431 |
//!
//! Limits are positions too: 414 when the target's (`max_uri_bytes` + 1)-th byte arrives, 431
//! when the head's (`max_head_bytes` + 1)-th byte or the (`max_headers` + 1)-th field does.

use crate::proto::error::RequestError;
use crate::proto::limits::Limits;
use crate::proto::simd::{self, Set};
use crate::proto::span::{HeaderSpan, Span};

// ---- character classes -----------------------------------------------------------------------

const TCHAR: u8 = 1;
/// Path characters: unreserved, sub-delims, `:`, `@`, `/` (RFC 3986 `pchar` / "/", without `%`).
const PCHAR: u8 = 2;
/// Query characters: path characters and `?`.
const QCHAR: u8 = 4;
/// Field-value bytes: VCHAR, obs-text, SP, HTAB.
const FVCHAR: u8 = 8;
/// Authority characters: unreserved, sub-delims, `:`, `[`, `]` (without `%`; without `@`: a
/// userinfo is refused, RFC 9110 §4.2.4, so its `@` ends the target at once).
const ACHAR: u8 = 16;
/// Scheme characters after the first: ALPHA, DIGIT, `+`, `-`, `.`.
const SCHAR: u8 = 32;
/// reg-name characters (unreserved, sub-delims), without `%`.
const RCHAR: u8 = 64;

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if strela_router::is_tchar(b) {
            c |= TCHAR;
        }
        if is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/') {
            c |= PCHAR | QCHAR;
        }
        if b == b'?' {
            c |= QCHAR;
        }
        if (b >= 0x21 && b != 0x7f) || b == b' ' || b == b'\t' {
            c |= FVCHAR;
        }
        if is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'[' | b']') {
            c |= ACHAR;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') {
            c |= SCHAR;
        }
        if is_unreserved(b) || is_sub_delim(b) {
            c |= RCHAR;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

#[inline(always)]
fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

/// The index of the first byte from `i` on whose class lacks `mask` (one class bit), or
/// `b.len()`. Sixteen bytes per step while sixteen remain ([`simd::outside`]: a byte outside
/// the class's fast set gets one table lookup, and the scan goes on past it when it belongs),
/// then four per step, then one.
#[inline(always)]
fn run(b: &[u8], i: usize, mask: u8) -> usize {
    run_to(b, i, mask, None)
}

/// [`run`] for a caller that knows which byte usually ends the run (`stop`, outside the
/// class): that byte ends it without a table lookup.
#[inline(always)]
fn run_to(b: &[u8], mut i: usize, mask: u8, stop: Option<u8>) -> usize {
    let set = match mask {
        TCHAR => Set::Token,
        PCHAR => Set::Path,
        QCHAR => Set::Query,
        // ALPHA, DIGIT, `-`, `.` belong to every other class too.
        _ => Set::Host,
    };
    while let Some(c) = b.get(i..i + 16) {
        let m = simd::outside(c.try_into().expect("sixteen bytes"), set);
        if m == 0 {
            i += 16;
            continue;
        }
        i += m.trailing_zeros() as usize;
        if Some(b[i]) == stop || class(b[i]) & mask == 0 {
            return i;
        }
        i += 1;
    }
    while let Some(w) = b.get(i..i + 4) {
        if class(w[0]) & class(w[1]) & class(w[2]) & class(w[3]) & mask == 0 {
            break;
        }
        i += 4;
    }
    while i < b.len() && class(b[i]) & mask != 0 {
        i += 1;
    }
    i
}

// ---- states ------------------------------------------------------------------------------------

const S_METHOD: u8 = 0;
const S_TARGET: u8 = 1;
const S_PATH: u8 = 2;
const S_PATH_PCT1: u8 = 3;
const S_PATH_PCT2: u8 = 4;
const S_QUERY: u8 = 5;
const S_QUERY_PCT1: u8 = 6;
const S_QUERY_PCT2: u8 = 7;
const S_ASTERISK: u8 = 8;
const S_SCHEME: u8 = 9;
const S_SLASH1: u8 = 10;
const S_SLASH2: u8 = 11;
const S_AUTHORITY: u8 = 12;
const S_AUTHORITY_PCT1: u8 = 13;
const S_AUTHORITY_PCT2: u8 = 14;
const S_CONNECT: u8 = 15;
/// `S_VERSION + k`: the k-th byte of `HTTP/x.y` is next (k = 0..=7).
const S_VERSION: u8 = 16;
const S_LINE_END: u8 = 24;
const S_LINE_LF: u8 = 25;
const S_FIELD_START: u8 = 26;
const S_NAME: u8 = 27;
const S_OWS: u8 = 28;
const S_VALUE: u8 = 29;
const S_VALUE_LF: u8 = 30;
const S_END_LF: u8 = 31;

// ---- cursor bits -------------------------------------------------------------------------------

const B_OPTIONS: u8 = 1;
const B_CONNECT: u8 = 2;
const B_ASTERISK: u8 = 4;
/// The request line ended in a bare LF: every line must (with `lf_only_heads`).
const B_LF: u8 = 8;
/// The method is `PRI`: `PRI *` may still become the HTTP/2 preface (answered 505).
const B_PRI: u8 = 16;

/// Where the scan of a partial head stopped: the offset from the head's first byte, the state,
/// the fields so far, and facts about the request line. Resume with it once more bytes came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub(crate) pos: u32,
    pub(crate) state: u8,
    pub(crate) fields: u8,
    pub(crate) bits: u8,
}

/// What a full parse records about the request line (offsets from the head's first byte).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Line {
    pub(crate) method_end: u16,
    pub(crate) path: (u16, u16),
    pub(crate) query: Option<(u16, u16)>,
    pub(crate) minor: u8,
    /// An OPTIONS request (for the automatic `OPTIONS *` answer the path is `*`).
    pub(crate) options: bool,
    /// Field lines recorded (set when the head is complete).
    pub(crate) fields: u8,
    /// The request is `GET` (set by the fast path, which sees it by one compare; otherwise
    /// the method is decoded from its token).
    pub(crate) get: bool,
}

/// The result of a scan that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every byte so far is a valid prefix; resume with the cursor.
    Partial(Cursor),
    /// A complete, well-formed head of this many bytes (blank line included).
    Complete(usize),
}

/// One field line's spans (offsets from the head's first byte), written by a full parse.
pub(crate) type FieldOut<'a> = &'a mut [HeaderSpan];

/// Validates (and with `RECORD`, records) the head at the start of `buf` from `cur`.
///
/// With `RECORD` the scan must start at the head's first byte (`Cursor::default()`); request
/// line facts go to `line` and field spans to `fields`. Without it `line` and `fields` are not
/// touched.
#[inline]
pub(crate) fn scan<const RECORD: bool>(
    buf: &[u8],
    cur: Cursor,
    lim: &Limits,
    line: &mut Line,
    fields: FieldOut<'_>,
) -> Result<Scan, RequestError> {
    let bad = RequestError::Malformed;
    // Bytes the head may occupy; a byte beyond them (if there is one) makes the head too large.
    let end = buf.len().min(lim.max_head_bytes);
    let over = buf.len() > lim.max_head_bytes;
    let max_fields = lim.max_headers.min(crate::proto::limits::MAX_HEADERS_CAP) as u8;
    let mut i = cur.pos as usize;
    let mut st = cur.state;
    let mut nf = cur.fields;
    let mut bits = cur.bits;
    // Where the target starts (the byte after the first SP), and where the scheme, authority,
    // name and value of the current part start: tracked by a full parse, found again from the
    // bytes when a partial scan resumes.
    let mut target_start = if (S_TARGET..S_VERSION).contains(&st) {
        memchr::memchr(b' ', &buf[..i]).map_or(0, |p| p + 1)
    } else {
        0
    };
    let mut part_start = 0usize;
    let mut name_end = 0usize;
    macro_rules! need_more {
        () => {{
            if over {
                return Err(RequestError::HeadTooLarge);
            }
            return Ok(Scan::Partial(Cursor {
                pos: i as u32,
                state: st,
                fields: nf,
                bits,
            }));
        }};
    }
    loop {
        if i >= end {
            need_more!();
        }
        match st {
            S_METHOD => {
                while i < end && class(buf[i]) & TCHAR != 0 {
                    i += 1;
                }
                if i == end {
                    need_more!();
                }
                if buf[i] != b' ' || i == 0 {
                    return Err(bad);
                }
                match &buf[..i] {
                    b"OPTIONS" => bits |= B_OPTIONS,
                    b"CONNECT" => bits |= B_CONNECT,
                    b"PRI" => bits |= B_PRI,
                    _ => {}
                }
                if RECORD {
                    line.method_end = i as u16;
                    line.options = bits & B_OPTIONS != 0;
                }
                i += 1;
                target_start = i;
                st = S_TARGET;
            }
            S_TARGET => {
                let b = buf[i];
                st = if bits & B_CONNECT != 0 {
                    S_CONNECT
                } else if b == b'/' {
                    S_PATH
                } else if b == b'*' {
                    bits |= B_ASTERISK;
                    i += 1;
                    S_ASTERISK
                } else if b.is_ascii_alphabetic() {
                    S_SCHEME
                } else {
                    return Err(bad);
                };
                if RECORD && st == S_PATH {
                    part_start = i;
                }
            }
            S_PATH | S_QUERY => {
                let mask = if st == S_PATH { PCHAR } else { QCHAR };
                let tend = end.min(target_start + lim.max_uri_bytes);
                while i < tend && class(buf[i]) & mask != 0 {
                    i += 1;
                }
                if i == tend && i < end && buf[i] != b' ' {
                    return Err(RequestError::UriTooLong);
                }
                if i == end {
                    need_more!();
                }
                match buf[i] {
                    b'%' => {
                        st = if st == S_PATH {
                            S_PATH_PCT1
                        } else {
                            S_QUERY_PCT1
                        };
                        i += 1;
                    }
                    b'?' => {
                        // Only reached from the path: `?` is a query character.
                        if RECORD {
                            line.path = (part_start as u16, (i - part_start) as u16);
                            part_start = i + 1;
                        }
                        st = S_QUERY;
                        i += 1;
                    }
                    b' ' => {
                        if RECORD {
                            let span = (part_start as u16, (i - part_start) as u16);
                            if st == S_PATH {
                                line.path = span;
                            } else {
                                line.query = Some(span);
                            }
                        }
                        st = S_VERSION;
                        i += 1;
                    }
                    _ => return Err(bad),
                }
            }
            S_PATH_PCT1 | S_PATH_PCT2 | S_QUERY_PCT1 | S_QUERY_PCT2 | S_AUTHORITY_PCT1
            | S_AUTHORITY_PCT2 => {
                if i - target_start >= lim.max_uri_bytes {
                    return Err(RequestError::UriTooLong);
                }
                if !buf[i].is_ascii_hexdigit() {
                    return Err(bad);
                }
                i += 1;
                st = match st {
                    S_PATH_PCT1 => S_PATH_PCT2,
                    S_QUERY_PCT1 => S_QUERY_PCT2,
                    S_AUTHORITY_PCT1 => S_AUTHORITY_PCT2,
                    S_PATH_PCT2 => S_PATH,
                    S_QUERY_PCT2 => S_QUERY,
                    _ => S_AUTHORITY,
                };
            }
            S_ASTERISK => {
                // `*` is for OPTIONS only (RFC 9112 §3.2.4); `PRI *` waits for its version,
                // which tells an HTTP/2 preface (505) from a bad HTTP/1 request (400).
                if buf[i] != b' ' || bits & (B_OPTIONS | B_PRI) == 0 {
                    return Err(bad);
                }
                if RECORD {
                    line.path = ((i - 1) as u16, 1);
                }
                st = S_VERSION;
                i += 1;
            }
            S_SCHEME => {
                let tend = end.min(target_start + lim.max_uri_bytes);
                while i < tend && class(buf[i]) & SCHAR != 0 {
                    i += 1;
                }
                if i == tend && i < end {
                    return Err(RequestError::UriTooLong);
                }
                if i == end {
                    need_more!();
                }
                let scheme = &buf[target_start..i];
                if buf[i] != b':'
                    || !(scheme.eq_ignore_ascii_case(b"http")
                        || scheme.eq_ignore_ascii_case(b"https"))
                {
                    return Err(bad);
                }
                i += 1;
                st = S_SLASH1;
            }
            S_SLASH1 | S_SLASH2 => {
                if buf[i] != b'/' {
                    return Err(bad);
                }
                i += 1;
                st = if st == S_SLASH1 {
                    S_SLASH2
                } else {
                    S_AUTHORITY
                };
            }
            S_AUTHORITY | S_CONNECT => {
                let tend = end.min(target_start + lim.max_uri_bytes);
                while i < tend && class(buf[i]) & ACHAR != 0 {
                    i += 1;
                }
                if i == tend && i < end && buf[i] != b' ' {
                    return Err(RequestError::UriTooLong);
                }
                if i == end {
                    need_more!();
                }
                let b = buf[i];
                if b == b'%' {
                    if st == S_CONNECT {
                        return Err(bad);
                    }
                    st = S_AUTHORITY_PCT1;
                    i += 1;
                    continue;
                }
                let auth_start = if st == S_CONNECT {
                    target_start
                } else {
                    // After `scheme://`.
                    target_start
                        + memchr::memmem::find(&buf[target_start..i], b"//").map_or(0, |p| p + 2)
                };
                let authority = &buf[auth_start..i];
                let valid = if st == S_CONNECT {
                    b == b' ' && is_authority_form(authority)
                } else {
                    // An http(s) URI with an empty host is invalid (RFC 9110 §4.2.1).
                    matches!(b, b'/' | b'?' | b' ')
                        && !matches!(authority.first(), None | Some(b':'))
                        && is_host(authority)
                };
                if !valid {
                    return Err(bad);
                }
                match b {
                    b' ' => {
                        if RECORD {
                            // CONNECT routes by its authority; an absolute-form without a
                            // path by `/`: the second slash of its `//`, so the span stays
                            // inside the head.
                            line.path = if st == S_CONNECT {
                                (auth_start as u16, (i - auth_start) as u16)
                            } else {
                                ((auth_start - 1) as u16, 1)
                            };
                        }
                        st = S_VERSION;
                        i += 1;
                    }
                    b'?' => {
                        if RECORD {
                            line.path = ((auth_start - 1) as u16, 1); // `/`, as above
                            part_start = i + 1;
                        }
                        st = S_QUERY;
                        i += 1;
                    }
                    _ => {
                        if RECORD {
                            part_start = i;
                        }
                        st = S_PATH;
                    }
                }
            }
            S_VERSION..=23 => {
                let k = (st - S_VERSION) as usize;
                let b = buf[i];
                let ok = match k {
                    0..=4 => b == b"HTTP/"[k],
                    5 | 7 => b.is_ascii_digit(),
                    _ => b == b'.',
                };
                if !ok {
                    return Err(bad);
                }
                if k == 7 {
                    // The request line's own rules, now that it is all there.
                    let major = buf[i - 2];
                    if major != b'1' || b > b'1' {
                        return Err(RequestError::VersionNotSupported);
                    }
                    if bits & B_ASTERISK != 0 && bits & B_OPTIONS == 0 {
                        return Err(bad); // asterisk-form is for OPTIONS only
                    }
                    if RECORD {
                        line.minor = b - b'0';
                    }
                    st = S_LINE_END;
                } else {
                    st += 1;
                }
                i += 1;
            }
            S_LINE_END => {
                match buf[i] {
                    b'\r' => st = S_LINE_LF,
                    b'\n' if lim.lf_only_heads => {
                        bits |= B_LF;
                        st = S_FIELD_START;
                    }
                    _ => return Err(bad),
                }
                i += 1;
            }
            S_LINE_LF | S_VALUE_LF => {
                if buf[i] != b'\n' {
                    return Err(bad); // a bare CR
                }
                i += 1;
                st = S_FIELD_START;
            }
            S_END_LF => {
                if buf[i] != b'\n' {
                    return Err(bad);
                }
                if RECORD {
                    line.fields = nf;
                }
                return Ok(Scan::Complete(i + 1));
            }
            S_FIELD_START => {
                let b = buf[i];
                if class(b) & TCHAR != 0 {
                    if nf >= max_fields {
                        return Err(RequestError::HeadTooLarge);
                    }
                    if RECORD {
                        part_start = i;
                    }
                    st = S_NAME;
                    i += 1;
                } else if b == b'\r' && bits & B_LF == 0 {
                    st = S_END_LF;
                    i += 1;
                } else if b == b'\n' && bits & B_LF != 0 {
                    if RECORD {
                        line.fields = nf;
                    }
                    return Ok(Scan::Complete(i + 1));
                } else {
                    return Err(bad); // obs-fold, leading whitespace, mixed line ends, garbage
                }
            }
            S_NAME => {
                while i < end && class(buf[i]) & TCHAR != 0 {
                    i += 1;
                }
                if i == end {
                    need_more!();
                }
                if buf[i] != b':' {
                    return Err(bad); // includes whitespace before the colon (RFC 9112 §5.1)
                }
                if RECORD {
                    name_end = i;
                }
                i += 1;
                st = S_OWS;
            }
            S_OWS => {
                while i < end && matches!(buf[i], b' ' | b'\t') {
                    i += 1;
                }
                if i == end {
                    need_more!();
                }
                if RECORD {
                    // The name's start stays in `part_start`; the value starts here.
                    fields[nf as usize].name = Span::at(part_start, name_end);
                    fields[nf as usize].value = Span::at(i, i);
                }
                st = S_VALUE;
            }
            S_VALUE => {
                i = skip_field_value(buf, i, end);
                if i == end {
                    need_more!();
                }
                let lf = match buf[i] {
                    b'\r' if bits & B_LF == 0 => false,
                    b'\n' if bits & B_LF != 0 => true,
                    _ => return Err(bad), // CTL, DEL, a bare CR or LF, mixed line ends
                };
                if RECORD {
                    let f = &mut fields[nf as usize];
                    let start = f.value.start();
                    let mut e = i;
                    while e > start && matches!(buf[e - 1], b' ' | b'\t') {
                        e -= 1;
                    }
                    f.value = Span::at(start, e);
                }
                nf += 1;
                i += 1;
                st = if lf { S_FIELD_START } else { S_VALUE_LF };
            }
            _ => unreachable!("scan state {st}"),
        }
    }
}

/// The common case in one pass: a complete head with an origin-form target, `HTTP/1.1` or
/// `HTTP/1.0`, CRLF line ends and fields within the limits — recorded straight-line, without
/// the state machine. Returns `None` as soon as anything differs from that shape (any other
/// byte, the end of the buffer, a limit); the caller then runs [`scan`], which decides. What
/// this accepts, `scan` accepts with the same spans: it is the same grammar, restricted (the
/// `request` fuzz target checks the two agree).
#[inline]
pub(crate) fn fast(
    buf: &[u8],
    lim: &Limits,
    line: &mut Line,
    fields: FieldOut<'_>,
) -> Option<usize> {
    let end = buf.len().min(lim.max_head_bytes);
    let b = &buf[..end];
    // `GET ` (nearly every request) as one 4-byte compare; other methods by their token run.
    let mut i;
    if b.get(..4) == Some(b"GET ") {
        i = 3;
        line.options = false;
        line.get = true;
    } else {
        i = run_to(b, 0, TCHAR, Some(b' '));
        if i == 0 || *b.get(i)? != b' ' || &b[..i] == b"CONNECT" {
            return None;
        }
        line.options = &b[..i] == b"OPTIONS";
    }
    line.method_end = i as u16;
    i += 1;
    let target_start = i;
    if *b.get(i)? != b'/' {
        return None;
    }
    // The path, then the query if a `?` follows; each part with its class as a constant, so
    // the sixteen-byte masks are built once at compile time, not per request.
    let part = i;
    i = target_part::<PCHAR>(b, i)?;
    line.path = (part as u16, (i - part) as u16);
    line.query = None;
    if b[i] == b'?' {
        i += 1;
        let part = i;
        i = target_part::<QCHAR>(b, i)?; // stops only at the space (`?` is a query byte)
        line.query = Some((part as u16, (i - part) as u16));
    }
    if i - target_start > lim.max_uri_bytes {
        return None;
    }
    i += 1;
    // `HTTP/1.x\r\n` as one 8-byte and one 2-byte compare.
    let v: &[u8; 10] = b.get(i..i + 10)?.try_into().ok()?;
    let word = u64::from_le_bytes(v[..8].try_into().expect("eight bytes"));
    const HTTP_1_: u64 = u64::from_le_bytes(*b"HTTP/1.\0");
    if word & 0x00ff_ffff_ffff_ffff != HTTP_1_ || v[8] != b'\r' || v[9] != b'\n' {
        return None;
    }
    line.minor = match (word >> 56) as u8 {
        b'1' => 1,
        b'0' => 0,
        _ => return None,
    };
    i += 10;
    let max_fields = lim.max_headers.min(crate::proto::limits::MAX_HEADERS_CAP);
    let mut nf = 0;
    loop {
        if *b.get(i)? == b'\r' {
            if *b.get(i + 1)? != b'\n' {
                return None;
            }
            line.fields = nf as u8;
            return Some(i + 2);
        }
        if nf >= max_fields {
            return None;
        }
        let name = i;
        i = run_to(b, i, TCHAR, Some(b':'));
        if i == name || *b.get(i)? != b':' {
            return None;
        }
        let name_end = i;
        i += 1;
        // The usual one space after the colon; any further OWS is the rare case.
        if b.get(i) == Some(&b' ') {
            i += 1;
        }
        if matches!(b.get(i), Some(b' ' | b'\t')) {
            while i < b.len() && matches!(b[i], b' ' | b'\t') {
                i += 1;
            }
        }
        let value = i;
        i = skip_field_value(b, i, b.len());
        if b.get(i..i + 2)? != b"\r\n" {
            return None;
        }
        // Trailing OWS is not part of the value (rare: one compare when there is none).
        let mut e = i;
        if matches!(b[e - 1], b' ' | b'\t') {
            while e > value && matches!(b[e - 1], b' ' | b'\t') {
                e -= 1;
            }
        }
        let f = &mut fields[nf];
        f.name = Span::at(name, name_end);
        f.value = Span::at(value, e);
        nf += 1;
        i += 2;
    }
}

/// One part of a request target in [`fast`] from `i`: bytes of class `MASK` and `%XX`
/// escapes, up to the first other byte, which must be a space or (in a path) a `?`. Returns its
/// index; `None` for anything else (or the end of the buffer).
#[inline(always)]
fn target_part<const MASK: u8>(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i = run_to(b, i, MASK, Some(b' '));
        match *b.get(i)? {
            b'%' if b.get(i + 1)?.is_ascii_hexdigit() && b.get(i + 2)?.is_ascii_hexdigit() => {
                i += 3;
            }
            b' ' => return Some(i),
            b'?' if MASK == PCHAR => return Some(i),
            _ => return None,
        }
    }
}

/// Skips field-value bytes from `i`: sixteen at a time ([`simd::value_stops`]; an HTAB is
/// stepped over), then eight, then one; returns the index of the first byte that is not one
/// (or `end`).
#[inline(always)]
fn skip_field_value(buf: &[u8], mut i: usize, end: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let buf = &buf[..end];
    while let Some(c) = buf.get(i..i + 16) {
        let m = simd::value_stops(c.try_into().expect("sixteen bytes"));
        if m == 0 {
            i += 16;
            continue;
        }
        i += m.trailing_zeros() as usize;
        if buf[i] != b'\t' {
            return i;
        }
        i += 1;
    }
    while i + 8 <= end {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[i..i + 8]);
        let v = u64::from_le_bytes(w);
        // A byte below 0x20 (CTLs, the CR that ends the line) or equal to 0x7F stops the fast
        // path; HTAB is one of them and is then handled byte by byte.
        let below_space = v.wrapping_sub(LO * 0x20) & !v & HI;
        let del = {
            let x = v ^ (LO * 0x7f);
            x.wrapping_sub(LO) & !x & HI
        };
        let stop = below_space | del;
        if stop != 0 {
            // Bytes before the lowest flagged one are exact (a borrow only runs upwards from
            // a flagged byte); from it on, byte by byte (it may be an HTAB, which is allowed).
            i += (stop.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    while i < end && class(buf[i]) & FVCHAR != 0 {
        i += 1;
    }
    i
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a reg-name (unreserved,
/// `%XX`, sub-delims; may be empty), an IPv4 address (a reg-name by shape) or an IP-literal
/// (`[IPv6]` or `[vX.…]`), then optionally `:` and digits (at most 5, at most 65535).
#[inline]
pub fn is_host(v: &[u8]) -> bool {
    let i = if v.first() == Some(&b'[') {
        let Some(close) = memchr::memchr(b']', v) else {
            return false;
        };
        if !is_ip_literal(&v[1..close]) {
            return false;
        }
        close + 1
    } else {
        // reg-name, one table lookup per byte; `%XX` on the side.
        let mut i = run(v, 0, RCHAR);
        while i + 2 < v.len()
            && v[i] == b'%'
            && v[i + 1].is_ascii_hexdigit()
            && v[i + 2].is_ascii_hexdigit()
        {
            i = run(v, i + 3, RCHAR);
        }
        i
    };
    match &v[i..] {
        [] => true,
        [b':', port @ ..] => is_port(port),
        _ => false,
    }
}

/// [`is_host`] of the value at `span` in `buf`, the head it was recorded in: a plain reg-name
/// with or without a port (no `%XX`, no IP literal) is judged sixteen bytes at a time straight
/// from the head — the bytes after a value (OWS, CR) end a reg-name — and anything else by
/// [`is_host`].
#[inline(always)]
pub(crate) fn is_host_at(buf: &[u8], span: Span) -> bool {
    let (start, end) = (span.start(), span.start() + span.len as usize);
    if start < end && buf[start] != b'[' {
        let i = run_to(buf, start, RCHAR, Some(b'\r'));
        if i == end {
            return true;
        }
        if i < end && buf[i] == b':' {
            return is_port(&buf[i + 1..end]);
        }
    }
    is_host(&buf[start..end])
}

/// `port = *DIGIT`, at most 65535: digit strings of equal length compare as numbers. Out of
/// line on purpose: inlined into the head parser it cost a plain `Host` 42 instructions per
/// request (register pressure in the one big request function; ../shared/tools/instr,
/// pipelined /plaintext, in 393b48a's message), far more than the call.
#[inline(never)]
fn is_port(port: &[u8]) -> bool {
    port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && (port.len() < 5 || port <= &b"65535"[..])
}

/// `authority-form = uri-host ":" port` (CONNECT): a host with a non-empty port.
fn is_authority_form(v: &[u8]) -> bool {
    let colon = if v.first() == Some(&b'[') {
        memchr::memchr(b']', v).map(|c| c + 1)
    } else {
        memchr::memrchr(b':', v)
    };
    matches!(colon, Some(c) if c < v.len() && v[c] == b':' && c + 1 < v.len()) && is_host(v)
}

fn is_ip_literal(v: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = v {
        // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
        let Some(dot) = memchr::memchr(b'.', rest) else {
            return false;
        };
        let (ver, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !ver.is_empty()
            && ver.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    std::str::from_utf8(v).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            &b""[..],
            b"a",
            b"example.com",
            b"example.com:8080",
            b"127.0.0.1",
            b"127.0.0.1:80",
            b"[::1]",
            b"[::1]:443",
            b"[v1.fe80::a+en1]",
            b"a%20b",
            b"host:",
            b"xn--bcher-kva.example",
        ] {
            assert!(is_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"a b"[..],
            b"a/b",
            b"a@b",
            b"host:port",
            b"host:123456",
            b"host:65536",
            b"[::1",
            b"[::g]",
            b"[::1]x",
            b"::1",
            b"a:1:2",
            b"%zz",
            b"%4",
            b"h\"",
            b"h\xff",
        ] {
            assert!(!is_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        // From inside a head, followed by what may follow a value, the same verdicts: every
        // case above, and long names (past a sixteen-byte step) with and without ports.
        let long: &[u8] = b"a-very-long-host-name.example.com";
        let mut values: Vec<Vec<u8>> = [
            &b""[..],
            b"localhost",
            b"a%20b",
            b"[::1]:443",
            b"host:80",
            b"a b",
            b"a:1:2",
            b"h:8a",
            b"127.0.0.1:8080",
            b"example.com:8080",
            b"host:",
            b"host:port",
            b"host:65536",
            b"[::1]x",
            b"::1",
            b":80",
            b"%zz",
            b"h\"",
            b"h\xff:80",
        ]
        .iter()
        .map(|v| v.to_vec())
        .collect();
        for port in [
            "", ":", ":8080", ":65535", ":65536", ":123456", ":1:2", ":x", "%41:80",
        ] {
            values.push([long, port.as_bytes()].concat());
        }
        for v in values.iter().map(Vec::as_slice) {
            for after in [&b"\r\n"[..], b" \r\n", b"\t\r\nAccept: */*\r\n\r\n"] {
                let buf = [&b"Host: "[..], v, after].concat();
                let span = Span::at(6, 6 + v.len());
                assert_eq!(
                    is_host_at(&buf, span),
                    is_host(v),
                    "{:?}",
                    String::from_utf8_lossy(&buf)
                );
            }
        }
    }

    #[test]
    fn runs_agree_with_the_class_table() {
        // Sixteen-byte steps with a byte of every value in every position of a 40-byte run.
        for mask in [TCHAR, PCHAR, QCHAR, RCHAR, ACHAR, SCHAR] {
            for b in 0..=255u8 {
                for at in 0..40 {
                    let mut v = *b"abcdefghijklmnopqrstuvwxyz0123456789ABCD";
                    v[at] = b;
                    let want = if class(b) & mask != 0 { v.len() } else { at };
                    assert_eq!(run(&v, 0, mask), want, "{mask} {b:#x} {at}");
                }
            }
        }
    }

    #[test]
    fn field_value_fast_path_stops_at_controls() {
        let v = b"abcdefghijklmnop\rq";
        assert_eq!(skip_field_value(v, 0, v.len()), 16);
        let v = b"abcdefg\x7fhij";
        assert_eq!(skip_field_value(v, 0, v.len()), 7);
        let v = b"ab\tcdefghijklm\x01";
        assert_eq!(skip_field_value(v, 0, v.len()), 14);
        let v = b"caf\xc3\xa9 ok\r";
        assert_eq!(skip_field_value(v, 0, v.len()), 8);
    }
}
