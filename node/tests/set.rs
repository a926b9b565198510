//! Set commands through redis-rs against the real binary.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::{assert_err, q, Server, WRONGTYPE};
use redis::{cmd, Connection, Value};

fn members(c: &mut Connection, key: &str) -> BTreeSet<String> {
    q(c, &["SMEMBERS", key])
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sadd_srem_scard_membership() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    assert_eq!(q::<i64>(&mut c, &["SADD", "s", "a", "b", "c"]), 3);
    assert_eq!(q::<i64>(&mut c, &["SADD", "s", "a", "d", "d"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 4);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "nope"]), 0);
    assert_eq!(q::<String>(&mut c, &["TYPE", "s"]), "set");
    assert_eq!(members(&mut c, "s"), set_of(&["a", "b", "c", "d"]));
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", "z"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "nope", "a"]), 0);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["SMISMEMBER", "s", "a", "z", "d"]),
        vec![1, 0, 1]
    );
    assert_eq!(q::<Vec<i64>>(&mut c, &["SMISMEMBER", "nope", "a"]), vec![0]);
    assert_eq!(q::<i64>(&mut c, &["SREM", "s", "a", "a", "z"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SREM", "nope", "a"]), 0);
    assert_eq!(members(&mut c, "s"), set_of(&["b", "c", "d"]));
    // Binary-safe members.
    let bin: &[u8] = b"\x00\xff\r\n";
    let n: i64 = cmd("SADD").arg("bin").arg(bin).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let got: Vec<Vec<u8>> = cmd("SMEMBERS").arg("bin").query(&mut c).unwrap();
    assert_eq!(got, vec![bin.to_vec()]);
    // Removing the last member deletes the key.
    assert_eq!(q::<i64>(&mut c, &["SREM", "s", "b", "c", "d"]), 3);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    assert_eq!(q::<String>(&mut c, &["TYPE", "s"]), "none");
    assert!(members(&mut c, "s").is_empty());
    // SADD keeps an existing TTL.
    q::<i64>(&mut c, &["SADD", "t", "a"]);
    q::<i64>(&mut c, &["EXPIRE", "t", "100"]);
    q::<i64>(&mut c, &["SADD", "t", "b"]);
    assert!(q::<i64>(&mut c, &["TTL", "t"]) > 0);
}

#[test]
fn errors_and_failed_commands_write_nothing() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    q::<()>(&mut c, &["SET", "str", "x"]);
    q::<i64>(&mut c, &["SADD", "s", "a", "b", "c"]);
    for args in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SCARD", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SMEMBERS", "str"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "2"],
        &["SPOP", "str"],
        &["SPOP", "str", "0"],
        &["SMOVE", "str", "s", "a"],
        &["SMOVE", "s", "str", "a"],
        &["SINTER", "s", "str"],
        &["SINTER", "nope", "str"],
        &["SUNION", "s", "str"],
        &["SDIFF", "nope", "str"],
        &["SDIFF", "str", "nope"],
        &["SINTERCARD", "2", "s", "str"],
        &["SINTERSTORE", "dst", "s", "str"],
        &["SUNIONSTORE", "dst", "s", "str"],
        &["SDIFFSTORE", "dst", "s", "str"],
        &["SSCAN", "str", "0"],
    ] {
        assert_err(&mut c, args, WRONGTYPE);
    }
    // Nothing was written by any of them.
    assert_eq!(q::<String>(&mut c, &["GET", "str"]), "x");
    assert_eq!(members(&mut c, "s"), set_of(&["a", "b", "c"]));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dst"]), 0);

    // A missing source makes SMOVE answer 0 before any type check, as Redis.
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "nope", "str", "a"]), 0);

    // Arity.
    for (args, name) in [
        (&["SADD", "s"][..], "sadd"),
        (&["SREM", "s"], "srem"),
        (&["SMISMEMBER", "s"], "smismember"),
        (&["SMOVE", "s", "t"], "smove"),
        (&["SINTERCARD", "1"], "sintercard"),
        (&["SINTERSTORE", "d"], "sinterstore"),
        (&["SSCAN", "s"], "sscan"),
        (&["SCARD"], "scard"),
    ] {
        assert_err(
            &mut c,
            args,
            &format!("wrong number of arguments for '{name}' command"),
        );
    }

    // Counts and options.
    let range =
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    assert_err(
        &mut c,
        &["SPOP", "s", "-1"],
        "value is out of range, must be positive",
    );
    assert_err(
        &mut c,
        &["SPOP", "s", "x"],
        "value is out of range, must be positive",
    );
    assert_err(&mut c, &["SPOP", "s", "1", "2"], "syntax error");
    assert_err(
        &mut c,
        &["SRANDMEMBER", "s", "x"],
        "value is not an integer or out of range",
    );
    assert_err(&mut c, &["SRANDMEMBER", "s", "-9223372036854775808"], range);
    assert_err(&mut c, &["SRANDMEMBER", "s", "1", "x"], "syntax error");
    assert_err(
        &mut c,
        &["SINTERCARD", "0", "s"],
        "numkeys should be greater than 0",
    );
    assert_err(
        &mut c,
        &["SINTERCARD", "x", "s"],
        "numkeys should be greater than 0",
    );
    assert_err(
        &mut c,
        &["SINTERCARD", "2", "s"],
        "Number of keys can't be greater than number of args",
    );
    assert_err(
        &mut c,
        &["SINTERCARD", "1", "s", "LIMIT", "-1"],
        "LIMIT can't be negative",
    );
    assert_err(
        &mut c,
        &["SINTERCARD", "1", "s", "LIMIT", "x"],
        "LIMIT can't be negative",
    );
    assert_err(&mut c, &["SINTERCARD", "1", "s", "LIMIT"], "syntax error");
    assert_err(&mut c, &["SINTERCARD", "1", "s", "FOO"], "syntax error");
    assert_err(&mut c, &["SSCAN", "s", "x"], "invalid cursor");
    assert_err(&mut c, &["SSCAN", "s", "0", "COUNT", "0"], "syntax error");
    assert_err(&mut c, &["SSCAN", "s", "0", "FOO"], "syntax error");
    assert_err(&mut c, &["SSCAN", "s", "0", "NOVALUES"], "syntax error");
    // None of the failures touched the set.
    assert_eq!(members(&mut c, "s"), set_of(&["a", "b", "c"]));
}

