//! Hash commands through redis-rs against the real binary.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use common::{assert_err, q, Server, WRONGTYPE};
use redis::{cmd, Connection, Value};

fn all(c: &mut Connection, key: &str) -> BTreeMap<String, String> {
    q(c, &["HGETALL", key])
}

fn map_of(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn set_get_delete() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "a", "10", "c", "3"]), 1);
    // A repeated field counts once; the last value wins.
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "d", "x", "d", "y"]), 1);
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "d"]), "y");
    assert_eq!(q::<String>(&mut c, &["TYPE", "h"]), "hash");
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "a"]), "10");
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "h", "zz"]), None);
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "nope", "a"]), None);
    assert_eq!(
        q::<String>(&mut c, &["HMSET", "h", "e", "5", "f", "6"]),
        "OK"
    );
    assert_eq!(
        q::<Vec<Option<String>>>(&mut c, &["HMGET", "h", "a", "zz", "e"]),
        vec![Some("10".into()), None, Some("5".into())]
    );
    assert_eq!(
        q::<Vec<Option<String>>>(&mut c, &["HMGET", "nope", "a", "b"]),
        vec![None, None]
    );
    assert_eq!(q::<i64>(&mut c, &["HLEN", "h"]), 6);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "nope"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "zz"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "nope", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "a"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "zz"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "nope", "a"]), 0);
    let keys: BTreeSet<String> = q(&mut c, &["HKEYS", "h"]);
    assert_eq!(keys.len(), 6);
    assert!(keys.contains("f"));
    let mut vals: Vec<String> = q(&mut c, &["HVALS", "h"]);
    vals.sort();
    assert_eq!(vals, ["10", "2", "3", "5", "6", "y"]);
    assert!(q::<Vec<String>>(&mut c, &["HKEYS", "nope"]).is_empty());
    assert!(q::<Vec<String>>(&mut c, &["HVALS", "nope"]).is_empty());
    assert!(all(&mut c, "nope").is_empty());

    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "a", "99"]), 0);
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "a"]), "10");
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "g", "7"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "new", "g", "7"]), 1);
    assert_eq!(all(&mut c, "new"), map_of(&[("g", "7")]));

    assert_eq!(q::<i64>(&mut c, &["HDEL", "h", "a", "a", "zz", "b"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HDEL", "nope", "a"]), 0);
    assert_eq!(
        all(&mut c, "h"),
        map_of(&[("c", "3"), ("d", "y"), ("e", "5"), ("f", "6"), ("g", "7")])
    );
    // Deleting the last field deletes the key.
    assert_eq!(q::<i64>(&mut c, &["HDEL", "new", "g"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "new"]), 0);
    // Binary-safe fields and values.
    let (f, v): (&[u8], &[u8]) = (b"\x00f\xff", b"v\r\n\x00");
    let n: i64 = cmd("HSET").arg("bin").arg(f).arg(v).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let got: Vec<u8> = cmd("HGET").arg("bin").arg(f).query(&mut c).unwrap();
    assert_eq!(got, v);
    // HSET keeps an existing TTL.
    q::<i64>(&mut c, &["EXPIRE", "h", "100"]);
    q::<i64>(&mut c, &["HSET", "h", "z", "1"]);
    assert!(q::<i64>(&mut c, &["TTL", "h"]) > 0);
}

#[test]
fn errors_and_failed_commands_write_nothing() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    q::<()>(&mut c, &["SET", "str", "x"]);
    q::<i64>(&mut c, &["HSET", "h", "a", "1", "s", "abc", "f", "1.5"]);
    for args in [
        &["HSET", "str", "a", "1"][..],
        &["HSETNX", "str", "a", "1"],
        &["HMSET", "str", "a", "1"],
        &["HGET", "str", "a"],
        &["HMGET", "str", "a"],
        &["HDEL", "str", "a"],
        &["HLEN", "str"],
        &["HSTRLEN", "str", "a"],
        &["HEXISTS", "str", "a"],
        &["HKEYS", "str"],
        &["HVALS", "str"],
        &["HGETALL", "str"],
        &["HINCRBY", "str", "a", "1"],
        &["HINCRBYFLOAT", "str", "a", "1"],
        &["HRANDFIELD", "str"],
        &["HRANDFIELD", "str", "2", "WITHVALUES"],
        &["HSCAN", "str", "0"],
    ] {
        assert_err(&mut c, args, WRONGTYPE);
    }
    assert_eq!(q::<String>(&mut c, &["GET", "str"]), "x");

    for (args, name) in [
        (&["HSET", "h", "a"][..], "hset"),
        (&["HSET", "h", "a", "1", "b"], "hset"),
        (&["HMSET", "h", "a"], "hmset"),
        (&["HMSET", "h", "a", "1", "b"], "hmset"),
        (&["HSETNX", "h", "a"], "hsetnx"),
        (&["HGET", "h"], "hget"),
        (&["HMGET", "h"], "hmget"),
        (&["HDEL", "h"], "hdel"),
        (&["HINCRBY", "h", "a"], "hincrby"),
        (&["HSCAN", "h"], "hscan"),
    ] {
        assert_err(
            &mut c,
            args,
            &format!("wrong number of arguments for '{name}' command"),
        );
    }

    // Increments.
    assert_err(
        &mut c,
        &["HINCRBY", "h", "a", "x"],
        "value is not an integer or out of range",
    );
    assert_err(
        &mut c,
        &["HINCRBY", "h", "a", "1.5"],
        "value is not an integer or out of range",
    );
    assert_err(
        &mut c,
        &["HINCRBY", "h", "s", "1"],
        "hash value is not an integer",
    );
    assert_err(
        &mut c,
        &["HINCRBY", "h", "f", "1"],
        "hash value is not an integer",
    );
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "h", "a", "x"],
        "value is not a valid float",
    );
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "h", "a", "nan"],
        "value is not a valid float",
    );
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "h", "a", " 1"],
        "value is not a valid float",
    );
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "h", "a", "inf"],
        "value is NaN or Infinity",
    );
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "h", "s", "1"],
        "hash value is not a float",
    );
    q::<i64>(
        &mut c,
        &[
            "HSET",
            "h",
            "big",
            "9223372036854775807",
            "neg",
            "-9223372036854775808",
        ],
    );
    assert_err(
        &mut c,
        &["HINCRBY", "h", "big", "1"],
        "increment or decrement would overflow",
    );
    assert_err(
        &mut c,
        &["HINCRBY", "h", "neg", "-1"],
        "increment or decrement would overflow",
    );
    q::<i64>(&mut c, &["HSET", "h", "huge", "1.7e308"]);
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "h", "huge", "1.7e308"],
        "increment would produce NaN or Infinity",
    );
    // Failed increments on a missing key create nothing.
    assert_err(&mut c, &["HINCRBY", "fresh", "a", "x"], "not an integer");
    assert_err(
        &mut c,
        &["HINCRBYFLOAT", "fresh", "a", "inf"],
        "NaN or Infinity",
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "fresh"]), 0);

    // HRANDFIELD and HSCAN options.
    assert_err(
        &mut c,
        &["HRANDFIELD", "h", "x"],
        "value is not an integer or out of range",
    );
    assert_err(
        &mut c,
        &["HRANDFIELD", "h", "-9223372036854775808"],
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    assert_err(
        &mut c,
        &["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"],
        "value is out of range",
    );
    assert_err(&mut c, &["HRANDFIELD", "h", "1", "FOO"], "syntax error");
    assert_err(
        &mut c,
        &["HRANDFIELD", "h", "1", "WITHVALUES", "x"],
        "syntax error",
    );
    assert_err(&mut c, &["HSCAN", "h", "x"], "invalid cursor");
    assert_err(&mut c, &["HSCAN", "h", "0", "COUNT", "0"], "syntax error");
    assert_err(&mut c, &["HSCAN", "h", "0", "FOO"], "syntax error");

    // Nothing above changed the hash.
    assert_eq!(
        all(&mut c, "h"),
        map_of(&[
            ("a", "1"),
            ("s", "abc"),
            ("f", "1.5"),
            ("big", "9223372036854775807"),
            ("neg", "-9223372036854775808"),
            ("huge", "1.7e308"),
        ])
    );
}

