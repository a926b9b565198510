//! Lua scripting (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT): one sandboxed Lua 5.1
//! state per server (`mlua`, vendored), as Redis 7 runs it.
//!
//! # Atomicity and replication by effects
//!
//! A script runs like a MULTI/EXEC transaction (see `cmd/multi.rs`): EVAL locks the
//! store once (or joins the batch of the EXEC it runs in), opens a batch, runs the
//! script, and every `redis.call` runs against the held store. All the deltas the
//! script's commands produce form ONE op, applied atomically in every other region:
//! the script text is never replicated and never run again elsewhere, so TIME,
//! `math.random` and other non-deterministic values are replicated as the values the
//! script wrote (Redis 7's effects replication). A script that fails midway keeps the
//! writes it already did (Redis semantics); they replicate as one op too.
//!
//! # Bounds
//!
//! * Script body: at most [`cache::BODY_MAX_BYTES`].
//! * Script cache: at most [`cache::SCRIPTS_MAX`] scripts and
//!   [`cache::CACHE_MAX_BYTES`] of bodies; past either, the oldest cached scripts are
//!   evicted (EVALSHA of an evicted script answers `NOSCRIPT`; clients then send EVAL).
//!   SCRIPT FLUSH empties it and resets the Lua state.
//! * Lua memory: `lua-memory-limit` (allocation beyond it fails with a Lua memory error).
//! * Time: `script-time-limit` ms (0 = none): a count hook aborts a script that runs
//!   longer, with `-ERR Script killed by the time limit ...`; writes it already did
//!   are kept. SCRIPT KILL stops a running script that has not written (`UNKILLABLE`
//!   otherwise, as Redis).
//!
//! # Other clients while a script runs
//!
//! Other clients' commands wait (asynchronously, without blocking a runtime thread)
//! while a script runs; once it has run `busy-reply-threshold` ms (alias
//! `lua-time-limit`) they are answered `-BUSY` instead, except the commands Redis
//! allows then (SCRIPT KILL, ...). A script that runs longer than
//! [`HANDOFF_AFTER`] gives its runtime thread's other work to a new thread
//! (`tokio::task::block_in_place`), so that connections stay served.

pub mod busy;
pub mod cache;
pub mod call;
pub mod cjson;
pub mod convert;
pub mod engine;
pub mod run;
pub mod structlib;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

pub use engine::Engine;

/// A script that has run this long hands its runtime thread's other tasks over (and
/// tries again as often while it runs).
pub const HANDOFF_AFTER: Duration = Duration::from_millis(50);

/// The `-BUSY` reply.
pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// Why a running script was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Abort {
    /// Not stopped.
    None = 0,
    /// SCRIPT KILL.
    Killed = 1,
    /// `script-time-limit` reached.
    TimeLimit = 2,
}

/// The state of the running script, shared with the Lua hook and with other clients
/// (SCRIPT KILL, `-BUSY`) without any lock.
#[derive(Debug)]
pub struct RunState {
    epoch: Instant,
    /// Microseconds since `epoch` + 1 when the script started; 0 when none runs.
    started_us: AtomicU64,
    kill: AtomicBool,
    abort: AtomicU8,
    wrote: AtomicBool,
    /// Run time (µs) of the last hand-off attempt (see [`hand_off_thread`]).
    handoff_at_us: AtomicU64,
    /// `script-time-limit` of the running script, ms (0 = none).
    limit_ms: AtomicU64,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            epoch: Instant::now(),
            started_us: AtomicU64::new(0),
            kill: AtomicBool::new(false),
            abort: AtomicU8::new(0),
            wrote: AtomicBool::new(false),
            handoff_at_us: AtomicU64::new(0),
            limit_ms: AtomicU64::new(0),
        }
    }
}

impl RunState {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    /// Marks a script as started.
    pub fn start(&self, limit_ms: u64) {
        self.kill.store(false, Relaxed);
        self.abort.store(Abort::None as u8, Relaxed);
        self.wrote.store(false, Relaxed);
        self.handoff_at_us.store(0, Relaxed);
        self.limit_ms.store(limit_ms, Relaxed);
        self.started_us.store(self.now_us(), Relaxed);
    }

