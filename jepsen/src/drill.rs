//! Disaster-recovery drill: writers on region A (1) confirm every write with `WAIT 1`;
//! A is killed -9 for a while; the writers fail over to B (2); A restarts with the same
//! data dir and catches up. Every write confirmed by WAIT must be present everywhere
//! afterwards. The drill reports the failover time, A's catch-up time and whether A
//! caught up by partial or full resync (from A's `INFO replication`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::checker::Anomaly;
use crate::cluster::{info_field, info_replication, peer_infos, Cluster, ClusterConfig};
use crate::history::History;
use crate::runner::{converge, wait_links_up};
use crate::workload::Client;

/// Drill settings.
#[derive(Debug, Clone)]
pub struct DrillConfig {
    /// meridian binary.
    pub meridian: PathBuf,
    /// Run directory.
    pub dir: PathBuf,
    /// Regions (≥ 2; A = 1, B = 2).
    pub regions: u8,
    /// Writers.
    pub writers: usize,
    /// Writes before the kill.
    pub before: Duration,
    /// How long A stays down.
    pub down: Duration,
    /// Writes after A is back.
    pub after: Duration,
    /// Extra server flags.
    pub extra_args: Vec<String>,
    /// Seed (proxy randomness).
    pub seed: u64,
}

/// Drill results.
#[derive(Debug)]
pub struct DrillOutcome {
    /// Anomalies (confirmed writes lost, no convergence).
    pub anomalies: Vec<Anomaly>,
    /// Writes confirmed by WAIT 1.
    pub confirmed: usize,
    /// Acknowledged but unconfirmed writes lost (allowed).
    pub unconfirmed_lost: usize,
    /// Kill → first acknowledged write on another region, ms.
    pub failover_ms: Option<f64>,
    /// Restart → A writable and every region identical, ms.
    pub catch_up_ms: Option<f64>,
    /// "partial", "full" or "unknown".
    pub resync: String,
    /// The text summary.
    pub summary: String,
}

const KEY: &str = "jepsen:dr:set";

