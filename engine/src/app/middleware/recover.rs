//! [`Recover`]: a panicking handler becomes a 500 on a connection that stays open, and the
//! panic is logged once with its request line (a process-wide hook silences the default
//! message for panics caught here).

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use super::Middleware;
use crate::service::handler::Handler;
use crate::service::request::Request;
use crate::service::response::Response;

thread_local! {
    static IN_RECOVER: Cell<bool> = const { Cell::new(false) };
    static PANIC_MSG: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Turns a panicking handler into a `500 Internal Server Error`; the connection and the worker
/// carry on. The panic is logged once (the default panic hook is silenced inside `Recover`, and
/// `Recover` logs the message with the request line to stderr).
///
/// Without `Recover` a panic is still contained by the core, which answers 500 and closes the
/// connection.
#[derive(Debug, Default, Clone)]
pub struct Recover {
    panics: Arc<AtomicU64>,
}

impl Recover {
    /// A recover middleware; installs (once per process) a panic hook that stays quiet for
    /// panics caught here and defers to the previous hook for all others.
    pub fn new() -> Self {
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if IN_RECOVER.with(Cell::get) {
                    let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                        (*s).to_string()
                    } else if let Some(s) = info.payload().downcast_ref::<String>() {
                        s.clone()
                    } else {
                        "non-string panic payload".to_string()
                    };
                    let at = info
                        .location()
                        .map(|l| format!(" at {l}"))
                        .unwrap_or_default();
                    PANIC_MSG.with(|m| *m.borrow_mut() = Some(format!("{msg}{at}")));
                } else {
                    prev(info);
                }
            }));
        });
        Recover::default()
    }

    /// Panics caught so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

impl Middleware for Recover {
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, next: &dyn Handler) {
        IN_RECOVER.with(|f| f.set(true));
        let r = catch_unwind(AssertUnwindSafe(|| next.call(req, res)));
        IN_RECOVER.with(|f| f.set(false));
        if r.is_err() {
            self.panics.fetch_add(1, Ordering::Relaxed);
            let msg = PANIC_MSG
                .with(|m| m.borrow_mut().take())
                .unwrap_or_default();
            eprintln!(
                "strela: handler panicked on {} {}: {msg}",
                req.method(),
                req.path()
            );
            res.reset();
            res.status(500)
                .content_type("text/plain")
                .body_static(b"Internal Server Error\n");
        }
    }
}
