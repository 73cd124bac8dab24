//! [`Timing`]: a `Server-Timing: app;dur=<ms>` header measured around the rest of the chain.

use std::time::Instant;

use super::Middleware;
use crate::service::handler::Handler;
use crate::service::request::Request;
use crate::service::response::Response;

/// Adds `Server-Timing: app;dur=<milliseconds>` measured around the rest of the chain.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timing;

impl Middleware for Timing {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        let t0 = Instant::now();
        next.call(req, res);
        let us = t0.elapsed().as_micros() as u64;
        // "app;dur=<ms>.<µs, 3 digits>" built on the stack: no allocation per request.
        let mut v = [0u8; 40];
        let mut n = 0;
        for part in [
            &b"app;dur="[..],
            itoa::Buffer::new().format(us / 1000).as_bytes(),
            b".",
        ] {
            v[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        let frac = us % 1000;
        v[n..n + 3].copy_from_slice(&[
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ]);
        res.header("Server-Timing", &v[..n + 3]);
    }
}
