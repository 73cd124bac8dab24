//! The load bench: strela against may_minihttp (and optional extra peers) under wrk, side by side
//! in one run, so ratios survive a noisy shared machine.
//!
//! ```sh
//! cargo run --release -p strela-benches --bin loadbench                 # full: 3 rounds × 10 s
//! cargo run --release -p strela-benches --bin loadbench -- --duration 1 --warmup 0.5 --rounds 1   # smoke
//! cargo run --release -p strela-benches --bin loadbench -- --sweep --rate  # concurrency sweep + fixed-rate latency
//! ```
//!
//! How it measures (see benches/README.md for why):
//! - every server runs with one worker pinned to CPU 0 (`taskset -c 0`); wrk runs one thread pinned
//!   to CPU 1; servers are restarted for every measurement and interleaved round-robin, the order
//!   flipping every round;
//! - a warm-up run precedes each measured run;
//! - server CPU time is utime+stime of the whole process from `/proc/PID/stat` across the measured
//!   run only; wrk's CPU is this process's reaped-children time across the wrk run;
//! - the hypervisor's steal time on the pinned CPUs (`/proc/stat`) is read around every measured
//!   run: a run over `--max-steal` percent is measured again (`--steal-retries`), the least
//!   disturbed kept;
//! - latency percentiles come from wrk's histogram dumped by the Lua `done()` hook, with wrk 4.x's
//!   coordinated-omission "correction" undone exactly (it assumes one request per round trip and
//!   so invents samples under pipelining). Under pipelining one sample is one batch round trip.
//!
//! - `--sweep`: TechEmpower's concurrency levels instead of the three default scenarios —
//!   pipelined plaintext at 256 / 1,024 / 4,096 / 16,384 connections, json at 16 / 64 / 256 / 512;
//! - `--rate`: afterwards, every unpipelined scenario again at fixed rates — 50 % and 90 % of each
//!   server's own measured peak — driven by `h2load --rps` (per connection; one thread pinned like
//!   wrk; steal-checked and measured again like the wrk runs), latency percentiles from its
//!   per-request log. h2load times a request from its send,
//!   so a stall that delays later sends is not charged to them (no coordinated-omission
//!   correction): tails are a lower bound.
//!
//! Prints a start line (what runs, how long it takes) and an ETA after every run. Writes
//! `target/loadbench/results.{md,json,svg}` and prints the markdown table; the SVG shows
//! requests/s and CPU µs per request on log axes, the median with the spread of the rounds.

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
    /// TechEmpower's concurrency sweep instead of `--scenarios`: pipelined plaintext at 256,
    /// 1024, 4096, 16384 connections; json at 16, 64, 256, 512.
    #[arg(long)]
    sweep: bool,
    /// Then run every unpipelined scenario at fixed rates (percent of each server's measured
    /// peak, `--rate-points`) with `h2load --rps`, for latency percentiles at a given load.
    #[arg(long)]
    rate: bool,
    /// The fixed rates of `--rate`, in percent of the measured peak.
    #[arg(long, default_value = "50,90")]
    rate_points: String,
    /// Leave out scenarios with more connections than this (a short check of `--sweep`
    /// without its largest levels).
    #[arg(long)]
    max_conns: Option<u32>,
    /// A run during which the hypervisor took more than this percentage of the servers' or
    /// wrk's CPU (steal time, /proc/stat) is measured again (`--steal-retries`); 100 turns the
    /// check off. Stolen time slows both sides and inflates CPU per request by up to 2×.
    #[arg(long, default_value_t = 3.0)]
    max_steal: f64,
    /// How often a run over `--max-steal` is measured again; the least disturbed is kept.
    #[arg(long, default_value_t = 3)]
    steal_retries: usize,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: String,
    path: &'static str,
    conns: u32,
    depth: u32,
}

impl Scenario {
    fn new(name: &str, path: &'static str, conns: u32, depth: u32) -> Scenario {
        Scenario {
            name: name.into(),
            path,
            conns,
            depth,
        }
    }
}

/// The default scenarios: (name, path, connections, pipelining depth).
const SCENARIOS: [(&str, &str, u32, u32); 3] = [
    ("plaintext", "/plaintext", 64, 1),
    ("pipelined", "/plaintext", 256, 16),
    ("json", "/json", 64, 1),
];

/// TechEmpower's concurrency levels: plaintext is pipelined 16 deep, json is not.
fn sweep() -> Vec<Scenario> {
    let mut v: Vec<Scenario> = [256, 1024, 4096, 16384]
        .iter()
        .map(|&c| Scenario::new(&format!("pipelined-c{c}"), "/plaintext", c, 16))
        .collect();
    v.extend(
        [16, 64, 256, 512]
            .iter()
            .map(|&c| Scenario::new(&format!("json-c{c}"), "/json", c, 1)),
    );
    v
}

/// One fixed-rate run (`--rate`).
#[derive(Clone, Debug, Serialize)]
struct RateSample {
    scenario: String,
    server: String,
    percent_of_peak: f64,
    target_rps: f64,
    achieved_rps: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    cpu_us_per_req: f64,
    failed: u64,
    /// The largest share of a pinned CPU (percent) the hypervisor took during the run.
    steal_pct: f64,
}

/// What the retry policy reads from a measurement.
trait Disturbed {
    /// The largest share of a watched CPU (percent) the hypervisor took during the run.
    fn steal_pct(&self) -> f64;
    /// The server's CPU per request, for the retry's report.
    fn cpu_us_per_req(&self) -> f64;
}

