//! Shared pieces of the blocking commands (see "Blocking commands" in `cmd/mod.rs`):
//! what a blocked connection waits for, and the timeout argument.

use std::{sync::Arc, time::Duration, time::Instant};

use tokio::sync::Notify;

use super::util::parse_ld;
use crate::{resp::Reply, store::WaiterId};

/// What a blocked connection waits for (set by `Ctx::block`).
#[derive(Debug)]
pub struct Blocked {
    /// The registration in the store's registry.
    pub id: WaiterId,
    /// Signalled by the store when the client should re-run its command.
    pub notify: Arc<Notify>,
    /// When to give up (`None`: never).
    pub deadline: Option<Instant>,
    /// The reply when the deadline passes.
    pub on_timeout: Reply,
}

/// Parses a timeout in seconds as Redis 7's `getTimeoutFromObjectOrReply`: a `long
/// double` (decimal, hexadecimal, `inf` forms), converted to whole milliseconds by
/// truncation toward zero; `0` (also anything under a millisecond) waits forever
/// (`None`). A value whose milliseconds overflow a 64-bit integer (infinities, `1e16`)
/// is negative for Redis, as the C conversion makes it.
pub fn timeout_arg(b: &[u8]) -> Result<Option<Duration>, Reply> {
    let secs = parse_ld(b).ok_or_else(|| Reply::err("timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).trunc();
    // C's (long long) conversion of an out-of-range value yields LLONG_MIN on x86-64.
    if !(ms > -9.223_372_036_854_776e18 && ms < 9.223_372_036_854_776e18) || ms < 0.0 {
        return Err(Reply::err("timeout is negative"));
    }
    let ms = ms as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_as_redis() {
        let ok = |s: &str| timeout_arg(s.as_bytes()).unwrap();
        let err = |s: &str| match timeout_arg(s.as_bytes()) {
            Err(Reply::Error(e)) => e.to_string(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(ok("0"), None);
        assert_eq!(ok("0.0001"), None);
        assert_eq!(ok("-0.0001"), None);
        assert_eq!(ok("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(ok("0x10"), Some(Duration::from_secs(16)));
        assert_eq!(ok("1e3"), Some(Duration::from_secs(1000)));
        for neg in ["-1", "inf", "-inf", "1e400", "1e16", "9223372036854775807"] {
            assert_eq!(err(neg), "ERR timeout is negative", "{neg}");
        }
        for bad in ["abc", "nan", " 1", "1 ", ""] {
            assert_eq!(
                err(bad),
                "ERR timeout is not a float or out of range",
                "{bad}"
            );
        }
    }
}
