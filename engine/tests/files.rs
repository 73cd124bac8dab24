//! Static files over sockets: confinement (traversal, encoded dots, symlinks out), directories
//! and index files, validators and conditional requests, ranges and their edge cases, HEAD,
//! requests sent byte by byte, a file that shrinks while it is sent, a client that leaves
//! mid-download (nothing leaks).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use strela::app::files::StaticFiles;

/// A fresh tree: `a.txt`, `big.bin` (1 MiB, patterned), `sub/index.html`, `empty`, `link_out`
/// (a symlink to a file outside the tree), `link_in` (to `a.txt`), `dir_noindex/`.
fn tree(name: &str) -> (PathBuf, PathBuf) {
    let base = std::env::temp_dir().join(format!("strela-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("dir_noindex")).unwrap();
    std::fs::write(root.join("a.txt"), b"hello file\n").unwrap();
    std::fs::write(root.join("big.bin"), pattern(1 << 20)).unwrap();
    std::fs::write(root.join("sub/index.html"), b"<p>index</p>").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(base.join("secret.txt"), b"outside").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link_out")).unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("link_in")).unwrap();
    (base, root)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8).collect()
}

fn serve(root: &Path) -> strela::ServerHandle {
    let files = StaticFiles::new(root).unwrap().index("index.html");
    start_app(|b| b.files("/static/", files))
}

fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> Resp {
    let mut s = connect(addr);
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
    roundtrip(&mut s, req.as_bytes())
}

#[test]
fn paths_stay_inside_the_directory() {
    let (_base, root) = tree("confine");
    let srv = serve(&root);
    let a = srv.local_addr();
    let ok = get(a, "/static/a.txt", "");
    assert_eq!((ok.status, ok.body_str()), (200, "hello file\n"));
    assert_eq!(ok.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        get(a, "/static/link_in", "").body_str(),
        "hello file\n",
        "symlinks inside are followed"
    );
    assert_eq!(
        get(a, "/static/x/../a.txt", "").status,
        200,
        "`..` inside the tree is resolved"
    );
    for (path, status) in [
        ("/static/../secret.txt", 404),
        ("/static/%2e%2e/secret.txt", 404),
        ("/static/%2E%2e/%2e%2e/etc/passwd", 404),
        ("/static/sub/../../secret.txt", 404),
        ("/static/a.txt%2f..", 404),
        ("/static/a%00.txt", 404),
        ("/static/link_out", 403),
        ("/static/nope", 404),
        ("/static/a.txt/x", 404),
        ("/static/dir_noindex/", 404),
    ] {
        let r = get(a, path, "");
        assert_eq!(r.status, status, "{path}");
        assert!(
            !r.body_str().contains("outside"),
            "{path} leaked the file outside"
        );
    }
}

#[test]
fn directories_redirect_to_their_slash_and_answer_their_index() {
    let (_base, root) = tree("dirs");
    let srv = serve(&root);
    let a = srv.local_addr();
    let r = get(a, "/static/sub", "");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/static/sub/"));
    let r = get(a, "/static/sub/", "");
    assert_eq!((r.status, r.body_str()), (200, "<p>index</p>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // The prefix itself is the root directory, which has no index file.
    assert_eq!(get(a, "/static/", "").status, 404);
}

#[test]
fn validators_and_conditional_requests() {
    let (_base, root) = tree("cond");
    let srv = serve(&root);
    let a = srv.local_addr();
    let r = get(a, "/static/a.txt", "");
    let etag = r.header("etag").unwrap().to_string();
    let lm = r.header("last-modified").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let inm = get(
        a,
        "/static/a.txt",
        &format!("If-None-Match: \"x\", {etag}\r\n"),
    );
    assert_eq!(inm.status, 304);
    assert!(inm.body.is_empty());
    assert_eq!(inm.header("etag"), Some(etag.as_str()));
    assert_eq!(
        get(a, "/static/a.txt", &format!("If-None-Match: W/{etag}\r\n")).status,
        304
    );
    assert_eq!(
        get(a, "/static/a.txt", "If-None-Match: \"other\"\r\n").status,
        200
    );
    assert_eq!(
        get(a, "/static/a.txt", &format!("If-Modified-Since: {lm}\r\n")).status,
        304
    );
    let old = "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n";
    assert_eq!(get(a, "/static/a.txt", old).status, 200);
    // If-None-Match wins over If-Modified-Since.
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n");
    assert_eq!(get(a, "/static/a.txt", &both).status, 200);
    assert_eq!(
        get(a, "/static/a.txt", "If-Modified-Since: yesterday\r\n").status,
        200
    );
    assert_eq!(
        get(a, "/static/a.txt", "If-Match: \"other\"\r\n").status,
        412
    );
    assert_eq!(
        get(a, "/static/a.txt", &format!("If-Match: {etag}\r\n")).status,
        200
    );
    let unmod = "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n";
    assert_eq!(get(a, "/static/a.txt", unmod).status, 412);
}

#[test]
fn byte_ranges() {
    let (_base, root) = tree("ranges");
    let srv = serve(&root);
    let a = srv.local_addr();
    let body = pattern(1 << 20);
    let size = body.len();
    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=500-", 500, size - 1),
        ("bytes=-500", size - 500, size - 1),
        ("bytes=1000-99999999", 1000, size - 1),
        ("bytes=-99999999", 0, size - 1),
    ] {
        let r = get(a, "/static/big.bin", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/{size}").as_str()),
            "{range}"
        );
        assert!(r.body == body[first..=last], "{range}: wrong bytes");
    }
    for range in [
        "bytes=1048576-",
        "bytes=2000000-3000000",
        "bytes=-0",
        "bytes=9999999-,8888888-",
    ] {
        let r = get(a, "/static/big.bin", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{size}").as_str())
        );
    }
    for range in ["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=x-"] {
        let r = get(a, "/static/big.bin", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 200, "{range}: the whole file");
        assert_eq!(r.body.len(), size);
    }
    // An empty file has no satisfiable range.
    assert_eq!(get(a, "/static/empty", "Range: bytes=0-\r\n").status, 416);
    // If-Range: the range only while the validator matches.
    let etag = get(a, "/static/big.bin", "")
        .header("etag")
        .unwrap()
        .to_string();
    let r = get(
        a,
        "/static/big.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206);
    let r = get(
        a,
        "/static/big.bin",
        "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn head_on_a_file_has_the_length_and_no_body() {
    let (_base, root) = tree("head");
    let srv = serve(&root);
    let mut s = connect(srv.local_addr());
    s.write_all(b"HEAD /static/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\n\r\nGET /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let (head, used) = loop {
        let n = s.read(&mut tmp).unwrap();
        buf.extend_from_slice(&tmp[..n]);
        if let Some(x) = parse_one(&buf, true) {
            break x;
        }
    };
    assert_eq!(head.status, 200, "a range on HEAD is ignored");
    assert_eq!(head.header("content-length"), Some("1048576"));
    let rest = read_responses_from(&mut s, buf[used..].to_vec(), 1);
    assert_eq!(rest[0].body_str(), "hello file\n");
}

fn read_responses_from(s: &mut std::net::TcpStream, mut buf: Vec<u8>, n: usize) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    while out.len() < n {
        if let Some((r, used)) = parse_one(&buf, false) {
            out.push(r);
            buf.drain(..used);
            continue;
        }
        let k = s.read(&mut tmp).unwrap();
        assert!(k > 0);
        buf.extend_from_slice(&tmp[..k]);
    }
    out
}

#[test]
fn a_request_sent_byte_by_byte_and_pipelined_files() {
    let (_base, root) = tree("trickle");
    let srv = serve(&root);
    let mut s = connect(srv.local_addr());
    let req = b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=10-19\r\n\r\n";
    for b in req {
        s.write_all(&[*b]).unwrap();
    }
    let r = read_responses(&mut s, 1);
    assert_eq!(r[0].status, 206);
    assert!(r[0].body == pattern(1 << 20)[10..20]);
    // Three pipelined: small, 1 MiB by sendfile, small — in order.
    s.write_all(b"GET /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /static/sub/ HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_responses(&mut s, 3);
    assert_eq!(r[0].body_str(), "hello file\n");
    assert!(r[1].body == pattern(1 << 20));
    assert_eq!(r[2].body_str(), "<p>index</p>");
}

#[test]
fn a_file_that_shrinks_while_sent_closes_the_connection() {
    let (_base, root) = tree("shrink");
    let path = root.join("shrinking.bin");
    std::fs::write(&path, vec![7u8; 64 << 20]).unwrap();
    let srv = serve(&root);
    let mut s = connect(srv.local_addr());
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /static/shrinking.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Read a little, then cut the file to 1 MiB while the rest is in flight.
    let mut first = [0u8; 65536];
    let n = s.read(&mut first).unwrap();
    assert!(n > 0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // the server closes (or resets) instead of hanging
    let total = n + rest.len();
    assert!(
        total < 64 << 20,
        "the promised length was not faked: got {total} bytes"
    );
}

#[test]
fn a_client_that_leaves_mid_download_leaks_nothing() {
    let (_base, root) = tree("leave");
    std::fs::write(root.join("large.bin"), vec![1u8; 32 << 20]).unwrap();
    let srv = serve(&root);
    let a = srv.local_addr();
    let fds0 = open_fds();
    for _ in 0..20 {
        let mut s = connect(a);
        s.write_all(b"GET /static/large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut b = [0u8; 1000];
        let _ = s.read(&mut b);
        drop(s); // gone with megabytes unsent
    }
    assert!(
        eventually(Duration::from_secs(5), || srv.stats().connections == 0),
        "{:?}",
        srv.stats()
    );
    assert!(
        eventually(Duration::from_secs(5), || open_fds() <= fds0),
        "file descriptors leaked: {} > {fds0}",
        open_fds()
    );
    assert_eq!(srv.stats().buffers_in_use, 0);
}
