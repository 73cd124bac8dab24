//! The load bench: strela against may_minihttp (and optional extra peers) under wrk, side by side
//! in one run, so ratios survive a noisy shared machine.
//!
//! ```sh
//! cargo run --release -p strela-benches --bin loadbench                 # full: 3 rounds × 10 s
//! cargo run --release -p strela-benches --bin loadbench -- --duration 1 --warmup 0.5 --rounds 1   # smoke
//! ```
//!
//! How it measures (see benches/README.md for why):
//! - every server runs with one worker pinned to CPU 0 (`taskset -c 0`); wrk runs one thread pinned
//!   to CPU 1; servers are restarted for every measurement and interleaved round-robin, the order
//!   flipping every round;
//! - a warm-up run precedes each measured run;
//! - server CPU time is utime+stime of the whole process from `/proc/PID/stat` across the measured
//!   run only; wrk's CPU is this process's reaped-children time across the wrk run;
//! - latency percentiles come from wrk's histogram dumped by the Lua `done()` hook, with wrk 4.x's
//!   coordinated-omission "correction" undone exactly (it assumes one request per round trip and
//!   so invents samples under pipelining). Under pipelining one sample is one batch round trip.
//!
//! Writes `target/loadbench/results.{md,json,svg}` and prints the markdown table.

use std::fmt::Write as _;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;

/// strela vs may_minihttp under wrk, interleaved, with CPU time per request.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Seconds per measured wrk run (whole seconds: wrk's resolution).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before each measured run (0 to skip).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Rounds; each round runs every scenario on every server once.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Scenarios to run (comma-separated): plaintext, pipelined, json.
    #[arg(long, default_value = "plaintext,pipelined,json")]
    scenarios: String,
    /// Extra peer servers as NAME=COMMAND (quote it: one argument); `{port}` in COMMAND is
    /// replaced by the port. E.g. --peer "direct=target/release/strela-direct {port} 1".
    #[arg(long = "peer", value_name = "NAME=COMMAND")]
    peers: Vec<String>,
    /// The `strela` binary as of git revision REV, as a peer named NAME (built once in a
    /// worktree under target/baselines/, then reused): e.g. --baseline before=HEAD~3.
    #[arg(long = "baseline", value_name = "NAME=REV")]
    baselines: Vec<String>,
    /// Skip may_minihttp (strela alone).
    #[arg(long)]
    no_may: bool,
    /// CPU for the servers.
    #[arg(long, default_value = "0")]
    server_cpu: String,
    /// CPU for wrk.
    #[arg(long, default_value = "1")]
    wrk_cpu: String,
    /// Output directory.
    #[arg(long, default_value = "target/loadbench")]
    out: PathBuf,
    /// Do not run `cargo build` for the server binaries first.
    #[arg(long)]
    no_build: bool,
    /// strela's worker count (the may peer always uses one worker).
    #[arg(long, default_value_t = 1)]
    strela_workers: usize,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: &'static str,
    path: &'static str,
    conns: u32,
    depth: u32,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "plaintext",
        path: "/plaintext",
        conns: 64,
        depth: 1,
    },
    Scenario {
        name: "pipelined",
        path: "/plaintext",
        conns: 256,
        depth: 16,
    },
    Scenario {
        name: "json",
        path: "/json",
        conns: 64,
        depth: 1,
    },
];

#[derive(Clone, Debug)]
struct ServerSpec {
    name: String,
    argv: Vec<String>,
    port: u16,
}

#[derive(Clone, Debug, Serialize)]
struct Sample {
    round: usize,
    scenario: String,
    server: String,
    requests: u64,
    seconds: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    server_cpu_s: f64,
    cpu_us_per_req: f64,
    wrk_cpu_pct: f64,
    errors: u64,
}

const LUA: &str = r#"-- written by loadbench: pipelining depth from the first script argument, and a done() hook
-- that dumps wrk's latency histogram so percentiles can be computed without wrk's correction.
local depth = 1
init = function(args)
  if args[1] ~= nil then depth = tonumber(args[1]) end
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
done = function(summary, latency, requests)
  local path = os.getenv("LOADBENCH_HIST")
  if path == nil then return end
  local f = io.open(path, "w")
  f:write(string.format("duration_us %d\nrequests %d\n", summary.duration, summary.requests))
  for i = 1, #latency do
    local v, c = latency(i)
    f:write(string.format("%d %d\n", v, c))
  end
  f:close()
