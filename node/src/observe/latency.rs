//! LATENCY monitor (Redis' `latency-monitor-threshold`): per event, the latest spike,
//! the all-time maximum and a history of up to [`HISTORY_LEN`] one-second samples.
//! Events recorded here: `command` and `fast-command` (commands flagged `fast`), as
//! Redis names them. Only spikes at or over the threshold take the lock.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

/// Redis' `LATENCY_TS_LEN`: samples kept per event.
pub const HISTORY_LEN: usize = 160;

/// One event's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRecord {
    /// `(unix seconds, latency ms)`, oldest first; one sample per second (the max).
    pub history: VecDeque<(u64, u64)>,
    /// All-time maximum in ms.
    pub max_ms: u64,
}

impl EventRecord {
    /// The newest sample.
    pub fn latest(&self) -> Option<(u64, u64)> {
        self.history.back().copied()
    }
}

/// The latency monitor.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold` in ms (0 = off).
    pub threshold_ms: AtomicU64,
    events: parking_lot::Mutex<BTreeMap<&'static str, EventRecord>>,
}

impl LatencyMonitor {
    /// Records `ms` for `event` at `now` (unix seconds) if the monitor is on and the
    /// latency reaches the threshold.
    pub fn add_sample_if_needed(&self, event: &'static str, ms: u64, now: u64) {
        let t = self.threshold_ms.load(Relaxed);
        if t == 0 || ms < t {
            return;
        }
        let mut events = self.events.lock();
        let rec = events.entry(event).or_default();
        rec.max_ms = rec.max_ms.max(ms);
        match rec.history.back_mut() {
            Some((at, v)) if *at == now => *v = (*v).max(ms),
            _ => {
                rec.history.push_back((now, ms));
                while rec.history.len() > HISTORY_LEN {
                    rec.history.pop_front();
                }
            }
        }
    }

    /// Every event with its record, by name.
    pub fn latest(&self) -> Vec<(&'static str, EventRecord)> {
        self.events
            .lock()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// One event's record.
    pub fn history(&self, event: &str) -> Option<EventRecord> {
        self.events.lock().get(event).cloned()
    }

    /// Forgets the named events (all for an empty list); returns how many existed.
    pub fn reset(&self, names: &[String]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let mut n = 0;
        for name in names {
            if events.remove(name.to_ascii_lowercase().as_str()).is_some() {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_history_and_reset() {
        let m = LatencyMonitor::default();
        m.add_sample_if_needed("command", 500, 1);
        assert!(m.latest().is_empty(), "off at threshold 0");
        m.threshold_ms.store(10, Relaxed);
        m.add_sample_if_needed("command", 9, 1);
        assert!(m.latest().is_empty(), "under the threshold");
        m.add_sample_if_needed("command", 10, 1);
        m.add_sample_if_needed("command", 30, 1);
        m.add_sample_if_needed("command", 20, 2);
        let r = m.history("command").unwrap();
        assert_eq!(
            r.history,
            [(1, 30), (2, 20)],
            "one sample per second, the max"
        );
        assert_eq!((r.latest(), r.max_ms), (Some((2, 20)), 30));
        for s in 3..400 {
            m.add_sample_if_needed("fast-command", 10, s);
        }
        assert_eq!(
            m.history("fast-command").unwrap().history.len(),
            HISTORY_LEN
        );
        assert_eq!(m.reset(&["COMMAND".into(), "nope".into()]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.latest().is_empty());
    }
}
