//! Timeouts (header/slowloris, idle keep-alive, write stall) and graceful shutdown, over real
//! sockets. Timeouts are set to 1 s here; the wheel ticks once a second, so a deadline fires
//! between 1 and 2 s after it is set.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use strela::Limits;

fn short_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

fn start_short() -> strela::ServerHandle {
    strela::endpoints::routes(
        strela::Server::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .workers(1)
            .limits(short_limits()),
    )
    .start()
    .unwrap()
}

/// Reads until EOF/reset; returns what arrived and when the connection ended.
fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, Instant) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return (all, Instant::now()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn slowloris_is_closed_after_the_header_timeout_with_408() {
    let srv = start_short();
    let mut s = connect(srv.local_addr());
    let t0 = Instant::now();
    let head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    s.write_all(head).unwrap();
    // Keep trickling: activity must not extend the header deadline.
    let trickler = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..40 {
                if w.write_all(b"a").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let (got, closed_at) = read_to_close(&mut s);
    let took = closed_at - t0;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2700),
        "closed after {took:?}"
    );
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    trickler.join().unwrap();
    assert!(srv.stats().timeouts >= 1);
}

#[test]
fn trickling_clients_do_not_starve_normal_ones() {
    let srv = start_short();
    let addr = srv.local_addr();
    strela::raise_fd_limit(); // 1,000 client + 1,000 server sockets in this process
    let mut slow: Vec<TcpStream> = (0..1000).map(|_| connect(addr)).collect();
    for s in slow.iter_mut() {
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHo").unwrap();
    }
    let mut normal = connect(addr);
    let t0 = Instant::now();
    for _ in 0..500 {
        assert_eq!(roundtrip(&mut normal, GET_PLAIN).status, 200);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "500 requests took {:?}",
        t0.elapsed()
    );
    // Every slow connection is gone after the header timeout (the idle normal one too, after
    // its idle timeout), and the server serves new clients.
    assert!(
        eventually(Duration::from_secs(5), || srv.stats().connections == 0),
        "{:?}",
        srv.stats()
    );
    assert_eq!(srv.stats().timeouts, 1001);
    let mut again = connect(addr);
    assert_eq!(roundtrip(&mut again, GET_PLAIN).status, 200);
}

#[test]
fn idle_keep_alive_is_closed_and_active_connections_are_not() {
    let srv = start_short();
    let mut active = connect(srv.local_addr());
    let mut idle = connect(srv.local_addr());
    assert_eq!(roundtrip(&mut idle, GET_PLAIN).status, 200);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(2800) {
        assert_eq!(
            roundtrip(&mut active, GET_PLAIN).status,
            200,
            "an active connection keeps living"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        closed_by_server(&mut idle),
        "the idle connection was closed"
    );
}

#[test]
fn a_client_that_never_reads_is_closed_after_the_write_timeout() {
    let srv = start_short();
    let s = connect(srv.local_addr());
    let mut w = s.try_clone().unwrap();
    // Pipeline far more than the socket buffers and the high-water mark hold, never reading.
    let writer = std::thread::spawn(move || {
        let batch = GET_PLAIN.repeat(1000);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(6) {
            if w.write_all(&batch).is_err() {
                return true;
            }
        }
        false
    });
    assert!(
        writer.join().unwrap(),
        "the server closed the connection (the writer saw an error)"
    );
    assert!(eventually(Duration::from_secs(3), || srv
        .stats()
        .connections
        == 0
        && srv.stats().buffers_in_use == 0));
}

#[test]
fn graceful_stop_finishes_requests_in_progress_and_closes_idle_ones() {
    let srv = strela::endpoints::routes(
        strela::Server::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .workers(2)
            .drain_timeout(Duration::from_secs(5)),
    )
    .start()
    .unwrap();
    let addr = srv.local_addr();
    let mut idle = connect(addr);
    assert_eq!(roundtrip(&mut idle, GET_PLAIN).status, 200);
    let mut midway = connect(addr);
    midway
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stopper = srv.stopper();
    let t0 = Instant::now();
    stopper.stop();
    assert!(
        closed_by_server(&mut idle),
        "idle connections close at once"
    );
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500))
            .map(|mut c| closed_by_server(&mut c))
            .unwrap_or(true),
        "no new connections are served"
    );
    midway.write_all(b"\r\n").unwrap();
    let r = read_responses(&mut midway, 1).pop().unwrap();
    assert_eq!(r.status, 200, "the request in progress is answered");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_by_server(&mut midway));
    srv.join().expect("clean exit");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn the_drain_timeout_bounds_a_stop() {
    let srv = strela::endpoints::routes(
        strela::Server::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .workers(1)
            .drain_timeout(Duration::from_secs(1)),
    )
    .start()
    .unwrap();
    let mut stuck = connect(srv.local_addr());
    stuck.write_all(b"GET /plaintext HTTP/1.1\r\nHo").unwrap(); // never finished
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    srv.stop();
    srv.join().unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(closed_by_server(&mut stuck));
}

