//! Operations: exact metrics in a strictly parsed Prometheus exposition, debug vars, readiness,
//! live limit swaps; and the binary's configuration (file, environment, flags, errors naming
//! the key, --print-config), SIGHUP reload, readiness on SIGTERM, and a zero-downtime swap of
//! two processes on one port.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use strela::Limits;

// ---- a strict parser for the Prometheus text format (0.0.4) ------------------------------------

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

/// Parses `name{a="x",b="y"}` into the name and labels; panics on any syntax error.
fn parse_series(s: &str) -> (String, BTreeMap<String, String>) {
    let Some(open) = s.find('{') else {
        assert!(valid_name(s), "bad metric name {s:?}");
        return (s.to_string(), BTreeMap::new());
    };
    let name = &s[..open];
    assert!(valid_name(name), "bad metric name {name:?}");
    assert!(s.ends_with('}'), "unterminated labels in {s:?}");
    let body = &s[open + 1..s.len() - 1];
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert!(
            valid_name(&key) && !key.contains(':'),
            "bad label name {key:?} in {s:?}"
        );
        assert_eq!(
            chars.next(),
            Some('"'),
            "label value must be quoted in {s:?}"
        );
        let mut v = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => v.push('\\'),
                    Some('"') => v.push('"'),
                    Some('n') => v.push('\n'),
                    other => panic!("bad escape {other:?} in {s:?}"),
                },
                Some('"') => break,
                Some(c) => v.push(c),
                None => panic!("unterminated label value in {s:?}"),
            }
        }
        assert!(labels.insert(key, v).is_none(), "duplicate label in {s:?}");
        match chars.next() {
            Some(',') | None => {}
            other => panic!("expected , or end after a label, got {other:?} in {s:?}"),
        }
    }
    (name.to_string(), labels)
}

/// Parses and validates a whole exposition; returns every series (`name{labels}`) with its value.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    let mut hist: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut p = rest.splitn(3, ' ');
            let (kw, name, arg) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(""));
            assert!(valid_name(name), "{line}");
            if kw == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg),
                    "{line}"
                );
                assert!(
                    types.insert(name.into(), arg.into()).is_none(),
                    "TYPE twice: {line}"
                );
            } else {
                assert_eq!(kw, "HELP", "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = parse_series(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| {
                name.strip_suffix(suf)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(&name)
            .to_string();
        let kind = types
            .get(&family)
            .unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
        if kind == "counter" {
            // Counters never go below zero; they may be fractional (CPU seconds).
            assert!(v >= 0.0 && v.is_finite(), "{line}");
        }
        if name.ends_with("_bucket") {
            let le = labels.get("le").expect("bucket has le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            hist.entry(family.clone()).or_default().push((le, v));
        }
        assert!(
            samples.insert(series.to_string(), v).is_none(),
            "duplicate series {series}"
        );
    }
    for (family, buckets) in hist {
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{family}: buckets must ascend and be cumulative"
        );
        let (last_le, last) = *buckets.last().unwrap();
        assert!(last_le.is_infinite(), "{family}: +Inf bucket last");
        assert_eq!(
            samples[&format!("{family}_count")],
            last,
            "{family}: +Inf == _count"
        );
    }
    samples
}

#[test]
fn the_parser_rejects_what_prometheus_would() {
    for bad in [
        "x 1",                                                                          // no TYPE
        "# TYPE x counter\nx{a=\"1\" 1", // unterminated labels
        "# TYPE x counter\nx{a=1} 1",    // unquoted
        "# TYPE x counter\nx 1\nx 2",    // duplicate series
        "# TYPE x counter\nx -1",        // negative counter
        "# TYPE x counter\nx NaN",       // not a count
        "# TYPE 1x counter\n1x 1",       // bad name
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1", // not cumulative
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(),
            "accepted: {bad:?}"
        );
    }
}

// ---- the library ---------------------------------------------------------------------------

