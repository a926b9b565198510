//! Helpers shared by the data command families: typed reads from the store, expiry
//! arguments, SCAN cursors.

use std::borrow::Cow;

use bytes::Bytes;
use crdt::{Kind, Value};

use super::args::{is, syntax_error, wrong_type, NOT_INTEGER};
use crate::glob::glob_match;
use crate::resp::Reply;
use crate::store::{Store, WrongType};

impl From<WrongType> for Reply {
    fn from(_: WrongType) -> Reply {
        wrong_type()
    }
}

/// The visible value of `key` if it has `kind`; `Err(WRONGTYPE)` for another kind.
pub fn get_kind<'s>(
    st: &'s Store,
    db: u8,
    key: &[u8],
    kind: Kind,
) -> Result<Option<&'s Value>, Reply> {
    match st.get(db, key) {
        Some(v) if v.kind() != kind => Err(wrong_type()),
        v => Ok(v),
    }
}

/// The visible string value of `key` as bytes.
pub fn read_str<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Option<Cow<'s, [u8]>>, Reply> {
    match get_kind(st, db, key, Kind::String)? {
        Some(Value::Str(f)) => Ok(crate::store::str_bytes(f)),
        _ => Ok(None),
    }
}

/// Parses a float as Redis' `string2ld` (`strtold` on the whole argument): decimal or
/// hexadecimal (`0x1.8p3`) notation, `inf`/`infinity` accepted, NaN, empty input and
/// leading or trailing spaces refused.
pub fn parse_ld(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() >= 5 * 1024 {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    if s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if body.len() > 2 && body[..2].eq_ignore_ascii_case("0x") {
        parse_hex_float(&body[2..])?
    } else {
        // Rust accepts the same decimal/inf/nan forms as strtold, minus hex and with
        // no signs left at this point.
        if body.starts_with(['+', '-']) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if v.is_nan() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// `hhh[.hhh][p[+-]ddd]` (after `0x`).
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let e: i32 = e.parse().ok()?;
        v *= 2f64.powi(e);
    }
    Some(v)
}

/// Bytes of an argument, copied out of the connection's read buffer.
pub fn owned(b: &Bytes) -> crdt::Bytes {
    b[..].into()
}

/// A bulk reply from stored bytes.
pub fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

/// `-ERR invalid expire time in '<cmd>' command`
pub fn invalid_expire(cmd: &str) -> Reply {
    Reply::err(format!("invalid expire time in '{cmd}' command"))
}

/// Converts a relative/absolute expire argument to absolute Unix ms.
/// `unit_ms` is 1000 for seconds, 1 for ms; `absolute` for *AT forms.
pub fn expire_arg(
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    now: u64,
    cmd: &str,
) -> Result<i64, Reply> {
    let v = crate::resp::parse_i64(arg).ok_or_else(|| Reply::err(NOT_INTEGER))?;
    let ms = v.checked_mul(unit_ms).ok_or_else(|| invalid_expire(cmd))?;
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(now as i64)
            .ok_or_else(|| invalid_expire(cmd))
    }
}

/// Position of an element in SCAN order: a fixed 64-bit hash (FNV-1a, never 0), so the
/// order is the same for every call and every process.
pub fn scan_pos(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// Parsed SCAN-family options.
pub struct ScanOpts {
    /// Cursor (0 = start).
    pub cursor: u64,
    /// COUNT hint.
    pub count: usize,
    /// MATCH pattern.
    pub pattern: Option<Bytes>,
    /// TYPE filter (SCAN only).
    pub kind: Option<Bytes>,
    /// NOVALUES (HSCAN only).
    pub novalues: bool,
}

/// Parses `cursor [MATCH p] [COUNT n] [TYPE t] [NOVALUES]` starting at `args[0]`.
pub fn scan_opts(
    args: &[Bytes],
    allow_type: bool,
    allow_novalues: bool,
) -> Result<ScanOpts, Reply> {
    let cursor = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::err("invalid cursor"))?;
    let mut o = ScanOpts {
        cursor,
        count: 10,
        pattern: None,
        kind: None,
        novalues: false,
    };
    let mut i = 1;
    while i < args.len() {
        if is(&args[i], "match") && i + 1 < args.len() {
            o.pattern = Some(args[i + 1].clone());
            i += 2;
        } else if is(&args[i], "count") && i + 1 < args.len() {
            let n = super::args::int(&args[i + 1])?;
            if n < 1 {
                return Err(syntax_error());
            }
            o.count = n.min(1 << 20) as usize;
            i += 2;
        } else if allow_type && is(&args[i], "type") && i + 1 < args.len() {
            o.kind = Some(args[i + 1].clone());
            i += 2;
        } else if allow_novalues && is(&args[i], "novalues") {
            o.novalues = true;
            i += 1;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(o)
}

/// One SCAN step over `items` (element name, payload): returns the next cursor and the
/// elements whose position is after `o.cursor`, in position order, about `o.count` of
/// them (elements sharing a position are never split). Elements present for a whole
/// iteration are returned exactly once. Cost: O(n log count) per call.
pub fn scan_step<'a, T: Clone>(
    items: impl Iterator<Item = (&'a [u8], T)>,
    o: &ScanOpts,
) -> (u64, Vec<(&'a [u8], T)>) {
    use std::collections::BinaryHeap;
    // Max-heap on position keeps the `count` smallest positions after the cursor.
    let mut heap: BinaryHeap<(u64, usize)> = BinaryHeap::new();
    let mut store: Vec<(u64, &'a [u8], T)> = Vec::new();
    for (name, t) in items {
        let p = scan_pos(name);
        if p <= o.cursor {
            continue;
        }
        if heap.len() < o.count {
            heap.push((p, store.len()));
            store.push((p, name, t));
        } else if let Some(&(top, _)) = heap.peek() {
            if p < top {
                heap.pop();
                heap.push((p, store.len()));
                store.push((p, name, t));
            } else if p == top {
                heap.push((p, store.len()));
                store.push((p, name, t));
            }
        }
    }
    let mut picked: Vec<(u64, usize)> = heap.into_vec();
    picked.sort();
    // Drop any element whose position exceeds a kept one with an equal tie only if the
    // heap overflowed with ties; positions are distinct in practice.
    let last = picked.last().map(|p| p.0);
    let complete = picked.len() < o.count;
    let out: Vec<(&'a [u8], T)> = picked
        .into_iter()
        .map(|(_, i)| (store[i].1, store[i].2.clone()))
        .collect();
    let next = if complete { 0 } else { last.unwrap_or(0) };
    let out = match &o.pattern {
        Some(p) => out
            .into_iter()
            .filter(|(n, _)| glob_match(p, n, false))
            .collect(),
        None => out,
    };
    (next, out)
}

/// The reply of a SCAN-family command.
pub fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(items)])
}

/// Formats a double the way Redis replies with it in RESP2 bulk strings.
#[allow(dead_code)]
pub fn fmt_double(d: f64) -> String {
    crate::resp::format_double(d)
}
