//! The core endpoints the `strela` binary serves (TechEmpower plaintext and json, health), as
//! ordinary routes on the application API.
//!
//! | path         | methods   | answer                                                     |
//! |--------------|-----------|------------------------------------------------------------|
//! | `/plaintext` | GET, HEAD | 200 `text/plain` `Hello, World!`                           |
//! | `/json`      | GET, HEAD | 200 `application/json` `{"message":"Hello, World!"}`, serialised per request |
//! | `/healthz`   | GET, HEAD | 200 `text/plain` `ok`                                      |
//! | `/echo`      | POST, PUT | 200 with the request body streamed back, same `Content-Type` |
//! | other paths  | any       | 404; a known path with another method → 405 with `Allow`   |

use crate::proto::head::Method;
use crate::runtime::server::ServerBuilder;
use crate::service::body::ReadNow;
use crate::service::json;
use crate::service::request::Request;
use crate::service::response::Response;
use crate::service::stream::Produce;

/// TechEmpower's JSON message.
struct Message<'a> {
    message: &'a str,
}

/// `GET /plaintext`.
pub fn plaintext(_req: &Request<'_>, res: &mut Response<'_>) {
    res.content_type("text/plain").body_static(b"Hello, World!");
}

/// `GET /json`: the message serialised for every request (no pre-rendered constant): the
/// object written by hand, its string through the JSON escaper ([`json::write_str`]).
pub fn json(_req: &Request<'_>, res: &mut Response<'_>) {
    let message = Message {
        message: "Hello, World!",
    };
    let out = res.body_writer();
    out.extend_from_slice(b"{\"message\":");
    json::write_str(out, message.message);
    out.push(b'}');
    res.content_type("application/json");
}

/// `GET /healthz`.
pub fn healthz(_req: &Request<'_>, res: &mut Response<'_>) {
    res.content_type("text/plain").body_static(b"ok\n");
}

/// `POST /echo` (and `PUT`): the request body back, with its `Content-Type`. A body that came
/// whole is answered with its length; a streamed one ([`crate::stream_body`]) is sent back
/// chunked as it arrives, at the pace of the slower side: reading pauses while the client
/// does not read the echo, so any size costs the same memory (`benches/bodies` measures it).
pub fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    if let Some(ct) = req.header("content-type") {
        res.header("Content-Type", ct);
    }
    if !req.body_streamed() {
        res.body(req.body());
        return;
    }
    let mut body = req.body_reader();
    res.stream(
        move |out: &mut Vec<u8>, room: usize| match body.read_now(out, room) {
            ReadNow::Data(_) | ReadNow::Pending => Produce::More,
            ReadNow::End => Produce::Done,
            ReadNow::Failed(_) => Produce::Abort,
        },
    );
}

/// Adds the core endpoints to a server builder.
pub fn routes(b: ServerBuilder) -> ServerBuilder {
    b.get("/plaintext", plaintext)
        .get("/json", json)
        .get("/healthz", healthz)
}

/// The same endpoints as one plain handler, without the router (a `match` on the path): for
/// the sans-IO benches and tests, and as the baseline that measures what routing costs.
pub fn core(req: &Request<'_>, res: &mut Response<'_>) {
    let get = matches!(req.method_kind(), Method::Get | Method::Head);
    match req.path() {
        "/plaintext" if get => plaintext(req, res),
        "/json" if get => json(req, res),
        "/healthz" if get => healthz(req, res),
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
