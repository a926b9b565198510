//! TLS for clients (`tls-port`): redis-cli over TLS with a client certificate, refusal of
//! clients without one or with one from another CA, plain text on the TLS port, a silent
//! client that never completes the handshake, `tls-auth-clients optional`, and unusable
//! TLS files refused at start-up with the file named. Loopback only.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{free_port, Server, TIMEOUT};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Certificates for one test: a CA, a server certificate for 127.0.0.1/localhost, a client
/// certificate from that CA and one from an unrelated CA.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    (p, key, pem)
}

fn leaf(issuer: &Issuer<'_, KeyPair>, server: bool, dir: &Path, name: &str) {
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

fn pki(tag: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("meridian-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (p, key, pem) = ca("Meridian test CA");
    std::fs::write(dir.join("ca.pem"), pem).unwrap();
    let issuer = Issuer::new(p, key);
    leaf(&issuer, true, &dir, "server");
    leaf(&issuer, false, &dir, "client");
    let (p2, key2, pem2) = ca("Some other CA");
    std::fs::write(dir.join("other-ca.pem"), pem2).unwrap();
    let other = Issuer::new(p2, key2);
    leaf(&other, false, &dir, "rogue");
    Pki { dir }
}

fn tls_server(pki: &Pki, auth: &str) -> (Server, u16) {
    let tls_port = free_port();
    let tp = tls_port.to_string();
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    let s = Server::start(&[
        "--tls-port",
        &tp,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        auth,
    ]);
    // The TLS listener is bound before the plain one, so it is up once `start` returns.
    (s, tls_port)
}

/// Runs redis-cli over TLS; returns (success, stdout + stderr).
fn cli(port: u16, pki: &Pki, client: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["--tls", "--cacert", &pki.path("ca.pem")]).args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ]);
    if let Some(c) = client {
        cmd.args(["--cert", &pki.path(&format!("{c}.pem"))])
            .args(["--key", &pki.path(&format!("{c}.key"))]);
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli (with TLS support) is needed: scripts/install-deps installs it");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // redis-cli prints connection errors but may still exit 0 in some versions.
    let ok = out.status.success() && !text.contains("Could not connect") && !text.contains("rror");
    (ok, text)
}

fn plain_get(s: &Server, key: &str) -> Option<String> {
    let mut c = s.redis();
    redis::cmd("GET").arg(key).query(&mut c).unwrap()
}

#[test]
fn redis_cli_over_tls_with_a_client_certificate() {
    let pki = pki("cli");
    let (s, tls) = tls_server(&pki, "yes");
    let (ok, out) = cli(tls, &pki, Some("client"), &["SET", "tls-key", "over-tls"]);
    assert!(ok && out.trim() == "OK", "SET over TLS: {out}");
    let (ok, out) = cli(tls, &pki, Some("client"), &["GET", "tls-key"]);
    assert!(ok && out.trim() == "over-tls", "GET over TLS: {out}");
    // The same keyspace on the plain port.
    assert_eq!(plain_get(&s, "tls-key").as_deref(), Some("over-tls"));
    // A pipeline of many commands over one TLS connection (flushing of TLS records).
    let mut script = String::new();
    for i in 0..2000 {
        script.push_str(&format!("INCR tls-counter\r\nSET tls-{i} {i}\r\n"));
    }
    let mut child = Command::new("redis-cli")
        .args(["--tls", "--cacert", &pki.path("ca.pem")])
        .args([
            "--cert",
            &pki.path("client.pem"),
            "--key",
            &pki.path("client.key"),
        ])
        .args(["-h", "127.0.0.1", "-p", &tls.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("errors: 0, replies: 4000"),
        "redis-cli --pipe over TLS: {text}"
    );
    assert_eq!(plain_get(&s, "tls-counter").as_deref(), Some("2000"));
    assert_eq!(plain_get(&s, "tls-1999").as_deref(), Some("1999"));
}

#[test]
fn clients_without_a_valid_certificate_are_refused() {
    let pki = pki("refuse");
    let (s, tls) = tls_server(&pki, "yes");
    let (ok, out) = cli(tls, &pki, None, &["SET", "no-cert", "x"]);
    assert!(!ok, "a client without a certificate must be refused: {out}");
    let (ok, out) = cli(tls, &pki, Some("rogue"), &["SET", "rogue-cert", "x"]);
    assert!(!ok, "a certificate from another CA must be refused: {out}");
    assert_eq!(plain_get(&s, "no-cert"), None);
    assert_eq!(plain_get(&s, "rogue-cert"), None);
    // Plain text on the TLS port: closed, nothing executed, the server keeps serving.
    let mut raw = TcpStream::connect(("127.0.0.1", tls)).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$5\r\nplain\r\n$1\r\nx\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "plain text on the TLS port not closed"
        );
        match raw.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => assert!(!buf[..n].starts_with(b"+OK"), "plain text executed"),
        }
    }
    assert_eq!(plain_get(&s, "plain"), None);
    let (ok, out) = cli(tls, &pki, Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "TLS still served: {out}");
}

