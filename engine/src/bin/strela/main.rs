//! The `strela` binary: serves the core endpoints (`/plaintext`, `/json`), health and readiness,
//! `/metrics` and `/debug/vars`, configured from defaults < TOML file < `STRELA_*` environment <
//! flags (see `strela::config`). A thin user of the library; mimalloc is its global allocator
//! (feature `mimalloc`).
//!
//! Signals: SIGHUP re-reads the configuration and applies the live keys (limits, log level,
//! access log on/off) without dropping a connection, or keeps the old configuration if the new
//! one is invalid, and reopens the access-log file; SIGUSR1 only reopens the access-log file
//! (nginx's convention, for logrotate without copytruncate); SIGINT/SIGTERM mark the server
//! unready, wait `server.shutdown_delay_ms`, then drain; a second SIGINT/SIGTERM exits at once.
//!
//! Exit codes: 0 stopped cleanly; 1 could not listen, or a worker failed; 2 bad command line or
//! configuration; 130 a second signal cut the drain short.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use signal_hook::consts::{SIGHUP, SIGUSR1};
mod config;
mod logging;

use config::Config;
use strela::middleware::{AccessLog, LogReopener, LogTarget};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option `arena_eager_commit` (its index in mimalloc's option enum).
#[cfg(feature = "mimalloc")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Runs before `main` and before the first Rust allocation (an `.init_array` constructor): by
/// default mimalloc commits its 1 GiB arenas eagerly, and with transparent huge pages the
/// touched parts are faulted in 2 MiB at a time — an idle worker then holds 11 MiB instead of
/// 5 MiB. Committing on demand costs nothing measurable on the request path (buffers are pooled).
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[used]
#[link_section = ".init_array"]
static MIMALLOC_LAZY_COMMIT: extern "C" fn() = {
    extern "C" fn lazy_commit() {
        // SAFETY: mi_option_set only stores an option value; it is called once, before any
        // thread or allocation exists, with a valid option index.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    }
    lazy_commit
};

/// strela: a high-performance HTTP/1.1 server serving /plaintext, /json, health, readiness
/// and metrics.
///
/// Settings come from built-in defaults, then the --config file, then STRELA_* environment
/// variables (STRELA_LIMITS_MAX_BODY_BYTES=…), then these flags; later sources win.
/// `strela --print-config` lists every setting. Signals: HUP reloads the configuration and
/// reopens the access log, USR1 reopens the access log, TERM/INT drain and stop.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct Args {
    /// TOML configuration file (re-read on SIGHUP).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address to listen on: HOST, HOST:PORT or [IPv6]:PORT; a name listens on every address
    /// it resolves to (localhost: 127.0.0.1 and ::1). Overrides `bind`.
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Port to listen on, 0 picks a free one (overrides `port` and a port given in --bind).
    #[arg(long)]
    port: Option<u16>,
    /// Share the port with a strela already listening on it, for a zero-downtime hand-over
    /// (start the new process with --takeover, then SIGTERM the old one). Without it a port
    /// in use is refused.
    #[arg(long)]
    takeover: bool,
    /// Serve the files below DIR under /static/ (`endpoints.static_dir`; the prefix is
    /// `endpoints.static_prefix`, the index file `endpoints.static_index`).
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Worker threads (overrides `workers`; default one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Any setting as KEY=VALUE, e.g. --set limits.max_body_bytes=65536 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// Print this help (-h and --help are the same).
    #[arg(short = 'h', long = "help", action = ArgAction::HelpLong)]
    help: Option<bool>,
}

impl Args {
    /// The effective configuration: defaults < file < environment < flags; also the names of
    /// the environment variables skipped as Kubernetes service links.
    fn config(&self) -> Result<(Config, Vec<String>), config::ConfigError> {
        let mut c = Config::default();
        if let Some(path) = &self.config {
            let source = format!("config file {}", path.display());
            let text = std::fs::read_to_string(path).map_err(|e| config::ConfigError {
                key: "(file)".into(),
                source: source.clone(),
                message: e.to_string(),
            })?;
            c.apply_toml(&text, &source)?;
        }
        let skipped = c.apply_env(std::env::vars())?;
        let mut sets = self.sets.clone();
        if let Some(b) = &self.bind {
            sets.push(format!("bind={b}"));
        }
        if self.takeover {
            sets.push("server.takeover=true".into());
        }
        if let Some(p) = self.port {
            sets.push(format!("port={p}"));
        }
        if let Some(w) = self.workers {
            sets.push(format!("workers={w}"));
        }
        if let Some(d) = &self.static_dir {
            sets.push(format!("endpoints.static_dir={}", d.display()));
        }
        c.apply_overrides(&sets)?;
        Ok((c, skipped))
    }
}

fn version() -> String {
    let built: u64 = env!("BUILD_STRELA_UNIX").parse().unwrap_or(0);
    format!(
        "{} (git {}, built {})",
        env!("CARGO_PKG_VERSION"),
        env!("BUILD_STRELA_GIT"),
        strela::date::format_rfc3339(built)
    )
}

fn access_log(cfg: &Config) -> std::io::Result<AccessLog> {
    AccessLog::open(
        &LogTarget::parse(&cfg.access_target),
        cfg.access_format,
        cfg.access_queue,
    )
}

fn main() -> ExitCode {
    // Computed at run time (the build date is formatted here), so leaked once for clap's &'static str.
    let long_version: &'static str = Box::leak(version().into_boxed_str());
    let matches = Args::command().version(long_version).get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let (cfg, skipped) = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strela: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        print!("{}", cfg.to_toml());
        return ExitCode::SUCCESS;
    }
    logging::init(cfg.log_level);
    if !skipped.is_empty() {
        log::debug!(
            "ignored Kubernetes service-link variables names={:?}",
            skipped.join(",")
        );
    }
    let addrs = match cfg.addrs() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "strela: invalid configuration: `bind`: cannot resolve {:?}: {e}",
                cfg.host
            );
            return ExitCode::from(2);
        }
    };
    // Every connection is a descriptor: take the hard limit, not the usual 1,024 soft limit.
    let fds = strela::raise_fd_limit();

    let access = match access_log(&cfg) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "strela: invalid configuration: `log.access_target`: cannot open {:?}: {e}",
                cfg.access_target
            );
            return ExitCode::from(2);
        }
    };
    let access_switch = access.switch();
    let reopener = access.reopener();
    access_switch.store(cfg.access_log, Ordering::Relaxed);

    let mut server = strela::Server::builder()
        .bind_all(addrs)
        .takeover(cfg.takeover)
        .workers(cfg.workers)
        .limits(cfg.limits.clone())
        .drain_timeout(cfg.drain_timeout)
        .drain_idle_grace(cfg.drain_idle_grace)
        .shutdown_delay(cfg.shutdown_delay)
        .backlog(cfg.backlog)
        .get("/plaintext", strela::endpoints::plaintext)
        .get("/json", strela::endpoints::json)
        .wrap(access);
    let ops = server.ops();
    ops.set_facts(cfg.to_json());
    if !cfg.healthz_path.is_empty() {
        server = server.get(&cfg.healthz_path, strela::endpoints::healthz);
    }
    if !cfg.readyz_path.is_empty() {
        server = server.readiness(&cfg.readyz_path);
    }
    if !cfg.echo_path.is_empty() {
        let limit = cfg.echo_max_bytes;
        server = server
            .post(
                &cfg.echo_path,
                strela::stream_body(limit, strela::endpoints::echo),
            )
            .put(
                &cfg.echo_path,
                strela::stream_body(limit, strela::endpoints::echo),
            );
    }
    if !cfg.metrics_path.is_empty() {
        server = server.metrics(&cfg.metrics_path);
    }
    if !cfg.static_dir.is_empty() {
        match strela::app::files::StaticFiles::new(&cfg.static_dir) {
            Ok(files) => server = server.files(&cfg.static_prefix, files.index(&cfg.static_index)),
            Err(e) => {
                eprintln!(
                    "strela: invalid configuration: `endpoints.static_dir`: {}: {e}",
                    cfg.static_dir
                );
                return ExitCode::from(2);
            }
        }
    }
    if !cfg.debug_vars_path.is_empty() {
        server = if cfg.debug_vars_public {
            server.debug_vars_public(&cfg.debug_vars_path)
        } else {
            server.debug_vars(&cfg.debug_vars_path)
        };
    }
    let handle = match server.start() {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("strela: invalid configuration: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            log::error!(
                "cannot listen addr={} error={:?}",
                cfg.bind_text(),
                e.to_string()
            );
            eprintln!("strela: cannot listen on {}: {e}", cfg.bind_text());
            return ExitCode::from(1);
        }
    };

    let stopper = handle.stopper();
    let startup = startup_fields(&handle, &cfg);
    // INT/TERM: the library's shutdown sequence (unready, delay, drain; a second one exits).
    if let Err(e) = stopper.stop_on_signals() {
        log::error!("cannot install signal handlers error={:?}", e.to_string());
    }
    match signal_hook::iterator::Signals::new([SIGHUP, SIGUSR1]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                let mut current = cfg;
                for sig in signals.forever() {
                    if sig == SIGUSR1 {
                        log::info!("reopening the access log signal=USR1");
                        reopener.reopen();
                    } else {
                        current = reload(&args, current, &stopper, &access_switch, &reopener, &ops);
                    }
                }
            });
        }
        Err(e) => log::error!("cannot install signal handlers error={:?}", e.to_string()),
    }
    log::info!("listening {startup} fd_limit={fds} version={:?}", version());
    match handle.join() {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("worker failed error={:?}", e.to_string());
            ExitCode::from(1)
        }
    }
}

