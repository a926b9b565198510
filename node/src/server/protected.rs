//! Protected mode (Redis' `protected-mode`): while the `default` user needs no
//! password, only loopback clients are served; others get the `-DENIED` text and
//! are closed. Decided once per accepted connection, from the peer address.

use std::net::IpAddr;

/// The reply to a refused connection (Redis 7's text).
pub const DENIED_REPLY: &[u8] = b"-DENIED Redis is running in protected mode because protected \
mode is enabled and no password is set for the default user. In this mode connections are only \
accepted from the loopback interface. If you want to connect from external computers to Redis \
you may adopt one of the following solutions: 1) Just disable protected mode sending the command \
'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same \
host the server is running, however MAKE SURE Redis is not publicly accessible from internet if \
you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just \
disable the protected mode by editing the Redis configuration file, and setting the protected \
mode option to 'no', and then restarting the server. 3) If you started the server manually just \
for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication \
password for the default user. NOTE: You only need to do one of the above things in order for \
the server to start accepting connections from the outside.\r\n";

/// Whether `peer` is a loopback address (IPv4 127/8, `::1`, or `::ffff:127.x.y.z`).
pub fn is_loopback(peer: IpAddr) -> bool {
    match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a connection from `peer` is refused: protected mode on, no password
/// for the default user (`nopass`), and a non-loopback peer.
pub fn refuses(protected_mode: bool, default_nopass: bool, peer: IpAddr) -> bool {
    protected_mode && default_nopass && !is_loopback(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for local in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(!refuses(true, true, local.parse().unwrap()), "{local}");
        }
        assert!(refuses(true, true, lan));
        assert!(refuses(true, true, v6));
        assert!(refuses(true, true, "::ffff:10.0.0.1".parse().unwrap()));
        assert!(!refuses(false, true, lan), "protected-mode no");
        assert!(!refuses(true, false, lan), "a password is set");
    }
}
