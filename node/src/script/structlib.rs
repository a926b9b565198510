//! `struct.pack` / `struct.unpack` / `struct.size` for scripts: Roberto Ierusalimschy's
//! `struct` library as Redis ships it (`deps/lua/src/lua_struct.c`), in Rust.
//!
//! Format: `>` big endian, `<` little endian (the default: this build's native order),
//! `!n` maximum alignment `n` (a power of 2; `!` alone: 8; default 1, no alignment),
//! `x` a zero byte, `b`/`B` signed/unsigned char, `h`/`H` short (2 bytes), `l`/`L` long
//! and `T` size_t (8 bytes), `i[n]`/`I[n]` signed/unsigned integer of `n` bytes (default
//! 4, at most 32), `f` float, `d` double, `s` zero-terminated string, `c[n]` `n` bytes
//! (`c0` in pack: the whole string; in unpack: the length is the previous value),
//! spaces are ignored. Integers are Lua numbers (doubles), as in Lua 5.1.
//!
//! Errors are the library's messages (`bad argument #1 to 'pack' (invalid format
//! option 'q')`, `data string too short`, ...); the prelude raises them.

use mlua::{Lua, MultiValue, Table, Value};

/// Largest integer size (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// `!` without a number (`MAXALIGN`: the alignment of a double / pointer / integer).
const MAX_ALIGN: usize = 8;
/// Most values one unpack returns (Lua's stack is the limit in C).
const UNPACK_RESULTS_MAX: usize = 8000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            endian: if cfg!(target_endian = "big") {
                Endian::Big
            } else {
                Endian::Little
            },
            align: 1,
        }
    }
}

type Fmt<'a> = std::iter::Peekable<std::slice::Iter<'a, u8>>;

fn arg_error(n: usize, func: &str, msg: &str) -> String {
    format!("bad argument #{n} to '{func}' ({msg})")
}

fn get_num(fmt: &mut Fmt<'_>, default: usize) -> Result<usize, String> {
    if !fmt.peek().is_some_and(|c| c.is_ascii_digit()) {
        return Ok(default);
    }
    let mut a: usize = 0;
    while let Some(&&c) = fmt.peek() {
        if !c.is_ascii_digit() {
            break;
        }
        fmt.next();
        a = a
            .checked_mul(10)
            .and_then(|a| a.checked_add((c - b'0') as usize))
            .filter(|&a| a <= i32::MAX as usize)
            .ok_or("integral size overflow")?;
    }
    Ok(a)
}

fn opt_size(opt: u8, fmt: &mut Fmt<'_>) -> Result<usize, String> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => get_num(fmt, 1)?,
        b'i' | b'I' => {
            let sz = get_num(fmt, 4)?;
            if sz > MAX_INT_SIZE {
                return Err(format!(
                    "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                ));
            }
            sz
        }
        _ => 0,
    })
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn control(opt: u8, fmt: &mut Fmt<'_>, h: &mut Header, func: &str) -> Result<(), String> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.endian = Endian::Big;
            Ok(())
        }
        b'<' => {
            h.endian = Endian::Little;
            Ok(())
        }
        b'!' => {
            let a = get_num(fmt, MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(format!("alignment {a} is not a power of 2"));
            }
            h.align = a;
            Ok(())
        }
        _ => Err(arg_error(
            1,
            func,
            &format!("invalid format option '{}'", opt as char),
        )),
    }
}

fn put_integer(out: &mut Vec<u8>, n: f64, endian: Endian, size: usize) {
    let mut value: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut buf = [0u8; MAX_INT_SIZE];
    for i in 0..size {
        let at = match endian {
            Endian::Little => i,
            Endian::Big => size - 1 - i,
        };
        buf[at] = (value & 0xff) as u8;
        value = value.checked_shr(8).unwrap_or(0);
    }
    out.extend_from_slice(&buf[..size]);
}

