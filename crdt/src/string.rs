//! Reading a string value: the register winner plus live counter contributions.
//!
//! A string key is a [`Field<Bytes>`](crate::field::Field). Its visible value is:
//! - no live increments: the winning register entry's bytes;
//! - live increments on an integer base (or no base): `base + Σ int` as an integer;
//! - live increments with a float part, or a float base: `base + Σ int + Σ float`;
//! - live increments on a base that is not a number: the base bytes (the increments stay
//!   recorded but cannot be applied to text; a later SET floors them).

use crate::field::Field;
use crate::Bytes;
use std::borrow::Cow;

/// A decoded string value.
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue<'a> {
    /// Plain bytes.
    Bytes(&'a [u8]),
    /// An integer that counters produced (may exceed `i64` after concurrent increments).
    Int(i128),
    /// A float that counters produced.
    Float(f64),
}

/// Parses a Redis integer (strict: no spaces, no leading `+`, no leading zeros).
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    if s.starts_with('+') || (s.len() > 1 && (s.starts_with('0') || s.starts_with("-0"))) {
        return None;
    }
    s.parse().ok()
}

/// Parses a Redis float (no spaces, finite; accepts integers, `inf` is refused).
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5000 {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    if s.trim() != s {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_finite() {
        Some(v)
    } else {
        None
    }
}

/// Formats a float the way Redis' INCRBYFLOAT replies (no exponent, no trailing zeros).
pub fn format_f64(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v}");
        s
    }
}

impl<'a> StrValue<'a> {
    /// The value as bytes, formatting numbers.
    pub fn to_bytes(&self) -> Cow<'a, [u8]> {
        match self {
            StrValue::Bytes(b) => Cow::Borrowed(b),
            StrValue::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            StrValue::Float(f) => Cow::Owned(format_f64(*f).into_bytes()),
        }
    }
}

/// The visible value of a string field, or `None` when it is not present.
pub fn read(field: &Field<Bytes>) -> Option<StrValue<'_>> {
    let sum = field.sum();
    let base = field.winner().map(|e| &e.val[..]);
    if !sum.live {
        return base.map(StrValue::Bytes);
    }
    let base = base.unwrap_or(b"0");
    if !sum.has_float {
        if let Some(i) = parse_i64(base) {
            return Some(StrValue::Int(i as i128 + sum.int));
        }
    }
    match parse_f64(base) {
        Some(f) => Some(StrValue::Float(f + sum.int as f64 + sum.float)),
        None => Some(StrValue::Bytes(base)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"012"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"inf"), None);
        assert_eq!(format_f64(10.5), "10.5");
        assert_eq!(format_f64(3.0), "3");
    }
}
