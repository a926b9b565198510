//! Nemeses: network faults through the proxies, process faults (kill -9 + restart,
//! SIGSTOP/SIGCONT) and clock faults (the node's test-mode clock offset). The schedule is
//! a pure function of the seed and the run length, so a run's fault timeline replays.

use std::time::Duration;

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::proxy::EdgeFaults;

/// Kinds of nemesis a run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Partitions: isolate one region, majority/minority split, one-way, ring (n ≥ 4).
    Partition,
    /// WAN latency 50–300 ms with jitter on every link.
    Wan,
    /// Packet loss, duplication and reordering on every link.
    Lossy,
    /// kill -9 one region, restart it after the window (same data dir).
    Kill,
    /// SIGSTOP one region for the window.
    Pause,
    /// Skew one region's clock, jump it mid-window, reset after.
    Clock,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] = [
        Kind::Partition,
        Kind::Wan,
        Kind::Lossy,
        Kind::Kill,
        Kind::Pause,
        Kind::Clock,
    ];

    /// Name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Partition => "partition",
            Kind::Wan => "wan",
            Kind::Lossy => "lossy",
            Kind::Kill => "kill",
            Kind::Pause => "pause",
            Kind::Clock => "clock",
        }
    }

    /// Parses a comma-separated list (`all`, `none`).
    pub fn parse_list(s: &str) -> anyhow::Result<Vec<Kind>> {
        let mut out = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w {
                "all" => out.extend(Kind::ALL),
                "none" => {}
                _ => out.push(
                    Kind::ALL
                        .into_iter()
                        .find(|k| k.name() == w)
                        .ok_or_else(|| anyhow::anyhow!("unknown nemesis '{w}' (partition, wan, lossy, kill, pause, clock, all, none)"))?,
                ),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// One concrete fault.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Directed edges cut (`name` says which shape).
    Partition {
        /// Shape: isolate-N, split, one-way, ring.
        name: String,
        /// Cut edges (from, to).
        cut: Vec<(u8, u8)>,
    },
    /// Latency on every edge.
    Wan {
        /// One-way delay.
        delay_ms: u32,
        /// Extra uniform delay.
        jitter_ms: u32,
    },
    /// Loss / duplication / reordering on every edge.
    Lossy {
        /// Drop probability.
        loss: f64,
        /// Duplicate probability.
        dup: f64,
        /// Reorder probability.
        reorder: f64,
    },
    /// kill -9, restart at the end.
    Kill {
        /// Region.
        region: u8,
    },
    /// SIGSTOP, SIGCONT at the end.
    Pause {
        /// Region.
        region: u8,
    },
    /// Clock offset, jumped to a second offset mid-window, reset at the end.
    Clock {
        /// Region.
        region: u8,
        /// First offset.
        offset_ms: i64,
        /// Offset after the mid-window jump.
        jump_ms: i64,
    },
    /// The deliberately injected bug: the region's next `n` ops replicate stripped.
    Bug {
        /// Region.
        region: u8,
        /// Ops.
        n: u32,
    },
}

impl Fault {
    /// One-line description.
    pub fn describe(&self) -> String {
        match self {
            Fault::Partition { name, cut } => format!(
                "partition {name} (cut {})",
                cut.iter()
                    .map(|(a, b)| format!("{a}→{b}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Fault::Wan {
                delay_ms,
                jitter_ms,
            } => format!("wan {delay_ms}±{jitter_ms} ms"),
            Fault::Lossy { loss, dup, reorder } => format!(
                "lossy loss {:.0}% dup {:.0}% reorder {:.0}%",
                loss * 100.0,
                dup * 100.0,
                reorder * 100.0
            ),
            Fault::Kill { region } => format!("kill -9 region {region}, restart"),
            Fault::Pause { region } => format!("pause (SIGSTOP) region {region}"),
            Fault::Clock {
                region,
                offset_ms,
                jump_ms,
            } => format!("clock region {region} {offset_ms:+} ms, jump to {jump_ms:+} ms"),
            Fault::Bug { region, n } => {
                format!("INJECTED BUG: region {region} strips its next {n} replicated ops")
            }
        }
    }

    /// Short kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Wan { .. } => "wan",
            Fault::Lossy { .. } => "lossy",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::Clock { .. } => "clock",
            Fault::Bug { .. } => "bug",
        }
    }
}

/// A fault at a time for a duration.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Start, ms after the workload started.
    pub at_ms: u64,
    /// Duration.
    pub dur_ms: u64,
    /// The fault.
    pub fault: Fault,
}