#[test]
fn increments() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "5"]), 5);
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "-7"]), -2);
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "n"]), "-2");
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "n"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "n"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "h"]), 1);
    // HSET replaces the counter's value; later increments apply on top.
    q::<i64>(&mut c, &["HSET", "h", "n", "100"]);
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "1"]), 101);
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "n"]), "101");
    // Float increments.
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "x", "10.5"]),
        "10.5"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "x", "0.25"]),
        "10.75"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "x", "-0.75"]),
        "10"
    );
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "x"]), "10");
    // After a float increment that lands on an integer, HINCRBY works on it.
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "x", "2"]), 12);
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "n", "1.5"]),
        "102.5"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "e", "1.5e3"]),
        "1500"
    );
    q::<i64>(&mut c, &["HSET", "h", "sci", "1.5e3"]);
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "sci", "1"]),
        "1501"
    );
    // Values print as Redis prints them: 15 significant digits, no exponent.
    q::<String>(&mut c, &["HINCRBYFLOAT", "h", "p", "0.1"]);
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "p", "0.2"]),
        "0.3"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "p", "1e20"]),
        "100000000000000000000"
    );
    // A hexadecimal value is a float for HINCRBYFLOAT (strtold), not an integer.
    q::<i64>(&mut c, &["HSET", "h", "hex", "0x10"]);
    assert_err(
        &mut c,
        &["HINCRBY", "h", "hex", "1"],
        "hash value is not an integer",
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "hex", "1"]),
        "17"
    );
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "hex"]), "17");
    // HDEL of a counter field removes it; a new HINCRBY starts from 0.
    assert_eq!(q::<i64>(&mut c, &["HDEL", "h", "n"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "n"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "3"]), 3);
    // HSETNX does not touch an incremented field.
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "n", "0"]), 0);
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "n"]), "3");
}

