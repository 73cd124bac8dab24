// Shared body of the pool benches (included by pool.rs and pool_mimalloc.rs, which differ only
// in their global allocator).
use criterion::{Criterion, Throughput};
use std::hint::black_box;
use strela::proto::pool::BufPool;

fn pool_bench(c: &mut Criterion, allocator: &str) {
    let mut g = c.benchmark_group(format!("pool/{allocator}"));
    g.throughput(Throughput::Elements(1));
    let mut pool = BufPool::new(8192, 64);
    g.bench_function("pooled_get_put", |b| {
        b.iter(|| {
            let mut buf = pool.get();
            buf.extend_from_slice(black_box(b"GET / HTTP/1.1\r\n\r\n"));
            black_box(buf.len());
            pool.put(buf);
        })
    });
    g.bench_function("fresh_alloc_free", |b| {
        b.iter(|| {
            let mut buf: Vec<u8> = Vec::with_capacity(8192);
            buf.extend_from_slice(black_box(b"GET / HTTP/1.1\r\n\r\n"));
            black_box(buf.len());
        })
    });
    g.finish();
}
