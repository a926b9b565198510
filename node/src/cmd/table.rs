//! The runtime command table: lookup (case-insensitive, with subcommands),
//! arity checks with Redis' exact errors, execution and per-command stats.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Instant,
};

use bytes::Bytes;

use super::{CmdResult, CommandSpec, Ctx, FAMILIES};
use crate::resp::Reply;

/// Largest total argument size of a write command when region links are configured:
/// a replicated op travels in one frame of at most `replication::wire::MAX_FRAME_BYTES`
/// (64 MiB), so bigger writes are refused up front instead of being applied here and
/// then wedging every region link. (Ops derived from small arguments — *STORE results,
/// a large MULTI/EXEC — are not covered by this check.)
pub const REPL_WRITE_ARGS_MAX: usize = 48 << 20;

/// Per-command counters (INFO commandstats).
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Successful or failed executions (not arity rejections).
    pub calls: AtomicU64,
    /// Total execution time in microseconds.
    pub usec: AtomicU64,
    /// Rejected before execution (arity).
    pub rejected_calls: AtomicU64,
    /// Executed and answered with an error.
    pub failed_calls: AtomicU64,
    /// Execution time distribution (`/metrics`, INFO latencystats).
    pub latency: crate::observe::Histogram,
}

/// A command (or subcommand) in the table.
#[derive(Debug)]
pub struct CommandEntry {
    /// Static spec.
    pub spec: &'static CommandSpec,
    /// `get`, or `client|id` for subcommands.
    pub fullname: String,
    /// Index in the table.
    pub id: usize,
    /// Container command, for subcommands.
    pub parent: Option<usize>,
    /// Subcommand ids by lower-case name, in declaration order.
    pub subcommands: Vec<usize>,
    subcommand_index: HashMap<&'static str, usize>,
    /// Counters.
    pub stats: CommandStats,
}

/// All commands the server knows.
#[derive(Debug)]
pub struct CommandTable {
    entries: Vec<CommandEntry>,
    top: HashMap<&'static str, usize>,
    top_order: Vec<usize>,
}

/// Longest command name looked up (longer names are unknown commands).
const MAX_NAME: usize = 64;

