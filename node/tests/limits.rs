//! Limits and protections against the real binary: protected mode, client
//! output buffer limits (a subscriber that never reads while a publisher
//! floods) and their bad input, maxmemory (`-OOM`). Each test checks that the
//! other clients keep being served.

mod common;

use common::{call, Server};

/// A local address that is not loopback (the interface of the default route),
/// if the machine has one: connecting to it from this host uses it as source.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connect only picks the route and the source address.
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_refuses_non_loopback_clients_without_a_password() {
    // The decision itself (every address kind) is unit-tested in
    // `server/protected.rs`; here the real listener, from a real non-loopback
    // source address when the machine has one.
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine: only loopback is checked");
        let server = Server::start(&[]);
        assert_eq!(call(&mut server.raw(), &["PING"]), "+PONG");
        return;
    };
    let server = Server::start_bound(&format!("127.0.0.1 {ip}"), &[]);
    let remote = || {
        let s = std::net::TcpStream::connect((ip, server.port)).expect("connect");
        s.set_read_timeout(Some(common::TIMEOUT)).unwrap();
        s
    };
    let mut denied = remote();
    let reply = common::read_to_close(&mut denied);
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.")
            && text.ends_with("accepting connections from the outside.\r\n"),
        "{text}"
    );
    // Loopback clients are served meanwhile, and may turn protected mode off.
    let mut local = server.raw();
    assert_eq!(
        call(&mut local, &["CONFIG", "GET", "protected-mode"]),
        "[$protected-mode, $yes]"
    );
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "protected-mode", "no"]),
        "+OK"
    );
    assert_eq!(call(&mut remote(), &["PING"]), "+PONG");
    // With a password for the default user, remote clients are admitted (and must AUTH).
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "protected-mode", "yes"]),
        "+OK"
    );
    assert!(common::read_to_close(&mut remote()).starts_with(b"-DENIED"));
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "requirepass", "pw"]),
        "+OK"
    );
    let mut r = remote();
    assert_eq!(call(&mut r, &["PING"]), "-NOAUTH Authentication required.");
    assert_eq!(call(&mut r, &["AUTH", "pw"]), "+OK");
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "protected-mode", "maybe"]),
        "-ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'"
    );
    assert_eq!(call(&mut local, &["PING"]), "+PONG");
}
