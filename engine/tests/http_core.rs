//! The engine core over real sockets on 127.0.0.1 (ephemeral ports, one server per test).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn check(r: &Resp, ctype: &str, body: &[u8]) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(ctype));
    assert_eq!(
        r.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(r.header("server"), Some("strela"));
    let date = r.header("date").expect("Date header");
    assert_eq!(date.len(), 29);
    assert!(date.ends_with(" GMT"));
    assert_eq!(r.body, body);
    assert_eq!(r.count("date"), 1);
}

/// This file's tests run one at a time: one of them counts the process's open descriptors,
/// which sockets of a test running in parallel would disturb.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn each_endpoint() {
    let _serial = serial();
    let srv = start_core(2);
    let mut s = connect(srv.local_addr());
    check(
        &roundtrip(&mut s, GET_PLAIN),
        "text/plain",
        b"Hello, World!",
    );
    check(
        &roundtrip(&mut s, GET_JSON),
        "application/json",
        br#"{"message":"Hello, World!"}"#,
    );
    check(
        &roundtrip(&mut s, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"),
        "text/plain",
        b"ok\n",
    );
    let r = roundtrip(&mut s, b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 404);
    let r = roundtrip(&mut s, b"DELETE /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    // Still the same connection.
    check(
        &roundtrip(&mut s, GET_PLAIN),
        "text/plain",
        b"Hello, World!",
    );
}

#[test]
fn pipelined_16_and_256_in_one_write() {
    let _serial = serial();
    let srv = start_core(1);
    for n in [16usize, 256] {
        let mut s = connect(srv.local_addr());
        let mut batch = Vec::new();
        for i in 0..n {
            batch.extend_from_slice(if i % 2 == 0 { GET_PLAIN } else { GET_JSON });
        }
        s.write_all(&batch).unwrap();
        let r = read_responses(&mut s, n);
        for (i, resp) in r.iter().enumerate() {
            let want = if i % 2 == 0 {
                "text/plain"
            } else {
                "application/json"
            };
            assert_eq!(
                resp.header("content-type"),
                Some(want),
                "response {i} of {n} out of order"
            );
        }
    }
}

#[test]
fn byte_by_byte_request_is_answered_once() {
    let _serial = serial();
    let srv = start_core(1);
    let mut s = connect(srv.local_addr());
    for b in GET_PLAIN {
        s.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let r = read_responses(&mut s, 1);
    check(&r[0], "text/plain", b"Hello, World!");
    // Nothing more arrives: answered exactly once.
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 1];
    assert!(
        std::io::Read::read(&mut s, &mut b).is_err(),
        "no second response"
    );
}

#[test]
fn keep_alive_reuse_for_1000_requests() {
    let _serial = serial();
    let srv = start_core(1);
    let mut s = connect(srv.local_addr());
    for _ in 0..1000 {
        let r = roundtrip(&mut s, GET_PLAIN);
        assert_eq!(r.status, 200);
    }
    assert_eq!(srv.stats().connections, 1);
}

#[test]
fn http10_closes_and_connection_close_closes() {
    let _serial = serial();
    let srv = start_core(1);
    let mut s = connect(srv.local_addr());
    let r = roundtrip(&mut s, b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(closed_by_server(&mut s));

    let mut s = connect(srv.local_addr());
    let r = roundtrip(
        &mut s,
        b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = roundtrip(
        &mut s,
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
}

#[test]
fn malformed_gets_400_close_and_the_server_serves_on() {
    let _serial = serial();
    let srv = start_core(1);
    let mut s = connect(srv.local_addr());
    let r = roundtrip(
        &mut s,
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert!(closed_by_server(&mut s));
    let mut s = connect(srv.local_addr());
    let r = roundtrip(&mut s, b"NOT-HTTP\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(closed_by_server(&mut s));
    let mut s = connect(srv.local_addr());
    check(
        &roundtrip(&mut s, GET_PLAIN),
        "text/plain",
        b"Hello, World!",
    );
}

#[test]
fn peer_reset_mid_request_does_not_disturb_others() {
    let _serial = serial();
    let srv = start_core(1);
    let mut good = connect(srv.local_addr());
    check(
        &roundtrip(&mut good, GET_PLAIN),
        "text/plain",
        b"Hello, World!",
    );
    for _ in 0..20 {
        let mut bad = connect(srv.local_addr());
        bad.write_all(b"GET /plaintext HTTP/1.1\r\nHos").unwrap();
        set_linger_zero(&bad); // close() now sends RST
        drop(bad);
    }
    check(
        &roundtrip(&mut good, GET_JSON),
        "application/json",
        br#"{"message":"Hello, World!"}"#,
    );
    assert!(eventually(Duration::from_secs(5), || srv
        .stats()
        .connections
        == 1));
}

#[test]
fn disconnect_at_any_byte_leaks_nothing() {
    let _serial = serial();
    let srv = start_core(2);
    let fds_before = open_fds();
    let mut batch = GET_PLAIN.to_vec();
    batch.extend_from_slice(b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab");
    for cut in 0..=batch.len() {
        let mut s = connect(srv.local_addr());
        s.write_all(&batch[..cut]).unwrap();
        if cut % 2 == 0 {
            set_linger_zero(&s);
        }
        drop(s);
    }
    assert!(
        eventually(Duration::from_secs(5), || {
            let st = srv.stats();
            st.connections == 0 && st.buffers_in_use == 0 && open_fds() <= fds_before
        }),
        "leak: {:?}, fds {} -> {}",
        srv.stats(),
        fds_before,
        open_fds()
    );
}

#[test]
fn stop_returns_promptly_with_open_connections() {
    let _serial = serial();
    let srv = start_core(2);
    let mut conns: Vec<TcpStream> = (0..10).map(|_| connect(srv.local_addr())).collect();
    for c in conns.iter_mut() {
        assert_eq!(roundtrip(c, GET_PLAIN).status, 200);
    }
    let t0 = std::time::Instant::now();
    srv.stop();
    srv.join().expect("clean stop");
    assert!(t0.elapsed() < Duration::from_secs(2));
    for c in conns.iter_mut() {
        assert!(closed_by_server(c));
    }
}

#[test]
fn workers_share_the_port_and_all_serve() {
    let _serial = serial();
    let srv = start_core(2);
    // Many short connections: with SO_REUSEPORT both listeners get some; all must be served.
    for _ in 0..50 {
        let mut s = connect(srv.local_addr());
        assert_eq!(roundtrip(&mut s, GET_PLAIN).status, 200);
    }
    assert!(eventually(Duration::from_secs(2), || srv.stats().requests >= 50));
}

fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsFd;
    rustix::net::sockopt::set_socket_linger(s.as_fd(), Some(Duration::ZERO)).unwrap();
}
