//! Pub/sub against the real binary: redis-rs' PubSub API, RESP3 pushes, and raw RESP
//! where exact bytes matter.

mod common;

use std::{
    io::Read,
    time::{Duration, Instant},
};

use common::{read_exact, roundtrip, send, Server, TIMEOUT};
use redis::{cmd, Commands, Value};

fn req(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    out
}

fn frame(kind: &str, name: &str, n: i64) -> String {
    format!(
        "*3\r\n${}\r\n{kind}\r\n${}\r\n{name}\r\n:{n}\r\n",
        kind.len(),
        name.len()
    )
}

fn message(channel: &str, payload: &str) -> String {
    format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        channel.len(),
        payload.len()
    )
}

/// Polls `f` until it returns true (bounded).
fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_rs_subscribe_and_publish() {
    let server = Server::start(&[]);
    let mut sub_conn = server.redis();
    let mut publisher = server.redis();
    let mut ps = sub_conn.as_pubsub();
    ps.set_read_timeout(Some(TIMEOUT)).unwrap();
    ps.subscribe("news").unwrap();
    ps.psubscribe("n*").unwrap();
    // One channel subscriber plus one pattern match.
    let n: i64 = publisher.publish("news", "hello").unwrap();
    assert_eq!(n, 2);
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = ps.get_message().unwrap();
        got.push((
            m.get_channel_name().to_string(),
            m.get_pattern::<Option<String>>().unwrap(),
            m.get_payload::<String>().unwrap(),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("news".into(), None, "hello".into()),
            ("news".into(), Some("n*".into()), "hello".into()),
        ]
    );
    // Binary payloads survive.
    let n: i64 = publisher.publish("nothing-else", &b"\x00\xff"[..]).unwrap();
    assert_eq!(n, 1);
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_payload_bytes(), b"\x00\xff");
    assert_eq!(m.get_pattern::<String>().unwrap(), "n*");
    ps.unsubscribe("news").unwrap();
    ps.punsubscribe("n*").unwrap();
    drop(ps);
    let n: i64 = publisher.publish("news", "gone").unwrap();
    assert_eq!(n, 0);
    // Out of pub/sub mode, the connection runs normal commands again.
    assert_eq!(cmd("PING").query::<String>(&mut sub_conn).unwrap(), "PONG");
}

#[test]
fn resp2_subscriber_mode() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let expected = frame("subscribe", "c1", 1)
        + &frame("subscribe", "c2", 2)
        + &frame("subscribe", "c1", 2)
        + &frame("psubscribe", "h?llo", 3);
    let mut r = req(&["SUBSCRIBE", "c1", "c2", "c1"]);
    r.extend(req(&["PSUBSCRIBE", "h?llo"]));
    roundtrip(&mut s, &r, expected.as_bytes());
    // PING answers ["pong", msg] in this mode; other commands are refused.
    roundtrip(
        &mut s,
        &[req(&["PING"]), req(&["PING", "x"])].concat(),
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$1\r\nx\r\n",
    );
    for (args, name) in [
        (vec!["GET", "k"], "get"),
        (vec!["PUBLISH", "c", "m"], "publish"),
        (vec!["HELLO", "3"], "hello"),
        (vec!["MULTI"], "multi"),
        (vec!["CLIENT", "ID"], "client|id"),
    ] {
        let want = format!(
            "-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        );
        roundtrip(&mut s, &req(&args), want.as_bytes());
    }
    // Unknown commands and arity errors keep their usual errors.
    roundtrip(
        &mut s,
        &req(&["SUBSCRIBE"]),
        b"-ERR wrong number of arguments for 'subscribe' command\r\n",
    );
    roundtrip(
        &mut s,
        &req(&["NOPE"]),
        b"-ERR unknown command 'NOPE', with args beginning with: \r\n",
    );
    // Messages arrive between replies.
    let mut p = server.redis();
    assert_eq!(p.publish::<_, _, i64>("c2", "m1").unwrap(), 1);
    assert_eq!(p.publish::<_, _, i64>("hello", "m2").unwrap(), 1);
    let want =
        message("c2", "m1") + "*4\r\n$8\r\npmessage\r\n$5\r\nh?llo\r\n$5\r\nhello\r\n$2\r\nm2\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_exact(&mut s, want.len())),
        want
    );
    // Unsubscribing everything leaves the mode.
    let want = frame("unsubscribe", "c1", 2)
        + &frame("unsubscribe", "zz", 2)
        + &frame("punsubscribe", "h?llo", 1)
        + &frame("unsubscribe", "c2", 0)
        + "$-1\r\n";
    let mut r = req(&["UNSUBSCRIBE", "c1", "zz"]);
    r.extend(req(&["PUNSUBSCRIBE"]));
    r.extend(req(&["UNSUBSCRIBE"]));
    r.extend(req(&["GET", "k"]));
    roundtrip(&mut s, &r, want.as_bytes());
    // Nothing to unsubscribe: one null confirmation.
    roundtrip(
        &mut s,
        &[req(&["UNSUBSCRIBE"]), req(&["PUNSUBSCRIBE"]), req(&["SUNSUBSCRIBE"])].concat(),
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n",
    );
    // RESET leaves the mode too; QUIT works in it.
    let want =
        frame("subscribe", "x", 1) + "+RESET\r\n$-1\r\n" + &frame("subscribe", "x", 1) + "+OK\r\n";
    let r = [
        req(&["SUBSCRIBE", "x"]),
        req(&["RESET"]),
        req(&["GET", "k"]),
        req(&["SUBSCRIBE", "x"]),
        req(&["QUIT"]),
    ]
    .concat();
    roundtrip(&mut s, &r, want.as_bytes());
    assert!(common::read_to_close(&mut s).is_empty());
    // The closed subscriber is gone from the registry.
    eventually(|| p.publish::<_, _, i64>("x", "after").unwrap() == 0);
}

