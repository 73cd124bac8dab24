//! Streamed request bodies over sockets: the echo (Content-Length and chunked, whole and
//! byte by byte), `100 Continue` only when the handler asks, per-route limits (buffered and
//! streamed), a handler that does not read (drained or closed), readers on another thread (one
//! that keeps the window empty as it is fed included), backpressure (an upload whose echo is
//! not read stops being read), a client that leaves mid-body, the minimum body rate (408 or
//! a plain close, and what the reader is told), and a refusal read while the client still sends.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use strela::{limit_body, stream_body, Handler, Limits, ReadNow, Reply, Request, Response};

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for c in body.chunks(chunk) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

/// A server with the echo (streamed, up to 1 GiB), a buffered route limited to 16 bytes, a
/// streaming route limited to 1,000 bytes, a streaming route that never reads, and two that
/// read on another thread and answer the body's length and checksum.
fn server(limits: Limits) -> strela::ServerHandle {
    start_app(|b| {
        b.limits(limits)
            .post("/echo", stream_body(1 << 30, strela::endpoints::echo))
            .post(
                "/small",
                limit_body(16, |req: &Request<'_>, res: &mut Response<'_>| {
                    res.body(format!("got {}", req.body().len()).as_bytes());
                }),
            )
            .post("/capped", stream_body(1000, strela::endpoints::echo))
            .post(
                "/deny",
                stream_body(1 << 30, |_req: &Request<'_>, res: &mut Response<'_>| {
                    res.status(401).body_static(b"no\n");
                }),
            )
            .post("/sum", sum_elsewhere(|_| 10_000))
            // 1..=300 bytes per read, varying: the window is emptied as fast as it is fed.
            .post("/nibble", sum_elsewhere(|n| 1 + (n % 300) as usize))
    })
}

/// A streaming route whose handler reads the body on another thread, `read_size(bytes so
/// far)` bytes at a time, and answers its length and byte sum.
fn sum_elsewhere(read_size: fn(u64) -> usize) -> impl Handler {
    stream_body(1 << 30, move |req: &Request<'_>, res: &mut Response<'_>| {
        let mut body = req.body_reader();
        let d = res.defer();
        std::thread::spawn(move || {
            let (mut n, mut sum, mut buf) = (0u64, 0u64, vec![0u8; 10_000]);
            let reply = loop {
                let want = read_size(n).min(buf.len());
                match body.read(&mut buf[..want]) {
                    Ok(0) => break Reply::ok().body(format!("{n} {sum}")),
                    Ok(k) => {
                        n += k as u64;
                        sum = buf[..k].iter().fold(sum, |s, &b| s + u64::from(b));
                    }
                    Err(e) => break Reply::new(400).body(e.to_string()),
                }
            };
            d.complete(reply);
        });
    })
}

fn post(path: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Writes `req` from a thread (the echo comes back while it is sent) and reads `n` responses.
fn send_and_read(s: &mut TcpStream, req: Vec<u8>, split: usize, n: usize) -> Vec<Resp> {
    let mut w = s.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        for c in req.chunks(split) {
            if w.write_all(c).is_err() {
                return;
            }
        }
    });
    let r = read_responses(s, n);
    t.join().unwrap();
    r
}

#[test]
fn echo_returns_the_body_intact_whatever_its_framing_and_splitting() {
    let h = server(Limits::default());
    let body = pattern(3 * 1024 * 1024 + 17); // over the 1 MiB default: streamed
    for split in [1 << 20, 4093] {
        let mut s = connect(h.local_addr());
        let r = send_and_read(
            &mut s,
            post("/echo", "Content-Type: x/y\r\n", &body),
            split,
            1,
        );
        assert_eq!(r[0].status, 200);
        assert_eq!(r[0].header("content-type"), Some("x/y"));
        assert!(
            r[0].body == body,
            "length-framed echo differs (split {split})"
        );

        let mut req =
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(&chunked(&body, 10_007));
        let r = send_and_read(&mut s, req, split, 1);
        assert!(r[0].body == body, "chunked echo differs (split {split})");
    }
    // Byte by byte, a small body that is not all there with its head, then a pipelined GET.
    let mut s = connect(h.local_addr());
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(b"hello, streamed world", 4));
    req.extend_from_slice(&post("/small", "", b"0123456789"));
    let r = send_and_read(&mut s, req, 1, 2);
    assert_eq!(r[0].body_str(), "hello, streamed world");
    assert_eq!(r[1].body_str(), "got 10");
    h.stop();
}