impl Disturbed for Sample {
    fn steal_pct(&self) -> f64 {
        self.steal_pct
    }
    fn cpu_us_per_req(&self) -> f64 {
        self.cpu_us_per_req
    }
}

impl Disturbed for RateSample {
    fn steal_pct(&self) -> f64 {
        self.steal_pct
    }
    fn cpu_us_per_req(&self) -> f64 {
        self.cpu_us_per_req
    }
}

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
    /// The user-space part of `cpu_us_per_req` (the rest is the kernel's).
    user_us_per_req: f64,
    /// Times the server's threads blocked (voluntary context switches) per 1,000 requests.
    sleeps_per_kreq: f64,
    wrk_cpu_pct: f64,
    /// Share of the run the hypervisor took from the busier of the server's and wrk's CPUs.
    steal_pct: f64,
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
    let scenarios: Vec<Scenario> = if args.sweep {
        sweep()
    } else {
        SCENARIOS
            .iter()
            .filter(|s| wanted.contains(&s.0))
            .map(|&(n, p, c, d)| Scenario::new(n, p, c, d))
            .collect()
    };
    let scenarios: Vec<Scenario> = scenarios
        .into_iter()
        .filter(|s| args.max_conns.map_or(true, |m| s.conns <= m))
        .collect();
    if scenarios.is_empty() {
        return Err("no known scenario selected".into());
    }
    let points: Vec<f64> = if args.rate {
        ensure_h2load()?;
        args.rate_points
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<f64>()
                    .map_err(|e| format!("--rate-points: {e}"))
            })
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    raise_fd_limit(&scenarios);
    let taskset = Command::new("taskset").arg("--version").output().is_ok();
    if !taskset {
        eprintln!("loadbench: taskset not found: servers and wrk are NOT pinned (apt-get install util-linux)");
    }
    // The CPUs whose steal time is watched: the pinned ones, or all of them when unpinned.
    let cpus = if taskset {
        Cpus {
            server: parse_cpu_list(&args.server_cpu).ok_or("--server-cpu: not a CPU list")?,
            wrk: parse_cpu_list(&args.wrk_cpu).ok_or("--wrk-cpu: not a CPU list")?,
        }
    } else {
        Cpus {
            server: Vec::new(),
            wrk: Vec::new(),
        }
    };

    // The start line: what runs and for how long; an ETA follows every run.
    let unpipelined = scenarios.iter().filter(|s| s.depth == 1).count();
    let runs = args.rounds * scenarios.len() * servers.len();
    let rate_runs = points.len() * unpipelined * servers.len();
    let run_s = |sc: &Scenario| {
        let min_s = min_run_secs(sc.conns);
        let warm = if args.warmup > 0.0 {
            args.warmup.round().max(min_s)
        } else {
            0.0
        };
        warm + args.duration.round().max(min_s) + 0.5
    };
    let per_run = scenarios.iter().map(run_s).sum::<f64>() / scenarios.len() as f64;
    let mut eta = Eta::new(
        runs as f64 * per_run + rate_runs as f64 * (per_run + 1.0),
        runs + rate_runs,
    );
    eprintln!(
        "loadbench: commit {}; servers {}; {} scenario(s) × {} round(s) = {runs} wrk runs{}; \
         {:.0} s warm-up + {:.0} s each: about {}",
        head_commit(),
        servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        scenarios.len(),
        args.rounds,
        if rate_runs > 0 {
            format!(
                " + {rate_runs} fixed-rate h2load runs ({} % of peak)",
                args.rate_points
            )
        } else {
            String::new()
        },
        args.warmup,
        args.duration.round().max(1.0),
        clock(eta.total)
    );

    let policy = Retry {
        max_steal_pct: args.max_steal,
        steal_retries: args.steal_retries,
        empty_pause: Duration::from_secs(2),
    };
    let mut samples = Vec::new();
    for round in 0..args.rounds {
        for sc in &scenarios {
            let mut order: Vec<&ServerSpec> = servers.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for srv in order {
                let s = measured(sc, srv, &policy, || {
                    measure(args, srv, sc, round, &lua, &cpus, taskset)
                })?;
                eprintln!(
                    "{} round {} {:<14} {:<13} {:>10.0} req/s  p50 {:>8.0} µs  p99 {:>8.0} µs  {:.3} CPU-µs/req  wrk {:.0}%  steal {:.1}%{}",
                    eta.tick(),
                    round + 1,
                    sc.name,
                    srv.name,
                    s.rps,
                    s.p50_us,
                    s.p99_us,
                    s.cpu_us_per_req,
                    s.wrk_cpu_pct,
                    s.steal_pct,
                    if s.errors > 0 { format!("  ERRORS {}", s.errors) } else { String::new() }
                );
                samples.push(s);
            }
        }
    }
    let mut rates = Vec::new();
    for sc in scenarios.iter().filter(|s| s.depth == 1) {
        for &pct in &points {
            for srv in &servers {
                let peak = median(
                    samples
                        .iter()
                        .filter(|s| s.scenario == sc.name && s.server == srv.name)
                        .map(|s| s.rps)
                        .collect(),
                );
                if !peak.is_finite() || peak <= 0.0 {
                    continue;
                }
                let target = peak * pct / 100.0;
                let r = measured(sc, srv, &policy, || {
                    rate_run(args, srv, sc, pct, target, &cpus, taskset)
                })?;
                eprintln!(
                    "{} rate {:<14} {:<13} {:>3.0} % of peak: {:>9.0} of {:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  p99.9 {:>7.0} µs  {:.3} CPU-µs/req  steal {:.1}%{}",
                    eta.tick(),
                    sc.name,
                    srv.name,
                    pct,
                    r.achieved_rps,
                    r.target_rps,
                    r.p50_us,
                    r.p99_us,
                    r.p999_us,
                    r.cpu_us_per_req,
                    r.steal_pct,
                    if r.failed > 0 { format!("  FAILED {}", r.failed) } else { String::new() }
                );
                rates.push(r);
            }
        }
    }
    let report = Report::new(args, &servers, &scenarios, samples, rates);
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

