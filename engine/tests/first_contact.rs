//! What a new user meets first: the binary's flags, addresses, environment, help, errors, logs
//! and startup line; the access log's format and rotation; HTTP/2 clients told to use HTTP/1.1;
//! latency measured per request; a port in use refused unless a hand-over is asked for.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use strela::middleware::{AccessLog, LogFormat};
use strela::{Limits, Request, Response};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("strela-first-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn get_plain(addr: SocketAddr) -> Resp {
    let mut s = connect(addr);
    roundtrip(&mut s, GET_PLAIN)
}

fn stop(mut p: Proc) {
    signal(&p, "TERM");
    assert!(p.wait().unwrap().success(), "exit 0 after SIGTERM");
}

// ---- addresses -----------------------------------------------------------------------------

#[test]
fn bind_takes_host_host_port_and_bracketed_v6() {
    // A host name (resolved at start), with the port from --port.
    let (p, port, _log) = spawn(
        &["--bind", "localhost", "--port", "0", "--workers", "1"],
        &[],
    );
    assert_eq!(
        get_plain(SocketAddr::from(([127, 0, 0, 1], port))).status,
        200
    );
    stop(p);
    // HOST:PORT in one value.
    let (p, port, _log) = spawn(&["--bind", "127.0.0.1:0", "--workers", "1"], &[]);
    assert_eq!(
        get_plain(SocketAddr::from(([127, 0, 0, 1], port))).status,
        200
    );
    stop(p);
    // [IPv6]:PORT, where this machine has IPv6 loopback.
    if TcpListener::bind("[::1]:0").is_ok() {
        let (p, port, _log) = spawn(&["--bind", "[::1]:0", "--workers", "1"], &[]);
        let addr: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        assert_eq!(get_plain(addr).status, 200);
        stop(p);
    }
    // A bad value is a configuration error naming the key.
    let out = strela_cmd()
        .args(["--bind", "1.2.3.4:http"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`bind`"));
}

#[test]
fn a_port_in_use_is_refused_unless_takeover_is_asked_for() {
    let first = start_core(1);
    let port = first.local_addr().port();
    let builder = || {
        strela::endpoints::routes(
            strela::Server::builder()
                .bind(SocketAddr::from(([127, 0, 0, 1], port)))
                .workers(1),
        )
    };
    let err = match builder().start() {
        Ok(_) => panic!("a second server started on a port in use"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("takeover"), "{err}");
    // A socket of another kind (a plain listener without SO_REUSEPORT) is refused too.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = plain.local_addr().unwrap();
    let e = strela::Server::builder()
        .bind(taken)
        .workers(1)
        .handler(strela::endpoints::core)
        .start()
        .expect_err("refused");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    // Asked for: both serve the port (the kernel spreads connections between them).
    let second = builder().takeover(true).start().expect("takeover starts");
    assert_eq!(second.local_addr().port(), port);
    for _ in 0..4 {
        assert_eq!(get_plain(second.local_addr()).status, 200);
    }
    second.stop();
    second.join().unwrap();
    first.stop();
    first.join().unwrap();
}

// ---- environment, help, configuration errors -----------------------------------------------

#[test]
fn kubernetes_service_links_do_not_stop_startup_but_typos_still_do() {
    let links = [
        ("STRELA_PORT", "tcp://10.0.0.1:8080"),
        ("STRELA_SERVICE_HOST", "10.0.0.1"),
        ("STRELA_SERVICE_PORT", "8080"),
        ("STRELA_SERVICE_PORT_HTTP", "8080"),
        ("STRELA_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
        ("STRELA_PORT_8080_TCP_PROTO", "tcp"),
        ("STRELA_PORT_8080_TCP_PORT", "8080"),
        ("STRELA_PORT_8080_TCP_ADDR", "10.0.0.1"),
    ];
    let (p, port, _log) = spawn(
        &["--bind", "127.0.0.1", "--port", "0", "--workers", "1"],
        &links,
    );
    assert_eq!(
        get_plain(SocketAddr::from(([127, 0, 0, 1], port))).status,
        200
    );
    stop(p);
    let out = strela_cmd()
        .envs(links)
        .env("STRELA_WORKRS", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("STRELA_WORKRS"));
}

#[test]
fn short_and_long_help_are_the_same() {
    let h = strela_cmd().arg("-h").output().unwrap();
    let help = strela_cmd().arg("--help").output().unwrap();
    assert!(h.status.success() && help.status.success());
    assert_eq!(h.stdout, help.stdout);
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--bind",
        "--port",
        "--workers",
        "--takeover",
        "--set",
        "--config",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn toml_errors_say_line_and_column() {
    let dir = temp_dir("toml");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "port = 8080\n[limits]\nmax_body_bytes = = 3\n").unwrap();
    let out = strela_cmd()
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3, column 18"), "{err}");
}

// ---- logs ----------------------------------------------------------------------------------

#[test]
fn startup_line_says_where_how_many_workers_and_where_the_docs_are() {
    let (child, port, line) = spawn_binary("", 2);
    let child = Proc(child);
    assert!(line.contains(&format!(" addr=127.0.0.1:{port} ")), "{line}");
    assert!(line.contains(" workers=2 "), "{line}");
    assert!(
        line.contains(&format!(" try=http://127.0.0.1:{port}/plaintext ")),
        "{line}"
    );
    assert!(
        line.contains(" docs=\"strela --help; README.md\""),
        "{line}"
    );
    assert!(line.contains("/debug/vars(loopback)"), "{line}");
    stop(child);
}

#[test]
fn debug_level_logs_accepted_connections_and_refusals_with_their_reason() {
    let (p, port, log) = spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "1",
            "--set",
            "log.level=debug",
        ],
        &[],
    );
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let accepted = wait_for_line(&log, "msg=\"accepted\"");
    assert!(accepted.contains("peer=127.0.0.1:"), "{accepted}");
    assert_eq!(
        roundtrip(&mut s, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n").status,
        400
    );
    let refused = wait_for_line(&log, "msg=\"refused\"");
    assert!(
        refused.contains("status=400") && refused.contains("reason=malformed"),
        "{refused}"
    );
    stop(p);
}

/// The common log format, checked strictly field by field: `host ident authuser [date]
/// "request" status bytes` with CLF's date `dd/Mon/yyyy:HH:MM:SS +zzzz`.
fn assert_clf(line: &str) {
    let fail = |why: &str| -> ! { panic!("not CLF ({why}): {line}") };
    let (host, rest) = line.split_once(' ').unwrap_or_else(|| fail("host"));
    if host.parse::<std::net::IpAddr>().is_err() && host != "-" {
        fail("host");
    }
    let rest = rest
        .strip_prefix("- - [")
        .unwrap_or_else(|| fail("ident/authuser"));
    let (date, rest) = rest.split_once("] \"").unwrap_or_else(|| fail("date"));
    let d = date.as_bytes();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits =
        |r: std::ops::Range<usize>| d.len() >= r.end && d[r].iter().all(u8::is_ascii_digit);
    let shape = d.len() == 26
        && digits(0..2)
        && d[2] == b'/'
        && months.contains(&&date[3..6])
        && d[6] == b'/'
        && digits(7..11)
        && d[11] == b':'
        && digits(12..14)
        && d[14] == b':'
        && digits(15..17)
        && d[17] == b':'
        && digits(18..20)
        && &date[20..22] == " +"
        && digits(22..26);
    if !shape {
        fail("date shape");
    }
    let (request, rest) = rest.rsplit_once("\" ").unwrap_or_else(|| fail("request"));
    if request.contains('"') || request.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        fail("request not escaped");
    }
    let (status, bytes) = rest.split_once(' ').unwrap_or_else(|| fail("status"));
    if status.len() != 3 || status.parse::<u16>().is_err() {
        fail("status");
    }
    if bytes != "-" && bytes.parse::<u64>().is_err() {
        fail("bytes");
    }
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(String::from)
            .collect()
    }
}

#[test]
fn access_log_is_clf_and_includes_what_the_core_refused() {
    let sink = Sink::default();
    let log = AccessLog::new(sink.clone(), LogFormat::Common, 1024);
    let limits = Limits {
        max_body_bytes: 10,
        ..Limits::default()
    };
    let srv = strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .limits(limits)
        .get("/plaintext", strela::endpoints::plaintext)
        .wrap(log)
        .start()
        .unwrap();
    let addr = srv.local_addr();
    assert_eq!(get_plain(addr).status, 200);
    let mut s = connect(addr);
    let r = roundtrip(&mut s, b"GET /a\"b\x01 HTTP/1.1\r\nBad Header\r\n\r\n");
    assert_eq!(r.status, 400);
    let mut s = connect(addr);
    let r = roundtrip(
        &mut s,
        b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    let mut s = connect(addr);
    s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
        .unwrap();
    let mut junk = Vec::new();
    let _ = s.read_to_end(&mut junk);
    assert!(eventually(Duration::from_secs(5), || sink.lines().len() == 4));
    let lines = sink.lines();
    for l in &lines {
        assert_clf(l);
    }
    assert!(
        lines[0].contains("\"GET /plaintext HTTP/1.1\" 200 13"),
        "{}",
        lines[0]
    );
    // The raw request line, escaped so that one record stays one parseable line.
    assert!(
        lines[1].contains("\"GET /a\\x22b\\x01 HTTP/1.1\" 400 "),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("\"POST /plaintext HTTP/1.1\" 413 "),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("\"\\x16\\x03\\x01\\x02"), "{}", lines[3]);
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn access_log_file_is_reopened_on_sigusr1_and_sighup() {
    let dir = temp_dir("rotate");
    let file = dir.join("access.log");
    let target = format!("log.access_target={}", file.display());
    let (p, port, _log) = spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "1",
            "--set",
            "log.access=true",
            "--set",
            &target,
        ],
        &[],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let lines_in = |f: &std::path::Path| {
        std::fs::read_to_string(f)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    assert_eq!(get_plain(addr).status, 200);
    assert!(eventually(Duration::from_secs(5), || lines_in(&file) == 1));
    for (n, sig) in [(1, "USR1"), (2, "HUP")] {
        // logrotate without copytruncate: rename, then signal; new records go to a new file.
        let rotated = dir.join(format!("access.log.{n}"));
        std::fs::rename(&file, &rotated).unwrap();
        signal(&p, sig);
        assert!(
            eventually(Duration::from_secs(5), || file.exists()),
            "{sig}: the file was not reopened"
        );
        assert_eq!(get_plain(addr).status, 200);
        assert!(
            eventually(Duration::from_secs(5), || lines_in(&file) == 1),
            "{sig}: the new record is not in the new file"
        );
        assert_eq!(
            lines_in(&rotated),
            1,
            "{sig}: the old file got a new record"
        );
        for l in std::fs::read_to_string(&file).unwrap().lines() {
            assert_clf(l);
        }
    }
    stop(p);
}

// ---- protocol ------------------------------------------------------------------------------

#[test]
fn http2_prior_knowledge_is_told_to_use_http_1_1() {
    let srv = start_core(1);
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    for byte_by_byte in [false, true] {
        let mut s = connect(srv.local_addr());
        if byte_by_byte {
            for b in preface {
                let _ = s.write_all(std::slice::from_ref(b));
            }
        } else {
            s.write_all(preface).unwrap();
        }
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        // An empty SETTINGS frame, then GOAWAY(last stream 0, HTTP_1_1_REQUIRED = 0xd).
        assert_eq!(
            got,
            [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd],
            "byte by byte: {byte_by_byte}"
        );
    }
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn latency_counts_the_request_not_time_queued_behind_other_connections() {
    fn slow(req: &Request<'_>, res: &mut Response<'_>) {
        if req.path() == "/slow" {
            std::thread::sleep(Duration::from_millis(60));
        }
        res.body_static(b"ok");
    }
    let builder = strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .handler(slow);
    let ops = builder.ops();
    let srv = builder.start().unwrap();
    let addr = srv.local_addr();
    let (mut c, mut a, mut b) = (connect(addr), connect(addr), connect(addr));
    std::thread::sleep(Duration::from_millis(50)); // all three accepted
                                                   // While C's slow request runs, A (slow) and B (fast) arrive: the worker then sees both in
                                                   // one loop turn, A first. B's own work takes microseconds, whatever A took.
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    a.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    b.write_all(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    for s in [&mut c, &mut a, &mut b] {
        assert_eq!(read_responses(s, 1)[0].status, 200);
    }
    assert!(eventually(Duration::from_secs(2), || ops
        .snapshot()
        .total
        .stats
        .latency
        .count()
        == 3));
    let l = ops.snapshot().total.stats.latency;
    let bounds = strela::ops::LATENCY_BOUNDS_NS;
    let under_10ms: u64 = l.buckets[..bounds.iter().position(|&b| b == 10_000_000).unwrap() + 1]
        .iter()
        .sum();
    let over_50ms: u64 = l.buckets[bounds.iter().position(|&b| b == 50_000_000).unwrap()..]
        .iter()
        .sum();
    assert_eq!(
        (under_10ms, over_50ms),
        (1, 2),
        "two slow requests and one fast: {:?}",
        l.buckets
    );
    srv.stop();
    srv.join().unwrap();
}
