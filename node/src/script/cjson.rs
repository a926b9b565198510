//! `cjson.encode` / `cjson.decode` for scripts, in Rust (the vendored Lua has no
//! cjson). Follows lua-cjson's defaults as Redis ships them: arrays are tables whose
//! keys are exactly 1..n (an empty table encodes as `{}`), numbers print as Lua does
//! (`%.14g`), `/` is escaped, NaN/Inf and functions are refused, nesting is bounded,
//! JSON `null` decodes to `cjson.null` (a light userdata).
//!
//! Not implemented: the `cjson.encode_*` / `decode_*` configuration functions.

use mlua::{Lua, Table, Value};

/// Deepest nesting encoded (lua-cjson's default is 1000; 128 keeps the recursion well
/// inside a runtime thread's stack). serde_json's parser also stops at 128.
pub const DEPTH_MAX: usize = 128;

fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn number_into(lua: &Lua, out: &mut Vec<u8>, n: f64) -> Result<(), String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    let s = lua
        .coerce_string(Value::Number(n))
        .ok()
        .flatten()
        .ok_or_else(|| "Cannot serialise number".to_string())?;
    out.extend_from_slice(&s.as_bytes());
    Ok(())
}

/// `Some(n)` when the table is an array with keys exactly 1..=n (n > 0).
fn array_len(t: &Table) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut count = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        match k {
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 && n < 1e15 => {
                max = max.max(n as usize);
                count += 1;
            }
            Value::Integer(n) if n >= 1 => {
                max = max.max(n as usize);
                count += 1;
            }
            _ => return Ok(None),
        }
    }
    if count == 0 {
        return Ok(None);
    }
    // lua-cjson: an array with too many holes is refused.
    if max > 10 && max > count * 2 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

fn encode_into(lua: &Lua, out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), String> {
    if depth > DEPTH_MAX {
        return Err(format!("Cannot serialise, excessive nesting ({depth})"));
    }
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number_into(lua, out, *n)?,
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => escape_into(out, &s.as_bytes()),
        Value::Table(t) => match array_len(t)? {
            Some(n) => {
                out.push(b'[');
                for i in 1..=n {
                    if i > 1 {
                        out.push(b',');
                    }
                    let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    encode_into(lua, out, &item, depth + 1)?;
                }
                out.push(b']');
            }
            None => {
                out.push(b'{');
                let mut first = true;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, item) = pair.map_err(|e| e.to_string())?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => escape_into(out, &s.as_bytes()),
                        Value::Number(_) | Value::Integer(_) => {
                            let mut num = Vec::new();
                            encode_into(lua, &mut num, &k, depth + 1)?;
                            escape_into(out, &num);
                        }
                        _ => {
                            return Err(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            )
                        }
                    }
                    out.push(b':');
                    encode_into(lua, out, &item, depth + 1)?;
                }
                out.push(b'}');
            }
        },
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// `cjson.encode(v)`: the JSON text, or the error message.
pub fn encode(lua: &Lua, v: &Value) -> mlua::Result<Result<mlua::String, String>> {
    let mut out = Vec::new();
    match encode_into(lua, &mut out, v, 0) {
        Ok(()) => Ok(Ok(lua.create_string(&out)?)),
        Err(e) => Ok(Err(e)),
    }
}

fn to_lua(lua: &Lua, v: serde_json::Value) -> mlua::Result<Value> {
    Ok(match v {
        serde_json::Value::Null => Value::NULL,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(lua.create_string(&s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(lua.create_string(&k)?, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
    })
}

/// `cjson.decode(text)`: the value, or the error message.
pub fn decode(lua: &Lua, text: &[u8]) -> mlua::Result<Result<Value, String>> {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(v) => Ok(Ok(to_lua(lua, v)?)),
        Err(e) => Ok(Err(format!("Expected JSON value: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(lua: &Lua, code: &str) -> Result<String, String> {
        let v: Value = lua.load(code).eval().unwrap();
        encode(lua, &v)
            .unwrap()
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
    }

    #[test]
    fn encodes_like_lua_cjson() {
        let lua = Lua::new();
        assert_eq!(enc(&lua, "return {1,2,'a/b'}").unwrap(), r#"[1,2,"a\/b"]"#);
        assert_eq!(enc(&lua, "return {}").unwrap(), "{}");
        assert_eq!(enc(&lua, "return {a=1.5}").unwrap(), r#"{"a":1.5}"#);
        assert_eq!(enc(&lua, "return {[1]=1,[3]=3}").unwrap(), "[1,null,3]");
        assert!(enc(&lua, "return {[1]=1,[100]=3}").is_err());
        assert!(enc(&lua, "return 0/0").is_err());
        assert!(enc(&lua, "return print").is_err());
        assert!(enc(&lua, "local t = {} t[1] = t return t").is_err());
    }

    #[test]
    fn decodes() {
        let lua = Lua::new();
        let v = decode(&lua, br#"[1,{"a":"x"},null]"#).unwrap().unwrap();
        let t = v.as_table().unwrap();
        assert_eq!(t.raw_get::<f64>(1).unwrap(), 1.0);
        let inner: Table = t.raw_get(2).unwrap();
        assert_eq!(inner.raw_get::<String>("a").unwrap(), "x");
        assert_eq!(t.raw_get::<Value>(3).unwrap(), Value::NULL);
        assert!(decode(&lua, b"{bad").unwrap().is_err());
    }
}
