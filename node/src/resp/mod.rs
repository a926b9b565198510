//! RESP2/RESP3: the Redis serialisation protocol, without any I/O.
//!
//! * [`RequestParser`] turns bytes from a client's read buffer into commands
//!   (multibulk or inline, as redis-server accepts them). An incomplete command
//!   is a normal outcome (`Ok(None)`), not an error.
//! * [`Reply`] is what a command handler answers; [`encode`] writes it as
//!   RESP2 or RESP3 bytes depending on the connection's [`Protocol`].
//! * [`ProtocolError`] carries the exact messages redis-server uses, so the
//!   connection can answer `-ERR Protocol error: ...` and close.

mod encode;
mod error;
mod inline;
mod number;
mod parser;
#[cfg(test)]
mod proptests;
mod reply;
#[cfg(test)]
mod tests;

pub use encode::{encode, encode_request};
pub use error::ProtocolError;
pub use inline::split_args;
pub use number::{format_double, parse_i64};
pub use parser::{ParseLimits, RequestParser};
pub use reply::{Protocol, Reply};
