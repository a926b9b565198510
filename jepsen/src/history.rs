//! Histories: every client operation as an `invoke` line and a completion line
//! (`ok`, `fail` = definitely not applied, `info` = indeterminate), JSONL.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value as Json;

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Applied; the reply.
    Ok,
    /// Definitely not applied (an error reply such as READONLY).
    Fail,
    /// Unknown (timeout, connection lost).
    Info,
}

/// One completed operation.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    /// Index in the history.
    pub index: usize,
    /// Client (process) id.
    pub process: usize,
    /// Region the client talked to.
    pub region: u8,
    /// Workload name.
    pub workload: &'static str,
    /// Operation name (`sadd`, `read`, ...).
    pub f: &'static str,
    /// Key.
    pub key: String,
    /// Argument (element, delta, value...).
    pub value: Json,
    /// Invocation time, ms since the run started.
    pub invoke_ms: f64,
    /// Completion time, ms since the run started.
    pub complete_ms: f64,
    /// Outcome.
    pub outcome: Outcome,
    /// The reply (ok) or error text (fail/info).
    pub result: Json,
}

impl Op {
    /// Latency in ms.
    pub fn latency_ms(&self) -> f64 {
        self.complete_ms - self.invoke_ms
    }

    /// Whether the op completed with `ok`.
    pub fn ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }

    /// Whether it may have been applied (`ok` or `info`).
    pub fn maybe(&self) -> bool {
        self.outcome != Outcome::Fail
    }
}

/// The shared recorder: ops in memory plus an optional JSONL file.
pub struct History {
    start: Instant,
    ops: Mutex<Vec<Op>>,
    file: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
}

impl History {
    /// A recorder whose clock starts now; `path` receives the JSONL lines.
    pub fn new(path: Option<&Path>) -> anyhow::Result<History> {
        let file = match path {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => None,
        };
        Ok(History {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
            file: Mutex::new(file),
        })
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records the invocation line (before the request is sent).
    pub fn invoke(
        &self,
        process: usize,
        region: u8,
        workload: &str,
        f: &str,
        key: &str,
        value: &Json,
    ) {
        let line = serde_json::json!({
            "type": "invoke", "time_ms": self.now_ms(), "process": process, "region": region,
            "workload": workload, "f": f, "key": key, "value": value,
        });
        self.write(&line);
    }

    /// Records the completion and keeps the op.
    pub fn complete(&self, mut op: Op) {
        let mut ops = self.ops.lock().unwrap();
        op.index = ops.len();
        let line = serde_json::json!({
            "type": op.outcome, "time_ms": op.complete_ms, "process": op.process,
            "region": op.region, "workload": op.workload, "f": op.f, "key": op.key,
            "value": op.value, "result": op.result, "invoke_ms": op.invoke_ms,
        });
        ops.push(op);
        drop(ops);
        self.write(&line);
    }

    fn write(&self, line: &Json) {
        if let Some(f) = self.file.lock().unwrap().as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Flushes the file.
    pub fn flush(&self) {
        if let Some(f) = self.file.lock().unwrap().as_mut() {
            let _ = f.flush();
        }
    }

    /// Every completed op so far, in completion order.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }
}
