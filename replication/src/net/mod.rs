//! The QUIC shell: region-to-region links over quinn + rustls (mutual TLS), driven by
//! tokio tasks, carrying [`Msg`]s between the replication cores of two regions.
//!
//! # Shape
//!
//! [`Net::start`] binds one UDP endpoint (server and client), spawns one task per
//! configured peer and one accept loop, and returns a [`NetHandle`] (cloneable) and a
//! bounded receiver of [`NetEvent`]s. For each peer there is at most one live connection:
//!
//! - **Who dials.** The region with the lower id dials; the other accepts. The higher id
//!   also dials when it has had no connection for [`Tuning::acceptor_dial_delay`] (one-way
//!   reachability, faster recovery after restarts). Duplicates are resolved the same way
//!   on both ends: a connection dialed by the lower id beats one dialed by the higher id;
//!   between two dialed by the same side, the newer wins (the older is stale). The loser
//!   is closed with code [`link::code::DUPLICATE`].
//! - **Streams.** Each connection has an ordered bidirectional *data* stream (`Ops`,
//!   `SnapshotBegin/Chunk/End`) and a *control* stream (`Hello`, `Ack`, `Heartbeat`,
//!   `Publish`), so acks and heartbeats never queue behind a large resync. Messages are
//!   [`crate::wire`] frames (length-prefixed envelopes; batches lz4-compressed, frame size
//!   bounded). Consecutive queued `Ops` are coalesced into ~1 MiB frames and large ones
//!   split (the receiver may see a batch in several `Message`s, in order).
//! - **Ordering.** Per stream, in order. Across streams, the first control message of a
//!   link (the peer's `Hello`) is delivered before any data message of that link. Per
//!   peer, events are `Connected`, that link's `Message`s, `Disconnected`, and so on.
//! - **Delivery.** Messages are sent on the link current when they are dequeued. While a
//!   peer is disconnected, queued and new messages for it are discarded (the core resends
//!   after the next `Hello` handshake), and `Connected` is emitted only after the queues
//!   were emptied, so everything sent after `Connected` goes on that new link. A QUIC ack
//!   is not an application ack: the core's `Ack` messages are.
//! - **Backpressure.** Per peer and stream, the send queue holds
//!   [`Tuning::send_queue_msgs`] messages: [`NetHandle::send`] waits for room,
//!   [`NetHandle::try_send`] reports [`SendError::Full`]. Readers wait for room in the
//!   event queue ([`Tuning::event_queue`]), which stops reading and lets QUIC flow control
//!   push back on the sender. Do not `.await` `send` in the task that consumes events
//!   unless it also keeps consuming (use `try_send` or `select!`).
//! - **Failures.** A TLS failure (wrong CA, wrong region id) refuses the connection and is
//!   logged and counted ([`NetStats::handshakes_refused`]); a malformed frame closes the
//!   connection ([`link::code::PROTOCOL`]) and is logged and counted. Lost connections are
//!   redialed with exponential backoff and jitter ([`Tuning::backoff_initial`] doubling
//!   up to [`Tuning::backoff_max`], each wait drawn in `[d/2, d]`).
//!
//! # Transport numbers (WAN)
//!
//! Sized for 200 ms RTT at ~100 MB/s: bandwidth-delay product = 100 MB/s × 0.2 s =
//! 20 MB. Per-stream receive window 24 MiB (≥ BDP, so one stream alone can fill the
//! pipe), connection receive window and send window 48 MiB (both streams). Keep-alive
//! every 5 s, idle timeout 30 s (keep-alive well below the idle timeout; quinn negotiates
//! the smaller idle timeout of the two sides). TLS 1.3 only, no 0-RTT. See [`Tuning`].

pub mod certs;
pub mod link;
mod peer;
pub mod tls;

use crate::msg::Msg;
use crdt::RegionId;
use link::code;
use peer::{PeerCtl, PeerTask};
use quinn::{Endpoint, EndpointConfig, TransportConfig, VarInt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

pub use tls::{region_dns_name, TlsMaterial};

/// One configured peer region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's region id.
    pub region: RegionId,
    /// Its QUIC address. `None`: this region only accepts from it (it must dial us).
    pub addr: Option<SocketAddr>,
}

