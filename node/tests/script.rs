//! Lua scripting (EVAL, EVALSHA, EVAL_RO, SCRIPT) against the real binary: reply
//! conversions, errors, pcall, KEYS/ARGV, the script cache, the sandbox, ACL, a
//! runaway script stopped while other clients are served, and two regions where a
//! script's writes arrive atomically and are not run again.

mod common;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{call, Server, TIMEOUT};

/// SHA1 hex of a script body, as the server names it.
fn sha(body: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, body.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sha1_helper_matches_known_digest() {
    assert_eq!(sha(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(sha("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

#[test]
fn lua_values_become_replies_as_in_redis() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    // number -> integer (truncated), string -> bulk, table -> array (stops at nil),
    // {ok} -> status, {err} -> error, false -> nil, true -> 1.
    assert_eq!(
        call(
            &mut s,
            &[
                "EVAL",
                "return {1, 'a', {ok='OK'}, {err='E x'}, false, true, 3.99, -2.5, nil, 7}",
                "0"
            ]
        ),
        "[:1, $a, +OK, -E x, $nil, :1, :3, :-2]"
    );
    assert_eq!(call(&mut s, &["EVAL", "return 'x'", "0"]), "$x");
    assert_eq!(
        call(&mut s, &["EVAL", "return 1e20", "0"]),
        ":-9223372036854775808"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return redis.status_reply('FINE')", "0"]),
        "+FINE"
    );
    assert_eq!(
        call(
            &mut s,
            &["EVAL", "return redis.error_reply('My Error')", "0"]
        ),
        "-My Error"
    );
    assert_eq!(call(&mut s, &["EVAL", "return {a=1}", "0"]), "[]");
    assert_eq!(call(&mut s, &["EVAL", "return nil", "0"]), "$nil");
    assert_eq!(
        call(&mut s, &["EVAL", "local t = {} t[1] = t return t", "0"]),
        "-ERR reached lua stack limit"
    );
}

#[test]
fn replies_become_lua_values_as_in_redis() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    assert_eq!(call(&mut s, &["RPUSH", "l", "a", "b"]), ":2");
    // integer -> number, bulk -> string, nil -> false, array -> table, status -> {ok}.
    assert_eq!(
        call(
            &mut s,
            &[
                "EVAL",
                "return {type(redis.call('incr', 'n')), type(redis.call('get', 'n')), \
                 tostring(redis.call('get', 'nokey')), redis.call('ping')['ok'], \
                 #redis.call('lrange', 'l', 0, -1), redis.call('set', 'k', 'v')['ok']}",
                "0"
            ]
        ),
        "[$number, $string, $false, $PONG, :2, $OK]"
    );
    // error replies: redis.pcall returns {err=...}; redis.call raises it.
    assert_eq!(
        call(
            &mut s,
            &["EVAL", "return redis.pcall('incr', 'k')['err']", "0"]
        ),
        "$ERR value is not an integer or out of range"
    );
    let body = "return redis.call('incr', 'k')";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!(
            "-ERR value is not an integer or out of range script: {}, on @user_script:1.",
            sha(body)
        )
    );
    // pcall catches a raised command error as its text.
    assert_eq!(
        call(
            &mut s,
            &[
                "EVAL",
                "local ok, e = pcall(function() redis.call('set') end) return {tostring(ok), e}",
                "0"
            ]
        ),
        "[$false, $ERR Wrong number of args calling Redis command from script]"
    );
    // RESP3 replies inside the script after redis.setresp(3).
    assert_eq!(
        call(&mut s, &["EVAL", "redis.setresp(3) return redis.call('hset', 'h', 'f', 'v') .. type(redis.call('hgetall', 'h')['map'])", "0"]),
        "$1table"
    );
}

#[test]
fn keys_argv_and_argument_errors() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    assert_eq!(
        call(
            &mut s,
            &[
                "EVAL",
                "return {KEYS[1], KEYS[2], ARGV[1], #ARGV}",
                "2",
                "k1",
                "k2",
                "a1",
                "a2"
            ]
        ),
        "[$k1, $k2, $a1, :2]"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return 1", "-1"]),
        "-ERR Number of keys can't be negative"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return 1", "2", "a"]),
        "-ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return 1", "x"]),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return 1"]),
        "-ERR wrong number of arguments for 'eval' command"
    );
    let body = "return redis.call('get', {})";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!("-ERR Lua redis lib command arguments must be strings or integers script: {}, on @user_script:1.", sha(body))
    );
    // Numbers are passed as Lua prints them.
    assert_eq!(
        call(
            &mut s,
            &[
                "EVAL",
                "redis.call('set', 'n', 42) return redis.call('get', 'n')",
                "0"
            ]
        ),
        "$42"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return 1 +", "0"]),
        "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'"
    );
    let body = "error('boom')";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!(
            "-ERR user_script:1: boom script: {}, on @user_script:1.",
            sha(body)
        )
    );
    let body = "error({err='CUSTOM boom'})";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!("-CUSTOM boom script: {}, on @user_script:1.", sha(body))
    );
}

