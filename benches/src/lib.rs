//! strela-benches: criterion suites (`benches/`), the wrk load bench and the may_minihttp peer
//! server (`load/`), and the proofs that print figures (allocations per request, memory per idle
//! connection). See `benches/README.md` for what each measures and how to read it.

use std::time::Duration;

/// The criterion configuration every suite uses: short warm-up and measurement so the whole
/// suite stays well under ten minutes on two cores, enough samples for stable medians.
pub fn quick() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
}