#[test]
fn resp3_pushes_and_normal_commands() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    send(&mut s, &req(&["HELLO", "3"]));
    let mut got = Vec::new();
    while !got.ends_with(b"modules\r\n*0\r\n") {
        got.extend(read_exact(&mut s, 1));
    }
    // Subscribed RESP3 clients may run any command; their own message precedes the
    // PUBLISH reply, as in Redis.
    let r = [
        req(&["SUBSCRIBE", "r1"]),
        req(&["GET", "k"]),
        req(&["PUBLISH", "r1", "self"]),
        req(&["PING"]),
        req(&["PSUBSCRIBE", "r*"]),
        req(&["PUBLISH", "r1", "two"]),
        req(&["UNSUBSCRIBE"]),
        req(&["PUNSUBSCRIBE"]),
        req(&["UNSUBSCRIBE"]),
    ]
    .concat();
    let want = ">3\r\n$9\r\nsubscribe\r\n$2\r\nr1\r\n:1\r\n_\r\n>3\r\n$7\r\nmessage\r\n$2\r\nr1\r\n$4\r\nself\r\n:1\r\n+PONG\r\n>3\r\n$10\r\npsubscribe\r\n$2\r\nr*\r\n:2\r\n>3\r\n$7\r\nmessage\r\n$2\r\nr1\r\n$3\r\ntwo\r\n>4\r\n$8\r\npmessage\r\n$2\r\nr*\r\n$2\r\nr1\r\n$3\r\ntwo\r\n:2\r\n>3\r\n$11\r\nunsubscribe\r\n$2\r\nr1\r\n:1\r\n>3\r\n$12\r\npunsubscribe\r\n$2\r\nr*\r\n:0\r\n>3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n";
    roundtrip(&mut s, &r, want.as_bytes());

    // redis-rs in RESP3 with a push sender.
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut c = client.get_connection_with_timeout(TIMEOUT).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    c.set_push_sender(tx);
    c.subscribe_resp3("chan").unwrap();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let mut p = server.redis();
    assert_eq!(p.publish::<_, _, i64>("chan", "pushed").unwrap(), 1);
    let deadline = Instant::now() + TIMEOUT;
    let payload = loop {
        assert!(Instant::now() < deadline, "no push received");
        // A round trip lets the connection read pending pushes.
        let _: String = cmd("PING").query(&mut c).unwrap();
        if let Some(info) = rx.try_iter().find(|i| i.kind == redis::PushKind::Message) {
            break info.data;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        payload,
        vec![
            Value::BulkString(b"chan".to_vec()),
            Value::BulkString(b"pushed".to_vec())
        ]
    );
}

