//! QUIC shell tests, on loopback only (127.0.0.1, ephemeral ports), each bounded in time:
//! mutual TLS links exchange every message both ways in order, a 50 MB batch arrives
//! intact, wrong CA and wrong region identities are refused, links come back after a
//! restart, and `close` delivers what was queued.

use crdt::{CausalContext, Dot, VersionVector};
use replication::msg::{LogEntry, Msg, PROTOCOL_VERSION};
use replication::net::certs::{ensure_dev_certs, load_tls};
use replication::net::{
    is_control, Net, NetConfig, NetEvent, NetHandle, PeerConfig, SendError, TlsMaterial, Tuning,
};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(20);

fn tuning() -> Tuning {
    Tuning {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        handshake_timeout: Duration::from_secs(5),
        close_timeout: Duration::from_secs(5),
        ..Tuning::default()
    }
}

fn certs(dir: &Path) -> impl Fn(u8) -> TlsMaterial + '_ {
    ensure_dev_certs(dir, [1, 2, 3]).unwrap();
    move |r| load_tls(dir, r).unwrap()
}

fn start(
    region: u8,
    listen: SocketAddr,
    peers: &[(u8, Option<SocketAddr>)],
    tls: TlsMaterial,
) -> (NetHandle, mpsc::Receiver<NetEvent>) {
    Net::start(NetConfig {
        region,
        listen,
        peers: peers
            .iter()
            .map(|&(region, addr)| PeerConfig { region, addr })
            .collect(),
        tls,
        tuning: tuning(),
    })
    .unwrap()
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn next(rx: &mut mpsc::Receiver<NetEvent>) -> NetEvent {
    timeout(STEP, rx.recv())
        .await
        .expect("event within the time bound")
        .expect("event channel open")
}

async fn expect_connected(rx: &mut mpsc::Receiver<NetEvent>, peer: u8) {
    loop {
        match next(rx).await {
            NetEvent::Connected { peer: p } if p == peer => return,
            NetEvent::Disconnected { .. } => continue,
            e => panic!("expected Connected, got {e:?}"),
        }
    }
}

/// No `Connected` within `d`.
async fn expect_no_link(rx: &mut mpsc::Receiver<NetEvent>, d: Duration) {
    if let Ok(Some(e)) = timeout(d, rx.recv()).await {
        panic!("expected no link, got {e:?}");
    }
}

fn hello(region: u8) -> Msg {
    Msg::Hello {
        version: PROTOCOL_VERSION,
        region,
        replication_id: 42 + u64::from(region),
        applied: VersionVector::from_pairs([(1, 3), (2, 5)]),
        seen: VersionVector::new(),
    }
}

fn every_variant(region: u8) -> Vec<Msg> {
    let mut ctx = CausalContext::from_vv(VersionVector::from_pairs([(1, 9)]));
    ctx.join(&CausalContext::from_dots([Dot::new(2, 4)]));
    vec![
        hello(region),
        Msg::Ops(vec![LogEntry {
            origin: region,
            first_seq: 1,
            last_seq: 2,
            op: vec![region; 100],
        }]),
        Msg::Heartbeat { now_ms: 1 },
        Msg::SnapshotBegin { ctx },
        Msg::SnapshotChunk(vec![(3, b"k".to_vec(), b"state".to_vec())]),
        Msg::Publish {
            origin: region,
            channel: b"ch".to_vec(),
            message: b"m".to_vec(),
            shard: false,
        },
        Msg::SnapshotEnd,
        Msg::Ack {
            applied: VersionVector::from_pairs([(region, 7)]),
            durable: VersionVector::from_pairs([(region, 6)]),
        },
        Msg::Heartbeat { now_ms: 2 },
        Msg::Ops(vec![LogEntry {
            origin: 3,
            first_seq: 4,
            last_seq: 4,
            op: b"relayed".to_vec(),
        }]),
    ]
}

async fn recv_msgs(rx: &mut mpsc::Receiver<NetEvent>, from: u8, n: usize) -> Vec<Msg> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match next(rx).await {
            NetEvent::Message { peer, msg } => {
                assert_eq!(peer, from);
                out.push(msg);
            }
            e => panic!("unexpected event {e:?}"),
        }
    }
    out
}