#[test]
fn spop_and_srandmember() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let all: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let mut sadd = cmd("SADD");
    sadd.arg("s").arg(&all);
    assert_eq!(sadd.query::<i64>(&mut c).unwrap(), 20);
    let all: BTreeSet<String> = all.into_iter().collect();

    // SRANDMEMBER never writes.
    let one: String = q(&mut c, &["SRANDMEMBER", "s"]);
    assert!(all.contains(&one));
    let five: Vec<String> = q(&mut c, &["SRANDMEMBER", "s", "5"]);
    assert_eq!(five.len(), 5);
    assert_eq!(five.iter().collect::<HashSet<_>>().len(), 5, "distinct");
    assert!(five.iter().all(|m| all.contains(m)));
    let every: Vec<String> = q(&mut c, &["SRANDMEMBER", "s", "100"]);
    assert_eq!(every.into_iter().collect::<BTreeSet<_>>(), all);
    let rep: Vec<String> = q(&mut c, &["SRANDMEMBER", "s", "-50"]);
    assert_eq!(rep.len(), 50);
    assert!(rep.iter().all(|m| all.contains(m)));
    assert!(q::<Vec<String>>(&mut c, &["SRANDMEMBER", "s", "0"]).is_empty());
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 20);
    assert_eq!(q::<Option<String>>(&mut c, &["SRANDMEMBER", "nope"]), None);
    assert!(q::<Vec<String>>(&mut c, &["SRANDMEMBER", "nope", "3"]).is_empty());
    assert!(q::<Vec<String>>(&mut c, &["SRANDMEMBER", "nope", "-3"]).is_empty());

    // SPOP removes what it returns.
    let popped: String = q(&mut c, &["SPOP", "s"]);
    assert!(all.contains(&popped));
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", &popped]), 0);
    let three: Vec<String> = q(&mut c, &["SPOP", "s", "3"]);
    assert_eq!(three.iter().collect::<HashSet<_>>().len(), 3);
    assert!(!three.contains(&popped));
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 16);
    assert!(q::<Vec<String>>(&mut c, &["SPOP", "s", "0"]).is_empty());
    let rest: Vec<String> = q(&mut c, &["SPOP", "s", "100"]);
    assert_eq!(rest.len(), 16);
    let mut seen: BTreeSet<String> = rest.into_iter().collect();
    seen.insert(popped);
    seen.extend(three);
    assert_eq!(seen, all, "every member popped exactly once");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["SPOP", "s"]), None);
    assert!(q::<Vec<String>>(&mut c, &["SPOP", "s", "2"]).is_empty());
}

