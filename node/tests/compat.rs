//! Differential compatibility test: the same deterministic command scripts run against
//! Debian's `redis-server` and the real `meridian` binary, over raw RESP, with RESP2 and
//! with RESP3 (`HELLO 3`); every reply is compared byte for byte.
//!
//! # Adding a family
//!
//! 1. Write `node/tests/compat/<family>.rs` with `pub const SCRIPT: &[&[&str]] = &[...]`:
//!    one command per row, normal use, edge cases and error cases. The script starts on
//!    an empty server (FLUSHALL, database 0) and must be deterministic: no relative
//!    sleeps, absolute expiry times far in the future (e.g. `4102444800`, year 2100) or
//!    in the past (`1`).
//! 2. Add two lines below: `#[path = "compat/<family>.rs"] mod <family>;` and
//!    `family!(<family>);` in the test table at the end of this file.
//!
//! # Comparison modes
//!
//! Replies are compared exactly (type and bytes) unless a row starts with a directive,
//! or the command has a default mode in [`default_mode`]. Keep these rare and justified:
//! a difference that is a bug must be fixed in the server, not hidden here.
//!
//! | directive | compares |
//! |---|---|
//! | `@exact` | exactly (overrides a command's default mode) |
//! | `@unordered` | the top-level array/set as a multiset (KEYS, SMEMBERS: Redis' order is its hash table's) |
//! | `@type` | only the RESP type of the reply (RANDOMKEY, TIME, CLIENT ID, HELLO) |
//! | `@ttl=N` | integers: negative values exactly, positive ones within ±N (time passes between the two servers) |
//! | `@scan` | runs the SCAN-family command to completion on each server and compares the union of elements (cursors are opaque) |
//! | `@replies=N` | the command produces N replies (SUBSCRIBE a b c); each is compared exactly |
//! | `@skip` | sends the command to both, compares nothing (setup whose reply differs by design) |
//! | `@float` | bulk strings as numbers, relative difference ≤ 1e-15 (INCRBYFLOAT: Redis computes in 80-bit `long double` and prints 17 decimals, Meridian in `f64`; see node/README.md) |
//! | `@redis7.2=TEXT` | with a redis-server older than 7.2 (Debian's is 7.0), Meridian must reply exactly `TEXT` (RESP, without the final CRLF), what Redis 7.2 replies; with 7.2+ the replies are compared |
//!
//! RESP3 doubles (`,`) are compared by value: redis-server 7.0 prints them with `%.17g`,
//! 7.2 (which Meridian follows) with the shortest round-trip text.
//!
//! If `redis-server` is not installed the tests print why and pass (CI installs it).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

mod common;

#[path = "compat/acl.rs"]
mod acl;
#[path = "compat/connection.rs"]
mod connection;
#[path = "compat/geo.rs"]
mod geo;
#[path = "compat/hash.rs"]
mod hash;
#[path = "compat/hll.rs"]
mod hll;
#[path = "compat/keys.rs"]
mod keys;
#[path = "compat/list.rs"]
mod list;
#[path = "compat/memory.rs"]
mod memory;
#[path = "compat/pubsub.rs"]
mod pubsub;
#[path = "compat/scripting.rs"]
mod scripting;
#[path = "compat/set.rs"]
mod set;
#[path = "compat/slowlog.rs"]
mod slowlog;
#[path = "compat/stream.rs"]
mod stream;
#[path = "compat/strings.rs"]
mod strings;
#[path = "compat/transactions.rs"]
mod transactions;
#[path = "compat/zset.rs"]
mod zset;

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed RESP2/RESP3 reply.
#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    NullBulk,
    NullArray,
    Array(Vec<Resp>),
    Null,
    Double(Vec<u8>),
    Bool(bool),
    BigNum(Vec<u8>),
    Verbatim(Vec<u8>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
}

impl Resp {
    fn type_name(&self) -> &'static str {
        match self {
            Resp::Simple(_) => "simple",
            Resp::Error(_) => "error",
            Resp::Int(_) => "integer",
            Resp::Bulk(_) => "bulk",
            Resp::NullBulk => "null bulk",
            Resp::NullArray => "null array",
            Resp::Array(_) => "array",
            Resp::Null => "null",
            Resp::Double(_) => "double",
            Resp::Bool(_) => "boolean",
            Resp::BigNum(_) => "big number",
            Resp::Verbatim(_) => "verbatim",
            Resp::Map(_) => "map",
            Resp::Set(_) => "set",
            Resp::Push(_) => "push",
        }
    }

    /// Elements of an aggregate (arrays, sets, pushes; maps flattened).
    fn elements(&self) -> Option<Vec<Resp>> {
        match self {
            Resp::Array(v) | Resp::Set(v) | Resp::Push(v) => Some(v.clone()),
            Resp::Map(m) => Some(m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()),
            _ => None,
        }
    }

    /// Exact equality, except that doubles compare by value.
    fn same(&self, other: &Resp) -> bool {
        fn all(a: &[Resp], b: &[Resp]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
        }
        match (self, other) {
            (Resp::Double(a), Resp::Double(b)) => {
                let p = |x: &[u8]| String::from_utf8_lossy(x).parse::<f64>().ok();
                a == b || (p(a).is_some() && p(a) == p(b))
            }
            (Resp::Array(a), Resp::Array(b))
            | (Resp::Set(a), Resp::Set(b))
            | (Resp::Push(a), Resp::Push(b)) => all(a, b),
            (Resp::Map(a), Resp::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((k1, v1), (k2, v2))| k1.same(k2) && v1.same(v2))
            }
            (a, b) => a == b,
        }
    }
}

