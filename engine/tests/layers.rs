//! The layering rules of docs/ARCHITECTURE.md, checked on the source: every `crate::` and
//! `super::` path in `engine/src` (outside `#[cfg(test)]` modules and the binary) is an edge
//! from its file's module to the module it names.
//!
//! - a layer imports only from layers below it (`proto` < `service` < `ops` < `app` <
//!   `runtime` < `endpoints`/`testing` < the crate root), and the leaves `sys` and `sync` import
//!   nothing from the crate (`sys` knows no HTTP);
//! - `proto` reads no clock, starts no thread, takes no lock, shares nothing (`Arc`), catches
//!   no panic and calls no handler;
//! - no two modules import each other, directly or around a cycle;
//! - code inside the crate names items by their module, not through the root's re-exports
//!   (so the graph above is the real one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layer rank of a top-level module; `None` for a leaf that may import nothing.
fn rank(top: &str) -> Option<u8> {
    Some(match top {
        "sys" | "sync" => return None,
        "proto" => 1,
        "service" => 2,
        "ops" => 3,
        "app" => 4,
        "runtime" => 5,
        "endpoints" | "testing" => 6,
        "" => 7, // lib.rs
        other => panic!("module `{other}` has no layer: add it to layers.rs and ARCHITECTURE.md"),
    })
}

/// What `proto` must not mention (as whole identifiers or paths).
const PROTO_BANNED: &[&str] = &[
    "Instant",
    "SystemTime",
    "std::thread",
    "Arc",
    "Mutex",
    "catch_unwind",
    "Handler",
    "serde_json",
];

/// Source text with comments, string and char literals blanked out (same length is not kept;
/// only the code tokens matter).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"') | Some(b'#')) && !ident(b, i) {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): skip only the former.
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// Whether the byte before `i` continues an identifier (so `r` at `i` is not a raw-string
/// prefix).
fn ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// `code` without `#[cfg(test)]` items (their braces matched).
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find('{').map(|o| at + o) else {
            break;
        };
        let semi = out[at..].find(';').map(|o| at + o);
        if semi.is_some_and(|s| s < open) {
            // `#[cfg(test)] use …;` or `mod x;`
            out.replace_range(at..=semi.unwrap(), "");
            continue;
        }
        let mut depth = 0;
        let mut end = open;
        for (k, ch) in out[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..=end, "");
    }
    out
}

/// Every path that starts with `prefix` (`crate::` or `super::`), use-trees expanded:
/// `crate::{a::b, c::{d, e}}` gives `a::b`, `c::d`, `c::e`. For `super::` the count of leading
/// `super::` is kept as that many `super::` segments at the front of the path.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find(prefix) {
        let at = from + p;
        from = at + prefix.len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue; // inside a longer path: `x::crate::` or the second `super::`
        }
        let mut levels = String::new();
        while code[from..].starts_with("super::") {
            levels.push_str("super::");
            from += "super::".len();
        }
        let mut here = Vec::new();
        expand(&code[from..], String::new(), &mut here);
        found.extend(here.into_iter().map(|p| format!("{levels}{p}")));
    }
    found
}

fn expand(rest: &str, base: String, found: &mut Vec<String>) {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('{') {
        // Split the group at depth-0 commas.
        let mut depth = 0;
        let mut start = 0;
        for (k, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&inner[start..k], base.clone(), found);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..k], base.clone(), found);
                    start = k + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    let seg = &rest[..end];
    let full = if base.is_empty() {
        seg.to_string()
    } else {
        format!("{base}::{seg}")
    };
    if seg.ends_with("::") && rest[end..].starts_with('{') {
        expand(&rest[end..], full.trim_end_matches("::").to_string(), found);
    } else if !full.is_empty() {
        found.push(full.trim_end_matches("::").to_string());
    }
}

/// The module path of a file under `src` (`proto/conn.rs` → `proto::conn`, `lib.rs` → ``).
fn module_of(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs");
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|p| *p != "mod" && *p != "lib")
        .collect();
    parts.join("::")
}

/// The longest known module that `path` starts with.
fn resolve<'m>(path: &str, modules: &'m BTreeSet<String>) -> Option<&'m String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .find_map(|n| modules.get(&parts[..n].join("::")))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

/// Module → its source (tests stripped), for every file under `dir` except the binary.
fn load(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if rel != "bin" {
                    stack.push(p);
                }
            } else if rel.ends_with(".rs") {
                let src = std::fs::read_to_string(&p).unwrap();
                files.insert(module_of(&rel), without_tests(&code_only(&src)));
            }
        }
    }
    files
}