fn ops_server(workers: usize) -> strela::ServerHandle {
    strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(workers)
        .get("/plaintext", strela::endpoints::plaintext)
        .get(
            "/users/{id}",
            |req: &strela::Request<'_>, res: &mut strela::Response<'_>| {
                res.body(req.param("id").unwrap_or("").as_bytes());
            },
        )
        .metrics("/metrics")
        .debug_vars("/debug/vars")
        .readiness("/readyz")
        .start()
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut s = connect(addr);
    roundtrip(
        &mut s,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn metrics_are_exact_after_known_traffic_and_parse_strictly() {
    let srv = ops_server(2);
    let addr = srv.local_addr();
    // 2 connections × (5 /plaintext + 2 /users/N + 1 /nope), keep-alive; then 3 malformed.
    for _ in 0..2 {
        let mut s = connect(addr);
        for i in 0..5 {
            assert_eq!(roundtrip(&mut s, GET_PLAIN).status, 200, "{i}");
        }
        for id in ["7", "8"] {
            let r = roundtrip(
                &mut s,
                format!("GET /users/{id} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
            );
            assert_eq!(r.body_str(), id);
        }
        assert_eq!(
            roundtrip(&mut s, b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n").status,
            404
        );
    }
    for _ in 0..3 {
        let mut s = connect(addr);
        assert_eq!(
            roundtrip(&mut s, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n").status,
            400
        );
    }
    // Every connection is closed before the scrape, so the figures are final.
    assert!(eventually(Duration::from_secs(2), || srv
        .stats()
        .connections
        == 0));
    std::thread::sleep(Duration::from_millis(300)); // one loop turn publishes
                                                    // Some CPU time to see in process_cpu_seconds_total (the kernel counts it in ticks).
    let spin = Instant::now();
    let mut x = 0u64;
    while spin.elapsed() < Duration::from_millis(60) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = parse_prometheus(r.body_str());
    let v = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("missing {k}\n{}", r.body_str()))
    };
    assert_eq!(
        v("strela_requests_total{method=\"GET\",route=\"/plaintext\",class=\"2xx\"}"),
        10.0
    );
    assert_eq!(
        v("strela_requests_total{method=\"GET\",route=\"/users/{id}\",class=\"2xx\"}"),
        4.0
    );
    assert_eq!(
        v("strela_requests_total{method=\"*\",route=\"(unmatched)\",class=\"4xx\"}"),
        2.0
    );
    assert_eq!(v("strela_responses_total{class=\"2xx\"}"), 14.0);
    assert_eq!(v("strela_responses_total{class=\"4xx\"}"), 5.0);
    assert_eq!(v("strela_parse_errors_total{kind=\"malformed\"}"), 3.0);
    assert_eq!(v("strela_parse_errors_total{kind=\"bad_host\"}"), 0.0);
    assert_eq!(
        v("strela_request_duration_seconds_count"),
        16.0,
        "handler-answered requests"
    );
    assert_eq!(v("strela_connections_accepted_total"), 6.0);
    assert_eq!(
        v("strela_connections_closed_total"),
        5.0,
        "all but the scrape's own"
    );
    assert_eq!(
        v("strela_connections_open"),
        1.0,
        "the scrape's own connection"
    );
    assert_eq!(v("strela_workers"), 2.0);
    assert_eq!(v("strela_ready"), 1.0);
    assert_eq!(v("strela_deferred_in_flight"), 0.0);
    assert!(v("strela_bytes_received_total") > 0.0 && v("strela_bytes_sent_total") > 0.0);
    let commit = env!("BUILD_STRELA_GIT");
    assert!(!commit.is_empty());
    assert_eq!(
        v(&format!(
            "strela_build_info{{version=\"{}\",commit=\"{commit}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    // process_* as the Prometheus client libraries export them (this test process is the server).
    let fds = open_fds() as f64;
    assert!(
        (v("process_open_fds") - fds).abs() <= 8.0,
        "{} vs {fds}",
        v("process_open_fds")
    );
    assert!(v("process_max_fds") >= v("process_open_fds"));
    assert!(v("process_resident_memory_bytes") > 1e6);
    assert!(v("process_virtual_memory_bytes") >= v("process_resident_memory_bytes"));
    assert!(v("process_cpu_seconds_total") > 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = v("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "{started} vs {now}"
    );

    // /debug/vars: the same numbers as JSON, plus the facts (after a loop turn has published
    // the scrape itself, which may have run on the other worker).
    std::thread::sleep(Duration::from_millis(300));
    let r = get(addr, "/debug/vars");
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        j["responses"]["2xx"],
        14 + 1,
        "the /metrics scrape is now counted too"
    );
    assert_eq!(j["parse_errors"]["malformed"], 3);
    assert_eq!(j["workers"], 2);
    assert_eq!(j["ready"], true);
    assert_eq!(j["commit"], env!("BUILD_STRELA_GIT"));
    assert!(j["process"]["open_fds"].as_u64().unwrap() > 0);
    assert!(j["uptime_seconds"].as_f64().unwrap() > 0.0);
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn debug_vars_are_served_to_loopback_clients_only_unless_public() {
    let ops = strela::ops::Ops::default();
    let get = b"GET /debug/vars HTTP/1.1\r\nHost: t\r\n\r\n";
    for (public, peer, status) in [
        (false, "127.0.0.1:5000", 200),
        (false, "[::1]:5000", 200),
        (false, "10.1.2.3:5000", 404),
        (true, "10.1.2.3:5000", 200),
    ] {
        let mut d = Driver::new(ops.debug_vars_handler(public));
        d.set_peer(Some(peer.parse().unwrap()));
        d.feed(get);
        let r = d.responses().pop().unwrap();
        assert_eq!(r.status, status, "public={public} peer={peer}");
        if status == 200 {
            let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert!(j["config"].is_object());
        }
    }
}

#[test]
fn readiness_flips_when_marked_unready_and_once_draining() {
    let srv = strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .drain_idle_grace(Duration::from_secs(2))
        .readiness("/readyz")
        .start()
        .unwrap();
    let addr = srv.local_addr();
    let mut s = connect(addr);
    let ready = b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_eq!(roundtrip(&mut s, ready).status, 200);
    let stopper = srv.stopper();
    stopper.set_ready(false);
    let r = roundtrip(&mut s, ready);
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    stopper.set_ready(true);
    assert_eq!(roundtrip(&mut s, ready).status, 200);
    // Draining: the kept-alive connection (within the idle grace) is told 503 and to close.
    stopper.stop();
    std::thread::sleep(Duration::from_millis(100));
    let r = roundtrip(&mut s, ready);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("connection"), Some("close"));
    srv.join().unwrap();
}

#[test]
fn limits_swap_live_without_dropping_connections() {
    let srv = strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(2)
        .limits(Limits {
            max_body_bytes: 100,
            ..Limits::default()
        })
        .post(
            "/echo",
            |req: &strela::Request<'_>, res: &mut strela::Response<'_>| {
                res.body(req.body());
            },
        )
        .start()
        .unwrap();
    let post = |n: usize| {
        let mut r =
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        r.extend(std::iter::repeat(b'x').take(n));
        r
    };
    let mut kept = connect(srv.local_addr());
    assert_eq!(roundtrip(&mut kept, &post(50)).status, 200);
    assert_eq!(
        roundtrip(&mut connect(srv.local_addr()), &post(500)).status,
        413
    );
    srv.stopper().set_limits(&Limits {
        max_body_bytes: 1000,
        ..Limits::default()
    });
    assert_eq!(srv.limits().max_body_bytes, 1000);
    std::thread::sleep(Duration::from_millis(300)); // each worker's next loop turn
    let r = roundtrip(&mut kept, &post(500));
    assert_eq!(
        (r.status, r.body.len()),
        (200, 500),
        "the old connection got the new limit"
    );
    assert_eq!(
        roundtrip(&mut connect(srv.local_addr()), &post(2000)).status,
        413
    );
    srv.stop();
    srv.join().unwrap();
}

// ---- the binary ---------------------------------------------------------------------------

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strela-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_configuration_is_refused_naming_the_key_with_exit_2() {
    let bad = temp_file("bad.toml", "[limits]\nmax_body_bytes = \"huge\"\n");
    let out = strela_cmd()
        .args(["--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`limits.max_body_bytes`") && err.contains("bad.toml"),
        "{err}"
    );

    let typo = temp_file("typo.toml", "[limits]\nmax_bodybytes = 1\n");
    let out = strela_cmd()
        .args(["--config", typo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`limits.max_bodybytes`: unknown key"));

    let out = strela_cmd()
        .env("STRELA_LOG_LEVEL", "loud")
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("STRELA_LOG_LEVEL: `log.level`"));

    let out = strela_cmd().args(["--set", "workers=0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = strela_cmd()
        .args(["--config", "/nonexistent/strela.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn print_config_shows_the_effective_values_in_precedence_order() {
    let file = temp_file(
        "prec.toml",
        "workers = 3\nport = 1111\n[log]\nlevel = \"warn\"\n",
    );
    let out = strela_cmd()
        .args([
            "--config",
            file.to_str().unwrap(),
            "--port",
            "3333",
            "--print-config",
        ])
        .env("STRELA_PORT", "2222")
        .env("STRELA_LIMITS_MAX_BODY_BYTES", "4096")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("workers = 3\n"), "file: {text}");
    assert!(
        text.contains("port = 3333\n"),
        "flag beats env beats file: {text}"
    );
    assert!(text.contains("max_body_bytes = 4096\n"), "env: {text}");
    assert!(text.contains("level = \"warn\"\n"));
    // What it prints is itself a valid configuration file.
    let again = temp_file("again.toml", &text);
    let out = strela_cmd()
        .args(["--config", again.to_str().unwrap(), "--print-config"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    let v = strela_cmd().arg("--version").output().unwrap();
    let v = String::from_utf8(v.stdout).unwrap();
    assert!(v.contains("(git ") && v.contains(", built 20"), "{v}");
}

fn post(s: &mut TcpStream, n: usize) -> u16 {
    let mut r =
        format!("POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").into_bytes();
    r.extend(std::iter::repeat(b'x').take(n));
    roundtrip(s, &r).status
}

#[test]
fn sighup_changes_a_limit_live_and_a_bad_file_is_rejected() {
    let cfg = temp_file(
        "live.toml",
        "bind = \"127.0.0.1\"\nport = 0\nworkers = 1\n[limits]\nmax_body_bytes = 1000\n",
    );
    let (mut child, port, rx) = spawn(&["--config", cfg.to_str().unwrap()], &[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut kept = connect(addr);
    assert_eq!(
        post(&mut kept, 500),
        405,
        "within the limit: the route's 405"
    );
    assert_eq!(post(&mut connect(addr), 2000), 413);

    std::fs::write(
        &cfg,
        "bind = \"127.0.0.1\"\nport = 0\nworkers = 1\n[limits]\nmax_body_bytes = 5000\n",
    )
    .unwrap();
    signal(&child, "HUP");
    let line = wait_for_line(&rx, "msg=\"reloaded\"");
    assert!(line.contains("limits.max_body_bytes"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        post(&mut kept, 2000),
        405,
        "the kept connection sees the new limit"
    );
    assert_eq!(post(&mut connect(addr), 6000), 413);

    std::fs::write(&cfg, "[limits]\nmax_body_bytes = \"oops\"\n").unwrap();
    signal(&child, "HUP");
    let line = wait_for_line(&rx, "reload rejected");
    assert!(line.contains("limits.max_body_bytes"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(post(&mut kept, 2000), 405, "the old configuration stays");
    assert_eq!(post(&mut connect(addr), 6000), 413);

    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn readiness_flips_on_sigterm_before_the_listener_closes() {
    let (mut child, port, _rx) = spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "1",
            "--set",
            "server.shutdown_delay_ms=1500",
        ],
        &[],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(get(addr, "/readyz").status, 200);
    assert_eq!(get(addr, "/healthz").status, 200);
    signal(&child, "TERM");
    assert!(eventually(Duration::from_secs(1), || get(addr, "/readyz")
        .status
        == 503));
    // Still serving during the delay: liveness and traffic are fine, only readiness says 503.
    assert_eq!(get(addr, "/healthz").status, 200);
    assert_eq!(get(addr, "/plaintext").status, 200);
    let t0 = Instant::now();
    assert!(child.wait().unwrap().success());
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_second_stop_signal_exits_at_once_with_130() {
    let (mut child, port, _rx) = spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "1",
            "--set",
            "server.shutdown_delay_ms=20000",
        ],
        &[],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    signal(&child, "TERM");
    assert!(eventually(Duration::from_secs(1), || get(addr, "/readyz")
        .status
        == 503));
    let t0 = Instant::now();
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "did not wait out the delay"
    );
}

/// Two processes on one port (SO_REUSEPORT): start the new one, SIGTERM the old one; a client
/// sending steadily over keep-alive connections sees no failed request.
#[test]
fn zero_downtime_swap_of_two_processes_on_one_port() {
    // Closing a listener resets connections still in its accept queue unless the kernel
    // migrates them to another listener of the port (Linux 5.14+). Enable it when allowed.
    let _ = std::fs::write("/proc/sys/net/ipv4/tcp_migrate_req", "1");
    let (mut old, port, _old_log) = spawn(
        &["--bind", "127.0.0.1", "--port", "0", "--workers", "2"],
        &[],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut conn: Option<TcpStream> = None;
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let s = match &mut conn {
                        Some(s) => s,
                        None => match TcpStream::connect(addr) {
                            Ok(s) => {
                                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                                conn.insert(s)
                            }
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        },
                    };
                    buf.clear();
                    let sent = s.write_all(GET_PLAIN).is_ok();
                    let mut tmp = [0u8; 4096];
                    let mut answered = None;
                    while sent && answered.is_none() {
                        match s.read(&mut tmp) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                        answered = parse_one(&buf, false).map(|(r, _)| r);
                    }
                    match answered {
                        Some(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if r.header("connection") == Some("close") {
                                conn = None;
                            }
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Without --takeover a second process on the port is refused, and the first serves on.
    let out = strela_cmd()
        .args(["--bind", &format!("127.0.0.1:{port}"), "--workers", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already in use") && err.contains("takeover"),
        "{err}"
    );
    let (mut new, new_port, _new_log) = spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--workers",
            "2",
            "--takeover",
        ],
        &[],
    );
    assert_eq!(new_port, port);
    std::thread::sleep(Duration::from_millis(300));
    let before = ok.load(Ordering::Relaxed);
    signal(&old, "TERM");
    assert!(
        old.wait().unwrap().success(),
        "the old process drains and exits 0"
    );
    let at_exit = ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("swap: {ok} requests ok ({before} before SIGTERM, {at_exit} when the old one exited), {failed} failed");
    assert_eq!(failed, 0, "no request may fail across the swap");
    assert!(
        ok > at_exit + 100,
        "the new process served the traffic after the swap"
    );
    signal(&new, "TERM");
    assert!(new.wait().unwrap().success());
}