#[test]
fn evalsha_and_the_script_cache() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let body = "return ARGV[1] .. '!'";
    let id = sha(body);
    assert_eq!(
        call(&mut s, &["EVALSHA", &id, "0", "x"]),
        "-NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(
        call(&mut s, &["EVALSHA", "abc", "0"]),
        "-NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(call(&mut s, &["SCRIPT", "LOAD", body]), format!("${id}"));
    assert_eq!(
        call(
            &mut s,
            &[
                "SCRIPT",
                "EXISTS",
                &id,
                &id.to_uppercase(),
                "ffffffffffffffffffffffffffffffffffffffff"
            ]
        ),
        "[:1, :1, :0]"
    );
    assert_eq!(call(&mut s, &["EVALSHA", &id, "0", "hi"]), "$hi!");
    assert_eq!(
        call(&mut s, &["EVALSHA_RO", &id.to_uppercase(), "0", "ro"]),
        "$ro!"
    );
    // EVAL caches too.
    let other = "return 2";
    assert_eq!(call(&mut s, &["EVAL", other, "0"]), ":2");
    assert_eq!(call(&mut s, &["EVALSHA", &sha(other), "0"]), ":2");
    assert_eq!(call(&mut s, &["SCRIPT", "FLUSH", "ASYNC"]), "+OK");
    assert_eq!(
        call(&mut s, &["SCRIPT", "EXISTS", &id, &sha(other)]),
        "[:0, :0]"
    );
    assert_eq!(
        call(&mut s, &["EVALSHA", &id, "0", "x"]),
        "-NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(call(&mut s, &["SCRIPT", "FLUSH", "SYNC"]), "+OK");
    assert_eq!(
        call(&mut s, &["SCRIPT", "FLUSH", "LATER"]),
        "-ERR SCRIPT FLUSH only support SYNC|ASYNC option"
    );
    assert_eq!(
        call(&mut s, &["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now."
    );
    assert!(call(&mut s, &["SCRIPT", "HELP"]).contains("LOAD"));
    // redis.sha1hex agrees with the script ids.
    assert_eq!(
        call(
            &mut s,
            &["EVAL", "return redis.sha1hex(ARGV[1])", "0", body]
        ),
        format!("${id}")
    );
}

#[test]
fn sandbox_refuses_what_redis_refuses() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    for g in [
        "os", "io", "loadfile", "dofile", "require", "debug", "package", "setfenv", "getfenv",
        "print",
    ] {
        let body = format!("return {g}");
        assert_eq!(
            call(&mut s, &["EVAL", &body, "0"]),
            format!("-ERR user_script:1: Script attempted to access nonexistent global variable '{g}' script: {}, on @user_script:1.", sha(&body)),
        );
    }
    for body in [
        "x = 1",
        "string.foo = 1",
        "redis.call = nil",
        "_G.y = 2",
        "cjson.encode = nil",
        "rawset(_G, 'z', 1)",
    ] {
        let reply = call(&mut s, &["EVAL", body, "0"]);
        assert!(
            reply.contains("Attempt to modify a readonly table"),
            "{body}: {reply}"
        );
    }
    // Bytecode cannot be loaded, not even through loadstring.
    assert_eq!(
        call(
            &mut s,
            &[
                "EVAL",
                "return tostring(loadstring(string.dump(function() return 1 end)))",
                "0"
            ]
        ),
        "$nil"
    );
    // Nothing leaked into the next script, and the libraries still work.
    assert_eq!(
        call(&mut s, &["EVAL", "return {type(x), ('ab'):upper(), cjson.encode({1, 'a/b'}), cjson.decode('{\"a\":[1,2]}').a[2], bit.band(6, 3), string.format('%d', 5)}", "0"]),
        "-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: ".to_string()
            + &sha("return {type(x), ('ab'):upper(), cjson.encode({1, 'a/b'}), cjson.decode('{\"a\":[1,2]}').a[2], bit.band(6, 3), string.format('%d', 5)}")
            + ", on @user_script:1."
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return {('ab'):upper(), cjson.encode({1, 'a/b'}), cjson.decode('{\"a\":[1,2]}').a[2], bit.band(6, 3), string.format('%d', 5)}", "0"]),
        "[$AB, $[1,\"a\\/b\"], :2, :2, $5]"
    );
    // Lua memory is bounded: the allocation fails, the server stays up.
    let server2 = Server::start(&["--lua-memory-limit", "8mb"]);
    let mut t = server2.raw();
    assert_eq!(
        call(
            &mut t,
            &["EVAL", "return #string.rep('x', 64 * 1024 * 1024)", "0"]
        ),
        "-ERR Lua memory limit reached"
    );
    assert_eq!(
        call(&mut t, &["EVAL", "return #string.rep('x', 1024)", "0"]),
        ":1024"
    );
}

#[test]
fn read_only_scripts_and_commands_scripts_may_not_run() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let body = "return redis.call('set', 'a', 'b')";
    assert_eq!(
        call(&mut s, &["EVAL_RO", body, "0"]),
        format!("-ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.", sha(body))
    );
    assert_eq!(call(&mut s, &["EXISTS", "a"]), ":0");
    assert_eq!(
        call(&mut s, &["EVAL_RO", "return redis.call('get', 'a')", "0"]),
        "$nil"
    );
    // Refused as in Redis 7.0 (checked against redis-server).
    for args in [
        "'multi'",
        "'exec'",
        "'subscribe', 'x'",
        "'eval', 'return 1', 0",
        "'script', 'load', 'return 1'",
    ] {
        let body = format!("return redis.call({args})");
        assert_eq!(
            call(&mut s, &["EVAL", &body, "0"]),
            format!(
                "-ERR This Redis command is not allowed from script script: {}, on @user_script:1.",
                sha(&body)
            ),
        );
    }
    let body = "return redis.call('nosuch')";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!(
            "-ERR Unknown Redis command called from script script: {}, on @user_script:1.",
            sha(body)
        )
    );
    // BLPOP is refused (Redis 7.0); BZMPOP runs without blocking.
    let body = "return redis.call('blpop', 'nolist', 0)";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!(
            "-ERR This Redis command is not allowed from script script: {}, on @user_script:1.",
            sha(body)
        )
    );
    let start = Instant::now();
    assert_eq!(
        call(
            &mut s,
            &["EVAL", "return redis.call('bzmpop', 0, 1, 'z', 'min')", "0"]
        ),
        "$nil"
    );
    assert!(start.elapsed() < TIMEOUT);
    // EVAL inside MULTI/EXEC joins the transaction.
    assert_eq!(call(&mut s, &["MULTI"]), "+OK");
    assert_eq!(
        call(&mut s, &["EVAL", "return redis.call('incr', 'c')", "0"]),
        "+QUEUED"
    );
    assert_eq!(call(&mut s, &["INCR", "c"]), "+QUEUED");
    assert_eq!(call(&mut s, &["EXEC"]), "[:1, :2]");
}

