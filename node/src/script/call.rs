//! `redis.call` / `redis.pcall`: runs one command from a script against the store
//! the script holds, with Redis' checks and error messages.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use bytes::Bytes;
use mlua::{Lua, MultiValue, Value};

use super::{
    convert::{reply_to_lua, ScriptResp},
    RunState,
};
use crate::{
    cmd::{Ctx, Flag, HeldStore},
    resp::{Protocol, Reply},
    server::{ClientState, ServerState},
};

/// Most arguments one `redis.call` may pass.
pub const ARGS_MAX: usize = 1 << 20;

/// What a script's commands run with.
pub struct CallEnv<'a> {
    /// The server.
    pub server: &'a ServerState,
    /// The client running the script.
    pub client: &'a mut ClientState,
    /// The store the script holds.
    pub held: &'a dyn HeldStore,
    /// EVAL_RO / EVALSHA_RO: write commands are refused.
    pub read_only: bool,
    /// `redis.setresp` of the script.
    pub resp: &'a AtomicU8,
    /// The running script's state (writes are noted for SCRIPT KILL).
    pub run: &'a RunState,
}

fn script_resp(resp: &AtomicU8) -> ScriptResp {
    match resp.load(Relaxed) {
        3 => ScriptResp::Three,
        _ => ScriptResp::Two,
    }
}

/// The command's arguments: Lua strings and numbers (as Lua prints them).
fn arguments(lua: &Lua, values: impl Iterator<Item = Value>) -> Result<Vec<Bytes>, Reply> {
    let mut args = Vec::new();
    for v in values {
        if args.len() >= ARGS_MAX {
            return Err(Reply::err("Too many arguments for this redis lib call"));
        }
        let s = match v {
            Value::String(s) => s,
            Value::Number(_) | Value::Integer(_) => match lua.coerce_string(v) {
                Ok(Some(s)) => s,
                _ => {
                    return Err(Reply::err(
                        "Lua redis lib command arguments must be strings or integers",
                    ))
                }
            },
            _ => {
                return Err(Reply::err(
                    "Lua redis lib command arguments must be strings or integers",
                ))
            }
        };
        args.push(Bytes::copy_from_slice(&s.as_bytes()));
    }
    Ok(args)
}

/// Runs the command; the reply, error replies included.
fn execute(env: &mut CallEnv<'_>, args: &[Bytes]) -> Reply {
    let server = env.server;
    if server.commands.lookup(args).is_err() {
        return Reply::err("Unknown Redis command called from script");
    }
    let entry = match server.commands.resolve(args) {
        Ok(e) => e,
        Err(_) => return Reply::err("Wrong number of args calling Redis command from script"),
    };
    let top = match entry.parent {
        Some(p) => server.commands.entry(p),
        None => entry,
    };
    if entry.spec.has_flag(Flag::Noscript) || top.spec.has_flag(Flag::Noscript) {
        return Reply::err("This Redis command is not allowed from script");
    }
    let write = entry.spec.has_flag(Flag::Write);
    if write && env.read_only {
        return Reply::err("Write commands are not allowed from read-only scripts.");
    }
    if let Err(e) = crate::cmd::access::check_script_call(server, env.client, entry, args) {
        return e;
    }
    if entry.spec.has_flag(Flag::Denyoom) {
        let maxmemory = server.config().maxmemory.bytes();
        if maxmemory > 0 && crate::memory::over_limit(maxmemory) {
            return Reply::error_code(crate::cmd::access::OOM);
        }
    }
    if write {
        env.run.note_write();
    }
    let saved = env.client.protocol();
    env.client.set_protocol(match script_resp(env.resp) {
        ScriptResp::Two => Protocol::Resp2,
        ScriptResp::Three => Protocol::Resp3,
    });
    let reply = {
        let mut sub = Ctx::with_store(server, env.client, env.held);
        server.commands.run(&mut sub, entry, args)
    };
    env.client.set_protocol(saved);
    reply
}

/// The Rust side of `redis.call(...)` / `redis.pcall(...)`: `(value, failed)`, where
/// `failed` tells `redis.call` to raise the error table `value`.
pub fn call(lua: &Lua, env: &mut CallEnv<'_>, values: MultiValue) -> mlua::Result<(Value, bool)> {
    let mut it = values.into_iter();
    let _raise = matches!(it.next(), Some(Value::Boolean(true)));
    let reply = match arguments(lua, it) {
        Ok(args) if args.is_empty() => {
            Reply::err("Please specify at least one argument for this redis lib call")
        }
        Ok(args) => execute(env, &args),
        Err(e) => e,
    };
    let failed = reply.is_error();
    Ok((reply_to_lua(lua, &reply, script_resp(env.resp))?, failed))
}
