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
    /// An `Expect` other than `100-continue`.
    ExpectationFailed,
}

impl RequestError {
    /// Every kind, in [`RequestError::index`] order.
    pub const ALL: [RequestError; 9] = [
        RequestError::Malformed,
        RequestError::UriTooLong,
        RequestError::HeadTooLarge,
        RequestError::VersionNotSupported,
        RequestError::BadContentLength,
        RequestError::BodyTooLarge,
        RequestError::NotImplemented,
        RequestError::BadHost,
        RequestError::ExpectationFailed,
    ];

    /// A dense index (0..9) for per-kind counters.
    pub const fn index(self) -> usize {
        match self {
            RequestError::Malformed => 0,
            RequestError::UriTooLong => 1,
            RequestError::HeadTooLarge => 2,
            RequestError::VersionNotSupported => 3,
            RequestError::BadContentLength => 4,
            RequestError::BodyTooLarge => 5,
            RequestError::NotImplemented => 6,
            RequestError::BadHost => 7,
            RequestError::ExpectationFailed => 8,
        }
    }

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
            RequestError::ExpectationFailed => 417,
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
            RequestError::ExpectationFailed => "expectation_failed",
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for RequestError {}

#[cfg(test)]
mod index_tests {
    use super::*;

    #[test]
    fn index_matches_all() {
        for (i, e) in RequestError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
        }
    }
}