end
"#;

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("loadbench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    ensure_wrk()?;
    let bin_dir = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .unwrap()
        .to_path_buf();
    if !args.no_build {
        build_servers()?;
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let lua = args.out.join("loadbench.lua");
    std::fs::write(&lua, LUA).map_err(|e| e.to_string())?;

    let mut servers = vec![ServerSpec {
        name: "strela".into(),
        argv: vec![
            bin_dir.join("strela").display().to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "18080".into(),
            "--workers".into(),
            args.strela_workers.to_string(),
        ],
        port: 18080,
    }];
    if !args.no_may {
        servers.push(ServerSpec {
            name: "may_minihttp".into(),
            argv: vec![
                bin_dir.join("peer-may").display().to_string(),
                "18081".into(),
                "1".into(),
            ],
            port: 18081,
        });
    }
    for (i, b) in args.baselines.iter().enumerate() {
        let (name, rev) = b.split_once('=').ok_or("--baseline takes NAME=REV")?;
        let bin = build_baseline(rev)?;
        let port = 18070 + i as u16;
        servers.push(ServerSpec {
            name: name.into(),
            argv: vec![
                bin.display().to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--workers".into(),
                args.strela_workers.to_string(),
            ],
            port,
        });
    }
    for (i, p) in args.peers.iter().enumerate() {
        let (name, cmd) = p.split_once('=').ok_or("--peer takes NAME=COMMAND")?;
        let port = 18090 + i as u16;
        let cmd = cmd.replace("{port}", &port.to_string());
        servers.push(ServerSpec {
            name: name.into(),
            argv: cmd.split_whitespace().map(String::from).collect(),
            port,
        });
    }
    let wanted: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let scenarios: Vec<Scenario> = SCENARIOS
        .iter()
        .filter(|s| wanted.contains(&s.name))
        .cloned()
        .collect();
    if scenarios.is_empty() {
        return Err("no known scenario selected".into());
    }
    let taskset = Command::new("taskset").arg("--version").output().is_ok();
    if !taskset {
        eprintln!("loadbench: taskset not found: servers and wrk are NOT pinned (apt-get install util-linux)");
    }

    let mut samples = Vec::new();
    for round in 0..args.rounds {
        for sc in &scenarios {
            let mut order: Vec<&ServerSpec> = servers.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for srv in order {
                let s = measure(args, srv, sc, round, &lua, taskset)?;
                eprintln!(
                    "round {} {:<10} {:<13} {:>10.0} req/s  p50 {:>8.0} µs  p99 {:>8.0} µs  {:.3} CPU-µs/req  wrk {:.0}%{}",
                    round + 1,
                    sc.name,
                    srv.name,
                    s.rps,
                    s.p50_us,
                    s.p99_us,
                    s.cpu_us_per_req,
                    s.wrk_cpu_pct,
                    if s.errors > 0 { format!("  ERRORS {}", s.errors) } else { String::new() }
                );
                samples.push(s);
            }
        }
    }
    let report = Report::new(args, &servers, &scenarios, samples);
    let md = report.markdown();
    println!("{md}");
    std::fs::write(args.out.join("results.md"), &md).map_err(|e| e.to_string())?;
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&report.json()).unwrap(),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("results.svg"), report.svg()).map_err(|e| e.to_string())?;
    eprintln!(
        "loadbench: wrote {}/results.{{md,json,svg}}",
        args.out.display()
    );
    Ok(())
}

fn ensure_wrk() -> Result<(), String> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("loadbench: wrk not found; trying `apt-get install -y wrk` (needs root and Debian's packages)");
    let _ = Command::new("apt-get").arg("update").arg("-qq").status();
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .status()
        .map(|s| s.success());
    if matches!(ok, Ok(true)) && Command::new("wrk").arg("--version").output().is_ok() {
        Ok(())
    } else {
        Err("wrk is required: install it with `apt-get install wrk` (Debian/Ubuntu)".into())
    }
}

fn build_servers() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "strela",
            "--bin",
            "strela",
            "-p",
            "strela-benches",
            "--bin",
            "peer-may",
            "--bin",
            "strela-direct",
            "--bin",
            "strela-deferred",
        ])
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err("building the servers failed".into())
    }
}

/// Output of a git command in the current directory, trimmed.
fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit being measured: HEAD's short hash, `-dirty` with uncommitted changes to tracked
/// files.
fn head_commit() -> String {
    let hash = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|_| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{hash}-dirty")
    } else {
        hash
    }
}

