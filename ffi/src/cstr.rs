//! Byte views (`strela_str`) and reading C strings: NUL-terminated, UTF-8 or ASCII as each argument needs.

use super::*;

/// A borrowed byte string: `ptr` to `len` bytes, not NUL-terminated. `{NULL, 0}` means absent.
/// Views handed to a handler are valid only until the handler returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct strela_str {
    /// First byte (NULL when absent).
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

impl strela_str {
    pub(crate) const ABSENT: strela_str = strela_str {
        ptr: std::ptr::null(),
        len: 0,
    };

    #[inline]
    pub(crate) fn of(b: &[u8]) -> strela_str {
        strela_str {
            ptr: b.as_ptr().cast(),
            len: b.len(),
        }
    }

    /// The bytes, or `None` for `{NULL, _}`.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    pub(crate) unsafe fn bytes<'a>(self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            None
        } else {
            // SAFETY: the caller guarantees ptr..ptr+len is readable for 'a.
            Some(unsafe { std::slice::from_raw_parts(self.ptr.cast(), self.len) })
        }
    }
}

/// A NUL-terminated C string as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, strela_result> {
    if p.is_null() {
        return Err(fail(STRELA_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| fail(STRELA_ERR_INVALID, format!("{what} is not UTF-8")))
}

/// A route's method and pattern from two NUL-terminated C strings (both UTF-8).
///
/// # Safety
/// Each pointer is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn route_args<'a>(
    method: *const c_char,
    pattern: *const c_char,
) -> Result<(&'a str, &'a str), strela_result> {
    // SAFETY: per this function's contract.
    unsafe { Ok((c_str(method, "method")?, c_str(pattern, "pattern")?)) }
}

/// A header line's name (UTF-8) and value (bytes) from two NUL-terminated C strings.
///
/// # Safety
/// Each pointer is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn header_args<'a>(
    name: *const c_char,
    value: *const c_char,
) -> Result<(&'a str, &'a [u8]), strela_result> {
    // SAFETY: per this function's contract.
    let name = unsafe { c_str(name, "name") }?;
    if value.is_null() {
        return Err(fail(STRELA_ERR_NULL, "value is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    Ok((name, unsafe { CStr::from_ptr(value) }.to_bytes()))
}

/// A NUL-terminated ASCII name (header or parameter) as `&str`, in one pass: the hot-path twin of
/// [`c_str`] for accessors (no separate strlen and UTF-8 validation). `None` for NULL or
/// non-ASCII, which can never match a header or parameter name anyway.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
#[inline]
pub(crate) unsafe fn c_name<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    let mut n = 0;
    loop {
        // SAFETY: the string is NUL-terminated, so every byte up to and including the NUL is
        // readable, and the loop stops at the NUL.
        let b = unsafe { *p.add(n) } as u8;
        if b == 0 {
            break;
        }
        if b >= 0x80 {
            return None;
        }
        n += 1;
    }
    // SAFETY: p..p+n was just read; it lives as long as the caller's string.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) };
    // SAFETY: every byte is < 0x80, so the bytes are ASCII and therefore valid UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}
