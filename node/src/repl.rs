//! The region link: glue between the server, the sans-IO replication core
//! ([`replication::core::Replicator`]) and its QUIC shell ([`replication::net`]).
//!
//! - Local writes: the store's [`DeltaSink`] ([`ReplSink`]) encodes each op and queues
//!   it; the replication task moves queued ops into the replicator at the start of every
//!   step, under the store lock, so the op log's order is the order ops were applied.
//! - One task runs the core: it takes the store lock, then the replicator lock (always in
//!   that order), feeds it the queued local ops, the link events and a tick, and collects
//!   its outputs; network sends happen after both locks are released. Sends to a peer
//!   whose bounded queue is full close that link: the reconnect's handshake resumes
//!   from what the peer acknowledged, so nothing is lost and memory stays bounded.
//! - Messages PUBLISHed here are forwarded to every region ([`Forwarder`]); messages from
//!   other regions are delivered to local subscribers only.
//! - A region that restarts without its data (no persistence yet) starts with a new
//!   replication id and refuses writes (`-READONLY`) until it has caught up with every
//!   peer, so it never reuses one of its own sequence numbers. So does a region started
//!   on an empty data-dir with `repl-join` (it joins a cluster that has data, perhaps
//!   under an id that was used before).
//! - Membership: peers are added and removed at run time ([`Replication::add_region`],
//!   [`Replication::remove_region`], called by the admin API): the core first, then the
//!   QUIC shell, then the stored membership ([`crate::membership`]), which start-up
//!   applies on top of the configured `peers`.

use std::collections::VecDeque;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use crdt::{OpDelta, RegionId};
use replication::core::{Config as CoreConfig, MemLog, OpLog, Output, Replicator, Start};

/// The op log: disk-backed with persistence, in memory without.
pub type NodeLog = Box<dyn OpLog + Send>;
use replication::msg::LogEntry;
use replication::net::{certs, Net, NetConfig, NetEvent, NetHandle, PeerConfig, SendError, Tuning};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::membership::{self, Membership, MembershipError};
use crate::server::{Forwarder, ServerState, Space};
use crate::store::{wall_ms, DeltaSink};

/// Local ops waiting for the replication task; drained every step (≤ a few ms), so it
/// holds at most the ops of one scheduling delay.
const PENDING_OPS_WARN: usize = 1 << 20;
/// Link events handled per step (bounds the store lock hold time).
const EVENTS_PER_STEP_MAX: usize = 256;
/// Tick period of the core (≥ its `batch_delay_ms` granularity).
const TICK: Duration = Duration::from_millis(5);
/// After local ops or link messages, the core's tick (which sends op batches and acks)
/// runs this much later, so ops and acks of that window travel together instead of one
/// frame and one ack per op.
const FLUSH_DELAY: Duration = Duration::from_millis(1);

/// The running region link.
pub struct Replication {
    /// The protocol core. Lock order: `ServerState::store` first, then this.
    pub core: parking_lot::Mutex<Replicator<NodeLog>>,
    pending: parking_lot::Mutex<VecDeque<LogEntry>>,
    notify: Notify,
    net: NetHandle,
    writable: AtomicBool,
    region: RegionId,
    /// Test-only injected bug (`DEBUG DROP-NEXT-DELTA`): local ops still to replicate
    /// with their content stripped.
    drop_next_ops: AtomicU32,
    /// Current peers and removed regions with their addresses (as stored).
    membership: tokio::sync::Mutex<Membership>,
    membership_path: std::path::PathBuf,
}

/// Why a membership change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum MembershipChangeError {
    /// Bad region id or address.
    #[error("{0}")]
    Invalid(String),
    /// Removal refused: the region's ops have not spread to every region yet.
    #[error("{0}")]
    NotSpread(String),
    /// The QUIC shell refused it.
    #[error("region link: {0}")]
    Net(String),
    /// The change was applied but could not be stored (it is lost on restart).
    #[error("membership applied but not stored: {0}")]
    Store(#[from] MembershipError),
}

fn resolve(addr: &str) -> Result<std::net::SocketAddr, MembershipChangeError> {
    addr.to_socket_addrs()
        .map_err(|e| MembershipChangeError::Invalid(format!("cannot resolve {addr}: {e}")))?
        .next()
        .ok_or_else(|| MembershipChangeError::Invalid(format!("{addr} resolves to nothing")))
}

