//! Configuration of the `strela` binary: one
//! flat set of dotted keys, filled from four sources in a fixed order of precedence —
//!
//! 1. built-in defaults,
//! 2. a TOML file (`--config`; sections are the key prefixes: `[limits] max_body_bytes = 1048576`),
//! 3. environment variables `STRELA_<KEY>` (dots become underscores, upper case:
//!    `STRELA_LIMITS_MAX_BODY_BYTES`),
//! 4. command-line flags (`--bind`, `--port`, `--workers`, and `--set key=value` for any key),
//!
//! each later source overriding the earlier. Every value goes through [`Config::set`], so a bad
//! value or an unknown key is a [`ConfigError`] naming the key, whatever its source.
//!
//! On a reload (SIGHUP) the whole chain is evaluated again; [`Config::reload_diff`] says which
//! changed keys apply live (limits except buffer sizes, log level, access log on/off) and which
//! need a restart.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use strela::middleware::LogFormat;
use strela::Limits;

/// A configuration error: which key, which source, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key (or the file, for a file that cannot be read or parsed).
    pub key: String,
    /// Where the value came from (`file <path>`, `env STRELA_…`, `--set`, …).
    pub source: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: `{}`: {}", self.source, self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen host: an IP address or a name resolved at start (`localhost` listens on every
    /// address it resolves to).
    pub host: String,
    /// Listen port (0: any free port).
    pub port: u16,
    /// Share the port with another process's listeners instead of refusing a port in use
    /// (the zero-downtime hand-over; see `ServerBuilder::takeover`).
    pub takeover: bool,
    /// Worker threads.
    pub workers: usize,
    /// Connection and request limits.
    pub limits: Limits,
    /// Graceful-stop drain timeout.
    pub drain_timeout: Duration,
    /// Time between a stop signal and closing the listeners, while `/readyz` already says 503
    /// (lets a load balancer notice before connections are refused).
    pub shutdown_delay: Duration,
    /// How long a stop keeps idle keep-alive connections open (answering their next request
    /// with `Connection: close`); see `ServerBuilder::drain_idle_grace`.
    pub drain_idle_grace: Duration,
    /// Listen backlog.
    pub backlog: i32,
    /// Log level: off, error, warn, info, debug, trace.
    pub log_level: log::LevelFilter,
    /// Access log on or off.
    pub access_log: bool,
    /// Access-log format.
    pub access_format: LogFormat,
    /// Access-log target: `stdout`, `stderr`, or a file path (appended to).
    pub access_target: String,
    /// Records the access log's queue holds before it drops (and counts) new ones; its slots
    /// are allocated up front (about 360 bytes each).
    pub access_queue: usize,
    /// Metrics path ("" disables).
    pub metrics_path: String,
    /// Debug-vars path ("" disables).
    pub debug_vars_path: String,
    /// Serve the debug vars (which show the whole configuration) to every client, not only
    /// to loopback ones.
    pub debug_vars_public: bool,
    /// Liveness path ("" disables).
    pub healthz_path: String,
    /// Readiness path ("" disables).
    pub readyz_path: String,
    /// Echo path, POST and PUT ("" disables).
    pub echo_path: String,
    /// Largest body the echo takes (streamed, so any size costs the same memory).
    pub echo_max_bytes: u64,
    /// Directory served as files under `static_prefix` ("" disables).
    pub static_dir: String,
    /// URL prefix of the static files, starting and ending with `/`.
    pub static_prefix: String,
    /// File answered for a directory ("" for none: directories are 404).
    pub static_index: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "0.0.0.0".into(),
            port: 8080,
            takeover: false,
            workers: strela::default_workers(),
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            drain_idle_grace: Duration::from_millis(1000),
            backlog: 4096,
            log_level: log::LevelFilter::Info,
            access_log: false,
            access_format: LogFormat::Common,
            access_target: "stdout".into(),
            access_queue: 4096,
            metrics_path: "/metrics".into(),
            debug_vars_path: "/debug/vars".into(),
            debug_vars_public: false,
            healthz_path: "/healthz".into(),
            readyz_path: "/readyz".into(),
            echo_path: "/echo".into(),
            echo_max_bytes: 16 << 30,
            static_dir: String::new(),
            static_prefix: "/static/".into(),
            static_index: "index.html".into(),
        }
    }
}