/// Escapes bytes for a readable report.
fn esc(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

/// A connection speaking raw RESP.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out)
    }

    fn line(&mut self, raw: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l)?;
        if !l.ends_with(b"\r\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("truncated line {:?}", esc(&l)),
            ));
        }
        raw.extend_from_slice(&l);
        l.truncate(l.len() - 2);
        Ok(l)
    }

    fn num(l: &[u8]) -> std::io::Result<i64> {
        String::from_utf8_lossy(l).parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad length {:?}", esc(l)),
            )
        })
    }

    /// Reads one reply; `raw` receives its exact bytes.
    fn read(&mut self, raw: &mut Vec<u8>) -> std::io::Result<Resp> {
        let l = self.line(raw)?;
        let (t, body) = (l.first().copied().unwrap_or(b'?'), l[1..].to_vec());
        let agg = |c: &mut Conn, n: i64, raw: &mut Vec<u8>| -> std::io::Result<Vec<Resp>> {
            (0..n).map(|_| c.read(raw)).collect()
        };
        Ok(match t {
            b'+' => Resp::Simple(body),
            b'-' => Resp::Error(body),
            b':' => Resp::Int(Self::num(&body)?),
            b'$' | b'=' => {
                let n = Self::num(&body)?;
                if n < 0 {
                    return Ok(Resp::NullBulk);
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b)?;
                raw.extend_from_slice(&b);
                b.truncate(n as usize);
                if t == b'$' {
                    Resp::Bulk(b)
                } else {
                    Resp::Verbatim(b)
                }
            }
            b'*' => {
                let n = Self::num(&body)?;
                if n < 0 {
                    Resp::NullArray
                } else {
                    Resp::Array(agg(self, n, raw)?)
                }
            }
            b'~' => Resp::Set(agg(self, Self::num(&body)?, raw)?),
            b'>' => Resp::Push(agg(self, Self::num(&body)?, raw)?),
            b'%' => {
                let n = Self::num(&body)?;
                let mut m = Vec::new();
                for _ in 0..n {
                    let k = self.read(raw)?;
                    m.push((k, self.read(raw)?));
                }
                Resp::Map(m)
            }
            b'_' => Resp::Null,
            b',' => Resp::Double(body),
            b'#' => Resp::Bool(body == b"t"),
            b'(' => Resp::BigNum(body),
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown reply type {:?}", esc(&l)),
                ))
            }
        })
    }

    /// Sends a command and reads `n` replies.
    fn call(&mut self, args: &[&[u8]], n: usize) -> std::io::Result<Vec<(Resp, Vec<u8>)>> {
        self.send(args)?;
        (0..n)
            .map(|_| {
                let mut raw = Vec::new();
                let v = self.read(&mut raw)?;
                Ok((v, raw))
            })
            .collect()
    }
}

/// A `redis-server` child with no persistence, killed on drop.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start() -> Redis {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("no free port");
            let mut child = Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--logfile", ""])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start redis-server");
            let deadline = Instant::now() + TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Redis { port, child };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a step's replies are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    Unordered,
    Type,
    Ttl(i64),
    Scan,
    Skip,
    Float,
    /// Redis 7.0 answers differently from 7.2, which Meridian follows: when the installed
    /// redis-server is older than 7.2, Meridian's reply must equal this RESP text.
    Redis72(&'static str),
}

/// Comparison mode for commands whose replies legitimately differ in every script.
fn default_mode(cmd: &str) -> Mode {
    match cmd {
        // Random or time/identity-dependent by definition.
        "randomkey" | "time" | "hello" => Mode::Type,
        // Redis returns keys in its hash table's order.
        "keys" => Mode::Unordered,
        // Cursors are opaque; compare complete iterations.
        "scan" => Mode::Scan,
        // Time passes between the two servers' executions.
        "ttl" => Mode::Ttl(1),
        "pttl" => Mode::Ttl(1000),
        _ => Mode::Exact,
    }
}

