//! One script run: argument checks, the cache, the store held for the whole run (one
//! replicated op), `redis.call` bound to the caller, and Redis' error formats.

use bytes::Bytes;

use super::{
    cache::BODY_MAX_BYTES,
    call::{call, CallEnv},
    convert::{error_reply, lua_to_reply},
    Abort, Engine,
};
use crate::{
    cmd::{CmdResult, Ctx, HeldStore},
    resp::{parse_i64, Reply},
    server::{ClientState, ServerState},
};

/// `-NOSCRIPT` reply.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// How EVAL* names its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// EVAL / EVAL_RO: the body.
    Body,
    /// EVALSHA / EVALSHA_RO: the SHA1 of a cached body.
    Sha,
}

/// Splits `numkeys key... arg...` (args[2..]) with Redis' errors.
fn split_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Reply> {
    let n =
        parse_i64(&args[2]).ok_or_else(|| Reply::err("value is not an integer or out of range"))?;
    if n < 0 {
        return Err(Reply::err("Number of keys can't be negative"));
    }
    let rest = &args[3..];
    if n as u64 > rest.len() as u64 {
        return Err(Reply::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(n as usize))
}

/// The engine, created on first use, with the current `lua-memory-limit`.
pub fn engine<'g>(
    server: &ServerState,
    slot: &'g mut Option<Engine>,
) -> Result<&'g mut Engine, Reply> {
    let limit = server.config().lua_memory_limit.bytes() as usize;
    if slot.is_none() {
        let e = Engine::new(server.scripts.run.clone(), limit)
            .map_err(|e| Reply::err(format!("cannot start the scripting engine: {e}")))?;
        *slot = Some(e);
    }
    let e = slot.as_mut().expect("just created");
    e.set_memory_limit(limit);
    Ok(e)
}

/// Checks a script body's size.
pub fn check_body(body: &[u8]) -> Result<(), Reply> {
    if body.len() > BODY_MAX_BYTES {
        return Err(Reply::err(format!(
            "script body too large: {} bytes, at most {BODY_MAX_BYTES}",
            body.len()
        )));
    }
    Ok(())
}

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO.
pub fn eval(ctx: &mut Ctx<'_>, args: &[Bytes], source: Source, read_only: bool) -> CmdResult {
    let (keys, argv) = split_keys(args)?;
    let sha = match source {
        Source::Body => {
            check_body(&args[1])?;
            super::sha1_hex(&args[1])
        }
        Source::Sha => {
            if args[1].len() != 40 {
                return Err(Reply::error_code(NOSCRIPT));
            }
            String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
        }
    };
    let server = ctx.server;
    match ctx.held() {
        // Inside EXEC: the transaction's batch already collects the writes.
        Some(held) => run_held(
            server, ctx.client, held, &args[1], &sha, source, keys, argv, read_only,
        ),
        None => {
            let mut guard = server.store.lock();
            guard.begin_batch();
            let reply = {
                let held = std::cell::RefCell::new(&mut *guard);
                run_held(
                    server, ctx.client, &held, &args[1], &sha, source, keys, argv, read_only,
                )
            };
            guard.end_batch();
            // WAIT after EVAL waits for the script's op (shipped at the end of the batch).
            if let Some(r) = server.repl.get() {
                ctx.client.woff = guard.keyspace().applied().get(r.region());
            }
            reply
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_held(
    server: &ServerState,
    client: &mut ClientState,
    held: &dyn HeldStore,
    body: &[u8],
    sha: &str,
    source: Source,
    keys: &[Bytes],
    argv: &[Bytes],
    read_only: bool,
) -> CmdResult {
    let mut slot = server.scripts.engine.lock();
    let eng = engine(server, &mut slot)?;
    let compiled = match source {
        Source::Body => eng.load(sha, body)?,
        Source::Sha => eng
            .cache
            .get(sha)
            .cloned()
            .ok_or_else(|| Reply::error_code(NOSCRIPT))?,
    };
    eng.prepare(keys, argv)
        .map_err(|e| Reply::err(format!("cannot prepare the script: {e}")))?;
    let run = &*server.scripts.run;
    let limit_ms = server.config().script_time_limit_ms;
    let resp = eng.resp_handle();
    let mut env = CallEnv {
        server,
        client,
        held,
        read_only,
        resp: &resp,
        run,
    };
    // A SELECT inside the script does not change the caller's database (Redis 7).
    let db = env.client.db();
    run.start(limit_ms);
    let outcome = eng.lua().scope(|scope| {
        let f = scope.create_function_mut(|lua, values| call(lua, &mut env, values))?;
        eng.bind_call(Some(f))?;
        let r = eng.run(&compiled);
        eng.bind_call(None)?;
        Ok(match r {
            Ok(v) => Ok(lua_to_reply(&v, eng.resp())),
            Err(e) => Err(e),
        })
    });
    let abort = run.abort();
    run.finish();
    env.client.set_db(db);
    eng.after_run();
    let outcome = outcome.unwrap_or_else(|e| Err((format!("ERR {e}"), None)));
    match (outcome, abort) {
        (Ok(reply), Abort::None) => Ok(reply),
        (Ok(_), why) | (Err(_), why) if why != Abort::None => {
            let msg = match why {
                Abort::Killed => "ERR Script killed by user with SCRIPT KILL...".to_string(),
                _ => format!(
                    "ERR Script exceeded script-time-limit ({limit_ms} ms) and was stopped; writes it did before are kept"
                ),
            };
            Err(error_reply(format!("{msg} script: {sha}").as_bytes()))
        }
        (Err((msg, line)), _) => {
            let text = match line {
                Some(l) => format!("{msg} script: {sha}, on @user_script:{l}."),
                None => msg,
            };
            Err(error_reply(text.as_bytes()))
        }
        (Ok(reply), _) => Ok(reply),
    }
}