fn get_integer(b: &[u8], endian: Endian, signed: bool) -> f64 {
    let size = b.len();
    let mut l: u64 = 0;
    let mut push = |byte: u8| l = l.checked_shl(8).unwrap_or(0) | byte as u64;
    match endian {
        Endian::Big => b.iter().for_each(|&x| push(x)),
        Endian::Little => b.iter().rev().for_each(|&x| push(x)),
    }
    if !signed {
        return l as f64;
    }
    let mask = u64::MAX
        .checked_shl((size * 8).saturating_sub(1) as u32)
        .unwrap_or(0);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn number(lua: &Lua, v: Option<&Value>, n: usize, func: &str) -> mlua::Result<Result<f64, String>> {
    let got = v.cloned().unwrap_or(Value::Nil);
    let type_name = got.type_name();
    Ok(match lua.coerce_number(got)? {
        Some(x) => Ok(x),
        None => Err(arg_error(
            n,
            func,
            &format!(
                "number expected, got {}",
                if type_name == "nil" {
                    "no value"
                } else {
                    type_name
                }
            ),
        )),
    })
}

fn string(
    lua: &Lua,
    v: Option<&Value>,
    n: usize,
    func: &str,
) -> mlua::Result<Result<Vec<u8>, String>> {
    let got = v.cloned().unwrap_or(Value::Nil);
    let type_name = got.type_name();
    Ok(match lua.coerce_string(got)? {
        Some(s) => Ok(s.as_bytes().to_vec()),
        None => Err(arg_error(
            n,
            func,
            &format!(
                "string expected, got {}",
                if type_name == "nil" {
                    "no value"
                } else {
                    type_name
                }
            ),
        )),
    })
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// `struct.pack(fmt, ...)`: the packed string, or the error message.
pub fn pack(lua: &Lua, args: &[Value]) -> mlua::Result<Result<mlua::String, String>> {
    let fmt = tri!(string(lua, args.first(), 1, "pack")?);
    let mut f = fmt.iter().peekable();
    let mut h = Header::new();
    let mut arg = 1usize; // index into args of the next value
    let mut out = Vec::new();
    while let Some(&opt) = f.next() {
        let mut size = tri!(opt_size(opt, &mut f));
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = tri!(number(lua, args.get(arg), arg + 1, "pack")?);
                arg += 1;
                put_integer(&mut out, n, h.endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = tri!(number(lua, args.get(arg), arg + 1, "pack")?);
                arg += 1;
                let b = match h.endian {
                    Endian::Big => (n as f32).to_be_bytes(),
                    Endian::Little => (n as f32).to_le_bytes(),
                };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let n = tri!(number(lua, args.get(arg), arg + 1, "pack")?);
                arg += 1;
                let b = match h.endian {
                    Endian::Big => n.to_be_bytes(),
                    Endian::Little => n.to_le_bytes(),
                };
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = tri!(string(lua, args.get(arg), arg + 1, "pack")?);
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Ok(Err(arg_error(arg + 1, "pack", "string too short")));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => tri!(control(opt, &mut f, &mut h, "pack")),
        }
    }
    Ok(Ok(lua.create_string(&out)?))
}

/// `struct.unpack(fmt, data [, pos])`: the values and the next position, or the error.
pub fn unpack(lua: &Lua, args: &[Value]) -> mlua::Result<Result<MultiValue, String>> {
    let fmt = tri!(string(lua, args.first(), 1, "unpack")?);
    let data = tri!(string(lua, args.get(1), 2, "unpack")?);
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        v => tri!(number(lua, v, 3, "unpack")?),
    };
    if start < 1.0 {
        return Ok(Err(arg_error(3, "unpack", "offset must be 1 or greater")));
    }
    let mut pos = start as usize - 1;
    let ld = data.len();
    let mut f = fmt.iter().peekable();
    let mut h = Header::new();
    let mut out: Vec<Value> = Vec::new();
    while let Some(&opt) = f.next() {
        let mut size = tri!(opt_size(opt, &mut f));
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if pos.checked_add(size).map_or(true, |end| end > ld) {
            return Ok(Err(arg_error(2, "unpack", "data string too short")));
        }
        if out.len() >= UNPACK_RESULTS_MAX {
            return Ok(Err("too many results".into()));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_integer(
                    &data[pos..pos + size],
                    h.endian,
                    signed,
                )));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let v = match h.endian {
                    Endian::Big => f32::from_be_bytes(b),
                    Endian::Little => f32::from_le_bytes(b),
                };
                out.push(Value::Number(v as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                let v = match h.endian {
                    Endian::Big => f64::from_be_bytes(b),
                    Endian::Little => f64::from_le_bytes(b),
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = out.pop();
                    let n = match prev.map(|v| lua.coerce_number(v)) {
                        Some(Ok(Some(n))) => n,
                        _ => return Ok(Err("format 'c0' needs a previous size".into())),
                    };
                    if n < 0.0 || n as usize > ld || pos > ld - n as usize {
                        return Ok(Err(arg_error(2, "unpack", "data string too short")));
                    }
                    size = n as usize;
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                    return Ok(Err("unfinished string in data".into()));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + e])?));
                size = e + 1;
            }
            _ => tri!(control(opt, &mut f, &mut h, "unpack")),
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(Ok(MultiValue::from_iter(out)))
}

/// `struct.size(fmt)`: the packed size, or the error message.
pub fn size(lua: &Lua, args: &[Value]) -> mlua::Result<Result<f64, String>> {
    let fmt = tri!(string(lua, args.first(), 1, "size")?);
    let mut f = fmt.iter().peekable();
    let mut h = Header::new();
    let mut pos = 0usize;
    while let Some(&opt) = f.next() {
        let size = tri!(opt_size(opt, &mut f));
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Ok(Err(arg_error(1, "size", "option 's' has no fixed size")));
        }
        if opt == b'c' && size == 0 {
            return Ok(Err(arg_error(1, "size", "option 'c0' has no fixed size")));
        }
        if !opt.is_ascii_alphanumeric() {
            tri!(control(opt, &mut f, &mut h, "size"));
        }
        pos += size;
    }
    Ok(Ok(pos as f64))
}