/// Progress: runs done of all, and the time left at the average pace so far (the estimate
/// before the first run).
struct Eta {
    t0: Instant,
    total: f64,
    runs: usize,
    done: usize,
}

impl Eta {
    fn new(total: f64, runs: usize) -> Eta {
        Eta {
            t0: Instant::now(),
            total,
            runs,
            done: 0,
        }
    }

    /// One more run done: `[k/N, ETA m:ss]`.
    fn tick(&mut self) -> String {
        self.done += 1;
        let spent = self.t0.elapsed().as_secs_f64();
        let left = spent / self.done as f64 * (self.runs - self.done) as f64;
        format!("[{}/{}, ETA {}]", self.done, self.runs, clock(left))
    }
}

/// Seconds as `m:ss` (or `h:mm:ss`).
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Raises this process's open-file limit to its hard limit when a scenario needs more
/// connections than the soft one allows (wrk inherits it; the servers raise their own).
fn raise_fd_limit(scenarios: &[Scenario]) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let need = scenarios.iter().map(|s| s.conns as u64).max().unwrap_or(0) + 256;
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|c| c < need) {
        lim.current = lim.maximum;
        if setrlimit(Resource::Nofile, lim).is_err() {
            eprintln!("loadbench: could not raise the open-file limit; scenarios with {need} connections may fail");
        }
    }
}

fn ensure_h2load() -> Result<(), String> {
    if Command::new("h2load").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("loadbench: h2load not found; trying `apt-get install -y nghttp2-client`");
    let _ = Command::new("apt-get").arg("update").arg("-qq").status();
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", "nghttp2-client"])
        .status();
    if Command::new("h2load").arg("--version").output().is_ok() {
        Ok(())
    } else {
        Err("--rate needs h2load: `apt-get install nghttp2-client` (Debian/Ubuntu)".into())
    }
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
    // Documents and charts do not change what is measured (benches/figures rewrites them
    // while it runs): only other files make the tree "dirty".
    let dirty = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)*.md",
        ":(exclude)*.svg",
    ])
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
    let (user, sys) = proc_cpu_split(pid);
    user + sys
}

/// (utime, stime) of a process, in seconds.
fn proc_cpu_split(pid: u32) -> (f64, f64) {
    stat_fields(&format!("/proc/{pid}/stat"))
        .map(|f| (f[11] as f64 / clk_tck(), f[12] as f64 / clk_tck()))
        .unwrap_or((0.0, 0.0))
}

/// Voluntary context switches of all of a process's threads: how often they blocked.
fn voluntary_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|st| switches_in_status(&st))
        .sum()
}

