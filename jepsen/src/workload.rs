//! Workloads: real RESP clients (redis-rs, one connection per client thread) against
//! every region concurrently. Each client's operation sequence comes from its own RNG
//! seeded by (run seed, workload, region, client), so a run's workload replays from its
//! seed (the interleaving with faults is up to the OS, as in any Jepsen run).
//!
//! Every request is bounded by the client's read/write timeout; a timeout or a lost
//! connection records `info` (indeterminate) and reconnects; an error reply records
//! `fail` (definitely not applied).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value as Json};

use crate::history::{History, Op, Outcome};

/// Key prefix of everything the harness writes.
pub const PREFIX: &str = "jepsen:";
/// set workload: ops of one client per pair of set keys.
pub const SET_KEY_OPS: u64 = 500;
/// list and stream workloads: ops of one client per key generation (keeps reads short).
pub const QUEUE_KEY_OPS: u64 = 400;
/// stream workload: the consumer group every region reads with.
pub const STREAM_GROUP: &str = "g";
/// Operations one client performs at most (a bound on top of the run's time).
pub const OPS_PER_CLIENT_MAX: u64 = 1_000_000;

/// A workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// INCRBY ± on a few counters, GET.
    Counter,
    /// SADD unique elements, SREM some of them, SMEMBERS (set-full).
    Set,
    /// SET unique values, GET.
    Register,
    /// HSET / HDEL register fields, HINCRBY counter fields, HGETALL.
    Hash,
    /// ZINCRBY leaderboard, ZREM on some members, ZRANGE WITHSCORES.
    Zset,
    /// SET EX / SET / EXPIRE / PERSIST, GET.
    Expiry,
    /// Job queue: RPUSH/LPUSH unique elements, LPOP/RPOP/LMOVE, LRANGE, LLEN.
    List,
    /// XADD `*`, XRANGE, XDEL of own entries, XLEN, per-region consumer groups.
    Stream,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 8] = [
        Workload::Counter,
        Workload::Set,
        Workload::Register,
        Workload::Hash,
        Workload::Zset,
        Workload::Expiry,
        Workload::List,
        Workload::Stream,
    ];

    /// Its name (also the key prefix `jepsen:<name>:`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Counter => "counter",
            Workload::Set => "set",
            Workload::Register => "register",
            Workload::Hash => "hash",
            Workload::Zset => "zset",
            Workload::Expiry => "expiry",
            Workload::List => "list",
            Workload::Stream => "stream",
        }
    }

    /// Parses a comma-separated list; `all` is every workload.
    pub fn parse_list(s: &str) -> anyhow::Result<Vec<Workload>> {
        let mut out = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if w == "all" {
                out.extend(Workload::ALL);
                continue;
            }
            let found = Workload::ALL
                .into_iter()
                .find(|x| x.name() == w)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown workload '{w}' (counter, set, register, hash, zset, expiry, list, stream, all)"
                    )
                })?;
            out.push(found);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            anyhow::bail!("no workload given");
        }
        Ok(out)
    }

    fn key(self, i: usize) -> String {
        format!("{PREFIX}{}:{i}", self.name())
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Pause between a client's operations.
    pub op_interval: Duration,
    /// Read/write/connect timeout of every request.
    pub timeout: Duration,
    /// Fraction of set additions followed by `WAIT 1` (durability evidence).
    pub wait_fraction: f64,
    /// Client threads per (workload, region).
    pub clients_per_region: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            op_interval: Duration::from_millis(20),
            timeout: Duration::from_millis(1000),
            wait_fraction: 0.1,
            clients_per_region: 1,
        }
    }
}

/// A client: one connection to its current region (it fails over along `regions`
/// when the current one cannot be reached, if more than one is given).
pub struct Client {
    /// Process id in the history.
    pub process: usize,
    /// (region id, port) in preference order.
    pub regions: Vec<(u8, u16)>,
    current: usize,
    con: Option<redis::Connection>,
    timeout: Duration,
    history: Arc<History>,
    workload: &'static str,
}

