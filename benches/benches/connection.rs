//! connection: the sans-IO core end to end — request bytes in, response bytes out — for
//! /plaintext and /json, one request and a 16-request pipelined batch (what wrk sends per write).
//! No sockets: this is the user-space cost per request that every load-bench figure contains.

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use strela::testing::Driver;

const PLAIN: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const JSON: &[u8] = b"GET /json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

fn run(c: &mut Criterion, name: &str, req: &[u8], depth: usize) {
    let batch: Vec<u8> = req.repeat(depth);
    let mut d = Driver::new(strela::endpoints::core);
    let mut g = c.benchmark_group("connection");
    g.throughput(Throughput::Elements(depth as u64));
    g.bench_function(format!("{name}/x{depth}"), |b| {
        b.iter(|| d.exchange(black_box(&batch)))
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    run(c, "plaintext", PLAIN, 1);
    run(c, "plaintext", PLAIN, 16);
    run(c, "json", JSON, 1);
    run(c, "json", JSON, 16);
}

strela_benches::bench_main!(bench);
