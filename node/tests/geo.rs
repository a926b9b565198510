//! Geo commands through redis-rs (and raw RESP) against the real binary. Expected
//! values were printed by redis-server 7.0 for the same inputs.

mod common;

use common::{roundtrip, Server};
use redis::{cmd, Connection, FromRedisValue, Value};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn assert_err(c: &mut Connection, args: &[&str], want: &str) {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    match k.query::<Value>(c) {
        Err(e) => {
            let e = format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""));
            assert!(
                e.contains(want),
                "{args:?}: {e:?} does not contain {want:?}"
            );
        }
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
    }
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sicily(c: &mut Connection) {
    let n: i64 = q(
        c,
        &[
            "GEOADD",
            "Sicily",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
    );
    assert_eq!(n, 2);
    let n: i64 = q(
        c,
        &[
            "GEOADD",
            "Sicily",
            "2.3522",
            "48.8566",
            "Paris",
            "-74.0060",
            "40.7128",
            "NewYork",
            "139.6917",
            "35.6895",
            "Tokyo",
            "-58.3816",
            "-34.6037",
            "BuenosAires",
        ],
    );
    assert_eq!(n, 4);
}

#[test]
fn geoadd_scores_positions_hashes_distances() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    sicily(c);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"]),
        v(&[
            "BuenosAires",
            "887133777343301",
            "NewYork",
            "1791873974549446",
            "Palermo",
            "3479099956230698",
            "Catania",
            "3479447370796909",
            "Paris",
            "3663832779122514",
            "Tokyo",
            "4171231230197045",
        ])
    );
    let pos: Vec<Option<Vec<String>>> = q(c, &["GEOPOS", "Sicily", "Palermo", "nope", "Tokyo"]);
    assert_eq!(
        pos,
        vec![
            Some(v(&["13.36138933897018433", "38.11555639549629859"])),
            None,
            Some(v(&["139.69170123338699341", "35.68950126697937009"])),
        ]
    );
    assert_eq!(
        q::<Vec<Option<String>>>(
            c,
            &["GEOHASH", "Sicily", "Palermo", "Catania", "Paris", "NewYork", "nope"]
        ),
        vec![
            Some("sqc8b49rny0".to_string()),
            Some("sqdtr74hyu0".to_string()),
            Some("u09tvw0f640".to_string()),
            Some("dr5regw3pp0".to_string()),
            None
        ]
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "Sicily", "Palermo", "Catania"]),
        "166274.1516"
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "Sicily", "Palermo", "Catania", "KM"]),
        "166.2742"
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "Sicily", "Paris", "NewYork", "mi"]),
        "3628.1257"
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "Sicily", "Paris", "Tokyo", "ft"]),
        "31872740.9122"
    );
    assert_eq!(
        q::<Option<String>>(c, &["GEODIST", "Sicily", "Paris", "nope"]),
        None
    );
    assert_eq!(
        q::<Option<String>>(c, &["GEODIST", "nokey", "a", "b"]),
        None
    );
    assert_eq!(
        q::<Vec<Value>>(c, &["GEOPOS", "nokey", "a"]),
        vec![Value::Nil]
    );
    // Options: NX / XX / CH.
    assert_eq!(
        q::<i64>(c, &["GEOADD", "Sicily", "NX", "1", "1", "Paris"]),
        0
    );
    assert_eq!(
        q::<i64>(c, &["GEOADD", "Sicily", "XX", "1", "1", "Nowhere"]),
        0
    );
    assert_eq!(
        q::<i64>(c, &["GEOADD", "Sicily", "XX", "CH", "1", "1", "Paris"]),
        1
    );
    assert_eq!(
        q::<Vec<String>>(c, &["GEOHASH", "Sicily", "Paris"]),
        v(&["s00twy01mt0"])
    );
    // The limits.
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOADD",
                "corners",
                "180",
                "85.05112878",
                "ne",
                "-180",
                "-85.05112878",
                "sw"
            ]
        ),
        2
    );
    assert_eq!(
        q::<Vec<Vec<String>>>(c, &["GEOPOS", "corners", "ne", "sw"]),
        vec![
            v(&["180", "85.0511287799999991"]),
            v(&["-179.99999731779098511", "-85.05112751263942528"])
        ]
    );
    // Errors; a failing GEOADD writes nothing.
    assert_err(
        c,
        &["GEOADD", "g", "200", "10", "x"],
        "ERR invalid longitude,latitude pair 200.000000,10.000000",
    );
    assert_err(
        c,
        &["GEOADD", "g", "1", "1", "ok", "10", "86", "x"],
        "ERR invalid longitude,latitude pair 10.000000,86.000000",
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "g"]), 0);
    assert_err(
        c,
        &["GEOADD", "g", "a", "10", "x"],
        "ERR value is not a valid float",
    );
    assert_err(
        c,
        &["GEOADD", "g", "NX", "XX", "1", "1", "x"],
        "ERR syntax error",
    );
    assert_err(c, &["GEOADD", "g", "1", "1", "x", "2"], "ERR syntax error");
    assert_err(
        c,
        &["GEOADD", "g", "1", "1"],
        "wrong number of arguments for 'geoadd'",
    );
    assert_err(
        c,
        &["GEODIST", "Sicily", "Paris", "Tokyo", "parsec"],
        "ERR unsupported unit provided. please use M, KM, FT, MI",
    );
    assert_err(
        c,
        &["GEODIST", "Sicily", "Paris", "Tokyo", "km", "x"],
        "ERR syntax error",
    );
    q::<()>(c, &["SET", "s", "v"]);
    for args in [
        &["GEOADD", "s", "1", "1", "x"][..],
        &["GEOPOS", "s", "x"],
        &["GEODIST", "s", "x", "y"],
        &["GEOHASH", "s", "x"],
        &[
            "GEOSEARCH",
            "s",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
    ] {
        assert_err(c, args, WRONGTYPE);
    }
}

