//! `meridian admin`: calls a region's admin API and prints the answer, readable by
//! default or as JSON (`--json`).

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use proto::admin::v1 as pb;
use proto::admin::v1::admin_client::AdminClient;
use serde_json::{json, Value};
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;

/// Flags of `meridian admin`.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Admin API address of the region (its bind address and admin-port).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: String,
    /// Bearer token (the region's admin-token).
    #[arg(long, env = "MERIDIAN_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Admin calls.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Replication state: regions, links, lag, acks, version vectors, resyncs, backlog.
    Status,
    /// Liveness and readiness.
    Health,
    /// Add a peer region at run time.
    AddRegion {
        /// Region id (1..=255).
        region: u32,
        /// Its replication (QUIC) address, host:port; omitted: the address remembered
        /// from its removal, else it must dial this region.
        #[arg(long)]
        address: Option<String>,
        /// Certificate name it must present (default region-<id>.meridian; names bind
        /// to region ids, any other is refused).
        #[arg(long)]
        cert_name: Option<String>,
    },
    /// Remove a peer region at run time (its link closes; its ops are refused).
    RemoveRegion {
        /// Region id.
        region: u32,
        /// Also forget its address.
        #[arg(long)]
        purge: bool,
        /// Remove even though not every region applied the same ops of it.
        #[arg(long)]
        force: bool,
    },
    /// Observed-remove flush of every database in all regions (FLUSHALL).
    Flush,
}

fn vv(v: &Option<pb::VersionVector>) -> Value {
    let mut m = serde_json::Map::new();
    for e in v.iter().flat_map(|v| v.entries.iter()) {
        m.insert(e.region.to_string(), json!(e.seq));
    }
    Value::Object(m)
}

fn vv_text(v: &Option<pb::VersionVector>) -> String {
    let parts: Vec<String> = v
        .iter()
        .flat_map(|v| v.entries.iter())
        .map(|e| format!("{}:{}", e.region, e.seq))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

fn progress(p: &Option<pb::SnapshotProgress>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({"keys": p.keys, "db": p.db, "after_key": p.after_key}),
    }
}

/// The status as JSON.
pub fn status_json(s: &pb::StatusResponse) -> Value {
    json!({
        "region": s.region,
        "replication": s.replication,
        "replication_id": s.replication_id,
        "writable": s.writable,
        "recovering": s.recovering,
        "applied": vv(&s.applied),
        "durable": vv(&s.durable),
        "stable": s.stable.as_ref().map(|_| vv(&s.stable)),
        "backlog": {
            "entries": s.log_entries,
            "bytes": s.log_bytes,
            "oldest_age_ms": s.log_oldest_age_ms,
            "floor": vv(&s.log_floor),
        },
        "removed_regions": s.removed_regions.iter().map(|r| json!({
            "region": r.region, "cutoff": r.cutoff, "refused": r.refused,
        })).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({
            "region": l.region,
            "address": l.address,
            "state": l.state,
            "replication_id": l.replication_id,
            "lag_ops": l.lag_ops,
            "lag_ms": l.lag_ms,
            "acked_applied": vv(&l.acked_applied),
            "acked_durable": vv(&l.acked_durable),
            "last_heard_ago_ms": l.last_heard_ago_ms,
            "inflight_bytes": l.inflight_bytes,
            "partial_resyncs": l.partial_resyncs,
            "full_resyncs_sent": l.full_resyncs_sent,
            "full_resyncs_received": l.full_resyncs_received,
            "sending_snapshot": progress(&l.sending_snapshot),
            "receiving_snapshot": progress(&l.receiving_snapshot),
        })).collect::<Vec<_>>(),
    })
}

