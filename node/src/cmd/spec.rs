//! Static description of a command: name, arity, flags, key positions, docs.

use bytes::Bytes;

use super::{CmdResult, Ctx};

/// A command handler. `args[0]` is the command name (and `args[1]` the
/// subcommand name for subcommands), as in Redis' `argv`.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// Command flags, as COMMAND INFO reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// May modify the keyspace.
    Write,
    /// Reads only.
    Readonly,
    /// May grow memory use (refused under OOM).
    Denyoom,
    /// Administrative.
    Admin,
    /// Pub/sub related.
    Pubsub,
    /// Not allowed from scripts.
    Noscript,
    /// May block the client.
    Blocking,
    /// Allowed while loading data.
    Loading,
    /// Allowed on a stale replica.
    Stale,
    /// Not shown by MONITOR.
    SkipMonitor,
    /// Not logged in the slow log.
    SkipSlowlog,
    /// O(1) or O(log N).
    Fast,
    /// Allowed before authentication.
    NoAuth,
    /// May replicate even though not a write.
    MayReplicate,
    /// Not allowed inside MULTI.
    NoMulti,
    /// Allowed while a script is busy.
    AllowBusy,
    /// Key positions depend on arguments.
    MovableKeys,
}

impl Flag {
    /// Redis' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Write => "write",
            Flag::Readonly => "readonly",
            Flag::Denyoom => "denyoom",
            Flag::Admin => "admin",
            Flag::Pubsub => "pubsub",
            Flag::Noscript => "noscript",
            Flag::Blocking => "blocking",
            Flag::Loading => "loading",
            Flag::Stale => "stale",
            Flag::SkipMonitor => "skip_monitor",
            Flag::SkipSlowlog => "skip_slowlog",
            Flag::Fast => "fast",
            Flag::NoAuth => "no_auth",
            Flag::MayReplicate => "may_replicate",
            Flag::NoMulti => "no_multi",
            Flag::AllowBusy => "allow_busy",
            Flag::MovableKeys => "movablekeys",
        }
    }
}

/// Command group (COMMAND DOCS `group`, and an implied ACL category).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Connection management.
    Connection,
    /// Server management.
    Server,
    /// Generic key commands.
    Generic,
    /// Strings.
    String,
    /// Hashes.
    Hash,
    /// Sets.
    Set,
    /// Sorted sets.
    SortedSet,
    /// Lists.
    List,
    /// HyperLogLog.
    Hyperloglog,
    /// Geo.
    Geo,
    /// Pub/sub.
    Pubsub,
    /// Transactions.
    Transactions,
    /// Streams.
    Stream,
    /// Scripting.
    Scripting,
}

impl Group {
    /// Redis' spelling in COMMAND DOCS.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Generic => "generic",
            Group::String => "string",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::List => "list",
            Group::Hyperloglog => "hyperloglog",
            Group::Geo => "geo",
            Group::Pubsub => "pubsub",
            Group::Transactions => "transactions",
            Group::Stream => "stream",
            Group::Scripting => "scripting",
        }
    }

    /// The ACL category the group implies.
    pub fn acl_category(self) -> Option<&'static str> {
        match self {
            Group::Connection => Some("connection"),
            Group::Generic => Some("keyspace"),
            Group::String => Some("string"),
            Group::Hash => Some("hash"),
            Group::Set => Some("set"),
            Group::SortedSet => Some("sortedset"),
            Group::List => Some("list"),
            Group::Hyperloglog => Some("hyperloglog"),
            Group::Geo => Some("geo"),
            Group::Pubsub => Some("pubsub"),
            Group::Transactions => Some("transaction"),
            Group::Stream => Some("stream"),
            Group::Scripting => Some("scripting"),
            Group::Server => None,
        }
    }
}