#[test]
fn writes_before_an_error_are_kept() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let reply = call(
        &mut s,
        &[
            "EVAL",
            "redis.call('set', 'a', '1') redis.call('incr', 'x', 'y') redis.call('set', 'b', '2')",
            "0",
        ],
    );
    assert!(reply.starts_with("-ERR Wrong number of args"), "{reply}");
    assert_eq!(call(&mut s, &["GET", "a"]), "$1");
    assert_eq!(call(&mut s, &["EXISTS", "b"]), ":0");
}

#[test]
fn acl_applies_to_commands_called_from_scripts() {
    let server = Server::start(&[]);
    let mut admin = server.raw();
    assert_eq!(
        call(
            &mut admin,
            &["ACL", "SETUSER", "u", "on", ">pw", "+eval", "+get", "~k*"]
        ),
        "+OK"
    );
    let mut s = server.raw();
    assert_eq!(call(&mut s, &["AUTH", "u", "pw"]), "+OK");
    let body = "return redis.call('set', 'k1', 'v')";
    assert_eq!(
        call(&mut s, &["EVAL", body, "0"]),
        format!("-ERR The user executing the script can't run this command or subcommand script: {}, on @user_script:1.", sha(body))
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return redis.pcall('get', 'other')['err']", "0"]),
        "$ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
    );
    assert_eq!(
        call(&mut s, &["EVAL", "return redis.call('get', 'k1')", "0"]),
        "$nil"
    );
    let log = call(&mut admin, &["ACL", "LOG", "1"]);
    assert!(
        log.contains("$context, $lua") && log.contains("$object, $other"),
        "{log}"
    );
}

