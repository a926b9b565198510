//! What other clients' commands do while a script runs: wait (asynchronously, not
//! holding a runtime thread) until it ends, and once it has run
//! `busy-reply-threshold` ms get `-BUSY` instead, except the commands flagged
//! `allow_busy` (SCRIPT KILL, ...), which go through at once.

use std::time::Duration;

use bytes::Bytes;

use crate::{cmd::Flag, resp::Reply, server::ServerState};

/// Poll interval while a script runs.
const POLL: Duration = Duration::from_millis(1);

/// `Some(-BUSY)` when the command must not run now; `None` once it may run (no
/// script running, or the command is allowed while one runs).
pub async fn gate(state: &ServerState, args: &[Bytes]) -> Option<Reply> {
    let run = &state.scripts.run;
    if !run.is_running() {
        return None;
    }
    let allowed = state
        .commands
        .lookup(args)
        .is_ok_and(|e| e.spec.has_flag(Flag::AllowBusy));
    if allowed {
        return None;
    }
    let threshold = Duration::from_millis(state.config().busy_reply_threshold_ms);
    // Bounded: the running script's age grows until it reaches the threshold.
    loop {
        match run.running_for() {
            None => return None,
            Some(ran) if ran >= threshold => return Some(Reply::error_code(super::BUSY)),
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}
