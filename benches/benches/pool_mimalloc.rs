//! pool with mimalloc as the global allocator (the `strela` binary's allocator).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("shared/pool_common.rs");

fn bench(c: &mut Criterion) {
    pool_bench(c, "mimalloc");
}

strela_benches::bench_main!(bench);