fn split_streams(v: &[Msg]) -> (Vec<Msg>, Vec<Msg>) {
    v.iter().cloned().partition(is_control)
}

/// A (1) dials B (2); both send Hello then every variant; each side receives everything,
/// in order per stream, Hello first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_both_ways_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], tls(2));
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b.local_addr()))], tls(1));
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    for m in every_variant(1) {
        a.send(2, m).await.unwrap();
    }
    for m in every_variant(2) {
        b.send(1, m).await.unwrap();
    }
    let at_b = recv_msgs(&mut b_rx, 1, every_variant(1).len()).await;
    let at_a = recv_msgs(&mut a_rx, 2, every_variant(2).len()).await;
    for (got, sent) in [(at_b, every_variant(1)), (at_a, every_variant(2))] {
        assert!(matches!(got[0], Msg::Hello { .. }), "Hello first: {got:?}");
        assert_eq!(split_streams(&got), split_streams(&sent));
    }
    assert_eq!(
        a.send(9, Msg::SnapshotEnd).await,
        Err(SendError::UnknownPeer(9))
    );
    assert!(a.stats().frames_sent >= 10 && b.stats().frames_received >= 10);
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

/// 50,000 entries of 1,000 bytes (50 MB) in one `Ops`: split, compressed, streamed and
/// reassembled in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batch_arrives_intact_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], tls(2));
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b.local_addr()))], tls(1));
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    const N: u64 = 50_000;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let entries: Vec<LogEntry> = (1..=N)
        .map(|i| {
            // Half pseudo-random, half repetitive: realistic compression.
            let mut op = Vec::with_capacity(1000);
            while op.len() < 500 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                op.extend_from_slice(&x.to_le_bytes());
            }
            op.resize(1000, (i % 251) as u8);
            LogEntry {
                origin: 1,
                first_seq: i,
                last_seq: i,
                op,
            }
        })
        .collect();
    let total: usize = entries.iter().map(|e| e.op.len()).sum();
    assert_eq!(total, 50_000_000);
    a.send(2, hello(1)).await.unwrap();
    a.send(2, Msg::Ops(entries.clone())).await.unwrap();
    let got = timeout(Duration::from_secs(120), async {
        let mut got: Vec<LogEntry> = Vec::with_capacity(N as usize);
        let mut saw_hello = false;
        while got.len() < N as usize {
            match b_rx.recv().await.expect("open") {
                NetEvent::Message {
                    msg: Msg::Hello { .. },
                    ..
                } => saw_hello = true,
                NetEvent::Message {
                    msg: Msg::Ops(e), ..
                } => {
                    assert!(saw_hello, "Hello before data");
                    got.extend(e)
                }
                e => panic!("unexpected {e:?}"),
            }
        }
        got
    })
    .await
    .expect("50 MB within 120 s");
    assert!(got == entries, "entries intact and in order");
    let s = a.stats();
    assert!(s.frames_sent >= 40, "split into ~1 MiB frames: {s:?}");
    assert!((s.bytes_sent as usize) < total * 3 / 4, "compressed: {s:?}");
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

/// B's certificate comes from another cluster CA: refused both ways, nothing delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    let rogue = certs(other.path());
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], rogue(2));
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b.local_addr()))], tls(1));
    let _ = a.try_send(2, hello(1));
    expect_no_link(&mut a_rx, Duration::from_secs(2)).await;
    expect_no_link(&mut b_rx, Duration::from_millis(100)).await;
    assert!(a.stats().handshakes_refused >= 1, "{:?}", a.stats());
    assert_eq!(a.stats().connects + b.stats().connects, 0);
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