#[test]
fn smove() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    q::<i64>(&mut c, &["SADD", "src", "a", "b"]);
    q::<i64>(&mut c, &["SADD", "dst", "x"]);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "src", "dst", "a"]), 1);
    assert_eq!(members(&mut c, "src"), set_of(&["b"]));
    assert_eq!(members(&mut c, "dst"), set_of(&["a", "x"]));
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "src", "dst", "zz"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "nope", "dst", "a"]), 0);
    // Same key: 1 if a member, nothing changes.
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "src", "src", "b"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "src", "src", "q"]), 0);
    assert_eq!(members(&mut c, "src"), set_of(&["b"]));
    // Moving the last member deletes the source; a missing destination is created.
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "src", "new", "b"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "src"]), 0);
    assert_eq!(members(&mut c, "new"), set_of(&["b"]));
    // Moving onto a member that already exists in the destination.
    q::<i64>(&mut c, &["SADD", "new", "x"]);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "new", "dst", "x"]), 1);
    assert_eq!(members(&mut c, "new"), set_of(&["b"]));
    assert_eq!(members(&mut c, "dst"), set_of(&["a", "x"]));
}

#[test]
fn algebra_and_store_forms() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    q::<i64>(&mut c, &["SADD", "a", "1", "2", "3", "4"]);
    q::<i64>(&mut c, &["SADD", "b", "3", "4", "5"]);
    q::<i64>(&mut c, &["SADD", "c", "4", "6"]);
    let inter: BTreeSet<String> = q(&mut c, &["SINTER", "a", "b"]);
    assert_eq!(inter, set_of(&["3", "4"]));
    let inter: BTreeSet<String> = q(&mut c, &["SINTER", "a", "b", "c"]);
    assert_eq!(inter, set_of(&["4"]));
    assert!(q::<Vec<String>>(&mut c, &["SINTER", "a", "nope"]).is_empty());
    let uni: BTreeSet<String> = q(&mut c, &["SUNION", "a", "b", "nope", "c"]);
    assert_eq!(uni, set_of(&["1", "2", "3", "4", "5", "6"]));
    let diff: BTreeSet<String> = q(&mut c, &["SDIFF", "a", "b", "nope"]);
    assert_eq!(diff, set_of(&["1", "2"]));
    assert!(q::<Vec<String>>(&mut c, &["SDIFF", "nope", "a"]).is_empty());
    let one: BTreeSet<String> = q(&mut c, &["SINTER", "a"]);
    assert_eq!(one, set_of(&["1", "2", "3", "4"]));

    assert_eq!(q::<i64>(&mut c, &["SINTERCARD", "2", "a", "b"]), 2);
    assert_eq!(
        q::<i64>(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        1
    );
    assert_eq!(
        q::<i64>(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        2
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["SINTERCARD", "1", "a", "LIMIT", "9", "LIMIT", "3"]
        ),
        3
    );
    assert_eq!(q::<i64>(&mut c, &["SINTERCARD", "2", "a", "nope"]), 0);

    // *STORE overwrites any type and its TTL.
    q::<()>(&mut c, &["SET", "d", "string"]);
    q::<i64>(&mut c, &["EXPIRE", "d", "100"]);
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "d", "a", "b"]), 2);
    assert_eq!(q::<String>(&mut c, &["TYPE", "d"]), "set");
    assert_eq!(q::<i64>(&mut c, &["TTL", "d"]), -1);
    assert_eq!(members(&mut c, "d"), set_of(&["3", "4"]));
    // Overwriting a set replaces its members.
    assert_eq!(q::<i64>(&mut c, &["SUNIONSTORE", "d", "b", "c"]), 4);
    assert_eq!(members(&mut c, "d"), set_of(&["3", "4", "5", "6"]));
    assert_eq!(q::<i64>(&mut c, &["SDIFFSTORE", "d", "a", "b"]), 2);
    assert_eq!(members(&mut c, "d"), set_of(&["1", "2"]));
    // The destination may be a source.
    assert_eq!(q::<i64>(&mut c, &["SUNIONSTORE", "d", "d", "c"]), 4);
    assert_eq!(members(&mut c, "d"), set_of(&["1", "2", "4", "6"]));
    // An empty result deletes the destination.
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "d", "a", "nope"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SDIFFSTORE", "e", "a", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "e"]), 0);
    // Sources are untouched.
    assert_eq!(members(&mut c, "a"), set_of(&["1", "2", "3", "4"]));
}

