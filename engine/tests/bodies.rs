//! Bodies of any size, responses side: large bodies written by reference (no copy into the
//! write buffer), in order with small pipelined answers and deferred ones; files with
//! sendfile. Sans-IO where the core alone shows it, sockets for the worker's writes.

mod common;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use strela::{Deferred, Reply, Request, Response};

/// A body whose bytes say where they are (so a reordering or a lost range shows).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn big(req: &Request<'_>, res: &mut Response<'_>) {
    static STATIC: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();
    let path = req.path();
    match path {
        "/bytes" => res.body_bytes(Bytes::from(pattern(300_000, 1))),
        "/static" => res
            .body_static(STATIC.get_or_init(|| Box::leak(pattern(200_000, 2).into_boxed_slice()))),
        "/string" => res.body_string(String::from_utf8(vec![b'x'; 70_000]).unwrap()),
        "/writer" => {
            res.body_writer().extend_from_slice(&pattern(100_000, 3));
            res
        }
        "/mid" => {
            // Between the zero-copy size and the scratch hand-off size.
            res.body_writer().extend_from_slice(&pattern(20_000, 4));
            res
        }
        _ => res.body_static(b"small"),
    };
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[test]
fn large_bodies_keep_their_place_among_small_pipelined_answers() {
    let paths = [
        "/a", "/bytes", "/b", "/static", "/string", "/c", "/writer", "/mid", "/d",
    ];
    let stream: String = paths.iter().map(|p| get(p)).collect();
    let mut d = Driver::new(big);
    d.feed(stream.as_bytes());
    let r = d.responses();
    assert_eq!(r.len(), paths.len());
    let expect: Vec<Vec<u8>> = vec![
        b"small".to_vec(),
        pattern(300_000, 1),
        b"small".to_vec(),
        pattern(200_000, 2),
        vec![b'x'; 70_000],
        b"small".to_vec(),
        pattern(100_000, 3),
        pattern(20_000, 4),
        b"small".to_vec(),
    ];
    for (i, (resp, body)) in r.iter().zip(&expect).enumerate() {
        assert_eq!(resp.status, 200, "{}", paths[i]);
        assert_eq!(
            resp.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert!(resp.body == *body, "body of {} differs", paths[i]);
    }
    assert_eq!(
        d.cx.pool.outstanding(),
        0,
        "sealed buffers went back to the pool"
    );
    // The worker's body scratch did not keep the 100 kB it lent out.
    assert!(d.cx.scratch_bytes() <= 64 * 1024);
}

#[test]
fn every_split_of_the_output_gives_the_same_bytes() {
    // The client reads a few bytes at a time: writes resume inside pieces.
    let stream: String = ["/a", "/bytes", "/b"].iter().map(|p| get(p)).collect();
    let mut whole = Driver::new(big);
    whole.feed(stream.as_bytes());
    let mut d = Driver::new(big);
    d.push(stream.as_bytes());
    let mut out = Vec::new();
    let mut step = 1;
    loop {
        d.process();
        if !d.conn.has_output() {
            break;
        }
        while d.conn.has_output() {
            let n = match d.conn.front() {
                strela::proto::output::Front::Bytes(b) => {
                    let n = b.len().min(step);
                    out.extend_from_slice(&b[..n]);
                    n
                }
                other => panic!("unexpected {other:?}"),
            };
            let inner = &mut d.0;
            inner.conn.consume(n, &mut inner.cx.pool);
            step = step % 9000 + 1777;
        }
    }
    assert!(out == whole.out);
}

#[test]
fn head_gets_the_length_of_a_large_body_and_no_bytes() {
    let mut d = Driver::new(big);
    d.feed(b"HEAD /bytes HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&d.out).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 300000\r\n"));
    assert!(text.ends_with("\r\n\r\nsmall"), "{text}");
    assert!(!d.conn.has_pieces());
}

#[test]
fn a_large_deferred_reply_goes_out_in_order_without_blocking_the_ones_behind() {
    let (tx, rx) = mpsc::channel::<Deferred>();
    let tx = Mutex::new(tx);
    let h = move |req: &Request<'_>, res: &mut Response<'_>| {
        if req.path() == "/later" {
            tx.lock().unwrap().send(res.defer()).unwrap();
        } else {
            big(req, res);
        }
    };
    let mut d = Driver::new(h);
    let stream: String = ["/later", "/bytes", "/a"].iter().map(|p| get(p)).collect();
    d.feed(stream.as_bytes());
    assert!(d.out.is_empty(), "nothing before the first answer");
    rx.recv()
        .unwrap()
        .complete(Reply::ok().body(Bytes::from(pattern(150_000, 9))));
    d.deliver();
    let r = d.responses();
    assert_eq!(r.len(), 3);
    assert!(r[0].body == pattern(150_000, 9));
    assert!(r[1].body == pattern(300_000, 1));
    assert_eq!(r[2].body, b"small");
    assert_eq!(d.cx.pool.outstanding(), 0);
}

/// Over a socket: a 100 MB shared body reaches a client that reads slowly, intact, while the
/// server's resident memory does not grow by a copy of it.
#[test]
fn a_large_shared_body_is_sent_without_a_copy() {
    static BODY: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| Bytes::from(pattern(100 << 20, 5)));
    let srv = start(
        |_req: &Request<'_>, res: &mut Response<'_>| {
            res.body_bytes(body.clone());
        },
        1,
    );
    let rss0 = rss_bytes();
    let mut s = connect(srv.local_addr());
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300)); // let the server queue both answers
    let peak = rss_bytes();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let mut rest = &all[..];
    for _ in 0..2 {
        let (r, used) = parse_one(rest, false).expect("a complete response");
        assert_eq!(r.status, 200);
        assert!(r.body == body[..], "the body arrived intact");
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    // Two 100 MB answers queued: a copy of either would show as ~100 MB more.
    let grew = peak.saturating_sub(rss0);
    assert!(grew < 32 << 20, "RSS grew {} MiB", grew >> 20);
}

/// Resident memory of this process.
fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}
