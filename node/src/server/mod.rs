//! The TCP server: listeners, one tokio task per client connection,
//! pipelining, limits, the client registry and server statistics.

mod client;
mod connection;
pub mod fdlimit;
mod listener;
pub mod protected;
mod pubsub;
mod state;
mod stats;
pub mod tls;

pub use client::{ClientHandle, ClientRegistry, ClientState, MultiState, WatchedKey};
pub use listener::{bind, run, ServerError};
pub use pubsub::{Forwarder, Mailbox, Message, PubSub, Space, Subscriptions};
pub use state::ServerState;
pub use stats::Stats;
