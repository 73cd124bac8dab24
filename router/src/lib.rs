//! strela-router: a method-aware radix-tree router built on [matchit].
//!
//! This crate owns URL-to-value routing and nothing else: no I/O and no HTTP types, so it can be
//! tested, benchmarked and fuzzed on its own. Methods are plain tokens (`"GET"`, `"POST"`, any
//! extension method), paths are `&str`.
//!
//! # What matches
//! Patterns are matchit's: static segments (`/users`), named parameters that match one segment
//! (`/users/{id}`, also inside a segment: `/files/{name}.json`), and a catch-all at the end
//! (`/static/{*path}`, which matches the rest of the path, slashes included, but not an empty
//! rest). Priority is by specificity, not by insertion order: a static segment beats a parameter,
//! which beats a catch-all; `/users/new` and `/users/{id}` coexist and `/users/new` wins.
//! Matching is exact and case-sensitive; no percent-decoding is done (params are raw views).
//!
//! # What conflicts
//! Two patterns conflict when matchit cannot order them (e.g. `/users/{id}` and `/users/{name}`,
//! or two catch-alls at one place): [`Router::insert`] returns [`InsertError`] naming both
//! patterns. The same method on the same pattern twice is an error too. A pattern has at most
//! [`MAX_PARAMS`] parameters. Insert never panics.
//!
//! # What a lookup costs
//! Patterns without parameters are first probed in a table bucketed by length (the path is
//! compared only with static patterns of its exact length); other paths take one radix-tree walk
//! (matchit). Then a scan of the route's
//! methods, each compared as one packed 64-bit word. Parameters are zero-copy `&str` views into the path, held inline for
//! routes with up to 3 parameters, so such lookups allocate nothing; routes with 4–16 parameters
//! allocate one small vector. Misses cost the same walk; the optional redirects (trailing slash,
//! fixed path) allocate the `Location` string, only on that cold path.
//!
//! # Options (httprouter's, see [`Options`])
//! - trailing-slash redirect (on): `/users/` → `/users` (or the reverse) when only the other form
//!   exists; 301 for GET/HEAD, 308 for other methods (308 keeps the method and body).
//! - fixed-path redirect (off): clean `..`, `.` and `//`, then retry case-insensitively.
//! - automatic `OPTIONS` (on): answered from the route's methods, with the `Allow` value ready.
//! - `HEAD` from `GET` (on): a route without its own HEAD value serves HEAD with GET's value.

#![forbid(unsafe_code)]

use std::fmt;

pub use matchit::Params;

/// Most parameters one pattern may declare (matchit itself would panic past 26).
pub const MAX_PARAMS: usize = 16;

/// Router behaviour switches, with httprouter's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Redirect `/x/` ↔ `/x` when only the other form has a route. Default on.
    pub redirect_trailing_slash: bool,
    /// Redirect to the cleaned, case-corrected path when that has a route. Default off.
    pub redirect_fixed_path: bool,
    /// Answer `OPTIONS` for routes without their own OPTIONS value. Default on.
    pub handle_options: bool,
    /// Serve `HEAD` with the `GET` value when the route has no HEAD value. Default on.
    pub head_from_get: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            redirect_trailing_slash: true,
            redirect_fixed_path: false,
            handle_options: true,
            head_from_get: true,
        }
    }
}

/// Why a route could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertError {
    /// The pattern conflicts with one already inserted.
    Conflict {
        /// The pattern being inserted.
        route: String,
        /// The existing pattern it conflicts with.
        with: String,
    },
    /// This method already has a value for this pattern.
    Duplicate {
        /// The method.
        method: String,
        /// The pattern.
        route: String,
    },
    /// The pattern is malformed (bad parameter syntax, catch-all not at the end, no leading `/`,
    /// too many parameters) or the method is not a token.
    Invalid {
        /// The pattern.
        route: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Conflict { route, with } => {
                write!(f, "route `{route}` conflicts with existing route `{with}`")
            }
            InsertError::Duplicate { method, route } => {
                write!(f, "route {method} `{route}` is already defined")
            }
            InsertError::Invalid { route, reason } => {
                write!(f, "invalid route `{route}`: {reason}")
            }
        }
    }
}

impl std::error::Error for InsertError {}

