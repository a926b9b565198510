//! CI smoke: every workload under partitions, kills, pauses, clock skew and lossy/WAN
//! links on the real binary; the injected bug must be reported; the DR drill must keep
//! every WAIT-confirmed write. About two minutes in total.
//!
//! The meridian binary: `$MERIDIAN_BIN`, else built here with this test's cargo profile
//! (`cargo build -p meridian-node --bin meridian`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use meridian_jepsen::drill::{drill, DrillConfig};
use meridian_jepsen::nemesis::Kind;
use meridian_jepsen::runner::{run, RunConfig};
use meridian_jepsen::workload::{Workload, PREFIX};

/// The runs share 2 cores with everything else: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn meridian_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MERIDIAN_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test exe");
    // target/<profile>/deps/smoke-…
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(p) => p.to_string(),
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "--profile",
            &profile,
            "-p",
            "meridian-node",
            "--bin",
            "meridian",
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of meridian failed");
    profile_dir.join("meridian")
}

fn run_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meridian-jepsen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn seed() -> u64 {
    std::env::var("JEPSEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_240_601)
}

#[test]
fn smoke_every_workload_under_faults() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut cfg = RunConfig::new(meridian_bin(), run_dir("smoke"), seed());
    cfg.workloads = Workload::ALL.to_vec();
    cfg.nemeses = vec![
        Kind::Partition,
        Kind::Kill,
        Kind::Clock,
        Kind::Pause,
        Kind::Lossy,
    ];
    cfg.time = Duration::from_secs(45);
    cfg.wan = Some((15, 10));
    let out = run(&cfg).expect("run");
    println!("{}", out.summary);
    assert!(out.ops > 1000, "too few ops: {}", out.ops);
    assert!(
        out.valid,
        "anomalies found; report in {}",
        out.dir.display()
    );
    assert!(out.converged_ms.is_some());
    // every kind of fault was exercised by this seed's schedule
    let s = std::fs::read_to_string(out.dir.join("schedule.json")).unwrap();
    for k in ["partition", "kill", "clock"] {
        assert!(
            s.contains(&format!("\"kind\": \"{k}\"")),
            "schedule lacks {k}: {s}"
        );
    }
    let _ = std::fs::remove_dir_all(&out.dir);
}

#[test]
fn injected_bug_is_reported_as_lost_write() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut cfg = RunConfig::new(meridian_bin(), run_dir("bug"), seed());
    cfg.regions = 2;
    cfg.workloads = vec![Workload::Set];
    cfg.nemeses = vec![];
    cfg.time = Duration::from_secs(8);
    cfg.converge_timeout = Duration::from_secs(8);
    cfg.inject_bug = Some((1, 5, 3_000));
    let out = run(&cfg).expect("run");
    println!("{}", out.summary);
    assert!(!out.valid, "the injected bug went unnoticed");
    let kinds: Vec<&str> = out
        .results
        .anomalies
        .iter()
        .map(|a| a.kind.as_str())
        .collect();
    assert!(kinds.contains(&"lost"), "expected a lost write: {kinds:?}");
    assert!(
        kinds.contains(&"divergence"),
        "expected divergence: {kinds:?}"
    );
    assert!(out
        .results
        .anomalies
        .iter()
        .any(|a| a.detail.contains(PREFIX)));
    let _ = std::fs::remove_dir_all(&out.dir);
}

#[test]
fn dr_drill_keeps_wait_confirmed_writes() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let cfg = DrillConfig {
        meridian: meridian_bin(),
        dir: run_dir("drill"),
        regions: 3,
        writers: 2,
        before: Duration::from_secs(3),
        down: Duration::from_secs(4),
        after: Duration::from_secs(3),
        extra_args: Vec::new(),
        seed: seed(),
    };
    let out = drill(&cfg).expect("drill");
    println!("{}", out.summary);
    assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
    assert!(
        out.confirmed > 20,
        "too few confirmed writes: {}",
        out.confirmed
    );
    assert!(out.failover_ms.is_some(), "clients never failed over");
    assert!(out.catch_up_ms.is_some(), "region 1 never caught up");
    assert_ne!(out.resync, "unknown");
    let _ = std::fs::remove_dir_all(&cfg.dir);
}