/// SIGHUP: evaluates the configuration again and applies what can change live. An invalid new
/// configuration is refused and the running one kept.
fn reload(
    args: &Args,
    current: Config,
    stopper: &strela::Stopper,
    access: &AtomicBool,
    reopener: &LogReopener,
    ops: &strela::ops::Ops,
) -> Config {
    reopener.reopen();
    let new = match args.config() {
        Ok((c, _)) => c,
        Err(e) => {
            log::warn!(
                "reload rejected, keeping the running configuration error={:?}",
                e.to_string()
            );
            return current;
        }
    };
    let (live, restart) = current.reload_diff(&new);
    stopper.set_limits(&new.limits);
    stopper.set_shutdown_delay(new.shutdown_delay);
    logging::set_level(new.log_level);
    access.store(new.access_log, Ordering::Relaxed);
    ops.set_facts(new.to_json());
    log::info!(
        "reloaded applied={:?} needs_restart={:?}",
        live.join(","),
        restart.join(",")
    );
    if !restart.is_empty() {
        log::warn!(
            "some changed settings apply only after a restart keys={:?}",
            restart.join(",")
        );
    }
    // Keys that need a restart keep their running values, so a later diff still reports them.
    let mut applied = current;
    let (buffer_size, pooled) = (applied.limits.buffer_size, applied.limits.pooled_buffers);
    applied.limits = new.limits;
    applied.limits.buffer_size = buffer_size;
    applied.limits.pooled_buffers = pooled;
    applied.log_level = new.log_level;
    applied.access_log = new.access_log;
    applied
}

