//! Replication-lag sampler: polls `INFO replication` of every region (short timeouts,
//! so a paused or dead region costs one failed sample) and keeps the per-link figures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::cluster::{info_field, info_replication, peer_infos, PeerInfo};
use crate::history::History;

/// Samples per region at most (bounds memory on long runs: 4 h at 4 Hz).
pub const SAMPLES_MAX: usize = 60_000;

/// One INFO replication sample of one region.
#[derive(Debug, Clone, Serialize)]
pub struct LagSample {
    /// When the request was sent (ms since the run started).
    pub t_ms: f64,
    /// Region sampled.
    pub region: u8,
    /// Whether it accepts writes.
    pub writable: bool,
    /// Per-peer link figures.
    pub peers: Vec<PeerInfo>,
}

/// A running sampler.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<LagSample>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Samples `regions` (id, port) every `period`.
    pub fn start(regions: Vec<(u8, u16)>, history: Arc<History>, period: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s2, v2) = (stop.clone(), samples.clone());
        let thread = std::thread::Builder::new()
            .name("lag-sampler".into())
            .spawn(move || {
                let cap = SAMPLES_MAX * regions.len();
                while !s2.load(Ordering::Relaxed) {
                    for &(id, port) in &regions {
                        let t_ms = history.now_ms();
                        if let Ok(info) = info_replication(port) {
                            let s = LagSample {
                                t_ms,
                                region: id,
                                writable: info_field(&info, "region_writable") == Some("1"),
                                peers: peer_infos(&info),
                            };
                            let mut v = v2.lock().unwrap();
                            if v.len() < cap {
                                v.push(s);
                            }
                        }
                    }
                    std::thread::sleep(period);
                }
            })
            .expect("spawn sampler");
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops and returns the samples.
    pub fn finish(mut self) -> Vec<LagSample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