#[test]
fn pubsub_introspection() {
    let server = Server::start(&[]);
    let mut a = server.raw();
    let r = [
        req(&["SUBSCRIBE", "c1", "c2"]),
        req(&["PSUBSCRIBE", "p1*", "p2*"]),
        req(&["SSUBSCRIBE", "s1"]),
    ]
    .concat();
    let want = frame("subscribe", "c1", 1)
        + &frame("subscribe", "c2", 2)
        + &frame("psubscribe", "p1*", 3)
        + &frame("psubscribe", "p2*", 4)
        + &frame("ssubscribe", "s1", 1);
    roundtrip(&mut a, &r, want.as_bytes());
    let mut b = server.raw();
    roundtrip(
        &mut b,
        &req(&["SUBSCRIBE", "c1"]),
        frame("subscribe", "c1", 1).as_bytes(),
    );
    let mut c = server.redis();
    let mut chans: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    chans.sort();
    assert_eq!(chans, ["c1", "c2"]);
    let chans: Vec<String> = cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("*2")
        .query(&mut c)
        .unwrap();
    assert_eq!(chans, ["c2"]);
    let v: Vec<Value> = cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("c1")
        .arg("c2")
        .arg("zz")
        .arg("s1")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        v,
        vec![
            Value::BulkString(b"c1".to_vec()),
            Value::Int(2),
            Value::BulkString(b"c2".to_vec()),
            Value::Int(1),
            Value::BulkString(b"zz".to_vec()),
            Value::Int(0),
            Value::BulkString(b"s1".to_vec()),
            Value::Int(0),
        ]
    );
    let v: Vec<Value> = cmd("PUBSUB").arg("NUMSUB").query(&mut c).unwrap();
    assert!(v.is_empty());
    assert_eq!(cmd("PUBSUB").arg("NUMPAT").query::<i64>(&mut c).unwrap(), 2);
    let v: Vec<String> = cmd("PUBSUB").arg("SHARDCHANNELS").query(&mut c).unwrap();
    assert_eq!(v, ["s1"]);
    let v: Vec<String> = cmd("PUBSUB")
        .arg("SHARDCHANNELS")
        .arg("x*")
        .query(&mut c)
        .unwrap();
    assert!(v.is_empty());
    let v: Vec<Value> = cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg("s1")
        .arg("c1")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        v,
        vec![
            Value::BulkString(b"s1".to_vec()),
            Value::Int(1),
            Value::BulkString(b"c1".to_vec()),
            Value::Int(0),
        ]
    );
    let help: Vec<String> = cmd("PUBSUB").arg("HELP").query(&mut c).unwrap();
    assert_eq!(help.len(), 14);
    assert!(help[0].starts_with("PUBSUB <subcommand>"));
    // Errors.
    let mut raw = server.raw();
    roundtrip(
        &mut raw,
        &[
            req(&["PUBSUB", "CHANNELS", "a", "b"]),
            req(&["PUBSUB", "NUMPAT", "x"]),
            req(&["PUBSUB", "FOO"]),
            req(&["PUBLISH", "c"]),
            req(&["SPUBLISH", "c"]),
        ]
        .concat(),
        b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n-ERR wrong number of arguments for 'pubsub|numpat' command\r\n-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n-ERR wrong number of arguments for 'publish' command\r\n-ERR wrong number of arguments for 'spublish' command\r\n",
    );
    // CLIENT LIST shows the subscriptions; INFO counts subscribers.
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert!(
        list.contains(" flags=P db=0 sub=2 psub=2 ssub=1 multi=-1 "),
        "{list}"
    );
    assert!(
        list.contains(" flags=P db=0 sub=1 psub=0 ssub=0 multi=-1 "),
        "{list}"
    );
    let info: String = cmd("INFO").arg("clients").query(&mut c).unwrap();
    assert!(info.contains("pubsub_clients:2\r\n"), "{info}");
    // INFO stats counts channels and patterns.
    let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(info.contains("pubsub_channels:2\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:2\r\n"), "{info}");
    // Disconnecting removes every subscription.
    drop(a);
    drop(b);
    eventually(|| {
        cmd("PUBSUB").arg("NUMPAT").query::<i64>(&mut c).unwrap() == 0
            && cmd("PUBSUB")
                .arg("CHANNELS")
                .query::<Vec<String>>(&mut c)
                .unwrap()
                .is_empty()
            && cmd("PUBSUB")
                .arg("SHARDCHANNELS")
                .query::<Vec<String>>(&mut c)
                .unwrap()
                .is_empty()
    });
}

