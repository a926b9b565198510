//! The registry of clients blocked on keys (BZPOPMIN & co.; see "Blocking commands" in
//! `cmd/mod.rs` for the whole mechanism).
//!
//! It lives in the [`Store`](super::Store), under the store lock, so a handler that found
//! nothing to serve registers in the same critical section in which it looked: no write
//! can slip in between. Every delta applied to a key (a local write, a write replicated
//! from another region, FLUSHDB, an expiry deletion) goes through
//! `Store::apply_key_tracked`, which calls [`Blocking::signal`] when anyone is blocked
//! (one branch otherwise).
//!
//! # Fairness: one baton per key
//!
//! Waiters of a key are queued in the order they blocked. A write to the key wakes only
//! the FIRST waiter of its queue (it "gets the baton"). That waiter re-runs its command:
//! - when served (or finished for any other reason: timeout, disconnect, kill) it leaves
//!   every queue it was in and hands the baton to the next waiter of each, which retries
//!   in turn — so two members added at once serve two clients, oldest first;
//! - when the key still has nothing for it, it keeps its place and the baton stops there
//!   (the next write wakes it again).
//!
//! A write therefore costs at most two retries (the served one and the next, which finds
//! nothing), never a wake-up of every waiter. This assumes waiters of one key wait for the
//! same condition ("the key has something to pop"), true for BZPOP*/BZMPOP/BLPOP/BLMOVE.
//! A command whose readiness differs per waiter (XREAD BLOCK with its own last id)
//! registers with [`Wake::All`]: every write wakes it, whatever its place.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::Notify;

/// Identifies one blocked command's registration.
pub type WaiterId = u64;

/// Which writes wake a waiter (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Only when first in a key's queue (FIFO among waiters of the key).
    Fifo,
    /// Every write to one of its keys.
    All,
}

#[derive(Debug)]
struct Waiter {
    notify: Arc<Notify>,
    db: u8,
    keys: Vec<crdt::Bytes>,
    wake: Wake,
    /// Woken (holds the baton) and has not retried since.
    woken: bool,
}

/// Clients blocked on keys, per db and key, in blocking order.
#[derive(Debug, Default)]
pub struct Blocking {
    queues: HashMap<u8, HashMap<crdt::Bytes, VecDeque<WaiterId>>>,
    waiters: HashMap<WaiterId, Waiter>,
    next: WaiterId,
}

