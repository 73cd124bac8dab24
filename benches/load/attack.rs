//! The server under attack, printed: normal clients (wrk) beside hostile ones, and what the
//! hostile ones cost the normal ones and the server's memory.
//!
//! Starts the `strela` binary (one worker, pinned to CPU 0 when taskset exists), measures wrk's
//! undisturbed requests/s on `/plaintext` (64 connections, CPU 1), then starts the attack and
//! measures again while it runs:
//! - slowloris: N connections (default 1,000) each trickling a request head, one byte per
//!   second per connection;
//! - non-readers: 50 connections that pipeline requests and never read a response;
//! - resetters: 200 clients that each connect, send half a request and reset the connection,
//!   ten times a second (2,000 resets/s).
//!
//! Prints requests/s before and during (ratio; target ≥ 0.70), wrk's errors, the server's RSS
//! before, at its peak during the attack, and after (growth; target ≤ 16 MiB), and its open
//! descriptors before and after (they must return to where they were).
//!
//! `cargo run --release -p strela-benches --bin attack [-- SECONDS [SLOWLORIS [BINARY]]]`
//! (default 5 s, 1,000, the `strela` binary beside this one; another binary, e.g. an older
//! build, is measured the same way)

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Requests/s and errors of a wrk run against `/plaintext`.
fn wrk(addr: SocketAddr, secs: u64, taskset: bool) -> (f64, u64) {
    let url = format!("http://{addr}/plaintext");
    let d = format!("{secs}s");
    let mut cmd = if taskset {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let out = cmd
        .args(["-t1", "-c64", "-d", &d, &url])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let errors: u64 = text
        .lines()
        .filter(|l| l.contains("Socket errors:") || l.contains("Non-2xx"))
        .flat_map(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
        })
        .sum();
    (rps, errors)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let slowloris: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    strela::raise_fd_limit();
    let bin = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .unwrap()
                .parent()
                .unwrap()
                .join("strela")
        });
    let port = 18098;
    let taskset = Command::new("taskset").arg("--version").output().is_ok();
    let mut cmd = if taskset {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let mut child = cmd
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
        .unwrap_or_else(|e| panic!("{}: {e} (cargo build --release -p strela)", bin.display()));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server's pid: taskset execs it, so the child's pid is the server's.
    let pid = child.id();
    let (base_rps, base_err) = wrk(addr, secs, taskset);
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = status_kib(pid, "VmRSS:");
    let fds_before = fds(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let resets = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    // Slowloris: connections opened up front, one byte per connection per second after.
    {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ";
            let mut conns: Vec<TcpStream> = (0..slowloris)
                .filter_map(|_| TcpStream::connect(addr).ok())
                .collect();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                for c in conns.iter_mut() {
                    let _ = c.write_all(&head[i % head.len()..][..1]);
                }
                i += 1;
                for _ in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }));
    }
    // Non-readers: pipeline until the socket blocks, then just hold the connection.
    {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n".repeat(512);
            let conns: Vec<TcpStream> = (0..50)
                .filter_map(|_| TcpStream::connect(addr).ok())
                .collect();
            for c in &conns {
                c.set_nonblocking(true).unwrap();
            }
            while !stop.load(Ordering::Relaxed) {
                for mut c in &conns {
                    let _ = c.write(&req);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    // Resetters: 200 clients, each ten times a second: half a request, then RST (SO_LINGER 0).
    // Four threads of 50 clients; a round of 50 every 100 ms.
    for _ in 0..4 {
        let (stop, resets) = (stop.clone(), resets.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let round = Instant::now();
                for _ in 0..50 {
                    if let Ok(mut c) = TcpStream::connect(addr) {
                        let _ = c.write_all(b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf");
                        let _ = rustix::net::sockopt::set_socket_linger(&c, Some(Duration::ZERO));
                        drop(c);
                        resets.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(100).saturating_sub(round.elapsed()));
            }
        }));
    }
    // Peak RSS while the attack runs.
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2)); // the attack is established
    let open_during = fds(pid);
    let (rps, err) = wrk(addr, secs, taskset);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    sampler.join().unwrap();
    // Attackers gone: descriptors must return (slowloris ones via their close; none linger).
    let t1 = Instant::now();
    while fds(pid) > fds_before && t1.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let fds_after = fds(pid);
    // The allocator returns freed pages to the system after a delay (mimalloc: 1 s).
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = status_kib(pid, "VmRSS:");
    let peak = peak.load(Ordering::Relaxed);
    let _ = child.kill();
    let _ = child.wait();

    let growth_mib = (peak.saturating_sub(rss_before)) as f64 / 1024.0;
    println!(
        "{} under attack: {slowloris} slowloris, 50 pipelining non-readers, 200 resetters ({} resets); wrk -t1 -c64 -d{secs}s /plaintext",
        std::env::current_dir()
            .ok()
            .and_then(|d| bin.strip_prefix(d).ok())
            .unwrap_or(&bin)
            .display(),
        resets.load(Ordering::Relaxed)
    );
    println!();
    println!("| figure | undisturbed | under attack | target |");
    println!("|---|---:|---:|---|");
    println!(
        "| wrk requests/s | {base_rps:.0} | {rps:.0} ({:.2}×) | ≥ 0.70× |",
        rps / base_rps.max(1.0)
    );
    println!("| wrk errors (socket + non-2xx) | {base_err} | {err} | 0 |");
    println!(
        "| server RSS | {rss_before} KiB | peak {peak} KiB (+{growth_mib:.1} MiB) | ≤ +16 MiB |"
    );
    println!(
        "| server descriptors | {fds_before} | {open_during} during, {fds_after} after | back to {fds_before} |"
    );
    println!("| server RSS 3 s after the attack | | {rss_after} KiB | |");
}
