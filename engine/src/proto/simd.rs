//! Sixteen bytes at a time, for the request head and JSON strings: which bytes leave the common case of a token, a
//! path or a field value. SSE2 (baseline on every x86_64 CPU, so no run-time detection); other
//! targets answer from the grammar's class table, byte by byte, with the same meaning.
//!
//! The answers are masks with bit `k` set when byte `k` needs a closer look. They are
//! conservative by design: a set bit only sends the caller to its exact class check, so a
//! fast set may be smaller than the class it stands for, never larger.

/// Which fast set [`outside`] tests: ALPHA / DIGIT and a few extra bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Set {
    /// ALPHA, DIGIT, `-` (methods and field names).
    Token,
    /// ALPHA, DIGIT, `/`, `-`, `.`, `_` (paths).
    Path,
    /// ALPHA, DIGIT, `=`, `&`, `-`, `.`, `_`, `/` (queries).
    Query,
    /// ALPHA, DIGIT, `-`, `.` (host names).
    Host,
}

impl Set {
    /// The extra bytes of the set, besides ALPHA and DIGIT.
    #[inline(always)]
    const fn extras(self) -> &'static [u8] {
        match self {
            Set::Token => b"-",
            Set::Path => b"/-._",
            Set::Query => b"=&-._/",
            Set::Host => b"-.",
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
mod imp {
    use super::Set;
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };

    // Every intrinsic below is an SSE2 instruction on registers, or an unaligned load from a
    // `&[u8; 16]`; the `cfg` above guarantees SSE2 is enabled for the whole build.

    #[inline(always)]
    fn splat(b: u8) -> __m128i {
        // SAFETY: SSE2 is enabled (the module's `cfg`); no memory is touched.
        unsafe { _mm_set1_epi8(b as i8) }
    }

    /// Lanes where `x <= n`, unsigned.
    #[inline(always)]
    fn at_most(x: __m128i, n: u8) -> __m128i {
        // SAFETY: SSE2 is enabled (the module's `cfg`); no memory is touched.
        unsafe { _mm_cmpeq_epi8(_mm_min_epu8(x, splat(n)), x) }
    }

    #[inline(always)]
    pub(crate) fn outside(c: &[u8; 16], set: Set) -> u32 {
        // SAFETY: SSE2 is enabled (the module's `cfg`); `c` is sixteen readable bytes and
        // `_mm_loadu_si128` has no alignment requirement.
        unsafe {
            let x = _mm_loadu_si128(c.as_ptr().cast());
            // `x | 0x20` maps exactly the two cases of a letter onto the lower one; nothing
            // else lands in `a..=z`.
            let letter = at_most(_mm_sub_epi8(_mm_or_si128(x, splat(0x20)), splat(b'a')), 25);
            let digit = at_most(_mm_sub_epi8(x, splat(b'0')), 9);
            let mut ok = _mm_or_si128(letter, digit);
            for &e in set.extras() {
                ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, splat(e)));
            }
            !(_mm_movemask_epi8(ok) as u32) & 0xffff
        }
    }

    #[inline(always)]
    pub(crate) fn json_stops(c: &[u8; 16]) -> u32 {
        // SAFETY: as in `outside`.
        unsafe {
            let x = _mm_loadu_si128(c.as_ptr().cast());
            let ctl = at_most(x, 0x1f);
            let quote = _mm_cmpeq_epi8(x, splat(b'"'));
            let backslash = _mm_cmpeq_epi8(x, splat(b'\\'));
            _mm_movemask_epi8(_mm_or_si128(ctl, _mm_or_si128(quote, backslash))) as u32
        }
    }

    #[inline(always)]
    pub(crate) fn value_stops(c: &[u8; 16]) -> u32 {
        // SAFETY: as in `outside`.
        unsafe {
            let x = _mm_loadu_si128(c.as_ptr().cast());
            let ctl = at_most(x, 0x1f);
            let del = _mm_cmpeq_epi8(x, splat(0x7f));
            _mm_movemask_epi8(_mm_or_si128(ctl, del)) as u32
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod imp {
    use super::Set;

    #[inline]
    pub(crate) fn outside(c: &[u8; 16], set: Set) -> u32 {
        let mut m = 0;
        for (k, &b) in c.iter().enumerate() {
            if !(b.is_ascii_alphanumeric() || set.extras().contains(&b)) {
                m |= 1 << k;
            }
        }
        m
    }

    #[inline]
    pub(crate) fn json_stops(c: &[u8; 16]) -> u32 {
        let mut m = 0;
        for (k, &b) in c.iter().enumerate() {
            if b < 0x20 || b == b'"' || b == b'\\' {
                m |= 1 << k;
            }
        }
        m
    }

    #[inline]
    pub(crate) fn value_stops(c: &[u8; 16]) -> u32 {
        let mut m = 0;
        for (k, &b) in c.iter().enumerate() {
            if b < 0x20 || b == 0x7f {
                m |= 1 << k;
            }
        }
        m
    }
}

/// Bit `k` set: byte `k` of `c` is not in `set`'s fast set.
#[inline(always)]
pub(crate) fn outside(c: &[u8; 16], set: Set) -> u32 {
    imp::outside(c, set)
}

/// Bit `k` set: byte `k` of `c` is a control byte (below 0x20: the CR that ends a line, HTAB,
/// anything refused) or DEL.
#[inline(always)]
pub(crate) fn value_stops(c: &[u8; 16]) -> u32 {
    imp::value_stops(c)
}

/// Bit `k` set: byte `k` of `c` must be escaped in a JSON string (a control byte, `"`, `\\`).
#[inline(always)]
pub(crate) fn json_stops(c: &[u8; 16]) -> u32 {
    imp::json_stops(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_outside(c: &[u8; 16], set: Set) -> u32 {
        let mut m = 0;
        for (k, &b) in c.iter().enumerate() {
            if !(b.is_ascii_alphanumeric() || set.extras().contains(&b)) {
                m |= 1 << k;
            }
        }
        m
    }

    #[test]
    fn every_byte_in_every_lane() {
        for set in [Set::Token, Set::Path, Set::Query, Set::Host] {
            for b in 0..=255u8 {
                for lane in 0..16 {
                    let mut c = *b"abcdefghij012345";
                    c[lane] = b;
                    assert_eq!(
                        outside(&c, set),
                        reference_outside(&c, set),
                        "{set:?} {b:#x} {lane}"
                    );
                    let mut v = *b"text/plain, */*;";
                    v[lane] = b;
                    let want = if b < 0x20 || b == 0x7f { 1 << lane } else { 0 };
                    assert_eq!(value_stops(&v), want, "{b:#x} {lane}");
                    let want = if b < 0x20 || b == b'"' || b == b'\\' {
                        1 << lane
                    } else {
                        0
                    };
                    assert_eq!(json_stops(&v), want, "{b:#x} {lane}");
                }
            }
        }
    }
}
