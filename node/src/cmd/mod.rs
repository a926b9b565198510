//! The command table and the command handlers, one file per family.
//!
//! # Adding a command
//!
//! 1. In the family's file (e.g. a new `cmd/string.rs`), write the handler
//!    `fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult` and add a
//!    [`CommandSpec`] to that file's `COMMANDS` slice:
//!    `CommandSpec::new("get", 2, get).flags(&[Flag::Readonly, Flag::Fast]).keys(1, 1, 1).group(Group::String).summary("...")`.
//! 2. For a new family, add its `COMMANDS` to [`FAMILIES`] (one line).
//!
//! The table checks arity (`args[0]` is the command name, as in Redis), counts
//! calls for INFO commandstats and answers COMMAND INFO/DOCS/COUNT/LIST from
//! the specs.
//!
//! # Handlers
//!
//! A handler is synchronous and returns `Ok(reply)` or `Err(error_reply)`
//! (`Err` must hold a [`Reply::Error`]). It sees the shared
//! [`ServerState`] and its own [`ClientState`] through [`Ctx`], and may ask
//! the connection to close or the server to shut down via [`Ctx::action`].
//! Argument `Bytes` are slices of the connection's read buffer: copy them
//! (`Bytes::copy_from_slice`) before storing them in the keyspace, or they
//! pin that whole buffer.

pub mod args;
mod client;
mod command;
mod config;
mod connection;
mod hash;
mod info;
mod keys;
mod server;
mod set;
mod spec;
mod string;
mod table;
mod util;

pub use spec::{CommandSpec, Flag, Group, Handler};
pub use table::{CommandEntry, CommandTable};

use crate::{
    resp::Reply,
    server::{ClientState, ServerState},
};

/// What a handler returns: `Err` carries an error reply.
pub type CmdResult = Result<Reply, Reply>;

/// Every command family. Adding a family is one line here.
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    client::COMMANDS,
    config::COMMANDS,
    info::COMMANDS,
    server::COMMANDS,
    command::COMMANDS,
    keys::COMMANDS,
    string::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
];

/// What the connection must do after sending (or instead of sending) a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the reply, then close (QUIT).
    Close,
    /// Send nothing; shut the server down (SHUTDOWN).
    Shutdown,
}

/// Context of one command execution.
pub struct Ctx<'a> {
    /// Server-wide state.
    pub server: &'a ServerState,
    /// The calling client.
    pub client: &'a mut ClientState,
    /// Set by a handler to close the connection or stop the server.
    pub action: Option<Action>,
}

impl<'a> Ctx<'a> {
    /// Locks the region's store for the rest of the command.
    pub fn store(&self) -> parking_lot::MutexGuard<'a, crate::store::Store> {
        self.server.store.lock()
    }

    /// The client's selected database.
    pub fn db(&self) -> u8 {
        self.client.db() as u8
    }

    /// A context for one command.
    pub fn new(server: &'a ServerState, client: &'a mut ClientState) -> Self {
        Ctx {
            server,
            client,
            action: None,
        }
    }
}