/// Sizes and times of the shell. [`Tuning::default`] is sized for WAN links (see the
/// module docs for the arithmetic).
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Per-stream receive window: 24 MiB (≥ the 20 MB bandwidth-delay product).
    pub stream_receive_window_bytes: u32,
    /// Connection receive window: 48 MiB (two streams).
    pub conn_receive_window_bytes: u32,
    /// Connection send window: 48 MiB.
    pub send_window_bytes: u64,
    /// Keep-alive interval: 5 s (below the idle timeout).
    pub keep_alive: Duration,
    /// Idle timeout: 30 s.
    pub idle_timeout: Duration,
    /// First reconnect wait: 100 ms.
    pub backoff_initial: Duration,
    /// Longest reconnect wait: 10 s.
    pub backoff_max: Duration,
    /// A link that lived at least this long resets the backoff: 10 s.
    pub backoff_reset_after: Duration,
    /// The higher region id also dials after this long without a link: 3 s.
    pub acceptor_dial_delay: Duration,
    /// Bound on QUIC + TLS handshake plus stream setup: 10 s.
    pub handshake_timeout: Duration,
    /// Bound on a graceful close (flush, finish, wait for the peer's acknowledgement): 10 s.
    pub close_timeout: Duration,
    /// Messages queued per peer and stream: 1024.
    pub send_queue_msgs: usize,
    /// Events queued for the consumer: 4096.
    pub event_queue: usize,
    /// Handshakes in progress at once (accepting side): 64.
    pub max_pending_handshakes: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            stream_receive_window_bytes: 24 << 20,
            conn_receive_window_bytes: 48 << 20,
            send_window_bytes: 48 << 20,
            keep_alive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            backoff_reset_after: Duration::from_secs(10),
            acceptor_dial_delay: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(10),
            send_queue_msgs: 1024,
            event_queue: 4096,
            max_pending_handshakes: 64,
        }
    }
}

/// Configuration of the shell.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// This region's id.
    pub region: RegionId,
    /// UDP address to bind (port 0: ephemeral, see [`NetHandle::local_addr`]).
    pub listen: SocketAddr,
    /// Peer regions.
    pub peers: Vec<PeerConfig>,
    /// This region's certificate, key and the cluster CA.
    pub tls: TlsMaterial,
    /// Windows, timeouts, queue bounds.
    pub tuning: Tuning,
}

/// What the shell reports, in order per peer.
#[derive(Clone, Debug, PartialEq)]
pub enum NetEvent {
    /// A link to `peer` is up (send `Hello`).
    Connected {
        /// The peer region.
        peer: RegionId,
    },
    /// The link to `peer` is down; nothing more arrives from it until `Connected`.
    Disconnected {
        /// The peer region.
        peer: RegionId,
    },
    /// A message from `peer`.
    Message {
        /// The peer region.
        peer: RegionId,
        /// The message.
        msg: Msg,
    },
}

/// Why the shell could not start.
#[derive(Debug, Error)]
pub enum NetError {
    /// TLS material unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Binding the UDP socket failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Bad configuration.
    #[error("config: {0}")]
    Config(String),
}

/// Why a message was not queued.
#[derive(Debug, Error, PartialEq)]
pub enum SendError {
    /// The peer's queue is full (try again later); the message is handed back.
    #[error("send queue to the peer is full")]
    Full(Box<Msg>),
    /// Not a configured peer.
    #[error("unknown peer region {0}")]
    UnknownPeer(RegionId),
    /// The peer was removed with `remove` or the shell shut down.
    #[error("link to the peer is closed")]
    Closed,
}

/// Counters of the shell (monotonic).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub handshakes_refused: Arc<AtomicU64>,
    pub protocol_errors: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub send_dropped: AtomicU64,
    pub connects: AtomicU64,
}

/// A snapshot of the shell's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// TLS handshakes refused (wrong CA, wrong or unknown region id), either side.
    pub handshakes_refused: u64,
    /// Connections closed for malformed frames.
    pub protocol_errors: u64,
    /// Frames written.
    pub frames_sent: u64,
    /// Frames read.
    pub frames_received: u64,
    /// Frame bytes written (after compression).
    pub bytes_sent: u64,
    /// Frame bytes read.
    pub bytes_received: u64,
    /// Messages dropped because one element exceeded the frame bound.
    pub send_dropped: u64,
    /// Links that became active.
    pub connects: u64,
}

/// Whether a message travels on the control stream (else the data stream).
pub fn is_control(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Hello { .. } | Msg::Ack { .. } | Msg::Heartbeat { .. } | Msg::Publish { .. }
    )
}

struct PeerHandle {
    ctrl: mpsc::Sender<Msg>,
    data: mpsc::Sender<Msg>,
    ctl: mpsc::Sender<PeerCtl>,
}

