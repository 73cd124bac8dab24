//! JSON strings written straight into a body buffer ([`write_str`]), for handlers that write
//! their JSON by hand into [`Response::body_writer`](crate::Response::body_writer) — the
//! `/json` endpoint does: an object with one string member, serialised per request.
//! [`Response::json`](crate::Response::json) serialises any `serde` value instead.
//!
//! Escapes exactly what RFC 8259 §7 requires — `"`, `\` and the control bytes below 0x20
//! (`\b \f \n \r \t` by name, the rest as `\u00XX`) — and copies every other byte, sixteen
//! at a time where no byte needs escaping, a fewer-than-sixteen-byte rest as two overlapping
//! words. The output equals `serde_json`'s for every string
//! (a unit test compares them).

use crate::proto::simd;

/// Appends `s` as a JSON string, quotes included.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut done = 0;
    let mut i = 0;
    loop {
        i = clean_until(b, i);
        crate::service::response::extend_small(out, &b[done..i]);
        let Some(&c) = b.get(i) else {
            break;
        };
        escape(out, c);
        i += 1;
        done = i;
    }
    out.push(b'"');
}

/// The index of the first byte from `i` that needs escaping, or `b.len()`: sixteen bytes per
/// step; a rest of eight to fifteen bytes as two overlapping words; a shorter one byte by byte.
#[inline(always)]
fn clean_until(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i..i + 16) {
        let m = simd::json_stops(c.try_into().expect("sixteen bytes"));
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    let n = b.len();
    if n - i >= 8 {
        // The bytes below the lowest flagged one are exact in each word (a borrow only runs
        // upwards from a flagged byte), and the second word's lanes that overlap the first
        // are clean, so its lowest flag is the first byte to escape after them.
        let lo = word_stops(b[i..i + 8].try_into().expect("eight bytes"));
        if lo != 0 {
            return i + (lo.trailing_zeros() / 8) as usize;
        }
        let hi = word_stops(b[n - 8..].try_into().expect("eight bytes"));
        if hi != 0 {
            return n - 8 + (hi.trailing_zeros() / 8) as usize;
        }
        return n;
    }
    while i < n && !needs_escape(b[i]) {
        i += 1;
    }
    i
}

/// The high bit of each byte of `w` that needs escaping (a control byte, `"` or `\`); exact
/// up to and including the lowest flagged byte.
#[inline(always)]
fn word_stops(w: [u8; 8]) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let v = u64::from_le_bytes(w);
    let below_space = v.wrapping_sub(LO * 0x20) & !v & HI;
    let quote = v ^ (LO * u64::from(b'"'));
    let backslash = v ^ (LO * u64::from(b'\\'));
    below_space
        | (quote.wrapping_sub(LO) & !quote & HI)
        | (backslash.wrapping_sub(LO) & !backslash & HI)
}

#[inline(always)]
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

#[cold]
fn escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(c >> 4) as usize],
            HEX[(c & 15) as usize],
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_as_serde_json() {
        let mut cases: Vec<String> = vec![
            String::new(),
            "Hello, World!".into(),
            "a \"quoted\" \\ back\\slash".into(),
            "line\nbreak\ttab\r\u{8}\u{c}\u{1}\u{1f}\u{7f}".into(),
            "naïve café – ünïcödé ✓ 𝄞".into(),
            "x".repeat(100),
        ];
        // Every byte below 0x80 at every position of strings of every length up to 40 (each
        // side of a sixteen-byte step, each word of a short rest), alone and after another
        // byte that needs escaping; and a multi-byte character at every position.
        for len in 1..=40 {
            for at in 0..len {
                for c in 0u8..0x80 {
                    let mut s = vec![b'a'; len];
                    s[at] = c;
                    cases.push(String::from_utf8(s.clone()).expect("ASCII"));
                    if at + 1 < len {
                        s[at + 1] = b'"';
                        cases.push(String::from_utf8(s).expect("ASCII"));
                    }
                }
                let mut s = "a".repeat(len);
                s.insert(at, 'é');
                cases.push(s);
            }
        }
        for s in cases {
            let mut out = b"prefix".to_vec();
            write_str(&mut out, &s);
            let want = serde_json::to_string(&s).expect("a string serialises");
            assert_eq!(&out[6..], want.as_bytes(), "{s:?}");
        }
    }
}
