//! The `strela` binary itself: flags, the startup line, and SIGTERM draining with zero failed
//! requests among those already sent.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.ends_with(b"Hello, World!") {
        let n = s.read(&mut b).expect("response");
        assert!(
            n > 0,
            "closed before the response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&b[..n]);
    }
    String::from_utf8(buf).unwrap()
}

#[test]
fn sigterm_answers_requests_already_sent_then_exits_0() {
    let (mut child, port, line) = common::spawn_binary("", 2);
    assert!(
        line.contains("msg=\"listening\"")
            && line.contains(" workers=2 ")
            && line.contains(" fd_limit="),
        "{line}"
    );
    let req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut conns: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for c in conns.iter_mut() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(req).unwrap();
        read_response(c);
    }
    // A request on the wire on every connection, then SIGTERM before anyone reads.
    for c in conns.iter_mut() {
        c.write_all(req).unwrap();
    }
    let t0 = Instant::now();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let mut failed = 0;
    for c in conns.iter_mut() {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_response(c)));
        match r {
            // Answered before the signal landed (keep-alive) or during the drain (close).
            Ok(text) if text.starts_with("HTTP/1.1 200 ") => {}
            _ => failed += 1,
        }
        let mut b = [0u8; 16];
        assert!(
            matches!(c.read(&mut b), Ok(0) | Err(_)),
            "every connection is closed by the drain"
        );
    }
    assert_eq!(failed, 0, "requests already sent must be answered");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[test]
fn bad_flags_exit_2_and_help_works() {
    let out = Command::new(env!("CARGO_BIN_EXE_strela"))
        .arg("--port")
        .arg("nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_strela"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--bind") && help.contains("--port") && help.contains("--workers"));
    let out = Command::new(env!("CARGO_BIN_EXE_strela"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}
