//! CLIENT and its subcommands.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{
    args::{int, is, on_off, syntax_error, text},
    connection::valid_client_name,
    table::container_help,
    CmdResult, CommandSpec, Ctx, Flag, Group,
};
use crate::{resp::Reply, server::ClientHandle, server::ServerState};

const CONN: &[Flag] = &[Flag::Noscript, Flag::Loading, Flag::Stale];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("id", 2, id)
        .flags(CONN)
        .group(Group::Connection)
        .since("5.0.0")
        .summary("Returns the unique client ID of the connection."),
    CommandSpec::new("setname", 3, setname)
        .flags(CONN)
        .group(Group::Connection)
        .since("2.6.9")
        .summary("Sets the connection name."),
    CommandSpec::new("getname", 2, getname)
        .flags(CONN)
        .group(Group::Connection)
        .since("2.6.9")
        .summary("Returns the name of the connection."),
    CommandSpec::new("list", -2, list)
        .flags(&[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale])
        .group(Group::Connection)
        .since("2.4.0")
        .complexity("O(N) where N is the number of client connections")
        .summary("Lists open connections."),
    CommandSpec::new("info", 2, info)
        .flags(CONN)
        .group(Group::Connection)
        .since("6.2.0")
        .summary("Returns information about the connection."),
    CommandSpec::new("kill", -3, kill)
        .flags(&[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale])
        .group(Group::Connection)
        .since("2.4.0")
        .complexity("O(N) where N is the number of client connections")
        .summary("Terminates open connections."),
    CommandSpec::new("setinfo", 4, setinfo)
        .flags(CONN)
        .group(Group::Connection)
        .since("7.2.0")
        .summary("Sets information specific to the client or connection."),
    CommandSpec::new("no-evict", 3, no_evict)
        .flags(&[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale])
        .group(Group::Connection)
        .since("7.0.0")
        .summary("Sets the client eviction mode of the connection."),
    CommandSpec::new("no-touch", 3, no_touch)
        .flags(&[Flag::Noscript, Flag::Loading, Flag::Stale])
        .group(Group::Connection)
        .since("7.2.0")
        .summary(
            "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        ),
    CommandSpec::new("help", 2, container_help)
        .flags(&[Flag::Loading, Flag::Stale])
        .group(Group::Connection)
        .since("5.0.0")
        .summary("Returns helpful text about the different subcommands."),
];

/// CLIENT command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("client", SUBCOMMANDS)
    .group(Group::Connection)
    .summary("A container for client connection commands.")];

fn id(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Integer(ctx.client.id() as i64))
}

fn setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    valid_client_name(&args[2])?;
    ctx.client.handle.names().name = text(&args[2]).into_owned();
    Ok(Reply::ok())
}

fn getname(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let name = ctx.client.handle.names().name.clone();
    Ok(if name.is_empty() {
        Reply::Null
    } else {
        Reply::bulk(name)
    })
}

/// One CLIENT LIST line (without the trailing newline), Redis 7.2 format.
pub(super) fn describe(server: &ServerState, c: &ClientHandle) -> String {
    let names = c.names().clone();
    let cmd = match c.last_cmd.load(Relaxed) {
        0 => "NULL".to_string(),
        n => server.commands.entry(n - 1).fullname.clone(),
    };
    let mut flags = String::new();
    let (sub, psub, ssub) = (
        c.sub.load(Relaxed),
        c.psub.load(Relaxed),
        c.ssub.load(Relaxed),
    );
    let multi = c.multi.load(Relaxed);
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    if c.is_blocked() {
        flags.push('b');
    }
    if multi >= 0 {
        flags.push('x');
    }
    if c.no_evict() {
        flags.push('e');
    }
    if c.no_touch() {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let qbuf = c.qbuf.load(Relaxed);
    let omem = c.omem.load(Relaxed);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} \
         tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        names.name,
        c.age_secs(),
        c.idle_secs(),
        flags,
        c.db(),
        sub,
        psub,
        ssub,
        multi,
        qbuf,
        omem,
        qbuf + omem,
        cmd,
        names.user_name(),
        c.resp(),
        names.lib_name,
        names.lib_ver,
    )
}

/// Client class filter of CLIENT LIST/KILL TYPE.
fn type_matches(kind: &Bytes) -> Result<bool, Reply> {
    // Only normal clients exist until replication and pub/sub do.
    if is(kind, "normal") {
        Ok(true)
    } else if is(kind, "master") || is(kind, "replica") || is(kind, "slave") || is(kind, "pubsub") {
        Ok(false)
    } else {
        Err(Reply::err(format!("Unknown client type '{}'", text(kind))))
    }
}