#[test]
fn hrandfield() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let mut hset = cmd("HSET");
    hset.arg("h");
    for i in 0..20 {
        hset.arg(format!("f{i}")).arg(format!("v{i}"));
    }
    assert_eq!(hset.query::<i64>(&mut c).unwrap(), 20);
    let f: String = q(&mut c, &["HRANDFIELD", "h"]);
    assert!(f.starts_with('f'));
    let five: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "5"]);
    assert_eq!(five.iter().collect::<HashSet<_>>().len(), 5);
    let every: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "50"]);
    assert_eq!(every.iter().collect::<HashSet<_>>().len(), 20);
    let rep: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-40"]);
    assert_eq!(rep.len(), 40);
    let pairs: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-6", "WITHVALUES"]);
    assert_eq!(pairs.len(), 12);
    for p in pairs.chunks(2) {
        assert_eq!(p[0][1..], p[1][1..], "value belongs to its field");
    }
    let pairs: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "3", "withvalues"]);
    assert_eq!(pairs.len(), 6);
    assert!(q::<Vec<String>>(&mut c, &["HRANDFIELD", "h", "0"]).is_empty());
    assert_eq!(q::<Option<String>>(&mut c, &["HRANDFIELD", "nope"]), None);
    assert!(q::<Vec<String>>(&mut c, &["HRANDFIELD", "nope", "3"]).is_empty());
    assert!(q::<Vec<String>>(&mut c, &["HRANDFIELD", "nope", "-3", "WITHVALUES"]).is_empty());
    assert_eq!(
        q::<i64>(&mut c, &["HLEN", "h"]),
        20,
        "HRANDFIELD never writes"
    );
}

#[test]
fn hscan_iterates_everything_once() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let mut hset = cmd("HSET");
    hset.arg("h");
    for i in 0..500 {
        hset.arg(format!("field:{i}")).arg(i);
    }
    assert_eq!(hset.query::<i64>(&mut c).unwrap(), 500);
    let mut cursor = "0".to_string();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut n = 0;
    for _ in 0..10_000 {
        let (next, flat): (String, Vec<String>) =
            q(&mut c, &["HSCAN", "h", &cursor, "COUNT", "23"]);
        for p in flat.chunks(2) {
            n += 1;
            seen.insert(p[0].clone(), p[1].clone());
        }
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(cursor, "0");
    assert_eq!(n, 500, "no duplicates");
    assert_eq!(seen.len(), 500);
    assert_eq!(seen["field:42"], "42");
    // NOVALUES and MATCH.
    let mut cursor = "0".to_string();
    let mut names = Vec::new();
    for _ in 0..10_000 {
        let (next, flat): (String, Vec<String>) = q(
            &mut c,
            &[
                "HSCAN", "h", &cursor, "MATCH", "field:1?", "NOVALUES", "COUNT", "50",
            ],
        );
        names.extend(flat);
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    names.sort();
    let want: Vec<String> = (10..20).map(|i| format!("field:{i}")).collect();
    assert_eq!(names, want);
    let (next, flat): (String, Vec<String>) = q(&mut c, &["HSCAN", "nope", "0"]);
    assert_eq!((next.as_str(), flat.len()), ("0", 0));
}

#[test]
fn resp3_shapes() {
    let server = Server::start(&[]);
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut c = client.get_connection_with_timeout(common::TIMEOUT).unwrap();
    q::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let v: Value = q(&mut c, &["HGETALL", "h"]);
    assert!(matches!(&v, Value::Map(m) if m.len() == 2), "{v:?}");
    let v: Value = q(&mut c, &["HGETALL", "nope"]);
    assert!(matches!(&v, Value::Map(m) if m.is_empty()), "{v:?}");
    // RESP3 HRANDFIELD WITHVALUES: an array of [field, value] pairs.
    let v: Value = q(&mut c, &["HRANDFIELD", "h", "-3", "WITHVALUES"]);
    match &v {
        Value::Array(items) => {
            assert_eq!(items.len(), 3);
            for it in items {
                assert!(matches!(it, Value::Array(p) if p.len() == 2), "{v:?}");
            }
        }
        _ => panic!("{v:?}"),
    }
    let v: Value = q(&mut c, &["HRANDFIELD", "h", "2"]);
    assert!(matches!(&v, Value::Array(m) if m.len() == 2), "{v:?}");
    let v: Value = q(&mut c, &["HKEYS", "h"]);
    assert!(matches!(&v, Value::Array(m) if m.len() == 2), "{v:?}");
    let v: Value = q(&mut c, &["HSCAN", "h", "0"]);
    assert!(matches!(&v, Value::Array(m) if m.len() == 2), "{v:?}");
}
