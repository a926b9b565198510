//! Real `meridian server` region processes on loopback, each region's peer addresses
//! pointing at the fault proxies (see [`crate::proxy`]).
//!
//! Every child is killed when the [`Cluster`] drops (also while unwinding from a panic)
//! and, on Linux, when the thread that spawned it dies (`PR_SET_PDEATHSIG`), so a
//! harness killed with SIGKILL leaves no region behind. Spawn (start/restart) regions
//! only from the thread that owns the cluster.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use crate::proxy::{Faults, Proxy};

/// How long a region may take to accept clients after (re)start.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Client connect/read/write timeout for harness-side admin commands.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How to launch the regions.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The `meridian` binary.
    pub meridian: PathBuf,
    /// Number of regions (ids 1..=n).
    pub regions: u8,
    /// Run directory: data dirs, certificates, logs.
    pub dir: PathBuf,
    /// Extra flags for every region (e.g. `--appendonly yes`).
    pub extra_args: Vec<String>,
    /// Seed for the proxies' fault randomness.
    pub seed: u64,
    /// `MERIDIAN_LOG` of the regions.
    pub log: String,
}

/// One region.
pub struct Region {
    /// Region id.
    pub id: u8,
    /// RESP port.
    pub port: u16,
    /// Real repl (QUIC) address.
    pub repl_addr: SocketAddr,
    child: Option<Child>,
    paused: bool,
    /// Times this region was (re)started.
    pub starts: u32,
}

impl Region {
    /// Whether the process is running (possibly paused).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process is SIGSTOPped.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// OS pid of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

/// The running cluster.
pub struct Cluster {
    /// Launch configuration.
    pub cfg: ClusterConfig,
    /// Regions, index = id - 1.
    pub regions: Vec<Region>,
    /// The shared fault table of the proxies.
    pub faults: Arc<Faults>,
    proxies: Vec<Proxy>,
}

/// Locates the `meridian` binary: `explicit`, else `$MERIDIAN_BIN`, else
/// `target/release/meridian`.
pub fn locate_meridian(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let p = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("MERIDIAN_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/release/meridian")),
    };
    if !p.is_file() {
        bail!(
            "meridian binary not found at {} (build it with `cargo build --release -p meridian-node --bin meridian`, or pass --meridian / MERIDIAN_BIN)",
            p.display()
        );
    }
    Ok(p)
}