/// Splits a script row into its directives and the command.
fn parse_row(row: &'static [&'static str]) -> (Mode, usize, &'static [&'static str]) {
    let mut mode = None;
    let mut replies = 1;
    let mut i = 0;
    while i < row.len() && row[i].starts_with('@') {
        let d = row[i];
        mode = Some(match d {
            "@exact" => Mode::Exact,
            "@unordered" => Mode::Unordered,
            "@type" => Mode::Type,
            "@scan" => Mode::Scan,
            "@skip" => Mode::Skip,
            "@float" => Mode::Float,
            _ if d.starts_with("@redis7.2=") => Mode::Redis72(&d[10..]),
            _ if d.starts_with("@ttl=") => Mode::Ttl(d[5..].parse().expect("@ttl=N")),
            _ if d.starts_with("@replies=") => {
                replies = d[9..].parse().expect("@replies=N");
                mode.unwrap_or(Mode::Exact)
            }
            _ => panic!("unknown directive {d}"),
        });
        i += 1;
    }
    let cmd = &row[i..];
    assert!(!cmd.is_empty(), "empty script row");
    let mode = mode.unwrap_or_else(|| default_mode(&cmd[0].to_ascii_lowercase()));
    (mode, replies, cmd)
}

fn sorted_raw(items: Vec<Resp>) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|x| format!("{x:?}")).collect();
    v.sort();
    v
}

/// Runs a SCAN-family command to completion; returns every element (pairs for
/// HSCAN/ZSCAN) or the first error.
fn scan_all(c: &mut Conn, cmd: &[&str]) -> std::io::Result<Result<Vec<String>, Resp>> {
    let name = cmd[0].to_ascii_lowercase();
    let at = if name == "scan" { 1 } else { 2 };
    let pairs = (name == "hscan" && !cmd.iter().any(|a| a.eq_ignore_ascii_case("novalues")))
        || name == "zscan";
    let mut args: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let (v, _) = c.call(&refs, 1)?.remove(0);
        let (cursor, items) = match &v {
            Resp::Array(x) if x.len() == 2 => match (&x[0], &x[1]) {
                (Resp::Bulk(c), Resp::Array(items)) => (c.clone(), items.clone()),
                _ => return Ok(Err(v)),
            },
            _ => return Ok(Err(v)),
        };
        if pairs {
            out.extend(items.chunks(2).map(|p| format!("{p:?}")));
        } else {
            out.extend(items.iter().map(|x| format!("{x:?}")));
        }
        if cursor == b"0" {
            out.sort();
            return Ok(Ok(out));
        }
        args[at] = cursor;
    }
    panic!("SCAN did not finish: {cmd:?}");
}

