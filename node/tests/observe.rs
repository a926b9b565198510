//! Observability against the real binary: `/metrics` and `/health` on `metrics-port`,
//! hostile HTTP clients, SLOWLOG, LATENCY, JSON logs and `meridian check-config`.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{call, free_port, Server, TIMEOUT};

/// Sends `raw` to the HTTP endpoint and returns (status, body); status 0 when the
/// server closed without an answer.
fn http_raw(port: u16, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect metrics port");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    // The server may answer (and close) before reading everything we send.
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(port: u16, path: &str) -> (u16, String) {
    http_raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    )
}

/// The value of the sample `series` (name with labels, exactly as exposed).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn start_with_metrics(extra: &[&str]) -> (Server, u16) {
    let mport = free_port();
    let mut args = vec!["--metrics-port".to_string(), mport.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    (server, mport)
}

/// Checks the histogram `name` of command `cmd`: cumulative, `le` increasing, ending
/// with `+Inf` equal to `_count`; returns the count.
fn check_histogram(metrics: &str, name: &str, cmd: &str) -> f64 {
    let prefix = format!("{name}_bucket{{cmd=\"{cmd}\",le=\"");
    let buckets: Vec<(String, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|r| {
            let (le, v) = r.split_once("\"} ").expect("bucket line");
            (le.to_string(), v.parse().expect("bucket value"))
        })
        .collect();
    assert!(buckets.len() >= 2, "no buckets for {cmd}");
    assert_eq!(buckets.last().unwrap().0, "+Inf");
    let les: Vec<f64> = buckets[..buckets.len() - 1]
        .iter()
        .map(|(le, _)| le.parse().expect("le"))
        .collect();
    assert!(les.windows(2).all(|w| w[0] < w[1]), "le not increasing");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "buckets not cumulative"
    );
    let count = sample(metrics, &format!("{name}_count{{cmd=\"{cmd}\"}}")).expect("count");
    assert_eq!(buckets.last().unwrap().1, count, "+Inf bucket != count");
    assert!(sample(metrics, &format!("{name}_sum{{cmd=\"{cmd}\"}}")).is_some());
    count
}

#[test]
fn metrics_move_with_commands_and_health_is_ok() {
    let (server, mport) = start_with_metrics(&[]);
    let (status, body) = get(mport, "/health");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, before) = get(mport, "/metrics");
    assert_eq!(status, 200);
    let calls_before = sample(&before, "meridian_command_calls_total{cmd=\"set\"}").unwrap_or(0.0);
    let mut s = server.raw();
    for i in 0..25 {
        assert_eq!(call(&mut s, &["SET", &format!("k{i}"), "v"]), "+OK");
    }
    for i in 0..10 {
        assert_eq!(call(&mut s, &["GET", &format!("k{i}")]), "$v");
    }
    assert!(call(&mut s, &["INCR", "k0"]).starts_with("-ERR"));
    let (status, m) = get(mport, "/metrics");
    assert_eq!(status, 200);
    // Every line is a comment or `name{labels} value`.
    for l in m.lines().filter(|l| !l.starts_with('#')) {
        let (_, v) = l.rsplit_once(' ').expect("sample line");
        assert!(v.parse::<f64>().is_ok(), "bad sample value: {l}");
    }
    assert_eq!(
        sample(&m, "meridian_command_calls_total{cmd=\"set\"}"),
        Some(calls_before + 25.0)
    );
    assert_eq!(
        sample(&m, "meridian_command_calls_total{cmd=\"get\"}"),
        Some(10.0)
    );
    assert_eq!(
        sample(&m, "meridian_command_failed_calls_total{cmd=\"incr\"}"),
        Some(1.0)
    );
    assert_eq!(
        check_histogram(&m, "meridian_command_duration_seconds", "set"),
        25.0
    );
    assert_eq!(
        check_histogram(&m, "meridian_command_duration_seconds", "get"),
        10.0
    );
    assert!(m.contains("# TYPE meridian_command_duration_seconds histogram"));
    assert!(sample(&m, "meridian_commands_processed_total").unwrap() >= 36.0);
    assert!(sample(&m, "meridian_connected_clients").unwrap() >= 1.0);
    assert_eq!(sample(&m, "meridian_keys_stored{db=\"0\"}"), Some(25.0));
    assert!(sample(&m, "meridian_used_memory_bytes").unwrap() > 0.0);
    assert_eq!(sample(&m, "meridian_up"), Some(1.0));
    // HEAD: headers only.
    let (status, body) = http_raw(mport, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    // CONFIG RESETSTAT resets the per-command counters and histograms.
    assert_eq!(call(&mut s, &["CONFIG", "RESETSTAT"]), "+OK");
    let (_, m) = get(mport, "/metrics");
    assert_eq!(
        sample(&m, "meridian_command_calls_total{cmd=\"set\"}"),
        None
    );
    // /health/live for liveness probes.
    assert_eq!(get(mport, "/health/live"), (200, "alive\n".into()));
}

