//! Byte-level tests of the request parser and the reply encoder.

use bytes::{Bytes, BytesMut};

use super::*;

fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut buf = BytesMut::from(input);
    let mut parser = RequestParser::new();
    let mut out = Vec::new();
    while let Some(cmd) = parser.parse(&mut buf, &ParseLimits::default())? {
        out.push(cmd.iter().map(|a| a.to_vec()).collect());
    }
    Ok(out)
}

fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn err(input: &[u8]) -> String {
    parse_all(input).unwrap_err().to_string()
}

#[test]
fn multibulk_basic() {
    assert_eq!(
        parse_all(b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n").unwrap(),
        vec![cmd(&["ECHO", "hi"])]
    );
    assert_eq!(
        parse_all(b"*1\r\n$0\r\n\r\n").unwrap(),
        vec![vec![Vec::<u8>::new()]]
    );
    // binary safe
    assert_eq!(
        parse_all(b"*1\r\n$3\r\n\r\n\0\r\n").unwrap(),
        vec![vec![b"\r\n\0".to_vec()]]
    );
}

#[test]
fn empty_multibulks_are_skipped() {
    assert_eq!(
        parse_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n").unwrap(),
        vec![cmd(&["PING"])]
    );
}

#[test]
fn pipelined_commands() {
    let input = b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(
        parse_all(input).unwrap(),
        vec![cmd(&["PING"]), cmd(&["PING"]), cmd(&["GET", "k"])]
    );
}

#[test]
fn incomplete_is_not_an_error() {
    let full = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
    for cut in 0..full.len() {
        let mut buf = BytesMut::from(&full[..cut]);
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(&mut buf, &ParseLimits::default()).unwrap(),
            None,
            "cut {cut}"
        );
        // resume with the rest
        buf.extend_from_slice(&full[cut..]);
        let got = p.parse(&mut buf, &ParseLimits::default()).unwrap().unwrap();
        assert_eq!(got, vec![Bytes::from("GET"), Bytes::from("hello")]);
        assert!(buf.is_empty());
    }
}

#[test]
fn wanted_len_hint_for_big_bulk() {
    let mut buf = BytesMut::from(&b"*1\r\n$100000\r\nabc"[..]);
    let mut p = RequestParser::new();
    assert_eq!(p.parse(&mut buf, &ParseLimits::default()).unwrap(), None);
    assert_eq!(p.wanted_len(), 13 + 100_000 + 2);
    assert!(p.has_partial());
}

#[test]
fn inline_commands() {
    assert_eq!(parse_all(b"PING\r\n").unwrap(), vec![cmd(&["PING"])]);
    assert_eq!(parse_all(b"PING\n").unwrap(), vec![cmd(&["PING"])]);
    assert_eq!(
        parse_all(b"SET k \"a b\"\r\n").unwrap(),
        vec![cmd(&["SET", "k", "a b"])]
    );
    // blank lines are ignored
    assert_eq!(
        parse_all(b"\r\n\n  \r\nPING\r\n").unwrap(),
        vec![cmd(&["PING"])]
    );
    // no newline yet: incomplete
    assert_eq!(parse_all(b"PING").unwrap(), Vec::<Vec<Vec<u8>>>::new());
}