/// What actually happened (times measured).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Start, ms since the run's clock started.
    pub start_ms: f64,
    /// End (healed), ms.
    pub end_ms: f64,
    /// The fault.
    pub fault: Fault,
    /// Errors applying or healing it, if any.
    pub error: Option<String>,
}

fn partition(rng: &mut StdRng, n: u8) -> Fault {
    let ids: Vec<u8> = (1..=n).collect();
    let mut shapes = vec!["isolate", "split", "one-way"];
    if n >= 4 {
        shapes.push("ring");
    }
    let shape = *shapes.choose(rng).expect("non-empty");
    let mut cut = Vec::new();
    let name = match shape {
        "isolate" => {
            let r = *ids.choose(rng).expect("regions");
            for &o in &ids {
                if o != r {
                    cut.push((r, o));
                    cut.push((o, r));
                }
            }
            format!("isolate-{r}")
        }
        "split" => {
            let mut sh = ids.clone();
            sh.shuffle(rng);
            let minority = (n as usize - 1) / 2;
            let minority = minority.max(1);
            let (a, b) = sh.split_at(minority);
            for &x in a {
                for &y in b {
                    cut.push((x, y));
                    cut.push((y, x));
                }
            }
            format!("split {a:?}|{b:?}")
        }
        "one-way" => {
            let mut sh = ids.clone();
            sh.shuffle(rng);
            cut.push((sh[0], sh[1]));
            format!("one-way {}↛{}", sh[0], sh[1])
        }
        _ => {
            let mut sh = ids.clone();
            sh.shuffle(rng);
            let k = sh.len();
            for i in 0..k {
                for j in 0..k {
                    let d = (i + k - j) % k;
                    if i != j && d != 1 && d != k - 1 {
                        cut.push((sh[i], sh[j]));
                    }
                }
            }
            format!("ring {sh:?}")
        }
    };
    cut.sort();
    cut.dedup();
    Fault::Partition { name, cut }
}

/// The fault schedule for a run of `total` with `regions` regions, from `seed`.
/// Faults do not overlap; none starts in the first 2 s or ends in the last 3 s.
pub fn schedule(seed: u64, total: Duration, regions: u8, kinds: &[Kind]) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x006e_656d_6573_6973);
    let mut out = Vec::new();
    if kinds.is_empty() {
        return out;
    }
    let total_ms = total.as_millis() as u64;
    let end = total_ms.saturating_sub(3_000);
    let mut t = 2_000u64;
    // Window lengths scale with the run (short smoke runs keep several faults).
    let (dmin, dmax) = if total_ms <= 60_000 {
        (2_000, 5_000)
    } else {
        (3_000, 15_000)
    };
    for _ in 0..10_000 {
        let dur = rng.gen_range(dmin..=dmax);
        if t + dur > end {
            break;
        }
        let kind = *kinds.choose(&mut rng).expect("non-empty");
        let region = rng.gen_range(1..=regions);
        let fault = match kind {
            Kind::Partition => partition(&mut rng, regions),
            Kind::Wan => Fault::Wan {
                delay_ms: rng.gen_range(50..=300) / 2, // one way: RTT 50–300 ms
                jitter_ms: rng.gen_range(5..=50),
            },
            Kind::Lossy => Fault::Lossy {
                loss: rng.gen_range(0.02..0.2),
                dup: rng.gen_range(0.0..0.1),
                reorder: rng.gen_range(0.0..0.2),
            },
            Kind::Kill => Fault::Kill { region },
            Kind::Pause => Fault::Pause { region },
            Kind::Clock => {
                let mut off = || {
                    let m: i64 = rng.gen_range(2_000..=90_000);
                    if rng.gen_bool(0.5) {
                        m
                    } else {
                        -m
                    }
                };
                Fault::Clock {
                    region,
                    offset_ms: off(),
                    jump_ms: off(),
                }
            }
        };
        out.push(Planned {
            at_ms: t,
            dur_ms: dur,
            fault,
        });
        t += dur + rng.gen_range(1_000..=3_000);
    }
    out
}

