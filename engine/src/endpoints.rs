//! The core endpoints the `strela` binary serves (TechEmpower plaintext and json, health).
//!
//! | path         | methods   | answer                                                     |
//! |--------------|-----------|------------------------------------------------------------|
//! | `/plaintext` | GET, HEAD | 200 `text/plain` `Hello, World!`                           |
//! | `/json`      | GET, HEAD | 200 `application/json` `{"message":"Hello, World!"}`, serialised per request |
//! | `/healthz`   | GET, HEAD | 200 `text/plain` `ok`                                      |
//! | other paths  | any       | 404; a known path with another method → 405 with `Allow`   |

use serde::Serialize;

use crate::proto::encode::Response;
use crate::proto::head::{Method, Request};

#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
}

/// Answers the core endpoints (see the module docs).
pub fn core(req: &Request<'_>, res: &mut Response<'_>) {
    let get = matches!(req.method_kind(), Method::Get | Method::Head);
    match req.path() {
        "/plaintext" if get => {
            res.content_type("text/plain").body_static(b"Hello, World!");
        }
        "/json" if get => {
            res.json(&Message {
                message: "Hello, World!",
            });
        }
        "/healthz" if get => {
            res.content_type("text/plain").body_static(b"ok\n");
        }
        "/plaintext" | "/json" | "/healthz" => {
            res.status(405)
                .header("Allow", "GET, HEAD")
                .content_type("text/plain")
                .body_static(b"Method Not Allowed\n");
        }
        _ => {
            res.status(404)
                .content_type("text/plain")
                .body_static(b"Not Found\n");
        }
    }
}
