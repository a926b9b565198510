//! Pub/sub delivery: the registry of channel, pattern and shard-channel subscriptions
//! ([`PubSub`], one per server) and each subscribed connection's mailbox
//! ([`Subscriptions`]).
//!
//! # Delivery
//!
//! A publisher looks up the receivers under a read lock and sends each a [`Message`]
//! through its connection's tokio mpsc channel; the connection task encodes the
//! message (RESP2 array or RESP3 `>` push) and writes it between replies, so a message
//! never interleaves with a reply. Payloads are shared (`Bytes`), never copied per
//! receiver.
//!
//! # Bounds
//!
//! Every mailbox counts the bytes queued for it. A publisher that would push a
//! mailbox past the `pubsub` class of `client-output-buffer-limit` (hard limit, or
//! soft limit for longer than its seconds) marks it overflowed and kills its client,
//! as Redis does with a slow subscriber; the message is dropped for that client only.
//! With both limits 0 a mailbox still holds at most [`MAX_QUEUED_MESSAGES`].
//!
//! # Replication seam
//!
//! [`PubSub::publish`] is what PUBLISH calls: it delivers locally
//! ([`PubSub::publish_local`]) and hands the message to the [`Forwarder`], if one is
//! installed ([`PubSub::set_forwarder`]), which ships it to the other regions (best
//! effort: the DESIGN contract). A message arriving from another region is injected
//! with [`PubSub::publish_remote`], which delivers locally and never forwards again.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
        Arc,
    },
    time::Instant,
};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use super::ClientHandle;
use crate::{config::ClassLimit, glob::glob_match, resp::Reply};

/// Upper bound of messages queued for one subscriber, whatever the byte limits.
pub const MAX_QUEUED_MESSAGES: usize = 1 << 20;
/// Bytes charged per queued message on top of its payload and names.
const MESSAGE_OVERHEAD: usize = 48;

/// Which namespace a channel lives in: PUBLISH/SUBSCRIBE channels or the shard channels
/// of SPUBLISH/SSUBSCRIBE (separate namespaces, as in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// PUBLISH, SUBSCRIBE, PSUBSCRIBE.
    Global,
    /// SPUBLISH, SSUBSCRIBE.
    Shard,
}

/// One message on its way to one subscriber.
#[derive(Debug, Clone)]
pub enum Message {
    /// Through a channel subscription (`message`).
    Message {
        /// Channel.
        channel: Bytes,
        /// Payload.
        payload: Bytes,
    },
    /// Through a pattern subscription (`pmessage`).
    PMessage {
        /// The pattern that matched.
        pattern: Bytes,
        /// Channel.
        channel: Bytes,
        /// Payload.
        payload: Bytes,
    },
    /// Through a shard channel subscription (`smessage`).
    SMessage {
        /// Shard channel.
        channel: Bytes,
        /// Payload.
        payload: Bytes,
    },
}

impl Message {
    fn cost(&self) -> usize {
        MESSAGE_OVERHEAD
            + match self {
                Message::Message { channel, payload } | Message::SMessage { channel, payload } => {
                    channel.len() + payload.len()
                }
                Message::PMessage {
                    pattern,
                    channel,
                    payload,
                } => pattern.len() + channel.len() + payload.len(),
            }
    }

    /// The frame a client receives: `[message, channel, payload]` and so on, a RESP3
    /// push (a plain array in RESP2).
    pub fn to_reply(&self) -> Reply {
        match self {
            Message::Message { channel, payload } => Reply::Push(vec![
                Reply::bulk_str("message"),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ]),
            Message::PMessage {
                pattern,
                channel,
                payload,
            } => Reply::Push(vec![
                Reply::bulk_str("pmessage"),
                Reply::Bulk(pattern.clone()),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ]),
            Message::SMessage { channel, payload } => Reply::Push(vec![
                Reply::bulk_str("smessage"),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ]),
        }
    }
}

