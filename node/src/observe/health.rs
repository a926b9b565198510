//! `/health`: whether this region should receive client traffic.

use std::fmt;

use crate::server::ServerState;

/// The answer of `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Serving reads and writes.
    Ok,
    /// Recovering from disk or still binding its listeners.
    Loading,
    /// Shutting down.
    ShuttingDown,
    /// Refusing writes (READONLY) while it catches up with its peers after losing its data.
    Recovering,
    /// Refusing writes (MISCONF) after a persistence failure.
    PersistenceFailed,
}

impl Health {
    /// HTTP status: 200 when serving, 503 otherwise.
    pub fn status(self) -> u16 {
        match self {
            Health::Ok => 200,
            _ => 503,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Ok => "ok",
            Health::Loading => "loading",
            Health::ShuttingDown => "shutting down",
            Health::Recovering => "recovering: catching up with peer regions, writes refused",
            Health::PersistenceFailed => "persistence failed: writes refused",
        })
    }
}

/// The server's health now.
pub fn check(state: &ServerState) -> Health {
    if state.is_shutting_down() {
        Health::ShuttingDown
    } else if !state.observe.is_serving() {
        Health::Loading
    } else if state.repl.get().is_some_and(|r| !r.writable()) {
        Health::Recovering
    } else if state.persist.get().is_some_and(|p| p.failure().is_some()) {
        Health::PersistenceFailed
    } else {
        Health::Ok
    }
}