/// A method token packed for comparison: tokens of up to 8 bytes (every standard method) are
/// one zero-padded `u64` (tokens never contain NUL, so the packing is unique); longer ones are
/// marked and compared as strings. A caller that already knows the method (a parsed request
/// head) can keep the keys of the usual ones as constants ([`MethodKey::of_const`]) and look
/// up with [`Router::lookup_static_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodKey(u64);

const LONG_METHOD: u64 = u64::MAX;

impl MethodKey {
    /// The key of method token `m`.
    #[inline]
    pub fn of(m: &str) -> MethodKey {
        let b = m.as_bytes();
        if b.len() > 8 {
            return MethodKey(LONG_METHOD);
        }
        let k = pack_le(b);
        MethodKey(k)
    }

    /// [`MethodKey::of`] at compile time.
    pub const fn of_const(m: &str) -> MethodKey {
        let b = m.as_bytes();
        if b.len() > 8 {
            return MethodKey(LONG_METHOD);
        }
        let (mut k, mut i) = (0u64, 0);
        while i < b.len() {
            k |= (b[i] as u64) << (8 * i);
            i += 1;
        }
        MethodKey(k)
    }
}

/// Patterns without parameters, bucketed by length: a request path is compared only with the
/// static patterns of exactly its length (usually zero to three), word-wise. Cheaper than
/// hashing the path, and no hash-flooding surface: the table never grows at request time.
#[derive(Default)]
struct Statics {
    /// Per length: the static patterns of that length.
    by_len: Vec<Vec<StaticEntry>>,
}

/// (first 8 bytes as a word, last 8 bytes as a word, the whole pattern, endpoint index).
/// For patterns of at most 16 bytes the two words cover every byte: equal words are an equal
/// path, with no byte-string compare.
type StaticEntry = (u64, u64, Box<[u8]>, usize);

/// The first and the last 8 bytes of `b` as two words (both the zero-padded whole when
/// shorter than 8): one load each for paths of 8 bytes or more.
#[inline(always)]
fn end_words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        let head = u64::from_le_bytes(b[..8].try_into().expect("eight bytes"));
        let tail = u64::from_le_bytes(b[n - 8..].try_into().expect("eight bytes"));
        (head, tail)
    } else {
        let w = pack_le(b);
        (w, w)
    }
}

/// Up to 8 bytes as a zero-padded little-endian word, assembled from whole loads. Not a
/// variable-length copy into a stack buffer: that copy (a `memcpy` call) followed by one 8-byte
/// load stalls on store forwarding, which was a measurable share of routing time per request.
#[inline(always)]
fn pack_le(b: &[u8]) -> u64 {
    let n = b.len();
    let byte = |i: usize| u64::from(b[i]);
    match n {
        0 => 0,
        1 => byte(0),
        2 => byte(0) | byte(1) << 8,
        3 => byte(0) | byte(1) << 8 | byte(2) << 16,
        4..=7 => {
            let lo = u64::from(u32::from_le_bytes(b[..4].try_into().expect("four bytes")));
            let hi = u64::from(u32::from_le_bytes(
                b[n - 4..].try_into().expect("four bytes"),
            ));
            // The halves overlap when n < 8; overlapping bytes are equal, so OR is exact.
            lo | hi << (8 * (n - 4))
        }
        // One bounds check and one load (eight indexed bytes would be eight checks).
        _ => u64::from_le_bytes(b[..8].try_into().expect("eight bytes")),
    }
}

const STATIC_MAX_LEN: usize = 256;

impl Statics {
    fn insert(&mut self, pattern: &str, idx: usize) {
        let n = pattern.len();
        if n < STATIC_MAX_LEN {
            if self.by_len.len() <= n {
                self.by_len.resize_with(n + 1, Vec::new);
            }
            let (head, tail) = end_words(pattern.as_bytes());
            self.by_len[n].push((head, tail, pattern.as_bytes().into(), idx));
        }
    }

    #[inline(always)]
    fn get(&self, path: &str) -> Option<usize> {
        let bucket = self.by_len.get(path.len())?;
        if bucket.is_empty() {
            return None;
        }
        let b = path.as_bytes();
        let (h, t) = end_words(b);
        bucket
            .iter()
            .find(|(ph, pt, p, _)| *ph == h && *pt == t && (b.len() <= 16 || **p == *b))
            .map(|&(_, _, _, i)| i)
    }
}

