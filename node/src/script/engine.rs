//! The Lua state: created with the sandbox of `prelude.lua`, the Rust helpers it
//! calls (`sha1hex`, `log`, cjson, struct, bit), the count hook that enforces the time limit
//! and SCRIPT KILL, and the cache of compiled scripts.

use std::sync::{
    atomic::{AtomicU8, Ordering::Relaxed},
    Arc,
};

use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

use super::{cache::Cache, convert::ScriptResp, Abort, RunState, ScriptError};
use crate::resp::Reply;

/// Lua instructions between two checks of the time limit and SCRIPT KILL.
const HOOK_EVERY_INSTRUCTIONS: u32 = 10_000;

/// Registry slot of the per-run `redis.call` implementation.
const CALL_SLOT: &str = "meridian.script.call";

/// The error `redis.call` raises: the command's error reply text.
#[derive(Debug)]
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The text of an error a Rust function raised: a command's error reply as is,
/// anything else prefixed with `ERR`.
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<CallError>() {
            Some(c) => c.0.clone(),
            None => format!("ERR {inner}"),
        },
        mlua::Error::RuntimeError(s) => format!("ERR {s}"),
        mlua::Error::MemoryError(_) => "ERR Lua memory limit reached".to_string(),
        other => format!("ERR {}", other.to_string().lines().next().unwrap_or("")),
    }
}

/// `redis.call` (`raise`) / `redis.pcall`: C functions, so that a script's
/// `return redis.call(...)` keeps the script's frame (and its line) on the stack.
fn call_fn(lua: &Lua, raise: bool) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: mlua::MultiValue| {
        let f: Function = lua.named_registry_value(CALL_SLOT).map_err(|_| {
            mlua::Error::runtime("redis.call is only available while a script runs")
        })?;
        let mut all = mlua::MultiValue::with_capacity(args.len() + 1);
        all.push_back(Value::Boolean(raise));
        all.extend(args);
        let (v, failed): (Value, bool) = f.call(all)?;
        if raise && failed {
            let msg = match &v {
                Value::Table(t) => t.raw_get::<String>("err").unwrap_or_default(),
                _ => String::new(),
            };
            return Err(mlua::Error::external(CallError(msg)));
        }
        Ok(v)
    })
}

/// A compiled script.
#[derive(Clone)]
pub struct Compiled {
    /// The script's function.
    pub func: Function,
}

/// The server's Lua state and script cache.
pub struct Engine {
    lua: Lua,
    /// The real globals (KEYS and ARGV are set there; scripts see a read-only proxy).
    globals: Table,
    /// Runs a compiled script under the error handler.
    runner: Function,
    /// Compiled scripts by SHA1.
    pub cache: Cache<Compiled>,
    /// `redis.setresp` of the running script.
    resp: Arc<AtomicU8>,
    memory_limit: usize,
}

fn bit_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let to32 = |n: f64| -> i32 { (n.rem_euclid(4_294_967_296.0) as u64 as u32) as i32 };
    t.set("tobit", lua.create_function(move |_, n: f64| Ok(to32(n)))?)?;
    t.set("bnot", lua.create_function(move |_, n: f64| Ok(!to32(n)))?)?;
    let fold = |op: fn(i32, i32) -> i32| {
        move |_: &Lua, args: mlua::Variadic<f64>| {
            let mut it = args.iter();
            let first = it
                .next()
                .ok_or_else(|| mlua::Error::runtime("bad argument #1 (number expected)"))?;
            Ok(it.fold(to32(*first), |acc, &n| op(acc, to32(n))))
        }
    };
    t.set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    t.set(
        "lshift",
        lua.create_function(move |_, (a, n): (f64, f64)| {
            Ok(to32(a).wrapping_shl(to32(n) as u32 & 31))
        })?,
    )?;
    t.set(
        "rshift",
        lua.create_function(move |_, (a, n): (f64, f64)| {
            Ok(((to32(a) as u32) >> (to32(n) as u32 & 31)) as i32)
        })?,
    )?;
    t.set(
        "arshift",
        lua.create_function(move |_, (a, n): (f64, f64)| Ok(to32(a) >> (to32(n) as u32 & 31)))?,
    )?;
    t.set(
        "rol",
        lua.create_function(move |_, (a, n): (f64, f64)| {
            Ok((to32(a) as u32).rotate_left(to32(n) as u32 & 31) as i32)
        })?,
    )?;
    t.set(
        "ror",
        lua.create_function(move |_, (a, n): (f64, f64)| {
            Ok((to32(a) as u32).rotate_right(to32(n) as u32 & 31) as i32)
        })?,
    )?;
    t.set(
        "tohex",
        lua.create_function(move |_, (a, n): (f64, Option<f64>)| {
            let n = n.map(|n| n as i64).unwrap_or(8);
            let (upper, width) = (n < 0, n.unsigned_abs().clamp(1, 8) as usize);
            let v = to32(a) as u32 as u64 & ((1u64 << (4 * width)) - 1);
            Ok(if upper {
                format!("{v:0width$X}")
            } else {
                format!("{v:0width$x}")
            })
        })?,
    )?;
    Ok(t)
}