/// The current peers: their handles, and the ids the TLS verifier accepts. Shared by
/// the handle, the accept loop and the verifier; changed by `add_peer` / `remove`.
#[derive(Default)]
struct Registry {
    handles: std::sync::RwLock<HashMap<RegionId, PeerHandle>>,
    ids: Arc<std::sync::RwLock<Vec<RegionId>>>,
}

impl Registry {
    fn ctl(&self, peer: RegionId) -> Option<mpsc::Sender<PeerCtl>> {
        let h = self.handles.read().ok()?;
        h.get(&peer).map(|h| h.ctl.clone())
    }

    fn ids(&self) -> Vec<RegionId> {
        self.ids.read().map(|v| v.clone()).unwrap_or_default()
    }
}

struct Inner {
    region: RegionId,
    endpoint: Endpoint,
    local_addr: SocketAddr,
    registry: Arc<Registry>,
    /// What a peer task added at run time needs.
    events: mpsc::Sender<NetEvent>,
    tuning: Tuning,
    stats: Arc<Stats>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    /// The last handle dropped without [`NetHandle::shutdown`]: stop everything now.
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
        self.endpoint
            .close(VarInt::from_u32(code::NORMAL), b"dropped");
    }
}

/// Handle to a running shell (cheap to clone).
#[derive(Clone)]
pub struct NetHandle {
    inner: Arc<Inner>,
}

/// The shell's entry point.
pub struct Net;

fn transport(t: &Tuning) -> Result<TransportConfig, NetError> {
    let mut tc = TransportConfig::default();
    tc.stream_receive_window(VarInt::from_u32(t.stream_receive_window_bytes))
        .receive_window(VarInt::from_u32(t.conn_receive_window_bytes))
        .send_window(t.send_window_bytes)
        .keep_alive_interval(Some(t.keep_alive))
        .max_idle_timeout(Some(
            t.idle_timeout
                .try_into()
                .map_err(|_| NetError::Config("idle timeout too large".into()))?,
        ))
        // Two bidirectional streams per link; a little slack for a racing reopen.
        .max_concurrent_bidi_streams(VarInt::from_u32(4))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None);
    if t.keep_alive >= t.idle_timeout {
        return Err(NetError::Config(
            "keep-alive must be below the idle timeout".into(),
        ));
    }
    Ok(tc)
}

impl Net {
    /// Binds the endpoint and starts the peer tasks. Must run inside a tokio runtime.
    pub fn start(config: NetConfig) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
        let t = config.tuning;
        if config.region == 0 {
            return Err(NetError::Config("region id 0 is reserved".into()));
        }
        let mut ids: Vec<RegionId> = config.peers.iter().map(|p| p.region).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) || ids.contains(&config.region) || ids.contains(&0)
        {
            return Err(NetError::Config(
                "peer ids must be distinct, non-zero and not this region".into(),
            ));
        }
        if t.send_queue_msgs == 0 || t.event_queue == 0 || t.max_pending_handshakes == 0 {
            return Err(NetError::Config("queue bounds must be positive".into()));
        }
        let stats = Arc::new(Stats::default());
        let transport = Arc::new(transport(&t)?);
        let registry = Arc::new(Registry::default());
        *registry.ids.write().expect("fresh lock") = ids.clone();
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls::server_crypto(
            &config.tls,
            registry.ids.clone(),
            stats.handshakes_refused.clone(),
        )?));
        server.transport_config(transport.clone());
        let mut client = quinn::ClientConfig::new(Arc::new(tls::client_crypto(&config.tls)?));
        client.transport_config(transport);
        let socket = std::net::UdpSocket::bind(config.listen).map_err(|source| NetError::Bind {
            addr: config.listen,
            source,
        })?;
        let endpoint_cfg = EndpointConfig::new(Arc::new(tls::reset_key(&config.tls)));
        let mut endpoint = Endpoint::new(
            endpoint_cfg,
            Some(server),
            socket,
            quinn::default_runtime().ok_or_else(|| NetError::Config("no async runtime".into()))?,
        )
        .map_err(|source| NetError::Bind {
            addr: config.listen,
            source,
        })?;
        endpoint.set_default_client_config(client);
        let local_addr = endpoint.local_addr().map_err(|source| NetError::Bind {
            addr: config.listen,
            source,
        })?;
        let (events_tx, events_rx) = mpsc::channel(t.event_queue);
        let tasks = vec![tokio::spawn(accept_loop(
            endpoint.clone(),
            registry.clone(),
            Arc::new(Semaphore::new(t.max_pending_handshakes)),
            t,
            stats.clone(),
        ))];
        let handle = NetHandle {
            inner: Arc::new(Inner {
                region: config.region,
                endpoint,
                local_addr,
                registry,
                events: events_tx,
                tuning: t,
                stats,
                tasks: std::sync::Mutex::new(tasks),
            }),
        };
        for p in &config.peers {
            handle.spawn_peer(p);
        }
        tracing::info!(region = config.region, %local_addr, "region links listening");
        Ok((handle, events_rx))
    }
}