/// Builds the `strela` binary at `rev` in a detached worktree under `target/baselines/<hash>`
/// (once: an existing build is reused) and returns its path.
fn build_baseline(rev: &str) -> Result<PathBuf, String> {
    let hash = git(&["rev-parse", "--short=12", &format!("{rev}^{{commit}}")])?;
    let dir = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join("target/baselines")
        .join(&hash);
    let bin = dir.join("target/release/strela");
    if bin.exists() {
        return Ok(bin);
    }
    let src = dir.join("src");
    if !src.exists() {
        git(&[
            "worktree",
            "add",
            "--detach",
            &src.display().to_string(),
            &hash,
        ])?;
    }
    eprintln!(
        "loadbench: building strela at {rev} ({hash}) in {}",
        src.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .args(["build", "--release", "-p", "strela", "--bin", "strela"])
        .status()
        .map_err(|e| format!("cargo build at {rev}: {e}"))?;
    if !st.success() || !bin.exists() {
        return Err(format!("building strela at {rev} failed"));
    }
    Ok(bin)
}

/// `arg` as the shell reads it back: bare when it holds only safe characters, else in single
/// quotes.
fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./=:,+-@%".contains(&b));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn spawn_pinned(cpu: &str, argv: &[String], taskset: bool) -> Result<Child, String> {
    let mut cmd = if taskset {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu).args(argv);
        c
    } else {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", argv[0]))
}

fn wait_listening(port: u16) -> Result<(), String> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("nothing listens on port {port} after 10 s"))
}

/// (utime + stime) of a process, in seconds.
fn proc_cpu(pid: u32) -> f64 {
    stat_fields(&format!("/proc/{pid}/stat"))
        .map(|f| (f[11] + f[12]) as f64 / clk_tck())
        .unwrap_or(0.0)
}

/// (cutime + cstime) of this process: CPU of reaped children, in seconds.
fn children_cpu() -> f64 {
    stat_fields("/proc/self/stat")
        .map(|f| (f[13] + f[14]) as f64 / clk_tck())
        .unwrap_or(0.0)
}

/// Numeric fields of a /proc stat file after the command name; index 0 is field 3 (state).
fn stat_fields(path: &str) -> Option<Vec<u64>> {
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(
        rest.split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect(),
    )
}

fn clk_tck() -> f64 {
    rustix_clk_tck().unwrap_or(100.0)
}