fn lower<'b>(name: &[u8], buf: &'b mut [u8; MAX_NAME]) -> Option<&'b str> {
    if name.len() > MAX_NAME {
        return None;
    }
    let out = &mut buf[..name.len()];
    for (o, c) in out.iter_mut().zip(name) {
        *o = c.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

/// `n` exactly n args, `-n` at least n.
fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i64;
    let arity = i64::from(arity);
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

/// Lossy text of an argument for error messages, at most `max` characters.
fn clip(arg: &[u8], max: usize) -> String {
    String::from_utf8_lossy(arg).chars().take(max).collect()
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandTable {
    /// Builds the table from [`FAMILIES`]. Panics on a duplicate name (a
    /// programming error caught by the unit tests).
    pub fn new() -> Self {
        Self::from_families(FAMILIES)
    }

    /// Builds a table from the given families.
    pub fn from_families(families: &[&'static [CommandSpec]]) -> Self {
        let mut table = CommandTable {
            entries: Vec::new(),
            top: HashMap::new(),
            top_order: Vec::new(),
        };
        for family in families {
            for spec in family.iter() {
                let id = table.push(spec, None);
                assert!(
                    table.top.insert(spec.name, id).is_none(),
                    "duplicate command {}",
                    spec.name
                );
                table.top_order.push(id);
                for sub in spec.subcommands {
                    let sub_id = table.push(sub, Some(id));
                    let parent = &mut table.entries[id];
                    assert!(
                        parent.subcommand_index.insert(sub.name, sub_id).is_none(),
                        "duplicate subcommand {}|{}",
                        spec.name,
                        sub.name
                    );
                    parent.subcommands.push(sub_id);
                }
            }
        }
        table
    }

    fn push(&mut self, spec: &'static CommandSpec, parent: Option<usize>) -> usize {
        debug_assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        let id = self.entries.len();
        let fullname = match parent {
            Some(p) => format!("{}|{}", self.entries[p].spec.name, spec.name),
            None => spec.name.to_string(),
        };
        self.entries.push(CommandEntry {
            spec,
            fullname,
            id,
            parent,
            subcommands: Vec::new(),
            subcommand_index: HashMap::new(),
            stats: CommandStats::default(),
        });
        id
    }

    /// Entry by id.
    pub fn entry(&self, id: usize) -> &CommandEntry {
        &self.entries[id]
    }

    /// Top-level commands in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &CommandEntry> {
        self.top_order.iter().map(|&id| &self.entries[id])
    }

    /// Every entry, subcommands included.
    pub fn all(&self) -> impl Iterator<Item = &CommandEntry> {
        self.entries.iter()
    }

    /// Number of top-level commands (COMMAND COUNT).
    pub fn count(&self) -> usize {
        self.top_order.len()
    }

    /// A top-level command by name, case-insensitively.
    pub fn get(&self, name: &[u8]) -> Option<&CommandEntry> {
        let mut buf = [0u8; MAX_NAME];
        let name = lower(name, &mut buf)?;
        self.top.get(name).map(|&id| &self.entries[id])
    }

    /// A command by full name (`get`, `client|id`), case-insensitively.
    pub fn get_full(&self, name: &[u8]) -> Option<&CommandEntry> {
        match name.iter().position(|&c| c == b'|') {
            None => self.get(name),
            Some(bar) => {
                let parent = self.get(&name[..bar])?;
                self.subcommand(parent, &name[bar + 1..])
            }
        }
    }

    fn subcommand(&self, parent: &CommandEntry, name: &[u8]) -> Option<&CommandEntry> {
        let mut buf = [0u8; MAX_NAME];
        let name = lower(name, &mut buf)?;
        parent
            .subcommand_index
            .get(name)
            .map(|&id| &self.entries[id])
    }

    /// Resolves `args` to an entry, or the Redis error for an unknown
    /// command / subcommand.
    pub fn lookup(&self, args: &[Bytes]) -> Result<&CommandEntry, Reply> {
        let Some(base) = args.first().and_then(|name| self.get(name)) else {
            let mut list = String::new();
            for a in args.iter().skip(1) {
                if list.len() >= 128 {
                    break;
                }
                list.push_str(&format!("'{}' ", clip(a, 128 - list.len())));
            }
            let name = args.first().map(|a| clip(a, 128)).unwrap_or_default();
            return Err(Reply::err(format!(
                "unknown command '{name}', with args beginning with: {list}"
            )));
        };
        if base.subcommands.is_empty() || args.len() < 2 {
            return Ok(base);
        }
        self.subcommand(base, &args[1]).ok_or_else(|| {
            Reply::err(format!(
                "unknown subcommand '{}'. Try {} HELP.",
                clip(&args[1], 128),
                base.spec.name.to_ascii_uppercase()
            ))
        })
    }

    /// Looks up, checks arity, runs and accounts one command.
    pub fn execute(&self, ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
        match self.resolve(args) {
            Ok(entry) => self.run(ctx, entry, args),
            Err(reply) => reply,
        }
    }

    /// Looks up a command and checks its arity (counting a rejection), without
    /// running it: the error is the reply Redis gives for an unknown command or a
    /// wrong number of arguments.
    pub fn resolve(&self, args: &[Bytes]) -> Result<&CommandEntry, Reply> {
        let entry = self.lookup(args)?;
        match entry.spec.handler {
            Some(_) if arity_ok(entry.spec.arity, args.len()) => Ok(entry),
            _ => {
                entry.stats.rejected_calls.fetch_add(1, Relaxed);
                Err(Reply::err(format!(
                    "wrong number of arguments for '{}' command",
                    entry.fullname
                )))
            }
        }
    }

    /// Runs and accounts a command [`resolve`](Self::resolve)d from `args`.
    pub fn run(&self, ctx: &mut Ctx<'_>, entry: &CommandEntry, args: &[Bytes]) -> Reply {
        let Some(handler) = entry.spec.handler else {
            return Reply::err("unknown command");
        };
        if entry.spec.has_flag(super::Flag::Write)
            && ctx.server.repl.get().is_some_and(|r| !r.writable())
        {
            entry.stats.rejected_calls.fetch_add(1, Relaxed);
            return Reply::error_code(
                "READONLY this region lost its data and is catching up with its peers; writes are refused until it has",
            );
        }
        if entry.spec.has_flag(super::Flag::Write) && ctx.server.repl.get().is_some() {
            let bytes: usize = args.iter().map(|a| a.len()).sum();
            if bytes > REPL_WRITE_ARGS_MAX {
                entry.stats.rejected_calls.fetch_add(1, Relaxed);
                return Reply::err(format!(
                    "write too large to replicate: {bytes} bytes of arguments, at most {REPL_WRITE_ARGS_MAX} with region links configured"
                ));
            }
        }
        if entry.spec.has_flag(super::Flag::Write) {
            if let Some(e) = ctx.server.persist.get().and_then(|p| p.failure()) {
                entry.stats.rejected_calls.fetch_add(1, Relaxed);
                return Reply::error_code(format!(
                    "MISCONF Errors writing to the write-ahead log: writes are refused until the server restarts ({e})"
                ));
            }
        }
        let handle = &ctx.client.handle;
        handle.last_cmd.store(entry.id + 1, Relaxed);
        handle.touch();
        let start = Instant::now();
        super::touch::touch_keys(ctx, entry, args);
        let result: CmdResult = handler(ctx, args);
        if entry.spec.has_flag(super::Flag::Write) {
            if let Some(r) = ctx.server.repl.get() {
                ctx.client.woff = ctx.store().keyspace().applied().get(r.region());
            }
        }
        let reply = result.unwrap_or_else(|e| e);
        let usec = start.elapsed().as_micros() as u64;
        entry.stats.calls.fetch_add(1, Relaxed);
        entry.stats.usec.fetch_add(usec, Relaxed);
        if reply.is_error() {
            entry.stats.failed_calls.fetch_add(1, Relaxed);
        }
        ctx.server
            .observe
            .after_command(entry, args, usec, &ctx.client.handle);
        reply
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        for e in &self.entries {
            e.stats.calls.store(0, Relaxed);
            e.stats.usec.store(0, Relaxed);
            e.stats.rejected_calls.store(0, Relaxed);
            e.stats.failed_calls.store(0, Relaxed);
            e.stats.latency.reset();
        }
    }
}

/// Generic `<CONTAINER> HELP` handler, generated from the subcommand specs.
pub fn container_help(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let table = &ctx.server.commands;
    let parent = table
        .get(&args[0])
        .ok_or_else(|| Reply::err("unknown command"))?;
    let upper = parent.spec.name.to_ascii_uppercase();
    let mut lines = vec![Reply::Simple(
        format!("{upper} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    )];
    for &id in &parent.subcommands {
        let spec = table.entry(id).spec;
        lines.push(Reply::Simple(spec.name.to_ascii_uppercase().into()));
        lines.push(Reply::Simple(format!("    {}", spec.summary).into()));
    }
    Ok(Reply::Array(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_without_duplicates() {
        let t = CommandTable::new();
        assert!(t.count() > 10);
        assert!(t.get(b"PING").is_some());
        assert!(t.get_full(b"client|id").is_some());
        assert!(t.get_full(b"CLIENT|NOPE").is_none());
        for e in t.all() {
            assert!(
                e.spec.handler.is_some() || !e.subcommands.is_empty(),
                "{}",
                e.fullname
            );
            assert!(!e.spec.summary.is_empty(), "{} lacks a summary", e.fullname);
        }
    }

    #[test]
    fn arity_rules() {
        assert!(arity_ok(2, 2));
        assert!(!arity_ok(2, 3));
        assert!(arity_ok(-2, 2));
        assert!(arity_ok(-2, 5));
        assert!(!arity_ok(-2, 1));
    }

    #[test]
    fn unknown_command_message() {
        let t = CommandTable::new();
        let args: Vec<Bytes> = ["foo", "a", "b"].iter().map(|s| Bytes::from(*s)).collect();
        let err = t.lookup(&args).unwrap_err();
        assert_eq!(
            err,
            Reply::err("unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
        let args: Vec<Bytes> = ["client", "bogus"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(
            t.lookup(&args).unwrap_err(),
            Reply::err("unknown subcommand 'bogus'. Try CLIENT HELP.")
        );
    }
}