#[test]
fn runaway_script_is_stopped_while_other_clients_are_served() {
    let server = Server::start(&[
        "--script-time-limit",
        "3000",
        "--busy-reply-threshold",
        "200",
    ]);
    let port = server.port;
    let runner = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let start = Instant::now();
        let reply = call(
            &mut s,
            &["EVAL", "local n = 0 while true do n = n + 1 end", "0"],
        );
        (reply, start.elapsed())
    });
    let mut other = server.raw();
    // Wait (bounded) until the script has run busy-reply-threshold: other clients then
    // get -BUSY. (PING until then: it never waits for the store, unlike a GET that
    // could reach the store lock just before the script takes it and wait it out.)
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = call(&mut other, &["PING"]);
        if r.starts_with("-BUSY") {
            break;
        }
        assert_eq!(r, "+PONG");
        assert!(Instant::now() < deadline, "never saw -BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        call(&mut other, &["GET", "k"]),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    let (reply, took) = runner.join().unwrap();
    assert!(
        reply.starts_with("-ERR Script exceeded script-time-limit (3000 ms) and was stopped"),
        "{reply}"
    );
    assert!(
        took >= Duration::from_millis(2900) && took < TIMEOUT,
        "{took:?}"
    );
    assert_eq!(call(&mut other, &["SET", "k", "v"]), "+OK");
    assert_eq!(call(&mut other, &["GET", "k"]), "$v");

    // SCRIPT KILL stops a script that has not written.
    let runner = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        call(
            &mut s,
            &[
                "EVAL",
                "while true do pcall(function() while true do end end) end",
                "0",
            ],
        )
    });
    let deadline = Instant::now() + TIMEOUT;
    while !call(&mut other, &["PING"]).starts_with("-BUSY") {
        assert!(Instant::now() < deadline, "never saw -BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call(&mut other, &["SCRIPT", "KILL"]), "+OK");
    let reply = runner.join().unwrap();
    assert!(
        reply.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{reply}"
    );
    assert_eq!(call(&mut other, &["PING"]), "+PONG");

    // A script that wrote cannot be killed; the time limit stops it and its write stays.
    let runner = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        call(
            &mut s,
            &["EVAL", "redis.call('set', 'w', '1') while true do end", "0"],
        )
    });
    let deadline = Instant::now() + TIMEOUT;
    while !call(&mut other, &["PING"]).starts_with("-BUSY") {
        assert!(Instant::now() < deadline, "never saw -BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(call(&mut other, &["SCRIPT", "KILL"]).starts_with("-UNKILLABLE"));
    let reply = runner.join().unwrap();
    assert!(
        reply.starts_with("-ERR Script exceeded script-time-limit"),
        "{reply}"
    );
    assert_eq!(call(&mut other, &["GET", "w"]), "$1");
}

/// Parses `[:n, [$a, $b], $r]` as rendered by `call` for the poll below.
fn parse_state(reply: &str) -> (i64, Vec<String>, Option<String>) {
    let inner = reply
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{reply}"));
    let (count, rest) = inner.split_once(", ").unwrap();
    let count = match count {
        "$nil" => 0,
        c => c.trim_start_matches('$').parse().unwrap(),
    };
    let close = rest.find(']').unwrap();
    let members: Vec<String> = rest[1..close]
        .split(", ")
        .filter(|m| !m.is_empty())
        .map(|m| m.trim_start_matches('$').to_string())
        .collect();
    let last = rest[close + 1..].trim_start_matches(", ");
    let last = (last != "$nil").then(|| last.trim_start_matches('$').to_string());
    (count, members, last)
}

#[test]
fn script_writes_replicate_atomically_and_are_not_run_again() {
    let (dir, r1, r2) = common::two_regions("script", &[], &[]);
    let mut a = r1.raw();
    let mut b = r2.raw();
    // The link is up once a plain write replicates.
    assert_eq!(call(&mut a, &["SET", "ready", "1"]), "+OK");
    let deadline = Instant::now() + Duration::from_secs(45);
    while call(&mut b, &["GET", "ready"]) != "$1" {
        assert!(Instant::now() < deadline, "regions never linked");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each run: INCR + SADD + HSET with a random value and the time; region 2 must
    // never see one without the others.
    let body = "local t = redis.call('TIME') \
                local r = tostring(math.random(1, 1000000000)) .. '-' .. t[1] .. t[2] \
                local n = redis.call('INCR', KEYS[1]) \
                redis.call('SADD', KEYS[2], r) \
                redis.call('HSET', KEYS[3], 'last', r, 'n', n) \
                return r";
    let stop = Arc::new(AtomicBool::new(false));
    let port2 = r2.port;
    let poll_stop = stop.clone();
    let poller = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port2)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !poll_stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            assert_eq!(call(&mut s, &["MULTI"]), "+OK");
            call(&mut s, &["GET", "cnt"]);
            call(&mut s, &["SMEMBERS", "set"]);
            call(&mut s, &["HGET", "h", "last"]);
            seen.push(parse_state(&call(&mut s, &["EXEC"])));
        }
        seen
    });
    const RUNS: i64 = 60;
    let mut values = Vec::new();
    for _ in 0..RUNS {
        let r = call(&mut a, &["EVAL", body, "3", "cnt", "set", "h"]);
        values.push(r.trim_start_matches('$').to_string());
        std::thread::sleep(Duration::from_millis(5));
    }
    // Region 2 converges to exactly what region 1 wrote: the same random values, one
    // increment per run (the script ran once, in region 1).
    let deadline = Instant::now() + Duration::from_secs(45);
    while call(&mut b, &["GET", "cnt"]) != format!("${RUNS}") {
        assert!(Instant::now() < deadline, "region 2 did not converge");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let seen = poller.join().unwrap();
    assert!(!seen.is_empty());
    for (count, members, last) in &seen {
        assert_eq!(
            *count as usize,
            members.len(),
            "partial script state seen: {count} {members:?}"
        );
        match last {
            None => assert_eq!(*count, 0),
            Some(l) => assert_eq!(
                l,
                &values[*count as usize - 1],
                "hash and counter from different runs"
            ),
        }
        let want: HashSet<&String> = values[..*count as usize].iter().collect();
        let got: HashSet<&String> = members.iter().collect();
        assert_eq!(want, got);
    }
    assert_eq!(
        call(&mut b, &["HGET", "h", "last"]),
        format!("${}", values[RUNS as usize - 1])
    );
    assert_eq!(call(&mut b, &["HGET", "h", "n"]), format!("${RUNS}"));
    assert_eq!(call(&mut b, &["SCARD", "set"]), format!(":{RUNS}"));
    assert_eq!(call(&mut a, &["GET", "cnt"]), format!("${RUNS}"));
    drop((r1, r2));
    let _ = std::fs::remove_dir_all(&dir);
}
