//! Memory per idle keep-alive connection, printed: starts the `strela` binary (one worker),
//! opens N connections that each complete one request and then stay open and idle, and reports
//! the server's RSS growth per connection (user memory: the slab slot, epoll bookkeeping in the
//! process, allocator overhead; socket buffers live in the kernel and are not in RSS).
//!
//! `cargo run --release -p strela-benches --bin idlemem [N]` (default 10,000; raises the fd limit)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let limit = strela::raise_fd_limit();
    if (limit as usize) < n + 100 {
        eprintln!("idlemem: fd limit {limit} is below {n}; run as root or lower N");
        std::process::exit(1);
    }
    let bin = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("strela");
    let port = 18099;
    let mut child = Command::new(&bin)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--workers",
            "1",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: cargo build --release -p strela)",
                bin.display()
            )
        });
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = [0u8; 512];
    let mut one = |conns: &mut Vec<TcpStream>| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(req).unwrap();
        let mut got = 0;
        while !buf[..got].ends_with(b"Hello, World!") {
            let k = s.read(&mut buf[got..]).unwrap();
            assert!(k > 0);
            got += k;
        }
        conns.push(s);
    };
    // Warm up allocator arenas and the pool with a few connections, then measure.
    let mut warm = Vec::new();
    for _ in 0..100 {
        one(&mut warm);
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(child.id());
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        one(&mut conns);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(child.id());
    let per = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!("idle keep-alive connections: {n}");
    println!("server RSS before: {before} KiB, after: {after} KiB");
    println!("user memory per idle connection: {per:.0} bytes (target ≤ 512)");
    drop(conns);
    drop(warm);
    let _ = child.kill();
    let _ = child.wait();
}
