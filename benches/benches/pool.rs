//! pool: a buffer from the per-worker pool vs a fresh 8 KiB allocation, system allocator.
//! (pool_mimalloc runs the same with mimalloc, the binary's allocator.)

use criterion::{criterion_group, criterion_main};

include!("shared/pool_common.rs");

fn bench(c: &mut Criterion) {
    pool_bench(c, "system");
}

criterion_group! {
    name = benches;
    config = strela_benches::quick();
    targets = bench
}
criterion_main!(benches);
