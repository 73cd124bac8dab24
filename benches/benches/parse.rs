//! parse: strela's request-head parsing against raw httparse on the same bytes.
//!
//! strela = httparse + turning its slices into 16-bit spans + picking out the framing headers
//! (Content-Length, Transfer-Encoding, Connection, Host) + the checks that decide the status of a
//! bad request. The gap to `httparse_uninit` (httparse called exactly as strela calls it) is
//! strela's overhead (target: ≤ 10 %); `httparse` is the textbook call with initialised header
//! slots, which pays a 2 KiB memset per request.
//! Cases: one typical request, a 16-request pipelined batch (parsed one after another), and a
//! request with 30 headers.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use strela::proto::head::{parse_head, HeaderScratch, Parsed};
use strela::Limits;

const ONE: &[u8] =
    b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

fn thirty_headers() -> Vec<u8> {
    let mut r = b"GET /api/v1/items?page=2 HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for i in 0..29 {
        r.extend_from_slice(format!("X-Header-{i:02}: some-typical-value-{i}\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r
}

fn strela_all(buf: &[u8], scratch: &mut HeaderScratch, limits: &Limits) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        match parse_head(&buf[at..], scratch, limits) {
            Ok(Parsed::Complete(h)) => {
                at += h.head_len() + h.content_length() as usize;
                n += 1;
            }
            _ => break,
        }
    }
    n
}

fn httparse_all(buf: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[at..]) {
            Ok(httparse::Status::Complete(len)) => {
                black_box(&req);
                at += len;
                n += 1;
            }
            _ => break,
        }
    }
    n
}

/// httparse the way strela calls it: uninitialised header slots (no 2 KiB memset per request).
fn httparse_uninit_all(buf: &[u8]) -> usize {
    use std::mem::MaybeUninit;
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let mut headers: [MaybeUninit<httparse::Header<'_>>; 64] =
            [const { MaybeUninit::uninit() }; 64];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(&buf[at..], &mut headers) {
            Ok(httparse::Status::Complete(len)) => {
                black_box(&req);
                at += len;
                n += 1;
            }
            _ => break,
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let mut scratch = HeaderScratch::default();
    let many = thirty_headers();
    let batch = ONE.repeat(16);
    let cases: [(&str, &[u8], u64); 3] = [
        ("one", ONE, 1),
        ("pipelined16", &batch, 16),
        ("headers30", &many, 1),
    ];
    for (name, bytes, reqs) in cases {
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("strela", reqs), bytes, |b, bytes| {
            b.iter(|| {
                assert_eq!(
                    strela_all(black_box(bytes), &mut scratch, &limits) as u64,
                    reqs
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("httparse", reqs), bytes, |b, bytes| {
            b.iter(|| assert_eq!(httparse_all(black_box(bytes)) as u64, reqs))
        });
        g.bench_with_input(
            BenchmarkId::new("httparse_uninit", reqs),
            bytes,
            |b, bytes| b.iter(|| assert_eq!(httparse_uninit_all(black_box(bytes)) as u64, reqs)),
        );
        g.finish();
    }
}

strela_benches::bench_main!(bench);
