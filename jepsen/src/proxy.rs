//! A UDP fault proxy for region links (no root needed).
//!
//! Topology: for every ordered pair of regions (i, j) there is one proxy socket
//! `P(i→j)`. Region i's `--peers` entry for j is `P(i→j)`, so whatever i sends towards j
//! (a QUIC dial when i < j, or a redial after j stayed silent) goes through it. The proxy
//! knows j's real repl address; the first datagram from any other address teaches it
//! the reply address (region i's endpoint). Datagrams from j go back to that address.
//!
//! Faults are kept per DIRECTED edge a→b and consulted by both proxies of the pair:
//! in `P(i→j)` datagrams from i travel edge i→j and replies from j travel edge j→i.
//! A one-way partition therefore cuts exactly one direction of every connection between
//! the two regions, whichever side dialed it.
//!
//! Each proxy is one thread with a delay queue (bounded: [`QUEUE_MAX`] datagrams); the
//! thread wakes at least every [`POLL`] to deliver due datagrams and to notice `stop`.

use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;

/// Datagrams waiting in one proxy's delay queue at most (more are dropped and counted).
pub const QUEUE_MAX: usize = 20_000;
/// Longest the proxy thread sleeps in `recv` before delivering due datagrams.
const POLL: Duration = Duration::from_millis(2);
/// Largest UDP payload forwarded.
const DATAGRAM_MAX: usize = 65_535;

/// The faults of one directed edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EdgeFaults {
    /// Drop every datagram (partition of this direction).
    pub cut: bool,
    /// Probability of dropping a datagram.
    pub loss: f64,
    /// Probability of sending a datagram twice.
    pub dup: f64,
    /// Probability of holding a datagram back so later ones overtake it.
    pub reorder: f64,
    /// Fixed one-way delay.
    pub delay_ms: u32,
    /// Uniform extra delay 0..=jitter_ms.
    pub jitter_ms: u32,
}

impl EdgeFaults {
    /// No fault.
    pub fn clear() -> Self {
        Self::default()
    }
}

/// Per-edge counters.
#[derive(Debug, Default)]
pub struct EdgeStats {
    /// Datagrams received on this edge.
    pub received: AtomicU64,
    /// Datagrams forwarded (including duplicates).
    pub forwarded: AtomicU64,
    /// Dropped (cut, loss or full queue).
    pub dropped: AtomicU64,
    /// Extra copies sent.
    pub duplicated: AtomicU64,
    /// Held back for reordering.
    pub reordered: AtomicU64,
}

/// Fault table shared by every proxy of a cluster.
#[derive(Debug, Default)]
pub struct Faults {
    edges: Mutex<HashMap<(u8, u8), EdgeFaults>>,
    stats: Mutex<HashMap<(u8, u8), Arc<EdgeStats>>>,
}

impl Faults {
    /// Sets the faults of edge `from → to`.
    pub fn set(&self, from: u8, to: u8, f: EdgeFaults) {
        self.edges.lock().unwrap().insert((from, to), f);
    }

    /// The faults of edge `from → to`.
    pub fn get(&self, from: u8, to: u8) -> EdgeFaults {
        self.edges
            .lock()
            .unwrap()
            .get(&(from, to))
            .copied()
            .unwrap_or_default()
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.edges.lock().unwrap().clear();
    }

    /// Counters of edge `from → to`.
    pub fn stats(&self, from: u8, to: u8) -> Arc<EdgeStats> {
        self.stats
            .lock()
            .unwrap()
            .entry((from, to))
            .or_default()
            .clone()
    }

    /// Snapshot of every edge's counters: (from, to, received, forwarded, dropped,
    /// duplicated, reordered).
    pub fn all_stats(&self) -> Vec<(u8, u8, [u64; 5])> {
        let s = self.stats.lock().unwrap();
        let mut v: Vec<_> = s
            .iter()
            .map(|(&(a, b), st)| {
                (
                    a,
                    b,
                    [
                        st.received.load(Ordering::Relaxed),
                        st.forwarded.load(Ordering::Relaxed),
                        st.dropped.load(Ordering::Relaxed),
                        st.duplicated.load(Ordering::Relaxed),
                        st.reordered.load(Ordering::Relaxed),
                    ],
                )
            })
            .collect();
        v.sort_by_key(|e| (e.0, e.1));
        v
    }
}