/// The `voluntary_ctxt_switches` figure of a /proc status text (0 when absent).
fn switches_in_status(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
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

/// Clock ticks per second, the unit of /proc's CPU times (from the auxiliary vector: no
/// `getconf` child, whose CPU would land in the children's time read around a wrk run).
fn clk_tck() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

fn measure(
    args: &Args,
    srv: &ServerSpec,
    sc: &Scenario,
    round: usize,
    lua: &Path,
    cpus: &Cpus,
    taskset: bool,
) -> Result<Sample, RunError> {
    with_server(args, srv, taskset, |pid| {
        let url = format!("http://127.0.0.1:{}{}", srv.port, sc.path);
        if args.warmup > 0.0 {
            wrk(args, sc, &url, lua, args.warmup, None, taskset)?;
        }
        let hist = args.out.join(format!("hist-{}-{}.txt", srv.name, sc.name));
        let (user0, sys0) = proc_cpu_split(pid);
        let sleeps0 = voluntary_switches(pid);
        let kids0 = children_cpu();
        let stat0 = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let out = wrk(args, sc, &url, lua, args.duration, Some(&hist), taskset)?;
        let (user1, sys1) = proc_cpu_split(pid);
        let sleeps1 = voluntary_switches(pid);
        let kids1 = children_cpu();
        let stat1 = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let parsed = parse_wrk(&out)?;
        let (dur_us, reqs, h) = read_hist(&hist)?;
        let raw = undo_wrk_correction(&h, dur_us, reqs, sc.conns as u64);
        let secs = parsed.seconds.max(1e-9);
        let server_cpu_s = (user1 + sys1) - (user0 + sys0);
        let requests = parsed.requests.max(1) as f64;
        Ok(Sample {
            round: round + 1,
            scenario: sc.name.clone(),
            server: srv.name.clone(),
            requests: parsed.requests,
            seconds: secs,
            rps: parsed.requests as f64 / secs,
            p50_us: percentile(&raw, 50.0),
            p99_us: percentile(&raw, 99.0),
            server_cpu_s,
            cpu_us_per_req: server_cpu_s * 1e6 / requests,
            user_us_per_req: (user1 - user0) * 1e6 / requests,
            sleeps_per_kreq: sleeps1.saturating_sub(sleeps0) as f64 * 1e3 / requests,
            wrk_cpu_pct: (kids1 - kids0) * 100.0 / secs,
            steal_pct: steal_share(cpus, &stat0, &stat1, secs),
            errors: parsed.errors,
        })
    })
}

/// The largest share (percent) of one of the watched CPU sets the hypervisor stole between
/// two reads of `/proc/stat` `secs` apart.
fn steal_share(cpus: &Cpus, stat0: &str, stat1: &str, secs: f64) -> f64 {
    [&cpus.server, &cpus.wrk]
        .into_iter()
        .filter_map(|set| {
            let (a, n) = steal_ticks(stat0, set)?;
            let (b, _) = steal_ticks(stat1, set)?;
            Some(b.saturating_sub(a) as f64 * 100.0 / (clk_tck() * secs * n as f64))
        })
        .fold(0.0, f64::max)
}

/// The CPUs the servers and wrk are pinned to (empty: all of them, unpinned).
struct Cpus {
    server: Vec<usize>,
    wrk: Vec<usize>,
}

/// When a measurement is taken again.
struct Retry {
    /// A run whose steal share exceeds this (percent) is disturbed.
    max_steal_pct: f64,
    /// How many times a disturbed run is measured again.
    steal_retries: usize,
    /// The pause before measuring an empty run again (the machine was busy).
    empty_pause: Duration,
}

/// Runs `measure` (one measurement on a fresh server) and again when its figures cannot be
/// trusted: twice at most when wrk got no answer at all (with thousands of connections its one
/// thread can spend the whole run connecting while the machine is busy: seen at 16,384
/// connections, for either server), and `steal_retries` times at most when the hypervisor took
/// more than `max_steal_pct` of a pinned CPU (then the least disturbed run is kept). Every retry
/// is reported. Any other failure ends the bench at once, unless it ends a steal retry: then
/// the disturbed run measured before stands.
fn measured<T: Disturbed>(
    sc: &Scenario,
    srv: &ServerSpec,
    policy: &Retry,
    mut measure: impl FnMut() -> Result<T, RunError>,
) -> Result<T, RunError> {
    let (mut empty, mut stolen) = (0, 0);
    let mut best: Option<T> = None;
    loop {
        match measure() {
            Err(RunError::NoAnswers(_)) if empty < 2 => {
                empty += 1;
                eprintln!(
                    "loadbench: {} {}: wrk got no answers; measuring again ({empty}/2)",
                    sc.name, srv.name
                );
                std::thread::sleep(policy.empty_pause);
            }
            Err(e) => {
                // A retry that failed leaves the disturbed run measured before it, if any.
                let Some(b) = best else {
                    return Err(e);
                };
                eprintln!(
                    "loadbench: {} {}: measuring again failed ({}); keeping the run with {:.1} % steal",
                    sc.name,
                    srv.name,
                    e.to_string().lines().next().unwrap_or(""),
                    b.steal_pct()
                );
                return Ok(b);
            }
            Ok(s) => {
                let (steal, cpu) = (s.steal_pct(), s.cpu_us_per_req());
                let disturbed = steal > policy.max_steal_pct;
                let s = match best.take() {
                    Some(b) if b.steal_pct() <= steal => b,
                    _ => s,
                };
                if !disturbed || stolen >= policy.steal_retries {
                    return Ok(s);
                }
                stolen += 1;
                eprintln!(
                    "loadbench: {} {}: the hypervisor took {:.1} % of a CPU during the run (over {} %; it read {:.3} CPU-µs/req); measuring again ({stolen}/{})",
                    sc.name, srv.name, steal, policy.max_steal_pct, cpu, policy.steal_retries
                );
                best = Some(s);
            }
        }
    }
}

/// A taskset CPU list ("0", "2-3", "0,2-3") as CPU numbers.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// Steal ticks summed over `cpus` (all CPUs when empty) in a /proc/stat text, with how many
/// CPUs were counted; `None` when one is missing.
fn steal_ticks(stat: &str, cpus: &[usize]) -> Option<(u64, usize)> {
    let mut sum = 0;
    let mut n = 0;
    for line in stat.lines() {
        // "cpuN …" lines; the "cpu …" total line and the rest are skipped.
        let Some(rest) = line
            .strip_prefix("cpu")
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let Some(Ok(id)) = f.next().map(str::parse::<usize>) else {
            continue;
        };
        if cpus.is_empty() || cpus.contains(&id) {
            // user nice system idle iowait irq softirq steal …
            sum += f.nth(7)?.parse::<u64>().ok()?;
            n += 1;
        }
    }
    (n > 0 && (cpus.is_empty() || n == cpus.len())).then_some((sum, n))
}

/// Runs `f` (given the server's PID) against a fresh server started for it, then stops the
/// server whatever `f` returned.
fn with_server<T, E: From<String>>(
    args: &Args,
    srv: &ServerSpec,
    taskset: bool,
    f: impl FnOnce(u32) -> Result<T, E>,
) -> Result<T, E> {
    // SO_REUSEPORT would let a leftover server share the port silently and take half the load.
    if TcpStream::connect(("127.0.0.1", srv.port)).is_ok() {
        return Err(format!(
            "port {} is already in use: stop whatever listens there first",
            srv.port
        )
        .into());
    }
    let mut child = spawn_pinned(&args.server_cpu, &srv.argv, taskset)?;
    let result = wait_listening(srv.port)
        .map_err(E::from)
        .and_then(|()| f(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// One fixed-rate run: a fresh server, `h2load --rps` at `target` requests/s in all over the
/// scenario's connections, latency percentiles from h2load's per-request log.
fn rate_run(
    args: &Args,
    srv: &ServerSpec,
    sc: &Scenario,
    pct: f64,
    target: f64,
    cpus: &Cpus,
    taskset: bool,
) -> Result<RateSample, RunError> {
    with_server(args, srv, taskset, |pid| {
        let url = format!("http://127.0.0.1:{}{}", srv.port, sc.path);
        let log = args
            .out
            .join(format!("rate-{}-{}-{pct:.0}.log", srv.name, sc.name));
        // h2load appends to an existing log: start from an empty one, or an earlier run's
        // requests would be counted with this one's.
        let _ = std::fs::remove_file(&log);
        let secs = args.duration.round().max(1.0);
        let mut argv: Vec<String> = Vec::new();
        if taskset {
            argv.extend(["taskset".into(), "-c".into(), args.wrk_cpu.clone()]);
        }
        argv.extend([
            "h2load".into(),
            "--h1".into(),
            "-t1".into(),
            format!("-c{}", sc.conns),
            format!("--rps={:.3}", target / sc.conns as f64),
            format!("--duration={secs}"),
            format!("--warm-up-time={}", args.warmup.max(0.0).round().max(1.0)),
            format!("--log-file={}", log.display()),
            url,
        ]);
        let cpu0 = proc_cpu(pid);
        let stat0 = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let t0 = Instant::now();
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| format!("h2load: {e}"))?;
        let wall = t0.elapsed().as_secs_f64().max(1e-9);
        let stat1 = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu1 = proc_cpu(pid);
        if !out.status.success() {
            return Err(format!(
                "h2load failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let (mut lat, failed) = parse_h2load_log(&text);
        lat.sort_unstable();
        let n = lat.len() as u64;
        let q = |p: f64| -> f64 {
            if lat.is_empty() {
                return f64::NAN;
            }
            lat[((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1] as f64
        };
        Ok(RateSample {
            scenario: sc.name.clone(),
            server: srv.name.clone(),
            percent_of_peak: pct,
            target_rps: target,
            achieved_rps: n as f64 / secs,
            p50_us: q(50.0),
            p90_us: q(90.0),
            p99_us: q(99.0),
            p999_us: q(99.9),
            max_us: q(100.0),
            cpu_us_per_req: (cpu1 - cpu0) * 1e6 / n.max(1) as f64,
            failed,
            steal_pct: steal_share(cpus, &stat0, &stat1, wall),
        })
    })
}

/// h2load's `--log-file`: `start_us<TAB>status<TAB>latency_us` per request. Returns the
/// latencies of the 2xx answers and the count of the others (a status of -1 is a failure).
fn parse_h2load_log(text: &str) -> (Vec<u64>, u64) {
    let mut lat = Vec::new();
    let mut failed = 0;
    for line in text.lines() {
        let mut f = line.split('\t');
        let (_, status, us) = (f.next(), f.next(), f.next());
        match (
            status.and_then(|s| s.parse::<i32>().ok()),
            us.and_then(|u| u.parse().ok()),
        ) {
            (Some(200..=299), Some(us)) => lat.push(us),
            (Some(_), _) => failed += 1,
            _ => {}
        }
    }
    (lat, failed)
}

fn wrk(
    args: &Args,
    sc: &Scenario,
    url: &str,
    lua: &Path,
    secs: f64,
    hist: Option<&Path>,
    taskset: bool,
) -> Result<String, RunError> {
    let mut argv: Vec<String> = Vec::new();
    if taskset {
        argv.extend(["taskset".into(), "-c".into(), args.wrk_cpu.clone()]);
    }
    // wrk takes whole seconds (its time units are s, m, h). Opening thousands of connections
    // takes wrk's one thread seconds (16,384: about 2.5 s on a quiet machine, past 5 s on a
    // busy one, when the listen queue overflows and SYNs are retried), all inside the run:
    // such runs last at least 5 s (10 s from 16,384) so that they measure answers, not
    // connects.
    let dur_s = secs.round().max(min_run_secs(sc.conns)) as u64;
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
    cmd.args(&argv[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(h) = hist {
        cmd.env("LOADBENCH_HIST", h);
    }
    let mut child = cmd.spawn().map_err(|e| format!("wrk: {e}"))?;
    // wrk stops itself after the run; one still running well past it (seen against
    // may_minihttp at 16,384 connections: minutes of CPU after a 10 s run) is stopped, and
    // the run counts as one without answers.
    let limit = Duration::from_secs(dur_s + 30);
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| format!("wrk: {e}"))? {
            Some(status) => break status,
            None if t0.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::NoAnswers(format!(
                    "wrk was still running {} s after a {dur_s} s run and was stopped",
                    limit.as_secs() - dur_s
                )));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if !status.success() {
        return Err(format!("wrk failed: {err}").into());
    }
    Ok(out)
}

/// Why a measurement failed: wrk got no answer at all (worth measuring again: see
/// [`measured`]), or anything else (the bench ends).
#[derive(Debug, Clone, PartialEq)]
enum RunError {
    /// wrk reported no requests, or was stopped long after its run; what it printed.
    NoAnswers(String),
    /// Any other failure.
    Failed(String),
}

impl From<String> for RunError {
    fn from(e: String) -> Self {
        RunError::Failed(e)
    }
}

impl From<RunError> for String {
    fn from(e: RunError) -> Self {
        e.to_string()
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::NoAnswers(why) => write!(f, "wrk reported no requests: {why}"),
            RunError::Failed(e) => f.write_str(e),
        }
    }
}

/// The shortest wrk run for `conns` connections, in seconds (see [`wrk`]).
fn min_run_secs(conns: u32) -> f64 {
    match conns {
        16384.. => 10.0,
        4096.. => 5.0,
        _ => 1.0,
    }
}

struct WrkOut {
    requests: u64,
    seconds: f64,
    errors: u64,
}

fn parse_wrk(out: &str) -> Result<WrkOut, RunError> {
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
        return Err(RunError::NoAnswers(format!("\n{out}")));
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
    rates: Vec<RateSample>,
    /// How disturbed runs were treated, for the note under the table.
    steal_rule: String,
}

impl Report {
    fn new(
        args: &Args,
        servers: &[ServerSpec],
        scenarios: &[Scenario],
        samples: Vec<Sample>,
        rates: Vec<RateSample>,
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
            rates,
            steal_rule: if args.max_steal >= 100.0 {
                "not checked: `--max-steal 100`".into()
            } else {
                format!(
                    "a run over {} % was measured again, {} times at most, keeping the least disturbed",
                    args.max_steal, args.steal_retries
                )
            },
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
            "| scenario | server | requests/s | p50 µs | p99 µs | CPU-µs/req | of it user | sleeps/1k req | wrk CPU | steal | errors |"
        );
        let _ = writeln!(m, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for sc in &self.scenarios {
            for srv in &self.servers {
                if self.pick(&sc.name, srv).is_empty() {
                    continue;
                }
                let errors: u64 = self.pick(&sc.name, srv).iter().map(|s| s.errors).sum();
                let _ = writeln!(
                    m,
                    "| {} (c={}, depth {}) | {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {:.1} | {:.0}% | {:.1}% | {} |",
                    sc.name,
                    sc.conns,
                    sc.depth,
                    srv,
                    self.med(&sc.name, srv, |s| s.rps),
                    self.med(&sc.name, srv, |s| s.p50_us),
                    self.med(&sc.name, srv, |s| s.p99_us),
                    self.med(&sc.name, srv, |s| s.cpu_us_per_req),
                    self.med(&sc.name, srv, |s| s.user_us_per_req),
                    self.med(&sc.name, srv, |s| s.sleeps_per_kreq),
                    self.med(&sc.name, srv, |s| s.wrk_cpu_pct),
                    self.med(&sc.name, srv, |s| s.steal_pct),
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
                    self.med(&sc.name, "strela", |s| s.rps) / self.med(&sc.name, peer, |s| s.rps);
                let cpu = self.med(&sc.name, "strela", |s| s.cpu_us_per_req)
                    / self.med(&sc.name, peer, |s| s.cpu_us_per_req);
                let _ = writeln!(
                    m,
                    "| {} | {:.3} [{:.3}] | {:.3} [{:.3}] |",
                    sc.name,
                    rps,
                    self.paired(&sc.name, peer, |s| s.rps),
                    cpu,
                    self.paired(&sc.name, peer, |s| s.cpu_us_per_req)
                );
            }
        }
        let _ = writeln!(
            m,
            "\nwrk CPU near 100% means the single wrk thread, not the server, set the request rate: \
             compare CPU-µs/req then; \"of it user\" is its user-space part (the rest is the \
             kernel's), sleeps are the server's voluntary context switches (an idle server blocks \
             in epoll_wait; each wake-up costs CPU). Steal: the share of the run the hypervisor took from the \
             busier of the server's and wrk's CPUs ({}). Latency: raw wrk samples (correction \
             undone); pipelined, one sample is one 16-request batch round trip. Spread: min–max \
             over the rounds in the SVG.",
            self.steal_rule
        );
        if !self.rates.is_empty() {
            let _ = writeln!(
                m,
                "\nFixed rate (h2load --rps, latency from each request's send; percent of each \
                 server's own measured peak):\n"
            );
            let _ = writeln!(
                m,
                "| scenario | server | % of peak | target req/s | achieved req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | CPU-µs/req | steal % | failed |"
            );
            let _ = writeln!(
                m,
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for r in &self.rates {
                let _ = writeln!(
                    m,
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} | {:.1} | {} |",
                    r.scenario,
                    r.server,
                    r.percent_of_peak,
                    r.target_rps,
                    r.achieved_rps,
                    r.p50_us,
                    r.p90_us,
                    r.p99_us,
                    r.p999_us,
                    r.max_us,
                    r.cpu_us_per_req,
                    r.steal_pct,
                    r.failed
                );
            }
        }
        m
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "setup": self.header, "samples": self.samples, "rates": self.rates })
    }

    /// Two panels, requests/s and CPU µs per request, each on a log axis (decades): per
    /// scenario and server the median as a dot and the min–max of the rounds as a bar.
    fn svg(&self) -> String {
        let (w, panel_h) = (
            (120.0 + 70.0 * self.scenarios.len() as f64 * self.servers.len().max(1) as f64)
                .max(760.0),
            300.0,
        );
        let h = 2.0 * panel_h + 60.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        self.panel(
            &mut s,
            0.0,
            w,
            panel_h,
            "requests/s — median (dot) and min–max over rounds (bar), log scale",
            |x| x.rps,
        );
        self.panel(
            &mut s,
            panel_h,
            w,
            panel_h,
            "server CPU µs per request (lower is better) — median and min–max, log scale",
            |x| x.cpu_us_per_req,
        );
        for (si, srv) in self.servers.iter().enumerate() {
            let x = 70.0 + 150.0 * si as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/>"#,
                h - 30.0,
                COLORS[si % COLORS.len()]
            );
            let _ = writeln!(s, r#"<text x="{}" y="{}">{srv}</text>"#, x + 16.0, h - 20.0);
        }
        s.push_str("</svg>\n");
        s
    }

    fn panel(
        &self,
        s: &mut String,
        y0: f64,
        w: f64,
        ph: f64,
        title: &str,
        f: impl Fn(&Sample) -> f64,
    ) {
        let (left, top, bottom) = (70.0, 30.0, 50.0);
        let plot_h = ph - top - bottom;
        let vals: Vec<f64> = self
            .samples
            .iter()
            .map(&f)
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        if vals.is_empty() {
            return;
        }
        let lo = vals
            .iter()
            .cloned()
            .fold(f64::MAX, f64::min)
            .log10()
            .floor();
        let hi = vals
            .iter()
            .cloned()
            .fold(0.0, f64::max)
            .log10()
            .ceil()
            .max(lo + 1.0);
        let y = |v: f64| y0 + top + plot_h - plot_h * (v.log10() - lo) / (hi - lo);
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{}" font-size="14">{title}</text>"#,
            y0 + 20.0
        );
        // Decades and the 2× / 5× lines between them.
        let mut d = lo;
        while d <= hi {
            for (m, major) in [(1.0, true), (2.0, false), (5.0, false)] {
                let v = m * 10f64.powf(d);
                if v.log10() > hi + 1e-9 {
                    continue;
                }
                let yy = y(v);
                let _ = writeln!(
                    s,
                    r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="{}"/>"##,
                    w - 20.0,
                    if major { "#bbb" } else { "#eee" }
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"#,
                    left - 6.0,
                    yy + 4.0,
                    si_number(v)
                );
            }
            d += 1.0;
        }
        let groups = self.scenarios.len().max(1) as f64;
        let group_w = (w - left - 20.0) / groups;
        let nserv = self.servers.len().max(1) as f64;
        let slot = group_w * 0.8 / nserv;
        for (gi, sc) in self.scenarios.iter().enumerate() {
            let gx = left + group_w * gi as f64 + group_w * 0.1;
            for (si, srv) in self.servers.iter().enumerate() {
                let v: Vec<f64> = self.pick(&sc.name, srv).into_iter().map(&f).collect();
                if v.is_empty() {
                    continue;
                }
                let (mn, mx) = (
                    v.iter().cloned().fold(f64::MAX, f64::min),
                    v.iter().cloned().fold(0.0, f64::max),
                );
                let med = median(v);
                let x = gx + slot * (si as f64 + 0.5);
                let c = COLORS[si % COLORS.len()];
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="8" height="{:.1}" fill="{c}" opacity="0.35"/>"#,
                    x - 4.0,
                    y(mx),
                    (y(mn) - y(mx)).max(1.0)
                );
                let _ = writeln!(
                    s,
                    r#"<circle cx="{x:.1}" cy="{:.1}" r="4" fill="{c}"/>"#,
                    y(med)
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                    y(mx) - 4.0,
                    si_number(med)
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{} (c={}, d={})</text>"#,
                gx + group_w * 0.4,
                y0 + ph - bottom + 16.0,
                sc.name,
                sc.conns,
                sc.depth
            );
        }
    }
}

const COLORS: [&str; 5] = ["#d9480f", "#1c7ed6", "#2f9e44", "#7048e8", "#868e96"];

/// 1234567 → "1.23M", 115000 → "115k", 0.5 → "0.50".
fn si_number(v: f64) -> String {
    if v >= 1e7 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
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
    fn h2load_log_and_helpers() {
        let (lat, failed) = parse_h2load_log("1\t200\t150\n2\t200\t90\n3\t-1\t0\n4\t503\t7\nbad\n");
        assert_eq!(lat, vec![150, 90]);
        assert_eq!(failed, 2);
        assert_eq!(clock(75.4), "1:15");
        assert_eq!(clock(3723.0), "1:02:03");
        assert_eq!(si_number(1_234_567.0), "1.23M");
        assert_eq!(si_number(16_000_000.0), "16M");
        assert_eq!(si_number(115_000.0), "115k");
        let names: Vec<String> = sweep().into_iter().map(|s| s.name).collect();
        assert_eq!(names.len(), 8);
        assert!(
            names.contains(&"pipelined-c16384".to_string())
                && names.contains(&"json-c512".to_string())
        );
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

    fn sample(steal_pct: f64) -> Sample {
        Sample {
            round: 1,
            scenario: "plaintext".into(),
            server: "strela".into(),
            requests: 1000,
            seconds: 1.0,
            rps: 1000.0,
            p50_us: 1.0,
            p99_us: 2.0,
            server_cpu_s: 0.01,
            cpu_us_per_req: 10.0,
            user_us_per_req: 1.0,
            sleeps_per_kreq: 20.0,
            wrk_cpu_pct: 99.0,
            steal_pct,
            errors: 0,
        }
    }

    /// Runs `measured` over a scripted sequence of outcomes; returns the result and the calls.
    fn scripted<T: Disturbed>(
        script: Vec<Result<T, RunError>>,
        retries: usize,
    ) -> (Result<f64, RunError>, usize) {
        let sc = Scenario::new("plaintext", "/plaintext", 64, 1);
        let srv = ServerSpec {
            name: "strela".into(),
            argv: Vec::new(),
            port: 0,
        };
        let policy = Retry {
            max_steal_pct: 3.0,
            steal_retries: retries,
            empty_pause: Duration::ZERO,
        };
        let mut it = script.into_iter();
        let mut calls = 0;
        let r = measured(&sc, &srv, &policy, || {
            calls += 1;
            it.next()
                .expect("measured asked for more runs than scripted")
        });
        (r.map(|s| s.steal_pct()), calls)
    }

    fn rate_sample(steal_pct: f64) -> RateSample {
        RateSample {
            scenario: "plaintext".into(),
            server: "strela".into(),
            percent_of_peak: 50.0,
            target_rps: 1000.0,
            achieved_rps: 1000.0,
            p50_us: 1.0,
            p90_us: 2.0,
            p99_us: 3.0,
            p999_us: 4.0,
            max_us: 5.0,
            cpu_us_per_req: 10.0,
            failed: 0,
            steal_pct,
        }
    }

    #[test]
    fn disturbed_fixed_rate_runs_are_measured_again() {
        let runs = vec![Ok(rate_sample(20.0)), Ok(rate_sample(0.5))];
        assert_eq!(scripted(runs, 3), (Ok(0.5), 2));
        let runs = vec![Ok(rate_sample(20.0)), Ok(rate_sample(9.0))];
        assert_eq!(
            scripted(runs, 1),
            (Ok(9.0), 2),
            "retries run out: the least disturbed"
        );
    }

    #[test]
    fn disturbed_runs_are_measured_again() {
        // Quiet at once: one run.
        assert_eq!(scripted(vec![Ok(sample(0.5))], 3), (Ok(0.5), 1));
        // Disturbed, then quiet: the quiet one.
        assert_eq!(
            scripted(vec![Ok(sample(20.0)), Ok(sample(1.0))], 3),
            (Ok(1.0), 2)
        );
        // Disturbed every time: retries run out, the least disturbed is kept.
        let runs = vec![
            Ok(sample(20.0)),
            Ok(sample(8.0)),
            Ok(sample(30.0)),
            Ok(sample(12.0)),
        ];
        assert_eq!(scripted(runs, 3), (Ok(8.0), 4));
        // No retries allowed: the first run stands.
        assert_eq!(scripted(vec![Ok(sample(50.0))], 0), (Ok(50.0), 1));
        // An empty run is measured again (twice at most); other errors end it.
        let empty = || Err(RunError::NoAnswers("nothing".into()));
        assert_eq!(scripted(vec![empty(), Ok(sample(0.0))], 3), (Ok(0.0), 2));
        let (r, calls) = scripted(vec![empty(), empty(), empty()], 3);
        assert_eq!(r, Err(RunError::NoAnswers("nothing".into())));
        assert_eq!(calls, 3);
        let in_use = || Err(RunError::Failed("port in use".into()));
        let (r, calls) = scripted::<Sample>(vec![in_use()], 3);
        assert_eq!((r, calls), (Err(RunError::Failed("port in use".into())), 1));
        // An error that merely mentions wrk's words is not an empty run.
        let lookalike = || {
            Err(RunError::Failed(
                "wrk reported no requests? no: a typo".into(),
            ))
        };
        let (r, calls) = scripted::<Sample>(vec![lookalike(), Ok(sample(0.0))], 3);
        assert_eq!((r.is_err(), calls), (true, 1));
        // A retry that fails leaves the disturbed run before it.
        let (r, calls) = scripted(vec![Ok(sample(9.0)), in_use()], 3);
        assert_eq!((r, calls), (Ok(9.0), 2));
        let runs = vec![Ok(sample(9.0)), empty(), empty(), empty()];
        assert_eq!(scripted(runs, 3), (Ok(9.0), 4));
    }

    #[test]
    fn switches_from_proc_status() {
        let st = "Name:\tstrela\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(switches_in_status(st), 1234);
        assert_eq!(switches_in_status("Name:\tx\n"), 0);
        // This process has blocked (it just slept), a process that does not exist has not.
        std::thread::sleep(Duration::from_millis(1));
        assert!(voluntary_switches(std::process::id()) > 0);
        assert_eq!(voluntary_switches(u32::MAX), 0);
        assert_eq!(proc_cpu_split(u32::MAX), (0.0, 0.0));
        // Linux reports USER_HZ, 100 on every common configuration.
        assert!(
            (1.0..=10_000.0).contains(&clk_tck()),
            "clock ticks {}",
            clk_tck()
        );
    }

    #[test]
    fn steal_from_proc_stat() {
        let stat = "cpu  10 0 10 100 0 0 0 9 0 0\n\
                    cpu0 5 0 5 50 0 0 0 7 0 0\n\
                    cpu1 5 0 5 50 0 0 0 2 0 0\n\
                    intr 1 2 3\n";
        assert_eq!(steal_ticks(stat, &[0]), Some((7, 1)));
        assert_eq!(steal_ticks(stat, &[1]), Some((2, 1)));
        assert_eq!(steal_ticks(stat, &[]), Some((9, 2)));
        assert_eq!(steal_ticks(stat, &[0, 1]), Some((9, 2)));
        assert_eq!(
            steal_ticks(stat, &[2]),
            None,
            "a CPU the file does not list"
        );
        assert_eq!(
            steal_ticks("cpu0 1 2\n", &[0]),
            None,
            "a line without a steal field"
        );
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("0,2-4"), Some(vec![0, 2, 3, 4]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
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
        let empty = "  0 requests in 1.00s, 0.00B read\n  Socket errors: connect 64, read 0, write 0, timeout 0\n";
        assert!(matches!(parse_wrk(empty), Err(RunError::NoAnswers(_))));
        assert!(matches!(
            parse_wrk("  x requests in 1.00s"),
            Err(RunError::Failed(_))
        ));
        assert_eq!(parse_duration("1.50m"), Some(90.0));
    }
}
