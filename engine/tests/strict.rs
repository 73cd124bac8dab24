//! Strict at every edge: bytes that cannot become a request are refused when they arrive (not
//! when a blank line finally comes), targets and Host by their grammars, bare LF only when
//! asked for, interim statuses never as answers, bodies slower than the minimum rate cut, and
//! refused connections closed lingering (bounded, and not holding up a stop).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use strela::{Limits, Request, Response};

fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    res.content_type("text/plain").body_string(format!(
        "{} {} {}",
        req.method(),
        req.path(),
        req.body().len()
    ));
}

/// Sends `bytes` and returns what comes back before the server closes (or 2 s pass), and how
/// long the first response byte took.
fn send_and_read(addr: std::net::SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let t0 = Instant::now();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut first = None;
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                first.get_or_insert_with(|| t0.elapsed());
                out.extend_from_slice(&b[..n]);
            }
        }
    }
    (out, first.unwrap_or(Duration::MAX))
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn garbage_and_tls_are_refused_at_once_not_after_the_header_timeout() {
    let srv = start_with(echo, 1, Limits::default());
    let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x5e\x2c\x11\x8a";
    for (what, bytes) in [
        ("a TLS ClientHello", hello.to_vec()),
        ("4 KiB of random bytes", noise(4096, 7)),
        (
            "a method with a control byte",
            b"GE\x01T / HTTP/1.1".to_vec(),
        ),
        ("a target with a quote", b"GET /\"".to_vec()),
        (
            "a header line with a NUL",
            b"GET / HTTP/1.1\r\nX: \x00".to_vec(),
        ),
    ] {
        let (out, took) = send_and_read(srv.local_addr(), &bytes);
        assert!(
            out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
            "{what}: {:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(
            took < Duration::from_millis(500),
            "{what}: answered after {took:?}"
        );
    }
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn the_first_byte_that_cannot_fit_decides_fed_whole_or_byte_by_byte() {
    // Each input is a valid prefix up to its last byte, which cannot stand there.
    let cases: &[&[u8]] = &[
        b"G(",
        b"GET  ",
        b"GET /a b",
        b"GET /%4z",
        b"GET /a HTTP/1.1\r\n ",
        b"GET /a HTTP/1.1\r\nHost ",
        b"GET /a HTTP/1.1\r\nHost: a\n",
        b"GET /a HTTP/1.1\r\nHost: a\rb",
        b"GET http://u@",
        b"GET * ",
        b"GET / HTTP/1.1\n",
        b"GET / HTTX",
    ];
    for input in cases {
        let (last, prefix) = input.split_last().unwrap();
        // Every byte before the last is a valid prefix: nothing is answered yet.
        let mut d = Driver::new(echo);
        for b in prefix {
            d.feed(std::slice::from_ref(b));
        }
        assert!(
            d.out.is_empty() && !d.conn.is_closing(),
            "{:?}: answered before the offending byte",
            String::from_utf8_lossy(input)
        );
        d.feed(std::slice::from_ref(last));
        let r = d.responses();
        let status = r.first().map(|r| r.status);
        assert!(
            matches!(status, Some(400) | Some(505)),
            "{:?}: {status:?}",
            String::from_utf8_lossy(input)
        );
        assert!(d.conn.is_closing());
        // Whole, the same answer.
        let mut whole = Driver::new(echo);
        whole.feed(input);
        assert_eq!(whole.out, d.out, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn absolute_form_is_routed_by_its_path() {
    let srv = start_core(1);
    let mut s = connect(srv.local_addr());
    let r = roundtrip(
        &mut s,
        b"GET http://example.com:8080/plaintext HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    );
    assert_eq!((r.status, r.body_str()), (200, "Hello, World!"));
    let r = roundtrip(
        &mut s,
        b"GET HTTP://example.com/json?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("Hello, World!"));
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn lf_only_heads_are_an_explicit_opt_in_and_never_mixed() {
    let strict = Driver::new(echo);
    let mut d = strict;
    d.feed(b"GET /a HTTP/1.1\nHost: a\n\n");
    assert_eq!(d.responses()[0].status, 400);
    let lenient = Limits {
        lf_only_heads: true,
        ..Limits::default()
    };
    let mut d = Driver::with_limits(echo, &lenient);
    d.feed(b"GET /a HTTP/1.1\nHost: a\nX: y\n\n");
    assert_eq!(d.responses()[0].body_str(), "GET /a 0");
    for mixed in [
        &b"GET /a HTTP/1.1\nHost: a\r\n\r\n"[..],
        b"GET /a HTTP/1.1\r\nHost: a\n\n",
        b"GET /a HTTP/1.1\nHost: a\n\r\n",
    ] {
        let mut d = Driver::with_limits(echo, &lenient);
        d.feed(mixed);
        assert_eq!(
            d.responses()[0].status,
            400,
            "{:?}",
            String::from_utf8_lossy(mixed)
        );
    }
}

#[test]
fn an_interim_status_from_a_handler_never_reaches_the_wire() {
    fn interim(req: &Request<'_>, res: &mut Response<'_>) {
        let code: u16 = req.path()[1..].parse().unwrap();
        res.status(code).body_static(b"never");
    }
    let srv = start_with(interim, 1, Limits::default());
    for code in [100, 101, 103] {
        let (out, _) = send_and_read(
            srv.local_addr(),
            format!("GET /{code} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 500 "), "{code}: {text}");
        assert!(
            !text.contains(&format!("HTTP/1.1 {code}")),
            "{code}: {text}"
        );
    }
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn a_body_slower_than_the_minimum_rate_gets_408_and_a_fast_one_does_not() {
    let limits = Limits {
        min_body_rate: 1000,
        body_rate_grace: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let srv = start_with(echo, 1, limits);
    // Trickled: 10 bytes every 100 ms is 100 B/s, a tenth of the minimum.
    let mut slow = TcpStream::connect(srv.local_addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let t0 = Instant::now();
    let writer = {
        let mut w = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..50 {
                if w.write_all(&[b'x'; 10]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out);
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "after {took:?}: {text:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(3500),
        "cut after {took:?}"
    );
    writer.join().unwrap();
    // Fast enough: 100 KB at 50 KB/s in 2 s, well above the minimum.
    let mut fast = connect(srv.local_addr());
    fast.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    for _ in 0..20 {
        fast.write_all(&[b'y'; 5000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = read_responses(&mut fast, 1).pop().unwrap();
    assert_eq!((r.status, r.body_str()), (200, "POST /up 100000"));
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn connections_mid_head_hold_their_bytes_not_a_pooled_buffer() {
    let srv = start_with(echo, 1, Limits::default());
    let mut conns: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(srv.local_addr()).unwrap();
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Trickle: ")
                .unwrap();
            s
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(5), || {
            let st = srv.stats();
            st.connections == 200 && st.buffers_in_use == 0
        }),
        "200 connections mid-head should hold no pooled buffer: {:?}",
        srv.stats()
    );
    // They still complete, each from its own leftover bytes.
    for s in conns.iter_mut() {
        s.write_all(b"1\r\n\r\n").unwrap();
    }
    for s in conns.iter_mut() {
        let r = read_responses(s, 1).pop().unwrap();
        assert_eq!(r.body_str(), "GET /slow 0");
    }
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn a_client_that_pipelines_and_never_reads_gets_no_more_than_the_high_water_mark_queued() {
    let limits = Limits {
        write_high_water: 4096,
        ..Limits::default()
    };
    let mut d = Driver::with_limits(echo, &limits);
    let one = b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n";
    let many: Vec<u8> = one.iter().copied().cycle().take(one.len() * 2000).collect();
    // Fed in buffer-sized pieces without ever taking the output (the client does not read).
    d.push(&many[..8000]);
    d.process();
    let queued = d.conn.output().len();
    assert!(
        (4096..4096 + 200).contains(&queued),
        "processing stops at the high-water mark: {queued} bytes queued"
    );
    assert!(!d.conn.wants_read(&d.cx.limits), "and reading stops too");
    assert!(d.conn.mid_request(), "the rest waits unparsed");
}

#[test]
fn the_body_scratch_gives_back_what_one_large_response_took() {
    fn big(_req: &Request<'_>, res: &mut Response<'_>) {
        res.body_writer().resize(20 << 20, b'x');
    }
    let mut d = Driver::new(big);
    d.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(d.responses()[0].body.len(), 20 << 20);
    assert!(
        d.cx.scratch_bytes() <= 64 * 1024,
        "scratch still holds {} bytes",
        d.cx.scratch_bytes()
    );
}

#[test]
fn a_refused_connection_lingers_for_a_bounded_time_and_a_stop_ends_it() {
    let srv = start(echo, 1);
    // Refused (a bad header line): the answer, then the server's FIN, while the connection
    // stays open for input to be discarded.
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nbad header\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 400 "), "{out:?}");
    assert_eq!(srv.stats().connections, 1, "closed at once, not lingering");
    // Input after the answer is read and thrown away: no reset, no answer.
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    // A client that never closes is closed after the linger time (5 s, 1 s ticks).
    let t0 = Instant::now();
    assert!(
        eventually(Duration::from_secs(9), || srv.stats().connections == 0),
        "still lingering after {:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() >= Duration::from_secs(3), "{:?}", t0.elapsed());
    // A stop does not wait for lingering connections.
    let mut s2 = TcpStream::connect(srv.local_addr()).unwrap();
    s2.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nbad header\r\n\r\n")
        .unwrap();
    assert!(eventually(Duration::from_secs(2), || {
        srv.stats().connections == 1
    }));
    std::thread::sleep(Duration::from_millis(100));
    let t1 = Instant::now();
    srv.stop();
    srv.join().unwrap();
    assert!(
        t1.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t1.elapsed()
    );
    drop((s, s2));
}
