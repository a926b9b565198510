//! ACL SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT LOG SAVE LOAD GENPASS DRYRUN.
//! The users and rules themselves are in [`crate::acl`].

use bytes::Bytes;

use super::{
    access,
    args::{int, is, syntax_error, text},
    table::container_help,
    CmdResult, CommandSpec, Ctx, Flag, Group,
};
use crate::{
    acl::{category, check, file, AclError, User},
    resp::Reply,
    server::ServerState,
};

const ADMIN: &[Flag] = &[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale];
const PLAIN: &[Flag] = &[Flag::Noscript, Flag::Loading, Flag::Stale];

macro_rules! sub {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $sum:literal) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .since("6.0.0")
            .complexity("O(N)")
            .summary($sum)
    };
}

static SUBCOMMANDS: &[CommandSpec] = &[
    sub!(
        "setuser",
        -3,
        setuser,
        ADMIN,
        "Creates and modifies an ACL user and its rules."
    ),
    sub!(
        "getuser",
        3,
        getuser,
        ADMIN,
        "Lists the ACL rules of a user."
    ),
    sub!(
        "deluser",
        -3,
        deluser,
        ADMIN,
        "Deletes ACL users, and terminates their connections."
    ),
    sub!(
        "list",
        2,
        list,
        ADMIN,
        "Dumps the effective rules in ACL file format."
    ),
    sub!("users", 2, users, ADMIN, "Lists all ACL users."),
    sub!(
        "whoami",
        2,
        whoami,
        PLAIN,
        "Returns the authenticated username of the current connection."
    ),
    sub!(
        "cat",
        -2,
        cat,
        PLAIN,
        "Lists the ACL categories, or the commands inside a category."
    ),
    sub!(
        "log",
        -2,
        log,
        ADMIN,
        "Lists recent security events generated due to commands rejected by ACL rules."
    ),
    sub!(
        "save",
        2,
        save,
        ADMIN,
        "Saves the effective ACL rules in the configured ACL file."
    ),
    sub!(
        "load",
        2,
        load,
        ADMIN,
        "Reloads the rules from the configured ACL file."
    ),
    sub!(
        "genpass",
        -2,
        genpass,
        PLAIN,
        "Generates a pseudorandom, secure password that can be used to identify ACL users."
    ),
    sub!(
        "dryrun",
        -4,
        dryrun,
        ADMIN,
        "Simulates the execution of a command by a user, without executing the command."
    )
    .since("7.0.0"),
    CommandSpec::new("help", 2, container_help)
        .flags(&[Flag::Loading, Flag::Stale])
        .since("6.0.0")
        .summary("Returns helpful text about the different subcommands."),
];

/// ACL command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("acl", SUBCOMMANDS)
    .group(Group::Server)
    .since("6.0.0")
    .summary("A container for Access List Control commands.")];

const NO_ACLFILE: &str = "This Redis instance is not configured to use an ACL file. You may want \
    to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you \
    have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Closes the connections of `user` that `pred` selects (deleted users; subscribers
/// that lost channel permissions).
fn kill_clients(
    server: &ServerState,
    user: &str,
    pred: impl Fn(&crate::server::ClientHandle) -> bool,
) {
    for c in server.clients.all() {
        if c.names().user_name() == user && pred(&c) {
            c.kill();
        }
    }
}

fn subscribed(c: &crate::server::ClientHandle) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    c.sub.load(Relaxed) + c.psub.load(Relaxed) + c.ssub.load(Relaxed) > 0
}

/// Subscribers of a user whose channel permissions changed are closed, as in Redis.
fn channels_changed(old: Option<&User>, new: &User) -> bool {
    match old {
        Some(o) => !new.allchannels && (o.allchannels || o.channels != new.channels),
        None => false,
    }
}

fn setuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    let name = text(&args[2]).into_owned();
    let old = server.acl.user(&name);
    let rules: Vec<&[u8]> = args[3..].iter().map(|a| &a[..]).collect();
    server
        .acl
        .set_user(&args[2], &rules, &server.commands)
        .map_err(|(i, e)| match e {
            AclError::BadUsername => Reply::err(e),
            e => Reply::err(format!(
                "Error in ACL SETUSER modifier '{}': {e}",
                String::from_utf8_lossy(rules.get(i).copied().unwrap_or(b""))
            )),
        })?;
    if let Some(new) = server.acl.user(&name) {
        if channels_changed(old.as_deref(), &new) {
            kill_clients(server, &name, subscribed);
        }
    }
    Ok(Reply::ok())
}

fn getuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(u) = ctx.server.acl.user(&text(&args[2])) else {
        return Ok(Reply::Null);
    };
    let s = Reply::bulk_str;
    let mut flags = vec![s(if u.enabled { "on" } else { "off" })];
    if u.nopass {
        flags.push(s("nopass"));
    }
    if let Some(f) = u.payload_flag {
        flags.push(s(f));
    }
    Ok(Reply::Map(vec![
        (s("flags"), Reply::Set(flags)),
        (
            s("passwords"),
            Reply::Array(u.passwords.iter().map(|p| s(p)).collect()),
        ),
        (s("commands"), s(&u.command_rules())),
        (s("keys"), s(&u.key_rules())),
        (s("channels"), s(&u.channel_rules())),
        (s("selectors"), Reply::Array(vec![])),
    ]))
}

