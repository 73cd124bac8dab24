//! The application API over real sockets: router behaviour (params, 404/405, OPTIONS, HEAD,
//! redirects, conflicts), request helpers, handler errors, and every middleware.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use strela::middleware::{AccessLog, BasicAuth, BearerAuth, LogFormat, Recover, RequestId, Timing};
use strela::{fallible, HttpError, Request, Response};

fn show(req: &Request<'_>, res: &mut Response<'_>) {
    let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
    let body = format!(
        "route={} params={} q={} peer={}",
        req.route().unwrap_or("-"),
        params.join(","),
        req.query_param("q").as_deref().unwrap_or("-"),
        req.peer_addr()
            .map(|p| p.ip().to_string())
            .unwrap_or_default()
    );
    res.content_type("text/plain").body_string(body);
}

fn get(s: &mut std::net::TcpStream, target: &str) -> Resp {
    roundtrip(
        s,
        format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    )
}

#[test]
fn params_patterns_query_and_peer() {
    let srv = start_app(|b| {
        b.get("/users/{id}", show)
            .get("/users/new", show)
            .get("/files/{*path}", show)
    });
    let mut s = connect(srv.local_addr());
    assert_eq!(
        get(&mut s, "/users/42?q=a%20b+c").body_str(),
        "route=/users/{id} params=id=42 q=a b c peer=127.0.0.1"
    );
    assert_eq!(
        get(&mut s, "/users/new").body_str(),
        "route=/users/new params= q=- peer=127.0.0.1"
    );
    assert_eq!(
        get(&mut s, "/files/a/b/c.txt").body_str(),
        "route=/files/{*path} params=path=a/b/c.txt q=- peer=127.0.0.1"
    );
    assert_eq!(get(&mut s, "/nothing").status, 404);
}

#[test]
fn method_handling_405_options_head() {
    let srv = start_app(|b| b.get("/r", show).post("/r", show));
    let mut s = connect(srv.local_addr());
    let r = roundtrip(&mut s, b"DELETE /r HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, POST, HEAD, OPTIONS"))
    );
    let r = roundtrip(&mut s, b"OPTIONS /r HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, POST, HEAD, OPTIONS"))
    );
    assert_eq!(
        r.header("content-length"),
        None,
        "204 has no Content-Length"
    );
    s.write_all(b"HEAD /r HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let (head, used) = loop {
        let k = std::io::Read::read(&mut s, &mut tmp).unwrap();
        buf.extend_from_slice(&tmp[..k]);
        if let Some(x) = parse_one(&buf, true) {
            break x;
        }
    };
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    assert_eq!(used, buf.len(), "HEAD response carries no body");
    assert_eq!(
        get(&mut s, "/r").status,
        200,
        "connection still in sync after HEAD"
    );
}

#[test]
fn trailing_slash_redirects_keep_the_query() {
    let srv = start_app(|b| b.get("/a", show).post("/b/", show));
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/a/?x=1");
    assert_eq!((r.status, r.header("location")), (301, Some("/a?x=1")));
    let r = roundtrip(
        &mut s,
        b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!((r.status, r.header("location")), (308, Some("/b/")));
}

#[test]
fn fixed_path_redirect_when_enabled() {
    let srv = start_app(|b| {
        b.get("/Docs/{page}", show)
            .router_options(strela::router::Options {
                redirect_fixed_path: true,
                ..Default::default()
            })
    });
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/x/../docs/Intro");
    assert_eq!((r.status, r.header("location")), (301, Some("/Docs/Intro")));
}

#[test]
fn conflicting_routes_fail_start_naming_both() {
    let err = strela::Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .get("/u/{id}", show)
        .get("/u/{name}", show)
        .get("bad", show)
        .start()
        .expect_err("start refuses conflicting routes");
    let msg = err.to_string();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        msg.contains("/u/{name}") && msg.contains("/u/{id}") && msg.contains("bad"),
        "{msg}"
    );
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Item {
    name: String,
    qty: u32,
}

#[test]
fn handler_errors_map_to_client_statuses() {
    let srv = start_app(|b| {
        b.post(
            "/items/{id}",
            fallible(|req, res| {
                let id: u32 = req.param_as("id")?;
                let item: Item = req.json()?;
                if item.qty == 0 {
                    return Err(HttpError::new(422, "qty must be positive"));
                }
                res.status(201)
                    .json(&serde_json::json!({"id": id, "name": item.name}));
                Ok(())
            }),
        )
    });
    let mut s = connect(srv.local_addr());
    let post = |s: &mut std::net::TcpStream, path: &str, ct: &str, body: &str| {
        roundtrip(
            s,
            format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
        )
    };
    let r = post(
        &mut s,
        "/items/7",
        "application/json",
        r#"{"name":"x","qty":2}"#,
    );
    assert_eq!((r.status, r.body_str()), (201, r#"{"id":7,"name":"x"}"#));
    let r = post(
        &mut s,
        "/items/seven",
        "application/json",
        r#"{"name":"x","qty":2}"#,
    );
    assert_eq!((r.status, r.body_str()), (400, "bad parameter `id`\n"));
    let r = post(&mut s, "/items/7", "application/json", "{not json");
    assert_eq!(r.status, 400);
    let r = post(&mut s, "/items/7", "text/plain", r#"{"name":"x","qty":2}"#);
    assert_eq!(r.status, 415);
    let r = post(
        &mut s,
        "/items/7",
        "application/json; charset=utf-8",
        r#"{"name":"x","qty":0}"#,
    );
    assert_eq!((r.status, r.body_str()), (422, "qty must be positive\n"));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain"),
        "the handler's partial answer was replaced"
    );
}

#[test]
fn recover_turns_a_panic_into_500_and_keeps_the_connection() {
    let rec = Recover::new();
    let rec2 = rec.clone();
    let srv = start_app(move |b| {
        b.get("/boom", |_: &Request<'_>, res: &mut Response<'_>| {
            res.header("X-Before", "1");
            panic!("kaboom");
        })
        .get("/ok", show)
        .wrap(rec2)
    });
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/boom");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-before"), None);
    assert_eq!(r.header("connection"), None, "connection kept open");
    assert_eq!(get(&mut s, "/ok").status, 200);
    assert_eq!(rec.panics(), 1);
}

#[test]
fn timing_and_request_id() {
    let srv = start_app(|b| b.get("/t", show).wrap(Timing).wrap(RequestId));
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/t");
    let timing = r.header("server-timing").unwrap();
    assert!(
        timing.starts_with("app;dur=") && timing[8..].parse::<f64>().is_ok(),
        "{timing}"
    );
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let id2 = get(&mut s, "/t")
        .header("x-request-id")
        .unwrap()
        .to_string();
    assert_ne!(id, id2, "ids are unique");
    let r = roundtrip(
        &mut s,
        b"GET /t HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n",
    );
    assert_eq!(
        r.header("x-request-id"),
        Some("abc-123"),
        "a valid incoming id is echoed"
    );
}

#[test]
fn bearer_and_basic_auth() {
    let srv = start_app(|b| b.get("/s", show).wrap(BearerAuth::new("api", ["s3cret"])));
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/s");
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some("Bearer realm=\"api\""))
    );
    let r = roundtrip(
        &mut s,
        b"GET /s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong\r\n\r\n",
    );
    assert_eq!(r.status, 401);
    let r = roundtrip(
        &mut s,
        b"GET /s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\n\r\n",
    );
    assert_eq!(r.status, 200);

    let srv = start_app(|b| {
        b.get("/s", show)
            .wrap(BasicAuth::new("adm", "Aladdin", "open sesame"))
    });
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/s");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic realm=\"adm\""));
    let r = roundtrip(
        &mut s,
        b"GET /s HTTP/1.1\r\nHost: t\r\nAuthorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n",
    );
    assert_eq!(r.status, 200);
}