#[test]
fn sscan_iterates_everything_once() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let all: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
    let mut sadd = cmd("SADD");
    sadd.arg("big").arg(&all);
    assert_eq!(sadd.query::<i64>(&mut c).unwrap(), 1000);
    let mut cursor = "0".to_string();
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..10_000 {
        let (next, batch): (String, Vec<String>) =
            q(&mut c, &["SSCAN", "big", &cursor, "COUNT", "37"]);
        seen.extend(batch);
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(cursor, "0", "the scan terminates");
    assert_eq!(seen.len(), 1000, "no duplicates");
    assert_eq!(
        seen.into_iter().collect::<BTreeSet<_>>(),
        all.iter().cloned().collect::<BTreeSet<_>>()
    );
    // MATCH filters.
    let mut cursor = "0".to_string();
    let mut matched = Vec::new();
    for _ in 0..10_000 {
        let (next, batch): (String, Vec<String>) = q(
            &mut c,
            &[
                "SSCAN",
                "big",
                &cursor,
                "MATCH",
                "member:1??",
                "COUNT",
                "100",
            ],
        );
        matched.extend(batch);
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(matched.len(), 100);
    let (next, batch): (String, Vec<String>) = q(&mut c, &["SSCAN", "nope", "0"]);
    assert_eq!(next, "0");
    assert!(batch.is_empty());
}

#[test]
fn resp3_shapes() {
    let server = Server::start(&[]);
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut c = client.get_connection_with_timeout(common::TIMEOUT).unwrap();
    q::<i64>(&mut c, &["SADD", "s", "a", "b"]);
    let v: Value = q(&mut c, &["SMEMBERS", "s"]);
    assert!(matches!(&v, Value::Set(m) if m.len() == 2), "{v:?}");
    let v: Value = q(&mut c, &["SMEMBERS", "nope"]);
    assert!(matches!(&v, Value::Set(m) if m.is_empty()), "{v:?}");
    let v: Value = q(&mut c, &["SUNION", "s", "nope"]);
    assert!(matches!(&v, Value::Set(m) if m.len() == 2), "{v:?}");
    let v: Value = q(&mut c, &["SRANDMEMBER", "s", "-3"]);
    assert!(matches!(&v, Value::Array(m) if m.len() == 3), "{v:?}");
    let v: Value = q(&mut c, &["SPOP", "s", "1"]);
    assert!(matches!(&v, Value::Set(m) if m.len() == 1), "{v:?}");
    let v: Value = q(&mut c, &["SPOP", "nope", "1"]);
    assert!(matches!(&v, Value::Set(m) if m.is_empty()), "{v:?}");
    let v: Value = q(&mut c, &["SMISMEMBER", "s", "a", "b"]);
    assert!(matches!(&v, Value::Array(m) if m.len() == 2), "{v:?}");
}

#[test]
fn pipelines_transactions_and_databases() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let (a, b, m): (i64, i64, BTreeSet<String>) = redis::pipe()
        .cmd("SADD")
        .arg("s")
        .arg("x")
        .cmd("SMOVE")
        .arg("s")
        .arg("t")
        .arg("x")
        .cmd("SMEMBERS")
        .arg("t")
        .query(&mut c)
        .unwrap();
    assert_eq!((a, b), (1, 1));
    assert_eq!(m, set_of(&["x"]));
    // Inside MULTI/EXEC, including a failing command that writes nothing.
    let (n, moved, e, h): (i64, i64, Value, i64) = redis::pipe()
        .atomic()
        .ignore_errors()
        .cmd("SADD")
        .arg("tx")
        .arg("a")
        .arg("b")
        .cmd("SMOVE")
        .arg("tx")
        .arg("t")
        .arg("a")
        .cmd("SPOP")
        .arg("tx")
        .arg("-1")
        .cmd("HSET")
        .arg("txh")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((n, moved, h), (2, 1, 1));
    assert!(matches!(e, Value::ServerError(_)), "{e:?}");
    assert_eq!(members(&mut c, "tx"), set_of(&["b"]));
    assert_eq!(members(&mut c, "t"), set_of(&["a", "x"]));
    q::<()>(&mut c, &["SELECT", "3"]);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "t"]), 0);
    q::<i64>(&mut c, &["SADD", "t", "y"]);
    q::<()>(&mut c, &["SELECT", "0"]);
    assert_eq!(members(&mut c, "t"), set_of(&["a", "x"]));
}
