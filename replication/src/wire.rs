//! The wire encoding of [`Msg`]: the versioned protobuf schema `meridian.wire.v1`
//! (crate `meridian-proto`), plus the frame format the QUIC shell sends.
//!
//! # Messages
//!
//! [`encode`] turns a [`Msg`] into the bytes of one `Envelope { version, body }`;
//! [`decode`] does the reverse and never panics: unknown versions, malformed protobuf,
//! out-of-range region ids or sequence numbers, unsorted version vectors and batches over
//! the bounds below are all typed [`WireError`]s. The envelope version is read (and
//! checked) before anything else is decoded, so a future version may change the body
//! freely. Repeated fields are counted by a cheap pre-scan *before* protobuf decoding, so
//! a hostile frame cannot make the decoder allocate much more than the frame's own size.
//!
//! # Bounds
//!
//! | constant | value | what it bounds |
//! |---|---|---|
//! | [`MAX_FRAME_BYTES`] | 64 MiB | one encoded envelope, compressed or not |
//! | [`MAX_BATCH_ENTRIES`] | 65,536 | log entries in one `Ops` |
//! | [`MAX_CHUNK_KEYS`] | 65,536 | keys in one `SnapshotChunk` |
//! | [`MAX_VV_ENTRIES`] | 255 | entries of one version vector (one per region) |
//! | [`MAX_CLOUD_DOTS`] | 1,048,576 | out-of-order dots in one causal context |
//!
//! A [`Msg`] over these bounds still encodes (the function is total) but will not decode;
//! [`check_bounds`] tells beforehand and [`split`] cuts an oversized `Ops` or
//! `SnapshotChunk` into several messages that fit (the QUIC shell does this for you, and
//! also cuts large batches to [`TARGET_FRAME_BYTES`] so frames stream smoothly).
//!
//! # Frames
//!
//! On a QUIC stream every message is one frame: `len: u32 big-endian`, then `len` bytes
//! of `flags: u8` + body. `flags` = [`FLAG_RAW`]: body is the envelope;
//! [`FLAG_LZ4`]: body is `uncompressed_len: u32 little-endian` + an `lz4_flex` block of
//! the envelope. Only `Ops` and `SnapshotChunk` frames of at least
//! [`COMPRESS_MIN_BYTES`] are compressed, and only when that saves space. Both `len` and
//! `uncompressed_len` are bounded by [`MAX_FRAME_BYTES`] (checked before allocating).

use crate::msg::{LogEntry, Msg, PROTOCOL_VERSION};
use crdt::dot::SEQ_MAX;
use crdt::{CausalContext, Dot, RegionId, VersionVector};
use proto::prost::Message as _;
use proto::wire::v1 as pb;
use thiserror::Error;

