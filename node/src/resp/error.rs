//! Protocol errors, with redis-server's exact wording (clients and tests
//! match on these strings).

use thiserror::Error;

/// A request that cannot be parsed. The connection answers
/// `-ERR <Display>` and is then closed, because the stream cannot be
/// resynchronised.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline request longer than the inline limit without a newline.
    #[error("Protocol error: too big inline request")]
    InlineTooBig,
    /// Inline request with an unterminated quote.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// `*<count>` line longer than the inline limit.
    #[error("Protocol error: too big mbulk count string")]
    MultibulkCountTooBig,
    /// `*<count>` not an integer, or above the multibulk limit.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<len>` line longer than the inline limit.
    #[error("Protocol error: too big bulk count string")]
    BulkCountTooBig,
    /// A multibulk element that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// `$<len>` not an integer, negative, or above proto-max-bulk-len.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
}
