//! Request parser: multibulk (`*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n`) and inline
//! (`ECHO hi\r\n`) commands, read straight from a connection's `BytesMut`.
//!
//! Two passes, in the style of mini-redis: pass one scans the buffer and
//! records where each argument lies, without copying; an incomplete command is
//! `Ok(None)`. Pass two splits the complete command off the buffer and hands
//! out zero-copy `Bytes` slices. The scan is resumable: the offsets of the
//! arguments already seen are kept in the parser, so a large pipelined
//! multibulk that arrives in many reads is not rescanned from the start.
//!
//! Validation and error messages follow redis-server's `processMultibulkBuffer`
//! and `processInlineBuffer`. Like redis-server, the two bytes after a bulk
//! payload are skipped without being checked.

use bytes::{Bytes, BytesMut};

use super::{inline::split_args, number::parse_i64, ProtocolError};

/// Limits applied while parsing. See `Config` for the user-facing names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// proto-max-bulk-len: largest accepted bulk argument (bytes).
    pub max_bulk_len: u64,
    /// Largest accepted multibulk element count.
    pub max_multibulk_len: u64,
    /// Longest inline request / `*` or `$` header line (bytes).
    pub max_inline_len: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}

/// Progress through a multibulk command whose end has not arrived yet.
#[derive(Debug)]
struct Progress {
    argc: usize,
    /// Offset of the next `$<len>` header.
    pos: usize,
    /// `(start, end)` offsets of the arguments scanned so far.
    args: Vec<(usize, usize)>,
}

/// Outcome of scanning one command at the front of the buffer.
enum Step {
    Command(Vec<Bytes>),
    /// `*0`, `*-1` or a blank inline line: consumed, nothing to run.
    Skip,
    Incomplete,
}

/// Incremental request parser; one per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    progress: Option<Progress>,
    /// Buffer length the current command needs at least (a read hint).
    wanted: usize,
}

const INITIAL_ARGS_CAPACITY: usize = 16;

impl RequestParser {
    /// A parser with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next complete command off the front of `buf`.
    ///
    /// `Ok(None)`: `buf` holds no complete command (more bytes are needed);
    /// nothing is consumed except empty commands. `Err`: the input is
    /// malformed and the connection must be closed.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParseLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if buf.is_empty() {
                return Ok(None);
            }
            let step = if self.progress.is_some() || buf[0] == b'*' {
                self.multibulk(buf, limits)?
            } else {
                inline(buf, limits)?
            };
            match step {
                Step::Command(args) => {
                    self.wanted = 0;
                    return Ok(Some(args));
                }
                Step::Skip => continue,
                Step::Incomplete => return Ok(None),
            }
        }
    }

    /// After `Ok(None)`: the buffer length the pending command needs at
    /// least, when known (0 if unknown). Lets the reader reserve once for a
    /// large bulk argument instead of growing the buffer step by step.
    pub fn wanted_len(&self) -> usize {
        self.wanted
    }

    /// True when part of a command has been scanned but not completed.
    pub fn has_partial(&self) -> bool {
        self.progress.is_some()
    }

    fn multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParseLimits,
    ) -> Result<Step, ProtocolError> {
        let mut progress = match self.progress.take() {
            Some(p) => p,
            None => {
                let Some(cr) = memchr::memchr(b'\r', buf) else {
                    if buf.len() > limits.max_inline_len {
                        return Err(ProtocolError::MultibulkCountTooBig);
                    }
                    return Ok(Step::Incomplete);
                };
                if cr + 2 > buf.len() {
                    return Ok(Step::Incomplete);
                }
                let count = parse_i64(&buf[1..cr])
                    .filter(|&n| n <= limits.max_multibulk_len as i64)
                    .ok_or(ProtocolError::InvalidMultibulkLength)?;
                if count <= 0 {
                    let _ = buf.split_to(cr + 2);
                    return Ok(Step::Skip);
                }
                let argc = count as usize;
                Progress {
                    argc,
                    pos: cr + 2,
                    args: Vec::with_capacity(argc.min(INITIAL_ARGS_CAPACITY)),
                }
            }
        };
        while progress.args.len() < progress.argc {
            let pos = progress.pos;
            let Some(rel) = buf.get(pos..).and_then(|rest| memchr::memchr(b'\r', rest)) else {
                if buf.len().saturating_sub(pos) > limits.max_inline_len {
                    return Err(ProtocolError::BulkCountTooBig);
                }
                self.progress = Some(progress);
                return Ok(Step::Incomplete);
            };
            let cr = pos + rel;
            if cr + 2 > buf.len() {
                self.progress = Some(progress);
                return Ok(Step::Incomplete);
            }
            if buf[pos] != b'$' {
                return Err(ProtocolError::ExpectedDollar(buf[pos]));
            }
            let len = parse_i64(&buf[pos + 1..cr])
                .filter(|&n| n >= 0 && n as u64 <= limits.max_bulk_len)
                .ok_or(ProtocolError::InvalidBulkLength)? as usize;
            let start = cr + 2;
            let end = start + len;
            if buf.len() < end + 2 {
                self.wanted = end + 2;
                self.progress = Some(progress);
                return Ok(Step::Incomplete);
            }
            progress.args.push((start, end));
            progress.pos = end + 2;
        }
        // Pass two: split the command off and slice out its arguments.
        let frame = buf.split_to(progress.pos).freeze();
        let args = progress
            .args
            .iter()
            .map(|&(start, end)| frame.slice(start..end))
            .collect();
        Ok(Step::Command(args))
    }
}

fn inline(buf: &mut BytesMut, limits: &ParseLimits) -> Result<Step, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > limits.max_inline_len {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(Step::Incomplete);
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let args = split_args(&buf[..line_end]).ok_or(ProtocolError::UnbalancedQuotes)?;
    let _ = buf.split_to(nl + 1);
    if args.is_empty() {
        return Ok(Step::Skip);
    }
    Ok(Step::Command(args.into_iter().map(Bytes::from).collect()))
}