struct Endpoint<T> {
    pattern: Box<str>,
    methods: Vec<(MethodKey, Box<str>, T)>,
    /// The `Allow` header value, kept current on every insert.
    allow: Box<str>,
}

/// A method-aware router from (method, path) to values of type `T`.
pub struct Router<T> {
    tree: matchit::Router<usize>,
    /// Patterns without parameters → endpoint: an exact-match probe before the tree walk.
    statics: Statics,
    /// Lower-cased patterns → endpoint, for the fixed-path redirect.
    folded: matchit::Router<usize>,
    endpoints: Vec<Endpoint<T>>,
    options: Options,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self
                    .endpoints
                    .iter()
                    .map(|e| &*e.pattern)
                    .collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .finish()
    }
}

/// A successful lookup.
#[derive(Debug)]
pub struct Found<'r, 'p, T> {
    /// The value inserted for this method and pattern.
    pub value: &'r T,
    /// The pattern that matched, e.g. `/users/{id}`.
    pub pattern: &'r str,
    /// The parameters, as views into the looked-up path.
    pub params: Params<'r, 'p>,
}

/// The outcome of [`Router::lookup`].
#[derive(Debug)]
pub enum Lookup<'r, 'p, T> {
    /// A value for this method and path.
    Found(Found<'r, 'p, T>),
    /// The path matched but not the method; `allow` lists the methods that would.
    MethodNotAllowed {
        /// The `Allow` header value, e.g. `GET, HEAD, OPTIONS`.
        allow: &'r str,
    },
    /// An automatic `OPTIONS` answer for a matched path.
    Options {
        /// The `Allow` header value.
        allow: &'r str,
    },
    /// The path is not routed but a nearby one is: redirect there.
    Redirect {
        /// The path to send the client to (the query is the caller's to append).
        location: String,
        /// 301 for GET and HEAD, 308 for other methods.
        status: u16,
    },
    /// Nothing matches.
    NotFound,
}

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2): the bytes allowed in method names and header
/// field names. Shared with the engine's header checks.
pub const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_token(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(is_tchar)
}

impl<T> Router<T> {
    /// An empty router with default options.
    pub fn new() -> Self {
        Router {
            tree: matchit::Router::new(),
            statics: Statics::default(),
            folded: matchit::Router::new(),
            endpoints: Vec::new(),
            options: Options::default(),
        }
    }

