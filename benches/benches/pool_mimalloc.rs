//! pool with mimalloc as the global allocator (the `strela` binary's allocator).

use criterion::{criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("shared/pool_common.rs");

fn bench(c: &mut Criterion) {
    pool_bench(c, "mimalloc");
}

criterion_group! {
    name = benches;
    config = strela_benches::quick();
    targets = bench
}
criterion_main!(benches);
