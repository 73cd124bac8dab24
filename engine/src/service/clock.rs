//! The request clock: [`Stamp`], a reading of the monotonic clock in nanoseconds. The worker
//! reads it once per event-loop turn and once per batch of answers (for the latency
//! histogram), where an [`Instant`] would cost a comparison-heavy subtraction per use; it
//! becomes an `Instant` only where one is needed (a deferred request's deadline).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A moment on the monotonic clock (`CLOCK_MONOTONIC`, the clock [`Instant`] reads), in
/// nanoseconds from an arbitrary origin. Ordered; differences are plain subtractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(u64);

impl Stamp {
    /// The clock now (one vDSO read).
    #[inline]
    pub fn now() -> Stamp {
        Stamp(crate::sys::monotonic_ns())
    }

    /// Nanoseconds from `earlier` to this moment (0 if `earlier` is later).
    #[inline]
    pub fn nanos_since(self, earlier: Stamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Time passed since this moment.
    #[inline]
    pub fn elapsed(self) -> Duration {
        Duration::from_nanos(Stamp::now().nanos_since(self))
    }

    /// This moment as an [`Instant`] (exact to the pairing of the two clocks' first readings,
    /// a few tens of nanoseconds).
    pub fn instant(self) -> Instant {
        let (at, ns) = origin();
        if self.0 >= ns {
            at + Duration::from_nanos(self.0 - ns)
        } else {
            at.checked_sub(Duration::from_nanos(ns - self.0))
                .unwrap_or(at)
        }
    }
}

/// One `Instant` and the `Stamp` read right after it, taken once per process.
fn origin() -> (Instant, u64) {
    static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();
    *ORIGIN.get_or_init(|| (Instant::now(), crate::sys::monotonic_ns()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_agree_with_instants() {
        let (i0, s0) = (Instant::now(), Stamp::now());
        std::thread::sleep(Duration::from_millis(20));
        let (s1, i1) = (Stamp::now(), Instant::now());
        let ns = s1.nanos_since(s0);
        assert!(ns >= 20_000_000, "{ns}");
        assert!(Duration::from_nanos(ns) <= i1 - i0, "{ns} vs {:?}", i1 - i0);
        assert_eq!(s0.nanos_since(s1), 0, "saturates");
        // As instants: within the readings' spacing of the Instants read beside them.
        let (a, b) = (s0.instant(), s1.instant());
        assert!(
            a >= i0 - Duration::from_millis(1) && a <= i1,
            "{a:?} {i0:?}"
        );
        assert!(
            b >= i0 && b <= i1 + Duration::from_millis(1),
            "{b:?} {i1:?}"
        );
        assert_eq!(b - a, Duration::from_nanos(ns));
        assert!(s0.elapsed() >= Duration::from_millis(20));
    }
}
