//! Parses a 30-header request in a loop, with strela or with raw httparse (uninitialised header
//! slots, as strela calls it), for instruction counts under callgrind:
//!
//! ```sh
//! cargo build --release -p strela-benches --example parse_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/p.out target/release/examples/parse_loop strela 10000
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/h.out target/release/examples/parse_loop httparse 10000
//! ```

use std::hint::black_box;
use std::mem::MaybeUninit;
use strela::proto::head::{parse_head, HeaderScratch, Parsed};
use strela::Limits;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "strela".into());
    let iters: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut req = b"GET /api/v1/items?page=2 HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for i in 0..29 {
        req.extend_from_slice(format!("X-Header-{i:02}: some-typical-value-{i}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let limits = Limits::default();
    let mut scratch = HeaderScratch::default();
    let mut n = 0usize;
    for _ in 0..iters {
        let buf = black_box(&req[..]);
        if mode == "strela" {
            if let Ok(Parsed::Complete(h)) = parse_head(buf, &mut scratch, &limits) {
                n += h.head_len();
            }
        } else {
            let mut headers: [MaybeUninit<httparse::Header<'_>>; 64] =
                [const { MaybeUninit::uninit() }; 64];
            let mut r = httparse::Request::new(&mut []);
            if let Ok(httparse::Status::Complete(len)) =
                r.parse_with_uninit_headers(buf, &mut headers)
            {
                black_box(&r);
                n += len;
            }
        }
    }
    println!("{n}");
}