/// Every rule broken by `files`, as readable lines (empty: all kept).
fn violations(files: &BTreeMap<String, String>) -> Vec<String> {
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut bad = Vec::new();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (m, code) in files {
        let mut targets = Vec::new();
        for p in paths_after(code, "crate::") {
            if p.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                bad.push(format!("{m}: names `crate::{p}` through a root re-export"));
                continue;
            }
            targets.push(p);
        }
        // `super::x` from module `a::b::c` is `a::b::x` (a `mod.rs` file is its directory's
        // module, so from `a::b` it is `a::x`); each further `super::` goes one more level up.
        for p in paths_after(code, "super::") {
            let mut base: Vec<&str> = m.split("::").collect();
            base.pop();
            let mut rest = p.as_str();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            base.push(rest);
            targets.push(base.join("::"));
        }
        for t in targets {
            let Some(t) = resolve(&t, &modules) else {
                continue; // an item of the crate root, e.g. `crate::testing` resolved above
            };
            if t == m || m.starts_with(&format!("{t}::")) {
                continue; // itself or an ancestor's own items (a parent `mod.rs`)
            }
            edges.entry(m.as_str()).or_default().insert(t.as_str());
            let (from, to) = (top(m), top(t));
            if from == to {
                continue;
            }
            match (rank(from), rank(to)) {
                (None, _) => bad.push(format!("{m}: leaf module imports `{t}`")),
                (Some(a), Some(b)) if b >= a => {
                    bad.push(format!("{m}: imports `{t}`, which is not below it"))
                }
                _ => {}
            }
        }
        if top(m) == "proto" {
            for word in PROTO_BANNED {
                if contains_word(code, word) {
                    bad.push(format!("{m}: proto mentions `{word}`"));
                }
            }
        }
    }
    // Cycles, at module granularity.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for m in files.keys() {
        let mut path = Vec::new();
        cycle_from(m, &edges, &mut state, &mut path, &mut bad);
    }
    bad
}

fn contains_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let edge = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        edge(before) && edge(after)
    })
}

fn cycle_from<'a>(
    m: &'a str,
    edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    state: &mut BTreeMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
    bad: &mut Vec<String>,
) {
    match state.get(m) {
        Some(2) => return,
        Some(1) => {
            let at = path.iter().position(|p| *p == m).unwrap();
            bad.push(format!("import cycle: {} -> {m}", path[at..].join(" -> ")));
            return;
        }
        _ => {}
    }
    state.insert(m, 1);
    path.push(m);
    for t in edges.get(m).into_iter().flatten() {
        cycle_from(t, edges, state, path, bad);
    }
    path.pop();
    state.insert(m, 2);
}

#[test]
fn the_engine_keeps_its_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = load(&src);
    for m in [
        "proto::conn",
        "service::dispatch",
        "runtime::worker",
        "sys",
        "app::middleware",
    ] {
        assert!(
            files.contains_key(m),
            "{m} not found: the checker reads the wrong tree"
        );
    }
    let bad = violations(&files);
    assert!(
        bad.is_empty(),
        "layering rules broken:\n  {}",
        bad.join("\n  ")
    );
}

/// The checker itself: each rule fires on a small made-up crate.
#[test]
fn the_checker_sees_every_kind_of_break() {
    let crate_of = |mods: &[(&str, &str)]| -> BTreeMap<String, String> {
        mods.iter()
            .map(|(m, s)| (m.to_string(), without_tests(&code_only(s))))
            .collect()
    };
    // A clean one: downward imports, grouped uses, test modules and strings ignored.
    let ok = crate_of(&[
        ("proto", ""),
        ("proto::head", "pub struct Head;"),
        (
            "proto::conn",
            "use crate::proto::{head::Head, limits};\nuse super::head;\n// crate::runtime::worker\nconst S: &str = \"crate::app::x\";\n#[cfg(test)]\nmod tests { use crate::runtime::worker::W; }",
        ),
        ("proto::limits", ""),
        ("service", ""),
        ("service::dispatch", "use crate::proto::conn::{Conn, Step};"),
        ("runtime", ""),
        ("runtime::worker", "use crate::{service::dispatch, proto::conn::Conn};"),
        ("sys", "use rustix::io;"),
    ]);
    assert_eq!(violations(&ok), Vec::<String>::new());

    let upward = crate_of(&[
        ("proto", ""),
        ("proto::conn", "use crate::service::dispatch::process;"),
        ("service", ""),
        ("service::dispatch", ""),
    ]);
    assert!(
        violations(&upward)[0].contains("not below"),
        "{:?}",
        violations(&upward)
    );

    let grouped_upward = crate_of(&[
        ("proto", ""),
        (
            "proto::conn",
            "use crate::{proto::limits, runtime::worker};",
        ),
        ("proto::limits", ""),
        ("runtime", ""),
        ("runtime::worker", ""),
    ]);
    assert!(violations(&grouped_upward)
        .iter()
        .any(|v| v.contains("runtime::worker")));

    let leaf = crate_of(&[
        ("sys", "use crate::proto::head::Method;"),
        ("proto", ""),
        ("proto::head", ""),
    ]);
    assert!(violations(&leaf)[0].contains("leaf"));

    let clock = crate_of(&[
        ("proto", ""),
        ("proto::date", "fn f() { std::time::Instant::now(); }"),
    ]);
    assert!(violations(&clock)[0].contains("Instant"));

    let cycle = crate_of(&[
        ("service", ""),
        ("service::defer", "use super::response::ResponseError;"),
        ("service::response", "use crate::service::defer::Cell;"),
    ]);
    assert!(violations(&cycle)
        .iter()
        .any(|v| v.starts_with("import cycle")));

    let reexport = crate_of(&[
        ("app", ""),
        ("app::error", "fn f(r: &crate::Request<'_>) {}"),
    ]);
    assert!(violations(&reexport)[0].contains("re-export"));
}