#[test]
fn searches() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    sicily(c);
    let r: Value = q(
        c,
        &[
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "200",
            "km",
            "WITHDIST",
            "WITHCOORD",
            "WITHHASH",
            "ASC",
        ],
    );
    let want = Value::Array(vec![
        Value::Array(vec![
            Value::BulkString(b"Catania".to_vec()),
            Value::BulkString(b"56.4413".to_vec()),
            Value::Int(3479447370796909),
            Value::Array(vec![
                Value::BulkString(b"15.08726745843887329".to_vec()),
                Value::BulkString(b"37.50266842333162032".to_vec()),
            ]),
        ]),
        Value::Array(vec![
            Value::BulkString(b"Palermo".to_vec()),
            Value::BulkString(b"190.4424".to_vec()),
            Value::Int(3479099956230698),
            Value::Array(vec![
                Value::BulkString(b"13.36138933897018433".to_vec()),
                Value::BulkString(b"38.11555639549629859".to_vec()),
            ]),
        ]),
    ]);
    assert_eq!(r, want);
    // Unsorted: Redis' cell order.
    assert_eq!(
        q::<Vec<String>>(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km"]),
        v(&["Palermo", "Catania"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["GEORADIUS_RO", "Sicily", "15", "37", "100", "km"]),
        v(&["Catania"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Paris",
                "BYRADIUS",
                "10000",
                "km",
                "DESC",
                "COUNT",
                "3"
            ]
        ),
        v(&["Tokyo", "NewYork", "Catania"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Paris",
                "BYRADIUS",
                "10000",
                "km",
                "COUNT",
                "2",
                "ANY"
            ]
        ),
        v(&["Palermo", "Catania"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "ASC"
            ]
        ),
        v(&["Catania", "Palermo"])
    );
    assert_eq!(
        q::<Vec<Vec<String>>>(
            c,
            &[
                "GEORADIUSBYMEMBER",
                "Sicily",
                "Palermo",
                "500",
                "km",
                "WITHDIST"
            ]
        ),
        vec![v(&["Palermo", "0.0000"]), v(&["Catania", "166.2742"])]
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "100", "km"]
        ),
        v(&["Palermo"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &[
                "GEORADIUS",
                "Sicily",
                "0",
                "0",
                "100000",
                "km",
                "COUNT",
                "3",
                "ASC"
            ]
        ),
        v(&["Catania", "Palermo", "Paris"])
    );
    // Missing keys.
    assert_eq!(
        q::<Vec<String>>(c, &["GEORADIUS", "nokey", "15", "37", "200", "km"]),
        v(&[])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["GEORADIUSBYMEMBER", "nokey", "x", "200", "km"]),
        v(&[])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &[
                "GEOSEARCH",
                "nokey",
                "FROMMEMBER",
                "x",
                "BYRADIUS",
                "1",
                "km"
            ]
        ),
        v(&[])
    );
    // STORE / STOREDIST / GEOSEARCHSTORE.
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "dst",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "STOREDIST"
            ]
        ),
        2
    );
    let d: Vec<String> = q(c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]);
    assert_eq!(d[0], "Catania");
    assert!((d[1].parse::<f64>().unwrap() - 56.441_257_870_158_2).abs() < 1e-9);
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "dst",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "100",
                "km"
            ]
        ),
        1
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        v(&["Catania", "3479447370796909"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEORADIUS",
                "Sicily",
                "15",
                "37",
                "200",
                "km",
                "STORE",
                "dst2"
            ]
        ),
        2
    );
    assert_eq!(q::<i64>(c, &["ZCARD", "dst2"]), 2);
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEORADIUS",
                "Sicily",
                "15",
                "37",
                "200",
                "km",
                "STOREDIST",
                "dst2",
                "COUNT",
                "1"
            ]
        ),
        1
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "dst2", "0", "-1"]),
        v(&["Catania"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "dst2",
                "Sicily",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "m"
            ]
        ),
        0
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "dst2"]), 0);
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "dst",
                "nokey",
                "FROMMEMBER",
                "x",
                "BYRADIUS",
                "1",
                "km"
            ]
        ),
        0
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "dst"]), 0);
}

