//! Observability: per-command latency histograms, SLOWLOG, the LATENCY monitor,
//! Prometheus metrics and health over a small HTTP endpoint (`metrics-port`), and the
//! log subscriber (`log-format text|json`).
//!
//! The per-command cost is one histogram `fetch_add` plus two relaxed threshold loads
//! in [`Observe::after_command`]; only commands over a threshold take a lock.

pub mod health;
pub mod histogram;
pub mod http;
pub mod latency;
pub mod logging;
pub mod metrics;
pub mod slowlog;

use std::{
    sync::atomic::{AtomicBool, Ordering::Relaxed},
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;

pub use histogram::Histogram;
pub use latency::LatencyMonitor;
pub use slowlog::SlowLog;

use crate::{
    cmd::{CommandEntry, Flag},
    config::Config,
    server::ClientHandle,
};

/// Observability state of one server.
#[derive(Debug, Default)]
pub struct Observe {
    /// SLOWLOG.
    pub slowlog: SlowLog,
    /// LATENCY.
    pub latency: LatencyMonitor,
    /// Set once recovery finished and the client listeners are bound (`/health`).
    serving: AtomicBool,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Observe {
    /// State configured from `config`.
    pub fn new(config: &Config) -> Observe {
        let o = Observe::default();
        o.configure(config);
        o
    }

    /// Applies the run-time settable keys (start-up and CONFIG SET).
    pub fn configure(&self, config: &Config) {
        self.slowlog.configure(
            config.slowlog_log_slower_than,
            config.slowlog_max_len as usize,
        );
        self.latency
            .threshold_ms
            .store(config.latency_monitor_threshold, Relaxed);
    }

    /// Marks the server as serving clients (recovery done, listeners bound).
    pub fn set_serving(&self, on: bool) {
        self.serving.store(on, Relaxed);
    }

    /// Whether the server is serving clients.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Relaxed)
    }

    /// Accounts one executed command that took `usec` microseconds: its latency
    /// histogram, then SLOWLOG and LATENCY when over their thresholds.
    pub fn after_command(
        &self,
        entry: &CommandEntry,
        args: &[Bytes],
        usec: u64,
        client: &ClientHandle,
    ) {
        entry.stats.latency.record(usec);
        let slow = self.slowlog.is_slow(usec) && !entry.spec.has_flag(Flag::SkipSlowlog);
        let ms = usec / 1000;
        let threshold_ms = self.latency.threshold_ms.load(Relaxed);
        let spike = threshold_ms > 0 && ms >= threshold_ms;
        if !slow && !spike {
            return;
        }
        let now = unix_secs();
        if slow {
            let name = client.names().name.clone();
            self.slowlog
                .push(args, usec, now, client.addr.to_string(), name);
        }
        if spike {
            let event = if entry.spec.has_flag(Flag::Fast) {
                "fast-command"
            } else {
                "command"
            };
            self.latency.add_sample_if_needed(event, ms, now);
        }
    }
}
