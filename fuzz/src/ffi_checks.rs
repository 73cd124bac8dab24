//! Properties of the C ABI on arbitrary input: `strela_parse_request` agrees with the engine's
//! parser and only ever returns views inside the caller's buffer; router lookups through the C
//! ABI never fail uncleanly and return parameters that are views into the looked-up path.
//! The strela-ffi source is compiled in (`#[path]`), so the checked code is the library's.

#[allow(dead_code, unused_imports, missing_docs)]
#[path = "../../ffi/src/lib.rs"]
pub mod ffi;

use ffi::{strela_header, strela_parsed_request, strela_result, strela_route_match, strela_str};
use std::ffi::CString;
use strela::proto::head::{parse_head, HeaderScratch, Parsed};

fn inside(v: strela_str, buf: &[u8]) -> bool {
    if v.ptr.is_null() {
        return v.len == 0;
    }
    let start = buf.as_ptr() as usize;
    let p = v.ptr as usize;
    p >= start && p + v.len <= start + buf.len()
}

/// `data` through `strela_parse_request`, checked against the engine's own parse.
pub fn parse(data: &[u8]) {
    const CAP: usize = 32;
    let mut out = std::mem::MaybeUninit::<strela_parsed_request>::uninit();
    let mut headers = [strela_header {
        name: strela_str {
            ptr: std::ptr::null(),
            len: 0,
        },
        value: strela_str {
            ptr: std::ptr::null(),
            len: 0,
        },
    }; CAP];
    // SAFETY: data is readable for its length, out is writable, headers has CAP elements.
    let r = unsafe {
        ffi::strela_parse_request(
            data.as_ptr().cast(),
            data.len(),
            out.as_mut_ptr(),
            headers.as_mut_ptr(),
            CAP,
        )
    };
    // SAFETY: strela_parse_request initialises *out on every path past its NULL checks, and
    // none of its pointers is NULL here.
    let out = unsafe { out.assume_init() };
    let limits = ffi::standalone_limits(CAP);
    let mut scratch = Box::<HeaderScratch>::default();
    let want = parse_head(data, &mut scratch, &limits);
    match (r, want) {
        (strela_result::STRELA_OK, Ok(Parsed::Complete(h))) => {
            assert_eq!(out.head_len, h.head_len(), "head length");
            assert!(out.header_count <= CAP);
            for v in [out.method, out.path, out.query] {
                assert!(inside(v, data), "a view outside the buffer");
            }
            for hd in &headers[..out.header_count] {
                assert!(inside(hd.name, data) && inside(hd.value, data));
            }
        }
        (strela_result::STRELA_PARTIAL, Ok(Parsed::Partial(_))) => {}
        (strela_result::STRELA_ERR_PARSE, Err(e)) => {
            assert_eq!(out.error_status, e.status(), "error status")
        }
        (r, w) => panic!("C ABI said {r:?}, the engine {w:?}"),
    }
}

/// Arbitrary method and path looked up through the C ABI router.
pub fn router_lookup(data: &[u8]) {
    let split = data
        .first()
        .map_or(0, |&b| b as usize % 8)
        .min(data.len().saturating_sub(1));
    let (method, path) = if data.is_empty() {
        (&b""[..], &b""[..])
    } else {
        data[1..].split_at(split.min(data.len() - 1))
    };
    let r = ffi::strela_router_new();
    for (i, (m, p)) in [
        ("GET", "/users/{id}"),
        ("POST", "/users"),
        ("GET", "/files/{*path}"),
        ("GET", "/a/b/c"),
        ("PUT", "/users/{id}/keys/{key}"),
    ]
    .iter()
    .enumerate()
    {
        let (m, p) = (CString::new(*m).unwrap(), CString::new(*p).unwrap());
        // SAFETY: r is live; both strings are NUL-terminated.
        let rc = unsafe { ffi::strela_router_insert(r, m.as_ptr(), p.as_ptr(), i) };
        assert_eq!(rc, strela_result::STRELA_OK);
    }
    let mut out = std::mem::MaybeUninit::<strela_route_match>::uninit();
    let v = |b: &[u8]| strela_str {
        ptr: b.as_ptr().cast(),
        len: b.len(),
    };
    // SAFETY: r is live, the views are readable, out is writable.
    let rc = unsafe { ffi::strela_router_lookup(r, v(method), v(path), out.as_mut_ptr()) };
    if matches!(
        rc,
        strela_result::STRELA_OK | strela_result::STRELA_ERR_NOT_FOUND
    ) {
        // SAFETY: lookup initialises *out once its arguments passed their checks.
        let out = unsafe { out.assume_init() };
        if rc == strela_result::STRELA_OK {
            assert_eq!(out.status, 200);
            for p in &out.params[..out.param_count] {
                assert!(inside(p.value, path), "a parameter outside the path");
            }
        } else {
            assert_ne!(out.status, 200);
        }
    } else {
        assert_eq!(
            rc,
            strela_result::STRELA_ERR_INVALID,
            "only non-UTF-8 input is refused"
        );
    }
    // SAFETY: r came from strela_router_new.
    unsafe { ffi::strela_router_free(r) };
}