/// Static description of a command (or subcommand).
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Lower-case name (`get`; `id` for `client|id`).
    pub name: &'static str,
    /// Redis arity: `n` exactly n args (name included), `-n` at least n.
    pub arity: i32,
    /// Flags.
    pub flags: &'static [Flag],
    /// Extra ACL categories (without `@`), beyond those implied by the flags
    /// and the group.
    pub acl: &'static [&'static str],
    /// First key position (0 = no keys).
    pub first_key: i32,
    /// Last key position (negative: from the end).
    pub last_key: i32,
    /// Step between keys.
    pub key_step: i32,
    /// Docs: group.
    pub group: Group,
    /// Docs: Redis version that introduced the command.
    pub since: &'static str,
    /// Docs: one-line summary.
    pub summary: &'static str,
    /// Docs: time complexity.
    pub complexity: &'static str,
    /// The handler; `None` for container commands (CLIENT, CONFIG, ...).
    pub handler: Option<Handler>,
    /// Subcommands (CLIENT ID, ...).
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A command with a handler and no flags, keys or docs.
    pub const fn new(name: &'static str, arity: i32, handler: Handler) -> Self {
        CommandSpec {
            name,
            arity,
            flags: &[],
            acl: &[],
            first_key: 0,
            last_key: 0,
            key_step: 0,
            group: Group::Server,
            since: "1.0.0",
            summary: "",
            complexity: "O(1)",
            handler: Some(handler),
            subcommands: &[],
        }
    }

    /// A container command dispatching on its first argument.
    pub const fn container(name: &'static str, subcommands: &'static [CommandSpec]) -> Self {
        CommandSpec {
            name,
            arity: -2,
            flags: &[],
            acl: &[],
            first_key: 0,
            last_key: 0,
            key_step: 0,
            group: Group::Server,
            since: "1.0.0",
            summary: "",
            complexity: "Depends on subcommand.",
            handler: None,
            subcommands,
        }
    }

    /// Gives a command with its own handler subcommands too (COMMAND).
    pub const fn with_subcommands(self, subcommands: &'static [CommandSpec]) -> Self {
        CommandSpec {
            subcommands,
            ..self
        }
    }

    /// Sets the flags.
    pub const fn flags(self, flags: &'static [Flag]) -> Self {
        CommandSpec { flags, ..self }
    }

    /// Sets extra ACL categories.
    pub const fn acl(self, acl: &'static [&'static str]) -> Self {
        CommandSpec { acl, ..self }
    }

    /// Sets key positions (first, last, step).
    pub const fn keys(self, first_key: i32, last_key: i32, key_step: i32) -> Self {
        CommandSpec {
            first_key,
            last_key,
            key_step,
            ..self
        }
    }

    /// Sets the group.
    pub const fn group(self, group: Group) -> Self {
        CommandSpec { group, ..self }
    }

    /// Sets the version that introduced it.
    pub const fn since(self, since: &'static str) -> Self {
        CommandSpec { since, ..self }
    }

    /// Sets the summary.
    pub const fn summary(self, summary: &'static str) -> Self {
        CommandSpec { summary, ..self }
    }

    /// Sets the complexity text.
    pub const fn complexity(self, complexity: &'static str) -> Self {
        CommandSpec { complexity, ..self }
    }

    /// True if the spec has `flag`.
    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }

    /// All ACL categories (without `@`), as Redis derives them: explicit
    /// ones, the group's, and those implied by flags.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut cats: Vec<&'static str> = Vec::new();
        let mut add = |c: &'static str| {
            if !cats.contains(&c) {
                cats.push(c);
            }
        };
        if self.has_flag(Flag::Write) {
            add("write");
        }
        if self.has_flag(Flag::Readonly) && self.group.acl_category() != Some("connection") {
            add("read");
        }
        if self.has_flag(Flag::Admin) {
            add("admin");
            add("dangerous");
        }
        if self.has_flag(Flag::Pubsub) {
            add("pubsub");
        }
        if self.has_flag(Flag::Fast) {
            add("fast");
        }
        if self.has_flag(Flag::Blocking) {
            add("blocking");
        }
        if !self.has_flag(Flag::Fast) {
            add("slow");
        }
        if let Some(c) = self.group.acl_category() {
            add(c);
        }
        for c in self.acl {
            add(c);
        }
        cats
    }
}