fn parse<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("{v:?} is not {what}"))
}

/// Splits a `bind` value into host and optional port: `host`, `host:port`, `[v6]`, `[v6]:port`
/// or a bare IPv6 address (`::1`).
pub fn parse_bind(v: &str) -> Result<(String, Option<u16>), String> {
    let bad = || format!("{v:?} is not HOST, HOST:PORT or [IPv6]:PORT");
    let port = |p: &str| -> Result<u16, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse()
            .map_err(|_| format!("{p:?} is not a port number (0-65535)"))
    };
    let v = v.trim();
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{h:?} in brackets is not an IPv6 address"));
        }
        match after {
            "" => (h, None),
            a => (h, Some(port(a.strip_prefix(':').ok_or_else(bad)?)?)),
        }
    } else if v.parse::<std::net::Ipv6Addr>().is_ok() {
        (v, None)
    } else if let Some((h, p)) = v.rsplit_once(':') {
        if h.contains(':') {
            return Err(format!(
                "{v:?}: an IPv6 address with a port is written [ADDR]:PORT"
            ));
        }
        (h, Some(port(p)?))
    } else {
        (v, None)
    };
    let name_ok = host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !name_ok {
        return Err(format!("{host:?} is not an IP address or a host name"));
    }
    Ok((host.to_string(), port))
}

/// Whether an environment variable is one of the service links Kubernetes injects for a
/// Service (`<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT[_<PORT NAME>]`, `<NAME>_PORT=tcp://…`,
/// `<NAME>_PORT_<N>_<PROTO>[_PROTO|_PORT|_ADDR]`). A Service called `strela` produces
/// `STRELA_PORT=tcp://10.0.0.1:8080` and friends; they are not settings and are ignored.
pub fn is_service_link(name: &str, value: &str) -> bool {
    if name.ends_with("_SERVICE_HOST")
        || name.ends_with("_SERVICE_PORT")
        || name.contains("_SERVICE_PORT_")
    {
        return true;
    }
    if name.ends_with("_PORT")
        && ["tcp://", "udp://", "sctp://"]
            .iter()
            .any(|p| value.starts_with(p))
    {
        return true;
    }
    // …_PORT_<digits>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]
    let mut parts = name.rsplit('_');
    let mut last = parts.next().unwrap_or("");
    if matches!(last, "PROTO" | "PORT" | "ADDR") {
        last = parts.next().unwrap_or("");
    }
    let proto = matches!(last, "TCP" | "UDP" | "SCTP");
    let number = parts
        .next()
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    proto && number && parts.next() == Some("PORT")
}

fn path_value(v: &str) -> Result<String, String> {
    if v.is_empty() || (v.starts_with('/') && !v.contains(char::is_whitespace)) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "{v:?} is not a path starting with / (or \"\" to disable)"
        ))
    }
}

/// One setting: its dotted key, whether a reload applies it live, and how to read and write
/// it as text. [`SETTINGS`] is the only list of keys: `set`, `get`, `--print-config`, the
/// environment names and the reload diff all come from it.
pub struct Setting {
    /// The dotted key, e.g. `limits.max_body_bytes`.
    pub key: &'static str,
    /// A reload (SIGHUP) applies it to the running server without a restart.
    pub live: bool,
    get: fn(&Config) -> String,
    set: fn(&mut Config, &str) -> Result<(), String>,
}

fn count(v: &str) -> Result<usize, String> {
    parse(v, "a non-negative integer")
}

