//! The state every worker of one server shares: the stop and readiness flags, the current
//! limits (copy-on-write), the wakers, and each worker's published figures. Read rarely, never
//! on the request path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::ops::Slot;
use crate::proto::limits::Limits;
use crate::sys;

/// State shared by all workers of one server: read rarely, never on the request path.
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    /// Close everything now instead of draining.
    pub(crate) abort: AtomicBool,
    pub(crate) drain_timeout: std::time::Duration,
    pub(crate) drain_idle_grace: std::time::Duration,
    pub(crate) wakers: Vec<sys::Waker>,
    /// The current limits (normalized); replaced as a whole by `set_limits`, and picked up by
    /// each worker at its next loop turn when `limits_gen` has moved.
    pub(crate) limits: Mutex<Arc<Limits>>,
    pub(crate) limits_gen: AtomicU64,
    /// Marked not ready (e.g. a shutdown delay before draining): `/readyz` answers 503.
    pub(crate) unready: AtomicBool,
    /// A graceful shutdown ([`Stopper::shutdown`](crate::Stopper::shutdown)) has begun.
    pub(crate) shutting_down: AtomicBool,
    /// How long [`Stopper::shutdown`](crate::Stopper::shutdown) stays unready before draining, in milliseconds.
    pub(crate) shutdown_delay_ms: AtomicU64,
    /// Each worker's published figures.
    pub(crate) slots: Arc<[Slot]>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("stop", &self.stop)
            .field("workers", &self.wakers.len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The current limits.
    pub(crate) fn limits(&self) -> Arc<Limits> {
        crate::sync::lock(&self.limits).clone()
    }

    /// Swaps in new limits (copy-on-write); workers pick them up at their next loop turn. The
    /// buffer pool's sizes stay as they were at start.
    pub(crate) fn set_limits(&self, limits: &Limits) {
        let old = self.limits();
        let mut new = limits.normalized();
        new.buffer_size = old.buffer_size;
        new.pooled_buffers = old.pooled_buffers;
        *crate::sync::lock(&self.limits) = Arc::new(new);
        self.limits_gen.fetch_add(1, Ordering::Release);
        for w in &self.wakers {
            w.wake();
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        !self.stop.load(Ordering::Acquire) && !self.unready.load(Ordering::Acquire)
    }

    pub(crate) fn stop_now(&self) {
        self.abort.store(true, Ordering::Release);
        self.stop();
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        for w in &self.wakers {
            w.wake();
        }
    }
}