/// A writer shared with the test; optionally slow, to fill the access-log channel.
#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>, Duration);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(self.1);
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn access_log_common_and_json_and_drops_when_full() {
    let sink = Sink(Arc::default(), Duration::ZERO);
    let log = AccessLog::new(sink.clone(), LogFormat::Common, 1024);
    let srv = start_app(move |b| b.get("/a", show).wrap(log));
    let mut s = connect(srv.local_addr());
    get(&mut s, "/a?x=1");
    get(&mut s, "/missing");
    assert!(eventually(
        Duration::from_secs(5),
        || String::from_utf8_lossy(&sink.0.lock().unwrap())
            .lines()
            .count()
            == 2
    ));
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("127.0.0.1 - - [")
            && lines[0].contains("\"GET /a?x=1 HTTP/1.1\" 200 "),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"GET /missing HTTP/1.1\" 404 10"),
        "{}",
        lines[1]
    );

    let sink = Sink(Arc::default(), Duration::ZERO);
    let log = AccessLog::new(sink.clone(), LogFormat::Json, 16);
    let srv = start_app(move |b| b.get("/j", show).wrap(log));
    let mut s = connect(srv.local_addr());
    get(&mut s, "/j");
    assert!(eventually(Duration::from_secs(5), || !sink
        .0
        .lock()
        .unwrap()
        .is_empty()));
    let v: serde_json::Value = serde_json::from_slice(
        sink.0
            .lock()
            .unwrap()
            .split(|&b| b == b'\n')
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            v["method"].as_str(),
            v["target"].as_str(),
            v["status"].as_u64()
        ),
        (Some("GET"), Some("/j"), Some(200))
    );

    // A logger that cannot keep up: records are dropped and counted, requests are not slowed.
    let slow = Sink(Arc::default(), Duration::from_millis(100));
    let log = AccessLog::new(slow, LogFormat::Common, 1);
    let handle = Arc::new(log);
    let h2 = handle.clone();
    let srv = start_app(move |b| {
        b.get("/f", show).wrap(
            move |req: &Request<'_>, res: &mut Response<'_>, next: &dyn strela::Handler| {
                strela::middleware::Middleware::call(&*h2, req, res, next)
            },
        )
    });
    let mut s = connect(srv.local_addr());
    let t0 = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(get(&mut s, "/f").status, 200);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "requests were not held up by the slow log"
    );
    assert!(handle.dropped() >= 10, "dropped {}", handle.dropped());
}

#[test]
fn middleware_order_first_added_is_outermost() {
    fn tag(name: &'static str) -> impl strela::middleware::Middleware {
        move |req: &Request<'_>, res: &mut Response<'_>, next: &dyn strela::Handler| {
            res.header("X-Order", name);
            next.call(req, res);
        }
    }
    let srv = start_app(|b| b.get("/o", show).wrap(tag("outer")).wrap(tag("inner")));
    let mut s = connect(srv.local_addr());
    let r = get(&mut s, "/o");
    let order: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "X-Order")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(order, ["outer", "inner"]);
}