/// The sending side of one subscriber's queue, shared by the registry entries of all
/// its subscriptions.
#[derive(Debug)]
pub struct Mailbox {
    id: u64,
    tx: mpsc::UnboundedSender<Message>,
    handle: Arc<ClientHandle>,
    queued_bytes: AtomicUsize,
    queued_msgs: AtomicUsize,
    /// Milliseconds since `epoch` + 1 when the soft limit was first exceeded (0: not).
    over_soft_since: AtomicU64,
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
    overflowed: AtomicBool,
    epoch: Instant,
}

impl Mailbox {
    /// The client id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Updates the limits (the connection refreshes them from the live config).
    pub fn set_limit(&self, l: ClassLimit) {
        self.hard.store(l.hard, Relaxed);
        self.soft.store(l.soft, Relaxed);
        self.soft_seconds.store(l.soft_seconds, Relaxed);
    }

    /// True once a publisher found this subscriber over its output limits (the client
    /// was killed).
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Relaxed)
    }

    /// Bytes queued and not yet taken by the connection.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Relaxed)
    }

    fn overflow(&self) {
        self.overflowed.store(true, Relaxed);
        self.handle.kill();
    }

    /// Queues `msg` unless that breaks the limits (then the client is killed).
    /// Returns whether the message was queued.
    fn deliver(&self, msg: Message) -> bool {
        if self.overflowed() {
            return false;
        }
        let cost = msg.cost();
        let bytes = self.queued_bytes.fetch_add(cost, Relaxed) + cost;
        let msgs = self.queued_msgs.fetch_add(1, Relaxed) + 1;
        let hard = self.hard.load(Relaxed);
        let soft = self.soft.load(Relaxed);
        let mut over = msgs > MAX_QUEUED_MESSAGES || (hard > 0 && bytes as u64 > hard);
        if !over && soft > 0 && bytes as u64 > soft {
            let now = self.epoch.elapsed().as_millis() as u64 + 1;
            match self.over_soft_since.load(Relaxed) {
                0 => self.over_soft_since.store(now, Relaxed),
                since => over = now - since >= self.soft_seconds.load(Relaxed) * 1000,
            }
        } else if !over {
            self.over_soft_since.store(0, Relaxed);
        }
        if over || self.tx.send(msg).is_err() {
            self.taken(cost);
            if over {
                self.overflow();
            }
            return false;
        }
        true
    }

    fn taken(&self, cost: usize) {
        self.queued_bytes.fetch_sub(cost, Relaxed);
        self.queued_msgs.fetch_sub(1, Relaxed);
    }
}

/// Ships local publishes to the other regions (installed by replication).
pub trait Forwarder: Send + Sync {
    /// A message PUBLISHed (or SPUBLISHed) in this region. Must not block: queue it
    /// (bounded) and return; dropping it when the queue is full is allowed (best effort).
    fn forward(&self, space: Space, channel: &Bytes, payload: &Bytes);
}

type Subscribers = HashMap<u64, Arc<Mailbox>>;

#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Bytes, Subscribers>,
    patterns: HashMap<Bytes, Subscribers>,
    shard: HashMap<Bytes, Subscribers>,
}

impl Registry {
    fn space(&mut self, space: Space) -> &mut HashMap<Bytes, Subscribers> {
        match space {
            Space::Global => &mut self.channels,
            Space::Shard => &mut self.shard,
        }
    }
}

/// The server's pub/sub registry (see module docs).
pub struct PubSub {
    reg: RwLock<Registry>,
    forwarder: RwLock<Option<Arc<dyn Forwarder>>>,
    epoch: Instant,
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.reg.read();
        f.debug_struct("PubSub")
            .field("channels", &r.channels.len())
            .field("patterns", &r.patterns.len())
            .field("shard_channels", &r.shard.len())
            .finish()
    }
}

impl Default for PubSub {
    fn default() -> Self {
        Self::new()
    }
}

fn remove(map: &mut HashMap<Bytes, Subscribers>, name: &[u8], id: u64) {
    if let Some(subs) = map.get_mut(name) {
        subs.remove(&id);
        if subs.is_empty() {
            map.remove(name);
        }
    }
}

