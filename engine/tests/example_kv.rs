//! The REST example (`examples/kv.rs`) over real sockets.

mod common;
#[path = "../examples/kv.rs"]
mod kv;

use std::sync::Arc;

use common::*;

fn send(
    s: &mut std::net::TcpStream,
    method: &str,
    path: &str,
    auth: bool,
    body: Option<&str>,
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    if auth {
        req.push_str("Authorization: Bearer tok\r\n");
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    roundtrip(s, req.as_bytes())
}

#[test]
fn crud_with_auth_on_writes() {
    let srv = start_app(|b| kv::routes(b, Arc::new(kv::Store::default()), "tok"));
    let mut s = connect(srv.local_addr());
    assert_eq!(send(&mut s, "GET", "/kv/a", false, None).status, 404);
    let r = send(&mut s, "PUT", "/kv/a", false, Some(r#"{"value":1}"#));
    assert_eq!(r.status, 401, "writes need the token");
    assert_eq!(
        send(&mut s, "PUT", "/kv/a", true, Some(r#"{"value":{"n":1}}"#)).status,
        201
    );
    assert_eq!(
        send(&mut s, "PUT", "/kv/a", true, Some(r#"{"value":[1,2]}"#)).status,
        200
    );
    assert_eq!(
        send(&mut s, "PUT", "/kv/b", true, Some(r#"{"value":"x"}"#)).status,
        201
    );
    let r = send(&mut s, "GET", "/kv/a", false, None);
    assert_eq!(
        (r.status, r.body_str()),
        (200, r#"{"key":"a","value":[1,2]}"#)
    );
    assert_eq!(
        send(&mut s, "GET", "/kv", false, None).body_str(),
        r#"{"keys":["a","b"]}"#
    );
    assert_eq!(
        send(&mut s, "PUT", "/kv/c", true, Some("nope")).status,
        400,
        "bad JSON is the client's mistake"
    );
    assert_eq!(
        send(&mut s, "PUT", "/kv/c", true, Some(r#"{"other":1}"#)).status,
        400,
        "missing field"
    );
    assert_eq!(send(&mut s, "DELETE", "/kv/a", false, None).status, 401);
    assert_eq!(send(&mut s, "DELETE", "/kv/a", true, None).status, 204);
    assert_eq!(send(&mut s, "DELETE", "/kv/a", true, None).status, 404);
    assert_eq!(send(&mut s, "PATCH", "/kv/b", true, None).status, 405);
    assert_eq!(
        send(&mut s, "GET", "/kv/b", false, None).body_str(),
        r#"{"key":"b","value":"x"}"#
    );
}
