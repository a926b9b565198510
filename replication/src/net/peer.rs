//! One task per peer region: dials (with backoff) or receives accepted links, keeps at
//! most one active link, resolves duplicates, and owns the peer's send queues (lent to
//! the active link's writers and taken back when the link ends).

use super::link::{self, code, Gate, Link, LinkError, Stop};
use super::tls::{cert_is_for_region, region_dns_name};
use super::{NetEvent, Stats, Tuning};
use crate::msg::Msg;
use crdt::RegionId;
use quinn::{Connection, ConnectionError, Endpoint, VarInt};
use rand::Rng;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Commands to a peer task.
pub(crate) enum PeerCtl {
    /// An accepted, verified link to this peer.
    NewConn(Link),
    /// Close the active link gracefully; reply when done. `permanent`: also stop the peer
    /// (no redial, its connections refused, sends fail).
    Close {
        done: oneshot::Sender<()>,
        permanent: bool,
    },
}

pub(crate) struct PeerTask {
    pub me: RegionId,
    pub peer: RegionId,
    pub addr: Option<SocketAddr>,
    pub endpoint: Endpoint,
    pub events: mpsc::Sender<NetEvent>,
    /// `None` while lent to the active link's writer.
    pub ctrl_rx: Option<mpsc::Receiver<Msg>>,
    pub data_rx: Option<mpsc::Receiver<Msg>>,
    pub ctl_rx: mpsc::Receiver<PeerCtl>,
    pub stats: Arc<Stats>,
    pub tuning: Tuning,
    /// A `Disconnected` that did not fit the event queue during `close`: emitted before
    /// the next `Connected`.
    pub disconnect_pending: bool,
}

struct Active {
    conn: Connection,
    dialer: RegionId,
    since: std::time::Instant,
    writers: Vec<(JoinHandle<mpsc::Receiver<Msg>>, oneshot::Sender<Stop>)>,
    readers: Vec<JoinHandle<()>>,
}

type DialTask = JoinHandle<Result<Link, LinkError>>;

async fn recv_opt(rx: &mut Option<mpsc::Receiver<Msg>>) -> Option<Msg> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn join_dial(d: &mut Option<DialTask>) -> Result<Link, LinkError> {
    match d {
        Some(h) => {
            let r = h.await;
            *d = None;
            r.unwrap_or_else(|e| Err(LinkError::Protocol(format!("dial task: {e}"))))
        }
        None => std::future::pending().await,
    }
}

/// Whether a failed connection was refused by TLS (either side).
fn is_tls_refusal(e: &LinkError) -> bool {
    let crypto = |c: quinn::TransportErrorCode| (0x100..0x200).contains(&u64::from(c));
    match e {
        LinkError::Connection(ConnectionError::TransportError(t)) => crypto(t.code),
        LinkError::Connection(ConnectionError::ConnectionClosed(c)) => crypto(c.error_code),
        LinkError::WrongRegion(_) => true,
        _ => false,
    }
}

