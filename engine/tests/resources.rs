//! Resource tests over real sockets: descriptor exhaustion, many idle connections, clients that
//! never read. Each prints its figure (run with `--nocapture` to see them).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;

fn spawn_binary(prelude: &str) -> (Child, u16) {
    let (child, port, _) = common::spawn_binary(prelude, 1);
    (child, port)
}

fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<u64> = s[s.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f[11] + f[12]) as f64 / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[test]
fn fd_exhaustion_backs_off_instead_of_spinning_and_recovers() {
    let (mut child, port) = spawn_binary("ulimit -n 48;");
    let addr = ("127.0.0.1", port);
    // More connections than the server has descriptors: the excess waits in the backlog while
    // accept fails with EMFILE.
    let mut conns: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let c0 = cpu_secs(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_secs(child.id()) - c0;
    println!(
        "fd exhaustion: server CPU {:.0} % over 2 s with accept failing (EMFILE)",
        used / 2.0 * 100.0
    );
    assert!(
        used < 0.6,
        "the server spins at {:.0} % CPU while out of descriptors",
        used / 2.0 * 100.0
    );
    conns.clear(); // free descriptors
    let t0 = Instant::now();
    let ok = eventually(Duration::from_secs(5), || {
        TcpStream::connect(addr)
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(GET_PLAIN)?;
                Ok(read_responses(&mut s, 1)[0].status == 200)
            })
            .unwrap_or(false)
    });
    assert!(ok, "the server serves again once descriptors are free");
    println!(
        "fd exhaustion: serving again {:?} after descriptors were freed",
        t0.elapsed()
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn ten_thousand_idle_connections_then_a_request() {
    let n = 10_000usize;
    let limit = strela::raise_fd_limit();
    assert!(
        limit as usize > n + 100,
        "this test needs an fd limit above {} (have {limit})",
        n + 100
    );
    let (mut child, port) = spawn_binary(""); // the binary raises its own limit
    let base = rss_kib(child.id());
    let t0 = Instant::now();
    let mut idle: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Make sure the server has accepted them all: a request on the last one is answered.
    assert_eq!(roundtrip(idle.last_mut().unwrap(), GET_PLAIN).status, 200);
    let opened = t0.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let rss = rss_kib(child.id());
    println!(
        "10,000 idle connections open in {opened:?}; server RSS {base} → {rss} KiB ({} B per connection)",
        (rss - base) * 1024 / n as u64
    );
    let t1 = Instant::now();
    let mut fresh = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(roundtrip(&mut fresh, GET_PLAIN).status, 200);
    assert_eq!(
        roundtrip(&mut idle[n / 2], GET_PLAIN).status,
        200,
        "an old idle connection still works"
    );
    println!(
        "requests on a new and on an idle connection answered in {:?}",
        t1.elapsed()
    );
    assert!(t1.elapsed() < Duration::from_secs(1));
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn memory_stays_bounded_with_100_clients_that_never_read() {
    let (mut child, port) = spawn_binary("");
    let base = rss_kib(child.id());
    let writers: Vec<_> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
            std::thread::spawn(move || {
                let batch = GET_PLAIN.repeat(256);
                let t0 = Instant::now();
                // Write until the server stops reading (the write times out) or 3 s pass.
                while t0.elapsed() < Duration::from_secs(3) && s.write_all(&batch).is_ok() {}
                s
            })
        })
        .collect();
    let mut peak = base;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) {
        peak = peak.max(rss_kib(child.id()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let socks: Vec<TcpStream> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    println!(
        "100 non-reading clients: server RSS {base} KiB → peak {peak} KiB ({} KiB per client)",
        (peak - base) / 100
    );
    assert!(peak - base < 100 * 1024, "RSS grew by {} KiB", peak - base);
    drop(socks);
    let _ = child.kill();
    let _ = child.wait();
}
