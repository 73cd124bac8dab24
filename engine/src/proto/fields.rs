//! Field and status rules shared by everything that writes a response: which header names and
//! values may be sent, which headers are strela's own (framing), status lines and reason
//! phrases, status classes.

/// Longest status line [`render_status_line`] writes.
pub(crate) const STATUS_LINE_MAX: usize = 64;

/// Renders `HTTP/1.1 <code> <reason>\r\n` into `buf`; returns its length.
pub(crate) fn render_status_line(code: u16, buf: &mut [u8; STATUS_LINE_MAX]) -> usize {
    let mut n = 0;
    let mut put = |b: &[u8]| {
        buf[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    };
    put(b"HTTP/1.1 ");
    put(itoa::Buffer::new().format(code).as_bytes());
    put(b" ");
    put(reason(code).as_bytes());
    put(b"\r\n");
    n
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

/// Byte classes for header validation: bit 1 = allowed in a field value (RFC 9110 §5.5: VCHAR,
/// SP, HTAB, obs-text; never CR, LF, NUL or other controls), bit 2 = a token char (§5.6.2).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let value_ok = c == b'\t' || (c >= 0x20 && c != 0x7f);
        let token = strela_router::is_tchar(c);
        t[b] = (value_ok as u8) | ((token as u8) << 1);
        b += 1;
    }
    t
};

/// RFC 9110 §5.1 field-name: a token.
#[inline]
pub(crate) fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().fold(2u8, |acc, &b| acc & CLASS[b as usize]) == 2
}

/// RFC 9110 §5.5 field-value: no CR, LF, NUL or other controls but HTAB.
///
/// Eight bytes at a time (SWAR): a word with no byte below 0x20 and no 0x7F is valid as a whole;
/// only a word that trips the test (a tab, or a real control) is looked at byte by byte.
#[inline]
pub(crate) fn valid_value(v: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline]
    fn word_ok(x: u64) -> bool {
        let below_space = x.wrapping_sub(LO * 0x20) & !x & HI;
        let y = x ^ (LO * 0x7f);
        let del = y.wrapping_sub(LO) & !y & HI;
        below_space | del == 0
    }
    let bytewise = |c: &[u8]| c.iter().fold(1u8, |acc, &b| acc & CLASS[b as usize]) == 1;
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("eight bytes"));
        if !word_ok(w) && !bytewise(c) {
            return false;
        }
    }
    bytewise(chunks.remainder())
}

/// Headers whose framing meaning strela owns.
#[inline]
pub(crate) fn is_framing(n: &[u8]) -> bool {
    match n.len() {
        10 => n.eq_ignore_ascii_case(b"connection"),
        14 => n.eq_ignore_ascii_case(b"content-length"),
        17 => n.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    }
}

/// Status classes in counter order.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The counter slot of a status code (1xx → 0 … 5xx and beyond → 4).
#[inline]
pub fn status_class(status: u16) -> usize {
    // 200 (most answers) by one compare; any other by the division.
    if status == 200 {
        return 1;
    }
    ((status / 100) as usize).clamp(1, 5) - 1
}

/// Why a status or header was refused ([`Response::try_status`](crate::Response::try_status),
/// [`Response::try_header`](crate::Response::try_header), and the same on a deferred `Reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// A 1xx code as the final status (strela sends `100 Continue` itself; 101 needs an
    /// upgrade strela does not do), or a code outside 100..=999.
    NotAFinalStatus(u16),
    /// `Content-Length`, `Transfer-Encoding` or `Connection`: framing is strela's job (use
    /// [`Response::close`](crate::Response::close) to close the connection).
    FramingHeader,
    /// A name that is not a token, or a value with CR, LF, NUL or another control byte.
    InvalidHeader,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::NotAFinalStatus(c) => {
                write!(
                    f,
                    "{c} is not a final status (1xx and codes outside 100-999 are refused)"
                )
            }
            ResponseError::FramingHeader => {
                f.write_str("Content-Length, Transfer-Encoding and Connection are set by strela")
            }
            ResponseError::InvalidHeader => {
                f.write_str("header name is not a token or value has a control byte")
            }
        }
    }
}

impl std::error::Error for ResponseError {}

/// A code that may be a response's final status: 200..=999 (1xx are strela's own interim
/// responses; codes outside three digits are not HTTP).
pub(crate) fn check_final_status(code: u16) -> Result<(), ResponseError> {
    if (200..=999).contains(&code) {
        Ok(())
    } else {
        Err(ResponseError::NotAFinalStatus(code))
    }
}

/// Whether a handler may set a header line: not a framing header, a token name, a value
/// without control bytes.
pub(crate) fn check_header(name: &[u8], value: &[u8]) -> Result<(), ResponseError> {
    if is_framing(name) {
        return Err(ResponseError::FramingHeader);
    }
    if !valid_name(name) || !valid_value(value) {
        return Err(ResponseError::InvalidHeader);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(100), 0);
        assert_eq!(status_class(204), 1);
        assert_eq!(status_class(308), 2);
        assert_eq!(status_class(431), 3);
        assert_eq!(status_class(599), 4);
        assert_eq!(status_class(999), 4);
        // The 200 shortcut agrees with the division around it.
        for s in 100..=999u16 {
            assert_eq!(status_class(s), usize::from(s / 100).clamp(1, 5) - 1, "{s}");
        }
    }
}
