//! One QUIC connection to a peer region: stream setup, frame reader and writer tasks.
//!
//! The dialing side opens two bidirectional streams and writes one kind byte on each
//! ([`STREAM_CONTROL`], [`STREAM_DATA`]); the accepting side accepts both and, once the
//! link is active, confirms it with [`LINK_ACCEPTED`] on the control stream, which the
//! dialer waits for before reporting the link. Each side
//! writes on its send halves and reads on its receive halves. Frames are
//! [`crate::wire`] frames.

use super::{NetEvent, Stats, Tuning};
use crate::msg::Msg;
use crate::wire::{self, WireError};
use crdt::RegionId;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// Kind byte of the control stream (Hello, Ack, Heartbeat, Publish).
pub const STREAM_CONTROL: u8 = 1;
/// Kind byte of the data stream (Ops, snapshot messages).
pub const STREAM_DATA: u8 = 2;

/// Byte the accepting side writes on the control stream once it made the link active.
pub const LINK_ACCEPTED: u8 = 0xac;

/// Application close codes.
pub mod code {
    /// Orderly close (shutdown or `close(peer)`).
    pub const NORMAL: u32 = 0;
    /// Replaced by another connection to the same peer (duplicate resolution).
    pub const DUPLICATE: u32 = 1;
    /// The peer sent a malformed frame or broke the stream protocol.
    pub const PROTOCOL: u32 = 2;
    /// The peer is not (or no longer) a configured peer.
    pub const REFUSED: u32 = 3;
    /// A local stream write failed.
    pub const WRITE_FAILED: u32 = 4;
}

/// Errors while setting up or running a link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The connection failed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Dialing failed before the handshake.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// A stream write failed.
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    /// A stream read failed.
    #[error("read: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// The peer broke the stream protocol.
    #[error("stream protocol: {0}")]
    Protocol(String),
    /// A frame did not decode.
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    /// The certificate does not name the expected region.
    #[error("peer certificate does not name region {0}")]
    WrongRegion(RegionId),
    /// Stream setup took too long.
    #[error("timed out")]
    Timeout,
}

/// An established connection with both streams.
pub(crate) struct Link {
    /// The connection.
    pub conn: Connection,
    /// Region that dialed it.
    pub dialer: RegionId,
    /// When it was established.
    pub since: Instant,
    pub(crate) ctrl: (SendStream, RecvStream),
    pub(crate) data: (SendStream, RecvStream),
}

/// Dialer side: opens the two streams and announces their kinds.
pub(crate) async fn open_streams(conn: Connection, dialer: RegionId) -> Result<Link, LinkError> {
    let (mut cs, cr) = conn.open_bi().await?;
    cs.write_all(&[STREAM_CONTROL]).await?;
    let (mut ds, dr) = conn.open_bi().await?;
    ds.write_all(&[STREAM_DATA]).await?;
    // In TLS 1.3 the client's handshake completes before the server has verified the
    // client certificate: only the acceptor's confirmation means the link is accepted.
    let mut cr = cr;
    let mut ack = [0u8; 1];
    cr.read_exact(&mut ack).await?;
    if ack[0] != LINK_ACCEPTED {
        return Err(LinkError::Protocol(format!(
            "bad link confirmation {:#04x}",
            ack[0]
        )));
    }
    Ok(Link {
        conn,
        dialer,
        since: Instant::now(),
        ctrl: (cs, cr),
        data: (ds, dr),
    })
}

/// Acceptor side: confirms the link to the dialer (see [`LINK_ACCEPTED`]).
pub(crate) async fn confirm(link: &mut Link) -> Result<(), LinkError> {
    link.ctrl.0.write_all(&[LINK_ACCEPTED]).await?;
    Ok(())
}

/// Acceptor side: accepts the two streams and checks their kinds.
pub(crate) async fn accept_streams(conn: Connection, dialer: RegionId) -> Result<Link, LinkError> {
    let mut ctrl = None;
    let mut data = None;
    for _ in 0..2 {
        let (s, mut r) = conn.accept_bi().await?;
        let mut kind = [0u8; 1];
        r.read_exact(&mut kind).await?;
        let slot = match kind[0] {
            STREAM_CONTROL => &mut ctrl,
            STREAM_DATA => &mut data,
            k => return Err(LinkError::Protocol(format!("unknown stream kind {k}"))),
        };
        if slot.replace((s, r)).is_some() {
            return Err(LinkError::Protocol("stream kind opened twice".into()));
        }
    }
    match (ctrl, data) {
        (Some(ctrl), Some(data)) => Ok(Link {
            conn,
            dialer,
            since: Instant::now(),
            ctrl,
            data,
        }),
        _ => Err(LinkError::Protocol("missing stream".into())),
    }
}

