//! Conversions between command replies and Lua values, exactly as Redis 7 does them.
//!
//! Reply → Lua (what `redis.call` returns; RESP2 unless the script called
//! `redis.setresp(3)`): integer → number, bulk → string, nil bulk / nil array → false,
//! array → table, status → `{ok=...}`, error → `{err=...}`. With RESP3: map →
//! `{map={...}}`, set → `{set={member=true}}`, double → `{double=n}`, null → nil,
//! boolean → boolean, big number → `{big_number=s}`, verbatim →
//! `{verbatim_string={format=..., string=...}}`.
//!
//! Lua → reply (what the script returns): number → integer (truncated), string →
//! bulk, boolean true → 1, false → nil (RESP2) or false (RESP3 scripts), table with a
//! string `err` field → error, with `ok` → status, with `double` → double, otherwise
//! an array of the items 1, 2, ... up to the first nil; anything else → nil.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::{format_double, Reply};

/// Nesting deeper than this is refused in both directions (Redis' Lua stack limit).
pub const DEPTH_MAX: usize = 128;

/// Protocol of the replies a script sees (`redis.setresp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScriptResp {
    /// RESP2 (the default).
    #[default]
    Two,
    /// RESP3.
    Three,
}

fn table_with(lua: &Lua, key: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(key, v)?;
    Ok(Value::Table(t))
}

/// A command's reply as the Lua value `redis.call` returns.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: ScriptResp) -> mlua::Result<Value> {
    reply_to_lua_depth(lua, reply, resp, 0)
}

fn array(lua: &Lua, items: &[Reply], resp: ScriptResp, depth: usize) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, r) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua_depth(lua, r, resp, depth + 1)?)?;
    }
    Ok(Value::Table(t))
}

fn reply_to_lua_depth(
    lua: &Lua,
    reply: &Reply,
    resp: ScriptResp,
    depth: usize,
) -> mlua::Result<Value> {
    if depth > DEPTH_MAX {
        return Err(mlua::Error::runtime("reached lua stack limit"));
    }
    let three = resp == ScriptResp::Three;
    Ok(match reply {
        Reply::Simple(s) => table_with(lua, "ok", Value::String(lua.create_string(s.as_bytes())?))?,
        Reply::Error(s) => table_with(lua, "err", Value::String(lua.create_string(s.as_bytes())?))?,
        Reply::Integer(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b[..])?),
        Reply::Null | Reply::NullArray => {
            if three {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp, depth)?,
        Reply::Set(items) if three => {
            let t = lua.create_table()?;
            for r in items {
                t.raw_set(reply_to_lua_depth(lua, r, resp, depth + 1)?, true)?;
            }
            table_with(lua, "set", Value::Table(t))?
        }
        Reply::Set(items) => array(lua, items, resp, depth)?,
        Reply::Map(pairs) if three => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(
                    reply_to_lua_depth(lua, k, resp, depth + 1)?,
                    reply_to_lua_depth(lua, v, resp, depth + 1)?,
                )?;
            }
            table_with(lua, "map", Value::Table(t))?
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua_depth(lua, k, resp, depth + 1)?)?;
                t.raw_set(2 * i + 2, reply_to_lua_depth(lua, v, resp, depth + 1)?)?;
            }
            Value::Table(t)
        }
        Reply::Double(d) if three => table_with(lua, "double", Value::Number(*d))?,
        Reply::Double(d) => Value::String(lua.create_string(format_double(*d))?),
        Reply::Boolean(b) if three => Value::Boolean(*b),
        Reply::Boolean(b) => Value::Number(if *b { 1.0 } else { 0.0 }),
        Reply::Verbatim { format, text } if three => {
            let t = lua.create_table()?;
            t.raw_set("format", lua.create_string(&format[..])?)?;
            t.raw_set("string", lua.create_string(&text[..])?)?;
            table_with(lua, "verbatim_string", Value::Table(t))?
        }
        Reply::Verbatim { text, .. } => Value::String(lua.create_string(&text[..])?),
        Reply::BigNumber(s) if three => {
            table_with(lua, "big_number", Value::String(lua.create_string(s)?))?
        }
        Reply::BigNumber(s) => Value::String(lua.create_string(s)?),
        Reply::Many(items) => match items.last() {
            Some(r) => reply_to_lua_depth(lua, r, resp, depth)?,
            None => Value::Nil,
        },
    })
}

