//! Server-wide counters for INFO. Relaxed atomics: counters, not
//! synchronisation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters reported by `INFO stats` (reset by CONFIG RESETSTAT).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted (`total_connections_received`).
    pub connections_received: AtomicU64,
    /// Connections refused by maxclients (`rejected_connections`).
    pub rejected_connections: AtomicU64,
    /// Commands executed (`total_commands_processed`).
    pub commands_processed: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Error replies sent (`total_error_replies`).
    pub error_replies: AtomicU64,
    /// Clients closed for exceeding the query buffer limit.
    pub query_buffer_limit_disconnections: AtomicU64,
    /// Clients closed for exceeding the output buffer limit.
    pub output_buffer_limit_disconnections: AtomicU64,
    /// Clients closed for a protocol error.
    pub protocol_error_disconnections: AtomicU64,
    /// Keys deleted by the `maxmemory-policy` (INFO `evicted_keys`).
    pub evicted_keys: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.error_replies,
            &self.query_buffer_limit_disconnections,
            &self.output_buffer_limit_disconnections,
            &self.protocol_error_disconnections,
            &self.evicted_keys,
        ] {
            c.store(0, Relaxed);
        }
    }
}
