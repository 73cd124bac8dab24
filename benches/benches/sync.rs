//! sync: counting requests — a shared atomic vs a shared `Mutex<u64>` vs a plain per-worker
//! counter (strela's way: each worker owns its counters, summed only when someone asks).
//! With 1 thread this is the bare cost of the instruction; with 2 threads on the 2 cores the
//! shared counters bounce their cache line between cores while the per-worker ones do not.

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// Runs `per_thread(iters)` on `threads` threads at once; returns the wall time.
fn parallel(
    threads: usize,
    iters: u64,
    per_thread: Arc<dyn Fn(usize, u64) + Send + Sync>,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (b, f) = (barrier.clone(), per_thread.clone());
            std::thread::spawn(move || {
                b.wait();
                f(t, iters);
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed()
}

#[repr(align(128))]
struct Padded(AtomicU64);

fn bench(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("sync/{threads}thread"));
        g.throughput(Throughput::Elements(threads as u64));
        let atomic = Arc::new(AtomicU64::new(0));
        g.bench_function("atomic_shared", |b| {
            b.iter_custom(|iters| {
                let a = atomic.clone();
                parallel(
                    threads,
                    iters,
                    Arc::new(move |_, n| {
                        for _ in 0..n {
                            a.fetch_add(1, Ordering::Relaxed);
                        }
                    }),
                )
            })
        });
        let mutex = Arc::new(Mutex::new(0u64));
        g.bench_function("mutex_shared", |b| {
            b.iter_custom(|iters| {
                let m = mutex.clone();
                parallel(
                    threads,
                    iters,
                    Arc::new(move |_, n| {
                        for _ in 0..n {
                            *m.lock().unwrap() += 1;
                        }
                    }),
                )
            })
        });
        // Per-worker: a plain local counter, published once at the end with a relaxed store to
        // the worker's own cache line (what strela's workers do once per event-loop turn).
        let slots: Arc<Vec<Padded>> =
            Arc::new((0..threads).map(|_| Padded(AtomicU64::new(0))).collect());
        g.bench_function("per_worker_plain", |b| {
            b.iter_custom(|iters| {
                let s = slots.clone();
                parallel(
                    threads,
                    iters,
                    Arc::new(move |t, n| {
                        let mut local = 0u64;
                        for _ in 0..n {
                            local = black_box(local + 1);
                        }
                        s[t].0.store(local, Ordering::Relaxed);
                    }),
                )
            })
        });
        g.finish();
    }
}

strela_benches::bench_main!(bench);