/// Right CA, wrong region: a server presenting region 3's certificate where region 2 is
/// expected, and a client presenting region 3's certificate to a region that only knows
/// region 1, are both refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_region_identity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    // Dialer side check: "region 2" presents region 3's certificate.
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], tls(3));
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b.local_addr()))], tls(1));
    expect_no_link(&mut a_rx, Duration::from_secs(2)).await;
    expect_no_link(&mut b_rx, Duration::from_millis(100)).await;
    assert!(a.stats().handshakes_refused >= 1, "{:?}", a.stats());
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();

    // Acceptor side check: "region 1" presents region 3's certificate.
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], tls(2));
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b.local_addr()))], tls(3));
    expect_no_link(&mut b_rx, Duration::from_secs(2)).await;
    expect_no_link(&mut a_rx, Duration::from_millis(100)).await;
    assert!(b.stats().handshakes_refused >= 1, "{:?}", b.stats());
    assert_eq!(a.stats().connects + b.stats().connects, 0);
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

async fn restart_on(
    addr: SocketAddr,
    region: u8,
    peers: &[(u8, Option<SocketAddr>)],
    tls: TlsMaterial,
) -> (NetHandle, mpsc::Receiver<NetEvent>) {
    // The old endpoint's socket may take a moment to be released.
    for _ in 0..100 {
        match Net::start(NetConfig {
            region,
            listen: addr,
            peers: peers
                .iter()
                .map(|&(region, addr)| PeerConfig { region, addr })
                .collect(),
            tls: tls.clone(),
            tuning: tuning(),
        }) {
            Ok(x) => return x,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("could not rebind {addr}");
}

/// The accepting side restarts on the same address, then the dialing side restarts: the
/// link comes back each time and carries messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], tls(2));
    let b_addr = b.local_addr();
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b_addr))], tls(1));
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;

    timeout(STEP, b.shutdown()).await.unwrap();
    drop(b);
    assert_eq!(next(&mut a_rx).await, NetEvent::Disconnected { peer: 2 });
    let (b, mut b_rx) = restart_on(b_addr, 2, &[(1, None)], tls(2)).await;
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    a.send(2, hello(1)).await.unwrap();
    assert_eq!(recv_msgs(&mut b_rx, 1, 1).await, vec![hello(1)]);

    timeout(STEP, a.shutdown()).await.unwrap();
    drop(a);
    assert_eq!(next(&mut b_rx).await, NetEvent::Disconnected { peer: 1 });
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b_addr))], tls(1));
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    b.send(1, hello(2)).await.unwrap();
    assert_eq!(recv_msgs(&mut a_rx, 2, 1).await, vec![hello(2)]);
    assert!(a.stats().handshakes_refused == 0 && b.stats().handshakes_refused == 0);
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

/// Both sides dial (the higher id after its delay, here 0): duplicates resolve to one
/// link on both sides, which carries messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_resolve_to_one_link() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    let both = Tuning {
        acceptor_dial_delay: Duration::ZERO,
        ..tuning()
    };
    // Bind both sockets first so each side can know the other's address.
    let sa = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sb = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (sa.local_addr().unwrap(), sb.local_addr().unwrap());
    drop((sa, sb));
    let cfg = |region, listen, peer, addr, tls| NetConfig {
        region,
        listen,
        peers: vec![PeerConfig {
            region: peer,
            addr: Some(addr),
        }],
        tls,
        tuning: both,
    };
    let (a, mut a_rx) = Net::start(cfg(1, a_addr, 2, b_addr, tls(1))).unwrap();
    let (b, mut b_rx) = Net::start(cfg(2, b_addr, 1, a_addr, tls(2))).unwrap();
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    // Let any duplicate settle, then the surviving link must carry traffic both ways.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drain = |rx: &mut mpsc::Receiver<NetEvent>| {
        let mut up = true;
        while let Ok(e) = rx.try_recv() {
            match e {
                NetEvent::Connected { .. } => up = true,
                NetEvent::Disconnected { .. } => up = false,
                e => panic!("unexpected {e:?}"),
            }
        }
        up
    };
    if !drain(&mut a_rx) {
        expect_connected(&mut a_rx, 2).await;
    }
    if !drain(&mut b_rx) {
        expect_connected(&mut b_rx, 1).await;
    }
    a.send(2, hello(1)).await.unwrap();
    b.send(1, hello(2)).await.unwrap();
    assert_eq!(recv_msgs(&mut b_rx, 1, 1).await, vec![hello(1)]);
    assert_eq!(recv_msgs(&mut a_rx, 2, 1).await, vec![hello(2)]);
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

