//! Metrics and health of linked regions: per-peer lag and link metrics with two regions,
//! and `/health` answering 503 while a region that lost its data refuses writes.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{call, free_port, free_udp, TIMEOUT};

/// Links need a few seconds to come up on a loaded 2-core machine.
const LINK_TIMEOUT: Duration = Duration::from_secs(45);

fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let _ = s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// One region process, killed on drop.
struct Region {
    port: u16,
    metrics: u16,
    child: Child,
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!(
        "meridian-observe-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

/// Starts region `id` with the given ports, peers (`id@127.0.0.1:udp`) and data dir.
fn spawn(id: u8, port: u16, repl: u16, peers: &str, data: &Path, tls: &Path) -> Region {
    let metrics = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--region-id", &id.to_string()])
        .arg("--data-dir")
        .arg(data)
        .args(["--repl-port", &repl.to_string()])
        .arg("--repl-tls-dir")
        .arg(tls)
        .args(["--peers", peers])
        .args(["--metrics-port", &metrics.to_string()])
        .env("MERIDIAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start meridian");
    let mut r = Region {
        port,
        metrics,
        child,
    };
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(r.child.try_wait().unwrap().is_none(), "region {id} exited");
        assert!(Instant::now() < deadline, "region {id} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    r
}

fn raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

#[test]
fn two_regions_expose_lag_and_link_metrics() {
    let dir = temp_dir("two");
    let tls = dir.0.join("tls");
    // Certificates from `meridian certs`, as deploy/README.md tells operators.
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["certs", "--regions", "2", "--out"])
        .arg(&tls)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for f in [
        "ca.pem",
        "ca.key",
        "region-1.pem",
        "region-1.key",
        "region-2.pem",
        "region-2.key",
    ] {
        assert!(tls.join(f).is_file(), "meridian certs did not write {f}");
    }
    let (p1, p2, u1, u2) = (free_port(), free_port(), free_udp(), free_udp());
    let r1 = spawn(
        1,
        p1,
        u1,
        &format!("2@127.0.0.1:{u2}"),
        &dir.0.join("r1"),
        &tls,
    );
    let r2 = spawn(
        2,
        p2,
        u2,
        &format!("1@127.0.0.1:{u1}"),
        &dir.0.join("r2"),
        &tls,
    );
    // Wait for the link to stream in both directions.
    let deadline = Instant::now() + LINK_TIMEOUT;
    loop {
        let up = |r: &Region, peer: u8| {
            sample(
                &get(r.metrics, "/metrics").1,
                &format!(
                    "meridian_replication_peer_link_state{{peer=\"{peer}\",state=\"streaming\"}}"
                ),
            ) == Some(1.0)
        };
        if up(&r1, 2) && up(&r2, 1) {
            break;
        }
        assert!(Instant::now() < deadline, "link never streamed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut c1 = raw(r1.port);
    for i in 0..50 {
        assert_eq!(
            call(&mut c1, &["INCR", &format!("n{}", i % 5)]),
            format!(":{}", i / 5 + 1)
        );
    }
    // Replicated: region 2 sees the writes, region 1's lag to 2 drains to 0.
    let mut c2 = raw(r2.port);
    let deadline = Instant::now() + LINK_TIMEOUT;
    loop {
        let m = get(r1.metrics, "/metrics").1;
        let lag = sample(&m, "meridian_replication_peer_lag_ops{peer=\"2\"}");
        if call(&mut c2, &["GET", "n4"]) == "$10" && lag == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not replicate: lag {lag:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, m) = get(r1.metrics, "/metrics");
    assert_eq!(status, 200);
    for series in [
        "meridian_region_writable",
        "meridian_replication_peer_up{peer=\"2\"}",
        "meridian_replication_peer_lag_ops{peer=\"2\"}",
        "meridian_replication_peer_lag_seconds{peer=\"2\"}",
        "meridian_replication_peer_inflight_bytes{peer=\"2\"}",
        "meridian_replication_peer_partial_resyncs_total{peer=\"2\"}",
        "meridian_replication_peer_full_resyncs_sent_total{peer=\"2\"}",
        "meridian_replication_peer_full_resyncs_received_total{peer=\"2\"}",
        "meridian_replication_peer_last_heard_seconds{peer=\"2\"}",
        "meridian_replication_oplog_entries",
        "meridian_replication_oplog_bytes",
        "meridian_replication_oplog_span_ops{origin=\"1\"}",
        "meridian_replication_bytes_sent_total",
        "meridian_replication_bytes_received_total",
    ] {
        assert!(sample(&m, series).is_some(), "missing {series}:\n{m}");
    }
    assert_eq!(sample(&m, "meridian_region_writable"), Some(1.0));
    assert_eq!(
        sample(&m, "meridian_replication_peer_up{peer=\"2\"}"),
        Some(1.0)
    );
    assert!(sample(&m, "meridian_replication_bytes_sent_total").unwrap() > 0.0);
    // Once the only peer acknowledged everything the log may be trimmed to nothing.
    assert!(sample(&m, "meridian_replication_oplog_span_ops{origin=\"1\"}").unwrap() >= 0.0);
    let states: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("meridian_replication_peer_link_state{peer=\"2\""))
        .collect();
    assert_eq!(states.len(), 5, "{states:?}");
    assert_eq!(states.iter().filter(|l| l.ends_with(" 1")).count(), 1);
    assert_eq!(get(r1.metrics, "/health"), (200, "ok\n".into()));
    assert_eq!(get(r2.metrics, "/health"), (200, "ok\n".into()));
}

#[test]
fn health_is_503_while_a_region_that_lost_its_data_refuses_writes() {
    let dir = temp_dir("lost");
    let tls = dir.0.join("tls");
    replication::net::certs::ensure_dev_certs(&tls, 1..=2).unwrap();
    // The peer never runs: region 1 cannot catch up after losing its data.
    let (port, repl, absent) = (free_port(), free_udp(), free_udp());
    let peers = format!("2@127.0.0.1:{absent}");
    let data = dir.0.join("r1");
    let r = spawn(1, port, repl, &peers, &data, &tls);
    assert_eq!(get(r.metrics, "/health"), (200, "ok\n".into()));
    drop(r);
    // Restarted without persistence: its data is gone, it must not write until a peer
    // has given its history back.
    let r = spawn(1, port, repl, &peers, &data, &tls);
    let (status, body) = get(r.metrics, "/health");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("recovering"), "{body}");
    let mut c = raw(r.port);
    assert!(call(&mut c, &["SET", "k", "v"]).starts_with("-READONLY"));
    assert_eq!(call(&mut c, &["PING"]), "+PONG");
    let m = get(r.metrics, "/metrics").1;
    assert_eq!(sample(&m, "meridian_region_writable"), Some(0.0));
    assert_eq!(sample(&m, "meridian_up"), Some(0.0));
    assert_eq!(get(r.metrics, "/health/live").0, 200);
}
