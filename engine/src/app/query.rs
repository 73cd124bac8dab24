//! Query-string lookup with percent-decoding on demand (`application/x-www-form-urlencoded`
//! rules: `&` separates pairs, `=` splits key and value, `+` is a space, `%XX` an octet).

use std::borrow::Cow;

/// The first value for `name` in `query`, decoded only if it contains `%` or `+`.
pub fn find<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k).as_deref() == Some(name) {
            return decode(v);
        }
    }
    None
}

/// Decodes one component; borrowed when there is nothing to decode; `None` on a bad escape or
/// invalid UTF-8.
pub fn decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_decoding() {
        let q = "a=1&b=x%20y&c=p+q&d&e=%E2%9C%93&bad=%zz&k%31=v";
        assert!(
            matches!(find(q, "a"), Some(Cow::Borrowed("1"))),
            "no escapes: borrowed"
        );
        assert_eq!(find(q, "b").as_deref(), Some("x y"));
        assert_eq!(find(q, "c").as_deref(), Some("p q"));
        assert_eq!(find(q, "d").as_deref(), Some(""));
        assert_eq!(find(q, "e").as_deref(), Some("✓"));
        assert_eq!(find(q, "bad"), None);
        assert_eq!(find(q, "k1").as_deref(), Some("v"), "keys are decoded too");
        assert_eq!(find(q, "zzz"), None);
        assert_eq!(find("", "a"), None);
        assert_eq!(decode("%"), None);
        assert_eq!(decode("%ff").as_deref(), None, "not UTF-8");
    }
}