async fn dial(
    endpoint: Endpoint,
    me: RegionId,
    peer: RegionId,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Link, LinkError> {
    let connecting = endpoint.connect(addr, &region_dns_name(peer))?;
    let setup = async {
        let conn = connecting.await?;
        // rustls already checked the name; check again on what we keep.
        let named = conn
            .peer_identity()
            .and_then(|id| {
                id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                    .ok()
            })
            .is_some_and(|c| c.first().is_some_and(|c| cert_is_for_region(c, peer)));
        if !named {
            conn.close(VarInt::from_u32(code::REFUSED), b"wrong region");
            return Err(LinkError::WrongRegion(peer));
        }
        link::open_streams(conn, me).await
    };
    tokio::time::timeout(timeout, setup)
        .await
        .map_err(|_| LinkError::Timeout)?
}

impl PeerTask {
    fn lower(&self) -> RegionId {
        self.me.min(self.peer)
    }

    fn jitter(d: Duration) -> Duration {
        let ms = d.as_millis().max(2) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
    }

    pub(crate) async fn run(mut self) {
        let t = self.tuning;
        let i_dial_first = self.me < self.peer;
        let mut backoff = t.backoff_initial;
        let mut next_dial = if i_dial_first {
            Instant::now()
        } else {
            Instant::now() + t.acceptor_dial_delay
        };
        let mut dialing: Option<DialTask> = None;
        let mut active: Option<Active> = None;
        loop {
            if let Some(a) = &active {
                let conn = a.conn.clone();
                tokio::select! {
                    ctl = self.ctl_rx.recv() => match ctl {
                        Some(PeerCtl::NewConn(l)) => self.offer(l, &mut active).await,
                        Some(PeerCtl::Close { done, permanent }) => {
                            let a = active.take().expect("active");
                            self.teardown(a, Stop::Graceful).await;
                            if permanent {
                                if let Some(d) = dialing.take() { d.abort(); }
                                // Later sends fail with `Closed` as soon as this returns.
                                self.ctrl_rx = None;
                                self.data_rx = None;
                                let _ = done.send(());
                                return;
                            }
                            let _ = done.send(());
                            let wait = Self::jitter(backoff);
                            backoff = (backoff * 2).min(t.backoff_max);
                            next_dial = Instant::now()
                                + if i_dial_first { wait } else { wait.max(t.acceptor_dial_delay) };
                        }
                        None => {
                            let a = active.take().expect("active");
                            self.teardown(a, Stop::Abort).await;
                            return;
                        }
                    },
                    r = join_dial(&mut dialing) => match r {
                        Ok(l) => self.offer(l, &mut active).await,
                        Err(e) => tracing::debug!(peer = self.peer, error = %e, "region link: redundant dial failed"),
                    },
                    e = conn.closed() => {
                        let a = active.take().expect("active");
                        let lived = a.since.elapsed();
                        tracing::info!(peer = self.peer, reason = %e, "region link lost");
                        self.teardown(a, Stop::Abort).await;
                        if lived >= t.backoff_reset_after {
                            backoff = t.backoff_initial;
                        }
                        let wait = Self::jitter(backoff);
                        backoff = (backoff * 2).min(t.backoff_max);
                        next_dial = Instant::now()
                            + if i_dial_first { wait } else { wait.max(t.acceptor_dial_delay) };
                    }
                }
            } else {
                let can_dial = self.addr.is_some() && dialing.is_none();
                tokio::select! {
                    ctl = self.ctl_rx.recv() => match ctl {
                        Some(PeerCtl::NewConn(l)) => {
                            self.activate(l, &mut active).await;
                        }
                        Some(PeerCtl::Close { done, permanent }) => {
                            if permanent {
                                if let Some(d) = dialing.take() { d.abort(); }
                                self.ctrl_rx = None;
                                self.data_rx = None;
                                let _ = done.send(());
                                return;
                            }
                            let _ = done.send(());
                        }
                        None => return,
                    },
                    _ = tokio::time::sleep_until(next_dial), if can_dial => {
                        let addr = self.addr.expect("can_dial");
                        tracing::debug!(peer = self.peer, %addr, "region link: dialing");
                        dialing = Some(tokio::spawn(dial(
                            self.endpoint.clone(), self.me, self.peer, addr, t.handshake_timeout,
                        )));
                    }
                    r = join_dial(&mut dialing) => match r {
                        Ok(l) => self.activate(l, &mut active).await,
                        Err(e) => {
                            if is_tls_refusal(&e) {
                                self.stats.handshakes_refused.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(peer = self.peer, error = %e, "region link refused by TLS (wrong CA or region identity)");
                            } else {
                                tracing::debug!(peer = self.peer, error = %e, "region link: dial failed");
                            }
                            let wait = Self::jitter(backoff);
                            backoff = (backoff * 2).min(t.backoff_max);
                            next_dial = Instant::now() + wait;
                        }
                    },
                    // Disconnected: what is queued is discarded (the core resends after
                    // the next handshake).
                    m = recv_opt(&mut self.ctrl_rx) => if m.is_none() { return },
                    m = recv_opt(&mut self.data_rx) => if m.is_none() { return },
                }
            }
        }
    }

    /// A second link while one is active: keep the preferred one (see the module docs of
    /// `net`), close the other.
    async fn offer(&mut self, l: Link, active: &mut Option<Active>) {
        let a = active.as_ref().expect("active");
        let lower = self.lower();
        let new_wins = l.dialer == lower || a.dialer != lower;
        if new_wins {
            tracing::info!(
                peer = self.peer,
                dialer = l.dialer,
                "region link: replacing the active link"
            );
            let old = active.take().expect("active");
            old.conn
                .close(VarInt::from_u32(code::DUPLICATE), b"duplicate");
            self.teardown(old, Stop::Abort).await;
            self.activate(l, active).await;
        } else {
            tracing::debug!(
                peer = self.peer,
                dialer = l.dialer,
                "region link: duplicate closed"
            );
            l.conn
                .close(VarInt::from_u32(code::DUPLICATE), b"duplicate");
        }
    }

    async fn activate(&mut self, mut l: Link, active: &mut Option<Active>) {
        if l.dialer != self.me {
            let confirmed =
                tokio::time::timeout(self.tuning.handshake_timeout, link::confirm(&mut l));
            if !matches!(confirmed.await, Ok(Ok(()))) {
                l.conn
                    .close(VarInt::from_u32(code::PROTOCOL), b"confirm failed");
                return;
            }
        }
        let (Some(mut ctrl_rx), Some(mut data_rx)) = (self.ctrl_rx.take(), self.data_rx.take())
        else {
            tracing::error!(peer = self.peer, "region link: send queues lost");
            l.conn.close(VarInt::from_u32(code::REFUSED), b"internal");
            return;
        };
        // Everything queued before this point belongs to an older link.
        while ctrl_rx.try_recv().is_ok() {}
        while data_rx.try_recv().is_ok() {}
        tracing::info!(peer = self.peer, remote = %l.conn.remote_address(), dialer = l.dialer, "region link up");
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        if std::mem::take(&mut self.disconnect_pending) {
            let _ = self
                .events
                .send(NetEvent::Disconnected { peer: self.peer })
                .await;
        }
        let _ = self
            .events
            .send(NetEvent::Connected { peer: self.peer })
            .await;
        let Link {
            conn,
            dialer,
            since,
            ctrl: (cs, cr),
            data: (ds, dr),
        } = l;
        let (gate_tx, gate_rx) = watch::channel(false);
        let readers = vec![
            tokio::spawn(link::reader(
                cr,
                conn.clone(),
                self.peer,
                self.events.clone(),
                self.stats.clone(),
                Gate::Opens(gate_tx),
            )),
            tokio::spawn(link::reader(
                dr,
                conn.clone(),
                self.peer,
                self.events.clone(),
                self.stats.clone(),
                Gate::WaitsFor(gate_rx),
            )),
        ];
        let mut writers = Vec::with_capacity(2);
        for (rx, send) in [(ctrl_rx, cs), (data_rx, ds)] {
            let (stop_tx, stop_rx) = oneshot::channel();
            let h = tokio::spawn(link::writer(
                rx,
                send,
                conn.clone(),
                self.peer,
                stop_rx,
                self.stats.clone(),
                self.tuning,
            ));
            writers.push((h, stop_tx));
        }
        *active = Some(Active {
            conn,
            dialer,
            since,
            writers,
            readers,
        });
    }

    /// Ends the active link: stops the writers (gracefully: flush, finish, await the
    /// peer's acknowledgement; bounded), takes the queues back, closes the connection,
    /// lets the readers deliver what they hold, then emits `Disconnected`.
    async fn teardown(&mut self, a: Active, mode: Stop) {
        let Active {
            conn,
            writers,
            readers,
            ..
        } = a;
        if mode == Stop::Abort {
            conn.close(VarInt::from_u32(code::NORMAL), b"closed");
        }
        let mut handles = Vec::with_capacity(writers.len());
        for (h, stop) in writers {
            let _ = stop.send(mode);
            handles.push(h);
        }
        let bound = self.tuning.close_timeout + Duration::from_secs(1);
        let mut queues = Vec::with_capacity(2);
        for mut h in handles {
            let r = match tokio::time::timeout(bound, &mut h).await {
                Ok(r) => r,
                Err(_) => {
                    // Still blocked writing: closing the connection unblocks it.
                    conn.close(VarInt::from_u32(code::NORMAL), b"close timeout");
                    h.await
                }
            };
            queues.push(r.ok());
        }
        conn.close(VarInt::from_u32(code::NORMAL), b"closed");
        let mut it = queues.into_iter();
        self.ctrl_rx = it.next().flatten();
        self.data_rx = it.next().flatten();
        for mut r in readers {
            if tokio::time::timeout(self.tuning.close_timeout, &mut r)
                .await
                .is_err()
            {
                r.abort();
            }
        }
        let ev = NetEvent::Disconnected { peer: self.peer };
        if mode == Stop::Graceful {
            // Asked for by the application, which may not be reading events while it
            // waits for `close`: do not wait on a full queue, emit it later instead.
            if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(ev) {
                self.disconnect_pending = true;
            }
        } else {
            let _ = self.events.send(ev).await;
        }
        tracing::info!(peer = self.peer, "region link down");
    }
}