fn rustix_clk_tck() -> Option<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn measure(
    args: &Args,
    srv: &ServerSpec,
    sc: &Scenario,
    round: usize,
    lua: &Path,
    taskset: bool,
) -> Result<Sample, String> {
    // SO_REUSEPORT would let a leftover server share the port silently and take half the load.
    if TcpStream::connect(("127.0.0.1", srv.port)).is_ok() {
        return Err(format!(
            "port {} is already in use: stop whatever listens there first",
            srv.port
        ));
    }
    let mut child = spawn_pinned(&args.server_cpu, &srv.argv, taskset)?;
    let result = (|| {
        wait_listening(srv.port)?;
        let url = format!("http://127.0.0.1:{}{}", srv.port, sc.path);
        if args.warmup > 0.0 {
            wrk(args, sc, &url, lua, args.warmup, None, taskset)?;
        }
        let hist = args.out.join(format!("hist-{}-{}.txt", srv.name, sc.name));
        let cpu0 = proc_cpu(child.id());
        let kids0 = children_cpu();
        let out = wrk(args, sc, &url, lua, args.duration, Some(&hist), taskset)?;
        let cpu1 = proc_cpu(child.id());
        let kids1 = children_cpu();
        let parsed = parse_wrk(&out)?;
        let (dur_us, reqs, h) = read_hist(&hist)?;
        let raw = undo_wrk_correction(&h, dur_us, reqs, sc.conns as u64);
        let secs = parsed.seconds.max(1e-9);
        let server_cpu_s = cpu1 - cpu0;
        Ok(Sample {
            round: round + 1,
            scenario: sc.name.into(),
            server: srv.name.clone(),
            requests: parsed.requests,
            seconds: secs,
            rps: parsed.requests as f64 / secs,
            p50_us: percentile(&raw, 50.0),
            p99_us: percentile(&raw, 99.0),
            server_cpu_s,
            cpu_us_per_req: server_cpu_s * 1e6 / parsed.requests.max(1) as f64,
            wrk_cpu_pct: (kids1 - kids0) * 100.0 / secs,
            errors: parsed.errors,
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn wrk(
    args: &Args,
    sc: &Scenario,
    url: &str,
    lua: &Path,
    secs: f64,
    hist: Option<&Path>,
    taskset: bool,
) -> Result<String, String> {
    let mut argv: Vec<String> = Vec::new();
    if taskset {
        argv.extend(["taskset".into(), "-c".into(), args.wrk_cpu.clone()]);
    }
    // wrk takes whole seconds (its time units are s, m, h).
    let dur_s = secs.round().max(1.0) as u64;
    argv.extend([
        "wrk".into(),
        "-t1".into(),
        format!("-c{}", sc.conns),
        format!("-d{dur_s}s"),
        "--timeout".into(),
        "5s".into(),
        "-s".into(),
        lua.display().to_string(),
        url.into(),
        "--".into(),
        sc.depth.to_string(),
    ]);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if let Some(h) = hist {
        cmd.env("LOADBENCH_HIST", h);
    }
    let out = cmd.output().map_err(|e| format!("wrk: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct WrkOut {
    requests: u64,
    seconds: f64,
    errors: u64,
}

fn parse_wrk(out: &str) -> Result<WrkOut, String> {
    let mut w = WrkOut {
        requests: 0,
        seconds: 0.0,
        errors: 0,
    };
    for line in out.lines() {
        let t = line.trim();
        if let Some((n, rest)) = t.split_once(" requests in ") {
            w.requests = n.trim().parse().map_err(|_| format!("bad wrk line: {t}"))?;
            let d = rest.split(',').next().unwrap_or("").trim();
            w.seconds = parse_duration(d).ok_or_else(|| format!("bad wrk duration: {d}"))?;
        } else if let Some(rest) = t.strip_prefix("Socket errors:") {
            w.errors += rest
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(rest) = t.strip_prefix("Non-2xx or 3xx responses:") {
            w.errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    if w.requests == 0 {
        return Err(format!("wrk reported no requests:\n{out}"));
    }
    Ok(w)
}

fn parse_duration(d: &str) -> Option<f64> {
    let split = d.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = d.split_at(split);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        _ => return None,
    })
}

/// A latency histogram: (value µs, count), ascending.
type Histogram = Vec<(u64, u64)>;

/// Reads the dumped histogram: (duration_us, requests, [(value_us, count)] ascending).
fn read_hist(path: &Path) -> Result<(u64, u64, Histogram), String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut dur, mut reqs, mut h) = (0, 0, Vec::new());
    for line in s.lines() {
        let mut it = line.split_whitespace();
        match (it.next(), it.next()) {
            (Some("duration_us"), Some(v)) => dur = v.parse().unwrap_or(0),
            (Some("requests"), Some(v)) => reqs = v.parse().unwrap_or(0),
            (Some(v), Some(c)) => h.push((v.parse().unwrap_or(0), c.parse().unwrap_or(0))),
            _ => {}
        }
    }
    h.sort_unstable();
    Ok((dur, reqs, h))
}

/// Undoes wrk 4.x's `stats_correct`: for every recorded value n ≥ 2e (e = runtime_us /
/// (requests / connections)) it added n's count at n−e, n−2e, … while > e. Walking down from the
/// largest value, each value's raw count is its corrected count minus what larger values added.
fn undo_wrk_correction(
    h: &[(u64, u64)],
    dur_us: u64,
    requests: u64,
    conns: u64,
) -> Vec<(u64, u64)> {
    let per_conn = requests / conns.max(1);
    if per_conn == 0 || h.is_empty() {
        return h.to_vec();
    }
    let e = dur_us / per_conn;
    if e == 0 {
        return h.to_vec();
    }
    let mut added: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut raw: Vec<(u64, u64)> = Vec::with_capacity(h.len());
    for &(v, c) in h.iter().rev() {
        let r = c.saturating_sub(added.remove(&v).unwrap_or(0));
        if r > 0 {
            raw.push((v, r));
            if v >= 2 * e {
                let mut m = v - e;
                while m > e {
                    *added.entry(m).or_insert(0) += r;
                    m -= e;
                }
            }
        }
    }
    raw.reverse();
    raw
}

fn percentile(h: &[(u64, u64)], p: f64) -> f64 {
    let total: u64 = h.iter().map(|x| x.1).sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for &(v, c) in h {
        seen += c;
        if seen >= rank {
            return v as f64;
        }
    }
    h.last().map(|x| x.0 as f64).unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Report {
    header: String,
    servers: Vec<String>,
    scenarios: Vec<Scenario>,
    samples: Vec<Sample>,
}

impl Report {
    fn new(
        args: &Args,
        servers: &[ServerSpec],
        scenarios: &[Scenario],
        samples: Vec<Sample>,
    ) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let date = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let argv: Vec<String> = std::env::args().skip(1).map(|a| shell_quote(&a)).collect();
        let header = format!(
            "{date}; commit {}; {cores} cores ({cpu}), Linux {}; servers pinned to CPU {}, wrk (1 thread) to CPU {}; \
             {} round(s) × {} s (+{} s warm-up), servers interleaved; \
             command: `cargo run --release -p strela-benches --bin loadbench -- {}`",
            head_commit(),
            kernel.trim(),
            args.server_cpu,
            args.wrk_cpu,
            args.rounds,
            args.duration,
            args.warmup,
            argv.join(" ")
        );
        Report {
            header,
            servers: servers.iter().map(|s| s.name.clone()).collect(),
            scenarios: scenarios.to_vec(),
            samples,
        }
    }

    fn pick(&self, sc: &str, srv: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.scenario == sc && s.server == srv)
            .collect()
    }

    fn med(&self, sc: &str, srv: &str, f: impl Fn(&Sample) -> f64) -> f64 {
        median(self.pick(sc, srv).into_iter().map(f).collect())
    }

    /// Median over rounds of the per-round ratio strela / peer.
    fn paired(&self, sc: &str, peer: &str, f: impl Fn(&Sample) -> f64) -> f64 {
        let a = self.pick(sc, "strela");
        let b = self.pick(sc, peer);
        median(
            a.iter()
                .filter_map(|x| b.iter().find(|y| y.round == x.round).map(|y| f(x) / f(y)))
                .collect(),
        )
    }

    fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "Load bench — {}\n", self.header);
        let _ = writeln!(
            m,
            "| scenario | server | requests/s | p50 µs | p99 µs | CPU-µs/req | wrk CPU | errors |"
        );
        let _ = writeln!(m, "|---|---|---:|---:|---:|---:|---:|---:|");
        for sc in &self.scenarios {
            for srv in &self.servers {
                if self.pick(sc.name, srv).is_empty() {
                    continue;
                }
                let errors: u64 = self.pick(sc.name, srv).iter().map(|s| s.errors).sum();
                let _ = writeln!(
                    m,
                    "| {} (c={}, depth {}) | {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.0}% | {} |",
                    sc.name,
                    sc.conns,
                    sc.depth,
                    srv,
                    self.med(sc.name, srv, |s| s.rps),
                    self.med(sc.name, srv, |s| s.p50_us),
                    self.med(sc.name, srv, |s| s.p99_us),
                    self.med(sc.name, srv, |s| s.cpu_us_per_req),
                    self.med(sc.name, srv, |s| s.wrk_cpu_pct),
                    errors
                );
            }
        }
        for peer in self.servers.iter().filter(|s| *s != "strela") {
            let _ = writeln!(
                m,
                "\nstrela / {peer} (medians; paired per round in brackets):\n"
            );
            let _ = writeln!(m, "| scenario | requests/s ratio | CPU-per-request ratio |");
            let _ = writeln!(m, "|---|---:|---:|");
            for sc in &self.scenarios {
                let rps =
                    self.med(sc.name, "strela", |s| s.rps) / self.med(sc.name, peer, |s| s.rps);
                let cpu = self.med(sc.name, "strela", |s| s.cpu_us_per_req)
                    / self.med(sc.name, peer, |s| s.cpu_us_per_req);
                let _ = writeln!(
                    m,
                    "| {} | {:.3} [{:.3}] | {:.3} [{:.3}] |",
                    sc.name,
                    rps,
                    self.paired(sc.name, peer, |s| s.rps),
                    cpu,
                    self.paired(sc.name, peer, |s| s.cpu_us_per_req)
                );
            }
        }
        let _ = writeln!(
            m,
            "\nwrk CPU near 100% means the single wrk thread, not the server, set the request rate: \
             compare CPU-µs/req then. Latency: raw wrk samples (correction undone); pipelined, one \
             sample is one 16-request batch round trip."
        );
        m
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "setup": self.header, "samples": self.samples })
    }

    /// A grouped bar chart of median requests/s per scenario and server.
    fn svg(&self) -> String {
        let colors = ["#d9480f", "#1c7ed6", "#2f9e44", "#7048e8", "#868e96"];
        let (w, h, left, top, bottom) = (760.0, 360.0, 70.0, 40.0, 60.0);
        let plot_h = h - top - bottom;
        let groups = self.scenarios.len().max(1) as f64;
        let group_w = (w - left - 20.0) / groups;
        let nserv = self.servers.len().max(1) as f64;
        let bar_w = group_w * 0.7 / nserv;
        let max = self
            .scenarios
            .iter()
            .flat_map(|sc| self.servers.iter().map(move |s| (sc, s)))
            .map(|(sc, s)| self.med(sc.name, s, |x| x.rps))
            .filter(|v| v.is_finite())
            .fold(1.0, f64::max)
            * 1.1;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="20" font-size="14">requests/s (median), one server core, wrk on the other</text>"#
        );
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            let y = top + plot_h - plot_h * i as f64 / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                w - 20.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{:.0}k</text>"#,
                left - 6.0,
                y + 4.0,
                v / 1000.0
            );
        }
        for (gi, sc) in self.scenarios.iter().enumerate() {
            let gx = left + group_w * gi as f64 + group_w * 0.15;
            for (si, srv) in self.servers.iter().enumerate() {
                let v = self.med(sc.name, srv, |x| x.rps);
                if !v.is_finite() {
                    continue;
                }
                let bh = plot_h * v / max;
                let x = gx + bar_w * si as f64;
                let y = top + plot_h - bh;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"/>"#,
                    bar_w - 2.0,
                    colors[si % colors.len()]
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{:.0}k</text>"#,
                    x + bar_w / 2.0,
                    y - 3.0,
                    v / 1000.0
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} (c={}, depth {})</text>"#,
                gx + group_w * 0.35,
                h - bottom + 18.0,
                sc.name,
                sc.conns,
                sc.depth
            );
        }
        for (si, srv) in self.servers.iter().enumerate() {
            let x = left + 10.0 + 130.0 * si as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/>"#,
                h - 22.0,
                colors[si % colors.len()]
            );
            let _ = writeln!(s, r#"<text x="{}" y="{}">{srv}</text>"#, x + 16.0, h - 12.0);
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wrk's stats_correct, transcribed, to check the inverse against.
    fn correct(raw: &[(u64, u64)], e: u64) -> Vec<(u64, u64)> {
        let max = raw.iter().map(|x| x.0).max().unwrap_or(0) as usize;
        let mut data = vec![0u64; max + 1];
        for &(v, c) in raw {
            data[v as usize] += c;
        }
        let mut n = 2 * e as usize;
        while n <= max {
            let count = data[n];
            let mut m = n as i64 - e as i64;
            while count > 0 && m > e as i64 {
                data[m as usize] += count;
                m -= e as i64;
            }
            n += 1;
        }
        data.iter()
            .enumerate()
            .filter(|x| *x.1 > 0)
            .map(|(v, &c)| (v as u64, c))
            .collect()
    }

    #[test]
    fn undo_inverts_wrks_correction() {
        let raw = vec![(3, 5), (40, 2), (95, 7), (96, 1), (400, 3), (1234, 1)];
        // e = dur / (requests / conns): pick numbers giving e = 37.
        let (dur, conns) = (37 * 1000, 10);
        let requests = 1000 * conns;
        let e = dur / (requests / conns);
        assert_eq!(e, 37);
        let corrected = correct(&raw, e);
        assert_ne!(corrected, raw, "the correction must have changed something");
        assert_eq!(undo_wrk_correction(&corrected, dur, requests, conns), raw);
    }

    #[test]
    fn shell_quoting_round_trips_peer_commands() {
        assert_eq!(shell_quote("--rounds"), "--rounds");
        assert_eq!(
            shell_quote("c=target/ffi/hello {port} 1"),
            "'c=target/ffi/hello {port} 1'"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn percentiles_and_parsing() {
        let h = vec![(10, 50), (20, 49), (1000, 1)];
        assert_eq!(percentile(&h, 50.0), 10.0);
        assert_eq!(percentile(&h, 99.0), 20.0);
        assert_eq!(percentile(&h, 100.0), 1000.0);
        let out = "  1 threads and 64 connections\n  424491 requests in 5.00s, 53.03MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\nRequests/sec:  84850.58\n";
        let w = parse_wrk(out).unwrap();
        assert_eq!((w.requests, w.errors), (424491, 3));
        assert!((w.seconds - 5.0).abs() < 1e-9);
        assert_eq!(parse_duration("1.50m"), Some(90.0));
    }
}