fn all_edges(c: &Cluster) -> Vec<(u8, u8)> {
    let ids = c.ids();
    let mut v = Vec::new();
    for &a in &ids {
        for &b in &ids {
            if a != b {
                v.push((a, b));
            }
        }
    }
    v
}

/// Background faults every edge keeps between windows (e.g. WAN latency for the whole
/// run); windows modify them and restore them when healed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Background(pub EdgeFaults);

/// Starts a fault. Returns an error text if it could not be applied.
pub fn begin(c: &mut Cluster, f: &Fault) -> anyhow::Result<()> {
    match f {
        Fault::Partition { cut, .. } => {
            for &(a, b) in cut {
                let mut e = c.faults.get(a, b);
                e.cut = true;
                c.faults.set(a, b, e);
            }
        }
        Fault::Wan {
            delay_ms,
            jitter_ms,
        } => {
            for (a, b) in all_edges(c) {
                let mut e = c.faults.get(a, b);
                e.delay_ms = *delay_ms;
                e.jitter_ms = *jitter_ms;
                c.faults.set(a, b, e);
            }
        }
        Fault::Lossy { loss, dup, reorder } => {
            for (a, b) in all_edges(c) {
                let mut e = c.faults.get(a, b);
                e.loss = *loss;
                e.dup = *dup;
                e.reorder = *reorder;
                c.faults.set(a, b, e);
            }
        }
        Fault::Kill { region } => c.kill(*region),
        Fault::Pause { region } => c.pause(*region, true),
        Fault::Clock {
            region, offset_ms, ..
        } => c.clock_offset(*region, *offset_ms)?,
        Fault::Bug { region, n } => c.drop_next_deltas(*region, *n)?,
    }
    Ok(())
}

/// The mid-window step of a fault (the clock jump).
pub fn middle(c: &mut Cluster, f: &Fault) -> anyhow::Result<()> {
    if let Fault::Clock {
        region, jump_ms, ..
    } = f
    {
        c.clock_offset(*region, *jump_ms)?;
    }
    Ok(())
}

/// Heals a fault, restoring the background on the edges.
pub fn end(c: &mut Cluster, f: &Fault, bg: Background) -> anyhow::Result<()> {
    match f {
        Fault::Partition { cut, .. } => {
            for &(a, b) in cut {
                let mut e = c.faults.get(a, b);
                e.cut = bg.0.cut;
                c.faults.set(a, b, e);
            }
        }
        Fault::Wan { .. } | Fault::Lossy { .. } => {
            for (a, b) in all_edges(c) {
                c.faults.set(a, b, bg.0);
            }
        }
        Fault::Kill { region } => c.restart(*region)?,
        Fault::Pause { region } => c.pause(*region, false),
        Fault::Clock { region, .. } => c.clock_offset(*region, 0)?,
        Fault::Bug { .. } => {}
    }
    Ok(())
}

/// Sets the background on every edge.
pub fn set_background(c: &Cluster, bg: Background) {
    for (a, b) in all_edges(c) {
        c.faults.set(a, b, bg.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_replays_from_seed() {
        let k = Kind::ALL;
        let a = serde_json::to_string(&schedule(42, Duration::from_secs(120), 3, &k)).unwrap();
        let b = serde_json::to_string(&schedule(42, Duration::from_secs(120), 3, &k)).unwrap();
        let c = serde_json::to_string(&schedule(43, Duration::from_secs(120), 3, &k)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let s = schedule(1, Duration::from_secs(30), 3, &k);
        assert!(s.len() >= 3, "{s:?}");
        for w in s.windows(2) {
            assert!(w[0].at_ms + w[0].dur_ms < w[1].at_ms);
        }
        assert!(s.last().unwrap().at_ms + s.last().unwrap().dur_ms <= 27_000);
    }

    #[test]
    fn ring_keeps_neighbours() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            if let Fault::Partition { name, cut } = partition(&mut rng, 5) {
                if name.starts_with("ring") {
                    // 5 regions: 20 directed edges, 10 to neighbours
                    assert_eq!(cut.len(), 10, "{name}");
                }
            }
        }
    }
}