#[test]
fn bad_http_requests_get_4xx_and_clients_keep_being_served() {
    let (server, mport) = start_with_metrics(&[]);
    let mut resp = server.raw();
    assert_eq!(call(&mut resp, &["SET", "k", "v"]), "+OK");
    assert_eq!(get(mport, "/nope").0, 404);
    assert_eq!(get(mport, "/metrics/x").0, 404);
    assert_eq!(
        http_raw(
            mport,
            b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        )
        .0,
        405
    );
    assert_eq!(http_raw(mport, b"DELETE /health HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(http_raw(mport, b"garbage\r\n\r\n").0, 400);
    assert_eq!(http_raw(mport, b"GET /metrics SPDY/9\r\n\r\n").0, 400);
    assert_eq!(http_raw(mport, b"\x00\xff\xfe\r\n\r\n").0, 400);
    // A head over 8 KiB.
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..400 {
        big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(20)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    assert!(big.len() > 8 * 1024);
    assert_eq!(http_raw(mport, &big).0, 431);
    // Endless header bytes without an end: refused at the bound, not buffered.
    assert_eq!(http_raw(mport, &vec![b'a'; 64 * 1024]).0, 431);
    // Idle connections that never send a request, beyond the connection limit.
    let idle: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", mport)).ok())
        .collect();
    // RESP clients are unaffected.
    assert_eq!(call(&mut resp, &["GET", "k"]), "$v");
    assert_eq!(call(&mut server.raw(), &["PING"]), "+PONG");
    drop(idle);
    // And the endpoint serves again once the idle ones are gone (bounded wait).
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if get(mport, "/health") == (200, "ok\n".into()) {
            break;
        }
        assert!(Instant::now() < deadline, "endpoint did not recover");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A client that sends half a request and stalls is cut off by the read timeout.
    let mut slow = TcpStream::connect(("127.0.0.1", mport)).unwrap();
    slow.set_read_timeout(Some(TIMEOUT)).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let mut out = String::new();
    let _ = slow.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out:?}");
    assert_eq!(call(&mut resp, &["GET", "k"]), "$v");
}

#[test]
fn slowlog_records_resets_and_is_bounded() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    assert_eq!(
        call(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        "+OK"
    );
    assert_eq!(call(&mut s, &["SLOWLOG", "RESET"]), "+OK");
    assert_eq!(call(&mut s, &["CLIENT", "SETNAME", "probe"]), "+OK");
    assert_eq!(call(&mut s, &["SET", "key", "value"]), "+OK");
    // Newest first: SET, then CLIENT SETNAME, then the RESET itself.
    let got = call(&mut s, &["SLOWLOG", "GET", "1"]);
    let addr = s.local_addr().unwrap().to_string();
    assert!(
        got.ends_with(&format!(", [$SET, $key, $value], ${addr}, $probe]]")),
        "{got}"
    );
    let fields: Vec<&str> = got.trim_matches(['[', ']']).split(", ").collect();
    assert!(fields[0].starts_with(':') && fields[1].starts_with(':') && fields[2].starts_with(':'));
    assert_eq!(call(&mut s, &["SLOWLOG", "LEN"]), ":4");
    // Arguments truncated as Redis: 32 at most, strings at most 128 bytes.
    let mut many = vec!["RPUSH".to_string(), "list".to_string()];
    many.extend((0..40).map(|i| i.to_string()));
    many.push("x".repeat(200));
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(call(&mut s, &many), ":41");
    let got = call(&mut s, &["SLOWLOG", "GET", "1"]);
    assert!(got.contains(", $28, $... (12 more arguments)], "), "{got}");
    assert_eq!(call(&mut s, &["SET", "long", &"y".repeat(300)]), "+OK");
    let got = call(&mut s, &["SLOWLOG", "GET", "1"]);
    assert!(
        got.contains(&format!("${}... (172 more bytes)]", "y".repeat(128))),
        "{got}"
    );
    // Passwords never reach the log.
    let _ = call(&mut s, &["AUTH", "secret-password"]);
    let got = call(&mut s, &["SLOWLOG", "GET", "1"]);
    assert!(got.contains("[$AUTH, $(redacted)]"), "{got}");
    assert!(!got.contains("secret-password"));
    // Bounded by slowlog-max-len.
    assert_eq!(
        call(&mut s, &["CONFIG", "SET", "slowlog-max-len", "5"]),
        "+OK"
    );
    for _ in 0..20 {
        call(&mut s, &["PING"]);
    }
    assert_eq!(call(&mut s, &["SLOWLOG", "LEN"]), ":5");
    // The 5 newest: SLOWLOG LEN, then 4 PINGs.
    let all = call(&mut s, &["SLOWLOG", "GET", "-1"]);
    assert_eq!(all.matches("$PING").count(), 4, "{all}");
    assert_eq!(all.matches("[$SLOWLOG, $LEN]").count(), 1, "{all}");
    // RESET clears (the RESET itself is then the only entry, as in Redis).
    assert_eq!(call(&mut s, &["SLOWLOG", "RESET"]), "+OK");
    assert_eq!(call(&mut s, &["SLOWLOG", "LEN"]), ":1");
    // Off with a negative threshold.
    assert_eq!(
        call(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
        "+OK"
    );
    assert_eq!(call(&mut s, &["SLOWLOG", "RESET"]), "+OK");
    call(&mut s, &["PING"]);
    assert_eq!(call(&mut s, &["SLOWLOG", "LEN"]), ":0");
    // The default threshold (10 ms) keeps fast commands out.
    let server = Server::start(&[]);
    let mut s = server.raw();
    for _ in 0..20 {
        call(&mut s, &["SET", "a", "b"]);
    }
    assert_eq!(call(&mut s, &["SLOWLOG", "LEN"]), ":0");
}

#[test]
fn latency_monitor_records_spikes_over_its_threshold() {
    let server = Server::start(&["--latency-monitor-threshold", "1"]);
    let mut s = server.raw();
    assert_eq!(call(&mut s, &["LATENCY", "LATEST"]), "[]");
    // A command that takes well over 1 ms: SUNIONSTORE over large sets.
    let members: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    for chunk in members.chunks(1000) {
        let mut args = vec!["SADD", "big"];
        args.extend(chunk.iter().map(String::as_str));
        call(&mut s, &args);
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        call(&mut s, &["SUNIONSTORE", "dst", "big", "big"]);
        let latest = call(&mut s, &["LATENCY", "LATEST"]);
        if latest.contains("$command") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no spike recorded over 1 ms: {latest}"
        );
    }
    let latest = call(&mut s, &["LATENCY", "LATEST"]);
    // [[event, time, latest ms, max ms]]
    let first = latest
        .strip_prefix("[[")
        .and_then(|r| r.split(']').next())
        .expect("an event");
    let inner: Vec<&str> = first.split(", ").collect();
    assert_eq!(inner[0], "$command", "{latest}");
    let num = |v: &str| v.trim_start_matches(':').parse::<i64>().unwrap();
    assert!(
        num(inner[2]) >= 1 && num(inner[3]) >= num(inner[2]),
        "{latest}"
    );
    let history = call(&mut s, &["LATENCY", "HISTORY", "command"]);
    assert!(history.starts_with("[[:"), "{history}");
    // `command`, and `fast-command` if a SADD of 1000 members took over 1 ms.
    let reset = call(&mut s, &["LATENCY", "RESET"]);
    assert!(reset == ":1" || reset == ":2", "{reset}");
    assert_eq!(call(&mut s, &["LATENCY", "LATEST"]), "[]");
    assert!(call(&mut s, &["LATENCY", "HISTORY"]).starts_with("-ERR"));
    // INFO latencystats shows the per-command percentiles.
    let info = call(&mut s, &["INFO", "latencystats"]);
    assert!(
        info.contains("latency_percentiles_usec_sunionstore:p50="),
        "{info}"
    );
}

#[test]
fn json_log_format_writes_json_lines() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--log-format", "json", "--log-level", "verbose"])
        .env_remove("MERIDIAN_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + TIMEOUT;
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not start");
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    common::send(&mut s, &common::encode(&["SHUTDOWN"]));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = child.wait();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{stderr}");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        assert!(v["fields"]["message"].is_string(), "{l}");
    }
    assert!(stderr.contains("meridian server started"), "{stderr}");
}

#[test]
fn check_config_accepts_valid_files_and_rejects_broken_ones() {
    let dir = std::env::temp_dir().join(format!("meridian-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |text: &str| {
        let f = dir.join("m.toml");
        std::fs::write(&f, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .arg("check-config")
            .arg(&f)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run("port = 7000\nmetrics-port = 9121\nlog-format = \"json\"\nregion-id = 2\nrepl-port = 17002\npeers = \"1@region-1:17001\"\n");
    assert!(ok, "{out}");
    assert!(out.contains("ok"), "{out}");
    for (bad, why) in [
        ("port = \"seven\"\n", "port"),
        ("prot = 1\n", "unknown field"),
        ("log-format = \"xml\"\n", "log-format"),
        ("peers = \"2@h:1\"\n", "repl-port is 0"),
        (
            "region-id = 2\nrepl-port = 1\npeers = \"2@h:1\"\n",
            "own id",
        ),
        ("port = 7000\nmetrics-port = 7000\n", "metrics-port"),
        ("port = [\n", "invalid"),
    ] {
        let (ok, out) = run(bad);
        assert!(!ok, "accepted {bad:?}");
        assert!(out.contains(why), "{bad:?}: {out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
