//! C ABI for strela (`libstrela.so`, `libstrela.a`, `strela.h`).
//!
//! This crate owns the boundary between C programs and the engine, both ways: C creates,
//! configures, routes, runs and stops a server (and uses the parser and router on their own);
//! the engine calls C handlers. Every exported function checks its pointers, catches panics and
//! reports failure as a [`strela_result`] plus a thread-local message ([`strela_last_error`]);
//! nothing unwinds into C. Request and response handles passed to a C handler are the engine's
//! own `Request` and `Response`, cast — no copy, no allocation per call.
//!
//! `include/strela.h` is generated from this crate by cbindgen (`ffi/cbindgen.toml`); the doc
//! comments here are the header's documentation, including who owns every pointer.
#![allow(non_camel_case_types)]
#![deny(clippy::undocumented_unsafe_blocks)]
// The C ABI is split by concept, one file each; every module sees the others' items through
// this root (`use super::*`), and the exported items are re-exported here.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use engine::proto::head::{parse_head, HeaderScratch, Parsed};
use engine::service::request::head_view;
use engine::{Deferred, Reply};
use engine::{Handler, Limits, Request, RequestMeta, Response, ServerHandle, Stopper};

/// Numeric ABI version of this library; bumped on every incompatible change.
pub const STRELA_ABI_VERSION: u32 = 1;

macro_rules! with_res {
    ($res:expr, |$r:ident| $body:expr) => {
        guard(|| {
            // SAFETY: the caller's contract: NULL or the response of a running handler.
            match unsafe { response($res) } {
                Some($r) => $body,
                None => fail(STRELA_ERR_NULL, "res is NULL"),
            }
        })
    };
}

#[path = "error.rs"]
mod error;
pub use error::*;
use strela_result::*;
#[path = "cstr.rs"]
mod cstr;
pub use cstr::*;
#[path = "config.rs"]
mod config;
pub use config::*;
#[path = "handler.rs"]
mod handler;
pub use handler::*;
#[path = "request.rs"]
mod request;
pub use request::*;
#[path = "response.rs"]
mod response;
pub use response::*;
#[path = "deferred.rs"]
mod deferred;
pub use deferred::*;
#[path = "body.rs"]
mod body;
pub use body::*;
#[path = "server.rs"]
mod server;
pub use server::*;
#[path = "parser.rs"]
mod parser;
pub use parser::*;
#[path = "router.rs"]
mod router;
pub use router::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: strela_version returns a pointer to a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(strela_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(strela_abi_version(), STRELA_ABI_VERSION);
    }

    #[test]
    fn null_pointers_are_errors_with_a_message() {
        // SAFETY: NULL is allowed by every function's contract.
        unsafe {
            assert_eq!(
                strela_config_set_workers(std::ptr::null_mut(), 2),
                STRELA_ERR_NULL
            );
            let msg = CStr::from_ptr(strela_last_error()).to_str().unwrap();
            assert_eq!(msg, "cfg is NULL");
            assert!(strela_request_path(std::ptr::null()).ptr.is_null());
            assert_eq!(
                strela_response_status(std::ptr::null_mut(), 200),
                STRELA_ERR_NULL
            );
            let s = strela_server_new(std::ptr::null());
            assert!(!s.is_null(), "NULL config means defaults");
            assert_eq!(
                strela_server_route(
                    s,
                    c"GET".as_ptr(),
                    c"/".as_ptr(),
                    None,
                    std::ptr::null_mut()
                ),
                STRELA_ERR_NULL
            );
            strela_server_free(s);
            strela_server_free(std::ptr::null_mut());
            strela_config_free(std::ptr::null_mut());
            strela_router_free(std::ptr::null_mut());
            strela_deferred_free(std::ptr::null_mut());
        }
    }
}
