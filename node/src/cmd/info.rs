//! INFO: sections server, clients, memory, persistence, stats, replication,
//! cpu, cluster, keyspace, commandstats, latencystats — formatted as redis-server does
//! (`# Section` headers, `key:value` lines, CRLF) so client parsers work.

use std::{
    fmt::Write as _,
    sync::atomic::Ordering::Relaxed,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;

use super::{args::text, CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::{resp::Reply, server::Stats, MERIDIAN_VERSION, REDIS_COMPAT_VERSION};

/// INFO command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("info", -1, info)
    .flags(&[Flag::Loading, Flag::Stale])
    .group(Group::Server)
    .acl(&["dangerous"])
    .complexity("O(1)")
    .summary("Returns information and statistics about the server.")];

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "keyspace",
];
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];

fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !wanted.iter().any(|w| w == s) {
            wanted.push(s.to_string());
        }
    };
    if args.len() == 1 {
        DEFAULT.iter().for_each(|s| add(s));
    }
    for a in &args[1..] {
        let a = text(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => DEFAULT.iter().for_each(|s| add(s)),
            "all" | "everything" => DEFAULT.iter().chain(ALL_EXTRA).for_each(|s| add(s)),
            other => add(other),
        }
    }
    let mut out = String::new();
    // Sections in Redis' fixed order, whatever order they were asked in.
    for name in DEFAULT.iter().chain(ALL_EXTRA) {
        if wanted.iter().any(|w| w == name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            section(ctx, name, &mut out);
        }
    }
    Ok(Reply::verbatim_txt(out))
}

