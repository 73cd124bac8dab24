//! One error type for everything a client can get wrong, and the one place that maps each kind to
//! an HTTP status. The protocol core answers these itself; handlers never see them.

/// Why a request was refused before (or instead of) reaching a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestError {
    /// The request line or a header line is malformed (bad token, bad line ending, bare CR, ...).
    Malformed,
    /// The request target is longer than `Limits::max_uri_bytes`.
    UriTooLong,
    /// The head is larger than `Limits::max_head_bytes`, or has more than `Limits::max_headers` fields.
    HeadTooLarge,
    /// The HTTP version is well-formed but not 1.0 or 1.1.
    VersionNotSupported,
    /// `Content-Length` is not plain digits, overflows, or appears twice with different values.
    BadContentLength,
    /// The body is larger than `Limits::max_body_bytes`.
    BodyTooLarge,
    /// A `Transfer-Encoding` the server does not implement.
    NotImplemented,
    /// HTTP/1.1 request without exactly one `Host` header.
    BadHost,
}

impl RequestError {
    /// The status this error is answered with.
    pub const fn status(self) -> u16 {
        match self {
            RequestError::Malformed => 400,
            RequestError::BadContentLength => 400,
            RequestError::BadHost => 400,
            RequestError::UriTooLong => 414,
            RequestError::HeadTooLarge => 431,
            RequestError::BodyTooLarge => 413,
            RequestError::NotImplemented => 501,
            RequestError::VersionNotSupported => 505,
        }
    }

    /// A short, stable name (for logs and metrics labels).
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestError::Malformed => "malformed",
            RequestError::UriTooLong => "uri_too_long",
            RequestError::HeadTooLarge => "head_too_large",
            RequestError::VersionNotSupported => "version_not_supported",
            RequestError::BadContentLength => "bad_content_length",
            RequestError::BodyTooLarge => "body_too_large",
            RequestError::NotImplemented => "not_implemented",
            RequestError::BadHost => "bad_host",
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for RequestError {}