async fn accept_loop(
    endpoint: Endpoint,
    registry: Arc<Registry>,
    limit: Arc<Semaphore>,
    t: Tuning,
    stats: Arc<Stats>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(remote = %incoming.remote_address(), "region link refused: too many handshakes in progress");
            incoming.refuse();
            continue;
        };
        let registry = registry.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let remote = incoming.remote_address();
            let setup = async {
                let conn = incoming.await?;
                let region =
                    peer_region(&conn, &registry.ids()).ok_or(link::LinkError::WrongRegion(0))?;
                let link = link::accept_streams(conn, region).await;
                Ok::<_, link::LinkError>((region, link))
            };
            match tokio::time::timeout(t.handshake_timeout, setup).await {
                Ok(Ok((region, Ok(link)))) => {
                    let Some(ctl) = registry.ctl(region) else {
                        link.conn
                            .close(VarInt::from_u32(code::REFUSED), b"unknown peer");
                        return;
                    };
                    let conn = link.conn.clone();
                    if ctl.send(PeerCtl::NewConn(link)).await.is_err() {
                        tracing::info!(peer = region, "region link refused: peer was closed");
                        conn.close(VarInt::from_u32(code::REFUSED), b"closed");
                    }
                }
                Ok(Ok((region, Err(e)))) => {
                    tracing::warn!(peer = region, %remote, error = %e, "region link: stream setup failed")
                }
                Ok(Err(e)) => {
                    if matches!(e, link::LinkError::WrongRegion(_)) {
                        stats.handshakes_refused.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::warn!(%remote, error = %e, "region link: incoming handshake failed")
                }
                Err(_) => tracing::warn!(%remote, "region link: incoming handshake timed out"),
            }
        });
    }
}

/// The peer region a connection's (verified) client certificate names.
fn peer_region(conn: &quinn::Connection, peers: &[RegionId]) -> Option<RegionId> {
    let id = conn.peer_identity()?;
    let certs = id
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    tls::cert_region(certs.first()?, peers)
}

impl NetHandle {
    /// This region's id.
    pub fn region(&self) -> RegionId {
        self.inner.region
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    fn queue(&self, peer: RegionId, msg: &Msg) -> Result<mpsc::Sender<Msg>, SendError> {
        let handles = self
            .inner
            .registry
            .handles
            .read()
            .map_err(|_| SendError::Closed)?;
        let h = handles.get(&peer).ok_or(SendError::UnknownPeer(peer))?;
        Ok(if is_control(msg) {
            h.ctrl.clone()
        } else {
            h.data.clone()
        })
    }

    /// Starts the task of one peer and registers it (its certificate is accepted from
    /// now on). The caller checked that it is not a peer yet.
    fn spawn_peer(&self, p: &PeerConfig) {
        let t = self.inner.tuning;
        let (ctrl_tx, ctrl_rx) = mpsc::channel(t.send_queue_msgs);
        let (data_tx, data_rx) = mpsc::channel(t.send_queue_msgs);
        let (ctl_tx, ctl_rx) = mpsc::channel(8);
        let task = PeerTask {
            me: self.inner.region,
            peer: p.region,
            addr: p.addr,
            endpoint: self.inner.endpoint.clone(),
            events: self.inner.events.clone(),
            ctrl_rx: Some(ctrl_rx),
            data_rx: Some(data_rx),
            ctl_rx,
            stats: self.inner.stats.clone(),
            tuning: t,
            disconnect_pending: false,
        };
        let handle = PeerHandle {
            ctrl: ctrl_tx,
            data: data_tx,
            ctl: ctl_tx,
        };
        if let Ok(mut h) = self.inner.registry.handles.write() {
            h.insert(p.region, handle);
        }
        if let Ok(mut ids) = self.inner.registry.ids.write() {
            if !ids.contains(&p.region) {
                ids.push(p.region);
            }
        }
        let join = tokio::spawn(task.run());
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(join);
        }
    }

