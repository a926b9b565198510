//! Reply encoder (RESP2 or RESP3) and a request encoder (what a client sends).

use bytes::{BufMut, BytesMut};

use super::{number::format_double, Protocol, Reply};

fn put_int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut b = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(b.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn put_len_line(out: &mut BytesMut, prefix: u8, n: usize) {
    let mut b = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(b.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 16);
    put_len_line(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Writes a status or error line; `\r` and `\n` become spaces, as Redis does
/// so that one reply can never be read as two.
fn put_line(out: &mut BytesMut, prefix: u8, text: &str) {
    out.put_u8(prefix);
    if text.bytes().any(|c| c == b'\r' || c == b'\n') {
        out.extend(
            text.bytes()
                .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
    } else {
        out.put_slice(text.as_bytes());
    }
    out.put_slice(b"\r\n");
}

/// Appends `reply` to `out` in the given protocol.
pub fn encode(reply: &Reply, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match reply {
        Reply::Simple(s) => put_line(out, b'+', s),
        Reply::Error(s) => put_line(out, b'-', s),
        Reply::Integer(n) => put_int_line(out, b':', *n),
        Reply::Bulk(b) => put_bulk(out, b),
        Reply::Null if resp3 => out.put_slice(b"_\r\n"),
        Reply::Null => out.put_slice(b"$-1\r\n"),
        Reply::NullArray if resp3 => out.put_slice(b"_\r\n"),
        Reply::NullArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            put_len_line(out, b'*', items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Set(items) => {
            put_len_line(out, if resp3 { b'~' } else { b'*' }, items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Push(items) => {
            put_len_line(out, if resp3 { b'>' } else { b'*' }, items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Many(replies) => {
            for r in replies {
                encode(r, proto, out);
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                put_len_line(out, b'%', pairs.len());
            } else {
                put_len_line(out, b'*', pairs.len() * 2);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) => {
            let text = format_double(*d);
            if resp3 {
                put_line(out, b',', &text);
            } else {
                put_bulk(out, text.as_bytes());
            }
        }
        Reply::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Boolean(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Reply::Verbatim { format, text } => {
            if resp3 {
                put_len_line(out, b'=', text.len() + 4);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            } else {
                put_bulk(out, text);
            }
        }
        Reply::BigNumber(n) if resp3 => put_line(out, b'(', n),
        Reply::BigNumber(n) => put_bulk(out, n.as_bytes()),
    }
}

/// Encodes a command as a client sends it: a multibulk of bulk strings.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    put_len_line(out, b'*', args.len());
    for a in args {
        put_bulk(out, a.as_ref());
    }
}