#[test]
fn continue_is_sent_only_when_the_handler_asks_for_the_body() {
    let h = server(Limits::default());
    let body = pattern(2 << 20);
    // The echo asks: "100 Continue" comes first, then the answer once the body is sent.
    let mut s = connect(h.local_addr());
    s.write_all(
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = [0u8; 25];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 100 Continue\r\n\r\n");
    let r = send_and_read(&mut s, body.clone(), 65536, 1);
    assert!(r[0].body == body);
    // A handler that answers without reading: no 100, its answer, and the connection closes
    // (the client never sends the body it was not asked for).
    let mut s = connect(h.local_addr());
    s.write_all(
        b"POST /deny HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n",
    )
    .unwrap();
    let r = read_responses(&mut s, 1);
    assert_eq!(r[0].status, 401);
    assert_eq!(r[0].header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
    // A buffered route over the default limit: 413 before any body is sent, no 100.
    let mut s = connect(h.local_addr());
    let r = roundtrip(
        &mut s,
        b"POST /plain HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
    );
    assert_ne!(r.status, 100);
    h.stop();
}

#[test]
fn per_route_limits_hold_for_buffered_and_streamed_bodies() {
    let h = server(Limits::default());
    let mut s = connect(h.local_addr());
    assert_eq!(
        roundtrip(&mut s, &post("/small", "", &[b'a'; 16])).body_str(),
        "got 16"
    );
    let r = roundtrip(&mut s, &post("/small", "", &[b'a'; 17]));
    assert_eq!(r.status, 413);
    // Declared over a streaming route's limit: 413 from the Content-Length alone.
    let mut s = connect(h.local_addr());
    let r = roundtrip(
        &mut s,
        b"POST /capped HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    // Whole with its head but over the limit: 413 all the same.
    let mut s = connect(h.local_addr());
    let mut req =
        b"POST /capped HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&[b'z'; 3000], 100));
    assert_eq!(roundtrip(&mut s, &req).status, 413);
    // Chunked past it while streaming: the echo stops and the connection closes (no
    // complete answer).
    let mut s = connect(h.local_addr());
    let (head, rest) = req.split_at(200);
    s.write_all(head).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(rest).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "an over-limit echo must not end cleanly"
    );
    // The default limit still applies to routes without their own.
    let mut s = connect(h.local_addr());
    let r = roundtrip(
        &mut s,
        b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    h.stop();
}

#[test]
fn a_body_nobody_reads_is_drained_when_small_and_closes_when_large() {
    let h = server(Limits::default());
    // Within the drain bound: the connection persists and the next request is answered.
    let mut s = connect(h.local_addr());
    let mut req = post("/deny", "", &pattern(100_000));
    req.extend_from_slice(GET_PLAIN);
    let r = send_and_read(&mut s, req, 7000, 2);
    assert_eq!(r[0].status, 401);
    assert_eq!(r[0].header("connection"), None);
    assert_eq!(r[1].status, 404); // no /plaintext route on this server: still an answer
                                  // Beyond it: answered, then closed.
    let mut s = connect(h.local_addr());
    s.write_all(
        format!(
            "POST /deny HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            50 << 20
        )
        .as_bytes(),
    )
    .unwrap();
    let r = read_responses(&mut s, 1);
    assert_eq!(r[0].status, 401);
    assert_eq!(r[0].header("connection"), Some("close"));
    h.stop();
}

#[test]
fn a_reader_on_another_thread_gets_the_whole_body_with_backpressure() {
    let h = server(Limits::default());
    let body = pattern(20 << 20);
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let mut s = connect(h.local_addr());
    let r = send_and_read(&mut s, post("/sum", "", &body), 1 << 16, 1);
    assert_eq!(r[0].body_str(), format!("{} {sum}", body.len()));
    let mut req = b"POST /sum HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&body, 65_000));
    let r = send_and_read(&mut s, req, 1 << 16, 1);
    assert_eq!(r[0].body_str(), format!("{} {sum}", body.len()));
    // The connection's last request: its body is still read to the end, then it closes.
    let r = send_and_read(
        &mut s,
        post("/sum", "Connection: close\r\n", &body),
        1 << 16,
        1,
    );
    assert_eq!(r[0].body_str(), format!("{} {sum}", body.len()));
    assert!(closed_by_server(&mut s));
    h.stop();
}

#[test]
fn a_reader_that_keeps_the_window_empty_is_fed_to_the_end() {
    // A reader on another thread taking a few hundred bytes at a time empties the window while
    // the worker feeds it: the worker must keep feeding what it has buffered until the window
    // says full, or the end of a body (all of it read from the socket, nothing more to raise
    // an edge) would sit in the read buffer until the body-rate timeout closed the connection.
    let h = server(Limits::default());
    let mut s = connect(h.local_addr());
    for i in 0..150usize {
        let size = 1 + (i * 7919 + i * i * 104_729) % (192 << 10);
        let body = pattern(size);
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        let req = if i % 2 == 0 {
            let mut r =
                b"POST /nibble HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            r.extend_from_slice(&chunked(&body, 1 + (i * 4099) % 70_000));
            r
        } else {
            post("/nibble", "", &body)
        };
        let r = send_and_read(&mut s, req, 1 + (i * 6151) % 100_000, 1);
        assert_eq!(
            r[0].body_str(),
            format!("{size} {sum}"),
            "upload {i} of {size} bytes"
        );
    }
    h.stop();
}

#[test]
fn an_upload_whose_echo_is_not_read_stops_being_read() {
    let h = server(Limits::default());
    let mut s = connect(h.local_addr());
    s.set_nonblocking(true).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n")
        .unwrap_or(());
    // Send until the server stops taking bytes (we never read its echo).
    let chunk = vec![b'q'; 1 << 16];
    let (mut sent, mut stalled_since) = (0usize, None::<Instant>);
    while stalled_since.is_none_or(|t| t.elapsed() < Duration::from_millis(500)) {
        match s.write(&chunk) {
            Ok(n) => {
                sent += n;
                stalled_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                stalled_since.get_or_insert_with(Instant::now);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
        assert!(
            sent < 256 << 20,
            "the server kept reading an upload nobody drains"
        );
    }
    // Socket buffers (both ways) plus the body window and the write high-water mark.
    assert!(
        sent < 64 << 20,
        "sent {sent} bytes before the server paused"
    );
    h.stop();
}

/// A server whose `/wait` reads the whole streamed body on another thread and reports the
/// outcome (`Ok(length)` or `Err(io::ErrorKind)`) on the channel.
fn reporting(limits: Limits) -> (strela::ServerHandle, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    let h = start_app(move |b| {
        b.limits(limits).post(
            "/wait",
            stream_body(1 << 30, move |req: &Request<'_>, res: &mut Response<'_>| {
                let mut body = req.body_reader();
                let tx = tx.lock().unwrap().clone();
                let d = res.defer();
                std::thread::spawn(move || {
                    let r = body.read_to_vec();
                    tx.send(format!("{:?}", r.map(|v| v.len()).map_err(|e| e.kind())))
                        .unwrap();
                    d.complete(Reply::ok());
                });
            }),
        )
    });
    (h, rx)
}

/// What `/wait`'s reader reported (within 5 s).
fn outcome(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the reader hears of it")
}

#[test]
fn a_client_that_leaves_mid_body_fails_the_reader_and_leaks_nothing() {
    let (h, rx) = reporting(Limits::default());
    {
        let mut s = connect(h.local_addr());
        s.write_all(b"POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
            .unwrap();
        s.write_all(&[b'x'; 300_000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    } // dropped: the client leaves
    assert_eq!(
        outcome(&rx),
        "Err(UnexpectedEof)",
        "the reader is told the connection closed"
    );
    // The server's own count, not the process's descriptors: tests run in parallel here.
    assert!(
        eventually(Duration::from_secs(5), || {
            let st = h.stats();
            st.connections == 0 && st.buffers_in_use == 0
        }),
        "leak: {:?}",
        h.stats()
    );
    h.stop();
}

/// Everything the server sends until it closes (or 10 s pass).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn slow_limits() -> Limits {
    Limits {
        min_body_rate: 100_000,
        body_rate_grace: Duration::from_secs(1),
        ..Limits::default()
    }
}

#[test]
fn the_minimum_body_rate_applies_to_streamed_bodies() {
    // The handler reads on another thread and answers later: its answer has not started,
    // so the client is told 408, and the reader why its body ended.
    let (h, rx) = reporting(slow_limits());
    let mut s = connect(h.local_addr());
    s.write_all(b"POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    s.write_all(&[b's'; 1024]).unwrap(); // then nothing: far below 100 kB/s
    let t0 = Instant::now();
    let out = read_to_close(&mut s);
    assert!(
        out.starts_with(b"HTTP/1.1 408 "),
        "{:?} after {:?}",
        String::from_utf8_lossy(&out),
        t0.elapsed()
    );
    assert_eq!(
        outcome(&rx),
        "Err(TimedOut)",
        "the reader is told the body came too slowly"
    );
    h.stop();
}

#[test]
fn a_slow_streamed_body_whose_answer_has_started_is_closed_without_a_second_answer() {
    // The echo streams its answer as the body comes: a 408 cannot follow its first bytes.
    let h = server(slow_limits());
    let mut s = connect(h.local_addr());
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    s.write_all(&[b's'; 1024]).unwrap();
    let out = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.contains("ssss"), "the echo started: {text:?}");
    assert!(
        !text.contains("408"),
        "a second answer after the first: {text:?}"
    );
    h.stop();
}

#[test]
fn echo_reads_with_read_now_on_the_worker() {
    // The reader's non-blocking side as the echo uses it, over a whole (buffered) body.
    let h = start_app(|b| {
        b.post("/n", |req: &Request<'_>, res: &mut Response<'_>| {
            let mut r = req.body_reader();
            let mut out = Vec::new();
            let mut steps = Vec::new();
            loop {
                match r.read_now(&mut out, 3) {
                    ReadNow::Data(n) => steps.push(n),
                    other => {
                        assert_eq!(other, ReadNow::End);
                        break;
                    }
                }
            }
            res.body(format!("{steps:?} {}", String::from_utf8_lossy(&out)).as_bytes());
        })
    });
    let mut s = connect(h.local_addr());
    assert_eq!(
        roundtrip(&mut s, &post("/n", "", b"abcdefgh")).body_str(),
        "[3, 3, 2] abcdefgh"
    );
    h.stop();
}

/// Sends `n` bytes of body on a clone of `s` from another thread, until done or refused.
fn send_in_background(s: &TcpStream, n: usize) -> std::thread::JoinHandle<()> {
    let mut w = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let chunk = vec![b'b'; 64 * 1024];
        let mut sent = 0usize;
        while sent < n && w.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
    })
}

#[test]
fn a_client_still_sending_when_refused_reads_the_refusal() {
    // 413 at the head while the client goes on sending a large body: the answer must be
    // readable whole, not lost to a reset (the server closes lingering).
    let h = server(Limits::default());
    for _ in 0..20 {
        let mut s = connect(h.local_addr());
        s.write_all(b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n")
            .unwrap();
        let writer = send_in_background(&s, 50_000_000);
        let out = read_to_close(&mut s);
        assert!(
            out.starts_with(b"HTTP/1.1 413 "),
            "{:?}",
            String::from_utf8_lossy(&out[..out.len().min(200)])
        );
        drop(s);
        writer.join().unwrap();
    }
    h.stop();
}

#[test]
fn a_large_answer_to_an_unread_upload_arrives_whole() {
    // The handler answers 2 MiB without reading a 50 MB body (too large to drain, so the
    // connection closes after the answer). The client reads only after a pause: most of the
    // answer still sits in the server's socket when it is done writing, with the upload's
    // bytes unread in front of it. A plain close there is a reset, which throws away what
    // was not sent yet.
    const BIG: usize = 2 << 20;
    let h = start_app(|b| {
        b.post(
            "/big",
            stream_body(1 << 30, |_req: &Request<'_>, res: &mut Response<'_>| {
                res.body(&vec![b'a'; BIG]);
            }),
        )
    });
    let mut s = connect(h.local_addr());
    s.write_all(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n")
        .unwrap();
    let writer = send_in_background(&s, 50_000_000);
    std::thread::sleep(Duration::from_millis(500));
    let out = read_to_close(&mut s);
    let head_end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(out.len() - head_end, BIG, "the answer was cut short");
    drop(s);
    writer.join().unwrap();
    h.stop();
}
