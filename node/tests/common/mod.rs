//! Shared helpers for integration tests: start the real `meridian` binary on
//! a free loopback port, wait until it accepts, kill it on drop; raw RESP
//! I/O helpers with timeouts.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Upper bound for any single wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The server binary: `$MERIDIAN_BIN` when set (e.g. a copy kept apart from a target
/// directory that other builds share), else the one cargo built for these tests.
pub fn bin() -> String {
    std::env::var("MERIDIAN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_meridian").to_string())
}

/// A running `meridian server`, killed when dropped.
pub struct Server {
    pub port: u16,
    pub child: Child,
}

/// The `process_id` of `INFO server` on a fresh connection (`None` if refused).
fn server_pid(c: &mut TcpStream) -> Option<u32> {
    c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    c.write_all(b"INFO server\r\n").ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // One bulk reply of a few hundred bytes; bounded reads.
    for _ in 0..64 {
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.first() == Some(&b'-') && buf.ends_with(b"\r\n") {
            return None;
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some(rest) = text.split("process_id:").nth(1) {
            if let Some((pid, _)) = rest.split_once("\r\n") {
                return pid.trim().parse().ok();
            }
        }
        if buf.len() > 1 << 16 {
            return None;
        }
    }
    None
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A UDP port on 127.0.0.1 that was free a moment ago (region links).
pub fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("no free UDP port")
}

impl Server {
    /// Starts a server with default settings plus `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_bound("127.0.0.1", extra)
    }

    /// Starts a server listening on `bind` (which must include 127.0.0.1).
    pub fn start_bound(bind: &str, extra: &[&str]) -> Server {
        // A port picked this way can be taken by someone else before the
        // server binds it; retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(bin())
                .args(["server", "--bind", bind, "--port", &port.to_string()])
                .args(extra)
                .env("MERIDIAN_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("cannot start meridian");
            let mut server = Server { port, child };
            if server.wait_ready() {
                return server;
            }
        }
        panic!("meridian did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                // The port may have been taken by another test's server between
                // `free_port` and our bind: make sure the listener is our child.
                return match server_pid(&mut c) {
                    Some(pid) => pid == self.child.id(),
                    // (INFO refused, e.g. before AUTH: our child must still be running.)
                    None => matches!(self.child.try_wait(), Ok(None)),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `redis://127.0.0.1:port/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A redis-rs connection.
    pub fn redis(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("client");
        client
            .get_connection_with_timeout(TIMEOUT)
            .expect("connect")
    }

    /// A raw TCP connection with read/write timeouts.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    /// Waits (bounded) for the process to exit; returns its status.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes.
pub fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
}

/// Reads exactly `n` bytes (or panics on timeout/EOF).
pub fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("read_exact");
    buf
}

/// Reads until EOF (connection closed by the server), bounded by TIMEOUT.
/// Returns everything read; panics if the server does not close.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "server did not close");
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read error while waiting for close: {e}"),
        }
    }
}

/// One request, one raw reply line(s): writes `req` and reads `expect.len()`
/// bytes, asserting they equal `expect`.
pub fn roundtrip(s: &mut TcpStream, req: &[u8], expect: &[u8]) {
    send(s, req);
    let got = read_exact(s, expect.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expect),
        "reply to {:?}",
        String::from_utf8_lossy(req)
    );
}

/// `-WRONGTYPE` text as Redis sends it.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Runs `args` (command first) and decodes the reply; panics with the command on error.
pub fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut k = redis::cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs `args` expecting an error reply; returns "CODE detail".
pub fn err(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut k = redis::cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    match k.query::<redis::Value>(c) {
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
    }
}

/// Asserts that `args` fails with an error containing `want`.
pub fn assert_err(c: &mut redis::Connection, args: &[&str], want: &str) {
    let e = err(c, args);
    assert!(
        e.contains(want),
        "{args:?}: {e:?} does not contain {want:?}"
    );
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        let n = s.read(&mut b).expect("read");
        assert!(n == 1, "connection closed while reading a reply");
        line.push(b[0]);
    }
    line.truncate(line.len() - 2);
    String::from_utf8_lossy(&line).into_owned()
}

/// Reads one RESP2/RESP3 reply and renders it as text: `+OK`, `-ERR ...`, `:1`,
/// `$value` / `$nil`, `[a, b]` for aggregates (maps flattened).
pub fn read_reply(s: &mut TcpStream) -> String {
    let line = read_line(s);
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | "-" | ":" | "," | "#" | "(" => line,
        "_" => "$nil".into(),
        "$" | "=" => {
            let n: i64 = rest.parse().expect("bulk length");
            if n < 0 {
                return "$nil".into();
            }
            let body = read_exact(s, n as usize + 2);
            format!("${}", String::from_utf8_lossy(&body[..n as usize]))
        }
        "*" | "~" | ">" | "%" => {
            let n: i64 = rest.parse().expect("aggregate length");
            if n < 0 {
                return "$nil".into();
            }
            let n = if kind == "%" { n * 2 } else { n };
            let items: Vec<String> = (0..n).map(|_| read_reply(s)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => panic!("unexpected reply line {line:?}"),
    }
}

/// Sends one command and returns its rendered reply (see [`read_reply`]).
pub fn call(s: &mut TcpStream, args: &[&str]) -> String {
    send(s, &encode(args));
    read_reply(s)
}

/// INFO clients `blocked_clients`.
pub fn blocked_clients(c: &mut redis::Connection) -> i64 {
    let info: String = q(c, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients")
        .trim()
        .parse()
        .unwrap()
}

/// Waits (bounded) until `n` clients are blocked.
pub fn wait_blocked(c: &mut redis::Connection, n: i64) {
    let deadline = Instant::now() + TIMEOUT;
    while blocked_clients(c) != n {
        assert!(Instant::now() < deadline, "never saw {n} blocked clients");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a command on its own connection in a thread.
pub fn spawn(
    server: &Server,
    args: &[&str],
) -> std::thread::JoinHandle<Result<redis::Value, String>> {
    let mut c = server.redis();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let mut k = redis::cmd(&args[0]);
        for a in &args[1..] {
            k.arg(a);
        }
        k.query::<redis::Value>(&mut c).map_err(|e| e.to_string())
    })
}

/// A bulk-string reply value.
pub fn bulk(s: &str) -> redis::Value {
    redis::Value::BulkString(s.as_bytes().to_vec())
}

/// Two regions linked to each other (dev certificates in a fresh temporary directory,
/// which the caller removes), with extra flags per region.
pub fn two_regions(
    name: &str,
    extra1: &[&str],
    extra2: &[&str],
) -> (std::path::PathBuf, Server, Server) {
    let dir = std::env::temp_dir().join(format!("meridian-{name}-{}", std::process::id()));
    let tls = dir.join("tls");
    replication::net::certs::ensure_dev_certs(&tls, 1..=2).unwrap();
    let udp = || {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (p1, p2) = (udp(), udp());
    let region = |id: u8, me: u16, peer: u16, extra: &[&str]| {
        let data = dir.join(format!("region-{id}"));
        let mut args = vec![
            "--region-id".to_string(),
            id.to_string(),
            "--data-dir".into(),
            data.to_str().unwrap().into(),
            "--repl-port".into(),
            me.to_string(),
            "--repl-tls-dir".into(),
            tls.to_str().unwrap().into(),
            "--peers".into(),
            format!("{}@127.0.0.1:{peer}", 3 - id),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start(&refs)
    };
    let r1 = region(1, p1, p2, extra1);
    let r2 = region(2, p2, p1, extra2);
    (dir, r1, r2)
}

/// INFO field as a number.
pub fn info_field(s: &mut std::net::TcpStream, section: &str, field: &str) -> u64 {
    let info = call(s, &["INFO", section]);
    let prefix = format!("{field}:");
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// Raises this test process's soft open-files limit towards `want`; returns the limit.
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every Unix.
pub fn raise_own_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if (lim.rlim_cur as u64) < want {
            lim.rlim_cur = want.min(lim.rlim_max as u64) as libc::rlim_t;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    lim.rlim_cur as u64
}