fn deluser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    if args[2..].iter().any(|a| &a[..] == b"default") {
        return Err(Reply::err("The 'default' user cannot be removed"));
    }
    let mut n = 0;
    for a in &args[2..] {
        let name = text(a);
        if server.acl.del_user(&name) {
            n += 1;
            kill_clients(server, &name, |_| true);
        }
    }
    Ok(Reply::Integer(n))
}

fn list(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let users = ctx.server.acl.users();
    Ok(Reply::Array(
        users.iter().map(|u| Reply::bulk(u.describe())).collect(),
    ))
}

fn users(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let users = ctx.server.acl.users();
    Ok(Reply::Array(
        users.iter().map(|u| Reply::bulk_str(&u.name)).collect(),
    ))
}

fn whoami(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let s = access::session(ctx.server, ctx.client);
    Ok(Reply::bulk_str(&s.user.name))
}

fn cat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => Ok(Reply::Array(
            category::CATEGORIES
                .iter()
                .map(|c| Reply::bulk_str(c))
                .collect(),
        )),
        3 => {
            let name = text(&args[2]).to_ascii_lowercase();
            if !category::exists(&name) {
                return Err(Reply::err(format!("Unknown category '{}'", text(&args[2]))));
            }
            let cmds = ctx
                .server
                .commands
                .all()
                .filter(|e| e.spec.handler.is_some() && category::contains(e, &name))
                .map(|e| Reply::bulk_str(&e.fullname))
                .collect();
            Ok(Reply::Array(cmds))
        }
        _ => Err(syntax_error()),
    }
}

fn log(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = match args.len() {
        2 => 10,
        3 if is(&args[2], "reset") => {
            ctx.server.acl.log().reset();
            return Ok(Reply::ok());
        }
        3 => {
            let n = int(&args[2])?;
            if n < 0 {
                return Err(Reply::err("value is out of range, must be positive"));
            }
            n as usize
        }
        _ => return Err(syntax_error()),
    };
    Ok(ctx.server.acl.log().reply(count))
}

fn aclfile(ctx: &Ctx<'_>) -> Result<std::path::PathBuf, Reply> {
    let path = ctx.server.config().aclfile.clone();
    if path.is_empty() {
        return Err(Reply::err(NO_ACLFILE));
    }
    Ok(path.into())
}

fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let path = aclfile(ctx)?;
    let users = ctx.server.acl.users();
    let text = file::render(users.iter().map(|u| &**u));
    file::save(&path, &text).map_err(|e| {
        tracing::warn!("ACL SAVE failed: {e}");
        Reply::err(
            "There was an error trying to save the ACLs. Please check the server logs for more information",
        )
    })?;
    Ok(Reply::ok())
}

fn load(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    let path = aclfile(ctx)?;
    let before = server.acl.users();
    let users = file::load(&path, &server.commands).map_err(Reply::err)?;
    server.acl.replace_all(users, &server.commands);
    for old in before {
        match server.acl.user(&old.name) {
            None => kill_clients(server, &old.name, |_| true),
            Some(new) if channels_changed(Some(&old), &new) => {
                kill_clients(server, &old.name, subscribed)
            }
            Some(_) => {}
        }
    }
    Ok(Reply::ok())
}

fn genpass(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    const BAD: &str = "ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
    let bits = match args.len() {
        2 => 256,
        3 => {
            let b = int(&args[2])?;
            if !(1..=4096).contains(&b) {
                return Err(Reply::err(BAD));
            }
            b as usize
        }
        _ => return Err(syntax_error()),
    };
    let chars = bits.div_ceil(4);
    let mut raw = vec![0u8; chars.div_ceil(2)];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| Reply::err("cannot read random bytes"))?;
    let mut hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    Ok(Reply::bulk(hex))
}

fn dryrun(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    let Some(user) = server.acl.user(&text(&args[2])) else {
        return Err(Reply::err(format!("User '{}' not found", text(&args[2]))));
    };
    let cmd = &args[3..];
    let entry = server
        .commands
        .lookup(cmd)
        .ok()
        .filter(|e| e.spec.handler.is_some())
        .ok_or_else(|| Reply::err(format!("Command '{}' not found", text(&args[3]))))?;
    let arity = entry.spec.arity;
    let argc = cmd.len() as i64;
    if (arity > 0 && i64::from(arity) != argc) || argc < -i64::from(arity) {
        return Err(Reply::err(format!(
            "wrong number of arguments for '{}' command",
            entry.fullname
        )));
    }
    if entry.spec.has_flag(Flag::NoAuth) {
        return Ok(Reply::ok());
    }
    match check::check(&user, entry, cmd) {
        Ok(()) => Ok(Reply::ok()),
        Err(d) => Ok(Reply::bulk(d.message(&user, entry, cmd, true))),
    }
}