fn status_text(s: &pb::StatusResponse) -> String {
    let mut out = format!(
        "region {}  replication {}  writable {}  recovering {}\n",
        s.region,
        if s.replication { "on" } else { "off" },
        s.writable,
        s.recovering
    );
    out += &format!(
        "applied {}  durable {}  stable {}\n",
        vv_text(&s.applied),
        vv_text(&s.durable),
        vv_text(&s.stable)
    );
    out += &format!(
        "backlog {} entries, {} bytes, oldest {} ms, floor {}\n",
        s.log_entries,
        s.log_bytes,
        s.log_oldest_age_ms,
        vv_text(&s.log_floor)
    );
    for r in &s.removed_regions {
        out += &format!(
            "removed region {}: ops up to {} accepted, {} refused\n",
            r.region, r.cutoff, r.refused
        );
    }
    for l in &s.links {
        out += &format!(
            "link {} {:<16} {:<21} lag {} ops / {} ms  acked {}  heard {}  resyncs partial {} full sent {} received {}\n",
            l.region,
            l.state,
            if l.address.is_empty() { "-" } else { &l.address },
            l.lag_ops,
            l.lag_ms,
            vv_text(&l.acked_applied),
            l.last_heard_ago_ms
                .map_or("never".to_string(), |ms| format!("{ms} ms ago")),
            l.partial_resyncs,
            l.full_resyncs_sent,
            l.full_resyncs_received
        );
        if let Some(p) = &l.sending_snapshot {
            out += &format!(
                "  sending snapshot: {} keys, at db {} {:?}\n",
                p.keys, p.db, p.after_key
            );
        }
        if let Some(p) = &l.receiving_snapshot {
            out += &format!(
                "  receiving snapshot: {} keys, at db {} {:?}\n",
                p.keys, p.db, p.after_key
            );
        }
    }
    out
}

async fn call(args: &AdminArgs) -> anyhow::Result<String> {
    let url = format!("http://{}", args.addr);
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let channel = Endpoint::from_shared(url)
        .with_context(|| format!("bad --addr {}", args.addr))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .with_context(|| format!("cannot connect to the admin API at {}", args.addr))?;
    let auth: Option<MetadataValue<_>> = match &args.token {
        Some(t) if !t.is_empty() => Some(
            format!("Bearer {t}")
                .parse()
                .map_err(|_| anyhow!("the token must be printable ASCII"))?,
        ),
        _ => None,
    };
    let mut client = AdminClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
        if let Some(a) = &auth {
            req.metadata_mut().insert("authorization", a.clone());
        }
        Ok(req)
    });
    let fail = |s: tonic::Status| anyhow!("{:?}: {}", s.code(), s.message());
    let j = args.json;
    Ok(match &args.command {
        AdminCommand::Status => {
            let s = client
                .status(pb::StatusRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            if j {
                status_json(&s).to_string()
            } else {
                status_text(&s)
            }
        }
        AdminCommand::Health => {
            let h = client
                .health(pb::HealthRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            if j {
                json!({"live": h.live, "ready": h.ready, "region": h.region,
                       "links_up": h.links_up, "links_total": h.links_total})
                .to_string()
            } else {
                format!(
                    "region {}: live {}, ready {}, links up {}/{}\n",
                    h.region, h.live, h.ready, h.links_up, h.links_total
                )
            }
        }
        AdminCommand::AddRegion {
            region,
            address,
            cert_name,
        } => {
            let r = client
                .add_region(pb::AddRegionRequest {
                    region: *region,
                    address: address.clone().unwrap_or_default(),
                    certificate_name: cert_name.clone().unwrap_or_default(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            if j {
                json!({"added": r.added}).to_string()
            } else if r.added {
                format!("region {region} added\n")
            } else {
                format!("region {region} was already a peer\n")
            }
        }
        AdminCommand::RemoveRegion {
            region,
            purge,
            force,
        } => {
            let r = client
                .remove_region(pb::RemoveRegionRequest {
                    region: *region,
                    purge: *purge,
                    force: *force,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if j {
                json!({"removed": r.removed, "cutoff": r.cutoff}).to_string()
            } else if r.removed {
                format!(
                    "region {region} removed (its ops up to {} accepted, later ones refused)\n",
                    r.cutoff
                )
            } else {
                format!("region {region} was not a peer\n")
            }
        }
        AdminCommand::Flush => {
            let r = client
                .flush(pb::FlushRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            if j {
                json!({"keys_removed": r.keys_removed}).to_string()
            } else {
                format!("flushed: {} keys removed here\n", r.keys_removed)
            }
        }
    })
}

/// Runs `meridian admin`: prints the answer, or fails with the error.
pub fn run(args: &AdminArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let out = rt.block_on(call(args))?;
    print!("{out}");
    if args.json {
        println!();
    }
    Ok(())
}