impl Replication {
    /// Whether local writes are allowed (false while a region that lost its data catches
    /// up with its peers).
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Test-only injected bug: the next `n` local ops go out with their content stripped
    /// (their sequence numbers still replicate, so peers never ask for them again).
    pub fn debug_drop_next_ops(&self, n: u32) {
        self.drop_next_ops.store(n, Ordering::Relaxed);
    }

    /// This region's id.
    pub fn region(&self) -> RegionId {
        self.region
    }

    /// The QUIC endpoint's address.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.net.local_addr()
    }

    /// The QUIC shell's counters (frames and frame bytes, all peers).
    pub fn net_stats(&self) -> replication::net::NetStats {
        self.net.stats()
    }

    /// The configured address of each current peer (`None`: it dials us).
    pub async fn peer_addresses(&self) -> std::collections::BTreeMap<RegionId, Option<String>> {
        self.membership.lock().await.peers.clone()
    }

    /// Adds peer region `id` at run time: the core takes it as a peer (its hello then
    /// decides partial or full resync), the shell accepts its certificate and dials
    /// `addr` (`None`: the address remembered from its removal, else it must dial us),
    /// and the change is stored. Returns `false` when it is a peer already.
    pub async fn add_region(
        &self,
        state: &ServerState,
        id: RegionId,
        addr: Option<String>,
    ) -> Result<bool, MembershipChangeError> {
        if id == 0 || id == self.region {
            return Err(MembershipChangeError::Invalid(format!(
                "region {id} cannot be a peer of region {}",
                self.region
            )));
        }
        let mut m = self.membership.lock().await;
        if m.peers.contains_key(&id) {
            return Ok(false);
        }
        let addr = addr.or_else(|| m.removed.get(&id).and_then(|(a, _)| a.clone()));
        let sock = addr.as_deref().map(resolve).transpose()?;
        {
            let _st = state.store.lock();
            let mut core = self.core.lock();
            core.add_peer(id)
                .map_err(|e| MembershipChangeError::Invalid(e.to_string()))?;
        }
        self.net
            .add_peer(PeerConfig {
                region: id,
                addr: sock,
            })
            .map_err(|e| MembershipChangeError::Net(e.to_string()))?;
        self.notify.notify_one();
        m.removed.remove(&id);
        m.peers.insert(id, addr.clone());
        info!(peer = id, address = ?addr, "region added");
        m.save(&self.membership_path)?;
        Ok(true)
    }

    /// Removes peer region `id` at run time: the core drops it (its ops are refused
    /// from now on, also relayed ones; it leaves stability, GC, trimming and WAIT), the
    /// shell closes its link and refuses its certificate, and the change is stored.
    /// `purge`: forget its address too (a re-add must give it). Unless `force`, refused
    /// while some peer is not known to have applied the same ops of it as this region
    /// (stop it first and wait: see "Membership" in `replication::core`). Returns its
    /// cutoff, `None` when it was not a peer.
    pub async fn remove_region(
        &self,
        state: &ServerState,
        id: RegionId,
        purge: bool,
        force: bool,
    ) -> Result<Option<u64>, MembershipChangeError> {
        let mut m = self.membership.lock().await;
        let Some(addr) = m.peers.get(&id).cloned() else {
            if purge {
                if let Some((a, _)) = m.removed.get_mut(&id) {
                    *a = None;
                    m.save(&self.membership_path)?;
                }
            }
            return Ok(None);
        };
        let cutoff = {
            let st = state.store.lock();
            let mut core = self.core.lock();
            if !force {
                let status = core.status(&*st);
                let here = status.applied.get(id);
                if let Some(p) = status
                    .peers
                    .iter()
                    .find(|p| p.region != id && p.acked_applied.get(id) != here)
                {
                    return Err(MembershipChangeError::NotSpread(format!(
                        "region {id}'s ops have not reached every region: {here} applied here, region {} acknowledged {}; stop region {id}, wait until every region applied the same ops of it (status), or force",
                        p.region,
                        p.acked_applied.get(id)
                    )));
                }
            }
            core.remove_peer(id, &*st).unwrap_or(0)
        };
        // The link closes in the background: a graceful close to a peer that is down
        // waits up to the shell's close timeout. Its certificate is refused at once.
        let closing = self.net.remove(id);
        tokio::spawn(async move {
            if let Err(e) = closing.await {
                debug!(peer = id, error = %e, "region link already gone");
            }
        });
        self.notify.notify_one();
        m.peers.remove(&id);
        m.removed
            .insert(id, (if purge { None } else { addr }, cutoff));
        warn!(
            peer = id,
            purge, cutoff, "region removed: its ops beyond the cutoff are refused from now on"
        );
        m.save(&self.membership_path)?;
        Ok(Some(cutoff))
    }
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("region", &self.region)
            .field("writable", &self.writable())
            .finish()
    }
}

