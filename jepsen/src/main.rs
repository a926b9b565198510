//! `meridian-jepsen`: chaos runs and the disaster-recovery drill against real regions.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use meridian_jepsen::cluster::locate_meridian;
use meridian_jepsen::drill::{drill, DrillConfig};
use meridian_jepsen::nemesis::Kind;
use meridian_jepsen::runner::{run, RunConfig};
use meridian_jepsen::workload::{ClientConfig, Workload};

/// Chaos harness for Meridian: real regions, faulty links, real clients, checked
/// histories.
#[derive(Debug, Parser)]
#[command(name = "meridian-jepsen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One chaos run: workloads + nemeses for --time seconds, heal, check, report.
    Run(RunArgs),
    /// Disaster-recovery drill: kill region 1, fail over to region 2, check WAIT-confirmed
    /// writes, watch region 1 catch up.
    Drill(DrillArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Workloads: counter,set,register,hash,zset,expiry,list,stream or all.
    #[arg(long, default_value = "all")]
    workload: String,
    /// Nemeses: partition,wan,lossy,kill,pause,clock, all or none.
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// Seconds of workload under faults.
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Regions (2..=9).
    #[arg(long, default_value_t = 3)]
    regions: u8,
    /// Seed (drives the workload and the fault schedule); random when omitted.
    #[arg(long)]
    seed: Option<u64>,
    /// The meridian binary [default: $MERIDIAN_BIN or target/release/meridian].
    #[arg(long)]
    meridian: Option<PathBuf>,
    /// Parent directory of run directories.
    #[arg(long, default_value = "jepsen-runs")]
    out: PathBuf,
    /// Client threads per workload and region.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Pause between a client's ops, ms.
    #[arg(long, default_value_t = 20)]
    interval_ms: u64,
    /// Request timeout, ms.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// WAN latency on every link for the whole run, `delay_ms:jitter_ms` (one way).
    #[arg(long)]
    wan: Option<String>,
    /// Seconds allowed to converge after healing.
    #[arg(long, default_value_t = 30)]
    converge_timeout: u64,
    /// Extra flags for every region, e.g. "--appendonly yes --appendfsync always".
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    server_args: String,
    /// Acknowledged writes must survive kill -9 (use with persistence + appendfsync always).
    #[arg(long)]
    durable_acks: bool,
    /// Inject the test-only bug `region:ops:at_ms` (DEBUG DROP-NEXT-DELTA); the run must
    /// then be reported INVALID.
    #[arg(long)]
    inject_bug: Option<String>,
    /// MERIDIAN_LOG of the regions.
    #[arg(long, default_value = "warn")]
    log: String,
}

#[derive(Debug, clap::Args)]
struct DrillArgs {
    /// The meridian binary [default: $MERIDIAN_BIN or target/release/meridian].
    #[arg(long)]
    meridian: Option<PathBuf>,
    /// Parent directory of run directories.
    #[arg(long, default_value = "jepsen-runs")]
    out: PathBuf,
    /// Regions (≥ 2).
    #[arg(long, default_value_t = 3)]
    regions: u8,
    /// Seconds of writes before the kill.
    #[arg(long, default_value_t = 5)]
    before: u64,
    /// Seconds region 1 stays down.
    #[arg(long, default_value_t = 10)]
    down: u64,
    /// Seconds of writes after region 1 is back.
    #[arg(long, default_value_t = 5)]
    after: u64,
    /// Writer threads.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Extra flags for every region.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    server_args: String,
}

fn run_dir(out: &std::path::Path, what: &str, seed: u64) -> PathBuf {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    out.join(format!("{what}-{ts}-seed{seed}"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(a) => {
            let seed = a.seed.unwrap_or_else(rand::random);
            let meridian = locate_meridian(a.meridian.as_deref())?;
            let mut cfg = RunConfig::new(meridian, run_dir(&a.out, "run", seed), seed);
            cfg.workloads = Workload::parse_list(&a.workload)?;
            cfg.nemeses = Kind::parse_list(&a.nemesis)?;
            cfg.time = Duration::from_secs(a.time.max(5));
            cfg.regions = a.regions;
            cfg.client = ClientConfig {
                op_interval: Duration::from_millis(a.interval_ms),
                timeout: Duration::from_millis(a.timeout_ms.max(50)),
                clients_per_region: a.clients.max(1),
                ..ClientConfig::default()
            };
            cfg.wan = match a.wan.as_deref() {
                None => None,
                Some(s) => {
                    let (d, j) = s.split_once(':').unwrap_or((s, "0"));
                    Some((
                        d.parse().context("--wan delay")?,
                        j.parse().context("--wan jitter")?,
                    ))
                }
            };
            cfg.converge_timeout = Duration::from_secs(a.converge_timeout.max(1));
            cfg.extra_args = a.server_args.split_whitespace().map(String::from).collect();
            cfg.durable_acks = a.durable_acks;
            cfg.inject_bug = match a.inject_bug.as_deref() {
                None => None,
                Some(s) => {
                    let p: Vec<&str> = s.split(':').collect();
                    anyhow::ensure!(p.len() == 3, "--inject-bug region:ops:at_ms");
                    Some((p[0].parse()?, p[1].parse()?, p[2].parse()?))
                }
            };
            cfg.log = a.log;
            eprintln!("meridian-jepsen: run directory {}", cfg.dir.display());
            let out = run(&cfg)?;
            println!("{}", out.summary);
            println!("report: {}", out.dir.join("report.html").display());
            if !out.valid {
                std::process::exit(1);
            }
        }
        Cmd::Drill(a) => {
            let seed: u64 = rand::random();
            let cfg = DrillConfig {
                meridian: locate_meridian(a.meridian.as_deref())?,
                dir: run_dir(&a.out, "drill", seed),
                regions: a.regions.max(2),
                writers: a.writers.max(1),
                before: Duration::from_secs(a.before),
                down: Duration::from_secs(a.down),
                after: Duration::from_secs(a.after),
                extra_args: a.server_args.split_whitespace().map(String::from).collect(),
                seed,
            };
            let out = drill(&cfg)?;
            println!("{}", out.summary);
            if !out.anomalies.is_empty() {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
