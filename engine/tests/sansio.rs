//! The sans-IO connection core driven directly, with no sockets: the same cases as the socket
//! tests, plus what only the core can show (parse counts, buffer ownership).

mod common;

use common::*;
use strela::endpoints::core;
use strela::proto::stats::Counter;
use strela::{Limits, Request, Response};

fn check_plaintext(r: &Resp) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("server"), Some("strela"));
    assert_eq!(r.header("date"), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
    assert_eq!(r.body, b"Hello, World!");
}

#[test]
fn plaintext_json_healthz_404_405() {
    let mut d = Driver::new(core);
    d.feed(GET_PLAIN);
    d.feed(GET_JSON);
    d.feed(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    d.feed(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    d.feed(b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    let r = d.responses();
    assert_eq!(r.len(), 5);
    check_plaintext(&r[0]);
    assert_eq!(r[1].header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r[1].body).unwrap();
    assert_eq!(v, serde_json::json!({"message": "Hello, World!"}));
    assert_eq!(r[1].header("content-length"), Some("27"));
    assert_eq!((r[2].status, r[2].body_str()), (200, "ok\n"));
    assert_eq!(r[3].status, 404);
    assert_eq!(r[4].status, 405);
    assert_eq!(r[4].header("allow"), Some("GET, HEAD"));
    assert!(!d.conn.is_closing());
}

#[test]
fn pipelined_16_and_256_in_order_in_one_batch() {
    for n in [16usize, 256] {
        let mut d = Driver::new(core);
        let mut batch = Vec::new();
        for i in 0..n {
            batch.extend_from_slice(if i % 3 == 0 { GET_JSON } else { GET_PLAIN });
        }
        assert_eq!(
            d.feed(&batch),
            n,
            "one process call answers the whole batch"
        );
        let r = d.responses();
        assert_eq!(r.len(), n);
        for (i, resp) in r.iter().enumerate() {
            let want = if i % 3 == 0 {
                "application/json"
            } else {
                "text/plain"
            };
            assert_eq!(
                resp.header("content-type"),
                Some(want),
                "response {i} out of order"
            );
        }
    }
}

#[test]
fn byte_by_byte_is_answered_once_and_parsed_once() {
    let mut d = Driver::new(core);
    let req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nUser-Agent: trickle\r\nAccept: */*\r\n\r\n";
    let mut answered = 0;
    for b in req.iter() {
        answered += d.feed(std::slice::from_ref(b));
    }
    assert_eq!(answered, 1);
    let r = d.responses();
    assert_eq!(r.len(), 1);
    check_plaintext(&r[0]);
    // First byte: httparse says partial; afterwards only the new bytes are scanned, and httparse
    // runs once more when the blank line arrives.
    assert_eq!(
        d.cx.stats[Counter::HeadParses],
        2,
        "a trickled head must not be re-parsed per byte"
    );
}

#[test]
fn trickle_cost_is_linear() {
    // A 12 KiB head delivered 1 byte at a time must still parse a bounded number of times.
    let mut req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n".to_vec();
    while req.len() < 12 * 1024 {
        req.extend_from_slice(format!("X-Pad: {}\r\n", "a".repeat(250)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let mut d = Driver::with_limits(core, &Limits::default());
    for b in req.iter() {
        d.feed(std::slice::from_ref(b));
    }
    assert_eq!(d.responses().len(), 1);
    assert_eq!(d.responses()[0].status, 200);
    assert_eq!(d.cx.stats[Counter::HeadParses], 2);
}

#[test]
fn keep_alive_1000_sequential() {
    let mut d = Driver::new(core);
    for _ in 0..1000 {
        assert_eq!(d.feed(GET_PLAIN), 1);
    }
    assert_eq!(d.responses().len(), 1000);
    assert!(!d.conn.is_closing());
}

#[test]
fn http10_closes_unless_keep_alive() {
    let mut d = Driver::new(core);
    d.feed(b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert!(d.conn.is_done(), "HTTP/1.0 without keep-alive closes");
    assert_eq!(d.responses()[0].header("connection"), Some("close"));

    let mut d = Driver::new(core);
    d.feed(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(!d.conn.is_closing());
    assert_eq!(d.responses()[0].header("connection"), Some("keep-alive"));
}

#[test]
fn connection_close_closes_after_the_response_and_ignores_the_rest() {
    let mut d = Driver::new(core);
    let mut batch = GET_PLAIN.to_vec();
    batch.extend_from_slice(
        b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
    );
    batch.extend_from_slice(GET_PLAIN);
    assert_eq!(d.feed(&batch), 2);
    let r = d.responses();
    assert_eq!(r.len(), 2, "nothing after the closing request is answered");
    assert_eq!(r[1].header("connection"), Some("close"));
    assert!(d.conn.is_done());
}

#[test]
fn malformed_gets_400_and_close() {
    for bad in [
        &b"GET /plaintext HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n"[..],
        b"GET  /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
        b"G(T /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ] {
        let mut d = Driver::new(core);
        d.feed(bad);
        let r = d.responses();
        assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(r[0].status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(r[0].header("connection"), Some("close"));
        assert!(d.conn.is_done());
    }
}

#[test]
fn refusals_map_to_their_status() {
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let long_line_partial = format!("GET /{}", "a".repeat(9000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-A: b\r\n".repeat(65)
    );
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n",
        "b".repeat(17 * 1024)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (long_uri.into_bytes(), 414),
        (long_line_partial.into_bytes(), 414),
        (many_headers.into_bytes(), 431),
        (big_head.into_bytes(), 431),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n".to_vec(),
            413,
        ),
    ];
    for (req, status) in cases {
        let mut d = Driver::new(core);
        d.feed(&req);
        let r = d.responses();
        let shown = String::from_utf8_lossy(&req[..req.len().min(60)]).into_owned();
        assert_eq!(r.len(), 1, "{shown}");
        assert_eq!(r[0].status, status, "{shown}");
        assert!(d.conn.is_done(), "{shown}");
    }
}

fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    res.body(req.body());
}

#[test]
fn content_length_body_split_across_reads_reaches_the_handler() {
    let mut d = Driver::new(echo);
    d.feed(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello");
    assert!(d.responses().is_empty());
    d.feed(b" world");
    d.feed(GET_PLAIN);
    let r = d.responses();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].body, b"hello world");
    assert_eq!(r[1].body, b"", "the next request is framed after the body");
}

#[test]
fn leading_empty_lines_are_ignored() {
    let mut d = Driver::new(core);
    d.feed(b"\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    check_plaintext(&d.responses()[0]);
}

#[test]
fn head_gets_headers_without_body() {
    let mut d = Driver::new(core);
    d.feed(
        b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let (first, used) = parse_one(&d.out, true).unwrap();
    assert_eq!(first.header("content-length"), Some("13"));
    assert!(first.body.is_empty());
    check_plaintext(&parse_all(&d.out[used..])[0]);
}

#[test]
fn idle_connection_holds_no_buffer() {
    let mut d = Driver::new(core);
    d.feed(GET_PLAIN);
    assert_eq!(d.conn.buffer_bytes(), 0);
    assert_eq!(d.cx.pool.outstanding(), 0);
    // Mid-request: the pooled buffer goes back and only the partial bytes are kept.
    d.feed(b"GET /plain");
    let held = d.conn.buffer_bytes();
    assert!(held >= 10 && held < d.cx.pool.buf_size() / 4, "{held}");
    assert_eq!(d.cx.pool.outstanding(), 0);
    // The rest arrives: a pooled buffer is swapped in again and the request is answered.
    d.feed(b"text HTTP/1.1\r\nHost: t\r\n\r\n");
    check_plaintext(&d.responses()[1]);
    assert_eq!(d.conn.buffer_bytes(), 0);
    assert_eq!(d.cx.pool.outstanding(), 0);
    d.feed(b"GET /plain");
    d.close();
    assert_eq!(d.cx.pool.outstanding(), 0);
}

#[test]
fn every_split_of_a_pipelined_stream_gives_the_same_bytes() {
    let mut stream = Vec::new();
    for _ in 0..3 {
        stream.extend_from_slice(GET_PLAIN);
        stream.extend_from_slice(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
        stream.extend_from_slice(GET_JSON);
    }
    let mut whole = Driver::new(echo);
    whole.feed(&stream);
    for split in 1..stream.len() {
        let mut d = Driver::new(echo);
        d.feed(&stream[..split]);
        d.feed(&stream[split..]);
        assert_eq!(d.out, whole.out, "split at {split}");
    }
}

#[test]
fn a_panicking_handler_gets_500_and_close_and_leaves_no_partial_output() {
    fn boom(req: &Request<'_>, res: &mut Response<'_>) {
        res.header("X-Partial", "yes");
        if req.path() == "/boom" {
            panic!("handler failure");
        }
        res.body_static(b"fine");
    }
    let mut d = Driver::new(boom);
    let mut batch = b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    batch.extend_from_slice(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n");
    batch.extend_from_slice(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
    d.feed(&batch);
    let r = d.responses();
    assert_eq!(r.len(), 2, "nothing after the failed request is answered");
    assert_eq!((r[0].status, r[0].body_str()), (200, "fine"));
    assert_eq!(r[1].status, 500);
    assert_eq!(
        r[1].header("x-partial"),
        None,
        "the partial response was discarded"
    );
    assert_eq!(r[1].header("connection"), Some("close"));
    assert_eq!(d.cx.stats[Counter::Panics], 1);
    assert!(d.conn.is_done());
}

#[test]
fn chunked_body_is_decoded_in_place_and_framing_stays_right() {
    let mut d = Driver::new(echo);
    let mut stream = b"POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    stream.extend_from_slice(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    stream.extend_from_slice(GET_PLAIN);
    // Byte by byte, then whole: the same two answers.
    for b in &stream {
        d.feed(std::slice::from_ref(b));
    }
    let r = d.responses();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].body, b"hello world");
    assert_eq!(r[1].status, 200);
    let mut whole = Driver::new(echo);
    whole.feed(&stream);
    assert_eq!(whole.out, d.out);
}

/// A pipelined batch split at every byte, the connection going quiet in between (its leftover
/// moves out of the pooled buffer): every answer still comes, in order. A partial head's
/// cursor must not outlive the head it belongs to.
#[test]
fn pipelined_requests_split_anywhere_with_a_pause_between() {
    let mut all = Vec::new();
    for i in 0..4 {
        all.extend_from_slice(if i % 2 == 0 { GET_PLAIN } else { GET_JSON });
    }
    for split in 1..all.len() {
        let mut d = Driver::new(core);
        d.feed(&all[..split]);
        d.feed(&all[split..]);
        let r = d.responses();
        assert_eq!(r.len(), 4, "split at {split}");
        assert!(r.iter().all(|r| r.status == 200), "split at {split}");
    }
}

#[test]
fn every_body_kind_is_framed_the_same() {
    use bytes::Bytes;
    fn kinds(req: &Request<'_>, res: &mut Response<'_>) {
        match req.path() {
            "/static" => res.body_static(b"hello"),
            "/copy" => res.body(b"hello"),
            "/string" => res.body_string(String::from("hello")),
            "/bytes" => res.body_bytes(Bytes::from(b"hello".to_vec())),
            _ => {
                use std::io::Write;
                let _ = res.body_writer().write_all(b"hello");
                res
            }
        };
    }
    let mut d = Driver::new(kinds);
    for p in ["/static", "/copy", "/string", "/bytes", "/writer"] {
        d.feed(format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    let all = d.responses();
    assert_eq!(all.len(), 5);
    for r in &all {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("5"));
        assert_eq!(r.body, b"hello");
    }
    assert_eq!(d.cx.pool.outstanding(), 0);
}