/// `close(peer)` writes everything already queued before closing the connection, and the
/// link comes back; `remove(peer)` closes for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_queued_messages_then_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    let (b, mut b_rx) = start(2, any_port(), &[(1, None)], tls(2));
    let (a, mut a_rx) = start(1, any_port(), &[(2, Some(b.local_addr()))], tls(1));
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    a.send(2, hello(1)).await.unwrap();
    let batches: Vec<Msg> = (0..500u64)
        .map(|i| Msg::SnapshotChunk(vec![(0, i.to_be_bytes().to_vec(), vec![7u8; 10_000])]))
        .collect();
    for m in &batches {
        a.send(2, m.clone()).await.unwrap();
    }
    timeout(STEP, a.close(2)).await.unwrap().unwrap();
    let got = recv_msgs(&mut b_rx, 1, 1 + batches.len()).await;
    assert_eq!(got[0], hello(1));
    assert!(
        got[1..] == batches[..],
        "every queued chunk delivered in order"
    );
    assert_eq!(next(&mut b_rx).await, NetEvent::Disconnected { peer: 1 });
    assert_eq!(next(&mut a_rx).await, NetEvent::Disconnected { peer: 2 });
    // The link comes back by itself.
    expect_connected(&mut a_rx, 2).await;
    expect_connected(&mut b_rx, 1).await;
    a.send(2, hello(1)).await.unwrap();
    assert_eq!(recv_msgs(&mut b_rx, 1, 1).await, vec![hello(1)]);
    // remove() is permanent.
    timeout(STEP, a.remove(2)).await.unwrap().unwrap();
    assert_eq!(a.try_send(2, hello(1)), Err(SendError::UnknownPeer(2)));
    assert_eq!(next(&mut b_rx).await, NetEvent::Disconnected { peer: 1 });
    expect_no_link(&mut b_rx, Duration::from_secs(1)).await;
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}

/// Peers added and removed at run time: an added peer links up (its certificate is
/// accepted from then on); a removed one is dropped, its redials are refused by TLS, and
/// it links up again once added back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_added_and_removed_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certs(dir.path());
    // Region 2 starts with no peers; region 1 knows region 2 and dials it at once (the
    // lower id dials first).
    let (a, mut a_rx) = start(2, any_port(), &[], tls(2));
    let (b, mut b_rx) = start(1, any_port(), &[(2, Some(a.local_addr()))], tls(1));
    expect_no_link(&mut a_rx, Duration::from_secs(1)).await;
    assert!(a.stats().handshakes_refused >= 1, "{:?}", a.stats());
    assert_eq!(a.try_send(1, hello(2)), Err(SendError::UnknownPeer(1)));
    let peer1 = PeerConfig {
        region: 1,
        addr: Some(b.local_addr()),
    };
    assert!(a.add_peer(peer1.clone()).unwrap());
    assert!(!a.add_peer(peer1.clone()).unwrap());
    assert!(a
        .add_peer(PeerConfig {
            region: 2,
            addr: None
        })
        .is_err());
    expect_connected(&mut a_rx, 1).await;
    expect_connected(&mut b_rx, 2).await;
    a.send(1, hello(2)).await.unwrap();
    assert_eq!(recv_msgs(&mut b_rx, 2, 1).await, vec![hello(2)]);
    assert_eq!(a.peers(), vec![1]);
    // Removed: the link drops and stays down although region 1 keeps redialing.
    timeout(STEP, a.remove(1)).await.unwrap().unwrap();
    assert_eq!(next(&mut b_rx).await, NetEvent::Disconnected { peer: 2 });
    assert!(a.peers().is_empty());
    let refused = a.stats().handshakes_refused;
    expect_no_link(&mut b_rx, Duration::from_secs(2)).await;
    assert!(a.stats().handshakes_refused > refused, "{:?}", a.stats());
    // Added back.
    assert!(a.add_peer(peer1).unwrap());
    expect_connected(&mut a_rx, 1).await;
    expect_connected(&mut b_rx, 2).await;
    timeout(STEP, a.shutdown()).await.unwrap();
    timeout(STEP, b.shutdown()).await.unwrap();
}