impl Engine {
    /// A fresh Lua state with the sandbox, bounded to `memory_limit` bytes (0: none).
    pub fn new(run: Arc<RunState>, memory_limit: usize) -> Result<Engine, ScriptError> {
        // SAFETY: the debug library is loaded only so that the prelude can keep
        // `debug.getinfo` for its error handler; the prelude removes `debug` from the
        // globals before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        let resp = Arc::new(AtomicU8::new(2));
        let rt = lua.create_table()?;
        {
            let run = run.clone();
            rt.set(
                "aborted",
                lua.create_function(move |_, ()| Ok(run.abort() != Abort::None))?,
            )?;
        }
        rt.set(
            "sha1hex",
            lua.create_function(|_, s: mlua::String| Ok(super::sha1_hex(&s.as_bytes())))?,
        )?;
        rt.set(
            "log",
            lua.create_function(|_, (level, msg): (u8, mlua::String)| {
                let msg = msg.to_string_lossy();
                match level {
                    0 => tracing::debug!(target: "script", "{msg}"),
                    1 | 2 => tracing::info!(target: "script", "{msg}"),
                    _ => tracing::warn!(target: "script", "{msg}"),
                }
                Ok(())
            })?,
        )?;
        {
            let resp = resp.clone();
            rt.set(
                "setresp",
                lua.create_function(move |_, v: u8| {
                    resp.store(v, Relaxed);
                    Ok(())
                })?,
            )?;
        }
        rt.set(
            "cjson_encode",
            lua.create_function(|lua, v: Value| {
                Ok(match super::cjson::encode(lua, &v)? {
                    Ok(s) => (Value::String(s), Value::Nil),
                    Err(e) => (Value::Nil, Value::String(lua.create_string(e)?)),
                })
            })?,
        )?;
        rt.set(
            "cjson_decode",
            lua.create_function(|lua, s: mlua::String| {
                Ok(match super::cjson::decode(lua, &s.as_bytes())? {
                    Ok(v) => (v, Value::Nil),
                    Err(e) => (Value::Nil, Value::String(lua.create_string(e)?)),
                })
            })?,
        )?;
        rt.set("struct", super::structlib::table(&lua)?)?;
        rt.set("null", Value::NULL)?;
        rt.set("redis_call", call_fn(&lua, true)?)?;
        rt.set("redis_pcall", call_fn(&lua, false)?)?;
        rt.set(
            "unwrap",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => error_text(&e),
                    other => format!("ERR {}", other.to_string().unwrap_or_default()),
                })
            })?,
        )?;
        rt.set("bit", bit_lib(&lua)?)?;
        rt.set("version", crate::REDIS_COMPAT_VERSION)?;
        let num = crate::REDIS_COMPAT_VERSION
            .split('.')
            .map(|p| p.parse::<i64>().unwrap_or(0))
            .fold(0i64, |acc, p| acc * 256 + p);
        rt.set("version_num", num)?;
        let globals = lua.globals();
        let prelude = lua
            .load(include_str!("prelude.lua"))
            .set_name("=prelude")
            .into_function()?;
        let (proxy, runner): (Table, Function) = prelude.call(rt.clone())?;
        lua.set_globals(proxy)?;
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY_INSTRUCTIONS),
            move |_, _| match run.check() {
                Abort::None => Ok(VmState::Continue),
                Abort::Killed => Err(mlua::Error::runtime(
                    "Script killed by user with SCRIPT KILL...",
                )),
                Abort::TimeLimit => Err(mlua::Error::runtime("Script killed by the time limit")),
            },
        )?;
        if memory_limit > 0 {
            lua.set_memory_limit(memory_limit)?;
        }
        Ok(Engine {
            lua,
            globals,
            runner,
            cache: Cache::default(),
            resp,
            memory_limit,
        })
    }

    /// The Lua state.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Applies a new `lua-memory-limit` (0: none).
    pub fn set_memory_limit(&mut self, limit: usize) {
        if limit != self.memory_limit && self.lua.set_memory_limit(limit).is_ok() {
            self.memory_limit = limit;
        }
    }

    /// Compiles `body` (unless cached) and caches it under `sha`. The error is the
    /// reply Redis gives for a script that does not compile.
    pub fn load(&mut self, sha: &str, body: &[u8]) -> Result<Compiled, Reply> {
        if let Some(c) = self.cache.get(sha) {
            return Ok(c.clone());
        }
        if body.first() == Some(&0x1b) {
            return Err(Reply::err(
                "Error compiling script (new function): user_script: bytecode is not allowed",
            ));
        }
        let func = self
            .lua
            .load(body)
            .set_name("@user_script")
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    mlua::Error::MemoryError(_) => "not enough memory".to_string(),
                    other => other.to_string(),
                };
                Reply::err(format!(
                    "Error compiling script (new function): {}",
                    msg.replace(['\r', '\n'], " ")
                ))
            })?;
        let compiled = Compiled { func };
        self.cache
            .insert(sha.to_string(), compiled.clone(), body.len());
        Ok(compiled)
    }

    /// The script's reply protocol (`redis.setresp`).
    pub fn resp(&self) -> ScriptResp {
        match self.resp.load(Relaxed) {
            3 => ScriptResp::Three,
            _ => ScriptResp::Two,
        }
    }

    /// The shared `redis.setresp` value (read by `redis.call` during a run).
    pub fn resp_handle(&self) -> Arc<AtomicU8> {
        self.resp.clone()
    }

    /// Prepares one run: KEYS and ARGV, RESP2 replies.
    pub fn prepare(&self, keys: &[bytes::Bytes], argv: &[bytes::Bytes]) -> mlua::Result<()> {
        self.resp.store(2, Relaxed);
        let list = |items: &[bytes::Bytes]| -> mlua::Result<Table> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, a) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(&a[..])?)?;
            }
            Ok(t)
        };
        self.globals.raw_set("KEYS", list(keys)?)?;
        self.globals.raw_set("ARGV", list(argv)?)?;
        Ok(())
    }

    /// Binds `redis.call` / `redis.pcall` for this run (`None`: unbinds).
    pub fn bind_call(&self, call: Option<Function>) -> mlua::Result<()> {
        match call {
            Some(f) => self.lua.set_named_registry_value(CALL_SLOT, f),
            None => self.lua.unset_named_registry_value(CALL_SLOT),
        }
    }

    /// Runs a compiled script: `Ok(value)` or `Err((message, line))`.
    pub fn run(&self, c: &Compiled) -> Result<Value, (String, Option<i64>)> {
        let (ok, v): (bool, Value) = match self.runner.call(c.func.clone()) {
            Ok(r) => r,
            Err(mlua::Error::MemoryError(_)) => {
                return Err(("ERR Lua memory limit reached".to_string(), None))
            }
            Err(e) => return Err((format!("ERR {e}"), None)),
        };
        if ok {
            return Ok(v);
        }
        match v {
            Value::Table(t) => {
                let msg = match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => s.to_string_lossy(),
                    _ => "ERR unknown error".to_string(),
                };
                let line = match t.raw_get::<Value>("line") {
                    Ok(Value::Number(n)) => Some(n as i64),
                    Ok(Value::Integer(n)) => Some(n),
                    _ => None,
                };
                Err((msg, line))
            }
            // Memory errors skip the handler and arrive as the bare message.
            Value::String(s) => {
                let s = s.to_string_lossy();
                if s.contains("not enough memory") {
                    Err(("ERR Lua memory limit reached".to_string(), None))
                } else {
                    Err((format!("ERR {s}"), None))
                }
            }
            _ => Err(("ERR unknown error".to_string(), None)),
        }
    }

    /// Collects garbage when the state holds more than half its memory limit.
    pub fn after_run(&self) {
        let used = self.lua.used_memory();
        if self.memory_limit > 0 && used > self.memory_limit / 2 {
            let _ = self.lua.gc_collect();
        }
    }
}