fn free_tcp() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_udp() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Creates the run directory, certificates and proxies, starts every region and
    /// waits until each accepts clients.
    pub fn start(cfg: ClusterConfig) -> anyhow::Result<Cluster> {
        if !(2..=9).contains(&cfg.regions) {
            bail!("regions must be 2..=9");
        }
        std::fs::create_dir_all(&cfg.dir)
            .with_context(|| format!("cannot create {}", cfg.dir.display()))?;
        replication::net::certs::ensure_dev_certs(&cfg.dir.join("tls"), 1..=cfg.regions)
            .map_err(|e| anyhow!("dev certificates: {e}"))?;
        let mut regions = Vec::new();
        for id in 1..=cfg.regions {
            regions.push(Region {
                id,
                port: free_tcp()?,
                repl_addr: SocketAddr::from(([127, 0, 0, 1], free_udp()?)),
                child: None,
                paused: false,
                starts: 0,
            });
        }
        let faults = Arc::new(Faults::default());
        let mut proxies = Vec::new();
        for a in &regions {
            for b in &regions {
                if a.id != b.id {
                    proxies.push(Proxy::start(
                        a.id,
                        b.id,
                        b.repl_addr,
                        faults.clone(),
                        cfg.seed,
                    )?);
                }
            }
        }
        let mut c = Cluster {
            cfg,
            regions,
            faults,
            proxies,
        };
        for id in 1..=c.cfg.regions {
            c.spawn(id)?;
        }
        for id in 1..=c.cfg.regions {
            c.wait_ready(id)?;
        }
        Ok(c)
    }

    /// Region `id`.
    pub fn region(&self, id: u8) -> &Region {
        &self.regions[id as usize - 1]
    }

    /// Region ids.
    pub fn ids(&self) -> Vec<u8> {
        (1..=self.cfg.regions).collect()
    }

    /// Region `id`'s data directory.
    pub fn data_dir(&self, id: u8) -> PathBuf {
        self.cfg.dir.join(format!("region-{id}"))
    }

    fn peers(&self, id: u8) -> String {
        self.proxies
            .iter()
            .filter(|p| p.from == id)
            .map(|p| format!("{}@{}", p.to, p.addr))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn(&mut self, id: u8) -> anyhow::Result<()> {
        let peers = self.peers(id);
        let data = self.data_dir(id);
        let r = &self.regions[id as usize - 1];
        let log_path = self.cfg.dir.join(format!("region-{id}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut cmd = Command::new(&self.cfg.meridian);
        cmd.arg("server")
            .args(["--bind", "127.0.0.1", "--port", &r.port.to_string()])
            .args(["--region-id", &id.to_string()])
            .args(["--data-dir", &data.to_string_lossy()])
            .args(["--repl-bind", "127.0.0.1"])
            .args(["--repl-port", &r.repl_addr.port().to_string()])
            .args([
                "--repl-tls-dir",
                &self.cfg.dir.join("tls").to_string_lossy(),
            ])
            .args(["--peers", &peers])
            .args(["--test-mode", "yes"])
            .args(&self.cfg.extra_args)
            .env("MERIDIAN_LOG", &self.cfg.log)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.cfg.meridian.display()))?;
        let r = &mut self.regions[id as usize - 1];
        r.child = Some(child);
        r.paused = false;
        r.starts += 1;
        Ok(())
    }

    /// Waits until region `id` answers PING.
    pub fn wait_ready(&mut self, id: u8) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let port = self.region(id).port;
        while Instant::now() < deadline {
            if let Some(c) = self.regions[id as usize - 1].child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    bail!("region {id} exited at start-up: {status} (see its log in the run directory)");
                }
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                if let Ok(mut con) = admin_conn(port) {
                    if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("region {id} did not accept clients within {START_TIMEOUT:?}")
    }

    /// kill -9 region `id` (no-op when it is down).
    pub fn kill(&mut self, id: u8) {
        let r = &mut self.regions[id as usize - 1];
        if let Some(mut c) = r.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        r.paused = false;
    }

    /// Restarts region `id` with the same data dir and ports (kills it first if needed).
    pub fn restart(&mut self, id: u8) -> anyhow::Result<()> {
        self.kill(id);
        self.spawn(id)?;
        self.wait_ready(id)
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) region `id`.
    pub fn pause(&mut self, id: u8, stop: bool) {
        let r = &mut self.regions[id as usize - 1];
        if let Some(c) = &r.child {
            let sig = if stop { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: plain syscall on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
            r.paused = stop;
        }
    }

    /// Sets region `id`'s clock offset (test-mode knob).
    pub fn clock_offset(&self, id: u8, offset_ms: i64) -> anyhow::Result<()> {
        let mut con = admin_conn(self.region(id).port)?;
        redis::cmd("DEBUG")
            .arg("CLOCK-OFFSET-MS")
            .arg(offset_ms)
            .query::<()>(&mut con)
            .with_context(|| format!("DEBUG CLOCK-OFFSET-MS on region {id}"))
    }

    /// Injects the test-only bug: region `id` replicates its next `n` ops stripped.
    pub fn drop_next_deltas(&self, id: u8, n: u32) -> anyhow::Result<()> {
        let mut con = admin_conn(self.region(id).port)?;
        redis::cmd("DEBUG")
            .arg("DROP-NEXT-DELTA")
            .arg(n)
            .query::<()>(&mut con)
            .with_context(|| format!("DEBUG DROP-NEXT-DELTA on region {id}"))
    }

    /// Heals everything: network faults cleared, paused regions continued, dead regions
    /// restarted, clock offsets reset.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        self.faults.heal();
        for id in self.ids() {
            if self.region(id).paused() {
                self.pause(id, false);
            }
            if !self.region(id).running() {
                self.restart(id)?;
            }
        }
        for id in self.ids() {
            let _ = self.clock_offset(id, 0);
        }
        Ok(())
    }

    /// Proxy counters per directed edge.
    pub fn proxy_stats(&self) -> Vec<(u8, u8, [u64; 5])> {
        self.faults.all_stats()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.regions {
            if let Some(mut c) = r.child.take() {
                // SAFETY: plain syscall on our own child's pid.
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGCONT);
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.proxies.clear();
    }
}

/// A harness-side connection with short timeouts.
pub fn admin_conn(port: u16) -> anyhow::Result<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = client.get_connection_with_timeout(ADMIN_TIMEOUT)?;
    con.set_read_timeout(Some(ADMIN_TIMEOUT))?;
    con.set_write_timeout(Some(ADMIN_TIMEOUT))?;
    Ok(con)
}

/// `INFO replication` of a region as `field → value`.
pub fn info_replication(port: u16) -> anyhow::Result<Vec<(String, String)>> {
    let mut con = admin_conn(port)?;
    let info: String = redis::cmd("INFO").arg("replication").query(&mut con)?;
    Ok(info
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// One peer line of `INFO replication` (`region_peerN:region=2,link=up,...`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PeerInfo {
    /// Peer region.
    pub peer: u8,
    /// Link state (`up`, `down`, ...).
    pub link: String,
    /// Ops the peer has not acknowledged.
    pub lag_ops: u64,
    /// Age of the oldest unacknowledged op.
    pub lag_ms: u64,
    /// Partial resyncs on this link.
    pub partial_resyncs: u64,
    /// Full resyncs sent to the peer.
    pub full_resyncs_sent: u64,
    /// Full resyncs received from the peer.
    pub full_resyncs_received: u64,
}

/// The peer lines of an `INFO replication` answer.
pub fn peer_infos(info: &[(String, String)]) -> Vec<PeerInfo> {
    info.iter()
        .filter(|(k, _)| k.starts_with("region_peer"))
        .map(|(_, v)| {
            let mut p = PeerInfo::default();
            for kv in v.split(',') {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let n = || v.parse::<i64>().unwrap_or(0).max(0) as u64;
                match k {
                    "region" => p.peer = v.parse().unwrap_or(0),
                    "link" => p.link = v.to_string(),
                    "lag_ops" => p.lag_ops = n(),
                    "lag_ms" => p.lag_ms = n(),
                    "partial_resyncs" => p.partial_resyncs = n(),
                    "full_resyncs_sent" => p.full_resyncs_sent = n(),
                    "full_resyncs_received" => p.full_resyncs_received = n(),
                    _ => {}
                }
            }
            p
        })
        .collect()
}

/// Field `name` of an INFO answer.
pub fn info_field<'a>(info: &'a [(String, String)], name: &str) -> Option<&'a str> {
    info.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