/// The store's sink: queues every local op for the replication task.
struct ReplSink(Arc<Replication>);

impl DeltaSink for ReplSink {
    fn emit(&mut self, op: &OpDelta, first_seq: u64) {
        let strip = self
            .0
            .drop_next_ops
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        let encoded = if strip {
            warn!(
                seq = op.dot.seq(),
                "test mode: replicating an op without its content"
            );
            crdt::codec::encode_op(&OpDelta {
                dot: op.dot,
                hlc: op.hlc,
                keys: Vec::new(),
            })
        } else {
            crdt::codec::encode_op(op)
        };
        let e = LogEntry {
            origin: op.dot.region(),
            first_seq,
            last_seq: op.dot.seq(),
            op: encoded,
        };
        let mut q = self.0.pending.lock();
        q.push_back(e);
        let first = q.len() == 1;
        if q.len() == PENDING_OPS_WARN {
            warn!(
                ops = q.len(),
                "replication task is falling behind local writes"
            );
        }
        drop(q);
        // One wake-up per batch: the task drains the whole queue when it runs.
        if first {
            self.0.notify.notify_one();
        }
    }
}

impl Forwarder for Replication {
    fn forward(&self, space: Space, channel: &Bytes, payload: &Bytes) {
        self.core
            .lock()
            .publish(channel, payload, matches!(space, Space::Shard));
        self.notify.notify_one();
    }
}

/// Start mode: a data directory that already ran a region of this cluster means the
/// region lost its (in-memory) data and must catch up before writing; so does a region
/// that joins a cluster with data (`join`).
fn start_mode(data_dir: &Path, region: RegionId, join: bool) -> anyhow::Result<Start> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data-dir {}", data_dir.display()))?;
    let marker = data_dir.join(format!("region-{region}.started"));
    if marker.exists() {
        return Ok(Start::LostHistory);
    }
    std::fs::write(&marker, b"this region has run from this data-dir\n")
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(if join {
        Start::LostHistory
    } else {
        Start::Fresh
    })
}

