//! Versioned binary encoding of deltas and states (wire and disk).
//!
//! Layout: 2-byte magic `b"MD"`, 1-byte kind, 1-byte format version, then the `postcard`
//! encoding of the value. Decoders refuse unknown magic, kinds and versions with a typed
//! error, so a future format change is explicit (see the fixture tests).

use crate::key::Key;
use crate::keyspace::OpDelta;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

/// Current format version.
pub const FORMAT_VERSION: u8 = 1;
const MAGIC: &[u8; 2] = b"MD";

/// What an encoded blob holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum BlobKind {
    /// An [`OpDelta`].
    OpDelta = 1,
    /// A [`Key`] full state.
    Key = 2,
}

/// Decoding failures.
#[derive(Debug, Error, PartialEq)]
pub enum CodecError {
    /// Too short to hold the header.
    #[error("blob too short ({0} bytes)")]
    Truncated(usize),
    /// Not a Meridian blob.
    #[error("bad magic")]
    BadMagic,
    /// The blob holds something else.
    #[error("expected blob kind {expected}, found {found}")]
    WrongKind {
        /// Expected kind byte.
        expected: u8,
        /// Found kind byte.
        found: u8,
    },
    /// Written by an unknown format version.
    #[error("unsupported format version {0} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    /// The body does not decode.
    #[error("malformed body: {0}")]
    Malformed(String),
}

fn encode<T: Serialize>(kind: BlobKind, v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(kind as u8);
    out.push(FORMAT_VERSION);
    postcard::to_extend(v, out).expect("encoding to a Vec cannot fail")
}

fn decode<T: DeserializeOwned>(kind: BlobKind, b: &[u8]) -> Result<T, CodecError> {
    if b.len() < 4 {
        return Err(CodecError::Truncated(b.len()));
    }
    if &b[..2] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    if b[2] != kind as u8 {
        return Err(CodecError::WrongKind {
            expected: kind as u8,
            found: b[2],
        });
    }
    if b[3] != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion(b[3]));
    }
    let (v, rest) =
        postcard::take_from_bytes(&b[4..]).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(v)
}

/// Encodes an op delta.
pub fn encode_op(op: &OpDelta) -> Vec<u8> {
    encode(BlobKind::OpDelta, op)
}

/// Decodes an op delta.
pub fn decode_op(b: &[u8]) -> Result<OpDelta, CodecError> {
    decode(BlobKind::OpDelta, b)
}

/// Encodes a key's full state.
pub fn encode_key(k: &Key) -> Vec<u8> {
    encode(BlobKind::Key, k)
}

/// Decodes a key's full state.
pub fn decode_key(b: &[u8]) -> Result<Key, CodecError> {
    decode(BlobKind::Key, b)
}
