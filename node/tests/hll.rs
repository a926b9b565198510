//! HyperLogLog commands (node/src/cmd/hll.rs) through redis-rs against the real binary.
//! Equality with redis-server's PFCOUNT is checked by the compat test and the redis-py
//! tests (they need a redis-server); here: known values and behaviour.

mod common;

use common::{assert_err, q, Server, WRONGTYPE};

#[test]
fn pfadd_pfcount_pfmerge() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    assert_eq!(
        q::<i64>(c, &["PFADD", "h", "a", "b", "c", "d", "e", "f", "g"]),
        1
    );
    // Redis' documented example.
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h"]), 7);
    assert_eq!(q::<i64>(c, &["PFADD", "h", "a", "b"]), 0);
    assert_eq!(q::<i64>(c, &["PFADD", "h"]), 0);
    assert_eq!(q::<i64>(c, &["PFADD", "empty"]), 1);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "empty"]), 0);
    assert_eq!(q::<i64>(c, &["EXISTS", "empty"]), 1);
    assert_eq!(q::<String>(c, &["TYPE", "h"]), "string");
    q::<i64>(c, &["PFADD", "h2", "z", "y", "x", "a"]);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h", "h2"]), 10);
    q::<()>(c, &["PFMERGE", "m", "h", "h2"]);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "m"]), 10);
    // Large cardinalities stay within HyperLogLog's error (0.81% standard error).
    let mut args = vec!["PFADD".to_string(), "big".into()];
    for i in 0..20_000 {
        args.push(format!("element:{i}"));
    }
    let mut k = redis::cmd("PFADD");
    for a in &args[1..] {
        k.arg(a);
    }
    let _: i64 = k.query(c).unwrap();
    let n = q::<i64>(c, &["PFCOUNT", "big"]);
    assert!((n - 20_000).abs() < 600, "{n}");
    // Deleting resets it.
    q::<i64>(c, &["DEL", "big"]);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "big"]), 0);
    // Wrong types.
    q::<()>(c, &["SET", "s", "x"]);
    assert_err(
        c,
        &["PFADD", "s", "a"],
        "WRONGTYPE Key is not a valid HyperLogLog string value.",
    );
    assert_err(
        c,
        &["PFCOUNT", "h", "s"],
        "WRONGTYPE Key is not a valid HyperLogLog string value.",
    );
    q::<i64>(c, &["RPUSH", "l", "x"]);
    assert_err(c, &["PFADD", "l", "a"], WRONGTYPE);
    assert_err(c, &["GET", "h"], WRONGTYPE);
}

#[test]
fn copy_and_rename_keep_the_registers() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    let mut k = redis::cmd("PFADD");
    k.arg("h");
    for i in 0..5000 {
        k.arg(format!("x{i}"));
    }
    let _: i64 = k.query(c).unwrap();
    let n = q::<i64>(c, &["PFCOUNT", "h"]);
    assert_eq!(q::<i64>(c, &["COPY", "h", "h2"]), 1);
    q::<()>(c, &["RENAME", "h", "h3"]);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h2"]), n);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h3"]), n);
    assert_eq!(q::<i64>(c, &["PFADD", "h2", "x1"]), 0);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h", "h2", "h3"]), n);
}