/// Runs the drill.
pub fn drill(cfg: &DrillConfig) -> anyhow::Result<DrillOutcome> {
    std::fs::create_dir_all(&cfg.dir)?;
    let mut c = Cluster::start(ClusterConfig {
        meridian: cfg.meridian.clone(),
        regions: cfg.regions.max(2),
        dir: cfg.dir.clone(),
        extra_args: cfg.extra_args.clone(),
        seed: cfg.seed,
        log: "warn".into(),
    })?;
    wait_links_up(&c, Duration::from_secs(30));
    let history = Arc::new(History::new(Some(&cfg.dir.join("history.jsonl")))?);
    let stop = Arc::new(AtomicBool::new(false));
    let a = (1u8, c.region(1).port);
    let b = (2u8, c.region(2).port);
    let mut handles = Vec::new();
    for w in 0..cfg.writers.max(1) {
        let mut client = Client::new(
            w + 1,
            vec![a, b],
            Duration::from_millis(800),
            history.clone(),
            "dr",
        );
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < 1_000_000 {
                n += 1;
                let e = (w as u64 + 1) * 10_000_000 + n;
                let add = client.call(
                    "sadd",
                    KEY,
                    json!(e),
                    redis::cmd("SADD").arg(KEY).arg(e),
                    Duration::ZERO,
                );
                if add.ok() {
                    client.call(
                        "wait",
                        KEY,
                        json!([e]),
                        redis::cmd("WAIT").arg(1).arg(1000),
                        Duration::from_millis(1000),
                    );
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }));
    }
    std::thread::sleep(cfg.before);
    let kill_ms = history.now_ms();
    c.kill(1);
    std::thread::sleep(cfg.down);
    let restart_t = Instant::now();
    let restart_ms = history.now_ms();
    c.restart(1)?;
    // A is back: wait until it is writable (caught up from its peers).
    let mut writable_ms = None;
    while restart_t.elapsed() < Duration::from_secs(60) {
        if info_replication(c.region(1).port)
            .map(|i| info_field(&i, "region_writable") == Some("1"))
            .unwrap_or(false)
        {
            writable_ms = Some(restart_t.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(cfg.after);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let (conv_ms, finals) = converge(&c, Duration::from_secs(30));
    let catch_up_ms = writable_ms;
    let info = info_replication(c.region(1).port).unwrap_or_default();
    let peers = peer_infos(&info);
    let full: u64 = peers.iter().map(|p| p.full_resyncs_received).sum();
    let partial: u64 = peers.iter().map(|p| p.partial_resyncs).sum();
    let resync = if full > 0 {
        "full"
    } else if partial > 0 {
        "partial"
    } else {
        "unknown"
    }
    .to_string();
    history.flush();
    let ops = history.ops();
    let confirmed: BTreeSet<String> = ops
        .iter()
        .filter(|o| o.f == "wait" && o.ok() && o.result.as_i64().unwrap_or(0) >= 1)
        .filter_map(|o| o.value.get(0).map(|v| v.to_string()))
        .collect();
    let mut anomalies = Vec::new();
    let mut missing_somewhere: BTreeSet<String> = BTreeSet::new();
    for (region, d) in &finals {
        let present: BTreeSet<String> = match d.get(KEY).map(|k| &k.value) {
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => BTreeSet::new(),
        };
        for e in &confirmed {
            if !present.contains(e) {
                anomalies.push(Anomaly {
                    checker: "drill".into(),
                    kind: "lost-confirmed".into(),
                    detail: format!("element {e} confirmed by WAIT 1 missing in region {region}"),
                });
            }
        }
        missing_somewhere.extend(
            ops.iter()
                .filter(|o| o.f == "sadd" && o.ok())
                .map(|o| o.value.to_string())
                .filter(|e| !confirmed.contains(e) && !present.contains(e)),
        );
    }
    let unconfirmed_lost = missing_somewhere.len();
    if conv_ms.is_none() {
        anomalies.push(Anomaly {
            checker: "drill".into(),
            kind: "divergence".into(),
            detail: "regions did not converge within 30 s after A returned".into(),
        });
    }
    let failover_ms = ops
        .iter()
        .filter(|o| o.f == "sadd" && o.ok() && o.region != 1 && o.invoke_ms >= kill_ms)
        .map(|o| o.complete_ms - kill_ms)
        .reduce(f64::min);
    let acked = ops.iter().filter(|o| o.f == "sadd" && o.ok()).count();
    let summary = format!(
        "DR drill: {}\n  regions {}, writers {}, A (region 1) killed -9 at {:.1} s for {:.1} s, restarted at {:.1} s\n  writes acknowledged {acked}, confirmed by WAIT 1 {}, acknowledged-unconfirmed lost {unconfirmed_lost} (allowed without persistence)\n  failover: first acknowledged write on another region {} after the kill\n  A writable again (caught up) {} after restart; all regions identical {} after the writers stopped\n  A caught up by {resync} resync (full resyncs received {full}, partial resyncs {partial}){}\n",
        if anomalies.is_empty() { "PASS (no confirmed write lost)".to_string() } else { format!("FAIL ({} anomalies)", anomalies.len()) },
        cfg.regions,
        cfg.writers,
        kill_ms / 1000.0,
        cfg.down.as_secs_f64(),
        restart_ms / 1000.0,
        confirmed.len(),
        failover_ms.map(|t| format!("{t:.0} ms")).unwrap_or_else(|| "never".into()),
        catch_up_ms.map(|t| format!("{t:.0} ms")).unwrap_or_else(|| "never".into()),
        conv_ms.map(|t| format!("{t:.0} ms")).unwrap_or_else(|| "never".into()),
        anomalies.iter().take(20).map(|a| format!("\n  [{}] {}", a.kind, a.detail)).collect::<String>(),
    );
    std::fs::write(cfg.dir.join("summary.txt"), &summary)?;
    Ok(DrillOutcome {
        anomalies,
        confirmed: confirmed.len(),
        unconfirmed_lost,
        failover_ms,
        catch_up_ms,
        resync,
        summary,
    })
}