#[test]
fn a_silent_client_does_not_block_others_and_is_dropped() {
    let pki = pki("silent");
    let (s, tls) = tls_server(&pki, "yes");
    let mut silent = TcpStream::connect(("127.0.0.1", tls)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Others are served while it holds a half-open handshake.
    let (ok, out) = cli(tls, &pki, Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
    let mut c = s.redis();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 0);
    // The handshake timeout (10 s) closes it.
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let r = silent.read(&mut buf);
    assert!(
        matches!(r, Ok(0))
            || matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "silent client should be closed by the server, got {r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[test]
fn optional_client_certificates() {
    let pki = pki("optional");
    let (_s, tls) = tls_server(&pki, "optional");
    let (ok, out) = cli(tls, &pki, None, &["PING"]);
    assert!(ok && out.trim() == "PONG", "no certificate is fine: {out}");
    let (ok, out) = cli(tls, &pki, Some("client"), &["PING"]);
    assert!(
        ok && out.trim() == "PONG",
        "a valid certificate is fine: {out}"
    );
    let (ok, out) = cli(tls, &pki, Some("rogue"), &["PING"]);
    assert!(
        !ok,
        "a certificate that does not verify is still refused: {out}"
    );
}

#[test]
fn unusable_tls_files_stop_the_start_with_the_file_named() {
    let pki = pki("badfiles");
    let missing = pki.path("nope.pem");
    std::fs::write(pki.dir.join("garbage.pem"), "not a certificate\n").unwrap();
    let garbage = pki.path("garbage.pem");
    let tls_port = free_port().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--tls-cert-file".into(),
                missing.clone(),
                "--tls-key-file".into(),
                pki.path("server.key"),
            ],
            "nope.pem",
        ),
        (
            vec![
                "--tls-cert-file".into(),
                garbage.clone(),
                "--tls-key-file".into(),
                pki.path("server.key"),
            ],
            "garbage.pem",
        ),
        (
            vec![
                "--tls-cert-file".into(),
                pki.path("server.pem"),
                "--tls-key-file".into(),
                pki.path("client.key"),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
            "TLS configuration",
        ),
        (
            vec!["--tls-cert-file".into(), pki.path("server.pem")],
            "tls-key-file",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args([
                "server",
                "--bind",
                "127.0.0.1",
                "--port",
                &free_port().to_string(),
            ])
            .args([
                "--tls-port",
                &tls_port,
                "--tls-ca-cert-file",
                &pki.path("ca.pem"),
            ])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must not start");
        assert!(err.contains(want), "{args:?}: error names {want:?}: {err}");
    }
}

#[test]
fn port_zero_serves_tls_only() {
    let pki = pki("tlsonly");
    let tls_port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--bind", "127.0.0.1", "--port", "0"])
        .args(["--tls-port", &tls_port.to_string()])
        .args(["--tls-cert-file", &pki.path("server.pem")])
        .args(["--tls-key-file", &pki.path("server.key")])
        .args(["--tls-auth-clients", "no"])
        .env("MERIDIAN_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut reply = String::new();
    while Instant::now() < deadline {
        let (ok, out) = cli(tls_port, &pki, None, &["PING"]);
        if ok {
            reply = out;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "server with port 0 and a tls-port must run");
    assert_eq!(reply.trim(), "PONG");
}
