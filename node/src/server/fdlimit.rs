//! The open-files limit: like Redis at start-up, raise the soft `RLIMIT_NOFILE` so that
//! `maxclients` connections fit (plus descriptors for listeners, the region link, the
//! data directory and logs). The hard limit is never exceeded; when it is too low, a
//! warning says how many clients can really connect.

/// Descriptors kept for everything that is not a client connection.
pub const RESERVED_FDS: u64 = 64;

/// What [`raise_for_clients`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit after.
    pub after: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft open-files limit to `maxclients + RESERVED_FDS` when it is lower (and
/// the hard limit allows). `None` when the limit cannot be read (non-Unix, or getrlimit
/// failed).
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every Unix.
pub fn raise_for_clients(maxclients: u64) -> Option<FdLimit> {
    #[cfg(unix)]
    {
        let want = maxclients.saturating_add(RESERVED_FDS);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        let (before, hard) = (lim.rlim_cur as u64, lim.rlim_max as u64);
        let mut after = before;
        if before < want {
            let target = want.min(hard);
            let new = libc::rlimit {
                rlim_cur: target as libc::rlim_t,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
                after = target;
            }
        }
        Some(FdLimit {
            before,
            after,
            hard,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = maxclients;
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn never_lowers_and_never_exceeds_the_hard_limit() {
        let l = raise_for_clients(0).expect("getrlimit works on unix");
        assert!(l.after >= l.before);
        assert!(l.after <= l.hard);
        // Asking for more than the hard limit stops at the hard limit.
        let l = raise_for_clients(u64::MAX / 2).unwrap();
        assert!(l.after <= l.hard);
        assert!(l.after >= l.before);
    }
}