    /// Marks the script as finished.
    pub fn finish(&self) {
        self.started_us.store(0, Relaxed);
    }

    /// How long the running script has run, `None` when none runs.
    pub fn running_for(&self) -> Option<Duration> {
        match self.started_us.load(Relaxed) {
            0 => None,
            s => Some(Duration::from_micros(self.now_us().saturating_sub(s))),
        }
    }

    /// Whether a script runs.
    pub fn is_running(&self) -> bool {
        self.started_us.load(Relaxed) != 0
    }

    /// Notes that the running script wrote (SCRIPT KILL then refuses).
    pub fn note_write(&self) {
        self.wrote.store(true, Relaxed);
    }

    /// Whether the running script wrote.
    pub fn wrote(&self) -> bool {
        self.wrote.load(Relaxed)
    }

    /// Asks the running script to stop (SCRIPT KILL).
    pub fn request_kill(&self) {
        self.kill.store(true, Relaxed);
    }

    /// Why the running script was stopped.
    pub fn abort(&self) -> Abort {
        match self.abort.load(Relaxed) {
            1 => Abort::Killed,
            2 => Abort::TimeLimit,
            _ => Abort::None,
        }
    }

    /// Called by the Lua count hook: decides whether the script must stop now.
    pub fn check(&self) -> Abort {
        if self.abort() != Abort::None {
            return self.abort();
        }
        let Some(ran) = self.running_for() else {
            return Abort::None;
        };
        let limit = self.limit_ms.load(Relaxed);
        let why = if self.kill.load(Relaxed) {
            Abort::Killed
        } else if limit > 0 && ran >= Duration::from_millis(limit) {
            Abort::TimeLimit
        } else {
            let ran_us = ran.as_micros() as u64;
            let last = self.handoff_at_us.load(Relaxed);
            if ran >= HANDOFF_AFTER && ran_us >= last + HANDOFF_AFTER.as_micros() as u64 {
                self.handoff_at_us.store(ran_us, Relaxed);
                hand_off_thread();
            }
            return Abort::None;
        };
        self.abort.store(why as u8, Relaxed);
        why
    }
}

/// How long a hand-off attempt waits for a new thread to take over this thread's
/// runtime work (tokio takes it back when `block_in_place` returns before that).
const HANDOFF_WAIT: Duration = Duration::from_millis(2);

/// Lets the runtime give this thread's other tasks, and its share of the I/O polling,
/// to another thread while a long script keeps this one (only on a multi-threaded
/// tokio runtime; elsewhere there is nothing to hand off). An attempt can lose the
/// race (see [`HANDOFF_WAIT`]): it is repeated every [`HANDOFF_AFTER`]; once the work
/// has moved, an attempt only sleeps [`HANDOFF_WAIT`] (4% of a long script's time).
fn hand_off_thread() {
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| std::thread::sleep(HANDOFF_WAIT));
        }
    }
}

/// Everything the server keeps for scripting.
#[derive(Default)]
pub struct Scripts {
    /// The Lua state and the script cache, created on first use. Lock order: the store
    /// lock first, then this one.
    pub engine: parking_lot::Mutex<Option<Engine>>,
    /// The running script, if any.
    pub run: Arc<RunState>,
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts").field("run", &self.run).finish()
    }
}

/// Errors of the scripting engine's set-up.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The Lua state could not be created or prepared.
    #[error("Lua: {0}")]
    Lua(#[from] mlua::Error),
}

/// SHA1 of `data` as 40 lower-case hex characters (script ids, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = String::with_capacity(40);
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_empty_matches_redis() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn time_limit_and_kill() {
        let r = RunState::default();
        assert_eq!(r.check(), Abort::None);
        r.start(0);
        assert!(r.is_running());
        assert_eq!(r.check(), Abort::None);
        r.request_kill();
        assert_eq!(r.check(), Abort::Killed);
        r.finish();
        r.start(1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(r.check(), Abort::TimeLimit);
        assert_eq!(r.check(), Abort::TimeLimit, "stays aborted");
        r.finish();
        assert!(!r.is_running());
    }
}