fn at_least_one(v: &str) -> Result<usize, String> {
    match count(v)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn secs(v: &str) -> Result<Duration, String> {
    match parse::<u64>(v, "a whole number of seconds")? {
        0 => Err("must be at least 1 second".into()),
        s => Ok(Duration::from_secs(s)),
    }
}

fn millis(v: &str) -> Result<Duration, String> {
    parse::<u64>(v, "a whole number of milliseconds").map(Duration::from_millis)
}

fn flag(v: &str) -> Result<bool, String> {
    parse(v, "true or false")
}

macro_rules! setting {
    ($key:literal, live: $live:literal, |$c:ident| $get:expr, |$m:ident, $v:ident| $set:expr) => {
        Setting {
            key: $key,
            live: $live,
            get: |$c: &Config| $get.to_string(),
            set: |$m: &mut Config, $v: &str| {
                $set;
                Ok(())
            },
        }
    };
}

/// Every setting, in `--print-config` order. Live on reload: the limits except the buffer
/// pool's sizes (fixed when the pool is made), the log level and the access-log switch.
pub const SETTINGS: &[Setting] = &[
    setting!("bind", live: false, |c| c.host, |c, v| {
        let (host, port) = parse_bind(v)?;
        c.host = host;
        if let Some(p) = port {
            c.port = p;
        }
    }),
    setting!("port", live: false, |c| c.port, |c, v| c.port = parse(v, "a port number (0-65535)")?),
    setting!("workers", live: false, |c| c.workers, |c, v| c.workers = at_least_one(v)?),
    setting!("limits.max_head_bytes", live: true, |c| c.limits.max_head_bytes, |c, v| c.limits.max_head_bytes = count(v)?),
    setting!("limits.max_headers", live: true, |c| c.limits.max_headers, |c, v| c.limits.max_headers = count(v)?),
    setting!("limits.max_uri_bytes", live: true, |c| c.limits.max_uri_bytes, |c, v| c.limits.max_uri_bytes = count(v)?),
    setting!("limits.max_body_bytes", live: true, |c| c.limits.max_body_bytes, |c, v| c.limits.max_body_bytes = count(v)?),
    setting!("limits.max_conns_per_worker", live: true, |c| c.limits.max_conns_per_worker, |c, v| c.limits.max_conns_per_worker = count(v)?),
    setting!("limits.write_high_water", live: true, |c| c.limits.write_high_water, |c, v| c.limits.write_high_water = count(v)?),
    setting!("limits.buffer_size", live: false, |c| c.limits.buffer_size, |c, v| c.limits.buffer_size = count(v)?),
    setting!("limits.pooled_buffers", live: false, |c| c.limits.pooled_buffers, |c, v| c.limits.pooled_buffers = count(v)?),
    setting!("limits.header_timeout_secs", live: true, |c| c.limits.header_timeout.as_secs(), |c, v| c.limits.header_timeout = secs(v)?),
    setting!("limits.idle_timeout_secs", live: true, |c| c.limits.idle_timeout.as_secs(), |c, v| c.limits.idle_timeout = secs(v)?),
    setting!("limits.write_timeout_secs", live: true, |c| c.limits.write_timeout.as_secs(), |c, v| c.limits.write_timeout = secs(v)?),
    setting!("limits.deferred_timeout_ms", live: true, |c| c.limits.deferred_timeout.as_millis(), |c, v| c.limits.deferred_timeout = millis(v)?),
    setting!("limits.max_deferred", live: true, |c| c.limits.max_deferred, |c, v| c.limits.max_deferred = count(v)?),
    setting!("limits.lf_only_heads", live: true, |c| c.limits.lf_only_heads, |c, v| c.limits.lf_only_heads = flag(v)?),
    setting!("limits.min_body_rate", live: true, |c| c.limits.min_body_rate, |c, v| c.limits.min_body_rate = count(v)?),
    setting!("limits.body_rate_grace_secs", live: true, |c| c.limits.body_rate_grace.as_secs(), |c, v| c.limits.body_rate_grace = secs(v)?),
    setting!("server.drain_timeout_secs", live: false, |c| c.drain_timeout.as_secs(), |c, v| c.drain_timeout = secs(v)?),
    setting!("server.shutdown_delay_ms", live: true, |c| c.shutdown_delay.as_millis(), |c, v| c.shutdown_delay = millis(v)?),
    setting!("server.drain_idle_grace_ms", live: false, |c| c.drain_idle_grace.as_millis(), |c, v| c.drain_idle_grace = millis(v)?),
    setting!("server.backlog", live: false, |c| c.backlog, |c, v| c.backlog = parse(v, "an integer")?),
    setting!("server.takeover", live: false, |c| c.takeover, |c, v| c.takeover = flag(v)?),
    setting!("log.level", live: true, |c| c.log_level.to_string().to_lowercase(), |c, v| {
        c.log_level = parse(v, "one of off, error, warn, info, debug, trace")?
    }),
    setting!("log.access", live: true, |c| c.access_log, |c, v| c.access_log = flag(v)?),
    setting!("log.access_format", live: false, |c| c.access_format.as_str(), |c, v| {
        c.access_format = LogFormat::parse(v).ok_or_else(|| format!("{v:?} is not common or json"))?
    }),
    setting!("log.access_target", live: false, |c| c.access_target, |c, v| {
        if v.is_empty() {
            return Err("must be stdout, stderr or a file path".into());
        }
        c.access_target = v.to_string()
    }),
    setting!("log.access_queue", live: false, |c| c.access_queue, |c, v| c.access_queue = at_least_one(v)?),
    setting!("endpoints.metrics", live: false, |c| c.metrics_path, |c, v| c.metrics_path = path_value(v)?),
    setting!("endpoints.debug_vars", live: false, |c| c.debug_vars_path, |c, v| c.debug_vars_path = path_value(v)?),
    setting!("endpoints.debug_vars_public", live: false, |c| c.debug_vars_public, |c, v| c.debug_vars_public = flag(v)?),
    setting!("endpoints.healthz", live: false, |c| c.healthz_path, |c, v| c.healthz_path = path_value(v)?),
    setting!("endpoints.readyz", live: false, |c| c.readyz_path, |c, v| c.readyz_path = path_value(v)?),
    setting!("endpoints.echo", live: false, |c| c.echo_path, |c, v| c.echo_path = path_value(v)?),
    setting!("endpoints.echo_max_bytes", live: false, |c| c.echo_max_bytes, |c, v| c.echo_max_bytes = parse(v, "a number of bytes")?),
    setting!("endpoints.static_dir", live: false, |c| c.static_dir, |c, v| c.static_dir = v.to_string()),
    setting!("endpoints.static_prefix", live: false, |c| c.static_prefix, |c, v| {
        if !(v.starts_with('/') && v.ends_with('/')) || v.contains(['{', '}', ' ']) {
            return Err(format!("{v:?} is not a path that starts and ends with /"));
        }
        c.static_prefix = v.to_string()
    }),
    setting!("endpoints.static_index", live: false, |c| c.static_index, |c, v| {
        if v.contains('/') || v == "." || v == ".." {
            return Err(format!("{v:?} is not a file name (or \"\" for none)"));
        }
        c.static_index = v.to_string()
    }),
];

fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

impl Config {
    /// Sets one key from its text form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let s = setting(key).ok_or("unknown key")?;
        (s.set)(self, value)
    }

    /// The text form of one key's value (what `--print-config` shows).
    pub fn get(&self, key: &str) -> Option<String> {
        setting(key).map(|s| (s.get)(self))
    }

    /// Applies a TOML document (`source` names it in errors).
    pub fn apply_toml(&mut self, text: &str, source: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            key: key.to_string(),
            source: source.to_string(),
            message,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map_or(0, |s| s.start).min(text.len());
            let line = text[..at].matches('\n').count() + 1;
            let column = text[..at]
                .rsplit('\n')
                .next()
                .map_or(0, |l| l.chars().count())
                + 1;
            err(
                "(syntax)",
                format!("line {line}, column {column}: {}", e.message().trim()),
            )
        })?;
        for (k, v) in &table {
            match v {
                toml::Value::Table(section) => {
                    for (k2, v2) in section {
                        let key = format!("{k}.{k2}");
                        let text = scalar(v2).map_err(|m| err(&key, m))?;
                        self.set(&key, &text).map_err(|m| err(&key, m))?;
                    }
                }
                other => {
                    let text = scalar(other).map_err(|m| err(k, m))?;
                    self.set(k, &text).map_err(|m| err(k, m))?;
                }
            }
        }
        Ok(())
    }

    /// Applies `STRELA_*` variables from `vars` (pass `std::env::vars()`); variables that name
    /// no key are errors too, so a typo is not silently ignored — except the service links
    /// Kubernetes injects ([`is_service_link`]), which are skipped. Returns the names skipped.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<String>, ConfigError> {
        let mut skipped = Vec::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("STRELA_") else {
                continue;
            };
            if is_service_link(&name, &value) {
                skipped.push(name);
                continue;
            }
            let key = SETTINGS
                .iter()
                .map(|s| s.key)
                .find(|k| k.replace('.', "_").to_uppercase() == rest)
                .ok_or_else(|| ConfigError {
                    key: name.clone(),
                    source: "environment".into(),
                    message: "no such setting".into(),
                })?;
            self.set(key, &value).map_err(|message| ConfigError {
                key: key.to_string(),
                source: format!("env {name}"),
                message,
            })?;
        }
        Ok(skipped)
    }

    /// Applies `key=value` overrides (from `--set`).
    pub fn apply_overrides(&mut self, sets: &[String]) -> Result<(), ConfigError> {
        for s in sets {
            let (k, v) = s.split_once('=').ok_or_else(|| ConfigError {
                key: s.clone(),
                source: "--set".into(),
                message: "expected KEY=VALUE".into(),
            })?;
            self.set(k.trim(), v.trim())
                .map_err(|message| ConfigError {
                    key: k.trim().to_string(),
                    source: "--set".into(),
                    message,
                })?;
        }
        Ok(())
    }

    /// The configuration as TOML (every key; what `--print-config` prints).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let mut section = "";
        for key in SETTINGS.iter().map(|s| s.key) {
            let (sec, name) = key.split_once('.').unwrap_or(("", key));
            if sec != section {
                let _ = writeln!(out, "\n[{sec}]");
                section = sec;
            }
            let v = self.get(key).unwrap_or_default();
            let quoted = v.parse::<i64>().is_err() && v != "true" && v != "false";
            if quoted {
                let _ = writeln!(out, "{name} = {}", toml::Value::String(v));
            } else {
                let _ = writeln!(out, "{name} = {v}");
            }
        }
        out.trim_start().to_string()
    }

    /// The configuration as a JSON object (for `/debug/vars`).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        SETTINGS
            .iter()
            .map(|s| s.key)
            .map(|k| {
                (
                    k.to_string(),
                    serde_json::Value::String(self.get(k).unwrap_or_default()),
                )
            })
            .collect()
    }

    /// Keys whose value differs in `new`, split into those applied live and those that need a
    /// restart.
    pub fn reload_diff(&self, new: &Config) -> (Vec<&'static str>, Vec<&'static str>) {
        let changed = SETTINGS.iter().filter(|s| (s.get)(self) != (s.get)(new));
        let (live, restart): (Vec<&Setting>, Vec<&Setting>) = changed.partition(|s| s.live);
        (
            live.iter().map(|s| s.key).collect(),
            restart.iter().map(|s| s.key).collect(),
        )
    }

    /// The listen addresses: the host's address, or every address its name resolves to
    /// (deduplicated, in resolver order).
    pub fn addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        for a in (self.host.as_str(), self.port).to_socket_addrs()? {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        if out.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{:?} resolves to no address", self.host),
            ));
        }
        Ok(out)
    }

    /// `host:port` as written (`[v6]:port` for an IPv6 address).
    pub fn bind_text(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn scalar(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("expected a string, an integer or a boolean".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_print_config() {
        let mut c = Config::default();
        c.set("limits.max_body_bytes", "12345").unwrap();
        c.set("log.access_format", "json").unwrap();
        c.set("endpoints.metrics", "").unwrap();
        let text = c.to_toml();
        let mut back = Config::default();
        back.apply_toml(&text, "printed").unwrap();
        assert_eq!(back, c);
        for s in SETTINGS {
            assert!(c.get(s.key).is_some(), "{} has no getter", s.key);
        }
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len(), "a key is listed twice");
    }

    #[test]
    fn errors_name_the_key_and_source() {
        let mut c = Config::default();
        let e = c
            .apply_toml("[limits]\nmax_body_bytes = \"lots\"\n", "file x.toml")
            .unwrap_err();
        assert_eq!(e.key, "limits.max_body_bytes");
        assert!(e.to_string().contains("x.toml"), "{e}");
        let e = c
            .apply_toml("[limits]\nmax_bdy_bytes = 1\n", "f")
            .unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("limits.max_bdy_bytes", "unknown key")
        );
        let e = c
            .apply_env([("STRELA_WORKERS".to_string(), "0".to_string())])
            .unwrap_err();
        assert_eq!(e.key, "workers");
        let e = c
            .apply_env([("STRELA_NOPE".to_string(), "1".to_string())])
            .unwrap_err();
        assert_eq!(e.key, "STRELA_NOPE");
        assert!(c.apply_toml("port = ", "f").is_err());
        assert!(c.set("limits.idle_timeout_secs", "0").is_err());
        assert!(c.set("endpoints.metrics", "metrics").is_err());
    }

    #[test]
    fn precedence_file_then_env_then_flags() {
        let mut c = Config::default();
        c.apply_toml("workers = 3\nport = 1000\n[log]\nlevel = \"warn\"\n", "f")
            .unwrap();
        c.apply_env([
            ("STRELA_PORT".to_string(), "2000".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ])
        .unwrap();
        c.apply_overrides(&["port=3000".to_string()]).unwrap();
        assert_eq!((c.workers, c.port), (3, 3000));
        assert_eq!(c.log_level, log::LevelFilter::Warn);
    }

    #[test]
    fn bind_forms() {
        let ok = |v: &str| parse_bind(v).unwrap();
        assert_eq!(ok("localhost"), ("localhost".into(), None));
        assert_eq!(ok("127.0.0.1"), ("127.0.0.1".into(), None));
        assert_eq!(ok("127.0.0.1:80"), ("127.0.0.1".into(), Some(80)));
        assert_eq!(ok("example.com:8080"), ("example.com".into(), Some(8080)));
        assert_eq!(ok("::1"), ("::1".into(), None));
        assert_eq!(ok("[::1]"), ("::1".into(), None));
        assert_eq!(ok("[::]:0"), ("::".into(), Some(0)));
        for bad in [
            "",
            ":80",
            "host:",
            "host:http",
            "host:99999",
            "[::1",
            "[nope]:1",
            "[::1]80",
            "fe80::1::2",
            "a b",
            "a_b:1",
            "host:+80",
        ] {
            assert!(parse_bind(bad).is_err(), "{bad:?} was accepted");
        }
        let mut c = Config::default();
        c.set("bind", "[::1]:9000").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.bind_text()),
            ("::1", 9000, "[::1]:9000".into())
        );
        c.set("bind", "localhost").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port),
            ("localhost", 9000),
            "a bare host keeps the port"
        );
    }

    #[test]
    fn kubernetes_service_links_are_recognised() {
        for (n, v) in [
            ("STRELA_PORT", "tcp://10.0.0.1:8080"),
            ("STRELA_SERVICE_HOST", "10.0.0.1"),
            ("STRELA_SERVICE_PORT", "8080"),
            ("STRELA_SERVICE_PORT_HTTP", "8080"),
            ("STRELA_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
            ("STRELA_PORT_8080_TCP_PROTO", "tcp"),
            ("STRELA_PORT_8080_TCP_PORT", "8080"),
            ("STRELA_PORT_8080_TCP_ADDR", "10.0.0.1"),
            ("STRELA_ADMIN_PORT", "udp://10.0.0.2:53"),
        ] {
            assert!(is_service_link(n, v), "{n}={v}");
        }
        for (n, v) in [
            ("STRELA_PORT", "8080"),
            ("STRELA_WORKERS", "2"),
            ("STRELA_PORT_TCP", "1"),
            ("STRELA_SERVER_BACKLOG", "10"),
        ] {
            assert!(!is_service_link(n, v), "{n}={v}");
        }
        let mut c = Config::default();
        let skipped = c
            .apply_env([
                ("STRELA_PORT".to_string(), "tcp://10.0.0.1:8080".to_string()),
                ("STRELA_WORKERS".to_string(), "3".to_string()),
            ])
            .unwrap();
        assert_eq!(
            (skipped, c.port, c.workers),
            (vec!["STRELA_PORT".to_string()], 8080, 3)
        );
    }

    #[test]
    fn toml_syntax_errors_carry_line_and_column() {
        let mut c = Config::default();
        let e = c
            .apply_toml("workers = 2\n\n[log]\nlevel = \"info\n", "f")
            .unwrap_err();
        assert!(e.message.starts_with("line 4, column "), "{e}");
        let e = c.apply_toml("port = @\n", "f").unwrap_err();
        assert!(e.message.starts_with("line 1, column 8:"), "{e}");
    }

    #[test]
    fn reload_diff_splits_live_and_restart_keys() {
        let old = Config::default();
        let mut new = old.clone();
        new.set("limits.max_body_bytes", "10").unwrap();
        new.set("workers", "7").unwrap();
        new.set("log.access", "true").unwrap();
        let (live, restart) = old.reload_diff(&new);
        assert_eq!(live, vec!["limits.max_body_bytes", "log.access"]);
        assert_eq!(restart, vec!["workers"]);
    }
}
