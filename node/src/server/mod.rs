//! The TCP server: listeners, one tokio task per client connection,
//! pipelining, limits, the client registry and server statistics.

mod client;
mod connection;
mod listener;
mod state;
mod stats;

pub use client::{ClientHandle, ClientRegistry, ClientState};
pub use listener::{bind, run, ServerError};
pub use state::ServerState;
pub use stats::Stats;
