//! The log subscriber: `loglevel` (Redis names, `--log-level` is an alias) picks the
//! verbosity, `log-format` the shape: `text` (human-readable) or `json` (one JSON
//! object per line: `timestamp`, `level`, `target`, `fields`, for log shippers). The
//! `MERIDIAN_LOG` environment variable (tracing's filter syntax) overrides the level.

use tracing_subscriber::EnvFilter;

use crate::config::Config;

/// tracing's filter for a Redis `loglevel`.
pub fn level_filter(loglevel: &str) -> &'static str {
    match loglevel {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    }
}

/// Installs the global subscriber (logs go to stderr). Call once.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_env("MERIDIAN_LOG")
        .unwrap_or_else(|_| EnvFilter::new(level_filter(&config.loglevel)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().with_current_span(false).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}