/// Starts the region link when the configuration has peers. Must run inside the runtime.
pub fn start(state: &Arc<ServerState>, cfg: &Config) -> anyhow::Result<Option<Arc<Replication>>> {
    if cfg.repl_port == 0 {
        if cfg.peers.0.is_empty() {
            if let Some(p) = state.persist.get() {
                p.no_replication();
            }
            return Ok(None);
        }
        return Err(anyhow!("peers are configured but repl-port is 0"));
    }
    let region = cfg.region_id as RegionId;
    if cfg.peers.0.iter().any(|p| p.region_id == region) {
        return Err(anyhow!("peers list this region's own id {region}"));
    }
    // Configured peers, then the changes stored at run time on top.
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data-dir {}", cfg.data_dir))?;
    let membership_path = membership::path(Path::new(&cfg.data_dir), region);
    let stored = Membership::load(&membership_path)?;
    let mut members = Membership::default();
    for p in &cfg.peers.0 {
        members.peers.insert(p.region_id, Some(p.address.clone()));
    }
    if let Some(stored) = &stored {
        for (&id, addr) in &stored.peers {
            members.peers.insert(id, addr.clone());
        }
        for (&id, removed) in &stored.removed {
            if members.peers.remove(&id).is_some() {
                info!(
                    peer = id,
                    "configured peer was removed at run time: left out"
                );
            }
            members.removed.insert(id, removed.clone());
        }
        members.peers.remove(&region);
        members.removed.remove(&region);
    }
    let tls_dir = Path::new(&cfg.repl_tls_dir);
    if cfg.repl_dev_certs {
        let ids = std::iter::once(region).chain(members.peers.keys().copied());
        certs::ensure_dev_certs(tls_dir, ids)
            .with_context(|| format!("cannot create dev certificates in {}", tls_dir.display()))?;
    }
    let tls = certs::load_tls(tls_dir, region).with_context(|| {
        format!(
            "cannot load TLS material for region {region} from {} (expected ca.pem, region-{region}.pem, region-{region}.key)",
            tls_dir.display()
        )
    })?;
    let mut peers = Vec::new();
    for (&id, address) in &members.peers {
        let addr = match address {
            Some(a) => Some(resolve(a).with_context(|| format!("peer {id}"))?),
            None => None,
        };
        peers.push(PeerConfig { region: id, addr });
    }
    let listen = format!("{}:{}", cfg.repl_bind, cfg.repl_port)
        .parse()
        .with_context(|| format!("bad repl-bind {}", cfg.repl_bind))?;
    let (net, events) = Net::start(NetConfig {
        region,
        listen,
        peers,
        tls,
        tuning: Tuning::default(),
    })
    .context("cannot start the region link")?;
    let persist = state.persist.get().cloned();
    // With persistence: restored state resumes with its replication id and op log.
    let (restored, log): (Option<Start>, NodeLog) = match &persist {
        Some(p) => {
            let (start, log) = p.replication_start();
            (start, Box::new(log))
        }
        None => (None, Box::new(MemLog::new())),
    };
    let start = match restored {
        Some(s) => s,
        None => start_mode(Path::new(&cfg.data_dir), region, cfg.repl_join)?,
    };
    let replication_id: u64 = match &persist {
        Some(p) => p.replication_id(),
        None => rand::random::<u64>() | 1,
    };
    if let (Some(p), Start::LostHistory) = (&persist, &start) {
        p.set_recovering_now(true)
            .context("cannot record the recovery state")?;
    }
    let peer_ids: Vec<RegionId> = members.peers.keys().copied().collect();
    let mut core_cfg = CoreConfig::new(region, peer_ids, replication_id);
    core_cfg.removed = members.removed.iter().map(|(&r, &(_, c))| (r, c)).collect();
    core_cfg.persistence = persist.is_some();
    // Retention: on disk with persistence; in memory (also bounded by
    // repl-backlog-memory) without.
    core_cfg.log_retention_bytes_max = if persist.is_some() {
        cfg.repl_backlog_size.bytes()
    } else {
        cfg.repl_backlog_size
            .bytes()
            .min(cfg.repl_backlog_memory.bytes())
    };
    core_cfg.log_retention_age_ms = cfg.repl_backlog_max_age_secs.saturating_mul(1000);
    let core = Replicator::new(core_cfg, log, start.clone())
        .map_err(|e| anyhow!("replication config: {e}"))?;
    let writable = {
        let st = state.store.lock();
        core.local_writes_allowed(&*st)
    };
    let shared = Arc::new(Replication {
        core: parking_lot::Mutex::new(core),
        pending: parking_lot::Mutex::new(VecDeque::new()),
        notify: Notify::new(),
        net,
        writable: AtomicBool::new(writable),
        region,
        drop_next_ops: AtomicU32::new(0),
        membership: tokio::sync::Mutex::new(members),
        membership_path,
    });
    state
        .store
        .lock()
        .set_sink(Box::new(ReplSink(shared.clone())));
    state.pubsub.set_forwarder(Some(shared.clone()));
    info!(
        region,
        repl_addr = %shared.net.local_addr(),
        start = ?start,
        "region link started"
    );
    let _ = state.repl.set(shared.clone());
    tokio::spawn(run(state.clone(), shared.clone(), events));
    Ok(Some(shared))
}