    /// Replaces the options.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
        for i in 0..self.endpoints.len() {
            self.refresh_allow(i);
        }
    }

    /// The options in force.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Number of distinct patterns.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no route was inserted.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Inserts `value` for `method` (any token, case-sensitive) and `pattern`.
    pub fn insert(&mut self, method: &str, pattern: &str, value: T) -> Result<(), InsertError> {
        let invalid = |reason: &str| InsertError::Invalid {
            route: pattern.to_string(),
            reason: reason.to_string(),
        };
        if !is_token(method) {
            return Err(invalid("the method is not a token"));
        }
        if !pattern.starts_with('/') {
            return Err(invalid("patterns start with `/`"));
        }
        if pattern.matches('{').count() > MAX_PARAMS {
            return Err(invalid("too many parameters"));
        }
        let idx = match self.tree.at(pattern) {
            // The same pattern text is already routed: add the method to it.
            Ok(m) if *self.endpoints[*m.value].pattern == *pattern => *m.value,
            _ => {
                let idx = self.endpoints.len();
                self.tree.insert(pattern, idx).map_err(|e| match e {
                    matchit::InsertError::Conflict { with } => InsertError::Conflict {
                        route: pattern.to_string(),
                        with,
                    },
                    other => invalid(&other.to_string()),
                })?;
                // Case-folded copy for the fixed-path redirect; a fold collision (`/A` and `/a`)
                // only means that redirect picks the first.
                let _ = self.folded.insert(pattern.to_ascii_lowercase(), idx);
                // matchit unescapes `{{`/`}}`; keep brace-free patterns only, which match literally.
                if !pattern.contains(['{', '}']) {
                    self.statics.insert(pattern, idx);
                }
                self.endpoints.push(Endpoint {
                    pattern: pattern.into(),
                    methods: Vec::new(),
                    allow: "".into(),
                });
                idx
            }
        };
        let ep = &mut self.endpoints[idx];
        if ep.methods.iter().any(|(_, m, _)| &**m == method) {
            return Err(InsertError::Duplicate {
                method: method.to_string(),
                route: pattern.to_string(),
            });
        }
        ep.methods
            .push((MethodKey::of(method), method.into(), value));
        self.refresh_allow(idx);
        Ok(())
    }

    fn refresh_allow(&mut self, idx: usize) {
        let ep = &mut self.endpoints[idx];
        let mut names: Vec<&str> = ep.methods.iter().map(|(_, m, _)| &**m).collect();
        if self.options.head_from_get && names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        if self.options.handle_options && !names.contains(&"OPTIONS") {
            names.push("OPTIONS");
        }
        ep.allow = names.join(", ").into();
    }

    /// Every (method, pattern) pair, in insertion order of patterns.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.endpoints
            .iter()
            .flat_map(|e| e.methods.iter().map(move |(_, m, _)| (&**m, &*e.pattern)))
    }

    /// The value for `method` at a pattern without parameters that is exactly `path`, and the
    /// pattern: [`Router::lookup`]'s common case without building a [`Lookup`] (a static hit
    /// has no parameters to carry). `None` when no static pattern is `path` or it has no value
    /// for `method`; [`Router::lookup`] then decides (parameters, `405`, `OPTIONS`, redirect).
    #[inline(always)]
    pub fn lookup_static(&self, method: &str, path: &str) -> Option<(&T, &str)> {
        self.lookup_static_key(MethodKey::of(method), method, path)
    }

    /// [`Router::lookup_static`] with the method's key already made (`key` must be
    /// `MethodKey::of(method)`).
    #[inline(always)]
    pub fn lookup_static_key(
        &self,
        key: MethodKey,
        method: &str,
        path: &str,
    ) -> Option<(&T, &str)> {
        debug_assert_eq!(key, MethodKey::of(method));
        let ep = &self.endpoints[self.statics.get(path)?];
        let value = ep.find_key(key, method, self.options.head_from_get)?;
        Some((value, &ep.pattern))
    }

    /// Looks up `method` and `path`. See the crate docs for order and cost.
    #[inline(always)]
    pub fn lookup<'r, 'p>(&'r self, method: &str, path: &'p str) -> Lookup<'r, 'p, T> {
        if let Some(idx) = self.statics.get(path) {
            return self.resolve(idx, method, Params::new());
        }
        match self.tree.at(path) {
            Ok(m) => self.resolve(*m.value, method, m.params),
            Err(_) => self.miss(method, path),
        }
    }

    #[inline(always)]
    fn resolve<'r, 'p>(
        &'r self,
        idx: usize,
        method: &str,
        params: Params<'r, 'p>,
    ) -> Lookup<'r, 'p, T> {
        let ep = &self.endpoints[idx];
        if let Some(value) = ep.find(method, self.options.head_from_get) {
            return Lookup::Found(Found {
                value,
                pattern: &ep.pattern,
                params,
            });
        }
        if method == "OPTIONS" && self.options.handle_options {
            return Lookup::Options { allow: &ep.allow };
        }
        Lookup::MethodNotAllowed { allow: &ep.allow }
    }

    #[cold]
    fn miss<'r, 'p>(&'r self, method: &str, path: &'p str) -> Lookup<'r, 'p, T> {
        let status = if method == "GET" || method == "HEAD" {
            301
        } else {
            308
        };
        if self.options.redirect_trailing_slash && path.len() > 1 {
            // Probe the other form without allocating; build the Location only on a hit.
            if let Some(p) = path.strip_suffix('/') {
                if self.tree.at(p).is_ok() {
                    return Lookup::Redirect {
                        location: p.to_string(),
                        status,
                    };
                }
            } else {
                let mut buf = [0u8; 512];
                let hit = if path.len() < buf.len() {
                    buf[..path.len()].copy_from_slice(path.as_bytes());
                    buf[path.len()] = b'/';
                    // A valid `&str` plus an ASCII '/' is valid UTF-8.
                    std::str::from_utf8(&buf[..path.len() + 1])
                        .is_ok_and(|alt| self.tree.at(alt).is_ok())
                } else {
                    self.tree.at(&format!("{path}/")).is_ok()
                };
                if hit {
                    return Lookup::Redirect {
                        location: format!("{path}/"),
                        status,
                    };
                }
            }
        }
        if self.options.redirect_fixed_path {
            let clean = clean_path(path);
            if clean != path && self.tree.at(&clean).is_ok() {
                return Lookup::Redirect {
                    location: clean,
                    status,
                };
            }
            if let Some(fixed) = self.case_fixed(&clean) {
                return Lookup::Redirect {
                    location: fixed,
                    status,
                };
            }
        }
        Lookup::NotFound
    }

    /// The path with the routed pattern's letter case, parameters kept as the client sent them.
    fn case_fixed(&self, path: &str) -> Option<String> {
        let lower = path.to_ascii_lowercase();
        let m = self.folded.at(&lower).ok()?;
        let pattern = &*self.endpoints[*m.value].pattern;
        // ASCII folding keeps byte offsets, so each parameter's bytes in `path` sit where they
        // sit in `lower`.
        let mut out = String::with_capacity(path.len());
        let mut rest = pattern;
        let mut params = m.params.iter();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}')? + open;
            let (_, v) = params.next()?;
            let off = v.as_ptr() as usize - lower.as_ptr() as usize;
            out.push_str(&path[off..off + v.len()]);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        self.tree.at(&out).is_ok().then_some(out)
    }
}

