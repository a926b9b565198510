//! The reply value a command handler returns.

use std::borrow::Cow;

use bytes::Bytes;

/// The protocol a connection speaks; switched by `HELLO 2|3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default for a new connection.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

impl Protocol {
    /// The protocol version number (`resp=` in CLIENT LIST, `proto` in HELLO).
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A reply, protocol-independent. RESP3-only shapes degrade to RESP2 exactly
/// as redis-server does (see [`super::encode`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(Cow<'static, str>),
    /// `-ERR message`: the text after `-`, starting with the error code.
    Error(Cow<'static, str>),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// Null bulk string (RESP2 `$-1`, RESP3 `_`).
    Null,
    /// Null array (RESP2 `*-1`, RESP3 `_`).
    NullArray,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 `%n`; RESP2 a flat array of 2n elements.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`; RESP2 an array.
    Set(Vec<Reply>),
    /// RESP3 `,1.5`; RESP2 a bulk string.
    Double(f64),
    /// RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    Boolean(bool),
    /// RESP3 `=len\r\ntxt:...`; RESP2 a bulk string of the text only.
    Verbatim {
        /// Three-letter format, e.g. `txt` or `mkd`.
        format: [u8; 3],
        /// The text.
        text: Bytes,
    },
    /// RESP3 `(123...`; RESP2 a bulk string.
    BigNumber(String),
    /// RESP3 `>n` out-of-band push; RESP2 an array.
    Push(Vec<Reply>),
    /// Several consecutive replies to one command, written one after another
    /// (SUBSCRIBE with several channels: one confirmation each; a RESP3 push
    /// that precedes a reply). Empty: no reply at all.
    Many(Vec<Reply>),
}

impl Reply {
    /// `+OK`
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// A simple status string.
    pub fn simple(s: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(s))
    }

    /// `-ERR <msg>`: a generic error.
    pub fn err(msg: impl std::fmt::Display) -> Reply {
        Reply::Error(Cow::Owned(format!("ERR {msg}")))
    }

    /// An error whose text already starts with its code (`WRONGTYPE ...`).
    pub fn error_code(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// A bulk string from text.
    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// A verbatim `txt` string (INFO, CLIENT LIST ...).
    pub fn verbatim_txt(text: String) -> Reply {
        Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(text),
        }
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The error code of an error reply (`ERR`, `WRONGTYPE`, ...).
    pub fn error_code_str(&self) -> Option<&str> {
        match self {
            Reply::Error(text) => Some(text.split(' ').next().unwrap_or("")),
            _ => None,
        }
    }
}
