//! Byte-level tests against the real binary over raw TCP: pipelining,
//! protocol errors, limits, inline commands, maxclients, timeouts.

mod common;

use std::time::Duration;

use common::{read_exact, read_to_close, roundtrip, send, Server};

#[test]
fn thousand_pipelined_pings_in_one_write() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let mut req = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            req.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        } else {
            req.extend_from_slice(b"PING\r\n");
        }
    }
    send(&mut s, &req);
    let got = read_exact(&mut s, 1000 * 7);
    assert_eq!(got, b"+PONG\r\n".repeat(1000));
}

#[test]
fn large_pipeline_with_big_replies_is_flushed_incrementally() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let value = "x".repeat(10_000);
    let one = format!("*2\r\n$4\r\nECHO\r\n$10000\r\n{value}\r\n");
    let n = 500; // 5 MB of replies
    let writer = {
        let mut w = s.try_clone().unwrap();
        let req = one.repeat(n);
        std::thread::spawn(move || send(&mut w, req.as_bytes()))
    };
    let expected_one = format!("$10000\r\n{value}\r\n");
    let got = read_exact(&mut s, expected_one.len() * n);
    writer.join().unwrap();
    assert!(got == expected_one.repeat(n).into_bytes());
}

#[test]
fn inline_commands_and_quotes() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    roundtrip(&mut s, b"PING\r\n", b"+PONG\r\n");
    roundtrip(&mut s, b"ECHO \"a b\"\n", b"$3\r\na b\r\n");
    roundtrip(&mut s, b"echo 'it\\'s'\r\n", b"$4\r\nit's\r\n");
    roundtrip(&mut s, b"\r\n\r\nping\r\n", b"+PONG\r\n");
}

#[test]
fn protocol_errors_close_the_connection_and_others_keep_working() {
    let server = Server::start(&[]);
    let mut bystander = server.raw();
    roundtrip(&mut bystander, b"PING\r\n", b"+PONG\r\n");
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nx4\r\nPING\r\n",
            "-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"*1\r\n$abc\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"ECHO \"unterminated\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"*3000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (input, expected) in cases {
        let mut s = server.raw();
        // A valid command first: its reply must come before the error.
        let mut req = b"PING\r\n".to_vec();
        req.extend_from_slice(input);
        send(&mut s, &req);
        let got = read_to_close(&mut s);
        assert_eq!(
            String::from_utf8_lossy(&got),
            format!("+PONG\r\n{expected}"),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        roundtrip(&mut bystander, b"PING\r\n", b"+PONG\r\n");
    }
}

#[test]
fn oversized_bulk_length_is_rejected() {
    let server = Server::start(&["--proto-max-bulk-len", "1mb"]);
    let mut s = server.raw();
    // exactly the limit is fine
    let ok = format!(
        "*2\r\n$4\r\nECHO\r\n$1048576\r\n{}\r\n",
        "a".repeat(1 << 20)
    );
    send(&mut s, ok.as_bytes());
    let reply = read_exact(&mut s, 1_048_576 + 12);
    assert!(reply.starts_with(b"$1048576\r\naaa"));
    send(&mut s, b"*2\r\n$4\r\nECHO\r\n$1048577\r\n");
    assert_eq!(
        read_to_close(&mut s),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    // default limit: 512 MiB
    let server = Server::start(&[]);
    let mut s = server.raw();
    send(&mut s, b"*1\r\n$536870913\r\n");
    assert_eq!(
        read_to_close(&mut s),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = Server::start(&["--client-query-buffer-limit", "1mb"]);
    let mut s = server.raw();
    send(&mut s, b"*2\r\n$4\r\nECHO\r\n$3000000\r\n");
    let chunk = vec![b'z'; 64 * 1024];
    let mut closed = false;
    for _ in 0..40 {
        if std::io::Write::write_all(&mut s, &chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        // Redis closes without a reply; so do we.
        assert_eq!(read_to_close(&mut s), b"");
    }
    let mut other = server.raw();
    roundtrip(&mut other, b"PING\r\n", b"+PONG\r\n");
    roundtrip(
        &mut other,
        b"INFO stats\r\n",
        b"$", // just the start; the section is checked in the redis-rs tests
    );
}

#[test]
fn output_buffer_hard_limit_disconnects() {
    let server = Server::start(&["--client-output-buffer-limit", "normal 1mb 0 0"]);
    let mut s = server.raw();
    let big = "y".repeat(2 << 20);
    let req = format!("*2\r\n$4\r\nECHO\r\n$2097152\r\n{big}\r\n");
    send(&mut s, req.as_bytes());
    assert_eq!(read_to_close(&mut s), b"");
    let mut other = server.raw();
    roundtrip(&mut other, b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn maxclients_is_enforced() {
    let server = Server::start(&["--maxclients", "2"]);
    // The readiness probe's connection may still hold a slot for a moment.
    let _a = admitted(&server);
    let _b = admitted(&server);
    let mut c = server.raw();
    assert_eq!(
        read_to_close(&mut c),
        b"-ERR max number of clients reached\r\n"
    );
    drop(_a);
    // The slot frees up once the server notices the close.
    let _d = admitted(&server);
}

/// A connection that got past maxclients (retried, bounded).
fn admitted(server: &Server) -> std::net::TcpStream {
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    loop {
        let mut d = server.raw();
        send(&mut d, b"PING\r\n");
        let mut buf = [0u8; 7];
        if std::io::Read::read_exact(&mut d, &mut buf).is_ok() && &buf == b"+PONG\r\n" {
            return d;
        }
        assert!(std::time::Instant::now() < deadline, "never admitted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn idle_timeout_closes_clients() {
    let server = Server::start(&["--timeout", "1"]);
    let mut s = server.raw();
    roundtrip(&mut s, b"PING\r\n", b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(read_to_close(&mut s), b"");
}

#[test]
fn quit_replies_then_closes() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    send(&mut s, b"QUIT\r\nPING\r\n");
    assert_eq!(read_to_close(&mut s), b"+OK\r\n");
}

#[test]
fn resp3_shapes_after_hello_3() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    send(&mut s, b"HELLO 3\r\n");
    let got = read_exact(&mut s, 4);
    assert_eq!(&got, b"%7\r\n");
    let _ = read_to_end_of_hello(&mut s);
    roundtrip(&mut s, b"CLIENT GETNAME\r\n", b"_\r\n");
    let port = server.port.to_string();
    let expected = format!("%1\r\n$4\r\nport\r\n${}\r\n{port}\r\n", port.len());
    roundtrip(&mut s, b"CONFIG GET port\r\n", expected.as_bytes());
    roundtrip(&mut s, b"HELLO 2\r\n", b"*14\r\n");
}

fn read_to_end_of_hello(s: &mut std::net::TcpStream) -> Vec<u8> {
    // the map ends with "$7\r\nmodules\r\n*0\r\n"
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"modules\r\n*0\r\n") {
        std::io::Read::read_exact(s, &mut b).unwrap();
        out.push(b[0]);
        assert!(out.len() < 4096);
    }
    out
}

#[test]
fn shutdown_stops_the_process() {
    let mut server = Server::start(&[]);
    let mut s = server.raw();
    send(&mut s, b"SHUTDOWN\r\n");
    assert_eq!(read_to_close(&mut s), b"");
    let status = server.wait_exit().expect("server did not exit");
    assert!(status.success(), "{status:?}");
}