/// Reads frames and emits them as events, in order. The data reader waits for the first
/// control message (the peer's `Hello`) to be delivered before delivering anything, so
/// the core sees `Hello` before any `Ops` of the same link.
pub(crate) async fn reader(
    mut recv: RecvStream,
    conn: Connection,
    peer: RegionId,
    events: mpsc::Sender<NetEvent>,
    stats: Arc<Stats>,
    mut gate: Gate,
) {
    let mut first = true;
    let res: Result<(), LinkError> = async {
        loop {
            let mut len = [0u8; wire::FRAME_HEADER_BYTES];
            match recv.read_exact(&mut len).await {
                Ok(()) => {}
                // A clean end of stream between frames: the peer is closing the link.
                Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            let n = wire::check_frame_len(u32::from_be_bytes(len))?;
            let mut body = vec![0u8; n];
            recv.read_exact(&mut body).await?;
            let msg = wire::decode_frame_body(&body)?;
            stats.frames_received.fetch_add(1, Ordering::Relaxed);
            stats
                .bytes_received
                .fetch_add((n + wire::FRAME_HEADER_BYTES) as u64, Ordering::Relaxed);
            if first {
                if let Gate::WaitsFor(rx) = &mut gate {
                    if rx.wait_for(|v| *v).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if events.send(NetEvent::Message { peer, msg }).await.is_err() {
                return Ok(()); // nobody listens any more
            }
            if first {
                if let Gate::Opens(tx) = &gate {
                    let _ = tx.send(true);
                }
            }
            first = false;
        }
    }
    .await;
    match res {
        Ok(()) => {}
        Err(LinkError::Read(quinn::ReadExactError::ReadError(_))) => {
            // Connection or stream gone: the peer task notices via `closed()`.
        }
        Err(e) => {
            stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer, error = %e, "region link: bad frame from peer, disconnecting");
            conn.close(VarInt::from_u32(code::PROTOCOL), b"bad frame");
        }
    }
    drop(gate);
}

/// Orders the two readers of one link: the control reader opens the gate once it has
/// delivered its first message; the data reader waits for it.
pub(crate) enum Gate {
    /// Control stream reader.
    Opens(watch::Sender<bool>),
    /// Data stream reader.
    WaitsFor(watch::Receiver<bool>),
}

/// How a writer should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Write everything queued, finish the stream, wait until the peer has it.
    Graceful,
    /// Stop now (the connection is being closed anyway).
    Abort,
}

/// Writes queued messages as frames. Consecutive `Ops` already queued are coalesced into
/// batches of about [`wire::TARGET_FRAME_BYTES`]; larger ones are split. Returns the
/// queue so the next connection can use it.
pub(crate) async fn writer(
    mut rx: mpsc::Receiver<Msg>,
    mut send: SendStream,
    conn: Connection,
    peer: RegionId,
    mut stop: oneshot::Receiver<Stop>,
    stats: Arc<Stats>,
    tuning: Tuning,
) -> mpsc::Receiver<Msg> {
    let mut pending: Option<Msg> = None;
    let res: Result<(), LinkError> = async {
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => tokio::select! {
                    biased;
                    s = &mut stop => {
                        if s == Ok(Stop::Graceful) {
                            // Drain what is queued now, then finish the stream.
                            while let Ok(m) = rx.try_recv() {
                                write_msg(&mut send, m, &stats).await?;
                            }
                            let _ = send.finish();
                            let _ = tokio::time::timeout(tuning.close_timeout, send.stopped()).await;
                        }
                        return Ok(());
                    }
                    m = rx.recv() => match m {
                        Some(m) => m,
                        None => return Ok(()),
                    },
                },
            };
            let msg = match msg {
                Msg::Ops(mut entries) => {
                    let mut bytes = wire::payload_bytes(&Msg::Ops(Vec::new()));
                    bytes += entries.iter().map(|e| e.op.len() + 32).sum::<usize>();
                    while bytes < wire::TARGET_FRAME_BYTES {
                        match rx.try_recv() {
                            Ok(Msg::Ops(more)) => {
                                bytes += more.iter().map(|e| e.op.len() + 32).sum::<usize>();
                                entries.extend(more);
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    Msg::Ops(entries)
                }
                m => m,
            };
            write_msg(&mut send, msg, &stats).await?;
        }
    }
    .await;
    if let Err(e) = res {
        tracing::debug!(peer, error = %e, "region link: write failed");
        conn.close(VarInt::from_u32(code::WRITE_FAILED), b"write failed");
    }
    rx
}

async fn write_msg(send: &mut SendStream, msg: Msg, stats: &Stats) -> Result<(), LinkError> {
    for part in wire::split(msg, wire::TARGET_FRAME_BYTES) {
        let frame = match wire::encode_frame(part) {
            Ok(f) => f,
            Err(e) => {
                // Only a single element over MAX_FRAME_BYTES gets here.
                stats.send_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "region link: message over the frame bound dropped");
                continue;
            }
        };
        send.write_all(&frame).await?;
        stats.frames_sent.fetch_add(1, Ordering::Relaxed);
        stats
            .bytes_sent
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}