/// `struct.pack` / `unpack` / `size`: C functions (like `redis.call`) whose errors
/// name the calling line as luaL_error does (`user_script:1: ...`).
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    type StructFn = fn(&Lua, &[Value]) -> mlua::Result<Result<MultiValue, String>>;
    let fns: [(&str, StructFn); 3] = [
        ("pack", |lua, a| {
            Ok(pack(lua, a)?.map(|s| MultiValue::from_iter([Value::String(s)])))
        }),
        ("unpack", unpack),
        ("size", |lua, a| {
            Ok(size(lua, a)?.map(|n| MultiValue::from_iter([Value::Number(n)])))
        }),
    ];
    let t = lua.create_table()?;
    for (name, f) in fns {
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let args: Vec<Value> = args.into_iter().collect();
                f(lua, &args)?.map_err(|msg| {
                    let at = lua
                        .inspect_stack(1, |d| {
                            let line = d.current_line();
                            let src = d.source().short_src.map(|s| s.into_owned());
                            match (src, line) {
                                (Some(src), Some(line)) => format!("{src}:{line}: "),
                                _ => String::new(),
                            }
                        })
                        .unwrap_or_default();
                    mlua::Error::RuntimeError(format!("{at}{msg}"))
                })
            })?,
        )?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lua: &Lua, code: &str) -> Vec<Value> {
        lua.load(code)
            .eval::<MultiValue>()
            .unwrap()
            .into_iter()
            .collect()
    }

    fn lua() -> Lua {
        let lua = Lua::new();
        lua.globals().set("struct", table(&lua).unwrap()).unwrap();
        lua
    }

    fn bytes(v: &Value) -> Vec<u8> {
        v.as_string().unwrap().as_bytes().to_vec()
    }

    #[test]
    fn packs_like_lua_struct() {
        let l = lua();
        let v = run(&l, "return struct.pack('>I2', 258)");
        assert_eq!(bytes(&v[0]), [1, 2]);
        let v = run(&l, "return struct.pack('<i4', -2)");
        assert_eq!(bytes(&v[0]), [0xfe, 0xff, 0xff, 0xff]);
        let v = run(&l, "return struct.pack('bxs', 1, 'ab')");
        assert_eq!(bytes(&v[0]), [1, 0, b'a', b'b', 0]);
        let v = run(&l, "return struct.pack('!4 b i', 1, 2)");
        assert_eq!(bytes(&v[0]), [1, 0, 0, 0, 2, 0, 0, 0]);
        let v = run(&l, "return struct.pack('c3c0', 'abcd', 'xy')");
        assert_eq!(bytes(&v[0]), b"abcxy");
        let v = run(&l, "return struct.pack('>d', 1.5)");
        assert_eq!(bytes(&v[0]), 1.5f64.to_be_bytes());
        let v = run(&l, "return struct.size('!8 b d')");
        assert_eq!(v[0], Value::Number(16.0));
    }

    #[test]
    fn unpacks_and_round_trips() {
        let l = lua();
        let v = run(&l, "return struct.unpack('>I2 <h', '\\1\\2\\254\\255')");
        assert_eq!(
            v,
            vec![
                Value::Number(258.0),
                Value::Number(-2.0),
                Value::Number(5.0)
            ]
        );
        let v = run(
            &l,
            "return struct.unpack('b c0 s', struct.pack('b c0 s', 3, 'xyz', 'hi'))",
        );
        assert_eq!(bytes(&v[0]), b"xyz");
        assert_eq!(bytes(&v[1]), b"hi");
        let v = run(&l, "return struct.unpack('i', struct.pack('i i', 7, 8), 5)");
        assert_eq!(v, vec![Value::Number(8.0), Value::Number(9.0)]);
        let v = run(
            &l,
            "return struct.unpack('<i8', struct.pack('<i8', -123456789))",
        );
        assert_eq!(v[0], Value::Number(-123456789.0));
    }

    #[test]
    fn refuses_bad_formats_and_short_data() {
        let l = lua();
        let err = |code: &str| match l.load(code).exec() {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{code} should fail"),
        };
        assert!(err("struct.pack('q', 1)").contains("invalid format option 'q'"));
        assert!(
            err("struct.pack('i33', 1)").contains("integral size 33 is larger than limit of 32")
        );
        assert!(err("struct.pack('!3', 1)").contains("alignment 3 is not a power of 2"));
        assert!(err("struct.unpack('i4', 'ab')").contains("data string too short"));
        assert!(err("struct.unpack('s', 'ab')").contains("unfinished string in data"));
        assert!(err("struct.unpack('c0', 'ab')").contains("format 'c0' needs a previous size"));
        assert!(err("struct.size('s')").contains("option 's' has no fixed size"));
        assert!(err("struct.pack('c5', 'ab')").contains("string too short"));
        assert!(err("struct.pack('i')").contains("number expected, got no value"));
        assert!(err("struct.unpack('i', 'abcd', 0)").contains("offset must be 1 or greater"));
        assert!(err("struct.pack('i99999999999')").contains("integral size overflow"));
    }
}