/// Largest encoded envelope (and largest frame body) accepted: 64 MiB. Large enough for
/// any single op the node accepts today; batches are cut far below it.
pub const MAX_FRAME_BYTES: usize = 64 << 20;
/// Size the shell cuts `Ops`/`SnapshotChunk` batches to (1 MiB of payload): big enough
/// to compress well, small enough to keep per-frame latency and memory low.
pub const TARGET_FRAME_BYTES: usize = 1 << 20;
/// Most log entries in one `Ops` message.
pub const MAX_BATCH_ENTRIES: usize = 65_536;
/// Most keys in one `SnapshotChunk`.
pub const MAX_CHUNK_KEYS: usize = 65_536;
/// Most entries in one version vector (one per region id 1..=255).
pub const MAX_VV_ENTRIES: usize = 255;
/// Most out-of-order dots in one causal context.
pub const MAX_CLOUD_DOTS: usize = 1 << 20;
/// Frame flag: the body is the encoded envelope.
pub const FLAG_RAW: u8 = 0;
/// Frame flag: the body is a little-endian `u32` length + an lz4 block of the envelope.
pub const FLAG_LZ4: u8 = 1;
/// Frames smaller than this are never compressed.
pub const COMPRESS_MIN_BYTES: usize = 512;
/// Bytes of the frame length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Why bytes from a peer were refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The frame or envelope is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Announced or actual length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A frame with no flag byte.
    #[error("empty frame")]
    EmptyFrame,
    /// The frame's flag byte is unknown.
    #[error("unknown frame flags {0:#04x}")]
    UnknownFlags(u8),
    /// The compressed body does not decompress to its announced size.
    #[error("bad compressed frame: {0}")]
    BadCompression(String),
    /// The envelope was written by a protocol version this build does not speak.
    #[error("unsupported wire version {found} (this build speaks {supported})")]
    UnsupportedVersion {
        /// Version in the envelope.
        found: u32,
        /// [`PROTOCOL_VERSION`].
        supported: u32,
    },
    /// Not valid protobuf for the schema.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The envelope carries no message.
    #[error("envelope has no body")]
    MissingBody,
    /// A repeated field holds more elements than its bound.
    #[error("{what}: {count} elements exceed the maximum of {max}")]
    TooMany {
        /// Which field.
        what: &'static str,
        /// Elements found (or counted so far).
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A region id outside 1..=255.
    #[error("{what}: region id {id} out of range 1..=255")]
    BadRegion {
        /// Which field.
        what: &'static str,
        /// The id found.
        id: u32,
    },
    /// A sequence number outside `1..=SEQ_MAX`, or a log entry with `first_seq > last_seq`.
    #[error("{what}: bad sequence numbers {first}..={last}")]
    BadSeq {
        /// Which field.
        what: &'static str,
        /// First (or only) sequence.
        first: u64,
        /// Last sequence.
        last: u64,
    },
    /// Version-vector entries or cloud dots not strictly increasing.
    #[error("{0}: entries not strictly increasing")]
    Unsorted(&'static str),
    /// A snapshot key's database index does not fit a byte.
    #[error("snapshot key database {0} out of range")]
    BadDb(u32),
}

// ---------------------------------------------------------------------------------------
// Msg -> Envelope

fn vv_to_pb(vv: &VersionVector) -> pb::VersionVector {
    pb::VersionVector {
        entries: vv
            .iter()
            .map(|(region, seq)| pb::VvEntry {
                region: region.into(),
                seq,
            })
            .collect(),
    }
}

fn ctx_to_pb(ctx: &CausalContext) -> pb::CausalContext {
    pb::CausalContext {
        vv: Some(vv_to_pb(ctx.vv())),
        cloud: ctx
            .cloud()
            .map(|d| pb::Dot {
                region: d.region().into(),
                seq: d.seq(),
            })
            .collect(),
    }
}

impl From<Msg> for pb::Envelope {
    fn from(msg: Msg) -> pb::Envelope {
        use pb::envelope::Body;
        let body = match msg {
            Msg::Hello {
                version,
                region,
                replication_id,
                applied,
                seen,
            } => Body::Hello(pb::Hello {
                version,
                region: region.into(),
                replication_id,
                applied: Some(vv_to_pb(&applied)),
                // Omitted when empty: the encoding stays that of builds without it.
                seen: (!seen.is_empty()).then(|| vv_to_pb(&seen)),
            }),
            Msg::Ops(entries) => Body::Ops(pb::Ops {
                entries: entries
                    .into_iter()
                    .map(|e| pb::LogEntry {
                        origin: e.origin.into(),
                        first_seq: e.first_seq,
                        last_seq: e.last_seq,
                        op: e.op,
                    })
                    .collect(),
            }),
            Msg::SnapshotBegin { ctx } => Body::SnapshotBegin(pb::SnapshotBegin {
                ctx: Some(ctx_to_pb(&ctx)),
            }),
            Msg::SnapshotChunk(keys) => Body::SnapshotChunk(pb::SnapshotChunk {
                keys: keys
                    .into_iter()
                    .map(|(db, key, state)| pb::SnapshotKey {
                        db: db.into(),
                        key,
                        state,
                    })
                    .collect(),
            }),
            Msg::SnapshotEnd => Body::SnapshotEnd(pb::SnapshotEnd {}),
            Msg::SnapshotAbort => Body::SnapshotAbort(pb::SnapshotAbort {}),
            Msg::Adopted { origin, to_seq } => Body::Adopted(pb::Adopted {
                origin: origin.into(),
                to_seq,
            }),
            Msg::Ack { applied, durable } => Body::Ack(pb::Ack {
                applied: Some(vv_to_pb(&applied)),
                durable: Some(vv_to_pb(&durable)),
            }),
            Msg::Heartbeat { now_ms } => Body::Heartbeat(pb::Heartbeat { now_ms }),
            Msg::Publish {
                origin,
                channel,
                message,
                shard,
            } => Body::Publish(pb::Publish {
                origin: origin.into(),
                channel,
                message,
                shard,
            }),
        };
        pb::Envelope {
            version: PROTOCOL_VERSION,
            body: Some(body),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Envelope -> Msg (validating)

fn region(what: &'static str, id: u32) -> Result<RegionId, WireError> {
    match RegionId::try_from(id) {
        Ok(r) if r != 0 => Ok(r),
        _ => Err(WireError::BadRegion { what, id }),
    }
}

fn seq(what: &'static str, s: u64) -> Result<u64, WireError> {
    if (1..=SEQ_MAX).contains(&s) {
        Ok(s)
    } else {
        Err(WireError::BadSeq {
            what,
            first: s,
            last: s,
        })
    }
}

fn vv_from_pb(
    what: &'static str,
    v: Option<pb::VersionVector>,
) -> Result<VersionVector, WireError> {
    let entries = v.map(|v| v.entries).unwrap_or_default();
    if entries.len() > MAX_VV_ENTRIES {
        return Err(WireError::TooMany {
            what,
            count: entries.len(),
            max: MAX_VV_ENTRIES,
        });
    }
    let mut prev: Option<RegionId> = None;
    let mut pairs = Vec::with_capacity(entries.len());
    for e in entries {
        let r = region(what, e.region)?;
        if prev.is_some_and(|p| p >= r) {
            return Err(WireError::Unsorted(what));
        }
        prev = Some(r);
        pairs.push((r, seq(what, e.seq)?));
    }
    Ok(VersionVector::from_pairs(pairs))
}

fn ctx_from_pb(c: Option<pb::CausalContext>) -> Result<CausalContext, WireError> {
    let c = c.unwrap_or_default();
    let vv = vv_from_pb("causal context vv", c.vv)?;
    if c.cloud.len() > MAX_CLOUD_DOTS {
        return Err(WireError::TooMany {
            what: "causal context cloud",
            count: c.cloud.len(),
            max: MAX_CLOUD_DOTS,
        });
    }
    let mut prev: Option<Dot> = None;
    let mut dots = Vec::with_capacity(c.cloud.len());
    for d in c.cloud {
        let dot = Dot::new(
            region("causal context cloud", d.region)?,
            seq("causal context cloud", d.seq)?,
        );
        if prev.is_some_and(|p| p >= dot) {
            return Err(WireError::Unsorted("causal context cloud"));
        }
        prev = Some(dot);
        dots.push(dot);
    }
    // Normalising join: a canonical context (every cloud dot beyond `vv + 1`) comes back
    // identical; a non-canonical one is compacted, which denotes the same set of dots.
    let mut ctx = CausalContext::from_vv(vv);
    if !dots.is_empty() {
        ctx.join(&CausalContext::from_dots(dots));
    }
    Ok(ctx)
}

impl TryFrom<pb::Envelope> for Msg {
    type Error = WireError;

    fn try_from(env: pb::Envelope) -> Result<Msg, WireError> {
        use pb::envelope::Body;
        if env.version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion {
                found: env.version,
                supported: PROTOCOL_VERSION,
            });
        }
        Ok(match env.body.ok_or(WireError::MissingBody)? {
            Body::Hello(h) => Msg::Hello {
                version: h.version,
                region: region("hello region", h.region)?,
                replication_id: h.replication_id,
                applied: vv_from_pb("hello applied", h.applied)?,
                seen: vv_from_pb("hello seen", h.seen)?,
            },
            Body::Ops(o) => {
                check_count("ops entries", o.entries.len(), MAX_BATCH_ENTRIES)?;
                let mut out = Vec::with_capacity(o.entries.len());
                for e in o.entries {
                    let origin = region("log entry origin", e.origin)?;
                    if e.first_seq == 0 || e.first_seq > e.last_seq || e.last_seq > SEQ_MAX {
                        return Err(WireError::BadSeq {
                            what: "log entry",
                            first: e.first_seq,
                            last: e.last_seq,
                        });
                    }
                    out.push(LogEntry {
                        origin,
                        first_seq: e.first_seq,
                        last_seq: e.last_seq,
                        op: e.op,
                    });
                }
                Msg::Ops(out)
            }
            Body::SnapshotBegin(b) => Msg::SnapshotBegin {
                ctx: ctx_from_pb(b.ctx)?,
            },
            Body::SnapshotChunk(c) => {
                check_count("snapshot chunk keys", c.keys.len(), MAX_CHUNK_KEYS)?;
                let mut out = Vec::with_capacity(c.keys.len());
                for k in c.keys {
                    let db = u8::try_from(k.db).map_err(|_| WireError::BadDb(k.db))?;
                    out.push((db, k.key, k.state));
                }
                Msg::SnapshotChunk(out)
            }
            Body::SnapshotEnd(pb::SnapshotEnd {}) => Msg::SnapshotEnd,
            Body::SnapshotAbort(pb::SnapshotAbort {}) => Msg::SnapshotAbort,
            Body::Adopted(a) => Msg::Adopted {
                origin: region("adopted origin", a.origin)?,
                to_seq: seq("adopted seq", a.to_seq)?,
            },
            Body::Ack(a) => Msg::Ack {
                applied: vv_from_pb("ack applied", a.applied)?,
                durable: vv_from_pb("ack durable", a.durable)?,
            },
            Body::Heartbeat(h) => Msg::Heartbeat { now_ms: h.now_ms },
            Body::Publish(p) => Msg::Publish {
                origin: region("publish origin", p.origin)?,
                channel: p.channel,
                message: p.message,
                shard: p.shard,
            },
        })
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), WireError> {
    if count > max {
        Err(WireError::TooMany { what, count, max })
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Pre-scan: version and element counts before any allocation.

/// One protobuf field value as seen by the scanner.
enum Val<'a> {
    Varint(u64),
    Fixed,
    Bytes(&'a [u8]),
}

fn malformed(what: &str) -> WireError {
    WireError::Malformed(what.to_string())
}

fn read_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = buf
            .split_first()
            .ok_or_else(|| malformed("truncated varint"))?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(malformed("varint too long"))
}

/// Calls `f(field_number, value)` for every top-level field of one message.
fn scan<'a>(
    mut buf: &'a [u8],
    mut f: impl FnMut(u32, Val<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    while !buf.is_empty() {
        let key = read_varint(&mut buf)?;
        let num = u32::try_from(key >> 3).map_err(|_| malformed("field number too large"))?;
        if num == 0 {
            return Err(malformed("field number 0"));
        }
        let val = match key & 7 {
            0 => Val::Varint(read_varint(&mut buf)?),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if buf.len() < n {
                    return Err(malformed("truncated fixed field"));
                }
                buf = &buf[n..];
                Val::Fixed
            }
            2 => {
                let n = read_varint(&mut buf)?;
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= buf.len())
                    .ok_or_else(|| malformed("truncated length-delimited field"))?;
                let (v, rest) = buf.split_at(n);
                buf = rest;
                Val::Bytes(v)
            }
            _ => return Err(malformed("unsupported wire type")),
        };
        f(num, val)?;
    }
    Ok(())
}

/// Occurrences of the field at `path` (field numbers, outermost first), summed over every
/// occurrence of the enclosing messages (protobuf merges repeated singular messages).
fn count_path(buf: &[u8], path: &[u32]) -> Result<usize, WireError> {
    let (&head, rest) = path.split_first().expect("non-empty path");
    let mut n = 0usize;
    scan(buf, |num, val| {
        if num != head {
            return Ok(());
        }
        if rest.is_empty() {
            n += 1;
        } else if let Val::Bytes(sub) = val {
            n += count_path(sub, rest)?;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Repeated fields of the envelope with their bounds: (path, what, max).
const COUNTED: &[(&[u32], &str, usize)] = &[
    (&[3, 1], "ops entries", MAX_BATCH_ENTRIES),
    (&[5, 1], "snapshot chunk keys", MAX_CHUNK_KEYS),
    (&[2, 4, 1], "hello applied", MAX_VV_ENTRIES),
    (&[4, 1, 1, 1], "causal context vv", MAX_VV_ENTRIES),
    (&[4, 1, 2], "causal context cloud", MAX_CLOUD_DOTS),
    (&[7, 1, 1], "ack applied", MAX_VV_ENTRIES),
    (&[7, 2, 1], "ack durable", MAX_VV_ENTRIES),
];

fn prescan(buf: &[u8]) -> Result<(), WireError> {
    // The version first: a future version may change everything else.
    // The version is reported even when the rest does not parse as this version's schema.
    let mut version = None;
    let scanned = scan(buf, |num, val| {
        if num == 1 {
            match val {
                Val::Varint(v) => version = Some(v),
                _ => return Err(malformed("envelope version is not a varint")),
            }
        }
        Ok(())
    });
    match version {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => scanned?,
        Some(v) => {
            return Err(WireError::UnsupportedVersion {
                found: u32::try_from(v).unwrap_or(u32::MAX),
                supported: PROTOCOL_VERSION,
            })
        }
        None => {
            scanned?;
            return Err(WireError::UnsupportedVersion {
                found: 0,
                supported: PROTOCOL_VERSION,
            });
        }
    }
    for &(path, what, max) in COUNTED {
        check_count(what, count_path(buf, path)?, max)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Public API

/// Encodes one message as an envelope (total: see [`check_bounds`] for what will decode).
pub fn encode(msg: &Msg) -> Vec<u8> {
    encode_owned(msg.clone())
}

/// [`encode`] without copying the message's byte payloads.
pub fn encode_owned(msg: Msg) -> Vec<u8> {
    pb::Envelope::from(msg).encode_to_vec()
}

/// Decodes one envelope, refusing anything this build does not speak or that breaks a
/// bound (see the module docs). Never panics.
pub fn decode(buf: &[u8]) -> Result<Msg, WireError> {
    if buf.len() > MAX_FRAME_BYTES {
        return Err(WireError::FrameTooLarge {
            len: buf.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    prescan(buf)?;
    let env = pb::Envelope::decode(buf).map_err(|e| WireError::Malformed(e.to_string()))?;
    Msg::try_from(env)
}

/// Whether `msg`'s element counts fit the bounds [`decode`] enforces (the encoded size is
/// checked when framing).
pub fn check_bounds(msg: &Msg) -> Result<(), WireError> {
    match msg {
        Msg::Ops(e) => check_count("ops entries", e.len(), MAX_BATCH_ENTRIES),
        Msg::SnapshotChunk(k) => check_count("snapshot chunk keys", k.len(), MAX_CHUNK_KEYS),
        Msg::SnapshotBegin { ctx } => {
            check_count("causal context cloud", ctx.cloud().count(), MAX_CLOUD_DOTS)
        }
        _ => Ok(()),
    }
}

/// Approximate encoded size of one log entry (payload plus field overhead).
fn entry_cost(e: &LogEntry) -> usize {
    e.op.len() + 32
}

fn key_cost(k: &(u8, Vec<u8>, Vec<u8>)) -> usize {
    k.1.len() + k.2.len() + 24
}

fn split_vec<T>(
    items: Vec<T>,
    target_bytes: usize,
    max_items: usize,
    cost: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut cur_bytes = 0usize;
    for it in items {
        let c = cost(&it);
        if !cur.is_empty() && (cur.len() >= max_items || cur_bytes + c > target_bytes) {
            out.push(std::mem::take(&mut cur));
            cur_bytes = 0;
        }
        cur_bytes += c;
        cur.push(it);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// Cuts an `Ops` or `SnapshotChunk` into consecutive messages of at most `target_bytes`
/// of payload (approximately; a single larger element travels alone) and the element
/// bounds. Order is kept; other messages come back unchanged. Splitting is harmless:
/// `Ops` are a stream in log order and snapshot chunks are independent.
pub fn split(msg: Msg, target_bytes: usize) -> Vec<Msg> {
    match msg {
        Msg::Ops(e) => split_vec(e, target_bytes, MAX_BATCH_ENTRIES, entry_cost)
            .into_iter()
            .map(Msg::Ops)
            .collect(),
        Msg::SnapshotChunk(k) => split_vec(k, target_bytes, MAX_CHUNK_KEYS, key_cost)
            .into_iter()
            .map(Msg::SnapshotChunk)
            .collect(),
        m => vec![m],
    }
}

/// Approximate payload bytes of a message (what [`split`] counts).
pub fn payload_bytes(msg: &Msg) -> usize {
    match msg {
        Msg::Ops(e) => e.iter().map(entry_cost).sum(),
        Msg::SnapshotChunk(k) => k.iter().map(key_cost).sum(),
        Msg::Publish {
            channel, message, ..
        } => channel.len() + message.len() + 16,
        Msg::SnapshotBegin { ctx } => ctx.cloud().count() * 12 + 64,
        _ => 64,
    }
}

/// Encodes `msg` as one complete frame (length prefix, flags, body), compressing batches.
/// Fails only if the message is over a bound (then [`split`] it first).
pub fn encode_frame(msg: Msg) -> Result<Vec<u8>, WireError> {
    check_bounds(&msg)?;
    let compressible = matches!(msg, Msg::Ops(_) | Msg::SnapshotChunk(_));
    let env = encode_owned(msg);
    if env.len() > MAX_FRAME_BYTES {
        return Err(WireError::FrameTooLarge {
            len: env.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + 1 + env.len());
    frame.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    if compressible && env.len() >= COMPRESS_MIN_BYTES {
        let packed = lz4_flex::block::compress(&env);
        if packed.len() + 4 < env.len() {
            frame.push(FLAG_LZ4);
            frame.extend_from_slice(&(env.len() as u32).to_le_bytes());
            frame.extend_from_slice(&packed);
        }
    }
    if frame.len() == FRAME_HEADER_BYTES {
        frame.push(FLAG_RAW);
        frame.extend_from_slice(&env);
    }
    let len = frame.len() - FRAME_HEADER_BYTES;
    frame[..FRAME_HEADER_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// Checks a frame's announced length (the `u32` prefix) before its body is read.
pub fn check_frame_len(len: u32) -> Result<usize, WireError> {
    let len = len as usize;
    // Flag byte + (for lz4) the 4-byte uncompressed length + the envelope.
    if len > MAX_FRAME_BYTES + 5 {
        return Err(WireError::FrameTooLarge {
            len,
            max: MAX_FRAME_BYTES,
        });
    }
    if len == 0 {
        return Err(WireError::EmptyFrame);
    }
    Ok(len)
}

/// Decodes a frame body (everything after the length prefix: flags + body).
pub fn decode_frame_body(body: &[u8]) -> Result<Msg, WireError> {
    check_frame_len(u32::try_from(body.len()).unwrap_or(u32::MAX))?;
    let (&flags, rest) = body.split_first().ok_or(WireError::EmptyFrame)?;
    match flags {
        FLAG_RAW => decode(rest),
        FLAG_LZ4 => {
            if rest.len() < 4 {
                return Err(WireError::BadCompression("missing length".into()));
            }
            let (n, packed) = rest.split_at(4);
            let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
            if n > MAX_FRAME_BYTES {
                return Err(WireError::FrameTooLarge {
                    len: n,
                    max: MAX_FRAME_BYTES,
                });
            }
            // lz4 expands at most ~255x; refuse absurd ratios before allocating.
            if n > packed.len().saturating_mul(255).saturating_add(16) {
                return Err(WireError::BadCompression(format!(
                    "{n} bytes cannot come from {} compressed bytes",
                    packed.len()
                )));
            }
            let mut env = vec![0u8; n];
            let got = lz4_flex::block::decompress_into(packed, &mut env)
                .map_err(|e| WireError::BadCompression(e.to_string()))?;
            if got != n {
                return Err(WireError::BadCompression(format!(
                    "decompressed {got} bytes, announced {n}"
                )));
            }
            decode(&env)
        }
        f => Err(WireError::UnknownFlags(f)),
    }
}

/// Decodes one complete frame (length prefix included); the prefix must match exactly.
pub fn decode_frame(frame: &[u8]) -> Result<Msg, WireError> {
    if frame.len() < FRAME_HEADER_BYTES {
        return Err(WireError::EmptyFrame);
    }
    let (len, body) = frame.split_at(FRAME_HEADER_BYTES);
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes"));
    let len = check_frame_len(len)?;
    if len != body.len() {
        return Err(WireError::Malformed(format!(
            "frame announces {len} bytes, holds {}",
            body.len()
        )));
    }
    decode_frame_body(body)
}