/// Compares one step's replies; returns a description of the difference.
fn compare(mode: Mode, redis: &[(Resp, Vec<u8>)], ours: &[(Resp, Vec<u8>)]) -> Option<String> {
    let show = |r: &[(Resp, Vec<u8>)]| {
        r.iter()
            .map(|(_, raw)| esc(raw))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ok = redis.iter().zip(ours).all(|((a, _), (b, _))| match mode {
        Mode::Exact | Mode::Scan | Mode::Redis72(_) => a.same(b),
        Mode::Float => match (a, b) {
            (Resp::Bulk(x), Resp::Bulk(y)) => {
                let p = |v: &[u8]| String::from_utf8_lossy(v).parse::<f64>().ok();
                match (p(x), p(y)) {
                    (Some(x), Some(y)) => (x - y).abs() <= 1e-15 * x.abs().max(1.0),
                    _ => x == y,
                }
            }
            _ => a.same(b),
        },
        Mode::Skip => true,
        Mode::Type => a.type_name() == b.type_name(),
        Mode::Unordered => match (a.elements(), b.elements()) {
            (Some(x), Some(y)) => a.type_name() == b.type_name() && sorted_raw(x) == sorted_raw(y),
            _ => a.same(b),
        },
        Mode::Ttl(tol) => match (a, b) {
            (Resp::Int(x), Resp::Int(y)) if *x >= 0 && *y >= 0 => (x - y).abs() <= tol,
            _ => a.same(b),
        },
    });
    if ok && redis.len() == ours.len() {
        None
    } else {
        Some(format!(
            "\n      redis:    {}\n      meridian: {}",
            show(redis),
            show(ours)
        ))
    }
}

/// Runs `script` against both servers with protocol `proto` (2 or 3); returns the
/// mismatches found.
fn run_script(
    family: &str,
    script: &'static [&'static [&'static str]],
    proto: u8,
    redis: u16,
    ours: u16,
    redis72: bool,
) -> Vec<String> {
    let mut conns = [Conn::open(redis), Conn::open(ours)];
    let mut bad = Vec::new();
    for c in conns.iter_mut() {
        let r = c.call(&[b"FLUSHALL"], 1).expect("FLUSHALL");
        assert_eq!(r[0].0, Resp::Simple(b"OK".to_vec()), "FLUSHALL");
        if proto == 3 {
            let r = c.call(&[b"HELLO", b"3"], 1).expect("HELLO 3");
            assert!(matches!(r[0].0, Resp::Map(_)), "HELLO 3: {:?}", r[0].0);
        }
    }
    for (n, row) in script.iter().enumerate() {
        let (mut mode, replies, cmd) = parse_row(row);
        if redis72 {
            if let Mode::Redis72(_) = mode {
                mode = Mode::Exact;
            }
        }
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let where_ = format!("{family} RESP{proto} step {n}: {}", cmd.join(" "));
        if mode == Mode::Scan {
            let a = scan_all(&mut conns[0], cmd).expect("redis io");
            let b = scan_all(&mut conns[1], cmd).unwrap_or_else(|e| panic!("{where_}: {e}"));
            if a != b {
                bad.push(format!(
                    "{where_}\n      redis:    {a:?}\n      meridian: {b:?}"
                ));
            }
            continue;
        }
        let a = conns[0].call(&args, replies).expect("redis io");
        let b = match conns[1].call(&args, replies) {
            Ok(b) => b,
            Err(e) => {
                bad.push(format!("{where_}: meridian I/O error {e}; script aborted"));
                return bad;
            }
        };
        if let Mode::Redis72(want) = mode {
            let want = format!("{want}\r\n");
            if b.len() != 1 || b[0].1 != want.as_bytes() {
                bad.push(format!(
                    "{where_}\n      redis 7.2: {}\n      meridian:  {}",
                    esc(want.as_bytes()),
                    esc(&b[0].1)
                ));
            }
            continue;
        }
        if let Some(d) = compare(mode, &a, &b) {
            bad.push(format!("{where_}{d}"));
        }
    }
    bad
}

/// Runs one family's script with RESP2 and RESP3; panics listing every mismatch.
/// Whether the redis-server on `port` is version 7.2 or later.
fn is_redis72(port: u16) -> bool {
    let mut c = Conn::open(port);
    let r = c.call(&[b"INFO", b"server"], 1).expect("INFO");
    let Resp::Bulk(info) = &r[0].0 else {
        panic!("INFO: {:?}", r[0].0)
    };
    let info = String::from_utf8_lossy(info);
    let v = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .expect("redis_version");
    let mut parts = v.trim().split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (7, 2)
}

fn check_family(family: &str, script: &'static [&'static [&'static str]]) {
    if !Path::new(REDIS_SERVER).exists() {
        println!(
            "SKIPPED compat/{family}: {REDIS_SERVER} is not installed (Debian package \
             redis-server); CI installs it"
        );
        return;
    }
    let redis = Redis::start();
    let ours = common::Server::start(&[]);
    let v72 = is_redis72(redis.port);
    let mut bad = run_script(family, script, 2, redis.port, ours.port, v72);
    bad.extend(run_script(family, script, 3, redis.port, ours.port, v72));
    assert!(
        bad.is_empty(),
        "{} mismatch(es) with redis-server:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}

/// One test per family: `family!(name)` runs `name::SCRIPT`.
macro_rules! family {
    ($name:ident) => {
        #[test]
        fn $name() {
            check_family(stringify!($name), $name::SCRIPT);
        }
    };
}

family!(acl);
family!(connection);
family!(strings);
family!(keys);
family!(transactions);
family!(pubsub);
family!(hash);
family!(set);
family!(zset);
family!(geo);
family!(memory);
family!(list);
family!(hll);
family!(slowlog);
family!(stream);
family!(scripting);

#[test]
fn comparator_modes() {
    let i = |x| (Resp::Int(x), Vec::new());
    assert!(compare(Mode::Ttl(1), &[i(100)], &[i(99)]).is_none());
    assert!(compare(Mode::Ttl(1), &[i(-1)], &[i(99)]).is_some());
    assert!(compare(Mode::Ttl(1), &[i(-2)], &[i(-1)]).is_some());
    let arr = |v: &[i64]| {
        (
            Resp::Array(v.iter().map(|&x| Resp::Int(x)).collect()),
            Vec::new(),
        )
    };
    assert!(compare(Mode::Unordered, &[arr(&[1, 2])], &[arr(&[2, 1])]).is_none());
    assert!(compare(Mode::Exact, &[arr(&[1, 2])], &[arr(&[2, 1])]).is_some());
    let d = |s: &str| (Resp::Double(s.as_bytes().to_vec()), Vec::new());
    assert!(compare(Mode::Exact, &[d("0.10000000000000001")], &[d("0.1")]).is_none());
    assert!(compare(Mode::Exact, &[d("0.2")], &[d("0.1")]).is_some());
}
