//! `/metrics`: Prometheus text exposition format 0.0.4, built from the counters INFO
//! already reads (server stats, per-command stats, replication status, persistence).
//!
//! Cost of a scrape: one pass over the command table, the store lock held for the
//! replication status and the per-database key counts (`O(databases)`, not `O(keys)`).

use std::{fmt::Write as _, sync::atomic::Ordering::Relaxed};

use super::{
    health,
    histogram::{Histogram, BUCKETS_US},
};
use crate::server::{ServerState, Stats};

/// Content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value (`\`, `"` and newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
        self.head(name, kind, help);
        let _ = writeln!(self.0, "{name} {v}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
            .collect();
        let _ = writeln!(self.0, "{name}{{{}}} {v}", l.join(","));
    }

    fn histogram(&mut self, name: &str, cmd: &str, h: &Histogram, sum_us: u64) {
        let cum = h.cumulative();
        for (i, c) in cum.iter().enumerate() {
            let le = match BUCKETS_US.get(i) {
                Some(us) => format!("{}", *us as f64 / 1e6),
                None => "+Inf".to_string(),
            };
            self.sample(&format!("{name}_bucket"), &[("cmd", cmd), ("le", &le)], c);
        }
        self.sample(&format!("{name}_sum"), &[("cmd", cmd)], sum_us as f64 / 1e6);
        self.sample(
            &format!("{name}_count"),
            &[("cmd", cmd)],
            cum[cum.len() - 1],
        );
    }
}

