//! Feeds arbitrary bytes, split at an arbitrary point, to the RESP request parser: it
//! must never panic, and splitting the input must not change the commands it yields.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use meridian_node::resp::{ParseLimits, RequestParser};

fn commands(chunks: &[&[u8]], limits: &ParseLimits) -> (Vec<Vec<bytes::Bytes>>, bool) {
    let mut p = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            match p.parse(&mut buf, limits) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_bulk_len: 1 << 16,
        ..ParseLimits::default()
    };
    let split = data.first().map(|b| *b as usize % (data.len().max(1))).unwrap_or(0);
    let whole = commands(&[data], &limits);
    let parts = commands(&[&data[..split], &data[split..]], &limits);
    assert_eq!(whole, parts);
});
