//! Checkers over a history, the final per-region dumps and the fault timeline.
//!
//! Eventual consistency shapes every rule: reads in one region may lag writes made in
//! another, so mid-run reads are checked only for values that could exist (written,
//! within counter bounds); the strong claims are checked on the final, healed state.
//!
//! Crashes without persistence: a write acknowledged by a region that is killed before
//! any peer acknowledged it (no lag sample of that region showing a peer with
//! `lag_ops=0` between the ack and the kill) may be lost legitimately; such writes are
//! "at risk" and their loss is counted (`lost_on_crash`) rather than reported, unless
//! the run says acknowledged writes are durable (`appendfsync always`) or the write was
//! confirmed with `WAIT 1`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value as Json;

use crate::dump::Dump;
use crate::history::{Op, Outcome};
use crate::lag::LagSample;

/// One anomaly.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Anomaly {
    /// Checker (workload or `convergence` / `durability`).
    pub checker: String,
    /// Kind: lost, resurrected, unexpected, duplicated, non-monotonic, out-of-bounds,
    /// phantom-read, lww-order, divergence, lost-confirmed.
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
}

/// What the checkers need.
pub struct Input<'a> {
    /// Completed ops.
    pub ops: &'a [Op],
    /// Final dump of every region after healing.
    pub finals: &'a BTreeMap<u8, Dump>,
    /// kill -9 times: (region, ms).
    pub kills: &'a [(u8, f64)],
    /// Replication-lag samples (evidence that a region's writes reached a peer).
    pub lag: &'a [LagSample],
    /// Acknowledged writes must survive kill -9 (persistence with appendfsync always).
    pub durable_acks: bool,
}

/// Checker results.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// Every anomaly found (empty = valid).
    pub anomalies: Vec<Anomaly>,
    /// Per-checker figures.
    pub stats: BTreeMap<String, BTreeMap<String, Json>>,
    /// set: ms from an add's ack until every region read it.
    pub visibility_ms: Vec<f64>,
}

impl Results {
    fn anomaly(&mut self, checker: &str, kind: &str, detail: String) {
        self.anomalies.push(Anomaly {
            checker: checker.into(),
            kind: kind.into(),
            detail,
        });
    }

    fn stat(&mut self, checker: &str, name: &str, v: impl Into<Json>) {
        self.stats
            .entry(checker.into())
            .or_default()
            .insert(name.into(), v.into());
    }

    /// Anomaly counts by (checker, kind).
    pub fn counts(&self) -> BTreeMap<(String, String), usize> {
        let mut m = BTreeMap::new();
        for a in &self.anomalies {
            *m.entry((a.checker.clone(), a.kind.clone())).or_default() += 1;
        }
        m
    }
}

impl Input<'_> {
    /// Whether an ok write at its region may have been lost by a later kill -9.
    pub fn at_risk(&self, op: &Op) -> bool {
        if self.durable_acks {
            return false;
        }
        let Some(kill) = self
            .kills
            .iter()
            .filter(|(r, t)| *r == op.region && *t > op.complete_ms)
            .map(|(_, t)| *t)
            .reduce(f64::min)
        else {
            return false;
        };
        !self.lag.iter().any(|s| {
            s.region == op.region
                && s.t_ms > op.complete_ms
                && s.t_ms < kill
                && s.peers.iter().any(|p| p.link == "up" && p.lag_ops == 0)
        })
    }

    /// Whether region `r` was killed in (a, b).
    fn killed_between(&self, r: u8, a: f64, b: f64) -> bool {
        self.kills.iter().any(|(k, t)| *k == r && *t > a && *t < b)
    }
}

