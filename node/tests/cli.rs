//! Tests of the `meridian` command line: --version, --help, config file
//! and flag precedence, bad configuration.

mod common;

use std::{collections::HashMap, process::Command};

use common::Server;
use redis::cmd;

fn meridian(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(args)
        .output()
        .expect("run meridian")
}

#[test]
fn version() {
    let out = meridian(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn help_documents_every_key() {
    let out = meridian(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("server"));
    let out = meridian(&["server", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for key in meridian_node::config::CONFIG_KEYS
        .iter()
        .filter(|k| k.settable)
    {
        assert!(
            text.contains(&format!("--{}", key.name)),
            "--{} missing",
            key.name
        );
    }
    assert!(text.contains("--config"));
}

#[test]
fn bad_config_is_rejected() {
    let dir = std::env::temp_dir().join(format!("meridian-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "prot = 1\n").unwrap();
    let out = meridian(&["server", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
    let out = meridian(&["server", "--databases", "99"]);
    assert!(!out.status.success());
    let out = meridian(&[
        "server",
        "--config",
        dir.join("missing.toml").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_then_flags() {
    let dir = std::env::temp_dir().join(format!("meridian-cli-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.toml");
    std::fs::write(
        &file,
        "maxclients = 77\ntimeout = 5\nregion-id = 3\nproto-max-bulk-len = \"2mb\"\n",
    )
    .unwrap();
    let server = Server::start(&["--config", file.to_str().unwrap(), "--timeout", "9"]);
    let mut c = server.redis();
    let got: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("*").query(&mut c).unwrap();
    assert_eq!(got["maxclients"], "77");
    assert_eq!(got["timeout"], "9");
    assert_eq!(got["region-id"], "3");
    assert_eq!(got["proto-max-bulk-len"], "2097152");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
