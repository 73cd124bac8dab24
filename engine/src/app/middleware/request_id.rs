//! [`RequestId`]: echoes a valid incoming `X-Request-Id` or sets one from the request's id.

use super::Middleware;
use crate::service::handler::Handler;
use crate::service::request::Request;
use crate::service::response::Response;

/// Echoes an incoming `X-Request-Id` (1–128 visible ASCII characters) or sets one from the
/// request's server-unique id (16 hex digits).
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestId;

impl Middleware for RequestId {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        next.call(req, res);
        match req.header("x-request-id") {
            Some(v)
                if !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_graphic()) =>
            {
                res.header("X-Request-Id", v);
            }
            _ => {
                let mut hex = [0u8; 16];
                let id = req.meta().id;
                for (i, h) in hex.iter_mut().enumerate() {
                    *h = b"0123456789abcdef"[((id >> (60 - 4 * i)) & 0xf) as usize];
                }
                res.header("X-Request-Id", hex);
            }
        }
    }
}
