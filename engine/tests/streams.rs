//! Streamed response bodies: chunked to HTTP/1.1, close-delimited to HTTP/1.0, HEAD, order
//! with pipelined and deferred answers, backpressure (a source is asked only when there is
//! room), aborts and panics (the connection closes), writers on other threads (blocking at the
//! high-water mark, `Gone` once the client leaves), and nothing leaking after any of it.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use strela::proto::stats::Counter;
use strela::service::stream::{BodyWriter, Gone, Produce};
use strela::{Deferred, Limits, Reply, Request, Response};

/// `parts` parts of `size` bytes, each filled with its index.
fn counting_source(parts: usize, size: usize) -> impl FnMut(&mut Vec<u8>, usize) -> Produce {
    let mut i = 0;
    move |out: &mut Vec<u8>, _room: usize| {
        out.extend(std::iter::repeat(i as u8).take(size));
        i += 1;
        if i == parts {
            Produce::Done
        } else {
            Produce::More
        }
    }
}

fn expected(parts: usize, size: usize) -> Vec<u8> {
    (0..parts)
        .flat_map(|i| std::iter::repeat(i as u8).take(size))
        .collect()
}

fn streaming(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/stream" => {
            res.content_type("application/octet-stream")
                .stream(counting_source(5, 1000));
        }
        "/big" => {
            res.stream(counting_source(400, 10_000));
        }
        "/abort" => {
            let mut n = 0;
            res.stream(move |out: &mut Vec<u8>, _| {
                n += 1;
                out.extend_from_slice(b"part");
                if n == 3 {
                    Produce::Abort
                } else {
                    Produce::More
                }
            });
        }
        "/panic" => {
            res.stream(|out: &mut Vec<u8>, _| {
                out.extend_from_slice(b"x");
                panic!("source failure");
            });
        }
        "/empty" => {
            res.stream(|_: &mut Vec<u8>, _| Produce::Done);
        }
        _ => {
            res.body_static(b"small");
        }
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[test]
fn a_stream_is_chunked_and_the_answers_behind_it_keep_their_order() {
    let mut d = Driver::new(streaming);
    let stream: String = ["/a", "/stream", "/b", "/empty", "/c"]
        .iter()
        .map(|p| get(p))
        .collect();
    d.feed(stream.as_bytes());
    let text = String::from_utf8_lossy(&d.out).into_owned();
    assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
    let r = d.responses();
    assert_eq!(r.len(), 5, "{text}");
    assert_eq!(r[0].body, b"small");
    assert_eq!(
        r[1].header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(r[1].header("content-length"), None);
    assert!(r[1].body == expected(5, 1000));
    assert_eq!(r[2].body, b"small");
    assert!(r[3].body.is_empty());
    assert_eq!(r[4].body, b"small");
    assert!(!d.is_closing());
    assert_eq!(d.cx.stats[Counter::StreamsStarted], 2);
    assert_eq!(d.cx.stats[Counter::Requests], 5);
    assert_eq!(d.cx.pool.outstanding(), 0);
}

#[test]
fn http10_gets_the_body_delimited_by_the_close() {
    let mut d = Driver::new(streaming);
    d.feed(b"GET /stream HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&d.out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    assert!(body.as_bytes() == expected(5, 1000));
    assert!(d.is_closing());
}

#[test]
fn head_of_a_stream_is_the_head_only() {
    let mut d = Driver::new(streaming);
    d.feed(b"HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&d.out).into_owned();
    assert!(text.ends_with("\r\n\r\nsmall"), "{text}");
    assert!(!d.is_closing());
}

#[test]
fn an_aborting_or_panicking_source_closes_the_connection_without_a_terminator() {
    for path in ["/abort", "/panic"] {
        let mut d = Driver::new(streaming);
        d.feed(format!("{}{}", get(path), get("/a")).as_bytes());
        let text = String::from_utf8_lossy(&d.out).into_owned();
        assert!(!text.contains("0\r\n\r\n"), "{path}: {text}");
        assert!(
            !text.contains("small"),
            "{path}: nothing after a cut stream"
        );
        assert!(d.is_closing(), "{path}");
        assert_eq!(d.cx.stats[Counter::StreamsAborted], 1, "{path}");
    }
}

#[test]
fn a_source_is_asked_only_while_there_is_room() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let h = move |_req: &Request<'_>, res: &mut Response<'_>| {
        let c = c.clone();
        res.stream(move |out: &mut Vec<u8>, room: usize| {
            c.fetch_add(1, Ordering::Relaxed);
            out.extend(std::iter::repeat(b'z').take(room.min(4096)));
            Produce::More // endless
        });
    };
    let limits = Limits {
        write_high_water: 64 * 1024,
        ..Limits::default()
    };
    let mut d = Driver::with_limits(h, &limits);
    d.push(get("/").as_bytes());
    d.process();
    d.pump();
    // The client reads nothing: the output stops at about the high-water mark.
    let held = d.conn.output_len();
    assert!(
        (64 * 1024..64 * 1024 + 8192).contains(&(held as usize)),
        "{held}"
    );
    let asked = calls.load(Ordering::Relaxed);
    assert_eq!(d.pump(), 0, "no room: not asked again");
    assert_eq!(calls.load(Ordering::Relaxed), asked);
    // The client reads: asked again, up to the mark again.
    d.take_output();
    assert!(d.pump() > 0);
    assert!(calls.load(Ordering::Relaxed) > asked);
    assert!(d.conn.output_len() as usize <= 64 * 1024 + 8192);
    d.close();
    assert_eq!(d.cx.pool.outstanding(), 0);
}

/// A handler that defers and hands the handle to the test.
fn deferring(tx: mpsc::Sender<Deferred>) -> impl strela::Handler {
    let tx = Mutex::new(tx);
    move |req: &Request<'_>, res: &mut Response<'_>| {
        if req.path() == "/later" {
            tx.lock().unwrap().send(res.defer()).unwrap();
        } else {
            res.body_static(b"small");
        }
    }
}

#[test]
fn a_writer_on_another_thread_streams_in_order_with_what_is_pipelined() {
    let (tx, rx) = mpsc::channel();
    let mut d = Driver::new(deferring(tx));
    d.feed(format!("{}{}{}", get("/a"), get("/later"), get("/b")).as_bytes());
    let mut w = rx
        .recv()
        .unwrap()
        .stream(Reply::ok().content_type("text/plain").body(&b"first "[..]));
    let writer = std::thread::spawn(move || {
        for i in 0..5 {
            w.write(format!("part{i} ")).unwrap();
        }
        w.write(vec![b'L'; 100_000]).unwrap(); // a large part goes by reference
        w.finish().unwrap();
    });
    // The worker side: deliver and pump until the writer is done.
    let mut spins = 0;
    while strela::testing::parse_responses(&d.out).len() < 3 {
        d.deliver();
        std::thread::sleep(Duration::from_millis(2));
        spins += 1;
        assert!(
            spins < 5000,
            "stream never finished: {:?}",
            String::from_utf8_lossy(&d.out)
        );
    }
    writer.join().unwrap();
    let r = d.responses();
    assert_eq!(r[0].body, b"small");
    let mut want = b"first part0 part1 part2 part3 part4 ".to_vec();
    want.extend(std::iter::repeat(b'L').take(100_000));
    assert!(r[1].body == want);
    assert_eq!(r[1].header("content-type"), Some("text/plain"));
    assert_eq!(r[2].body, b"small");
    assert_eq!(d.svc.inbox.live(), 0);
    assert_eq!(d.svc.deferred, 0);
}

#[test]
fn a_dropped_writer_aborts_and_a_closed_connection_makes_writes_fail() {
    let (tx, rx) = mpsc::channel();
    let mut d = Driver::new(deferring(tx));
    d.feed(get("/later").as_bytes());
    let mut w = rx.recv().unwrap().stream(Reply::ok());
    w.write(&b"some"[..]).unwrap();
    drop(w);
    d.deliver();
    assert!(d.is_closing());
    assert_eq!(d.cx.stats[Counter::StreamsAborted], 1);
    let text = String::from_utf8_lossy(&d.out).into_owned();
    assert!(
        text.contains("some") && !text.contains("0\r\n\r\n"),
        "{text}"
    );

    let (tx, rx) = mpsc::channel();
    let mut d = Driver::new(deferring(tx));
    d.feed(get("/later").as_bytes());
    let mut w: BodyWriter = rx.recv().unwrap().stream(Reply::ok());
    d.deliver();
    d.close(); // the client leaves
    assert_eq!(w.write(&b"late"[..]), Err(Gone));
    assert!(w.is_gone());
    assert_eq!(w.finish(), Err(Gone));
}

/// Over sockets: a writer thread blocks while the client does not read, the worker is not
/// blocked meanwhile (other connections are served), and 20 MB arrive intact in the end.
#[test]
fn a_slow_reader_blocks_the_writer_not_the_worker() {
    let (tx, rx) = mpsc::channel::<Deferred>();
    let srv = start(deferring(tx), 1);
    let a = srv.local_addr();
    let mut s = connect(a);
    s.write_all(get("/later").as_bytes()).unwrap();
    let d = rx.recv().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let wr = written.clone();
    let writer = std::thread::spawn(move || {
        let mut w = d.stream(Reply::ok());
        for _ in 0..200 {
            w.write(vec![b'q'; 100_000]).unwrap();
            wr.fetch_add(100_000, Ordering::Relaxed);
        }
        w.finish().unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    let early = written.load(Ordering::Relaxed);
    assert!(
        early < 20_000_000,
        "the writer ran ahead of the client: {early}"
    );
    // The worker still serves others while the writer waits.
    let mut other = connect(a);
    assert_eq!(roundtrip(&mut other, get("/x").as_bytes()).body, b"small");
    // Now read everything.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let r = read_responses(&mut s, 1);
    assert_eq!(r[0].body.len(), 20_000_000);
    assert!(r[0].body.iter().all(|&b| b == b'q'));
    writer.join().unwrap();
    drop(s);
    drop(other);
    assert!(eventually(Duration::from_secs(5), || srv
        .stats()
        .connections
        == 0));
    assert_eq!(srv.stats().buffers_in_use, 0);
    assert_eq!(srv.stats().deferred_live, 0);
}

/// Over sockets: a client that leaves mid-stream: the source is dropped, nothing leaks.
#[test]
fn a_client_leaving_mid_stream_drops_the_source() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let dr = dropped.clone();
    let srv = start(
        move |_req: &Request<'_>, res: &mut Response<'_>| {
            let guard = Counted(dr.clone());
            res.stream(move |out: &mut Vec<u8>, room: usize| {
                let _ = &guard;
                out.extend(std::iter::repeat(b'e').take(room.min(65536)));
                Produce::More // endless
            });
        },
        1,
    );
    for _ in 0..10 {
        let mut s = connect(srv.local_addr());
        s.write_all(get("/").as_bytes()).unwrap();
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
    }
    assert!(eventually(Duration::from_secs(5), || dropped
        .load(Ordering::Relaxed)
        == 10));
    assert!(eventually(Duration::from_secs(5), || srv
        .stats()
        .connections
        == 0));
    assert_eq!(srv.stats().buffers_in_use, 0);
}