impl PubSub {
    /// An empty registry without a forwarder.
    pub fn new() -> Self {
        PubSub {
            reg: RwLock::new(Registry::default()),
            forwarder: RwLock::new(None),
            epoch: Instant::now(),
        }
    }

    /// Installs (or removes) the forwarder that ships local publishes to other regions.
    pub fn set_forwarder(&self, f: Option<Arc<dyn Forwarder>>) {
        *self.forwarder.write() = f;
    }

    /// PUBLISH / SPUBLISH: delivers to this region's subscribers and forwards to the
    /// other regions. Returns the number of local receivers (Redis' reply).
    pub fn publish(&self, space: Space, channel: Bytes, payload: Bytes) -> usize {
        let n = self.publish_local(space, channel.clone(), payload.clone());
        if let Some(f) = self.forwarder.read().as_ref() {
            f.forward(space, &channel, &payload);
        }
        n
    }

    /// The injection point for a message published in another region: delivers it
    /// here, never forwards it again. Returns the number of local receivers.
    pub fn publish_remote(&self, space: Space, channel: Bytes, payload: Bytes) -> usize {
        self.publish_local(space, channel, payload)
    }

    /// Delivers to this region's subscribers only: channel subscribers, then (global
    /// space) every matching pattern's subscribers. Returns how many deliveries were
    /// made (a client subscribed through a channel and a pattern counts twice).
    pub fn publish_local(&self, space: Space, channel: Bytes, payload: Bytes) -> usize {
        let reg = self.reg.read();
        let mut n = 0;
        let direct = match space {
            Space::Global => reg.channels.get(&channel),
            Space::Shard => reg.shard.get(&channel),
        };
        if let Some(subs) = direct {
            for mb in subs.values() {
                let msg = match space {
                    Space::Global => Message::Message {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    },
                    Space::Shard => Message::SMessage {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    },
                };
                mb.deliver(msg);
                n += 1;
            }
        }
        if space == Space::Global {
            for (pattern, subs) in &reg.patterns {
                if !glob_match(pattern, &channel, false) {
                    continue;
                }
                for mb in subs.values() {
                    mb.deliver(Message::PMessage {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    });
                    n += 1;
                }
            }
        }
        n
    }

    /// Adds a channel subscription.
    pub fn subscribe(&self, space: Space, channel: &Bytes, mb: &Arc<Mailbox>) {
        self.reg
            .write()
            .space(space)
            .entry(channel.clone())
            .or_default()
            .insert(mb.id, mb.clone());
    }

    /// Removes a channel subscription.
    pub fn unsubscribe(&self, space: Space, channel: &[u8], id: u64) {
        remove(self.reg.write().space(space), channel, id);
    }

    /// Adds a pattern subscription.
    pub fn psubscribe(&self, pattern: &Bytes, mb: &Arc<Mailbox>) {
        self.reg
            .write()
            .patterns
            .entry(pattern.clone())
            .or_default()
            .insert(mb.id, mb.clone());
    }

    /// Removes a pattern subscription.
    pub fn punsubscribe(&self, pattern: &[u8], id: u64) {
        remove(&mut self.reg.write().patterns, pattern, id);
    }

    /// Removes every subscription of a client (it disconnected or sent RESET).
    pub fn remove_all(&self, subs: &Subscriptions) {
        if subs.total() == 0 {
            return;
        }
        let id = subs.mailbox.id;
        let mut reg = self.reg.write();
        for c in &subs.channels {
            remove(&mut reg.channels, c, id);
        }
        for p in &subs.patterns {
            remove(&mut reg.patterns, p, id);
        }
        for c in &subs.shard {
            remove(&mut reg.shard, c, id);
        }
    }