/// The text of one INFO section (header included).
pub fn section(ctx: &Ctx<'_>, name: &str, out: &mut String) {
    let server = ctx.server;
    // `line("# Server", &"")` writes a section header.
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = if k.starts_with('#') {
            write!(out, "{k}\r\n")
        } else {
            write!(out, "{k}:{v}\r\n")
        };
    };
    let st = &server.stats;
    match name {
        "server" => {
            let config = server.config();
            let uptime = server.started.elapsed().as_secs();
            let now_us = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros();
            line("# Server", &"");
            line("redis_version", &REDIS_COMPAT_VERSION);
            line("redis_git_sha1", &"00000000");
            line("redis_git_dirty", &0);
            line("redis_build_id", &"0");
            line("redis_mode", &"standalone");
            line("meridian_version", &MERIDIAN_VERSION);
            line(
                "os",
                &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            line("arch_bits", &(usize::BITS));
            line("multiplexing_api", &"tokio");
            line("process_id", &std::process::id());
            line("run_id", &server.run_id);
            line("region_id", &config.region_id);
            line("tcp_port", &server.tcp_port.load(Relaxed));
            line("server_time_usec", &now_us);
            line("uptime_in_seconds", &uptime);
            line("uptime_in_days", &(uptime / 86400));
            line("hz", &10);
            line("configured_hz", &10);
            line(
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            line(
                "config_file",
                &server
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        "clients" => {
            let maxclients = server.config().maxclients;
            line("# Clients", &"");
            line("connected_clients", &server.clients.len());
            line("cluster_connections", &0);
            line("maxclients", &maxclients);
            line("client_recent_max_input_buffer", &0);
            line("client_recent_max_output_buffer", &0);
            let (blocked, blocking_keys) = {
                let st = ctx.store();
                (st.blocked().len(), st.blocked().keys())
            };
            line("blocked_clients", &blocked);
            line("tracking_clients", &0);
            let pubsub_clients = server
                .clients
                .all()
                .iter()
                .filter(|c| c.sub.load(Relaxed) + c.psub.load(Relaxed) + c.ssub.load(Relaxed) > 0)
                .count();
            line("pubsub_clients", &pubsub_clients);
            line("clients_in_timeout_table", &0);
            line("total_blocking_keys", &blocking_keys);
        }
        "memory" => {
            let (rss, peak) = crate::memory::process_memory();
            let used = crate::memory::used_memory();
            let (maxmemory, policy) = {
                let c = ctx.server.config();
                (c.maxmemory.bytes(), c.maxmemory_policy.clone())
            };
            line("# Memory", &"");
            // Heap bytes counted by the allocator (see memory.rs); RSS next to it.
            line("used_memory", &used);
            line("used_memory_human", &human(used));
            line("used_memory_rss", &rss);
            line("used_memory_rss_human", &human(rss));
            line("used_memory_peak", &peak);
            line("used_memory_peak_human", &human(peak));
            line("maxmemory", &maxmemory);
            line("maxmemory_human", &human(maxmemory));
            line("maxmemory_policy", &policy);
            line("mem_allocator", &"libc");
        }
        "persistence" => {
            line("# Persistence", &"");
            line("loading", &0);
            line("async_loading", &0);
            line("rdb_changes_since_last_save", &0);
            match ctx.server.persist.get() {
                Some(p) => p.info(out),
                None => {
                    line("rdb_bgsave_in_progress", &0);
                    line(
                        "rdb_last_save_time",
                        &server
                            .started_at
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs()),
                    );
                    line("rdb_last_bgsave_status", &"ok");
                    line("aof_enabled", &0);
                    line("aof_rewrite_in_progress", &0);
                    line("aof_last_write_status", &"ok");
                }
            }
        }
        "stats" => {
            line("# Stats", &"");
            line(
                "total_connections_received",
                &Stats::get(&st.connections_received),
            );
            line(
                "total_commands_processed",
                &Stats::get(&st.commands_processed),
            );
            line("instantaneous_ops_per_sec", &0);
            line("total_net_input_bytes", &Stats::get(&st.net_input_bytes));
            line("total_net_output_bytes", &Stats::get(&st.net_output_bytes));
            line(
                "rejected_connections",
                &Stats::get(&st.rejected_connections),
            );
            line("expired_keys", &0);
            line("evicted_keys", &Stats::get(&st.evicted_keys));
            line("keyspace_hits", &0);
            line("keyspace_misses", &0);
            let (channels, patterns, _) = server.pubsub.counts();
            line("pubsub_channels", &channels);
            line("pubsub_patterns", &patterns);
            line("total_error_replies", &Stats::get(&st.error_replies));
            line(
                "client_query_buffer_limit_disconnections",
                &Stats::get(&st.query_buffer_limit_disconnections),
            );
            line(
                "client_output_buffer_limit_disconnections",
                &Stats::get(&st.output_buffer_limit_disconnections),
            );
            line(
                "protocol_error_disconnections",
                &Stats::get(&st.protocol_error_disconnections),
            );
        }
        "replication" => {
            line("# Replication", &"");
            line("role", &"master");
            line("connected_slaves", &0);
            line("master_failover_state", &"no-failover");
            line("master_replid", &server.run_id);
            line("master_repl_offset", &0);
            match server.repl.get() {
                None => line("connected_regions", &0),
                Some(r) => {
                    let st = ctx.store();
                    let s = r.core.lock().status(&*st);
                    drop(st);
                    let vv = |v: &crdt::VersionVector| {
                        v.iter()
                            .map(|(r, s)| format!("{r}:{s}"))
                            .collect::<Vec<_>>()
                            .join(";")
                    };
                    let up = s
                        .peers
                        .iter()
                        .filter(|p| p.link != replication::core::LinkState::Down)
                        .count();
                    line("connected_regions", &up);
                    line("region_id", &s.region);
                    line(
                        "region_replication_id",
                        &format!("{:016x}", s.replication_id),
                    );
                    line("region_writable", &(s.writable as u8));
                    line("region_applied", &vv(&s.applied));
                    line("region_durable", &vv(&s.durable));
                    line(
                        "region_stable",
                        &s.stable.as_ref().map(vv).unwrap_or_default(),
                    );
                    line("op_log_entries", &s.log_entries);
                    line("op_log_bytes", &s.log_bytes);
                    line("op_log_floor", &vv(&s.log_floor));
                    let ns = r.net_stats();
                    line("region_net_frames_sent", &ns.frames_sent);
                    line("region_net_frames_received", &ns.frames_received);
                    line("region_net_bytes_sent", &ns.bytes_sent);
                    line("region_net_bytes_received", &ns.bytes_received);
                    let now = crate::store::wall_ms();
                    for (i, p) in s.peers.iter().enumerate() {
                        line(
                            &format!("region_peer{i}"),
                            &format!(
                                "region={},link={},lag_ops={},lag_ms={},acked_applied={},acked_durable={},partial_resyncs={},full_resyncs_sent={},full_resyncs_received={},last_heard_ms_ago={}",
                                p.region,
                                format!("{:?}", p.link).to_ascii_lowercase(),
                                p.lag_ops,
                                p.lag_ms,
                                vv(&p.acked_applied),
                                vv(&p.acked_durable),
                                p.partial_resyncs,
                                p.full_resyncs_sent,
                                p.full_resyncs_received,
                                p.last_heard_ms
                                    .map(|t| now.saturating_sub(t) as i64)
                                    .unwrap_or(-1),
                            ),
                        );
                    }
                }
            }
        }
        "cpu" => {
            let (user, sys) = process_cpu();
            line("# CPU", &"");
            line("used_cpu_sys", &format!("{sys:.6}"));
            line("used_cpu_user", &format!("{user:.6}"));
        }
        "cluster" => {
            line("# Cluster", &"");
            line("cluster_enabled", &0);
        }
        "keyspace" => {
            line("# Keyspace", &"");
            let st = ctx.store();
            for db in 0..server.databases() {
                let keys = st.dbsize(db as u8);
                if keys > 0 {
                    line(
                        &format!("db{db}"),
                        &format!(
                            "keys={keys},expires={},avg_ttl=0",
                            st.expires_count(db as u8)
                        ),
                    );
                }
            }
        }
        "commandstats" => {
            line("# Commandstats", &"");
            for e in server.commands.all() {
                let calls = e.stats.calls.load(Relaxed);
                let rejected = e.stats.rejected_calls.load(Relaxed);
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let usec = e.stats.usec.load(Relaxed);
                let per_call = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                line(
                    &format!("cmdstat_{}", e.fullname),
                    &format!(
                        "calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={}",
                        e.stats.failed_calls.load(Relaxed)
                    ),
                );
            }
        }
        "latencystats" => {
            // Percentiles from the per-command histograms: each value is the upper bound
            // of the bucket the percentile falls in (Redis computes them from an HDR
            // histogram; the shape of the line is the same).
            line("# Latencystats", &"");
            for e in server.commands.all() {
                let h = &e.stats.latency;
                let p = |q: f64| match h.quantile_bound_us(q) {
                    Some(u64::MAX) => "inf".to_string(),
                    Some(us) => format!("{us}.000"),
                    None => String::new(),
                };
                if h.count() == 0 {
                    continue;
                }
                line(
                    &format!("latency_percentiles_usec_{}", e.fullname),
                    &format!("p50={},p99={},p99.9={}", p(0.5), p(0.99), p(0.999)),
                );
            }
        }
        _ => {}
    }
}

/// `1.50M`-style sizes, as Redis' `bytesToHuman`.
fn human(n: u64) -> String {
    let n = n as f64;
    const K: f64 = 1024.0;
    if n < K {
        format!("{n}B")
    } else if n < K * K {
        format!("{:.2}K", n / K)
    } else if n < K * K * K {
        format!("{:.2}M", n / K / K)
    } else {
        format!("{:.2}G", n / K / K / K)
    }
}

/// (user, system) CPU seconds from /proc (assumes 100 ticks per second).
fn process_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14/15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}
