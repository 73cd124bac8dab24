//! C ABI for strela (`libstrela.so`, `libstrela.a`, `strela.h`).
//!
//! This crate owns the boundary between C programs and the engine. It is grown by the C ABI issue;
//! today it exposes only the version, so the library and its header exist from the start.

use std::ffi::c_char;

/// Numeric ABI version of this library; bumped on every incompatible change.
pub const STRELA_ABI_VERSION: u32 = 0;

/// The library version as a static NUL-terminated string (e.g. "0.1.0"). Never free it.
#[no_mangle]
pub extern "C" fn strela_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: strela_version returns a pointer to a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(strela_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