fn as_i64(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_str(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Flat `[k, v, k, v]` reply → pairs.
fn pairs(v: &Json) -> Vec<(String, Json)> {
    match v {
        Json::Array(a) => a
            .chunks(2)
            .filter(|c| c.len() == 2)
            .filter_map(|c| as_str(&c[0]).map(|k| (k, c[1].clone())))
            .collect(),
        Json::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

/// Bounds of a counter made of ± deltas.
#[derive(Debug, Default, Clone, Copy)]
struct Bounds {
    /// Sum of definitely applied deltas.
    definite: i64,
    /// Sum of negative / positive possibly-applied deltas.
    neg: i64,
    pos: i64,
    /// Loosest bounds: any subset of every maybe-applied delta.
    any_neg: i64,
    any_pos: i64,
}

impl Bounds {
    fn add(&mut self, d: i64, outcome: &Outcome, risky: bool) {
        match outcome {
            Outcome::Fail => return,
            Outcome::Ok if !risky => self.definite += d,
            _ => {
                if d < 0 {
                    self.neg += d
                } else {
                    self.pos += d
                }
            }
        }
        if d < 0 {
            self.any_neg += d
        } else {
            self.any_pos += d
        }
    }

    fn lo(&self) -> i64 {
        self.definite + self.neg
    }

    fn hi(&self) -> i64 {
        self.definite + self.pos
    }

    fn contains(&self, v: i64) -> bool {
        (self.lo()..=self.hi()).contains(&v)
    }
}

/// Mid-run read bound: a read sees a subset of the maybe-applied deltas invoked before it
/// completed. `deltas` are (invoke_ms, delta) of maybe-applied ops, sorted by time.
fn read_in_bounds(deltas: &[(f64, i64)], read: &Op, v: i64) -> bool {
    let (mut lo, mut hi) = (0i64, 0i64);
    for &(t, d) in deltas {
        if t > read.complete_ms {
            break;
        }
        if d < 0 {
            lo += d
        } else {
            hi += d
        }
    }
    (lo..=hi).contains(&v)
}

/// Counter workload: final value within bounds in every region; reads within the subset
/// bound.
pub fn counter(inp: &Input<'_>, res: &mut Results) {
    const C: &str = "counter";
    let ops: Vec<&Op> = inp.ops.iter().filter(|o| o.workload == C).collect();
    let keys: BTreeSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
    let mut reads = 0;
    let mut at_risk = 0;
    for key in keys {
        let mut b = Bounds::default();
        let mut deltas = Vec::new();
        for o in ops.iter().filter(|o| o.key == key && o.f == "incrby") {
            let d = as_i64(&o.value).unwrap_or(0);
            let risky = o.ok() && inp.at_risk(o);
            at_risk += risky as usize;
            b.add(d, &o.outcome, risky);
            if o.maybe() {
                deltas.push((o.invoke_ms, d));
            }
        }
        deltas.sort_by(|a, b| a.0.total_cmp(&b.0));
        for r in ops
            .iter()
            .filter(|o| o.key == key && o.f == "read" && o.ok())
        {
            reads += 1;
            let v = if r.result.is_null() {
                0
            } else {
                match as_i64(&r.result) {
                    Some(v) => v,
                    None => {
                        res.anomaly(
                            C,
                            "bad-read",
                            format!("{key}: read {} (op {})", r.result, r.index),
                        );
                        continue;
                    }
                }
            };
            if !read_in_bounds(&deltas, r, v) {
                res.anomaly(
                    C,
                    "out-of-bounds",
                    format!("{key}: region {} read {v} at {:.0} ms, outside what the increments invoked so far allow (op {})", r.region, r.complete_ms, r.index),
                );
            }
        }
        for (region, d) in inp.finals {
            let v = d.get(key).and_then(|k| as_i64(&k.value)).unwrap_or(0);
            if !b.contains(v) {
                res.anomaly(
                    C,
                    "out-of-bounds",
                    format!("{key}: final value {v} in region {region} outside [{}, {}] (definite {}, indeterminate -{}..+{})", b.lo(), b.hi(), b.definite, -b.neg, b.pos),
                );
            }
        }
        res.stat(
            C,
            &format!("{key} bounds"),
            format!("[{}, {}]", b.lo(), b.hi()),
        );
    }
    res.stat(C, "reads", reads);
    res.stat(C, "acked increments at risk of a crash", at_risk);
}

/// set-full looks at the reads of this window after each add (monotonicity, visibility).
const READ_WINDOW_MS: f64 = 60_000.0;

/// Set workload: set-full (lost, resurrected, unexpected, duplicated, non-monotonic
/// reads in one region) and per-element visibility latency; WAIT-confirmed elements must
/// never be lost (durability).
pub fn set_full(inp: &Input<'_>, res: &mut Results) {
    const C: &str = "set";
    let ops: Vec<&Op> = inp.ops.iter().filter(|o| o.workload == C).collect();
    let keys: BTreeSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
    // Confirmed by WAIT: the sadd ok followed (same process) by wait ≥ 1.
    let mut confirmed: BTreeSet<String> = BTreeSet::new();
    for o in ops.iter().filter(|o| o.f == "wait" && o.ok()) {
        if as_i64(&o.result).unwrap_or(0) >= 1 {
            if let Json::Array(a) = &o.value {
                confirmed.extend(a.iter().filter_map(as_str));
            }
        }
    }
    let regions: Vec<u8> = inp.finals.keys().copied().collect();
    let (mut lost_on_crash, mut stale_reads, mut never_read, mut elements) = (0, 0, 0, 0);
    for key in keys {
        let adds: HashMap<String, &Op> = ops
            .iter()
            .filter(|o| o.key == key && o.f == "sadd")
            .filter_map(|o| as_str(&o.value).map(|e| (e, *o)))
            .collect();
        let rems: HashMap<String, &Op> = ops
            .iter()
            .filter(|o| o.key == key && o.f == "srem")
            .filter_map(|o| as_str(&o.value).map(|e| (e, *o)))
            .collect();
        let mut reads: Vec<(&Op, BTreeSet<String>)> = Vec::new();
        for r in ops
            .iter()
            .filter(|o| o.key == key && o.f == "read" && o.ok())
        {
            let Json::Array(a) = &r.result else {
                res.anomaly(
                    C,
                    "bad-read",
                    format!("{key}: read {} (op {})", r.result, r.index),
                );
                continue;
            };
            let v: Vec<String> = a.iter().filter_map(as_str).collect();
            let s: BTreeSet<String> = v.iter().cloned().collect();
            if s.len() != v.len() {
                res.anomaly(
                    C,
                    "duplicated",
                    format!(
                        "{key}: region {} read an element twice (op {})",
                        r.region, r.index
                    ),
                );
            }
            for e in &s {
                match adds.get(e) {
                    None => res.anomaly(
                        C,
                        "unexpected",
                        format!(
                            "{key}: region {} read {e}, never added (op {})",
                            r.region, r.index
                        ),
                    ),
                    Some(a) if a.invoke_ms > r.complete_ms => res.anomaly(
                        C,
                        "unexpected",
                        format!(
                            "{key}: region {} read {e} before it was added (op {})",
                            r.region, r.index
                        ),
                    ),
                    _ => {}
                }
            }
            reads.push((r, s));
        }
        reads.sort_by(|a, b| a.0.invoke_ms.total_cmp(&b.0.invoke_ms));
        let mut by_region: BTreeMap<u8, Vec<&(&Op, BTreeSet<String>)>> = BTreeMap::new();
        for r in &reads {
            by_region.entry(r.0.region).or_default().push(r);
        }
        for (e, add) in &adds {
            elements += 1;
            let rem = rems.get(e);
            // An acknowledged SREM can be lost like any write when its region is killed
            // before a peer acknowledged it (no persistence): then it is only "maybe".
            let removed = rem.is_some_and(|r| r.ok() && as_i64(&r.result) == Some(1));
            let removed_for_sure = removed && !rem.is_some_and(|r| inp.at_risk(r));
            let maybe_removed = rem.is_some_and(|r| r.outcome == Outcome::Info) || removed;
            let must_exist = add.ok() && !maybe_removed;
            // Final state.
            for (region, d) in inp.finals {
                let present = d.get(key).is_some_and(|k| match &k.value {
                    Json::Array(a) => a.iter().any(|x| as_str(x).as_deref() == Some(e)),
                    _ => false,
                });
                if present && (add.outcome == Outcome::Fail) {
                    res.anomaly(
                        C,
                        "unexpected",
                        format!("{key}: {e} present in region {region} though its SADD failed"),
                    );
                }
                if present && removed_for_sure {
                    res.anomaly(C, "resurrected", format!("{key}: {e} present in region {region} after an acknowledged SREM (op {})", rem.map(|r| r.index).unwrap_or(0)));
                }
                if !present && must_exist {
                    if confirmed.contains(e) {
                        res.anomaly("durability", "lost-confirmed", format!("{key}: {e} confirmed by WAIT 1 (op {}) is missing in region {region}", add.index));
                    } else if inp.at_risk(add) {
                        lost_on_crash += 1;
                    } else {
                        res.anomaly(C, "lost", format!("{key}: {e} acknowledged by region {} at {:.0} ms (op {}) is missing in region {region}", add.region, add.complete_ms, add.index));
                    }
                }
            }
            // Reads: monotonic per region, visibility latency.
            if !add.ok() {
                continue;
            }
            let rem_t = rem.map(|r| r.invoke_ms).unwrap_or(f64::INFINITY);
            let mut vis_all = Some(0f64);
            for &region in &regions {
                let mut seen_at: Option<f64> = None;
                let mut last_seen: Option<&Op> = None;
                let mut any_after = false;
                let rs = by_region.get(&region).map(Vec::as_slice).unwrap_or(&[]);
                let from = rs.partition_point(|(r, _)| r.invoke_ms < add.complete_ms);
                // Reads within READ_WINDOW_MS of the ack (bounds the work on long runs).
                let until = add.complete_ms + READ_WINDOW_MS;
                for (r, s) in rs[from..].iter().map(|x| (&x.0, &x.1)) {
                    if r.invoke_ms > until || r.complete_ms >= rem_t {
                        break;
                    }
                    any_after = true;
                    if s.contains(e) {
                        seen_at.get_or_insert(r.complete_ms);
                        last_seen = Some(r);
                    } else {
                        if let Some(prev) = last_seen {
                            if !inp.killed_between(region, prev.complete_ms, r.invoke_ms)
                                && !inp.at_risk(add)
                            {
                                res.anomaly(C, "non-monotonic", format!("{key}: region {region} read {e} (op {}) then missed it (op {}) with no remove and no restart", prev.index, r.index));
                            }
                        } else if region == add.region
                            && !inp.killed_between(region, add.complete_ms, r.invoke_ms)
                        {
                            res.anomaly(C, "read-your-writes", format!("{key}: region {region} acknowledged {e} (op {}) then read without it (op {})", add.index, r.index));
                        } else {
                            stale_reads += 1;
                        }
                    }
                }
                if !any_after {
                    vis_all = None;
                    continue;
                }
                match (seen_at, vis_all) {
                    (Some(t), Some(v)) => vis_all = Some(v.max(t - add.complete_ms)),
                    (None, _) => {
                        vis_all = None;
                        if region != add.region {
                            never_read += 1;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(v) = vis_all {
                res.visibility_ms.push(v);
            }
        }
    }
    res.stat(C, "elements", elements);
    res.stat(C, "confirmed by WAIT", confirmed.len());
    res.stat(
        C,
        "lost on crash (acked, unreplicated, region killed)",
        lost_on_crash,
    );
    res.stat(
        C,
        "stale reads (other region not caught up yet)",
        stale_reads,
    );
    res.stat(
        C,
        "never read in some region before removal or end",
        never_read,
    );
}

/// Register-like values of one key (or hash field): which values were written when.
struct Writes<'a> {
    by_value: HashMap<String, &'a Op>,
}

impl<'a> Writes<'a> {
    fn check_value(
        &self,
        checker: &str,
        what: &str,
        v: &str,
        read: Option<&Op>,
        res: &mut Results,
    ) {
        match self.by_value.get(v) {
            None => res.anomaly(
                checker,
                "phantom-read",
                format!(
                    "{what}: value {v} was never written{}",
                    read.map(|r| format!(" (op {}, region {})", r.index, r.region))
                        .unwrap_or_default()
                ),
            ),
            Some(w) if w.outcome == Outcome::Fail => res.anomaly(
                checker,
                "phantom-read",
                format!(
                    "{what}: value {v} comes from a failed write (op {})",
                    w.index
                ),
            ),
            Some(w) => {
                if let Some(r) = read {
                    if w.invoke_ms > r.complete_ms {
                        res.anomaly(
                            checker,
                            "phantom-read",
                            format!(
                                "{what}: region {} read {v} before it was written (op {})",
                                r.region, r.index
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Final LWW check: a final value written by `w1` at region r is wrong if a later write
/// `w2` at the same region (invoked after w1 was acknowledged, so its HLC is higher)
/// was acknowledged and not at risk of a crash, and r did not restart in between.
fn lww_final(
    inp: &Input<'_>,
    checker: &str,
    what: &str,
    w1: &Op,
    writes: &[&Op],
    region: u8,
    res: &mut Results,
) {
    if let Some(w2) = writes.iter().find(|w2| {
        w2.ok()
            && w2.region == w1.region
            && w2.invoke_ms > w1.complete_ms
            && !inp.at_risk(w2)
            && !inp.killed_between(w1.region, w1.complete_ms, w2.invoke_ms)
    }) {
        res.anomaly(checker, "lww-order", format!("{what}: region {region} ends with {} (op {}) though op {} wrote over it later in the same region", w1.value, w1.index, w2.index));
    }
}

/// Register workload: only written values are ever read; the final value is a written
/// one and respects same-region write order.
pub fn register(inp: &Input<'_>, res: &mut Results) {
    register_like(inp, res, "register", "write");
}

fn register_like(inp: &Input<'_>, res: &mut Results, c: &str, write_f: &str) {
    let ops: Vec<&Op> = inp.ops.iter().filter(|o| o.workload == c).collect();
    let keys: BTreeSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
    for key in keys {
        let writes: Vec<&Op> = ops
            .iter()
            .filter(|o| o.key == key && (o.f == write_f || o.f == "setex"))
            .copied()
            .collect();
        let val = |o: &Op| match &o.value {
            Json::Array(a) => a.first().and_then(as_str),
            v => as_str(v),
        };
        let w = Writes {
            by_value: writes
                .iter()
                .filter_map(|o| val(o).map(|v| (v, *o)))
                .collect(),
        };
        for r in ops
            .iter()
            .filter(|o| o.key == key && o.f == "read" && o.ok())
        {
            if let Some(v) = as_str(&r.result) {
                w.check_value(c, key, &v, Some(r), res);
            }
        }
        for (region, d) in inp.finals {
            if let Some(k) = d.get(key) {
                match as_str(&k.value) {
                    Some(v) => {
                        w.check_value(c, key, &v, None, res);
                        // LWW order only for plain registers (expiry may delete a later write).
                        if c == "register" {
                            if let Some(w1) = w.by_value.get(&v) {
                                lww_final(inp, c, key, w1, &writes, *region, res);
                            }
                        }
                    }
                    None => res.anomaly(
                        c,
                        "wrong-type",
                        format!("{key}: region {region} holds {} {}", k.kind, k.value),
                    ),
                }
            }
        }
    }
}

/// Expiry workload: reads and final values are written values (keys may have expired).
pub fn expiry(inp: &Input<'_>, res: &mut Results) {
    register_like(inp, res, "expiry", "write");
    let n = inp
        .finals
        .values()
        .next()
        .map(|d| d.keys().filter(|k| k.starts_with("jepsen:expiry:")).count())
        .unwrap_or(0);
    res.stat("expiry", "keys alive at the end", n);
}

/// Hash workload: register fields (HSET/HDEL) read only written values; counter fields
/// (HINCRBY) end within bounds.
pub fn hash(inp: &Input<'_>, res: &mut Results) {
    const C: &str = "hash";
    let ops: Vec<&Op> = inp.ops.iter().filter(|o| o.workload == C).collect();
    let keys: BTreeSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
    for key in keys {
        let field_of = |o: &Op| match &o.value {
            Json::Array(a) => a.first().and_then(as_str),
            _ => None,
        };
        let mut writes: HashMap<String, Writes> = HashMap::new();
        let mut counters: BTreeMap<String, (Bounds, Vec<(f64, i64)>)> = BTreeMap::new();
        for o in ops.iter().filter(|o| o.key == key) {
            let Some(f) = field_of(o) else { continue };
            match o.f {
                "hset" => {
                    if let Json::Array(a) = &o.value {
                        if let Some(v) = a.get(1).and_then(as_str) {
                            writes
                                .entry(f)
                                .or_insert_with(|| Writes {
                                    by_value: HashMap::new(),
                                })
                                .by_value
                                .insert(v, o);
                        }
                    }
                }
                "hincrby" => {
                    let d = match &o.value {
                        Json::Array(a) => a.get(1).and_then(as_i64).unwrap_or(0),
                        _ => 0,
                    };
                    let e = counters.entry(f).or_default();
                    e.0.add(d, &o.outcome, o.ok() && inp.at_risk(o));
                    if o.maybe() {
                        e.1.push((o.invoke_ms, d));
                    }
                }
                _ => {}
            }
        }
        for c in counters.values_mut() {
            c.1.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let empty = Writes {
            by_value: HashMap::new(),
        };
        let check_fields =
            |fields: Vec<(String, Json)>, read: Option<&Op>, region: u8, res: &mut Results| {
                for (f, v) in fields {
                    let what = format!("{key} field {f}");
                    if f.starts_with('n') {
                        let (b, deltas) = counters.get(&f).cloned().unwrap_or_default();
                        let Some(n) = as_i64(&v) else {
                            res.anomaly(C, "bad-read", format!("{what}: {v}"));
                            continue;
                        };
                        let ok = match read {
                            Some(r) => read_in_bounds(&deltas, r, n),
                            None => b.contains(n),
                        };
                        if !ok {
                            res.anomaly(
                                C,
                                "out-of-bounds",
                                format!(
                                    "{what}: region {region} {} {n} outside [{}, {}]",
                                    if read.is_some() { "read" } else { "ends with" },
                                    b.lo(),
                                    b.hi()
                                ),
                            );
                        }
                    } else if let Some(s) = as_str(&v) {
                        writes
                            .get(&f)
                            .unwrap_or(&empty)
                            .check_value(C, &what, &s, read, res);
                    }
                }
            };
        for r in ops
            .iter()
            .filter(|o| o.key == key && o.f == "read" && o.ok())
        {
            check_fields(pairs(&r.result), Some(r), r.region, res);
        }
        for (region, d) in inp.finals {
            let fields = d.get(key).map(|k| pairs(&k.value)).unwrap_or_default();
            let present: BTreeSet<String> = fields.iter().map(|(f, _)| f.clone()).collect();
            check_fields(fields, None, *region, res);
            // Counter fields never HDELed: absent means 0.
            for (f, (b, _)) in &counters {
                if !present.contains(f) && !b.contains(0) {
                    res.anomaly(
                        C,
                        "out-of-bounds",
                        format!(
                            "{key} field {f}: missing in region {region} (0) outside [{}, {}]",
                            b.lo(),
                            b.hi()
                        ),
                    );
                }
            }
        }
    }
}

/// Sorted-set leaderboard: `p*` members (ZINCRBY only) end within counter bounds;
/// `r*` members (ZINCRBY + ZREM, which removes only the increments it observed) hold a
/// subset sum of their increments.
pub fn zset(inp: &Input<'_>, res: &mut Results) {
    const C: &str = "zset";
    let ops: Vec<&Op> = inp.ops.iter().filter(|o| o.workload == C).collect();
    let keys: BTreeSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
    for key in keys {
        let mut members: BTreeMap<String, (Bounds, Vec<(f64, i64)>)> = BTreeMap::new();
        for o in ops.iter().filter(|o| o.key == key && o.f == "zincrby") {
            let Json::Array(a) = &o.value else { continue };
            let (Some(m), Some(d)) = (a.first().and_then(as_str), a.get(1).and_then(as_i64)) else {
                continue;
            };
            let e = members.entry(m).or_default();
            e.0.add(d, &o.outcome, o.ok() && inp.at_risk(o));
            if o.maybe() {
                e.1.push((o.invoke_ms, d));
            }
        }
        for m in members.values_mut() {
            m.1.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let check = |m: &str, score: &Json, read: Option<&Op>, region: u8, res: &mut Results| {
            let what = format!("{key} member {m}");
            let Some((b, deltas)) = members.get(m) else {
                res.anomaly(
                    C,
                    "unexpected",
                    format!("{what}: present in region {region} but never incremented"),
                );
                return;
            };
            let Some(s) = as_f64(score) else {
                res.anomaly(C, "bad-read", format!("{what}: score {score}"));
                return;
            };
            if s.fract() != 0.0 {
                res.anomaly(
                    C,
                    "out-of-bounds",
                    format!("{what}: non-integer score {s} in region {region}"),
                );
                return;
            }
            let s = s as i64;
            let ok = match (read, m.starts_with('p')) {
                (Some(r), _) => read_in_bounds(deltas, r, s),
                (None, true) => b.contains(s),
                (None, false) => (b.any_neg..=b.any_pos).contains(&s),
            };
            if !ok {
                res.anomaly(
                    C,
                    "out-of-bounds",
                    format!(
                        "{what}: region {region} {} {s} outside [{}, {}]",
                        if read.is_some() { "read" } else { "ends with" },
                        b.lo(),
                        b.hi()
                    ),
                );
            }
        };
        for r in ops
            .iter()
            .filter(|o| o.key == key && o.f == "read" && o.ok())
        {
            for (m, s) in pairs(&r.result) {
                check(&m, &s, Some(r), r.region, res);
            }
        }
        for (region, d) in inp.finals {
            let got = d.get(key).map(|k| pairs(&k.value)).unwrap_or_default();
            let present: BTreeSet<String> = got.iter().map(|(m, _)| m.clone()).collect();
            for (m, s) in &got {
                check(m, s, None, *region, res);
            }
            for (m, (b, _)) in &members {
                if m.starts_with('p') && !present.contains(m) && !b.contains(0) && b.definite != 0 {
                    res.anomaly(
                        C,
                        "lost",
                        format!(
                            "{key} member {m}: missing in region {region}, expected [{}, {}]",
                            b.lo(),
                            b.hi()
                        ),
                    );
                }
            }
        }
    }
}

/// Every checker for the workloads that ran.
pub fn check_all(inp: &Input<'_>, workloads: &[&str]) -> Results {
    let mut res = Results::default();
    for w in workloads {
        match *w {
            "counter" => counter(inp, &mut res),
            "set" => set_full(inp, &mut res),
            "register" => register(inp, &mut res),
            "hash" => hash(inp, &mut res),
            "zset" => zset(inp, &mut res),
            "expiry" => expiry(inp, &mut res),
            _ => {}
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::KeyDump;
    use serde_json::json;

    #[allow(clippy::too_many_arguments)]
    fn op(
        i: usize,
        region: u8,
        w: &'static str,
        f: &'static str,
        key: &str,
        value: Json,
        t: f64,
        outcome: Outcome,
        result: Json,
    ) -> Op {
        Op {
            index: i,
            process: 1,
            region,
            workload: w,
            f,
            key: key.into(),
            value,
            invoke_ms: t,
            complete_ms: t + 1.0,
            outcome,
            result,
        }
    }

    fn finals(key: &str, kind: &str, v: Json) -> BTreeMap<u8, Dump> {
        let mut m = BTreeMap::new();
        for r in [1u8, 2] {
            let mut d = Dump::new();
            d.insert(
                key.into(),
                KeyDump {
                    kind: kind.into(),
                    value: v.clone(),
                    expire_at_ms: -1,
                },
            );
            m.insert(r, d);
        }
        m
    }

    #[test]
    fn set_full_finds_a_lost_element_and_excuses_crash_losses() {
        let ops = vec![
            op(
                0,
                1,
                "set",
                "sadd",
                "s",
                json!(1),
                0.0,
                Outcome::Ok,
                json!(1),
            ),
            op(
                1,
                1,
                "set",
                "sadd",
                "s",
                json!(2),
                2.0,
                Outcome::Ok,
                json!(1),
            ),
            op(
                2,
                2,
                "set",
                "read",
                "s",
                Json::Null,
                10.0,
                Outcome::Ok,
                json!(["1"]),
            ),
        ];
        let f = finals("s", "set", json!(["1"]));
        let inp = Input {
            ops: &ops,
            finals: &f,
            kills: &[],
            lag: &[],
            durable_acks: false,
        };
        let r = check_all(&inp, &["set"]);
        assert_eq!(r.anomalies.len(), 2, "{:?}", r.anomalies); // lost in both regions
        assert!(r.anomalies.iter().all(|a| a.kind == "lost"));
        let kills = [(1u8, 50.0)];
        let inp = Input {
            ops: &ops,
            finals: &f,
            kills: &kills,
            lag: &[],
            durable_acks: false,
        };
        assert!(check_all(&inp, &["set"]).anomalies.is_empty());
        let inp = Input {
            ops: &ops,
            finals: &f,
            kills: &kills,
            lag: &[],
            durable_acks: true,
        };
        assert_eq!(check_all(&inp, &["set"]).anomalies.len(), 2);
    }

    #[test]
    fn a_remove_acknowledged_just_before_a_kill_may_be_lost() {
        let ops = vec![
            op(
                0,
                1,
                "set",
                "sadd",
                "s",
                json!(1),
                0.0,
                Outcome::Ok,
                json!(1),
            ),
            op(
                1,
                1,
                "set",
                "srem",
                "s",
                json!(1),
                10.0,
                Outcome::Ok,
                json!(1),
            ),
        ];
        let f = finals("s", "set", json!(["1"]));
        let inp = Input {
            ops: &ops,
            finals: &f,
            kills: &[],
            lag: &[],
            durable_acks: false,
        };
        assert_eq!(
            check_all(&inp, &["set"]).anomalies.len(),
            2,
            "resurrected in both regions"
        );
        let kills = [(1u8, 12.0)];
        let inp = Input {
            ops: &ops,
            finals: &f,
            kills: &kills,
            lag: &[],
            durable_acks: false,
        };
        assert!(check_all(&inp, &["set"]).anomalies.is_empty());
    }

    #[test]
    fn counter_bounds() {
        let ops = vec![
            op(
                0,
                1,
                "counter",
                "incrby",
                "c",
                json!(5),
                0.0,
                Outcome::Ok,
                json!(5),
            ),
            op(
                1,
                2,
                "counter",
                "incrby",
                "c",
                json!(-2),
                0.0,
                Outcome::Info,
                Json::Null,
            ),
            op(
                2,
                2,
                "counter",
                "incrby",
                "c",
                json!(7),
                0.0,
                Outcome::Fail,
                Json::Null,
            ),
        ];
        for (v, ok) in [(5, true), (3, true), (2, false), (6, false), (12, false)] {
            let f = finals("c", "string", json!(v.to_string()));
            let inp = Input {
                ops: &ops,
                finals: &f,
                kills: &[],
                lag: &[],
                durable_acks: false,
            };
            assert_eq!(
                check_all(&inp, &["counter"]).anomalies.is_empty(),
                ok,
                "{v}"
            );
        }
    }

    #[test]
    fn register_phantom_and_lww_order() {
        let ops = vec![
            op(
                0,
                1,
                "register",
                "write",
                "r",
                json!("a"),
                0.0,
                Outcome::Ok,
                json!("OK"),
            ),
            op(
                1,
                1,
                "register",
                "write",
                "r",
                json!("b"),
                5.0,
                Outcome::Ok,
                json!("OK"),
            ),
            op(
                2,
                2,
                "register",
                "read",
                "r",
                Json::Null,
                9.0,
                Outcome::Ok,
                json!("zz"),
            ),
        ];
        let f = finals("r", "string", json!("a"));
        let inp = Input {
            ops: &ops,
            finals: &f,
            kills: &[],
            lag: &[],
            durable_acks: false,
        };
        let r = check_all(&inp, &["register"]);
        let kinds: BTreeSet<String> = r.anomalies.iter().map(|a| a.kind.clone()).collect();
        assert_eq!(
            kinds,
            ["lww-order".to_string(), "phantom-read".to_string()].into()
        );
    }
}