fn to_json(v: &redis::Value) -> Json {
    use redis::Value as V;
    match v {
        V::Nil => Json::Null,
        V::Int(i) => json!(i),
        V::BulkString(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        V::SimpleString(s) => Json::String(s.clone()),
        V::Okay => Json::String("OK".into()),
        V::Array(a) | V::Set(a) => Json::Array(a.iter().map(to_json).collect()),
        V::Map(m) => Json::Array(
            m.iter()
                .flat_map(|(k, v)| [to_json(k), to_json(v)])
                .collect(),
        ),
        V::Double(d) => json!(d),
        V::Boolean(b) => json!(b),
        other => Json::String(format!("{other:?}")),
    }
}

impl Client {
    /// A client for `workload` talking to `regions` (first = preferred).
    pub fn new(
        process: usize,
        regions: Vec<(u8, u16)>,
        timeout: Duration,
        history: Arc<History>,
        workload: &'static str,
    ) -> Client {
        Client {
            process,
            regions,
            current: 0,
            con: None,
            timeout,
            history,
            workload,
        }
    }

    /// The region the next request goes to.
    pub fn region(&self) -> u8 {
        self.regions[self.current].0
    }

    fn connect(&mut self) -> Result<(), String> {
        if self.con.is_some() {
            return Ok(());
        }
        let port = self.regions[self.current].1;
        let res = (|| -> redis::RedisResult<redis::Connection> {
            let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
            let con = c.get_connection_with_timeout(self.timeout)?;
            con.set_read_timeout(Some(self.timeout))?;
            con.set_write_timeout(Some(self.timeout))?;
            Ok(con)
        })();
        match res {
            Ok(c) => {
                self.con = Some(c);
                Ok(())
            }
            Err(e) => {
                // fail over to the next region for the next request
                self.current = (self.current + 1) % self.regions.len();
                Err(format!("connect: {e}"))
            }
        }
    }

    /// Runs one request and records it. `extra_timeout` lengthens the socket timeout
    /// (WAIT blocks server-side).
    pub fn call(
        &mut self,
        f: &'static str,
        key: &str,
        value: Json,
        cmd: &redis::Cmd,
        extra_timeout: Duration,
    ) -> Op {
        let region = self.region();
        let invoke_ms = self.history.now_ms();
        self.history
            .invoke(self.process, region, self.workload, f, key, &value);
        let (outcome, result) = match self.connect() {
            Err(e) => (Outcome::Fail, Json::String(e)),
            Ok(()) => {
                let con = self.con.as_mut().expect("connected");
                if !extra_timeout.is_zero() {
                    let _ = con.set_read_timeout(Some(self.timeout + extra_timeout));
                }
                let r = cmd.query::<redis::Value>(con);
                if !extra_timeout.is_zero() {
                    let _ = con.set_read_timeout(Some(self.timeout));
                }
                match r {
                    Ok(redis::Value::ServerError(e)) => {
                        (Outcome::Fail, Json::String(format!("{e:?}")))
                    }
                    Ok(v) => (Outcome::Ok, to_json(&v)),
                    Err(e) if e.code().is_some() && !e.is_io_error() && !e.is_timeout() => {
                        (Outcome::Fail, Json::String(e.to_string()))
                    }
                    Err(e) => {
                        self.con = None;
                        (Outcome::Info, Json::String(e.to_string()))
                    }
                }
            }
        };
        let op = Op {
            index: 0,
            process: self.process,
            region,
            workload: self.workload,
            f,
            key: key.to_string(),
            value,
            invoke_ms,
            complete_ms: self.history.now_ms(),
            outcome,
            result,
        };
        self.history.complete(op.clone());
        op
    }
}

/// Per-client generator state.
struct Gen {
    w: Workload,
    rng: StdRng,
    seq: u64,
    /// Ops generated so far.
    ops: u64,
    process: usize,
    /// set: elements this client added (ok or info) and not yet removed.
    added: Vec<(usize, u64)>,
    wait_fraction: f64,
    /// stream: IDs of this client's acknowledged XADDs on the current key (XDEL picks
    /// from them).
    stream_ids: Vec<String>,
    /// stream: IDs delivered to this client by XREADGROUP and not yet XACKed.
    stream_pending: Vec<String>,
    /// stream: the key generation whose group this client created (None: create first).
    group_gen: Option<u64>,
}

fn cmd(name: &str) -> redis::Cmd {
    redis::cmd(name)
}

impl Gen {
    fn unique(&mut self) -> String {
        self.seq += 1;
        format!("p{}-{}", self.process, self.seq)
    }

    fn step(&mut self, c: &mut Client) {
        self.ops += 1;
        let r: f64 = self.rng.gen();
        match self.w {
            Workload::Counter => {
                let k = self.w.key(self.rng.gen_range(0..3));
                if r < 0.8 {
                    let mut d: i64 = self.rng.gen_range(-5..=10);
                    if d == 0 {
                        d = 1;
                    }
                    c.call(
                        "incrby",
                        &k,
                        json!(d),
                        cmd("INCRBY").arg(&k).arg(d),
                        Duration::ZERO,
                    );
                } else {
                    c.call("read", &k, Json::Null, cmd("GET").arg(&k), Duration::ZERO);
                }
            }
            Workload::Set => {
                // A fresh pair of keys every SET_KEY_OPS ops of this client (clients run
                // at about the same rate, so regions share keys), keeping SMEMBERS small.
                let ki = (self.ops / SET_KEY_OPS) as usize * 2 + self.rng.gen_range(0..2);
                let k = self.w.key(ki);
                if r < 0.6 {
                    self.seq += 1;
                    let e = self.process as u64 * 10_000_000 + self.seq;
                    let op = c.call(
                        "sadd",
                        &k,
                        json!(e),
                        cmd("SADD").arg(&k).arg(e),
                        Duration::ZERO,
                    );
                    if op.maybe() {
                        self.added.push((ki, e));
                    }
                    if op.ok() && self.rng.gen_bool(self.wait_fraction.clamp(0.0, 1.0)) {
                        c.call(
                            "wait",
                            &k,
                            json!([e]),
                            cmd("WAIT").arg(1).arg(500),
                            Duration::from_millis(500),
                        );
                    }
                } else if r < 0.75 && !self.added.is_empty() {
                    let i = self.rng.gen_range(0..self.added.len());
                    let (ki, e) = self.added.swap_remove(i);
                    let k = self.w.key(ki);
                    c.call(
                        "srem",
                        &k,
                        json!(e),
                        cmd("SREM").arg(&k).arg(e),
                        Duration::ZERO,
                    );
                } else {
                    c.call(
                        "read",
                        &k,
                        Json::Null,
                        cmd("SMEMBERS").arg(&k),
                        Duration::ZERO,
                    );
                }
            }
            Workload::Register => {
                let k = self.w.key(self.rng.gen_range(0..3));
                if r < 0.5 {
                    let v = self.unique();
                    c.call(
                        "write",
                        &k,
                        json!(v),
                        cmd("SET").arg(&k).arg(&v),
                        Duration::ZERO,
                    );
                } else {
                    c.call("read", &k, Json::Null, cmd("GET").arg(&k), Duration::ZERO);
                }
            }
            Workload::Hash => {
                let k = self.w.key(self.rng.gen_range(0..2));
                if r < 0.35 {
                    let f = format!("f{}", self.rng.gen_range(0..4));
                    let v = self.unique();
                    c.call(
                        "hset",
                        &k,
                        json!([f, v]),
                        cmd("HSET").arg(&k).arg(&f).arg(&v),
                        Duration::ZERO,
                    );
                } else if r < 0.6 {
                    let f = format!("n{}", self.rng.gen_range(0..3));
                    let mut d: i64 = self.rng.gen_range(-5..=10);
                    if d == 0 {
                        d = 1;
                    }
                    c.call(
                        "hincrby",
                        &k,
                        json!([f, d]),
                        cmd("HINCRBY").arg(&k).arg(&f).arg(d),
                        Duration::ZERO,
                    );
                } else if r < 0.7 {
                    let f = format!("f{}", self.rng.gen_range(0..4));
                    c.call(
                        "hdel",
                        &k,
                        json!([f]),
                        cmd("HDEL").arg(&k).arg(&f),
                        Duration::ZERO,
                    );
                } else {
                    c.call(
                        "read",
                        &k,
                        Json::Null,
                        cmd("HGETALL").arg(&k),
                        Duration::ZERO,
                    );
                }
            }
            Workload::Zset => {
                let k = self.w.key(0);
                if r < 0.5 {
                    let m = if self.rng.gen_bool(0.7) {
                        format!("p{}", self.rng.gen_range(0..5))
                    } else {
                        format!("r{}", self.rng.gen_range(0..3))
                    };
                    let mut d: i64 = self.rng.gen_range(-5..=10);
                    if d == 0 {
                        d = 1;
                    }
                    c.call(
                        "zincrby",
                        &k,
                        json!([m, d]),
                        cmd("ZINCRBY").arg(&k).arg(d).arg(&m),
                        Duration::ZERO,
                    );
                } else if r < 0.6 {
                    let m = format!("r{}", self.rng.gen_range(0..3));
                    c.call(
                        "zrem",
                        &k,
                        json!([m]),
                        cmd("ZREM").arg(&k).arg(&m),
                        Duration::ZERO,
                    );
                } else {
                    c.call(
                        "read",
                        &k,
                        Json::Null,
                        cmd("ZRANGE").arg(&k).arg(0).arg(-1).arg("WITHSCORES"),
                        Duration::ZERO,
                    );
                }
            }
            Workload::List => self.list_step(c, r),
            Workload::Stream => self.stream_step(c, r),
            Workload::Expiry => {
                let k = self.w.key(self.rng.gen_range(0..4));
                if r < 0.3 {
                    let v = self.unique();
                    let ex: u64 = self.rng.gen_range(1..=4);
                    c.call(
                        "setex",
                        &k,
                        json!([v, ex]),
                        cmd("SET").arg(&k).arg(&v).arg("EX").arg(ex),
                        Duration::ZERO,
                    );
                } else if r < 0.45 {
                    let v = self.unique();
                    c.call(
                        "write",
                        &k,
                        json!(v),
                        cmd("SET").arg(&k).arg(&v),
                        Duration::ZERO,
                    );
                } else if r < 0.6 {
                    let ex: u64 = self.rng.gen_range(1..=4);
                    c.call(
                        "expire",
                        &k,
                        json!(ex),
                        cmd("EXPIRE").arg(&k).arg(ex),
                        Duration::ZERO,
                    );
                } else if r < 0.7 {
                    c.call(
                        "persist",
                        &k,
                        Json::Null,
                        cmd("PERSIST").arg(&k),
                        Duration::ZERO,
                    );
                } else {
                    c.call("read", &k, Json::Null, cmd("GET").arg(&k), Duration::ZERO);
                }
            }
        }
    }
}

/// list workload: key `role` (`q0`, `q1`: RPUSH queues; `lq`: LPUSH queue; `dst`: LMOVE
/// destination) of key generation `gen`.
pub fn list_key(gen: u64, role: &str) -> String {
    format!("{PREFIX}list:{gen}:{role}")
}

/// stream workload: the stream of key generation `gen`.
pub fn stream_key(gen: u64) -> String {
    format!("{PREFIX}stream:{gen}")
}

impl Gen {
    /// Job queue: producers push unique `p<process>-<seq>` elements (RPUSH onto `q0`/`q1`,
    /// LPUSH onto `lq`, sometimes 2-3 at once); consumers pop (LPOP, LPOP with a count,
    /// RPOP, LMOVE to `dst`); readers LRANGE 0 -1 and LLEN. Pops slightly outpace pushes
    /// so the lists stay short.
    fn list_step(&mut self, c: &mut Client, r: f64) {
        let gen = self.ops / QUEUE_KEY_OPS;
        if r < 0.33 {
            let (f, name, k) = if self.rng.gen_bool(0.75) {
                let q = self.rng.gen_range(0..2);
                ("rpush", "RPUSH", list_key(gen, &format!("q{q}")))
            } else {
                ("lpush", "LPUSH", list_key(gen, "lq"))
            };
            let n = if self.rng.gen_bool(0.3) {
                self.rng.gen_range(2..=3)
            } else {
                1
            };
            let elems: Vec<String> = (0..n).map(|_| self.unique()).collect();
            let mut q = cmd(name);
            q.arg(&k);
            for e in &elems {
                q.arg(e);
            }
            c.call(f, &k, json!(elems), &q, Duration::ZERO);
        } else if r < 0.70 {
            let role = match self.rng.gen_range(0..10) {
                0..=3 => "q0",
                4..=6 => "q1",
                7..=8 => "lq",
                _ => "dst",
            };
            let k = list_key(gen, role);
            let p: f64 = self.rng.gen();
            if p < 0.5 {
                c.call("lpop", &k, Json::Null, cmd("LPOP").arg(&k), Duration::ZERO);
            } else if p < 0.7 {
                let n: u32 = self.rng.gen_range(2..=3);
                c.call(
                    "lpop",
                    &k,
                    json!(n),
                    cmd("LPOP").arg(&k).arg(n),
                    Duration::ZERO,
                );
            } else if p < 0.9 || role == "dst" {
                c.call("rpop", &k, Json::Null, cmd("RPOP").arg(&k), Duration::ZERO);
            } else {
                let dst = list_key(gen, "dst");
                c.call(
                    "lmove",
                    &k,
                    json!(dst),
                    cmd("LMOVE").arg(&k).arg(&dst).arg("LEFT").arg("RIGHT"),
                    Duration::ZERO,
                );
            }
        } else {
            let role = ["q0", "q1", "lq", "dst"][self.rng.gen_range(0..4)];
            let k = list_key(gen, role);
            if r < 0.92 {
                c.call(
                    "read",
                    &k,
                    Json::Null,
                    cmd("LRANGE").arg(&k).arg(0).arg(-1),
                    Duration::ZERO,
                );
            } else {
                c.call("llen", &k, Json::Null, cmd("LLEN").arg(&k), Duration::ZERO);
            }
        }
    }

    /// Streams: XADD `*` with fields `p <producer> s <seq>`, XDEL of own entries,
    /// `XRANGE key - +`, XLEN, and a consumer group per region (XGROUP CREATE ... 0
    /// MKSTREAM on the first use of a key, again after NOGROUP: groups are not
    /// persisted), `XREADGROUP ... COUNT n STREAMS key >`, XACK.
    fn stream_step(&mut self, c: &mut Client, r: f64) {
        let gen = self.ops / QUEUE_KEY_OPS;
        let k = stream_key(gen);
        if self.group_gen != Some(gen) {
            if self.group_gen.is_some_and(|g| g != gen) {
                self.stream_ids.clear();
                self.stream_pending.clear();
            }
            self.group_gen = Some(gen);
            c.call(
                "xgroup",
                &k,
                json!(STREAM_GROUP),
                cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&k)
                    .arg(STREAM_GROUP)
                    .arg(0)
                    .arg("MKSTREAM"),
                Duration::ZERO,
            );
            return;
        }
        if r < 0.40 {
            self.seq += 1;
            let fields = [
                "p".to_string(),
                format!("p{}", self.process),
                "s".to_string(),
                self.seq.to_string(),
            ];
            let mut q = cmd("XADD");
            q.arg(&k).arg("*");
            for f in &fields {
                q.arg(f);
            }
            let op = c.call("xadd", &k, json!(fields), &q, Duration::ZERO);
            if let (true, Json::String(id)) = (op.ok(), &op.result) {
                self.stream_ids.push(id.clone());
            }
        } else if r < 0.45 && !self.stream_ids.is_empty() {
            let i = self.rng.gen_range(0..self.stream_ids.len());
            let id = self.stream_ids.swap_remove(i);
            c.call(
                "xdel",
                &k,
                json!(id),
                cmd("XDEL").arg(&k).arg(&id),
                Duration::ZERO,
            );
        } else if r < 0.62 {
            c.call(
                "read",
                &k,
                Json::Null,
                cmd("XRANGE").arg(&k).arg("-").arg("+"),
                Duration::ZERO,
            );
        } else if r < 0.67 {
            c.call("xlen", &k, Json::Null, cmd("XLEN").arg(&k), Duration::ZERO);
        } else if r < 0.87 || self.stream_pending.is_empty() {
            let n: u32 = self.rng.gen_range(1..=5);
            let op = c.call(
                "xreadgroup",
                &k,
                json!(n),
                cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(STREAM_GROUP)
                    .arg(format!("c{}", self.process))
                    .arg("COUNT")
                    .arg(n)
                    .arg("STREAMS")
                    .arg(&k)
                    .arg(">"),
                Duration::ZERO,
            );
            if op.ok() {
                self.stream_pending
                    .extend(stream_entries(&op.result).into_iter().map(|e| e.0));
            } else if op.outcome == crate::history::Outcome::Fail
                && op.result.as_str().is_some_and(|e| e.contains("NOGROUP"))
            {
                // The region restarted (groups are not persisted): create it again.
                self.group_gen = None;
            }
        } else {
            let n = self.stream_pending.len().min(5);
            let ids: Vec<String> = self.stream_pending.drain(..n).collect();
            let mut q = cmd("XACK");
            q.arg(&k).arg(STREAM_GROUP);
            for id in &ids {
                q.arg(id);
            }
            c.call("xack", &k, json!(ids), &q, Duration::ZERO);
        }
    }
}

