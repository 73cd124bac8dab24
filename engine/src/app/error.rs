//! The error a handler returns ([`HttpError`]: one status and a short message) and
//! [`fallible`], the adapter that turns it into a response in one place.

use crate::proto::error::RequestError;

/// An error a handler returns: one status and a short message for the client. Client mistakes
/// (a bad parameter, malformed JSON) are 4xx here, never a 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status to answer with.
    pub status: u16,
    /// The body (plain text, one line).
    pub message: std::borrow::Cow<'static, str>,
}

impl HttpError {
    /// An error with any status.
    pub fn new(status: u16, message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }
    /// 400: the request is wrong (bad parameter, bad query, malformed body).
    pub fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::new(400, message)
    }
    /// 404.
    pub fn not_found() -> Self {
        Self::new(404, "Not Found")
    }
    /// 415: the body is not in a type the handler reads.
    pub fn unsupported_media_type() -> Self {
        Self::new(415, "Unsupported Media Type")
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<RequestError> for HttpError {
    fn from(e: RequestError) -> Self {
        HttpError::new(e.status(), e.as_str())
    }
}

/// Adapts a fallible handler: `Err(e)` replaces whatever the handler wrote with `e.status` and
/// `e.message` (the one place a handler error becomes a response).
pub fn fallible<F>(f: F) -> impl crate::service::handler::Handler
where
    F: Fn(
            &crate::service::request::Request<'_>,
            &mut crate::service::response::Response<'_>,
        ) -> Result<(), HttpError>
        + Send
        + Sync
        + 'static,
{
    move |req: &crate::service::request::Request<'_>,
          res: &mut crate::service::response::Response<'_>| {
        if let Err(e) = f(req, res) {
            res.reset();
            res.status(e.status).content_type("text/plain");
            let body = res.body_writer();
            body.extend_from_slice(e.message.as_bytes());
            body.push(b'\n');
        }
    }
}
