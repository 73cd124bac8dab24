//! Structured logs: a small [`log`] backend writing one logfmt line per event to stderr
//! (`ts=2026-11-23T23:59:01Z level=info target=strela msg="listening" addr=0.0.0.0:8080`).
//!
//! The engine logs through the `log` facade only (startup, shutdown, reloads, failures, and at
//! debug level connections and refusals), so a program embedding strela keeps whatever logger it
//! already has; the `strela` binary installs this one. `log` rather than `tracing`: strela needs leveled events, not spans, and `log`'s
//! facade costs one relaxed atomic load when a level is off. The level can change at run time
//! ([`set_level`]), e.g. on a configuration reload.

use std::io::Write;

struct Logfmt;

impl log::Log for Logfmt {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ts = strela::date::format_rfc3339(strela::unix_now());
        let level = record.level().as_str().to_ascii_lowercase();
        // Messages are written as `msg="…" key=value …`: the text before the first key=value
        // pair is the message, quoted; the pairs follow as they are.
        let text = record.args().to_string();
        let (msg, kv) = split_message(&text);
        let mut line = format!(
            "ts={ts} level={level} target={} msg={msg:?}",
            record.target()
        );
        if !kv.is_empty() {
            line.push(' ');
            line.push_str(kv);
        }
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Splits `"listening addr=1 workers=2"` into `("listening", "addr=1 workers=2")`.
fn split_message(text: &str) -> (&str, &str) {
    let mut at = text.len();
    for (i, word) in text.match_indices(' ') {
        let _ = word;
        let rest = &text[i + 1..];
        let key_end = rest.find('=').unwrap_or(usize::MAX);
        let space = rest.find(' ').unwrap_or(rest.len());
        if key_end < space && key_end > 0 {
            at = i;
            break;
        }
    }
    if at == text.len() {
        (text, "")
    } else {
        (&text[..at], &text[at + 1..])
    }
}

static LOGGER: Logfmt = Logfmt;

/// Installs the logfmt logger at `level` (once per process; later calls only set the level).
pub fn init(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Changes the level at run time.
pub fn set_level(level: log::LevelFilter) {
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::split_message;

    #[test]
    fn message_and_pairs() {
        assert_eq!(
            split_message("listening addr=0.0.0.0:80 workers=2"),
            ("listening", "addr=0.0.0.0:80 workers=2")
        );
        assert_eq!(split_message("stopped"), ("stopped", ""));
        assert_eq!(
            split_message("reload rejected: bad x=1"),
            ("reload rejected: bad", "x=1")
        );
    }
}
