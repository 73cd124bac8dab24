//! Lock helpers shared by the layers above `proto` (which takes no locks).
//!
//! Nothing strela guards with a mutex can be left half-updated by a panic (each critical
//! section is one assignment, one push or one copy), so a poisoned lock is taken as it is.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning (see the module docs for why that is sound here).
#[inline]
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
