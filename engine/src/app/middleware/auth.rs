//! [`BearerAuth`] and [`BasicAuth`]: a 401 with `WWW-Authenticate` unless the request carries
//! matching credentials, compared without stopping at the first differing byte.

use std::sync::Arc;

use super::Middleware;
use crate::service::handler::Handler;
use crate::service::request::Request;
use crate::service::response::Response;

/// Equal-length comparison that does not stop at the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized(res: &mut Response<'_>, challenge: &str) {
    res.reset();
    res.status(401)
        .header("WWW-Authenticate", challenge)
        .content_type("text/plain")
        .body_static(b"Unauthorized\n");
}

/// Requires `Authorization: Bearer <token>` with one of the given tokens.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    tokens: Arc<Vec<Vec<u8>>>,
    challenge: String,
}

impl BearerAuth {
    /// Accepts any of `tokens`; `realm` goes into the challenge.
    pub fn new(realm: &str, tokens: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Self {
        BearerAuth {
            tokens: Arc::new(tokens.into_iter().map(Into::into).collect()),
            challenge: format!("Bearer realm=\"{realm}\""),
        }
    }
}

impl Middleware for BearerAuth {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        let ok = req
            .header("authorization")
            .and_then(|v| {
                v.strip_prefix(b"Bearer ")
                    .or_else(|| v.strip_prefix(b"bearer "))
            })
            .is_some_and(|t| self.tokens.iter().any(|k| ct_eq(k, t.trim_ascii())));
        if ok {
            next.call(req, res)
        } else {
            unauthorized(res, &self.challenge)
        }
    }
}

/// Requires HTTP Basic credentials (RFC 7617) matching `user:password`.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    expected: Arc<Vec<u8>>,
    challenge: String,
}

impl BasicAuth {
    /// Accepts exactly `user` / `password`; `realm` goes into the challenge.
    pub fn new(realm: &str, user: &str, password: &str) -> Self {
        BasicAuth {
            expected: Arc::new(base64(format!("{user}:{password}").as_bytes())),
            challenge: format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
        }
    }
}

impl Middleware for BasicAuth {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        let ok = req
            .header("authorization")
            .and_then(|v| {
                v.strip_prefix(b"Basic ")
                    .or_else(|| v.strip_prefix(b"basic "))
            })
            .is_some_and(|c| ct_eq(&self.expected, c.trim_ascii()));
        if ok {
            next.call(req, res)
        } else {
            unauthorized(res, &self.challenge)
        }
    }
}

/// Standard base64 with padding (for the expected Basic credential, computed once).
fn base64(input: &[u8]) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63]);
        out.push(T[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            b"QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), b"YQ==");
        assert_eq!(base64(b"ab"), b"YWI=");
        assert_eq!(base64(b""), b"");
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