    /// Channels with at least one subscriber, optionally filtered by a glob pattern
    /// (PUBSUB CHANNELS / SHARDCHANNELS).
    pub fn channels(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let reg = self.reg.read();
        let map = match space {
            Space::Global => &reg.channels,
            Space::Shard => &reg.shard,
        };
        map.keys()
            .filter(|c| pattern.map_or(true, |p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Number of subscribers of a channel (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn numsub(&self, space: Space, channel: &[u8]) -> usize {
        let reg = self.reg.read();
        let map = match space {
            Space::Global => &reg.channels,
            Space::Shard => &reg.shard,
        };
        map.get(channel).map_or(0, |s| s.len())
    }

    /// Number of distinct patterns subscribed to (PUBSUB NUMPAT).
    pub fn numpat(&self) -> usize {
        self.reg.read().patterns.len()
    }

    /// Counts for INFO: (channels, patterns, shard channels).
    pub fn counts(&self) -> (usize, usize, usize) {
        let r = self.reg.read();
        (r.channels.len(), r.patterns.len(), r.shard.len())
    }
}

/// One connection's subscriptions and the receiving side of its mailbox.
#[derive(Debug)]
pub struct Subscriptions {
    /// The sending side, registered under every subscription.
    pub mailbox: Arc<Mailbox>,
    rx: mpsc::UnboundedReceiver<Message>,
    /// Channels (SUBSCRIBE).
    pub channels: HashSet<Bytes>,
    /// Patterns (PSUBSCRIBE).
    pub patterns: HashSet<Bytes>,
    /// Shard channels (SSUBSCRIBE).
    pub shard: HashSet<Bytes>,
}

impl Subscriptions {
    /// An empty subscription set with a fresh mailbox for `handle`'s client.
    pub fn new(handle: Arc<ClientHandle>, limit: ClassLimit, epoch: &PubSub) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let mailbox = Arc::new(Mailbox {
            id: handle.id,
            tx,
            handle,
            queued_bytes: AtomicUsize::new(0),
            queued_msgs: AtomicUsize::new(0),
            over_soft_since: AtomicU64::new(0),
            hard: AtomicU64::new(limit.hard),
            soft: AtomicU64::new(limit.soft),
            soft_seconds: AtomicU64::new(limit.soft_seconds),
            overflowed: AtomicBool::new(false),
            epoch: epoch.epoch,
        });
        Subscriptions {
            mailbox,
            rx,
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
        }
    }

    /// Channel and pattern subscriptions (the count SUBSCRIBE and friends report).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription, shard channels included: the client is in pub/sub mode
    /// while this is not 0.
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }

    /// Whether the client still wants `msg` (it may have unsubscribed after the
    /// message was queued: Redis never delivers after the unsubscribe reply).
    fn wanted(&self, msg: &Message) -> bool {
        match msg {
            Message::Message { channel, .. } => self.channels.contains(channel),
            Message::PMessage { pattern, .. } => self.patterns.contains(pattern),
            Message::SMessage { channel, .. } => self.shard.contains(channel),
        }
    }

    /// Takes one received message off the queue and returns its frame, or `None` when
    /// the client no longer subscribes to it.
    pub fn accept(&self, msg: Message) -> Option<Reply> {
        self.mailbox.taken(msg.cost());
        self.wanted(&msg).then(|| msg.to_reply())
    }

    /// Moves queued messages (without waiting) into frames, until about `max_bytes`
    /// of messages were taken. Returns the frames.
    pub fn drain(&mut self, max_bytes: usize) -> Vec<Reply> {
        let mut out = Vec::new();
        let mut taken = 0;
        while taken < max_bytes {
            let Ok(msg) = self.rx.try_recv() else { break };
            taken += msg.cost();
            out.extend(self.accept(msg));
        }
        out
    }

    /// Waits for the next message (cancel-safe).
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn subscriber(ps: &PubSub, id: u64, limit: ClassLimit) -> Subscriptions {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let handle = Arc::new(ClientHandle::new(id, addr, addr, -1));
        Subscriptions::new(handle, limit, ps)
    }

    const NO_LIMIT: ClassLimit = ClassLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn channels_patterns_and_shards() {
        let ps = PubSub::new();
        let mut a = subscriber(&ps, 1, NO_LIMIT);
        let mut c = subscriber(&ps, 2, NO_LIMIT);
        a.channels.insert(b("news"));
        ps.subscribe(Space::Global, &b("news"), &a.mailbox);
        a.patterns.insert(b("n*"));
        ps.psubscribe(&b("n*"), &a.mailbox);
        c.shard.insert(b("news"));
        ps.subscribe(Space::Shard, &b("news"), &c.mailbox);
        assert_eq!(ps.publish(Space::Global, b("news"), b("hi")), 2);
        assert_eq!(ps.publish(Space::Shard, b("news"), b("s")), 1);
        assert_eq!(ps.publish(Space::Global, b("other"), b("x")), 0);
        let got = a.drain(usize::MAX);
        assert_eq!(got.len(), 2);
        assert_eq!(c.drain(usize::MAX).len(), 1);
        assert_eq!(ps.numsub(Space::Global, b"news"), 1);
        assert_eq!(ps.numsub(Space::Shard, b"news"), 1);
        assert_eq!(ps.numpat(), 1);
        assert_eq!(ps.channels(Space::Global, Some(b"x*")), Vec::<Bytes>::new());
        ps.remove_all(&a);
        ps.remove_all(&c);
        assert_eq!(ps.counts(), (0, 0, 0));
        assert_eq!(a.mailbox.queued_bytes(), 0);
    }

    #[test]
    fn unsubscribed_messages_are_dropped_on_delivery() {
        let ps = PubSub::new();
        let mut a = subscriber(&ps, 1, NO_LIMIT);
        a.channels.insert(b("c"));
        ps.subscribe(Space::Global, &b("c"), &a.mailbox);
        ps.publish(Space::Global, b("c"), b("1"));
        a.channels.remove(&b("c")[..]);
        ps.unsubscribe(Space::Global, b"c", 1);
        assert!(a.drain(usize::MAX).is_empty());
        assert_eq!(a.mailbox.queued_bytes(), 0);
    }

    #[test]
    fn slow_subscriber_is_killed_at_the_hard_limit() {
        let ps = PubSub::new();
        let limit = ClassLimit {
            hard: 1000,
            soft: 0,
            soft_seconds: 0,
        };
        let a = subscriber(&ps, 1, limit);
        ps.subscribe(Space::Global, &b("c"), &a.mailbox);
        let payload = Bytes::from(vec![b'x'; 100]);
        let mut delivered = 0;
        for _ in 0..20 {
            ps.publish(Space::Global, b("c"), payload.clone());
            if !a.mailbox.overflowed() {
                delivered += 1;
            }
        }
        assert!(a.mailbox.overflowed());
        assert!(a.mailbox.handle.is_killed());
        assert!((5..20).contains(&delivered), "{delivered}");
        assert!(a.mailbox.queued_bytes() <= 1000);
    }

    struct Collect(parking_lot::Mutex<Vec<(Space, Bytes, Bytes)>>);

    impl Forwarder for Collect {
        fn forward(&self, space: Space, channel: &Bytes, payload: &Bytes) {
            self.0
                .lock()
                .push((space, channel.clone(), payload.clone()));
        }
    }

    #[test]
    fn local_publishes_are_forwarded_remote_ones_are_not() {
        let ps = PubSub::new();
        let f = Arc::new(Collect(parking_lot::Mutex::new(Vec::new())));
        ps.set_forwarder(Some(f.clone()));
        let mut a = subscriber(&ps, 1, NO_LIMIT);
        a.channels.insert(b("c"));
        ps.subscribe(Space::Global, &b("c"), &a.mailbox);
        assert_eq!(ps.publish(Space::Global, b("c"), b("local")), 1);
        assert_eq!(ps.publish_remote(Space::Global, b("c"), b("remote")), 1);
        assert_eq!(f.0.lock().len(), 1);
        assert_eq!(f.0.lock()[0].2, b("local"));
        assert_eq!(a.drain(usize::MAX).len(), 2);
    }
}
