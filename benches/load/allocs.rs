//! Allocations per request, printed: a counting global allocator around the sans-IO core and
//! around a real socket server (in this process, on 127.0.0.1), after warm-up.
//!
//! `cargo run --release -p strela-benches --bin allocs [N]`
//!
//! The client side writes from a prepared buffer and reads into a fixed one, so it allocates
//! nothing itself: every allocation counted during a measured phase is the server's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

use strela::endpoints::core;
use strela::testing::Driver;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(n as u64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<F: FnMut()>(mut f: F) -> (u64, u64) {
    let (a, b) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    f();
    (
        ALLOCS.load(Ordering::Relaxed) - a,
        BYTES.load(Ordering::Relaxed) - b,
    )
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

fn sansio(path: &str, depth: usize, n: usize) -> (u64, u64) {
    let batch = request(path).repeat(depth);
    let mut d = Driver::new(core);
    for _ in 0..1000 {
        d.exchange(&batch);
    }
    count(|| {
        for _ in 0..n / depth {
            d.exchange(&batch);
        }
    })
}

fn socket(addr: SocketAddr, path: &str, depth: usize, n: usize) -> (u64, u64) {
    let batch = request(path).repeat(depth);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut round = |s: &mut TcpStream| {
        s.write_all(&batch).unwrap();
        let (mut seen, mut got) = (0, 0);
        while seen < depth {
            let k = s.read(&mut buf[got..]).unwrap();
            assert!(k > 0, "server closed");
            seen += buf[got..got + k]
                .windows(5)
                .filter(|w| *w == b"World")
                .count();
            got = (got + k) % (buf.len() - 8192);
        }
    };
    for _ in 0..200 {
        round(&mut s);
    }
    count(|| {
        for _ in 0..n / depth {
            round(&mut s);
        }
    })
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(160_000);
    let srv = strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .handler(core)
        .start()
        .expect("server starts");
    println!("Allocations per request after warm-up ({n} requests per row; counting allocator):\n");
    println!("| path | mode | where | allocations/request | bytes/request |");
    println!("|---|---|---|---:|---:|");
    for path in ["/plaintext", "/json"] {
        for (mode, depth) in [("keep-alive", 1usize), ("pipelined 16", 16)] {
            let (a, b) = sansio(path, depth, n);
            println!(
                "| {path} | {mode} | sans-IO core | {:.4} | {:.2} |",
                a as f64 / n as f64,
                b as f64 / n as f64
            );
            let m = n / 10; // sockets are slower; fewer requests keep the run short
            let (a, b) = socket(srv.local_addr(), path, depth, m);
            println!(
                "| {path} | {mode} | socket server | {:.4} | {:.2} |",
                a as f64 / m as f64,
                b as f64 / m as f64
            );
        }
    }
}
