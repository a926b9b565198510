//! Integration tests with the redis-rs client against the real binary.

mod common;

use std::collections::HashMap;

use common::Server;
use redis::{cmd, Value};

fn err_text(e: redis::RedisError) -> String {
    e.to_string()
}

#[test]
fn ping_echo_time_dbsize() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert_eq!(cmd("PING").arg("hi").query::<String>(&mut c).unwrap(), "hi");
    assert_eq!(
        cmd("ECHO")
            .arg(&b"\x00bin\xff"[..])
            .query::<Vec<u8>>(&mut c)
            .unwrap(),
        b"\x00bin\xff"
    );
    let t: Vec<String> = cmd("TIME").query(&mut c).unwrap();
    assert!(t[0].parse::<u64>().unwrap() > 1_600_000_000);
    assert!(t[1].parse::<u32>().unwrap() < 1_000_000);
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(cmd("FLUSHALL").query::<String>(&mut c).unwrap(), "OK");
    assert_eq!(
        cmd("FLUSHDB").arg("ASYNC").query::<String>(&mut c).unwrap(),
        "OK"
    );
}

#[test]
fn errors_match_redis() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let e = err_text(
        cmd("FOO")
            .arg("a")
            .arg("b")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(
        e.contains("unknown command 'FOO', with args beginning with: 'a' 'b'"),
        "{e}"
    );
    let e = err_text(cmd("ECHO").query::<Value>(&mut c).unwrap_err());
    assert!(
        e.contains("wrong number of arguments for 'echo' command"),
        "{e}"
    );
    let e = err_text(
        cmd("CLIENT")
            .arg("SETNAME")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(
        e.contains("wrong number of arguments for 'client|setname' command"),
        "{e}"
    );
    let e = err_text(
        cmd("CLIENT")
            .arg("NOPE")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(
        e.contains("unknown subcommand 'NOPE'. Try CLIENT HELP."),
        "{e}"
    );
    let e = err_text(cmd("SELECT").arg("x").query::<Value>(&mut c).unwrap_err());
    assert!(e.contains("value is not an integer or out of range"), "{e}");
    let e = err_text(cmd("SELECT").arg(16).query::<Value>(&mut c).unwrap_err());
    assert!(e.contains("DB index is out of range"), "{e}");
    // the connection survives errors
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn select_is_per_connection() {
    let server = Server::start(&[]);
    let mut a = server.redis();
    let mut b = server.redis();
    assert_eq!(cmd("SELECT").arg(15).query::<String>(&mut a).unwrap(), "OK");
    let info: String = cmd("CLIENT").arg("INFO").query(&mut a).unwrap();
    assert!(info.contains(" db=15 "), "{info}");
    let info: String = cmd("CLIENT").arg("INFO").query(&mut b).unwrap();
    assert!(info.contains(" db=0 "), "{info}");
}

#[test]
fn client_commands() {
    let server = Server::start(&[]);
    let mut a = server.redis();
    let mut b = server.redis();
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut a).unwrap();
    assert!(id > 0);
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut a)
            .unwrap(),
        None
    );
    let _: () = cmd("CLIENT")
        .arg("SETNAME")
        .arg("alpha")
        .query(&mut a)
        .unwrap();
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut a)
            .unwrap(),
        Some("alpha".to_string())
    );
    let e = err_text(
        cmd("CLIENT")
            .arg("SETNAME")
            .arg("has space")
            .query::<Value>(&mut a)
            .unwrap_err(),
    );
    assert!(e.contains("Client names cannot contain spaces"), "{e}");
    let _: () = cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("mylib")
        .query(&mut a)
        .unwrap();
    let _: () = cmd("CLIENT")
        .arg("NO-EVICT")
        .arg("on")
        .query(&mut a)
        .unwrap();
    let _: () = cmd("CLIENT")
        .arg("NO-TOUCH")
        .arg("off")
        .query(&mut a)
        .unwrap();
    let list: String = cmd("CLIENT").arg("LIST").query(&mut b).unwrap();
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .expect("client a listed");
    assert!(line.contains(" name=alpha "), "{line}");
    assert!(line.contains(" lib-name=mylib "), "{line}");
    assert!(line.contains(" flags=e "), "{line}");
    assert!(line.contains(" cmd=client|no-touch "), "{line}");
    assert!(list.lines().count() >= 2);
    let only: String = cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query(&mut b)
        .unwrap();
    assert_eq!(only.lines().count(), 1);
    // CLIENT KILL ID closes the other connection.
    let killed: i64 = cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut b)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(cmd("PING").query::<String>(&mut a).is_err());
    // SKIPME yes (default) does not kill the caller
    let killed: i64 = cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut b)
        .unwrap();
    assert_eq!(killed, 0);
    assert_eq!(cmd("PING").query::<String>(&mut b).unwrap(), "PONG");
    let e = err_text(
        cmd("CLIENT")
            .arg("KILL")
            .arg("127.0.0.1:1")
            .query::<Value>(&mut b)
            .unwrap_err(),
    );
    assert!(e.contains("No such client"), "{e}");
}