impl Blocking {
    /// True when nobody is blocked (the write path's cheap check).
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Number of blocked commands (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Number of distinct keys somebody is blocked on (INFO `total_blocking_keys`).
    pub fn keys(&self) -> usize {
        self.queues.values().map(|q| q.len()).sum()
    }

    /// Queues a waiter on `keys` of `db` (duplicates count once); `notify` is signalled
    /// when it should retry.
    pub fn register(
        &mut self,
        db: u8,
        keys: &[&[u8]],
        wake: Wake,
        notify: Arc<Notify>,
    ) -> WaiterId {
        self.next += 1;
        let id = self.next;
        let mut own: Vec<crdt::Bytes> = Vec::with_capacity(keys.len());
        let queues = self.queues.entry(db).or_default();
        for k in keys {
            if own.iter().any(|o| &o[..] == *k) {
                continue;
            }
            own.push((*k).into());
            match queues.get_mut(*k) {
                Some(q) => q.push_back(id),
                None => {
                    queues.insert((*k).into(), VecDeque::from([id]));
                }
            }
        }
        self.waiters.insert(
            id,
            Waiter {
                notify,
                db,
                keys: own,
                wake,
                woken: false,
            },
        );
        id
    }

    /// A delta was applied to `(db, key)`: wakes its first FIFO waiter (unless it already
    /// holds the baton) and every [`Wake::All`] waiter.
    pub fn signal(&mut self, db: u8, key: &[u8]) {
        let Some(q) = self.queues.get(&db).and_then(|keys| keys.get(key)) else {
            return;
        };
        let mut fifo_done = false;
        for id in q {
            let Some(w) = self.waiters.get_mut(id) else {
                continue;
            };
            match w.wake {
                Wake::All => {}
                Wake::Fifo if fifo_done => continue,
                Wake::Fifo => fifo_done = true,
            }
            if !w.woken {
                w.woken = true;
                w.notify.notify_one();
            }
        }
    }

    /// The waiter re-ran its command and found nothing: it keeps its place, and the next
    /// write wakes it again. Call under the same lock as the look.
    pub fn stay(&mut self, id: WaiterId) {
        if let Some(w) = self.waiters.get_mut(&id) {
            w.woken = false;
        }
    }

    /// Removes a served waiter and hands the baton to the next waiter of each of its
    /// keys (what it popped may not have been all there was).
    pub fn served(&mut self, id: WaiterId) {
        self.remove(id, true);
    }

    /// Removes a waiter that gives up (timeout, disconnection, kill); if it held the
    /// baton, the next waiter of each of its keys gets it.
    pub fn cancel(&mut self, id: WaiterId) {
        self.remove(id, false);
    }

    fn remove(&mut self, id: WaiterId, pass_on: bool) {
        let Some(w) = self.waiters.remove(&id) else {
            return;
        };
        for k in &w.keys {
            let Some(keys) = self.queues.get_mut(&w.db) else {
                break;
            };
            if let Some(q) = keys.get_mut(&k[..]) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    keys.remove(&k[..]);
                }
            }
        }
        if self.queues.get(&w.db).is_some_and(|keys| keys.is_empty()) {
            self.queues.remove(&w.db);
        }
        if pass_on || w.woken {
            for k in &w.keys {
                self.signal(w.db, k);
            }
        }
    }

    /// Whether the waiter was woken and has not retried yet (tests).
    pub fn is_woken(&self, id: WaiterId) -> bool {
        self.waiters.get(&id).is_some_and(|w| w.woken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(b: &mut Blocking, keys: &[&[u8]], wake: Wake) -> (WaiterId, Arc<Notify>) {
        let n = Arc::new(Notify::new());
        (b.register(0, keys, wake, n.clone()), n)
    }

    #[test]
    fn baton_goes_to_the_oldest_then_passes_on() {
        let mut b = Blocking::default();
        let (a, _) = waiter(&mut b, &[b"k", b"other"], Wake::Fifo);
        let (c, _) = waiter(&mut b, &[b"k"], Wake::Fifo);
        assert_eq!((b.len(), b.keys()), (2, 2));
        b.signal(1, b"k");
        b.signal(0, b"nokey");
        assert!(!b.is_woken(a) && !b.is_woken(c));
        b.signal(0, b"k");
        assert!(b.is_woken(a) && !b.is_woken(c));
        // Found nothing: keeps the place, the baton stops.
        b.stay(a);
        assert!(!b.is_woken(a) && !b.is_woken(c));
        b.signal(0, b"k");
        assert!(b.is_woken(a));
        // Giving up without the baton passes nothing on.
        let (d, _) = waiter(&mut b, &[b"k"], Wake::Fifo);
        b.cancel(d);
        assert!(!b.is_woken(c));
        b.signal(0, b"k");
        // Served: the next one gets the baton.
        b.served(a);
        assert!(b.is_woken(c));
        // Giving up with the baton passes it on.
        let (e, _) = waiter(&mut b, &[b"k"], Wake::Fifo);
        b.cancel(c);
        assert!(b.is_woken(e));
        b.served(e);
        assert!(b.is_empty());
        assert_eq!(b.keys(), 0);
        assert!(b.queues.is_empty());
    }

    #[test]
    fn wake_all_waiters_see_every_write() {
        let mut b = Blocking::default();
        let (f1, _) = waiter(&mut b, &[b"s"], Wake::Fifo);
        let (all, _) = waiter(&mut b, &[b"s", b"s"], Wake::All);
        let (f2, _) = waiter(&mut b, &[b"s"], Wake::Fifo);
        assert_eq!(b.keys(), 1);
        b.signal(0, b"s");
        assert!(b.is_woken(f1) && b.is_woken(all) && !b.is_woken(f2));
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::store::{DeltaSink, Store};
    use crdt::OpDelta;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<OpDelta>>>);

    impl DeltaSink for Record {
        fn emit(&mut self, op: &OpDelta, _first_seq: u64) {
            self.0.lock().unwrap().push(op.clone());
        }
    }

    /// A write replicated from another region wakes a client blocked here: the design's
    /// "a push in one region serves a BLPOP/BZPOPMIN blocked in another".
    #[tokio::test]
    async fn a_remote_op_wakes_a_waiter() {
        let mut here = Store::new(1);
        let mut there = Store::new(2);
        let rec = Record::default();
        there.set_sink(Box::new(rec.clone()));
        let notify = Arc::new(Notify::new());
        let id = here
            .blocking()
            .register(0, &[b"z", b"other"], Wake::Fifo, notify.clone());
        // A remote write to an unrelated key or db does not wake it.
        there
            .write(0)
            .put_string(b"unrelated", b"x"[..].into(), false);
        there.write(1).put_string(b"z", b"x"[..].into(), false);
        for op in rec.0.lock().unwrap().drain(..) {
            here.apply_remote(&op);
        }
        assert!(!here.blocked().is_woken(id));
        // A remote write to the key does, through the Notify the connection waits on.
        there.write(0).put_string(b"z", b"v"[..].into(), false);
        let op = rec.0.lock().unwrap().pop().unwrap();
        here.apply_remote(&op);
        assert!(here.blocked().is_woken(id));
        tokio::time::timeout(Duration::from_secs(5), notify.notified())
            .await
            .expect("the waiter was not notified");
        // Re-applying the same op (a duplicate) is a no-op.
        here.blocking().stay(id);
        here.apply_remote(&op);
        assert!(!here.blocked().is_woken(id));
        // A local write wakes it too; served, it leaves the registry.
        here.write(0).put_string(b"other", b"v"[..].into(), false);
        assert!(here.blocked().is_woken(id));
        here.blocking().served(id);
        assert!(here.blocked().is_empty());
    }
}
