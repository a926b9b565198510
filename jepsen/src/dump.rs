//! Full dumps of the harness' keyspace (`jepsen:*`) through the public protocol:
//! SCAN + TYPE + a typed read per key (+ PEXPIRETIME), for convergence and final checks.

use std::collections::BTreeMap;

use anyhow::bail;
use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::cluster::admin_conn;
use crate::workload::PREFIX;

/// SCAN iterations at most per dump.
const SCAN_ROUNDS_MAX: usize = 100_000;

/// One key's type, value and absolute expiry (-1 = none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyDump {
    /// TYPE.
    pub kind: String,
    /// string: the value; set: sorted members; hash: field → value; zset: member → score;
    /// list: the elements in order; stream: `[id, [field, value, ...]]` in ID order.
    pub value: Json,
    /// PEXPIRETIME (-1 none).
    pub expire_at_ms: i64,
}

/// A region's keyspace (db 0, keys under [`PREFIX`]).
pub type Dump = BTreeMap<String, KeyDump>;

/// Dumps the region listening on `port`.
pub fn dump(port: u16) -> anyhow::Result<Dump> {
    let mut con = admin_conn(port)?;
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    for _ in 0..SCAN_ROUNDS_MAX {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{PREFIX}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    if cursor != 0 {
        bail!("SCAN did not finish in {SCAN_ROUNDS_MAX} rounds");
    }
    keys.sort();
    keys.dedup();
    let mut out = Dump::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE").arg(&k).query(&mut con)?;
        let value = match kind.as_str() {
            "none" => continue, // expired or deleted since the SCAN
            "string" => {
                let v: Option<String> = redis::cmd("GET").arg(&k).query(&mut con)?;
                match v {
                    Some(v) => Json::String(v),
                    None => continue,
                }
            }
            "set" => {
                let mut v: Vec<String> = redis::cmd("SMEMBERS").arg(&k).query(&mut con)?;
                v.sort();
                json!(v)
            }
            "hash" => {
                let v: BTreeMap<String, String> = redis::cmd("HGETALL").arg(&k).query(&mut con)?;
                json!(v)
            }
            "zset" => {
                let v: Vec<(String, f64)> = redis::cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query(&mut con)?;
                let m: BTreeMap<String, f64> = v.into_iter().collect();
                json!(m)
            }
            "list" => {
                let v: Vec<String> = redis::cmd("LRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .query(&mut con)?;
                json!(v)
            }
            "stream" => {
                // [[id, [field, value, ...]], ...] in ID order (consumer groups are per
                // region and not part of the replicated state).
                let v: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
                    .arg(&k)
                    .arg("-")
                    .arg("+")
                    .query(&mut con)?;
                json!(v)
            }
            other => Json::String(format!("<unchecked type {other}>")),
        };
        let expire_at_ms: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(&mut con)?;
        if expire_at_ms == -2 {
            continue;
        }
        out.insert(
            k,
            KeyDump {
                kind,
                value,
                expire_at_ms,
            },
        );
    }
    Ok(out)
}

/// Keys on which two dumps differ (at most `max`), with both sides.
pub fn diff(a: &Dump, b: &Dump, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if out.len() >= max {
            break;
        }
        let (x, y) = (a.get(k), b.get(k));
        if x == y {
            continue;
        }
        let line = match (x, y) {
            (Some(x), Some(y)) if x.kind == y.kind && x.value.is_array() && y.value.is_array() => {
                let (xa, ya) = (
                    x.value.as_array().expect("array"),
                    y.value.as_array().expect("array"),
                );
                let only = |p: &Vec<Json>, q: &Vec<Json>| {
                    p.iter()
                        .filter(|e| !q.contains(e))
                        .take(10)
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!(
                    "{k}: {} only in the first [{}], only in the second [{}]{}",
                    x.kind,
                    only(xa, ya),
                    only(ya, xa),
                    if x.expire_at_ms != y.expire_at_ms {
                        format!(", expiry {} vs {}", x.expire_at_ms, y.expire_at_ms)
                    } else {
                        String::new()
                    }
                )
            }
            _ => {
                let show = |d: Option<&KeyDump>| {
                    let s = d
                        .map(|d| format!("{} {} exp {}", d.kind, d.value, d.expire_at_ms))
                        .unwrap_or_else(|| "absent".into());
                    if s.len() > 300 {
                        format!(
                            "{}…",
                            &s[..s.char_indices().nth(300).map(|c| c.0).unwrap_or(s.len())]
                        )
                    } else {
                        s
                    }
                };
                format!("{k}: {} vs {}", show(x), show(y))
            }
        };
        out.push(line);
    }
    out
}