    /// Adds a peer region at run time: its certificate is accepted from now on and a
    /// task dials it (when `addr` is set) or waits for it to dial. Returns `false` when
    /// it is a peer already. Must run inside the runtime.
    pub fn add_peer(&self, p: PeerConfig) -> Result<bool, NetError> {
        if p.region == 0 || p.region == self.inner.region {
            return Err(NetError::Config(format!(
                "region {} cannot be a peer of region {}",
                p.region, self.inner.region
            )));
        }
        if self.peers().contains(&p.region) {
            return Ok(false);
        }
        self.spawn_peer(&p);
        tracing::info!(peer = p.region, addr = ?p.addr, "region link: peer added");
        Ok(true)
    }

    /// The current peer regions.
    pub fn peers(&self) -> Vec<RegionId> {
        self.inner.registry.ids()
    }

    /// Queues `msg` for `peer`, waiting while the queue is full.
    pub async fn send(&self, peer: RegionId, msg: Msg) -> Result<(), SendError> {
        self.queue(peer, &msg)?
            .send(msg)
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Queues `msg` for `peer` if there is room now.
    pub fn try_send(&self, peer: RegionId, msg: Msg) -> Result<(), SendError> {
        self.queue(peer, &msg)?.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(m) => SendError::Full(Box::new(m)),
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Closes the current link to `peer` gracefully: what is already queued is written,
    /// the streams are finished and their delivery to the peer awaited (bounded by
    /// [`Tuning::close_timeout`]) before the connection is closed and `Disconnected` is
    /// emitted. The link is then re-established as after any loss (backoff, redial), so
    /// this is how the core forces a fresh handshake/resync.
    pub async fn close(&self, peer: RegionId) -> Result<(), SendError> {
        let ctl = self
            .inner
            .registry
            .ctl(peer)
            .ok_or(SendError::UnknownPeer(peer))?;
        Self::close_via(&ctl, false).await
    }

    /// Closes the link to `peer` as [`NetHandle::close`] and stops the peer for good
    /// (region removed): no redial, its certificate is refused from now on (the TLS
    /// verifier no longer lists it), sends to it fail with [`SendError::UnknownPeer`].
    /// It can be added again with [`NetHandle::add_peer`].
    ///
    /// The peer leaves the registry (certificate refused, `add_peer` possible again) when
    /// this is called; the returned future closes the link and may be awaited elsewhere.
    pub fn remove(
        &self,
        peer: RegionId,
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send + 'static {
        // Refuse new handshakes at once, then stop the task (which closes the link).
        if let Ok(mut ids) = self.inner.registry.ids.write() {
            ids.retain(|&r| r != peer);
        }
        let ctl = self.inner.registry.ctl(peer);
        let registry = self.inner.registry.clone();
        async move {
            let ctl = ctl.ok_or(SendError::UnknownPeer(peer))?;
            let r = Self::close_via(&ctl, true).await;
            // Unregister it unless it was added again meanwhile (a new task and handle).
            if let Ok(mut h) = registry.handles.write() {
                if h.get(&peer).is_some_and(|x| x.ctl.same_channel(&ctl)) {
                    h.remove(&peer);
                }
            }
            r
        }
    }

    async fn close_via(ctl: &mpsc::Sender<PeerCtl>, permanent: bool) -> Result<(), SendError> {
        let (done, rx) = oneshot::channel();
        ctl.send(PeerCtl::Close { done, permanent })
            .await
            .map_err(|_| SendError::Closed)?;
        rx.await.map_err(|_| SendError::Closed)
    }

    /// Removes every peer gracefully (as [`NetHandle::remove`]), then closes the endpoint.
    pub async fn shutdown(&self) {
        let peers: Vec<RegionId> = self.peers();
        let closes = peers.iter().map(|&p| {
            let h = self.clone();
            async move { h.remove(p).await }
        });
        for r in futures_join_all(closes).await {
            let _ = r;
        }
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().expect("tasks lock"));
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        self.inner
            .endpoint
            .close(VarInt::from_u32(code::NORMAL), b"shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.inner.endpoint.wait_idle()).await;
    }

    /// Counters.
    pub fn stats(&self) -> NetStats {
        let s = &self.inner.stats;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NetStats {
            handshakes_refused: l(&s.handshakes_refused),
            protocol_errors: l(&s.protocol_errors),
            frames_sent: l(&s.frames_sent),
            frames_received: l(&s.frames_received),
            bytes_sent: l(&s.bytes_sent),
            bytes_received: l(&s.bytes_received),
            send_dropped: l(&s.send_dropped),
            connects: l(&s.connects),
        }
    }
}

/// Awaits every future concurrently (small helper; avoids a `futures` dependency).
async fn futures_join_all<F>(fs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in fs.into_iter().enumerate() {
        set.spawn(async move { (i, f.await) });
    }
    let mut out: Vec<(usize, F::Output)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            out.push(v);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, v)| v).collect()
}