/// The library's shutdown sequence: unready at once (requests still served), drain after the
/// delay, and a second call is refused so the caller can escalate.
#[test]
fn shutdown_turns_unready_then_drains_after_the_delay() {
    let srv = start_app(|b| {
        strela::endpoints::routes(b)
            .readiness("/readyz")
            .shutdown_delay(Duration::from_millis(600))
    });
    let addr = srv.local_addr();
    let stopper = srv.stopper();
    assert_eq!(stopper.shutdown_delay(), Duration::from_millis(600));
    let mut c = connect(addr);
    assert_eq!(
        roundtrip(&mut c, b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
    assert!(!stopper.is_shutting_down());
    let t0 = Instant::now();
    assert!(stopper.shutdown());
    assert!(stopper.is_shutting_down());
    assert!(!stopper.shutdown(), "a second shutdown is refused");
    // During the delay: readiness says 503, traffic (also new connections) is still served.
    assert_eq!(
        roundtrip(&mut c, b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status,
        503
    );
    let mut fresh = connect(addr);
    assert_eq!(
        roundtrip(&mut fresh, b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
    srv.join().unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener closed"
    );
}

#[test]
fn expect_100_continue_gets_100_before_the_body() {
    let srv = start_with(
        |req: &strela::Request<'_>, res: &mut strela::Response<'_>| {
            res.body(req.body());
        },
        1,
        Limits::default(),
    );
    let mut s = connect(srv.local_addr());
    s.write_all(
        b"POST /u HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let mut b = [0u8; 64];
    let n = s.read(&mut b).unwrap();
    assert_eq!(&b[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let r = read_responses(&mut s, 1).pop().unwrap();
    assert_eq!((r.status, r.body_str()), (200, "hello"));
    // A body that is already there gets no 100; an unknown expectation gets 417.
    let r = roundtrip(
        &mut s,
        b"POST /u HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!((r.status, r.body_str()), (200, "ok"));
    let r = roundtrip(
        &mut s,
        b"POST /u HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(r.status, 417);
    // Over the body limit: 413 at once, no 100.
    let mut s = connect(srv.local_addr());
    let r = roundtrip(
        &mut s,
        b"POST /u HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n",
    );
    assert_eq!(r.status, 413);
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let limits = Limits {
        max_conns_per_worker: 2,
        ..Limits::default()
    };
    let srv = start_with(strela::endpoints::core, 1, limits);
    let mut a = connect(srv.local_addr());
    let mut b = connect(srv.local_addr());
    assert_eq!(roundtrip(&mut a, GET_PLAIN).status, 200);
    assert_eq!(roundtrip(&mut b, GET_PLAIN).status, 200);
    let mut c = connect(srv.local_addr());
    let (got, _) = read_to_close(&mut c);
    assert!(
        got.starts_with(b"HTTP/1.1 503 ") && got.windows(14).any(|w| w == b"Retry-After: 1"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    drop(a);
    assert!(eventually(Duration::from_secs(2), || srv
        .stats()
        .connections
        == 1));
    let mut d = connect(srv.local_addr());
    assert_eq!(
        roundtrip(&mut d, GET_PLAIN).status,
        200,
        "room again once a connection closed"
    );
}
