//! Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT.

use bytes::Bytes;

use super::{
    args::{int, is, text},
    Action, CmdResult, CommandSpec, Ctx, Flag, Group,
};
use crate::{resp::Protocol, resp::Reply, REDIS_COMPAT_VERSION};

/// Connection command family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, ping)
        .flags(&[Flag::Fast])
        .group(Group::Connection)
        .summary("Returns the server's liveliness response."),
    CommandSpec::new("echo", 2, echo)
        .flags(&[Flag::Fast])
        .group(Group::Connection)
        .summary("Returns the given string."),
    CommandSpec::new("quit", -1, quit)
        .flags(&[
            Flag::AllowBusy,
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::Fast,
            Flag::NoAuth,
        ])
        .group(Group::Connection)
        .summary("Closes the connection."),
    CommandSpec::new("reset", 1, reset)
        .flags(&[
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::Fast,
            Flag::NoAuth,
            Flag::AllowBusy,
        ])
        .group(Group::Connection)
        .since("6.2.0")
        .summary("Resets the connection."),
    CommandSpec::new("hello", -1, hello)
        .flags(&[
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::Fast,
            Flag::NoAuth,
            Flag::AllowBusy,
        ])
        .group(Group::Connection)
        .since("6.0.0")
        .summary("Handshakes with the Redis server."),
    CommandSpec::new("auth", -2, auth)
        .flags(&[
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::Fast,
            Flag::NoAuth,
            Flag::AllowBusy,
        ])
        .group(Group::Connection)
        .summary("Authenticates the connection."),
    CommandSpec::new("select", 2, select)
        .flags(&[Flag::Loading, Flag::Stale, Flag::Fast])
        .group(Group::Connection)
        .summary("Changes the selected database."),
];

fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(Reply::err("wrong number of arguments for 'ping' command"));
    }
    if ctx.client.in_resp2_pubsub() {
        // RESP2 pub/sub mode: `["pong", message or ""]`, as Redis.
        let msg = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk_str("pong"),
            Reply::Bulk(msg),
        ]));
    }
    match args.len() {
        1 => Ok(Reply::simple("PONG")),
        _ => Ok(Reply::Bulk(args[1].clone())),
    }
}

fn echo(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Bulk(args[1].clone()))
}

fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.action = Some(Action::Close);
    Ok(Reply::ok())
}

fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    super::multi::reset(ctx);
    ctx.client.session = Some(ctx.server.acl.new_session());
    ctx.client.handle.names().user.clear();
    super::pubsub::reset(ctx);
    ctx.client.set_db(0);
    ctx.client.set_protocol(Protocol::Resp2);
    ctx.client.handle.names().name.clear();
    ctx.client.handle.set_no_evict(false);
    ctx.client.handle.set_no_touch(false);
    Ok(Reply::simple("RESET"))
}

/// Checks credentials and, when they are right, makes the connection that user.
/// A failure is recorded in ACL LOG (reason `auth`).
fn authenticate(ctx: &mut Ctx<'_>, user: &[u8], password: &[u8]) -> Result<(), Reply> {
    let server = ctx.server;
    match server.acl.authenticate(user, password) {
        Some(u) => {
            ctx.client.handle.names().user = u.name.clone();
            ctx.client.session = Some(server.acl.session_of(u));
            Ok(())
        }
        None => {
            super::access::log_denial(
                server,
                ctx.client,
                crate::acl::log::Reason::Auth,
                crate::acl::log::Context::Toplevel,
                "auth".into(),
                String::from_utf8_lossy(user).into_owned(),
            );
            Err(Reply::error_code(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

/// Validates a client name (CLIENT SETNAME, HELLO SETNAME).
pub fn valid_client_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err(Reply::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut protocol = None;
    let mut next = 1;
    if args.len() >= 2 {
        let ver = int(&args[1])
            .map_err(|_| Reply::err("Protocol version is not an integer or out of range"))?;
        protocol = match ver {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => return Err(Reply::error_code("NOPROTO unsupported protocol version")),
        };
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            credentials = Some((&args[j + 1], &args[j + 2]));
            j += 3;
        } else if is(&args[j], "setname") && more >= 1 {
            name = Some(&args[j + 1]);
            j += 2;
        } else {
            return Err(Reply::err(format!(
                "Syntax error in HELLO option '{}'",
                text(&args[j])
            )));
        }
    }
    match credentials {
        Some((user, password)) => authenticate(ctx, user, password)?,
        None if !super::access::session(ctx.server, ctx.client).authenticated => {
            return Err(Reply::error_code(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time",
            ))
        }
        None => {}
    }
    if let Some(name) = name {
        valid_client_name(name)?;
        ctx.client.handle.names().name = String::from_utf8_lossy(name).into_owned();
    }
    if let Some(p) = protocol {
        ctx.client.set_protocol(p);
    }
    let s = |v: &str| Reply::bulk_str(v);
    Ok(Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_COMPAT_VERSION)),
        (s("proto"), Reply::Integer(ctx.client.protocol().version())),
        (s("id"), Reply::Integer(ctx.client.id() as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ]))
}

fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (user, password): (&[u8], &[u8]) = match args.len() {
        2 => {
            if ctx.server.acl.default_user().nopass {
                return Err(Reply::err(
                    "AUTH <password> called without any password configured for the default \
                     user. Are you sure your configuration is correct?",
                ));
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return Err(super::args::syntax_error()),
    };
    authenticate(ctx, user, password).map(|_| Reply::ok())
}

fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = int(&args[1])?;
    if db < i64::from(i32::MIN) || db > i64::from(i32::MAX) {
        return Err(Reply::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if db < 0 || db as usize >= ctx.server.databases() {
        return Err(Reply::err("DB index is out of range"));
    }
    ctx.client.set_db(db as usize);
    Ok(Reply::ok())
}