#[test]
fn config_get_set_resetstat() {
    let server = Server::start(&["--maxclients", "123"]);
    let mut c = server.redis();
    let got: HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(got["maxclients"], "123");
    let got: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("*max*").query(&mut c).unwrap();
    assert!(got.contains_key("maxclients") && got.contains_key("proto-max-bulk-len"));
    let got: HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .arg("bind")
        .query(&mut c)
        .unwrap();
    assert_eq!(got["port"], server.port.to_string());
    assert_eq!(got["bind"], "127.0.0.1");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("50")
        .arg("timeout")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let got: HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(got["maxclients"], "50");
    let e = err_text(
        cmd("CONFIG")
            .arg("SET")
            .arg("port")
            .arg("1")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(e.contains("can't set immutable config"), "{e}");
    let e = err_text(
        cmd("CONFIG")
            .arg("SET")
            .arg("nope")
            .arg("1")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(
        e.contains("Unknown option or number of arguments for CONFIG SET - 'nope'"),
        "{e}"
    );
    let e = err_text(
        cmd("CONFIG")
            .arg("SET")
            .arg("maxclients")
            .arg("x")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(
        e.contains("CONFIG SET failed (possibly related to argument 'maxclients')"),
        "{e}"
    );
    // atomic: a failing pair leaves the others unchanged
    let _ = cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("60")
        .arg("timeout")
        .arg("x")
        .query::<Value>(&mut c);
    let got: HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(got["maxclients"], "50");
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
}

fn info_map(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn info_sections() {
    let server = Server::start(&["--region-id", "7"]);
    let mut c = server.redis();
    let _: String = cmd("PING").query(&mut c).unwrap();
    let _ = cmd("ECHO").query::<Value>(&mut c);
    let all: String = cmd("INFO").arg("all").query(&mut c).unwrap();
    for header in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Stats",
        "# Replication",
        "# Keyspace",
        "# Commandstats",
    ] {
        assert!(all.contains(header), "missing {header}");
    }
    let m = info_map(&all);
    assert_eq!(m["redis_version"], meridian_node::REDIS_COMPAT_VERSION);
    assert_eq!(m["tcp_port"], server.port.to_string());
    assert_eq!(m["region_id"], "7");
    assert_eq!(m["role"], "master");
    assert!(m["connected_clients"].parse::<u64>().unwrap() >= 1);
    assert!(m["used_memory"].parse::<u64>().unwrap() > 0);
    assert!(
        m["cmdstat_ping"].starts_with("calls=1,"),
        "{}",
        m["cmdstat_ping"]
    );
    assert!(
        m["cmdstat_echo"].contains("rejected_calls=1"),
        "{}",
        m["cmdstat_echo"]
    );
    let default: String = cmd("INFO").query(&mut c).unwrap();
    assert!(!default.contains("# Commandstats"));
    let one: String = cmd("INFO").arg("clients").query(&mut c).unwrap();
    assert!(one.starts_with("# Clients\r\n") && !one.contains("# Server"));
}

#[test]
fn command_count_info_docs_list() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let n: i64 = cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(n >= 15);
    let all: Vec<Value> = cmd("COMMAND").query(&mut c).unwrap();
    assert_eq!(all.len() as i64, n);
    let info: Vec<Value> = cmd("COMMAND")
        .arg("INFO")
        .arg("ping")
        .arg("nosuch")
        .query(&mut c)
        .unwrap();
    assert_eq!(info.len(), 2);
    assert_eq!(info[1], Value::Nil);
    let Value::Array(ping) = &info[0] else {
        panic!("{info:?}")
    };
    assert_eq!(ping.len(), 10);
    assert_eq!(ping[1], Value::Int(-1));
    let docs: HashMap<String, Value> = cmd("COMMAND")
        .arg("DOCS")
        .arg("client")
        .query(&mut c)
        .unwrap();
    assert!(docs.contains_key("client"));
    let list: Vec<String> = cmd("COMMAND").arg("LIST").query(&mut c).unwrap();
    assert!(list.contains(&"client|kill".to_string()));
    let filtered: Vec<String> = cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("PATTERN")
        .arg("cl*")
        .query(&mut c)
        .unwrap();
    assert!(filtered.iter().all(|n| n.starts_with("cl")));
    let help: Vec<String> = cmd("CLIENT").arg("HELP").query(&mut c).unwrap();
    assert!(help.iter().any(|l| l == "SETNAME"));
}

#[test]
fn resp3_hello_and_reset() {
    let server = Server::start(&[]);
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut c = client.get_connection_with_timeout(common::TIMEOUT).unwrap();
    let hello: HashMap<String, Value> = cmd("HELLO").arg(3).query(&mut c).unwrap();
    assert_eq!(hello["proto"], Value::Int(3));
    assert_eq!(hello["server"], Value::BulkString(b"redis".to_vec()));
    let info: Value = cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(matches!(info, Value::VerbatimString { .. }), "{info:?}");
    let e = err_text(cmd("HELLO").arg(4).query::<Value>(&mut c).unwrap_err());
    assert!(e.contains("NOPROTO"), "{e}");
    let e = err_text(
        cmd("HELLO")
            .arg(3)
            .arg("AUTH")
            .arg("alice")
            .arg("pw")
            .query::<Value>(&mut c)
            .unwrap_err(),
    );
    assert!(e.contains("WRONGPASS"), "{e}");
    let _: HashMap<String, Value> = cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("default")
        .arg("any")
        .arg("SETNAME")
        .arg("n1")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<String>(&mut c)
            .unwrap(),
        "n1"
    );
    assert_eq!(cmd("RESET").query::<String>(&mut c).unwrap(), "RESET");
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        None
    );
}

#[test]
fn pipelined_through_redis_rs() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("ECHO").arg(i);
    }
    let out: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(out, (0..500).collect::<Vec<_>>());
}
