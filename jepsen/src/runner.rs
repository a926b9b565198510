//! One chaos run: start the cluster, drive the workloads, play the fault schedule, heal,
//! measure convergence, dump, check, report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::checker::{self, Anomaly, Input, Results};
use crate::cluster::{info_field, info_replication, Cluster, ClusterConfig};
use crate::dump::{self, Dump};
use crate::history::History;
use crate::lag::Sampler;
use crate::nemesis::{self, Applied, Background, Fault, Kind, Planned};
use crate::proxy::EdgeFaults;
use crate::report::ReportData;
use crate::workload::{spawn_clients, stream_drain, ClientConfig, Workload};

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The meridian binary.
    pub meridian: PathBuf,
    /// Regions.
    pub regions: u8,
    /// Workloads run concurrently.
    pub workloads: Vec<Workload>,
    /// Nemeses drawn by the schedule.
    pub nemeses: Vec<Kind>,
    /// Length of the faulty phase.
    pub time: Duration,
    /// Seed of workload and schedule.
    pub seed: u64,
    /// Run directory (created).
    pub dir: PathBuf,
    /// Clients.
    pub client: ClientConfig,
    /// WAN latency on every link for the whole run (one-way ms, jitter ms).
    pub wan: Option<(u32, u32)>,
    /// Time allowed to converge after healing.
    pub converge_timeout: Duration,
    /// Extra server flags.
    pub extra_args: Vec<String>,
    /// Acknowledged writes must survive kill -9 (persistence, appendfsync always).
    pub durable_acks: bool,
    /// Inject the test-only bug (region, ops, ms after start).
    pub inject_bug: Option<(u8, u32, u64)>,
    /// MERIDIAN_LOG of the regions.
    pub log: String,
}

impl RunConfig {
    /// Defaults for `meridian`, `dir` and `seed`.
    pub fn new(meridian: PathBuf, dir: PathBuf, seed: u64) -> RunConfig {
        RunConfig {
            meridian,
            regions: 3,
            workloads: Workload::ALL.to_vec(),
            nemeses: Kind::ALL.to_vec(),
            time: Duration::from_secs(60),
            seed,
            dir,
            client: ClientConfig::default(),
            wan: None,
            converge_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
            durable_acks: false,
            inject_bug: None,
            log: "warn".into(),
        }
    }