fn list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut type_ok = true;
    if args.len() == 4 && is(&args[2], "type") {
        type_ok = type_matches(&args[3])?;
    } else if args.len() >= 4 && is(&args[2], "id") {
        let mut v = Vec::new();
        for a in &args[3..] {
            match int(a) {
                Ok(n) if n > 0 => v.push(n as u64),
                _ => return Err(Reply::err("Invalid client ID")),
            }
        }
        ids = Some(v);
    } else if args.len() != 2 {
        return Err(syntax_error());
    }
    let mut out = String::new();
    if type_ok {
        for c in ctx.server.clients.all() {
            if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
                continue;
            }
            out.push_str(&describe(ctx.server, &c));
            out.push('\n');
        }
    }
    Ok(Reply::verbatim_txt(out))
}

fn info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let mut line = describe(ctx.server, &ctx.client.handle);
    line.push('\n');
    Ok(Reply::verbatim_txt(line))
}

#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    type_ok: Option<bool>,
    skipme: bool,
    maxage: Option<u64>,
    user: Option<String>,
}

fn kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 3 {
        // Old form: CLIENT KILL addr:port (may kill the caller itself).
        let addr = text(&args[2]).into_owned();
        let target = ctx
            .server
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr.to_string() == addr);
        return match target {
            Some(c) => {
                c.kill();
                Ok(Reply::ok())
            }
            None => Err(Reply::err("No such client")),
        };
    }
    if args.len() % 2 != 0 {
        return Err(syntax_error());
    }
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    for pair in args[2..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            let id = int(val).map_err(|_| Reply::err("client-id should be greater than 0"))?;
            if id <= 0 {
                return Err(Reply::err("client-id should be greater than 0"));
            }
            f.id = Some(id as u64);
        } else if is(opt, "type") {
            f.type_ok = Some(type_matches(val)?);
        } else if is(opt, "addr") {
            f.addr = Some(text(val).into_owned());
        } else if is(opt, "laddr") {
            f.laddr = Some(text(val).into_owned());
        } else if is(opt, "user") {
            if ctx.server.acl.user(&text(val)).is_none() {
                return Err(Reply::err(format!("No such user '{}'", text(val))));
            }
            f.user = Some(text(val).into_owned());
        } else if is(opt, "skipme") {
            f.skipme = if is(val, "yes") {
                true
            } else if is(val, "no") {
                false
            } else {
                return Err(syntax_error());
            };
        } else if is(opt, "maxage") {
            let age = int(val)?;
            if age < 0 {
                return Err(syntax_error());
            }
            f.maxage = Some(age as u64);
        } else {
            return Err(syntax_error());
        }
    }
    let me = ctx.client.id();
    let mut killed = 0;
    for c in ctx.server.clients.all() {
        let selected = f.id.map_or(true, |id| id == c.id)
            && f.addr.as_ref().map_or(true, |a| *a == c.addr.to_string())
            && f.laddr.as_ref().map_or(true, |a| *a == c.laddr.to_string())
            && f.type_ok.unwrap_or(true)
            && f.maxage.map_or(true, |age| c.age_secs() >= age)
            && f.user.as_ref().map_or(true, |u| c.names().user_name() == u)
            && !(f.skipme && c.id == me)
            && !c.is_killed();
        if selected {
            c.kill();
            killed += 1;
        }
    }
    Ok(Reply::Integer(killed))
}

fn setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let attr = text(&args[2]).to_ascii_lowercase();
    if attr != "lib-name" && attr != "lib-ver" {
        return Err(Reply::err(format!(
            "Unrecognized option '{}'",
            text(&args[2])
        )));
    }
    if !args[3].iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        return Err(Reply::err(format!(
            "{attr} cannot contain spaces, newlines or special characters."
        )));
    }
    let value = text(&args[3]).into_owned();
    let mut names = ctx.client.handle.names();
    if attr == "lib-name" {
        names.lib_name = value;
    } else {
        names.lib_ver = value;
    }
    Ok(Reply::ok())
}

fn no_evict(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.client.handle.set_no_evict(on_off(&args[2])?);
    Ok(Reply::ok())
}

fn no_touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.client.handle.set_no_touch(on_off(&args[2])?);
    Ok(Reply::ok())
}