impl<T> Endpoint<T> {
    #[inline(always)]
    fn find(&self, method: &str, head_from_get: bool) -> Option<&T> {
        self.find_key(MethodKey::of(method), method, head_from_get)
    }

    #[inline(always)]
    fn find_key(&self, key: MethodKey, method: &str, head_from_get: bool) -> Option<&T> {
        for (k, m, v) in &self.methods {
            if *k == key && (key.0 != LONG_METHOD || &**m == method) {
                return Some(v);
            }
        }
        if head_from_get && key == MethodKey::of("HEAD") {
            let get = MethodKey::of("GET");
            return self
                .methods
                .iter()
                .find(|(k, _, _)| *k == get)
                .map(|(_, _, v)| v);
        }
        None
    }
}

/// Cleans a path the way httprouter does: one leading `/`, no `//`, `.` and `..` resolved,
/// a trailing `/` kept.
pub fn clean_path(p: &str) -> String {
    let trailing = p.len() > 1 && p.ends_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(p.len() + 1);
    for s in &parts {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn end_words_are_zero_padded_copies_of_both_ends() {
        let src = b"ABCDEFGHIJKLMNOPQRST";
        for n in 0..=20 {
            let b = &src[..n];
            let mut head = [0u8; 8];
            head[..n.min(8)].copy_from_slice(&b[..n.min(8)]);
            let mut tail = [0u8; 8];
            tail[..n.min(8)].copy_from_slice(&b[n.saturating_sub(8)..]);
            let want = (u64::from_le_bytes(head), u64::from_le_bytes(tail));
            assert_eq!(super::end_words(b), want, "{n}");
        }
    }

    #[test]
    fn method_key_packs_like_zero_padded_bytes() {
        for m in [
            "", "G", "GE", "GET", "POST", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "X",
        ] {
            let mut w = [0u8; 8];
            w[..m.len()].copy_from_slice(m.as_bytes());
            assert_eq!(MethodKey::of(m).0, u64::from_le_bytes(w), "{m}");
            assert_eq!(MethodKey::of_const(m), MethodKey::of(m), "{m}");
        }
        assert_eq!(MethodKey::of("VERYLONGMETHOD").0, LONG_METHOD);
        assert_eq!(MethodKey::of_const("VERYLONGMETHOD").0, LONG_METHOD);
    }

    use super::*;

    type Hit<'r, T> = (T, &'r str, Vec<(String, String)>);

    fn found<'r, T: Copy>(r: &'r Router<T>, m: &str, p: &str) -> Option<Hit<'r, T>> {
        match r.lookup(m, p) {
            Lookup::Found(f) => Some((
                *f.value,
                f.pattern,
                f.params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )),
            _ => None,
        }
    }

    #[test]
    fn static_param_catch_all_and_priority() {
        let mut r = Router::new();
        r.insert("GET", "/users", 1).unwrap();
        r.insert("GET", "/users/{id}", 2).unwrap();
        r.insert("GET", "/users/new", 3).unwrap();
        r.insert("GET", "/static/{*path}", 4).unwrap();
        r.insert("GET", "/files/{name}.json", 5).unwrap();
        assert_eq!(found(&r, "GET", "/users"), Some((1, "/users", vec![])));
        assert_eq!(
            found(&r, "GET", "/users/7"),
            Some((2, "/users/{id}", vec![("id".into(), "7".into())]))
        );
        assert_eq!(
            found(&r, "GET", "/users/new").unwrap().0,
            3,
            "static beats param"
        );
        assert_eq!(
            found(&r, "GET", "/static/css/a.css").unwrap().2,
            vec![("path".into(), "css/a.css".into())]
        );
        assert_eq!(
            found(&r, "GET", "/files/report.json").unwrap().2,
            vec![("name".into(), "report".into())]
        );
        assert!(matches!(r.lookup("GET", "/users/7/x"), Lookup::NotFound));
        assert!(matches!(r.lookup("GET", "/nope"), Lookup::NotFound));
        let mut r = Router::new();
        r.insert("GET", "/lit/{{x}}", 1).unwrap();
        assert_eq!(
            found(&r, "GET", "/lit/{x}").unwrap().0,
            1,
            "escaped braces match literally"
        );
    }

    #[test]
    fn static_lookups_agree_with_lookup_on_static_hits_and_defer_everything_else() {
        let mut r = Router::new();
        r.insert("GET", "/users", 1).unwrap();
        r.insert("POST", "/users", 2).unwrap();
        r.insert("GET", "/users/{id}", 3).unwrap();
        r.insert("GET", "/a-rather-long-static-path/x", 4).unwrap();
        r.insert("PROPPATCHX", "/dav", 5).unwrap();
        for (m, p) in [
            ("GET", "/users"),
            ("POST", "/users"),
            ("HEAD", "/users"), // HEAD from GET (the default options)
            ("GET", "/a-rather-long-static-path/x"),
            ("PROPPATCHX", "/dav"), // a method over eight bytes: compared by name
        ] {
            let want = found(&r, m, p).map(|(v, pat, _)| (v, pat));
            assert!(want.is_some(), "{m} {p}");
            assert_eq!(
                r.lookup_static(m, p).map(|(v, pat)| (*v, pat)),
                want,
                "{m} {p}"
            );
            let key = MethodKey::of_const(m);
            assert_eq!(
                r.lookup_static_key(key, m, p).map(|(v, pat)| (*v, pat)),
                want
            );
        }
        // Not a static hit: a parameter, a method the path lacks (405 and OPTIONS are
        // lookup's to answer), a path no pattern is, a long method of another name.
        for (m, p) in [
            ("GET", "/users/7"),
            ("DELETE", "/users"),
            ("OPTIONS", "/users"),
            ("GET", "/nope"),
            ("GET", "/a-rather-long-static-path/y"),
            ("PROPPATCHY", "/dav"),
        ] {
            assert!(r.lookup_static(m, p).is_none(), "{m} {p}");
        }
    }

    #[test]
    fn methods_405_options_and_head() {
        let mut r = Router::new();
        r.insert("GET", "/a", 1).unwrap();
        r.insert("POST", "/a", 2).unwrap();
        r.insert("PURGE", "/a", 3).unwrap();
        assert_eq!(found(&r, "POST", "/a").unwrap().0, 2);
        assert_eq!(
            found(&r, "PURGE", "/a").unwrap().0,
            3,
            "extension methods route too"
        );
        assert_eq!(found(&r, "HEAD", "/a").unwrap().0, 1, "HEAD served by GET");
        match r.lookup("DELETE", "/a") {
            Lookup::MethodNotAllowed { allow } => {
                assert_eq!(allow, "GET, POST, PURGE, HEAD, OPTIONS")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(r.lookup("OPTIONS", "/a"), Lookup::Options { allow } if allow.contains("POST"))
        );
        r.set_options(Options {
            handle_options: false,
            head_from_get: false,
            ..Options::default()
        });
        assert!(matches!(
            r.lookup("OPTIONS", "/a"),
            Lookup::MethodNotAllowed {
                allow: "GET, POST, PURGE"
            }
        ));
        assert!(matches!(
            r.lookup("HEAD", "/a"),
            Lookup::MethodNotAllowed { .. }
        ));
        assert!(
            matches!(r.lookup("get", "/a"), Lookup::MethodNotAllowed { .. }),
            "methods are case-sensitive"
        );
    }

    #[test]
    fn conflicts_and_invalid_routes_are_errors_naming_both() {
        let mut r = Router::new();
        r.insert("GET", "/users/{id}", 1).unwrap();
        let e = r.insert("GET", "/users/{name}", 2).unwrap_err();
        assert!(
            matches!(&e, InsertError::Conflict { route, with } if route == "/users/{name}" && with == "/users/{id}"),
            "{e:?}"
        );
        assert!(e.to_string().contains("/users/{name}") && e.to_string().contains("/users/{id}"));
        let e = r.insert("GET", "/users/{id}", 3).unwrap_err();
        assert_eq!(e.to_string(), "route GET `/users/{id}` is already defined");
        assert!(
            r.insert("POST", "/users/{id}", 3).is_ok(),
            "another method on the same pattern"
        );
        for bad in ["nope", "/a/{*rest}/b", "/{}", "/a/{b", "/{a}{b}"] {
            assert!(
                matches!(r.insert("GET", bad, 9), Err(InsertError::Invalid { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            r.insert("G T", "/x", 9),
            Err(InsertError::Invalid { .. })
        ));
        let many: String = (0..30).map(|i| format!("/{{p{i}}}")).collect();
        assert!(
            matches!(r.insert("GET", &many, 9), Err(InsertError::Invalid { .. })),
            "too many params, no panic"
        );
        let ok: String = (0..MAX_PARAMS).map(|i| format!("/x/{{p{i}}}")).collect();
        r.insert("GET", &ok, 10).unwrap();
        let path: String = (0..MAX_PARAMS).map(|i| format!("/x/v{i}")).collect();
        assert_eq!(
            found(&r, "GET", &path).unwrap().2.len(),
            MAX_PARAMS,
            "beyond 3 params still works (spills)"
        );
    }

    #[test]
    fn trailing_slash_and_fixed_path_redirects() {
        let mut r = Router::new();
        r.insert("GET", "/users", 1).unwrap();
        r.insert("POST", "/dir/", 2).unwrap();
        r.insert("GET", "/Docs/{page}", 3).unwrap();
        assert!(
            matches!(r.lookup("GET", "/users/"), Lookup::Redirect { ref location, status: 301 } if location == "/users")
        );
        assert!(
            matches!(r.lookup("POST", "/dir"), Lookup::Redirect { ref location, status: 308 } if location == "/dir/")
        );
        assert!(
            matches!(r.lookup("GET", "/docs/Intro"), Lookup::NotFound),
            "fixed-path redirect is off by default"
        );
        r.set_options(Options {
            redirect_fixed_path: true,
            ..Options::default()
        });
        assert!(
            matches!(r.lookup("GET", "/docs/Intro"), Lookup::Redirect { ref location, .. } if location == "/Docs/Intro"),
            "{:?}",
            r.lookup("GET", "/docs/Intro")
        );
        assert!(
            matches!(r.lookup("GET", "/a/../users"), Lookup::Redirect { ref location, .. } if location == "/users")
        );
        assert!(
            matches!(r.lookup("GET", "//USERS"), Lookup::Redirect { ref location, .. } if location == "/users")
        );
        r.set_options(Options {
            redirect_trailing_slash: false,
            ..Options::default()
        });
        assert!(matches!(r.lookup("GET", "/users/"), Lookup::NotFound));
    }

    #[test]
    fn clean_path_rules() {
        for (i, o) in [
            ("", "/"),
            ("/", "/"),
            ("a/b", "/a/b"),
            ("//a//b/", "/a/b/"),
            ("/a/./b/../c", "/a/c"),
            ("/../..", "/"),
            ("/a/..", "/"),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }
}