/// The startup line's fields: every address, workers, the endpoints, a URL to try, the docs.
fn startup_fields(handle: &strela::ServerHandle, cfg: &Config) -> String {
    let addrs: Vec<String> = handle.local_addrs().iter().map(|a| a.to_string()).collect();
    let first = handle.local_addr();
    let try_host = match first.ip() {
        ip if ip.is_unspecified() && first.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let mut endpoints = vec!["/plaintext", "/json"];
    for p in [
        &cfg.healthz_path,
        &cfg.readyz_path,
        &cfg.metrics_path,
        &cfg.echo_path,
    ] {
        if !p.is_empty() {
            endpoints.push(p);
        }
    }
    if !cfg.static_dir.is_empty() {
        endpoints.push(&cfg.static_prefix);
    }
    let debug = if cfg.debug_vars_path.is_empty() {
        String::new()
    } else if cfg.debug_vars_public {
        format!(" {}", cfg.debug_vars_path)
    } else {
        format!(" {}(loopback)", cfg.debug_vars_path)
    };
    format!(
        "addr={first} addrs={} workers={} endpoints=\"{}{debug}\" try=http://{try_host}:{}/plaintext docs=\"strela --help; README.md\"",
        addrs.join(","),
        handle.workers(),
        endpoints.join(" "),
        first.port()
    )
}
