//! Argument helpers and the error replies clients match on, shared by all
//! command families.

use std::borrow::Cow;

use bytes::Bytes;

use crate::resp::{parse_i64, Reply};

/// `-ERR syntax error`
pub const SYNTAX_ERR: &str = "syntax error";
/// `-ERR value is not an integer or out of range`
pub const NOT_INTEGER: &str = "value is not an integer or out of range";
/// `-ERR value is not a valid float`
pub const NOT_FLOAT: &str = "value is not a valid float";
/// `-WRONGTYPE ...`
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// `-ERR syntax error`
pub fn syntax_error() -> Reply {
    Reply::err(SYNTAX_ERR)
}

/// `-WRONGTYPE Operation against a key holding the wrong kind of value`
pub fn wrong_type() -> Reply {
    Reply::error_code(WRONGTYPE)
}

/// Lossy UTF-8 view of an argument (for names, options, messages).
pub fn text(arg: &Bytes) -> Cow<'_, str> {
    String::from_utf8_lossy(arg)
}

/// True if `arg` equals `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// An integer argument, or `-ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(|| Reply::err(NOT_INTEGER))
}

/// `on`/`off` (CLIENT NO-EVICT etc.), or `-ERR syntax error`.
pub fn on_off(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}