#[test]
fn search_errors_write_nothing() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    sicily(c);
    q::<i64>(c, &["ZADD", "keep", "1", "k"]);
    let s = "Sicily";
    for (args, want) in [
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "-1", "km"][..], "ERR radius cannot be negative"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "x", "km"], "ERR need numeric radius"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "parsec"], "ERR unsupported unit provided"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"], "ERR need numeric width"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"], "ERR need numeric height"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYBOX", "1", "-1", "km"], "ERR height or width cannot be negative"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "WITHDIST"], "wrong number of arguments"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "ASC", "DESC"], "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH"),
        (&["GEOSEARCH", s, "BYRADIUS", "1", "km", "ASC", "WITHDIST"], "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"),
        (&["GEOSEARCH", s, "FROMMEMBER", "nope", "BYRADIUS", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "COUNT", "x"], "ERR value is not an integer or out of range"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "STOREDIST"], "ERR syntax error"),
        (&["GEOSEARCH", s, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "FROMMEMBER", "Paris"], "ERR syntax error"),
        (&["GEOSEARCH", s, "FROMLONLAT", "200", "37", "BYRADIUS", "1", "km"], "ERR invalid longitude,latitude pair 200.000000,37.000000"),
        (&["GEOSEARCHSTORE", "keep", s, "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHDIST"], "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (&["GEORADIUS", s, "15", "37", "200", "km", "STORE", "keep", "WITHDIST"], "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (&["GEORADIUS_RO", s, "15", "37", "200", "km", "STORE", "keep"], "ERR syntax error"),
        (&["GEORADIUSBYMEMBER", s, "nope", "200", "km", "STORE", "keep"], "ERR could not decode requested zset member"),
    ] {
        assert_err(c, args, want);
    }
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "keep", "0", "-1", "WITHSCORES"]),
        v(&["k", "1"])
    );
}

#[test]
fn resp3_coordinates_are_doubles() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    roundtrip(
        &mut s,
        b"GEOADD g 13.361389 38.115556 Palermo\r\n",
        b":1\r\n",
    );
    roundtrip(
        &mut s,
        b"GEOPOS g Palermo nope\r\n",
        b"*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n",
    );
    common::send(&mut s, b"HELLO 3\r\nPING\r\n");
    let mut seen = Vec::new();
    let mut b = [0u8; 1];
    while !seen.ends_with(b"+PONG\r\n") {
        use std::io::Read;
        s.read_exact(&mut b).unwrap();
        seen.push(b[0]);
        assert!(seen.len() < 4096);
    }
    roundtrip(
        &mut s,
        b"GEOPOS g Palermo nope\r\n",
        b"*2\r\n*2\r\n,13.361389338970184\r\n,38.1155563954963\r\n_\r\n",
    );
    roundtrip(
        &mut s,
        b"GEODIST g Palermo Palermo\r\n",
        b"$6\r\n0.0000\r\n",
    );
}
