//! Load: 1,000 clients pipelining 50 commands per round against one server. Every
//! reply must be correct and in order, the server's RSS must stay bounded, and a
//! separate client must keep being served with bounded latency meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::{raise_own_nofile, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 1000;
const ROUNDS: usize = 4;
const PER_ROUND: usize = 50;
/// Any single probe round trip while the load runs, at most.
/// (A debug build on a loaded 2-core machine measured ~2 s: the server serves every
/// ready connection's pipeline in turn, so a probe waits for about one sweep.)
const PROBE_MAX: Duration = Duration::from_secs(6);

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

fn cmd(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One round of client `id`: the request bytes and the exact replies expected.
/// Commands cycle SET + GET, INCR, PING and EXISTS on the client's own keys (four
/// strings and a counter), so every reply is known in advance.
fn round(id: usize, r: usize) -> (Vec<u8>, Vec<u8>) {
    let mut req = Vec::new();
    let mut want = Vec::new();
    for j in 0..PER_ROUND {
        let key = format!("c{id}:{}", j % 10);
        let value = format!("v{id}.{r}.{j}");
        match j % 5 {
            0 | 3 => {
                cmd(&[b"SET", key.as_bytes(), value.as_bytes()], &mut req);
                want.extend_from_slice(b"+OK\r\n");
                // The next command reads it back.
                cmd(&[b"GET", key.as_bytes()], &mut req);
                want.extend_from_slice(format!("${}\r\n{value}\r\n", value.len()).as_bytes());
            }
            1 => {
                cmd(&[b"INCR", format!("n{id}").as_bytes()], &mut req);
                let n = r * 10 + (j / 5) + 1;
                want.extend_from_slice(format!(":{n}\r\n").as_bytes());
            }
            2 => {
                cmd(&[b"PING", value.as_bytes()], &mut req);
                want.extend_from_slice(format!("${}\r\n{value}\r\n", value.len()).as_bytes());
            }
            _ => {
                cmd(&[b"EXISTS", format!("c{id}:none").as_bytes()], &mut req);
                want.extend_from_slice(b":0\r\n");
            }
        }
    }
    (req, want)
}

async fn client(port: u16, id: usize) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("client {id}: connect: {e}"))?;
    for r in 0..ROUNDS {
        let (req, want) = round(id, r);
        s.write_all(&req)
            .await
            .map_err(|e| format!("client {id}: write: {e}"))?;
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got)
            .await
            .map_err(|e| format!("client {id} round {r}: read: {e}"))?;
        if got != want {
            return Err(format!(
                "client {id} round {r}: replies differ\n got {:?}\nwant {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            ));
        }
    }
    Ok(())
}

/// PINGs on its own connection until `stop`; returns (probes, slowest round trip).
async fn probe(port: u16, stop: tokio::sync::watch::Receiver<bool>) -> (usize, Duration) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut n, mut worst) = (0, Duration::ZERO);
    while !*stop.borrow() {
        let t = Instant::now();
        s.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
        let mut buf = [0u8; 7];
        tokio::time::timeout(PROBE_MAX * 2, s.read_exact(&mut buf))
            .await
            .expect("probe not served")
            .unwrap();
        assert_eq!(&buf, b"+PONG\r\n");
        worst = worst.max(t.elapsed());
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (n, worst)
}

#[test]
fn a_thousand_pipelining_clients_get_correct_replies_in_bounded_memory() {
    let limit = raise_own_nofile(CLIENTS as u64 + 200);
    assert!(
        limit >= CLIENTS as u64 + 50,
        "open-files limit too low for this test ({limit})"
    );
    let server = Server::start(&["--maxclients", "2000"]);
    let pid = server.child.id();
    let port = server.port;
    let rss_before = vm_rss_kb(pid);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let (probes, worst) = rt.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let prober = tokio::spawn(probe(port, stop_rx));
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|id| tokio::spawn(client(port, id)))
            .collect();
        let all = async {
            for t in tasks {
                t.await.unwrap()?;
            }
            Ok::<(), String>(())
        };
        match tokio::time::timeout(Duration::from_secs(60), all).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("the load did not finish within 60 s"),
        }
        stop_tx.send(true).unwrap();
        prober.await.unwrap()
    });
    let elapsed = start.elapsed();
    let rss_after = vm_rss_kb(pid);
    let commands = CLIENTS * ROUNDS * (PER_ROUND + PER_ROUND * 2 / 5);
    eprintln!(
        "{CLIENTS} clients x {ROUNDS} rounds: {commands} commands in {elapsed:?}; \
         RSS {rss_before} -> {rss_after} kB; {probes} probes, slowest {worst:?}"
    );
    assert!(probes >= 1, "the probe client never got a reply");
    assert!(
        worst < PROBE_MAX,
        "a separate client waited {worst:?} during the load"
    );
    // 1,000 connections with pipelined input and output buffers, and 5,000 small
    // keys: well under 200 MiB of growth (a per-connection leak or an unbounded buffer
    // would not be).
    let growth_kb = rss_after.saturating_sub(rss_before);
    assert!(
        growth_kb < 200 * 1024,
        "RSS grew by {growth_kb} kB under the load"
    );
    // The server is still healthy and holds exactly what was written.
    let mut c = server.raw();
    assert_eq!(
        common::call(&mut c, &["DBSIZE"]),
        format!(":{}", CLIENTS * 5)
    );
    assert_eq!(
        common::call(&mut c, &["GET", "n999"]),
        format!("${}", ROUNDS * 10)
    );
}