/// The whole exposition.
pub fn render(state: &ServerState) -> String {
    let mut o = Out(String::with_capacity(16 * 1024));
    let st = &state.stats;
    let region = state.config().region_id;
    o.head(
        "meridian_info",
        "gauge",
        "Constant 1, labelled with the version and region id.",
    );
    let _ = writeln!(
        o.0,
        "meridian_info{{version=\"{}\",redis_version=\"{}\",region=\"{region}\"}} 1",
        crate::MERIDIAN_VERSION,
        crate::REDIS_COMPAT_VERSION
    );
    let h = health::check(state);
    o.one(
        "meridian_up",
        "gauge",
        "1 when /health answers 200 (serving reads and writes), else 0.",
        (h == health::Health::Ok) as u8,
    );
    o.one(
        "meridian_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        state.started.elapsed().as_secs(),
    );
    // Clients and traffic.
    o.one(
        "meridian_connected_clients",
        "gauge",
        "Client connections open now.",
        state.clients.len(),
    );
    o.one(
        "meridian_maxclients",
        "gauge",
        "Configured maximum of client connections.",
        state.config().maxclients,
    );
    for (name, help, c) in [
        (
            "meridian_connections_received_total",
            "Client connections accepted.",
            &st.connections_received,
        ),
        (
            "meridian_rejected_connections_total",
            "Client connections refused by maxclients.",
            &st.rejected_connections,
        ),
        (
            "meridian_commands_processed_total",
            "Commands processed (all commands).",
            &st.commands_processed,
        ),
        (
            "meridian_net_input_bytes_total",
            "Bytes read from clients.",
            &st.net_input_bytes,
        ),
        (
            "meridian_net_output_bytes_total",
            "Bytes written to clients.",
            &st.net_output_bytes,
        ),
        (
            "meridian_error_replies_total",
            "Error replies sent.",
            &st.error_replies,
        ),
        (
            "meridian_evicted_keys_total",
            "Keys deleted by the maxmemory policy.",
            &st.evicted_keys,
        ),
    ] {
        o.one(name, "counter", help, Stats::get(c));
    }
    // Per command.
    let entries: Vec<_> = state
        .commands
        .all()
        .filter(|e| {
            e.stats.calls.load(Relaxed) > 0
                || e.stats.rejected_calls.load(Relaxed) > 0
                || e.stats.latency.count() > 0
        })
        .collect();
    o.head(
        "meridian_command_calls_total",
        "counter",
        "Executions per command (INFO commandstats calls).",
    );
    for e in &entries {
        o.sample(
            "meridian_command_calls_total",
            &[("cmd", &e.fullname)],
            e.stats.calls.load(Relaxed),
        );
    }
    o.head(
        "meridian_command_rejected_calls_total",
        "counter",
        "Calls refused before execution (arity, READONLY, OOM...) per command.",
    );
    for e in &entries {
        o.sample(
            "meridian_command_rejected_calls_total",
            &[("cmd", &e.fullname)],
            e.stats.rejected_calls.load(Relaxed),
        );
    }
    o.head(
        "meridian_command_failed_calls_total",
        "counter",
        "Executions answered with an error per command.",
    );
    for e in &entries {
        o.sample(
            "meridian_command_failed_calls_total",
            &[("cmd", &e.fullname)],
            e.stats.failed_calls.load(Relaxed),
        );
    }
    o.head(
        "meridian_command_duration_seconds",
        "histogram",
        "Execution time per command (each run of a blocked command counts).",
    );
    for e in &entries {
        o.histogram(
            "meridian_command_duration_seconds",
            &e.fullname,
            &e.stats.latency,
            e.stats.usec.load(Relaxed),
        );
    }
    o.one(
        "meridian_slowlog_length",
        "gauge",
        "Entries in SLOWLOG.",
        state.observe.slowlog.len(),
    );
    // Memory.
    let (rss, peak) = crate::memory::process_memory();
    o.one(
        "meridian_used_memory_bytes",
        "gauge",
        "Heap bytes in use (INFO used_memory).",
        crate::memory::used_memory(),
    );
    o.one(
        "meridian_used_memory_rss_bytes",
        "gauge",
        "Resident set size.",
        rss,
    );
    o.one(
        "meridian_used_memory_peak_bytes",
        "gauge",
        "Peak resident set size.",
        peak,
    );
    o.one(
        "meridian_maxmemory_bytes",
        "gauge",
        "Configured memory limit (0 = none).",
        state.config().maxmemory.bytes(),
    );
    // Keyspace and replication: one store lock.
    let store = state.store.lock();
    o.head(
        "meridian_keys_stored",
        "gauge",
        "Keys held per database, including deleted or expired keys whose tombstones are not yet garbage-collected.",
    );
    for db in 0..state.databases() {
        let n = store.keyspace().db(db as u8).len();
        if n > 0 || db == 0 {
            o.sample("meridian_keys_stored", &[("db", &db.to_string())], n);
        }
    }
    let status = state.repl.get().map(|r| (r.core.lock().status(&*store), r));
    drop(store);
    if let Some((s, r)) = status {
        o.one(
            "meridian_region_writable",
            "gauge",
            "1 when this region accepts writes (0 while it catches up after losing its data).",
            s.writable as u8,
        );
        o.one(
            "meridian_replication_oplog_entries",
            "gauge",
            "Op-log (backlog) entries retained for partial resyncs.",
            s.log_entries,
        );
        o.one(
            "meridian_replication_oplog_bytes",
            "gauge",
            "Op-log (backlog) bytes retained.",
            s.log_bytes,
        );
        o.head(
            "meridian_replication_oplog_span_ops",
            "gauge",
            "Ops per origin region the op log can still replay (applied minus floor): a peer further behind needs a full resync.",
        );
        for (origin, applied) in s.applied.iter() {
            let floor = s.log_floor.get(origin);
            o.sample(
                "meridian_replication_oplog_span_ops",
                &[("origin", &origin.to_string())],
                applied.saturating_sub(floor),
            );
        }
        let ns = r.net_stats();
        for (name, help, v) in [
            (
                "meridian_replication_bytes_sent_total",
                "Frame bytes sent to peer regions (all links, after compression).",
                ns.bytes_sent,
            ),
            (
                "meridian_replication_bytes_received_total",
                "Frame bytes received from peer regions (all links).",
                ns.bytes_received,
            ),
            (
                "meridian_replication_frames_sent_total",
                "Frames sent to peer regions (all links).",
                ns.frames_sent,
            ),
            (
                "meridian_replication_frames_received_total",
                "Frames received from peer regions (all links).",
                ns.frames_received,
            ),
            (
                "meridian_replication_handshakes_refused_total",
                "Region-link TLS handshakes refused (wrong CA or region id).",
                ns.handshakes_refused,
            ),
            (
                "meridian_replication_protocol_errors_total",
                "Region links closed for malformed frames.",
                ns.protocol_errors,
            ),
        ] {
            o.one(name, "counter", help, v);
        }
        let now = crate::store::wall_ms();
        let peers: Vec<(String, &replication::core::PeerStatus)> =
            s.peers.iter().map(|p| (p.region.to_string(), p)).collect();
        type Field = fn(&replication::core::PeerStatus, u64) -> String;
        let per_peer: [(&str, &str, &str, Field); 9] = [
            (
                "meridian_replication_peer_up",
                "gauge",
                "1 when the link to the peer region is not down.",
                |p, _| ((p.link != replication::core::LinkState::Down) as u8).to_string(),
            ),
            (
                "meridian_replication_peer_lag_ops",
                "gauge",
                "Ops applied here that the peer has not acknowledged.",
                |p, _| p.lag_ops.to_string(),
            ),
            (
                "meridian_replication_peer_lag_seconds",
                "gauge",
                "Age of the oldest local op the peer has not acknowledged (ms resolution).",
                |p, _| (p.lag_ms as f64 / 1000.0).to_string(),
            ),
            (
                "meridian_replication_peer_inflight_bytes",
                "gauge",
                "Op bytes sent to the peer and not yet acknowledged.",
                |p, _| p.inflight_bytes.to_string(),
            ),
            (
                "meridian_replication_peer_partial_resyncs_total",
                "counter",
                "Peer handshakes answered from the op log.",
                |p, _| p.partial_resyncs.to_string(),
            ),
            (
                "meridian_replication_peer_full_resyncs_sent_total",
                "counter",
                "Snapshots sent to the peer.",
                |p, _| p.full_resyncs_sent.to_string(),
            ),
            (
                "meridian_replication_peer_full_resyncs_received_total",
                "counter",
                "Snapshots received from the peer.",
                |p, _| p.full_resyncs_received.to_string(),
            ),
            (
                "meridian_replication_peer_receiving_snapshot",
                "gauge",
                "1 while a snapshot from the peer is being merged.",
                |p, _| (p.receiving_snapshot as u8).to_string(),
            ),
            (
                "meridian_replication_peer_last_heard_seconds",
                "gauge",
                "Seconds since the last message from the peer (-1: never).",
                |p, now| match p.last_heard_ms {
                    Some(t) => (now.saturating_sub(t) as f64 / 1000.0).to_string(),
                    None => "-1".to_string(),
                },
            ),
        ];
        for (name, kind, help, f) in per_peer {
            o.head(name, kind, help);
            for (id, p) in &peers {
                o.sample(name, &[("peer", id)], f(p, now));
            }
        }
        o.head(
            "meridian_replication_peer_link_state",
            "gauge",
            "Link state per peer region (1 for the current state).",
        );
        for (id, p) in &peers {
            for state in [
                replication::core::LinkState::Down,
                replication::core::LinkState::Handshaking,
                replication::core::LinkState::Streaming,
                replication::core::LinkState::SendingSnapshot,
                replication::core::LinkState::SnapshotPending,
            ] {
                let name = format!("{state:?}").to_ascii_lowercase();
                o.sample(
                    "meridian_replication_peer_link_state",
                    &[("peer", id), ("state", &name)],
                    (p.link == state) as u8,
                );
            }
        }
    }
    if let Some(p) = state.persist.get() {
        o.one(
            "meridian_persistence_wal_bytes",
            "gauge",
            "Bytes in the write-ahead log.",
            p.wal_bytes(),
        );
        o.one(
            "meridian_persistence_wal_pending_entries",
            "gauge",
            "WAL entries appended but not yet durable.",
            p.appended_index().saturating_sub(p.durable_index()),
        );
        o.one(
            "meridian_persistence_failed",
            "gauge",
            "1 after a persistence failure (writes refused with MISCONF).",
            p.failure().is_some() as u8,
        );
    }
    o.0
}