/// One running proxy `P(from→to)`.
pub struct Proxy {
    /// Region that uses this proxy as its address for `to`.
    pub from: u8,
    /// Region behind the proxy.
    pub to: u8,
    /// The proxy's own address (what `from` dials).
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Pending {
    due: Instant,
    seq: u64,
    dest: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // min-heap on (due, seq)
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

impl Proxy {
    /// Starts `P(from→to)` forwarding to `target` (region `to`'s real repl address).
    pub fn start(
        from: u8,
        to: u8,
        target: SocketAddr,
        faults: Arc<Faults>,
        seed: u64,
    ) -> anyhow::Result<Proxy> {
        let sock = UdpSocket::bind("127.0.0.1:0").context("bind proxy socket")?;
        sock.set_read_timeout(Some(POLL))?;
        let addr = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{from}-{to}"))
            .spawn(move || run(sock, from, to, target, faults, stop2, seed))?;
        Ok(Proxy {
            from,
            to,
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    sock: UdpSocket,
    from: u8,
    to: u8,
    target: SocketAddr,
    faults: Arc<Faults>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ ((from as u64) << 8 | to as u64));
    let mut client: Option<SocketAddr> = None;
    let mut queue: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let fwd_stats = faults.stats(from, to);
    let back_stats = faults.stats(to, from);
    while !stop.load(Ordering::Relaxed) {
        // Deliver what is due (bounded by the queue's size).
        let now = Instant::now();
        while queue.peek().is_some_and(|p| p.due <= now) {
            let p = queue.pop().expect("peeked");
            let _ = sock.send_to(&p.data, p.dest);
        }
        let wait = queue
            .peek()
            .map(|p| p.due.saturating_duration_since(now))
            .unwrap_or(POLL)
            .clamp(Duration::from_micros(200), POLL);
        let _ = sock.set_read_timeout(Some(wait));
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let (edge, dest, stats) = if src == target {
            match client {
                Some(c) => ((to, from), c, &back_stats),
                None => continue, // a reply before any request: nobody to send it to
            }
        } else {
            client = Some(src);
            ((from, to), target, &fwd_stats)
        };
        stats.received.fetch_add(1, Ordering::Relaxed);
        let f = faults.get(edge.0, edge.1);
        if f.cut || (f.loss > 0.0 && rng.gen_bool(f.loss.min(1.0))) {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let copies = if f.dup > 0.0 && rng.gen_bool(f.dup.min(1.0)) {
            stats.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = f.delay_ms as u64;
            if f.jitter_ms > 0 {
                delay += rng.gen_range(0..=f.jitter_ms as u64);
            }
            if f.reorder > 0.0 && rng.gen_bool(f.reorder.min(1.0)) {
                stats.reordered.fetch_add(1, Ordering::Relaxed);
                delay += 5 + rng.gen_range(0..=20);
            }
            if delay == 0 && queue.is_empty() {
                let _ = sock.send_to(&buf[..n], dest);
                stats.forwarded.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if queue.len() >= QUEUE_MAX {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            seq += 1;
            queue.push(Pending {
                due: Instant::now() + Duration::from_millis(delay),
                seq,
                dest,
                data: buf[..n].to_vec(),
            });
            stats.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket, Proxy, Arc<Faults>) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        b.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let faults = Arc::new(Faults::default());
        let p = Proxy::start(1, 2, b.local_addr().unwrap(), faults.clone(), 7).unwrap();
        (a, b, p, faults)
    }

    #[test]
    fn forwards_both_ways_and_learns_the_reply_address() {
        let (a, b, p, _f) = pair();
        let mut buf = [0u8; 16];
        a.send_to(b"hello", p.addr).unwrap();
        let (n, via) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(via, p.addr);
        b.send_to(b"back", via).unwrap();
        let (n, src) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], src), (&b"back"[..], p.addr));
    }

    #[test]
    fn one_way_cut_and_delay() {
        let (a, b, p, f) = pair();
        let mut buf = [0u8; 16];
        a.send_to(b"x", p.addr).unwrap();
        b.recv_from(&mut buf).unwrap();
        f.set(
            2,
            1,
            EdgeFaults {
                cut: true,
                ..EdgeFaults::clear()
            },
        );
        b.send_to(b"lost", p.addr).unwrap();
        assert!(a.recv_from(&mut buf).is_err(), "2→1 is cut");
        a.send_to(b"still", p.addr).unwrap();
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"still", "1→2 still flows");
        f.set(
            1,
            2,
            EdgeFaults {
                delay_ms: 100,
                ..EdgeFaults::clear()
            },
        );
        let t = Instant::now();
        a.send_to(b"slow", p.addr).unwrap();
        b.recv_from(&mut buf).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(95));
        assert_eq!(f.stats(2, 1).dropped.load(Ordering::Relaxed), 1);
    }
}