#[test]
fn shard_channels_are_a_separate_namespace() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let want =
        frame("ssubscribe", "s1", 1) + &frame("ssubscribe", "s2", 2) + &frame("subscribe", "c9", 1);
    roundtrip(
        &mut s,
        &[req(&["SSUBSCRIBE", "s1", "s2"]), req(&["SUBSCRIBE", "c9"])].concat(),
        want.as_bytes(),
    );
    let mut p = server.redis();
    assert_eq!(
        cmd("SPUBLISH")
            .arg("s1")
            .arg("yo")
            .query::<i64>(&mut p)
            .unwrap(),
        1
    );
    assert_eq!(p.publish::<_, _, i64>("s1", "not shard").unwrap(), 0);
    assert_eq!(
        cmd("SPUBLISH")
            .arg("c9")
            .arg("x")
            .query::<i64>(&mut p)
            .unwrap(),
        0
    );
    let want = "*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nyo\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_exact(&mut s, want.len())),
        want
    );
    // Shard subscriptions count apart; the mode lasts until all kinds are gone.
    let r = [
        req(&["SUNSUBSCRIBE", "s2"]),
        req(&["UNSUBSCRIBE"]),
        req(&["GET", "k"]),
        req(&["SUNSUBSCRIBE"]),
        req(&["GET", "k"]),
    ]
    .concat();
    let want = frame("sunsubscribe", "s2", 1)
        + &frame("unsubscribe", "c9", 0)
        + "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        + &frame("sunsubscribe", "s1", 0)
        + "$-1\r\n";
    roundtrip(&mut s, &r, want.as_bytes());
}

#[test]
fn subscribe_inside_multi() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    // As Redis: the confirmations are written inside the EXEC array.
    let r = [
        req(&["MULTI"]),
        req(&["SUBSCRIBE", "c1", "c2"]),
        req(&["PING"]),
        req(&["EXEC"]),
        req(&["PING"]),
    ]
    .concat();
    let want = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n".to_string()
        + &frame("subscribe", "c1", 1)
        + &frame("subscribe", "c2", 2)
        + "*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    roundtrip(&mut s, &r, want.as_bytes());
}

#[test]
fn slow_subscriber_is_disconnected_at_the_pubsub_limit() {
    let server = Server::start(&["--client-output-buffer-limit", "pubsub 256kb 0 0"]);
    let mut s = server.raw();
    roundtrip(
        &mut s,
        &req(&["SUBSCRIBE", "flood"]),
        frame("subscribe", "flood", 1).as_bytes(),
    );
    // A second, well-behaved subscriber keeps receiving.
    let mut good_conn = server.redis();
    let mut good = good_conn.as_pubsub();
    good.set_read_timeout(Some(TIMEOUT)).unwrap();
    good.subscribe("flood").unwrap();
    let mut p = server.redis();
    let payload = "x".repeat(64 * 1024);
    let deadline = Instant::now() + TIMEOUT;
    let mut sent = 0;
    // The slow one never reads: socket buffers fill, then its mailbox, then the limit.
    loop {
        assert!(
            Instant::now() < deadline,
            "slow subscriber never disconnected"
        );
        let n: i64 = p.publish("flood", &payload).unwrap();
        sent += 1;
        let m = good.get_message().unwrap();
        assert_eq!(m.get_payload_bytes().len(), payload.len());
        if n == 1 {
            break;
        }
        assert!(sent < 10_000);
    }
    let info: String = cmd("INFO").arg("stats").query(&mut p).unwrap();
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    // The slow client's socket is closed once the buffered data is read.
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "slow subscriber not closed");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{e}"),
        }
    }
}
