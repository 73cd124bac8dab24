//! pool: a buffer from the per-worker pool vs a fresh 8 KiB allocation, system allocator.
//! (pool_mimalloc runs the same with mimalloc, the binary's allocator.)

include!("shared/pool_common.rs");

fn bench(c: &mut Criterion) {
    pool_bench(c, "system");
}

strela_benches::bench_main!(bench);
