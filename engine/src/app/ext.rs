//! Conveniences on [`Request`] that decode what the core leaves raw: typed route parameters,
//! JSON bodies, percent-decoded query parameters. Client mistakes are 4xx [`HttpError`]s.

use crate::app::error::HttpError;
use crate::service::request::Request;

impl<'a> Request<'a> {
    /// A route parameter parsed as `T`; a missing or unparsable one is a 400, not a 500.
    pub fn param_as<T: std::str::FromStr>(&self, name: &str) -> Result<T, HttpError> {
        let v = self
            .param(name)
            .ok_or_else(|| HttpError::bad_request(format!("missing parameter `{name}`")))?;
        v.parse()
            .map_err(|_| HttpError::bad_request(format!("bad parameter `{name}`")))
    }

    /// The body parsed as JSON; a body that is not JSON (or not this shape) is a 400, and a
    /// `Content-Type` other than `application/json` (when present) a 415.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        if let Some(ct) = self.header("content-type") {
            let essence = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
            if !essence.eq_ignore_ascii_case(b"application/json") {
                return Err(HttpError::unsupported_media_type());
            }
        }
        serde_json::from_slice(self.body())
            .map_err(|e| HttpError::bad_request(format!("bad JSON body: {e}")))
    }

    /// The first query parameter called `name`, percent-decoded (and `+` as space) only when it
    /// needs to be: borrowed when the raw value has no escapes. A key present without `=` gives
    /// `Some("")`. Invalid escapes or non-UTF-8 results give `None` for that pair.
    pub fn query_param(&self, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        crate::app::query::find(self.query(), name)
    }
}
