//! JSON strings written straight into a body buffer ([`write_str`]), for handlers that write
//! their JSON by hand into [`Response::body_writer`](crate::Response::body_writer) — the
//! `/json` endpoint does: an object with one string member, serialised per request.
//! [`Response::json`](crate::Response::json) serialises any `serde` value instead.
//!
//! Escapes exactly what RFC 8259 §7 requires — `"`, `\` and the control bytes below 0x20
//! (`\b \f \n \r \t` by name, the rest as `\u00XX`) — and copies every other byte, sixteen
//! at a time where no byte needs escaping. The output equals `serde_json`'s for every string
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
        // Find the next byte to escape: sixteen bytes per step, then one by one.
        while let Some(c) = b.get(i..i + 16) {
            let m = simd::json_stops(c.try_into().expect("sixteen bytes"));
            if m != 0 {
                i += m.trailing_zeros() as usize;
                break;
            }
            i += 16;
        }
        if b.len() - i < 16 {
            while i < b.len() && !needs_escape(b[i]) {
                i += 1;
            }
        }
        out.extend_from_slice(&b[done..i]);
        let Some(&c) = b.get(i) else {
            break;
        };
        escape(out, c);
        i += 1;
        done = i;
    }
    out.push(b'"');
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
        // Every byte below 0x80 at every position of a 40-byte string (both sides of a
        // sixteen-byte step).
        for c in 0u8..0x80 {
            for at in [0, 1, 15, 16, 17, 31, 32, 39] {
                let mut s = vec![b'a'; 40];
                s[at] = c;
                cases.push(String::from_utf8(s).expect("ASCII"));
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