    /// The command line that replays this run.
    pub fn replay(&self) -> String {
        let mut s = format!(
            "meridian-jepsen run --seed {} --time {} --regions {} --workload {} --nemesis {}",
            self.seed,
            self.time.as_secs(),
            self.regions,
            self.workloads
                .iter()
                .map(|w| w.name())
                .collect::<Vec<_>>()
                .join(","),
            if self.nemeses.is_empty() {
                "none".into()
            } else {
                self.nemeses
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        );
        if let Some((d, j)) = self.wan {
            s += &format!(" --wan {d}:{j}");
        }
        if let Some((r, n, at)) = self.inject_bug {
            s += &format!(" --inject-bug {r}:{n}:{at}");
        }
        if !self.extra_args.is_empty() {
            s += &format!(" --server-args '{}'", self.extra_args.join(" "));
        }
        if self.durable_acks {
            s += " --durable-acks";
        }
        s
    }
}

/// What a run produced.
pub struct RunOutcome {
    /// No anomaly.
    pub valid: bool,
    /// Checker results (anomalies include divergence).
    pub results: Results,
    /// Heal → converged, ms.
    pub converged_ms: Option<f64>,
    /// The text summary (also in `dir/summary.txt`).
    pub summary: String,
    /// Run directory.
    pub dir: PathBuf,
    /// Ops recorded.
    pub ops: usize,
}

/// Waits until every region has a link to every peer (or `timeout`).
pub fn wait_links_up(c: &Cluster, timeout: Duration) -> bool {
    let want = (c.cfg.regions - 1).to_string();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let all = c.ids().into_iter().all(|id| {
            info_replication(c.region(id).port)
                .map(|i| info_field(&i, "connected_regions") == Some(want.as_str()))
                .unwrap_or(false)
        });
        if all {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Polls until every region is writable and all dumps are equal; returns the time it
/// took and the last dumps.
pub fn converge(c: &Cluster, timeout: Duration) -> (Option<f64>, BTreeMap<u8, Dump>) {
    let t0 = Instant::now();
    let mut last = BTreeMap::new();
    while t0.elapsed() < timeout {
        let writable = c.ids().into_iter().all(|id| {
            info_replication(c.region(id).port)
                .map(|i| info_field(&i, "region_writable") == Some("1"))
                .unwrap_or(false)
        });
        let mut dumps = BTreeMap::new();
        for id in c.ids() {
            if let Ok(d) = dump::dump(c.region(id).port) {
                dumps.insert(id, d);
            }
        }
        let equal = dumps.len() == c.ids().len()
            && dumps.values().all(|d| Some(d) == dumps.values().next());
        last = dumps;
        if writable && equal {
            return (Some(t0.elapsed().as_secs_f64() * 1000.0), last);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (None, last)
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// Plays `plan` against the cluster from `t0`; returns the applied timeline and kills.
fn play(
    c: &mut Cluster,
    plan: &[Planned],
    history: &History,
    t0: Instant,
    bg: Background,
    kills: &mut Vec<(u8, f64)>,
) -> Vec<Applied> {
    let mut out = Vec::new();
    for p in plan {
        sleep_until(t0 + Duration::from_millis(p.at_ms));
        let start_ms = history.now_ms();
        if let Fault::Kill { region } = p.fault {
            kills.push((region, start_ms));
        }
        let mut error = nemesis::begin(c, &p.fault).err().map(|e| format!("{e:#}"));
        let half = Duration::from_millis(p.dur_ms / 2);
        std::thread::sleep(half);
        if let Err(e) = nemesis::middle(c, &p.fault) {
            error.get_or_insert(format!("{e:#}"));
        }
        sleep_until(t0 + Duration::from_millis(p.at_ms + p.dur_ms));
        if let Err(e) = nemesis::end(c, &p.fault, bg) {
            error.get_or_insert(format!("{e:#}"));
        }
        out.push(Applied {
            start_ms,
            end_ms: history.now_ms(),
            fault: p.fault.clone(),
            error,
        });
    }
    out
}

/// Runs one chaos run and writes its report into `cfg.dir`.
pub fn run(cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    std::fs::create_dir_all(&cfg.dir)
        .with_context(|| format!("cannot create {}", cfg.dir.display()))?;
    let mut cluster = Cluster::start(ClusterConfig {
        meridian: cfg.meridian.clone(),
        regions: cfg.regions,
        dir: cfg.dir.clone(),
        extra_args: cfg.extra_args.clone(),
        seed: cfg.seed,
        log: cfg.log.clone(),
    })?;
    let links_up = wait_links_up(&cluster, Duration::from_secs(30));
    let bg = Background(match cfg.wan {
        Some((d, j)) => EdgeFaults {
            delay_ms: d,
            jitter_ms: j,
            ..EdgeFaults::clear()
        },
        None => EdgeFaults::clear(),
    });
    nemesis::set_background(&cluster, bg);
    let history = Arc::new(History::new(Some(&cfg.dir.join("history.jsonl")))?);
    let ports: Vec<(u8, u16)> = cluster
        .ids()
        .iter()
        .map(|&i| (i, cluster.region(i).port))
        .collect();
    let sampler = Sampler::start(ports.clone(), history.clone(), Duration::from_millis(250));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(
        &cfg.workloads,
        &ports,
        &cfg.client,
        history.clone(),
        stop.clone(),
        cfg.seed,
    );
    let mut plan = nemesis::schedule(cfg.seed, cfg.time, cfg.regions, &cfg.nemeses);
    if let Some((region, n, at)) = cfg.inject_bug {
        plan.retain(|p| p.at_ms + p.dur_ms < at || p.at_ms > at + 500);
        plan.push(Planned {
            at_ms: at,
            dur_ms: 100,
            fault: Fault::Bug { region, n },
        });
        plan.sort_by_key(|p| p.at_ms);
    }
    std::fs::write(
        cfg.dir.join("schedule.json"),
        serde_json::to_string_pretty(&plan)?,
    )?;
    let t0 = Instant::now();
    let mut kills = Vec::new();
    let timeline = play(&mut cluster, &plan, &history, t0, bg, &mut kills);
    sleep_until(t0 + cfg.time);
    // Heal everything; clients keep going for a second on the healed cluster.
    let heal_err = cluster.heal_all().err().map(|e| format!("{e:#}"));
    nemesis::set_background(&cluster, Background(EdgeFaults::clear()));
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for h in clients {
        let _ = h.join();
    }
    let heal_ms = history.now_ms();
    let (converged_ms, finals) = converge(&cluster, cfg.converge_timeout);
    if cfg.workloads.contains(&Workload::Stream) {
        // Per-region consumer groups: read each group to the end (at-least-once check).
        let mut keys: Vec<String> = history
            .ops()
            .into_iter()
            .filter(|o| o.workload == Workload::Stream.name())
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys.dedup();
        stream_drain(&ports, &keys, history.clone(), cfg.client.timeout);
    }
    let lag = sampler.finish();
    history.flush();
    let ops = history.ops();
    let inp = Input {
        ops: &ops,
        finals: &finals,
        kills: &kills,
        lag: &lag,
        durable_acks: cfg.durable_acks,
    };
    let names: Vec<&str> = cfg.workloads.iter().map(|w| w.name()).collect();
    let mut results = checker::check_all(&inp, &names);
    if converged_ms.is_none() {
        let first = finals.iter().next();
        let mut details = Vec::new();
        if let Some((r1, d1)) = first {
            for (r, d) in finals.iter().skip(1) {
                for l in dump::diff(d1, d, 10) {
                    details.push(format!("region {r1} vs {r}: {l}"));
                }
            }
        }
        if details.is_empty() {
            details.push(format!(
                "regions not all writable/reachable within {:?}",
                cfg.converge_timeout
            ));
        }
        for d in details {
            results.anomalies.push(Anomaly {
                checker: "convergence".into(),
                kind: "divergence".into(),
                detail: d,
            });
        }
    }
    let notes = vec![
        format!(
            "\nlinks up before the workload: {links_up}; heal errors: {}",
            heal_err.as_deref().unwrap_or("none")
        ),
        format!(
            "heal finished at {:.1} s; region starts: {}",
            heal_ms / 1000.0,
            cluster
                .regions
                .iter()
                .map(|r| format!("{}×{}", r.id, r.starts))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    ];
    let data = ReportData {
        replay: cfg.replay(),
        settings: vec![
            ("seed".into(), cfg.seed.to_string()),
            ("regions".into(), cfg.regions.to_string()),
            ("workloads".into(), names.join(",")),
            (
                "nemeses".into(),
                cfg.nemeses
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("time".into(), format!("{} s", cfg.time.as_secs())),
            ("server args".into(), cfg.extra_args.join(" ")),
            (
                "durable acks (persistence, always)".into(),
                cfg.durable_acks.to_string(),
            ),
            ("run directory".into(), cfg.dir.display().to_string()),
        ],
        ops: &ops,
        timeline: &timeline,
        lag: &lag,
        results: &results,
        converged_ms,
        converge_bound_ms: cfg.converge_timeout.as_secs_f64() * 1000.0,
        proxy: cluster.proxy_stats(),
        notes,
    };
    let summary = data.text();
    std::fs::write(cfg.dir.join("summary.txt"), &summary)?;
    std::fs::write(cfg.dir.join("report.html"), data.html())?;
    std::fs::write(
        cfg.dir.join("timeline.json"),
        serde_json::to_string_pretty(&timeline)?,
    )?;
    std::fs::write(
        cfg.dir.join("anomalies.json"),
        serde_json::to_string_pretty(&results.anomalies)?,
    )?;
    std::fs::write(
        cfg.dir.join("final-dumps.json"),
        serde_json::to_string_pretty(&finals)?,
    )?;
    std::fs::write(cfg.dir.join("lag.json"), serde_json::to_string(&lag)?)?;
    drop(cluster);
    Ok(RunOutcome {
        valid: results.anomalies.is_empty(),
        results,
        converged_ms,
        summary,
        dir: cfg.dir.clone(),
        ops: ops.len(),
    })
}
