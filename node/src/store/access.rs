//! Node-local access metadata for LRU/LFU eviction: the 32-bit access word of each
//! stored key ([`crdt::Key::access`]), as Redis keeps 24 bits in each object.
//!
//! The word is not replicated and not part of the CRDT state or its encoding: every
//! region tracks how *its* clients use a key. It is read according to the current
//! policy, as Redis does (switching between an LRU and an LFU policy reinterprets the
//! words until keys are touched again):
//!
//! * LRU: the low 32 bits of a millisecond clock (monotonic, from process start) at the
//!   last access. Idle time wraps after 49 days (handled as Redis handles its 24-bit
//!   clock: a clock behind the word means one wrap).
//! * LFU: the high 24 bits are the minute of the last decrement (monotonic minutes from
//!   process start, modulo 2^24), the low 8 bits Redis' logarithmic counter: a new key
//!   starts at 5, an access increments it with probability 1 / ((c - 5) * lfu-log-factor
//!   + 1), and it loses one per `lfu-decay-time` minutes without access.
//!
//! Word 0 means "never touched": the first write applied to a key (local or from
//! another region) initialises it.

use std::sync::OnceLock;
use std::time::Instant;

/// Counter of a new key (Redis' `LFU_INIT_VAL`), so it is not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;

/// How the access words are kept (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessMode {
    /// Words hold LFU counters (an `*-lfu` policy is set), else LRU clocks.
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time` in minutes (0: counters never decay).
    pub decay_minutes: u32,
}

impl Default for AccessMode {
    fn default() -> Self {
        AccessMode {
            lfu: false,
            log_factor: 10,
            decay_minutes: 1,
        }
    }
}

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Milliseconds since process start (monotonic).
fn clock_ms() -> u64 {
    start().elapsed().as_millis() as u64
}

/// The LRU clock now: milliseconds since process start plus one, modulo 2^32, never 0
/// (0 means "untouched").
pub fn lru_now() -> u32 {
    (clock_ms() as u32).wrapping_add(1).max(1)
}

/// Minutes since process start, modulo 2^24.
fn minutes_now() -> u32 {
    ((clock_ms() / 60_000) & 0xff_ffff) as u32
}

/// Milliseconds since the LRU word `word` was set.
pub fn idle_ms(word: u32) -> u64 {
    let now = lru_now();
    if now >= word {
        u64::from(now - word)
    } else {
        u64::from(u32::MAX - word) + u64::from(now)
    }
}

/// The LFU counter of `word` after decay (Redis' `LFUDecrAndReturn`).
pub fn lfu_counter(word: u32, mode: AccessMode) -> u8 {
    let last = word >> 8;
    let counter = (word & 0xff) as u8;
    let now = minutes_now();
    let elapsed = if now >= last {
        now - last
    } else {
        0xff_ffff - last + now
    };
    let periods = elapsed.checked_div(mode.decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u8)
}

fn lfu_word(counter: u8) -> u32 {
    (minutes_now() << 8) | u32::from(counter)
}

/// The word of a key written for the first time.
pub fn initial(mode: AccessMode) -> u32 {
    if mode.lfu {
        lfu_word(LFU_INIT_VAL)
    } else {
        lru_now()
    }
}

/// The word after one access; `random` is a uniform sample in [0, 1).
pub fn touched(word: u32, mode: AccessMode, random: f64) -> u32 {
    if !mode.lfu {
        return lru_now();
    }
    if word == 0 {
        return initial(mode);
    }
    let mut c = lfu_counter(word, mode);
    if c < 255 {
        let base = f64::from(c.saturating_sub(LFU_INIT_VAL));
        let p = 1.0 / (base * f64::from(mode.log_factor) + 1.0);
        if random < p {
            c += 1;
        }
    }
    lfu_word(c)
}

/// How good an eviction candidate a word is under `mode` (higher goes first): idle
/// milliseconds for LRU, 255 minus the decayed counter for LFU (Redis' "idle").
pub fn score(word: u32, mode: AccessMode) -> u64 {
    if mode.lfu {
        255 - u64::from(lfu_counter(word, mode))
    } else if word == 0 {
        u64::MAX
    } else {
        idle_ms(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_logarithmically_and_saturates() {
        let mode = AccessMode {
            lfu: true,
            ..AccessMode::default()
        };
        let mut w = initial(mode);
        assert_eq!(lfu_counter(w, mode), LFU_INIT_VAL);
        // With random = 0 every access increments (p > 0 always).
        for _ in 0..300 {
            w = touched(w, mode, 0.0);
        }
        assert_eq!(lfu_counter(w, mode), 255);
        // With random just under 1 only the first increments (p = 1 at c <= 5).
        let mut w = initial(mode);
        for _ in 0..100 {
            w = touched(w, mode, 0.999);
        }
        assert_eq!(lfu_counter(w, mode), LFU_INIT_VAL + 1);
        assert!(score(w, mode) < score(initial(mode), mode));
    }

    #[test]
    fn lru_idle_handles_wrap() {
        let now = lru_now();
        assert!(idle_ms(now) < 1_000);
        // A word "ahead" of the clock is a wrapped one: large idle.
        assert!(idle_ms(now.wrapping_add(10_000)) > u64::from(u32::MAX) - 20_000);
        let mode = AccessMode::default();
        assert_eq!(score(0, mode), u64::MAX);
        assert!(score(lru_now(), mode) < 1_000);
    }
}