/// Entries `(id, fields)` of an XRANGE reply, or of an XREADGROUP reply (RESP2
/// `[[key, entries]]` or a flattened RESP3 map `[key, entries]`), as recorded in the
/// history.
pub fn stream_entries(v: &Json) -> Vec<(String, Vec<String>)> {
    fn entries(v: &Json) -> Vec<(String, Vec<String>)> {
        let Json::Array(a) = v else { return Vec::new() };
        a.iter()
            .filter_map(|e| {
                let Json::Array(e) = e else { return None };
                let id = e.first()?.as_str()?.to_string();
                let fields = match e.get(1) {
                    Some(Json::Array(f)) => f
                        .iter()
                        .map(|x| match x {
                            Json::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Some((id, fields))
            })
            .collect()
    }
    let Json::Array(a) = v else { return Vec::new() };
    match a.first() {
        // XREADGROUP, RESP3 map flattened: [key, entries, ...]
        Some(Json::String(_)) => a
            .chunks(2)
            .filter(|c| c.len() == 2)
            .flat_map(|c| entries(&c[1]))
            .collect(),
        // XREADGROUP, RESP2: [[key, [[id, fields], ...]], ...]
        Some(Json::Array(first)) if !looks_like_entry(first) => a
            .iter()
            .filter_map(|x| x.as_array().and_then(|x| x.get(1)))
            .flat_map(entries)
            .collect(),
        // XRANGE: [[id, [field, value, ...]], ...]
        _ => entries(v),
    }
}

/// Whether `[x, y]` is an XRANGE entry (`[id, [field, value, ...]]`) rather than an
/// XREADGROUP `[key, [[id, fields], ...]]` pair: an entry's second element holds strings
/// (and is not empty: every entry has a field).
fn looks_like_entry(pair: &[Json]) -> bool {
    pair.get(1)
        .and_then(Json::as_array)
        .is_some_and(|f| !f.is_empty() && f.iter().all(Json::is_string))
}

/// Drain rounds per (region, stream key) at most in [`stream_drain`].
pub const DRAIN_ROUNDS_MAX: usize = 1000;

/// After the heal: in every region, reads each stream's group to the end
/// (`XREADGROUP GROUP g drain COUNT 1000 STREAMS key >`, f = `drain`) and lists its
/// pending entries (`XPENDING key g - + 100000`, f = `pending`), recorded in the history
/// for the at-least-once check. Bounded: [`DRAIN_ROUNDS_MAX`] rounds per key, each
/// request bounded by `timeout`.
pub fn stream_drain(
    regions: &[(u8, u16)],
    keys: &[String],
    history: Arc<History>,
    timeout: Duration,
) {
    for (i, &(region, port)) in regions.iter().enumerate() {
        let mut c = Client::new(
            1_000_000 + i,
            vec![(region, port)],
            timeout,
            history.clone(),
            Workload::Stream.name(),
        );
        for k in keys {
            for _ in 0..DRAIN_ROUNDS_MAX {
                let op = c.call(
                    "drain",
                    k,
                    json!(1000),
                    cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg(STREAM_GROUP)
                        .arg("drain")
                        .arg("COUNT")
                        .arg(1000)
                        .arg("STREAMS")
                        .arg(k)
                        .arg(">"),
                    Duration::ZERO,
                );
                if !op.ok() || stream_entries(&op.result).is_empty() {
                    break;
                }
            }
            c.call(
                "pending",
                k,
                Json::Null,
                cmd("XPENDING")
                    .arg(k)
                    .arg(STREAM_GROUP)
                    .arg("-")
                    .arg("+")
                    .arg(100_000),
                Duration::ZERO,
            );
        }
    }
}

/// Starts the client threads: `clients_per_region` per (workload, region). They run
/// until `stop` is set (or [`OPS_PER_CLIENT_MAX`]).
pub fn spawn_clients(
    workloads: &[Workload],
    regions: &[(u8, u16)],
    cfg: &ClientConfig,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Vec<JoinHandle<u64>> {
    let mut handles = Vec::new();
    let mut process = 0usize;
    for &w in workloads {
        for &(region, port) in regions {
            for _ in 0..cfg.clients_per_region.max(1) {
                process += 1;
                let mut client = Client::new(
                    process,
                    vec![(region, port)],
                    cfg.timeout,
                    history.clone(),
                    w.name(),
                );
                let mut gen = Gen {
                    w,
                    rng: StdRng::seed_from_u64(
                        seed ^ (process as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    ),
                    seq: 0,
                    ops: 0,
                    process,
                    added: Vec::new(),
                    wait_fraction: cfg.wait_fraction,
                    stream_ids: Vec::new(),
                    stream_pending: Vec::new(),
                    group_gen: None,
                };
                let stop = stop.clone();
                let interval = cfg.op_interval;
                let h = std::thread::Builder::new()
                    .name(format!("client-{process}"))
                    .spawn(move || {
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) && n < OPS_PER_CLIENT_MAX {
                            let t = Instant::now();
                            gen.step(&mut client);
                            n += 1;
                            if let Some(rest) = interval.checked_sub(t.elapsed()) {
                                std::thread::sleep(rest);
                            }
                        }
                        n
                    })
                    .expect("spawn client thread");
                handles.push(h);
            }
        }
    }
    handles
}
