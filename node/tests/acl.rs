//! AUTH and ACL against the real binary: requirepass, users with several
//! passwords (rotation), command/category/key/channel permissions, MULTI/EXEC,
//! ACL LOG, ACL SAVE/LOAD and the aclfile at start-up. Every refusal is checked
//! with its exact text, and other clients keep working.

mod common;

use common::{call, Server};

const NOAUTH: &str = "-NOAUTH Authentication required.";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

fn admin(server: &Server) -> std::net::TcpStream {
    server.raw()
}

/// A connection authenticated as `user`.
fn login(server: &Server, user: &str, password: &str) -> std::net::TcpStream {
    let mut s = server.raw();
    assert_eq!(call(&mut s, &["AUTH", user, password]), "+OK");
    s
}

#[test]
fn requirepass_gates_every_command_until_auth() {
    let server = Server::start(&["--requirepass", "s3cret"]);
    let mut a = server.raw();
    assert_eq!(call(&mut a, &["PING"]), NOAUTH);
    assert_eq!(call(&mut a, &["SET", "k", "v"]), NOAUTH);
    assert_eq!(call(&mut a, &["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(call(&mut a, &["AUTH", "default", "wrong"]), WRONGPASS);
    assert_eq!(call(&mut a, &["AUTH", "a", "b", "c"]), "-ERR syntax error");
    // Unknown commands are reported as such before authentication, as in Redis.
    assert!(call(&mut a, &["NOSUCH"]).starts_with("-ERR unknown command 'NOSUCH'"));
    assert_eq!(
        call(&mut a, &["HELLO", "3"]),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the \
         HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
         select the RESP protocol version at the same time"
    );
    assert_eq!(
        call(&mut a, &["HELLO", "3", "AUTH", "default", "nope"]),
        WRONGPASS
    );
    // A second client authenticates while the first keeps failing.
    let mut b = server.raw();
    assert_eq!(call(&mut b, &["AUTH", "s3cret"]), "+OK");
    assert_eq!(call(&mut b, &["SET", "k", "v"]), "+OK");
    assert_eq!(call(&mut a, &["GET", "k"]), NOAUTH);
    let hello = call(&mut a, &["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(hello.starts_with("[$server, $redis"), "{hello}");
    assert_eq!(call(&mut a, &["GET", "k"]), "$v");
    assert_eq!(call(&mut a, &["ACL", "WHOAMI"]), "$default");
    // RESET logs the connection out again.
    assert_eq!(call(&mut a, &["RESET"]), "+RESET");
    assert_eq!(call(&mut a, &["GET", "k"]), NOAUTH);
    // The failed attempts are in ACL LOG (reason auth), newest first.
    let log = call(&mut b, &["ACL", "LOG", "1"]);
    assert!(
        log.contains("$reason, $auth, $context, $toplevel, $object, $auth, $username, $default"),
        "{log}"
    );
    // CONFIG SET requirepass "" removes the password for new connections.
    assert_eq!(
        call(&mut b, &["CONFIG", "GET", "requirepass"]),
        "[$requirepass, $s3cret]"
    );
    assert_eq!(call(&mut b, &["CONFIG", "SET", "requirepass", ""]), "+OK");
    let mut c = server.raw();
    assert_eq!(call(&mut c, &["GET", "k"]), "$v");
    assert_eq!(
        call(&mut c, &["AUTH", "x"]),
        "-ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?"
    );
    // and CONFIG SET requirepass sets one at run time.
    assert_eq!(
        call(&mut b, &["CONFIG", "SET", "requirepass", "new"]),
        "+OK"
    );
    let mut d = server.raw();
    assert_eq!(call(&mut d, &["PING"]), NOAUTH);
    assert_eq!(call(&mut d, &["AUTH", "new"]), "+OK");
    assert_eq!(
        call(&mut b, &["PING"]),
        "+PONG",
        "authenticated clients stay"
    );
}

#[test]
fn passwords_rotate_without_downtime() {
    let server = Server::start(&[]);
    let mut root = admin(&server);
    assert_eq!(
        call(
            &mut root,
            &["ACL", "SETUSER", "app", "on", ">old", "+@all", "~*"]
        ),
        "+OK"
    );
    let mut before = login(&server, "app", "old");
    assert_eq!(call(&mut root, &["ACL", "SETUSER", "app", ">new"]), "+OK");
    let mut during = login(&server, "app", "new");
    let _also_old = login(&server, "app", "old");
    assert_eq!(call(&mut root, &["ACL", "SETUSER", "app", "<old"]), "+OK");
    let mut late = server.raw();
    assert_eq!(call(&mut late, &["AUTH", "app", "old"]), WRONGPASS);
    assert_eq!(call(&mut late, &["AUTH", "app", "new"]), "+OK");
    // Connections authenticated with the retired password keep working.
    assert_eq!(call(&mut before, &["SET", "k", "1"]), "+OK");
    assert_eq!(call(&mut during, &["GET", "k"]), "$1");
    assert_eq!(
        call(&mut root, &["ACL", "SETUSER", "app", "<old"]),
        "-ERR Error in ACL SETUSER modifier '<old': The password you are trying to remove from the user does not exist"
    );
    // Only SHA-256 digests are kept.
    let user = call(&mut root, &["ACL", "GETUSER", "app"]);
    assert!(user.contains("[$on]"), "{user}");
    assert!(!user.contains("new"), "{user}");
    assert!(
        user.contains("$11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"),
        "sha256(new) missing: {user}"
    );
    // off: no new logins, even with a right password.
    assert_eq!(call(&mut root, &["ACL", "SETUSER", "app", "off"]), "+OK");
    assert_eq!(call(&mut server.raw(), &["AUTH", "app", "new"]), WRONGPASS);
    assert_eq!(
        call(&mut root, &["ACL", "SETUSER", "app", "on", "nopass"]),
        "+OK"
    );
    assert_eq!(call(&mut server.raw(), &["AUTH", "app", "anything"]), "+OK");
    assert_eq!(
        call(&mut root, &["ACL", "SETUSER", "app", "resetpass"]),
        "+OK"
    );
    assert_eq!(
        call(&mut server.raw(), &["AUTH", "app", "anything"]),
        WRONGPASS
    );
}

#[test]
fn commands_keys_and_channels_are_checked() {
    let server = Server::start(&[]);
    let mut root = admin(&server);
    assert_eq!(
        call(
            &mut root,
            &[
                "ACL",
                "SETUSER",
                "u",
                "on",
                ">pw",
                "+@read",
                "-@dangerous",
                "+publish",
                "+subscribe",
                "+psubscribe",
                "+multi",
                "+exec",
                "~app:*",
                "%R~ro:*",
                "&news.*",
            ]
        ),
        "+OK"
    );
    assert_eq!(call(&mut root, &["SET", "app:1", "a"]), "+OK");
    assert_eq!(call(&mut root, &["SET", "ro:1", "r"]), "+OK");
    let mut u = login(&server, "u", "pw");
    assert_eq!(call(&mut u, &["GET", "app:1"]), "$a");
    assert_eq!(call(&mut u, &["GET", "ro:1"]), "$r");
    assert_eq!(
        call(&mut u, &["GET", "secret"]),
        "-NOPERM No permissions to access a key"
    );
    assert_eq!(
        call(&mut u, &["SET", "app:1", "b"]),
        "-NOPERM User u has no permissions to run the 'set' command"
    );
    assert_eq!(
        call(&mut u, &["KEYS", "*"]),
        "-NOPERM User u has no permissions to run the 'keys' command"
    );
    assert_eq!(
        call(&mut u, &["CONFIG", "GET", "port"]),
        "-NOPERM User u has no permissions to run the 'config|get' command"
    );
    assert_eq!(call(&mut u, &["PUBLISH", "news.eu", "m"]), ":0");
    assert_eq!(
        call(&mut u, &["PUBLISH", "sports", "m"]),
        "-NOPERM No permissions to access a channel"
    );
    assert_eq!(
        call(&mut u, &["SUBSCRIBE", "news.eu", "sports"]),
        "-NOPERM No permissions to access a channel"
    );
    assert_eq!(
        call(&mut u, &["PSUBSCRIBE", "news.e*"]),
        "-NOPERM No permissions to access a channel"
    );
    // The refusals changed nothing and the admin connection is unaffected.
    assert_eq!(call(&mut root, &["GET", "app:1"]), "$a");
    assert_eq!(
        call(&mut root, &["PUBSUB", "NUMSUB", "sports"]),
        "[$sports, :0]"
    );
    // ACL LOG: newest first, with reason, object and user.
    let log = call(&mut root, &["ACL", "LOG"]);
    for part in [
        "$reason, $channel, $context, $toplevel, $object, $news.e*, $username, $u",
        "$reason, $key, $context, $toplevel, $object, $secret, $username, $u",
        "$reason, $command, $context, $toplevel, $object, $config|get, $username, $u",
    ] {
        assert!(log.contains(part), "{part} not in {log}");
    }
    assert!(log.contains("cmd=get user=u"), "client-info: {log}");
    // Repeats count on one entry; acllog-max-len bounds the log.
    assert!(call(&mut u, &["GET", "secret"]).starts_with("-NOPERM"));
    let newest = call(&mut root, &["ACL", "LOG", "1"]);
    assert!(
        newest.starts_with("[[$count, :2, $reason, $key"),
        "{newest}"
    );
    assert_eq!(
        call(&mut root, &["CONFIG", "SET", "acllog-max-len", "2"]),
        "+OK"
    );
    for k in ["s1", "s2", "s3"] {
        assert!(call(&mut u, &["GET", k]).starts_with("-NOPERM"));
    }
    let log = call(&mut root, &["ACL", "LOG"]);
    assert_eq!(log.matches("$count").count(), 2, "{log}");
    assert!(
        log.contains("$object, $s3") && log.contains("$object, $s2"),
        "{log}"
    );
    assert_eq!(call(&mut root, &["ACL", "LOG", "RESET"]), "+OK");
    assert_eq!(call(&mut root, &["ACL", "LOG"]), "[]");
    // DRYRUN explains without running.
    assert_eq!(
        call(&mut root, &["ACL", "DRYRUN", "u", "GET", "app:1"]),
        "+OK"
    );
    assert_eq!(
        call(&mut root, &["ACL", "DRYRUN", "u", "GET", "secret"]),
        "$No permissions to access the 'secret' key"
    );
    assert_eq!(
        call(&mut root, &["ACL", "DRYRUN", "u", "SET", "a", "b"]),
        "$User u has no permissions to run the 'set' command"
    );
    assert_eq!(
        call(&mut root, &["ACL", "DRYRUN", "nobody", "GET", "a"]),
        "-ERR User 'nobody' not found"
    );
    assert_eq!(
        call(&mut root, &["ACL", "DRYRUN", "u", "NOSUCH"]),
        "-ERR Command 'NOSUCH' not found"
    );
    assert_eq!(
        call(&mut root, &["ACL", "DRYRUN", "u", "GET"]),
        "-ERR wrong number of arguments for 'get' command"
    );
    // A subscriber whose channel permissions are withdrawn is disconnected.
    let mut sub = login(&server, "u", "pw");
    assert_eq!(
        call(&mut sub, &["SUBSCRIBE", "news.eu"]),
        "[$subscribe, $news.eu, :1]"
    );
    assert_eq!(
        call(
            &mut root,
            &["ACL", "SETUSER", "u", "resetchannels", "&other"]
        ),
        "+OK"
    );
    assert!(common::read_to_close(&mut sub).is_empty());
    assert_eq!(
        call(&mut u, &["GET", "app:1"]),
        "$a",
        "non-subscribers stay"
    );
}

#[test]
fn multi_exec_checks_at_queue_time_and_at_exec() {
    let server = Server::start(&[]);
    let mut root = admin(&server);
    call(
        &mut root,
        &["ACL", "SETUSER", "u", "on", ">pw", "+@all", "-set", "~*"],
    );
    let mut u = login(&server, "u", "pw");
    assert_eq!(call(&mut u, &["MULTI"]), "+OK");
    assert_eq!(
        call(&mut u, &["SET", "k", "v"]),
        "-NOPERM User u has no permissions to run the 'set' command"
    );
    assert_eq!(call(&mut u, &["INCR", "n"]), "+QUEUED");
    assert_eq!(
        call(&mut u, &["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(call(&mut root, &["EXISTS", "n"]), ":0");
    // Permissions withdrawn between queueing and EXEC: that command fails, the others run.
    assert_eq!(call(&mut u, &["MULTI"]), "+OK");
    assert_eq!(call(&mut u, &["INCR", "n"]), "+QUEUED");
    assert_eq!(call(&mut u, &["GET", "n"]), "+QUEUED");
    assert_eq!(call(&mut root, &["ACL", "SETUSER", "u", "-get"]), "+OK");
    assert_eq!(
        call(&mut u, &["EXEC"]),
        "[:1, -NOPERM ACLs rules changed between the moment the transaction was accumulated \
         and the EXEC call. This command is no longer allowed for the following reason: \
         User u has no permissions to run the 'get' command]"
    );
    let log = call(&mut root, &["ACL", "LOG", "1"]);
    assert!(log.contains("$context, $multi, $object, $get"), "{log}");
    // EXEC itself denied: the transaction is discarded.
    call(&mut root, &["ACL", "SETUSER", "u", "-exec"]);
    assert_eq!(call(&mut u, &["MULTI"]), "+OK");
    assert_eq!(call(&mut u, &["INCR", "n"]), "+QUEUED");
    assert_eq!(
        call(&mut u, &["EXEC"]),
        "-EXECABORT Transaction discarded because of: NOPERM User u has no permissions to run the 'exec' command"
    );
    assert_eq!(call(&mut u, &["INCR", "n"]), ":2", "not in MULTI any more");
}

#[test]
fn acl_subcommands_and_bad_input() {
    let server = Server::start(&[]);
    let mut r = admin(&server);
    let e = |rule: &str, why: &str| format!("-ERR Error in ACL SETUSER modifier '{rule}': {why}");
    for (rule, why) in [
        ("foo", "Syntax error"),
        ("+nosuch", "Unknown command or category name in ACL"),
        ("+@nosuch", "Unknown command or category name in ACL"),
        ("<nopw", "The password you are trying to remove from the user does not exist"),
        ("#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"),
        ("%X~k", "Syntax error"),
    ] {
        assert_eq!(call(&mut r, &["ACL", "SETUSER", "x", rule]), e(rule, why));
    }
    assert_eq!(
        call(&mut r, &["ACL", "SETUSER", "x", "allkeys", "~a"]),
        e("~a", "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
    );
    assert_eq!(
        call(&mut r, &["ACL", "GETUSER", "x"]),
        "$nil",
        "failed SETUSER created nothing"
    );
    assert_eq!(
        call(&mut r, &["ACL", "SETUSER", "a b"]),
        "-ERR Usernames can't contain spaces or null characters"
    );
    assert_eq!(call(&mut r, &["ACL", "SETUSER", "bob"]), "+OK");
    assert_eq!(
        call(
            &mut r,
            &[
                "ACL", "SETUSER", "dave", "on", "nopass", "%W~w*", "~x*", "%R~r*", "&*", "-@all",
                "+@string", "+@hash"
            ]
        ),
        "+OK"
    );
    assert_eq!(
        call(&mut r, &["ACL", "LIST"]),
        "[$user bob off resetchannels -@all, \
          $user dave on nopass %W~w* ~x* %R~r* &* -@all +@string +@hash, \
          $user default on nopass ~* &* +@all]"
    );
    assert_eq!(
        call(&mut r, &["ACL", "GETUSER", "dave"]),
        "[$flags, [$on, $nopass], $passwords, [], $commands, $-@all +@string +@hash, \
          $keys, $%W~w* ~x* %R~r*, $channels, $&*, $selectors, []]"
    );
    assert_eq!(call(&mut r, &["ACL", "USERS"]), "[$bob, $dave, $default]");
    assert_eq!(call(&mut r, &["ACL", "WHOAMI"]), "$default");
    assert!(call(&mut r, &["ACL", "CAT"]).starts_with("[$keyspace, $read, $write, $set"));
    let strings = call(&mut r, &["ACL", "CAT", "string"]);
    assert!(
        strings.contains("$get") && !strings.contains("$hset"),
        "{strings}"
    );
    assert_eq!(
        call(&mut r, &["ACL", "CAT", "nosuch"]),
        "-ERR Unknown category 'nosuch'"
    );
    assert_eq!(
        call(&mut r, &["ACL", "DELUSER", "default"]),
        "-ERR The 'default' user cannot be removed"
    );
    let genpass = call(&mut r, &["ACL", "GENPASS"]);
    assert_eq!(genpass.len(), 65, "{genpass}");
    assert_eq!(call(&mut r, &["ACL", "GENPASS", "5"]).len(), 3);
    let bad = "-ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
    assert_eq!(call(&mut r, &["ACL", "GENPASS", "0"]), bad);
    assert_eq!(call(&mut r, &["ACL", "GENPASS", "4097"]), bad);
    assert_eq!(
        call(&mut r, &["ACL", "GENPASS", "x"]),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(
        call(&mut r, &["ACL", "LOG", "-1"]),
        "-ERR value is out of range, must be positive"
    );
    assert!(call(&mut r, &["ACL", "SAVE"])
        .starts_with("-ERR This Redis instance is not configured to use an ACL file."));
    assert!(call(&mut r, &["ACL", "LOAD"])
        .starts_with("-ERR This Redis instance is not configured to use an ACL file."));
    assert_eq!(
        call(&mut r, &["ACL", "NOSUCH"]),
        "-ERR unknown subcommand 'NOSUCH'. Try ACL HELP."
    );
    // DELUSER closes the deleted user's connections; others stay.
    let mut d = login(&server, "dave", "x");
    assert_eq!(
        call(&mut d, &["CLIENT", "INFO"]),
        "-NOPERM User dave has no permissions to run the 'client|info' command"
    );
    let list = call(&mut r, &["CLIENT", "LIST"]);
    assert!(list.contains("cmd=client|info user=dave"), "{list}");
    assert_eq!(call(&mut r, &["ACL", "DELUSER", "dave", "nosuch"]), ":1");
    assert!(common::read_to_close(&mut d).is_empty());
    assert_eq!(call(&mut r, &["PING"]), "+PONG");
    assert_eq!(
        call(&mut r, &["CLIENT", "KILL", "USER", "nosuch"]),
        "-ERR No such user 'nosuch'"
    );
}

#[test]
fn aclfile_save_load_and_start_up() {
    let dir = std::env::temp_dir().join(format!("meridian-acl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.acl");
    std::fs::write(&path, "user ops on >first ~* &* +@all\n").unwrap();
    let p = path.to_str().unwrap();
    let server = Server::start(&["--aclfile", p]);
    let mut r = server.raw();
    assert_eq!(call(&mut r, &["ACL", "USERS"]), "[$default, $ops]");
    login(&server, "ops", "first");
    call(
        &mut r,
        &["ACL", "SETUSER", "app", "on", ">pw", "+get", "~app:*"],
    );
    assert_eq!(call(&mut r, &["ACL", "SAVE"]), "+OK");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("user app on #"), "{saved}");
    assert!(
        !saved.contains(">pw"),
        "plain passwords are never written: {saved}"
    );
    // A bad file is refused as a whole; the current users stay.
    std::fs::write(&path, "user a on nopass +@all\nuser b on +nosuch\n").unwrap();
    let err = call(&mut r, &["ACL", "LOAD"]);
    assert_eq!(
        err,
        format!("-ERR {p}:2: Error in user declaration '+nosuch': Unknown command or category name in ACL")
    );
    assert_eq!(call(&mut r, &["ACL", "USERS"]), "[$app, $default, $ops]");
    login(&server, "app", "pw");
    // A good file replaces the users; logins of removed users are closed.
    let mut ops = login(&server, "ops", "first");
    std::fs::write(&path, saved.replace("user ops", "user ops2")).unwrap();
    assert_eq!(call(&mut r, &["ACL", "LOAD"]), "+OK");
    assert_eq!(call(&mut r, &["ACL", "USERS"]), "[$app, $default, $ops2]");
    assert!(common::read_to_close(&mut ops).is_empty());
    drop(server);
    // Start-up reads the file.
    let server = Server::start(&["--aclfile", p]);
    login(&server, "ops2", "first");
    login(&server, "app", "pw");
    drop(server);
    // A broken file stops start-up instead of running with unexpected users.
    std::fs::write(&path, "garbage\n").unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--port", "0", "--aclfile", p])
        .env("MERIDIAN_LOG", "off")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
