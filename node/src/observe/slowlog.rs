//! SLOWLOG: the last `slowlog-max-len` commands that took at least
//! `slowlog-log-slower-than` microseconds, with Redis' entry format and argument
//! truncation. Only slow commands take the lock; the threshold is an atomic read.

use std::{
    collections::VecDeque,
    sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed},
};

use bytes::Bytes;

/// Redis' `SLOWLOG_ENTRY_MAX_ARGC`: at most this many arguments are kept.
pub const MAX_ARGC: usize = 32;
/// Redis' `SLOWLOG_ENTRY_MAX_STRING`: longer arguments are cut to this many bytes.
pub const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowEntry {
    /// Increasing id (never reused, also not by SLOWLOG RESET).
    pub id: u64,
    /// Unix time in seconds when the command ran (display only).
    pub timestamp: u64,
    /// Execution time in microseconds.
    pub duration_us: u64,
    /// The arguments, truncated and redacted as Redis does.
    pub args: Vec<Bytes>,
    /// `ip:port` of the client.
    pub addr: String,
    /// CLIENT SETNAME name (may be empty).
    pub name: String,
}

/// The slow log.
#[derive(Debug)]
pub struct SlowLog {
    /// `slowlog-log-slower-than` (µs; negative = off, 0 = every command).
    pub threshold_us: AtomicI64,
    /// `slowlog-max-len`.
    pub max_len: AtomicUsize,
    next_id: AtomicU64,
    entries: parking_lot::Mutex<VecDeque<SlowEntry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            threshold_us: AtomicI64::new(10_000),
            max_len: AtomicUsize::new(128),
            next_id: AtomicU64::new(0),
            entries: parking_lot::Mutex::new(VecDeque::new()),
        }
    }
}

/// Arguments as SLOWLOG shows them: at most [`MAX_ARGC`] (the last slot then says how
/// many more there were), each at most [`MAX_STRING`] bytes (plus how many more).
pub fn truncate_args(args: &[Bytes]) -> Vec<Bytes> {
    let keep = if args.len() > MAX_ARGC {
        MAX_ARGC - 1
    } else {
        args.len()
    };
    let mut out: Vec<Bytes> = args[..keep]
        .iter()
        .map(|a| {
            if a.len() > MAX_STRING {
                let mut v = a[..MAX_STRING].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                Bytes::from(v)
            } else {
                Bytes::copy_from_slice(a)
            }
        })
        .collect();
    if args.len() > MAX_ARGC {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            args.len() - keep
        )));
    }
    out
}

/// Hides secrets (passwords) the way Redis redacts them in SLOWLOG and MONITOR:
/// every argument of AUTH, HELLO's AUTH password, ACL SETUSER password rules, and
/// CONFIG SET requirepass values become `(redacted)`.
pub fn redact(args: &mut [Bytes]) {
    let redacted = || Bytes::from_static(b"(redacted)");
    let is = |a: &Bytes, s: &str| a.eq_ignore_ascii_case(s.as_bytes());
    let Some(name) = args.first().cloned() else {
        return;
    };
    if is(&name, "auth") {
        for a in args.iter_mut().skip(1) {
            *a = redacted();
        }
    } else if is(&name, "hello") {
        let mut i = 2;
        while i < args.len() {
            if is(&args[i], "auth") {
                for a in args.iter_mut().skip(i + 1).take(2) {
                    *a = redacted();
                }
                i += 3;
            } else {
                i += 1;
            }
        }
    } else if is(&name, "acl") && args.get(1).is_some_and(|a| is(a, "setuser")) {
        for a in args.iter_mut().skip(3) {
            if matches!(a.first(), Some(b'>' | b'<' | b'#' | b'!')) {
                *a = redacted();
            }
        }
    } else if is(&name, "config") && args.get(1).is_some_and(|a| is(a, "set")) {
        let mut i = 2;
        while i + 1 < args.len() {
            if is(&args[i], "requirepass") {
                args[i + 1] = redacted();
            }
            i += 2;
        }
    }
}

impl SlowLog {
    /// Whether a command that took `usec` belongs in the log.
    pub fn is_slow(&self, usec: u64) -> bool {
        let t = self.threshold_us.load(Relaxed);
        t >= 0 && usec >= t as u64
    }

    /// Adds an entry (the caller checked [`is_slow`](Self::is_slow)).
    pub fn push(
        &self,
        args: &[Bytes],
        duration_us: u64,
        timestamp: u64,
        addr: String,
        name: String,
    ) {
        let max = self.max_len.load(Relaxed);
        let mut args = truncate_args(args);
        redact(&mut args);
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Relaxed),
            timestamp,
            duration_us,
            args,
            addr,
            name,
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max);
    }

    /// The newest `count` entries (all of them for `None`), newest first.
    pub fn get(&self, count: Option<usize>) -> Vec<SlowEntry> {
        let entries = self.entries.lock();
        let n = count.unwrap_or(entries.len()).min(entries.len());
        entries.iter().take(n).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log.
    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// Applies the configured bounds (CONFIG SET); a shorter max drops the oldest.
    pub fn configure(&self, threshold_us: i64, max_len: usize) {
        self.threshold_us.store(threshold_us, Relaxed);
        self.max_len.store(max_len, Relaxed);
        self.entries.lock().truncate(max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn truncation_as_redis() {
        let args: Vec<Bytes> = (0..40).map(|i| b(&i.to_string())).collect();
        let t = truncate_args(&args);
        assert_eq!(t.len(), 32);
        assert_eq!(t[30], b("30"));
        assert_eq!(t[31], b("... (9 more arguments)"));
        let long = b(&"x".repeat(200));
        let t = truncate_args(&[b("set"), b("k"), long]);
        assert_eq!(t[2].len(), 128 + "... (72 more bytes)".len());
        assert!(t[2].ends_with(b"... (72 more bytes)"));
    }

    #[test]
    fn secrets_are_redacted() {
        let mut a = vec![b("AUTH"), b("user"), b("pw")];
        redact(&mut a);
        assert_eq!(a[1..], [b("(redacted)"), b("(redacted)")]);
        let mut a = vec![b("acl"), b("setuser"), b("u"), b("on"), b(">pw"), b("~*")];
        redact(&mut a);
        assert_eq!(a[3..], [b("on"), b("(redacted)"), b("~*")]);
        let mut a = vec![
            b("hello"),
            b("3"),
            b("AUTH"),
            b("u"),
            b("pw"),
            b("SETNAME"),
            b("n"),
        ];
        redact(&mut a);
        assert_eq!(
            a[3..],
            [b("(redacted)"), b("(redacted)"), b("SETNAME"), b("n")]
        );
        let mut a = vec![b("config"), b("set"), b("requirepass"), b("pw")];
        redact(&mut a);
        assert_eq!(a[3], b("(redacted)"));
    }

    #[test]
    fn bounded_newest_first_and_reset() {
        let log = SlowLog::default();
        log.configure(0, 3);
        assert!(log.is_slow(0));
        for i in 0..5 {
            log.push(
                &[b("get"), b(&i.to_string())],
                1,
                0,
                "a".into(),
                String::new(),
            );
        }
        let e = log.get(None);
        assert_eq!(e.len(), 3);
        assert_eq!(e.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2]);
        assert_eq!(log.get(Some(1)).len(), 1);
        log.reset();
        assert!(log.is_empty());
        log.configure(-1, 3);
        assert!(!log.is_slow(1_000_000));
    }
}
