//! `meridian local`: a multi-region Meridian on this machine, for development and demos.
//!
//! Starts `--regions N` child processes of this same binary (`meridian server`), region
//! `i` serving RESP on `base-port + i - 1` and its region link (QUIC, mutual TLS) on
//! `repl-base-port + i - 1`, its admin API on `admin-base-port + i - 1` (`meridian
//! admin --addr 127.0.0.1:<port> status`) and its metrics endpoint (`/metrics`, `/health`)
//! on `metrics-base-port + i - 1` (default `base-port + 1000`), all on 127.0.0.1, in full
//! mesh. Dev certificates (a cluster
//! CA and one certificate per region) are created in `<data-dir>/tls` on first use. Each
//! region keeps its data under `<data-dir>/region-<i>`. Ctrl-C (or SIGTERM) stops them
//! all; if one region exits, the others are stopped too.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use crate::cli::LocalArgs;

fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn stop_all(children: &mut [(u8, Child)]) {
    for (_, c) in children.iter_mut() {
        // SIGTERM first (clean shutdown), then kill whatever is left.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (_, c) in children.iter_mut() {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Runs `meridian local` until Ctrl-C.
pub fn run(args: &LocalArgs) -> anyhow::Result<()> {
    let n = args.regions;
    if !(1..=9).contains(&n) {
        bail!("--regions must be 1..=9");
    }
    let base = args.base_port;
    let repl_base = args.repl_base_port;
    let admin_base = args.admin_base_port;
    let metrics_base = match args.metrics_base_port {
        Some(p) => Some(p),
        None => base.checked_add(1000),
    };
    let Some(metrics_base) = metrics_base else {
        bail!("ports out of range");
    };
    if [base, repl_base, metrics_base, admin_base]
        .iter()
        .any(|p| p.checked_add(n as u16).is_none())
    {
        bail!("ports out of range");
    }
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tls = dir.join("tls");
    replication::net::certs::ensure_dev_certs(&tls, 1..=n)
        .with_context(|| format!("cannot create dev certificates in {}", tls.display()))?;
    let exe = std::env::current_exe().context("cannot find the meridian binary")?;
    let extra: Vec<String> = args
        .server_flags
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut children: Vec<(u8, Child)> = Vec::new();
    for i in 1..=n {
        let peers: Vec<String> = (1..=n)
            .filter(|j| *j != i)
            .map(|j| format!("{j}@127.0.0.1:{}", repl_base + j as u16 - 1))
            .collect();
        let data = dir.join(format!("region-{i}"));
        let mut cmd = Command::new(&exe);
        cmd.arg("server")
            .args(["--region-id", &i.to_string()])
            .args(["--port", &(base + i as u16 - 1).to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--data-dir", path_str(&data)?])
            .args(["--repl-port", &(repl_base + i as u16 - 1).to_string()])
            .args(["--repl-bind", "127.0.0.1"])
            .args(["--repl-tls-dir", path_str(&tls)?])
            .args(["--peers", &peers.join(" ")])
            .args([
                "--admin-port",
                &if admin_base == 0 {
                    0
                } else {
                    admin_base + i as u16 - 1
                }
                .to_string(),
            ])
            .args(["--metrics-port", &(metrics_base + i as u16 - 1).to_string()])
            .args(&extra)
            .stdin(Stdio::null());
        match cmd.spawn() {
            Ok(c) => children.push((i, c)),
            Err(e) => {
                stop_all(&mut children);
                return Err(anyhow!("cannot start region {i}: {e}"));
            }
        }
    }
    for i in 1..=n {
        let port = base + i as u16 - 1;
        if !wait_port(port, Duration::from_secs(20)) {
            stop_all(&mut children);
            bail!("region {i} did not start listening on 127.0.0.1:{port}");
        }
    }
    println!("Meridian: {n} regions on this machine (Ctrl-C stops them all)");
    for i in 1..=n {
        println!(
            "  region {i}: redis-cli -p {}    (region link 127.0.0.1:{}/udp, metrics http://127.0.0.1:{}/metrics, data {})",
            base + i as u16 - 1,
            repl_base + i as u16 - 1,
            metrics_base + i as u16 - 1,
            dir.join(format!("region-{i}")).display()
        );
        if admin_base != 0 {
            println!(
                "            meridian admin --addr 127.0.0.1:{} status",
                admin_base + i as u16 - 1
            );
        }
    }
    println!("Writes in any region reach the others; try: redis-cli -p {base} INCR hits ; redis-cli -p {} GET hits", base + n as u16 - 1);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook_consts::SIGINT, signal_hook_consts::SIGTERM] {
        signal_flag(sig, stop.clone())?;
    }
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            println!("stopping...");
            break;
        }
        if let Some((i, status)) = children
            .iter_mut()
            .find_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (*i, s)))
        {
            eprintln!("region {i} exited ({status}); stopping the others");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop_all(&mut children);
    Ok(())
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("path {} is not UTF-8", p.display()))
}

mod signal_hook_consts {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}

/// Sets `flag` when signal `sig` arrives (a tiny tokio-free handler via a runtime).
fn signal_flag(
    sig: i32,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut s) = signal(SignalKind::from_raw(sig)) {
                s.recv().await;
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
    });
    Ok(())
}