async fn run(
    state: Arc<ServerState>,
    shared: Arc<Replication>,
    mut events: mpsc::Receiver<NetEvent>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = state.shutdown_signal();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let flush = async {
            match flush_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let (first, do_tick) = tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => (Some(ev), false),
                None => break,
            },
            _ = shared.notify.notified() => (None, false),
            _ = tick.tick() => (None, true),
            _ = flush => (None, true),
            _ = shutdown.changed() => break,
        };
        if do_tick {
            flush_at = None;
        } else if flush_at.is_none() {
            flush_at = Some(tokio::time::Instant::now() + FLUSH_DELAY);
        }
        let outputs = step(&state, &shared, first, &mut events, do_tick);
        for out in outputs {
            match out {
                Output::Send { peer, msg } => match shared.net.try_send(peer, msg) {
                    Ok(()) => {}
                    Err(SendError::Full(_)) => {
                        warn!(peer, "send queue to peer full; closing the link to resync");
                        close_in_background(&shared.net, peer);
                    }
                    Err(e) => debug!(peer, error = %e, "send to peer failed"),
                },
                Output::Close { peer, reason } => {
                    warn!(peer, ?reason, "closing region link");
                    close_in_background(&shared.net, peer);
                }
                Output::Publish {
                    channel,
                    message,
                    shard,
                    ..
                } => {
                    let space = if shard { Space::Shard } else { Space::Global };
                    state
                        .pubsub
                        .publish_remote(space, Bytes::from(channel), Bytes::from(message));
                }
                Output::Event(e @ replication::core::Event::RemovedOriginRefused { .. }) => {
                    warn!(event = ?e, "refused ops of a removed region")
                }
                Output::Event(e @ replication::core::Event::OwnHistoryAhead { .. }) => {
                    warn!(event = ?e, "peers hold ops of this region it never applied: it started without its history (start a re-added region on an empty data-dir with repl-join yes); writes wait until it caught up")
                }
                Output::Event(e) => debug!(event = ?e, "replication"),
            }
        }
    }
    shared.net.shutdown().await;
}

/// Closes a link without stalling the replication task (a graceful close may wait up to
/// the shell's close timeout for a slow peer); the shell redials it with backoff.
fn close_in_background(net: &NetHandle, peer: RegionId) {
    let net = net.clone();
    tokio::spawn(async move {
        let _ = net.close(peer).await;
    });
}

/// One step of the core under the store and replicator locks; returns its outputs.
/// `tick`: also run the core's tick (send batches and acks, liveness, trimming, GC).
fn step(
    state: &ServerState,
    shared: &Replication,
    first: Option<NetEvent>,
    events: &mut mpsc::Receiver<NetEvent>,
    tick: bool,
) -> Vec<Output> {
    let mut st = state.store.lock();
    let mut core = shared.core.lock();
    let now = wall_ms();
    core.advance_clock(now);
    let pending: Vec<LogEntry> = shared.pending.lock().drain(..).collect();
    for e in pending {
        if let Err(err) = core.on_local_op(e) {
            warn!(error = %err, "replicator refused a local op");
        }
    }
    let mut ev = first;
    let mut handled = 0;
    while let Some(e) = ev.take() {
        match e {
            NetEvent::Connected { peer } => {
                info!(peer, "region link up");
                core.on_connected(peer, &*st)
            }
            NetEvent::Disconnected { peer } => {
                info!(peer, "region link down");
                core.on_disconnected(peer)
            }
            NetEvent::Message { peer, msg } => core.on_message(peer, msg, &mut *st),
        }
        handled += 1;
        if handled < EVENTS_PER_STEP_MAX {
            ev = events.try_recv().ok();
        }
    }
    if let Some(p) = state.persist.get() {
        if let Some(vv) = p.durable_vv(st.keyspace().applied()) {
            core.on_durable(&vv);
        }
        p.note_recovering(core.recovering());
    }
    if tick {
        core.on_tick(now, &mut *st);
    }
    // WAIT: blocked clients recount after every step (acks arrive in steps).
    if !st.blocking().is_empty() {
        for db in 0..crdt::keyspace::DATABASES as u8 {
            st.blocking().signal(db, crate::cmd::replication::WAIT_KEY);
        }
    }
    shared
        .writable
        .store(core.local_writes_allowed(&*st), Ordering::Relaxed);
    let mut out = Vec::new();
    while let Some(o) = core.poll_output() {
        out.push(o);
    }
    out
}