#[test]
fn redis_error_messages() {
    assert_eq!(err(b"*abc\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(err(b"*1x\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(err(b"*01\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(
        err(b"*1048577\r\n"),
        "Protocol error: invalid multibulk length"
    );
    assert!(parse_all(b"*1048576\r\n").unwrap().is_empty());
    assert_eq!(
        err(b"*1\r\nx3\r\nfoo\r\n"),
        "Protocol error: expected '$', got 'x'"
    );
    assert_eq!(err(b"*1\r\n$x\r\n"), "Protocol error: invalid bulk length");
    assert_eq!(err(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
    assert_eq!(
        err(b"*1\r\n$536870913\r\n"),
        "Protocol error: invalid bulk length"
    );
    assert_eq!(
        err(b"ECHO \"abc\r\n"),
        "Protocol error: unbalanced quotes in request"
    );
    let long_inline = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(err(&long_inline), "Protocol error: too big inline request");
    let mut long_count = b"*".to_vec();
    long_count.extend(vec![b'1'; 64 * 1024 + 1]);
    assert_eq!(
        err(&long_count),
        "Protocol error: too big mbulk count string"
    );
    let mut long_bulk = b"*1\r\n$".to_vec();
    long_bulk.extend(vec![b'1'; 64 * 1024 + 1]);
    assert_eq!(err(&long_bulk), "Protocol error: too big bulk count string");
}

#[test]
fn max_bulk_len_is_configurable() {
    let limits = ParseLimits {
        max_bulk_len: 3,
        ..ParseLimits::default()
    };
    let mut p = RequestParser::new();
    let mut ok = BytesMut::from(&b"*1\r\n$3\r\nabc\r\n"[..]);
    assert!(p.parse(&mut ok, &limits).unwrap().is_some());
    let mut bad = BytesMut::from(&b"*1\r\n$4\r\n"[..]);
    assert_eq!(
        p.parse(&mut bad, &limits).unwrap_err(),
        ProtocolError::InvalidBulkLength
    );
}

#[test]
fn bulk_terminator_is_skipped_like_redis() {
    // redis-server does not check the two bytes after a bulk payload.
    assert_eq!(
        parse_all(b"*1\r\n$4\r\nPINGxx").unwrap(),
        vec![cmd(&["PING"])]
    );
}

fn enc(reply: &Reply, proto: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(reply, proto, &mut out);
    out.to_vec()
}

fn both(reply: Reply, resp2: &[u8], resp3: &[u8]) {
    assert_eq!(
        enc(&reply, Protocol::Resp2),
        resp2,
        "RESP2 of {reply:?}: {:?}",
        String::from_utf8_lossy(&enc(&reply, Protocol::Resp2))
    );
    assert_eq!(
        enc(&reply, Protocol::Resp3),
        resp3,
        "RESP3 of {reply:?}: {:?}",
        String::from_utf8_lossy(&enc(&reply, Protocol::Resp3))
    );
}

#[test]
fn encode_scalars() {
    both(Reply::ok(), b"+OK\r\n", b"+OK\r\n");
    both(
        Reply::err("bad\r\nthing"),
        b"-ERR bad  thing\r\n",
        b"-ERR bad  thing\r\n",
    );
    both(Reply::Integer(-42), b":-42\r\n", b":-42\r\n");
    both(Reply::bulk_str("hey"), b"$3\r\nhey\r\n", b"$3\r\nhey\r\n");
    both(Reply::bulk_str(""), b"$0\r\n\r\n", b"$0\r\n\r\n");
    both(Reply::Null, b"$-1\r\n", b"_\r\n");
    both(Reply::NullArray, b"*-1\r\n", b"_\r\n");
    both(Reply::Boolean(true), b":1\r\n", b"#t\r\n");
    both(Reply::Boolean(false), b":0\r\n", b"#f\r\n");
    both(Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
    both(Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
    both(
        Reply::Double(f64::NEG_INFINITY),
        b"$4\r\n-inf\r\n",
        b",-inf\r\n",
    );
    both(
        Reply::BigNumber("12345678901234567890".into()),
        b"$20\r\n12345678901234567890\r\n",
        b"(12345678901234567890\r\n",
    );
    both(
        Reply::verbatim_txt("hi".into()),
        b"$2\r\nhi\r\n",
        b"=6\r\ntxt:hi\r\n",
    );
}

#[test]
fn encode_aggregates() {
    both(
        Reply::Array(vec![Reply::Integer(1), Reply::Null]),
        b"*2\r\n:1\r\n$-1\r\n",
        b"*2\r\n:1\r\n_\r\n",
    );
    both(
        Reply::Map(vec![(Reply::bulk_str("a"), Reply::Integer(1))]),
        b"*2\r\n$1\r\na\r\n:1\r\n",
        b"%1\r\n$1\r\na\r\n:1\r\n",
    );
    both(
        Reply::Set(vec![Reply::bulk_str("x")]),
        b"*1\r\n$1\r\nx\r\n",
        b"~1\r\n$1\r\nx\r\n",
    );
    both(
        Reply::Push(vec![Reply::bulk_str("message")]),
        b"*1\r\n$7\r\nmessage\r\n",
        b">1\r\n$7\r\nmessage\r\n",
    );
    both(Reply::Array(vec![]), b"*0\r\n", b"*0\r\n");
    both(Reply::Map(vec![]), b"*0\r\n", b"%0\r\n");
}

#[test]
fn encode_request_matches_client_format() {
    let mut out = BytesMut::new();
    encode_request(&["SET", "k", "v"], &mut out);
    assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
}