/// A Lua number as Redis turns it into an integer reply: truncated toward zero, and
/// (as the C cast on x86-64 gives) `i64::MIN` when out of range or NaN.
pub fn number_to_i64(n: f64) -> i64 {
    // 2^63: the first value out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Error and status texts travel on one line.
fn one_line(s: &[u8]) -> String {
    String::from_utf8_lossy(s)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// The text of an error reply from a Lua `err` string (a leading `-` is dropped by
/// `redis.error_reply`, kept here as Redis does for a raw table).
pub fn error_reply(text: &[u8]) -> Reply {
    Reply::error_code(one_line(text))
}

/// The value a script returned, as the reply to its caller. A table nested deeper
/// than [`DEPTH_MAX`] (a cyclic one) gives `-ERR reached lua stack limit`, as Redis.
pub fn lua_to_reply(v: &Value, resp: ScriptResp) -> Reply {
    lua_to_reply_depth(v, resp, 0).unwrap_or_else(|()| Reply::err("reached lua stack limit"))
}

fn string_field(t: &Table, key: &str) -> Option<mlua::String> {
    match t.raw_get::<Value>(key) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn lua_to_reply_depth(v: &Value, resp: ScriptResp, depth: usize) -> Result<Reply, ()> {
    if depth > DEPTH_MAX {
        return Err(());
    }
    Ok(match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(true) => match resp {
            ScriptResp::Two => Reply::Integer(1),
            ScriptResp::Three => Reply::Boolean(true),
        },
        Value::Boolean(false) => match resp {
            ScriptResp::Two => Reply::Null,
            ScriptResp::Three => Reply::Boolean(false),
        },
        Value::Number(n) => Reply::Integer(number_to_i64(*n)),
        Value::Integer(n) => Reply::Integer(*n),
        Value::Table(t) => {
            if let Some(e) = string_field(t, "err") {
                return Ok(error_reply(&e.as_bytes()));
            }
            if let Some(s) = string_field(t, "ok") {
                return Ok(Reply::Simple(one_line(&s.as_bytes()).into()));
            }
            if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
                return Ok(Reply::Double(d));
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(item) => items.push(lua_to_reply_depth(&item, resp, depth + 1)?),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_truncate_like_redis() {
        assert_eq!(number_to_i64(3.99), 3);
        assert_eq!(number_to_i64(-3.99), -3);
        assert_eq!(number_to_i64(1e20), i64::MIN);
        assert_eq!(number_to_i64(f64::NAN), i64::MIN);
    }

    #[test]
    fn round_trips() {
        let lua = Lua::new();
        let r = Reply::Array(vec![
            Reply::Integer(1),
            Reply::bulk("a"),
            Reply::Null,
            Reply::simple("OK"),
        ]);
        let v = reply_to_lua(&lua, &r, ScriptResp::Two).unwrap();
        let back = lua_to_reply(&v, ScriptResp::Two);
        // nil bulk -> false -> nil; status -> {ok} -> status.
        assert_eq!(back, r);
        let stops = lua.load("return {1, 2, nil, 4}").eval::<Value>().unwrap();
        assert_eq!(
            lua_to_reply(&stops, ScriptResp::Two),
            Reply::Array(vec![Reply::Integer(1), Reply::Integer(2)])
        );
        let cyclic = lua
            .load("local t = {} t[1] = t return t")
            .eval::<Value>()
            .unwrap();
        assert_eq!(
            lua_to_reply(&cyclic, ScriptResp::Two),
            Reply::err("reached lua stack limit")
        );
    }
}
