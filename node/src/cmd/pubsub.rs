//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH SSUBSCRIBE
//! SUNSUBSCRIBE SPUBLISH PUBSUB (CHANNELS NUMSUB NUMPAT SHARDCHANNELS SHARDNUMSUB HELP).
//!
//! The registry and delivery live in `server/pubsub.rs`; the connection writes queued
//! messages between replies (RESP2 arrays, RESP3 `>` pushes). In RESP2 a subscribed
//! client may only send (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET (enforced by
//! `multi::dispatch`); in RESP3 every command stays available.
//!
//! PUBLISH counts receivers in this region only; the message is also forwarded to the
//! other regions (best effort) through the registry's forwarder.

use bytes::Bytes;

use super::{args::text, CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::{
    resp::Reply,
    server::{ClientState, ServerState, Space, Subscriptions},
};

const SUB: &[Flag] = &[Flag::Pubsub, Flag::Noscript, Flag::Loading, Flag::Stale];
const PUBF: &[Flag] = &[Flag::Pubsub, Flag::Loading, Flag::Stale, Flag::Fast];
const INTRO: &[Flag] = &[Flag::Pubsub, Flag::Loading, Flag::Stale];

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("channels", -2, channels)
        .flags(INTRO)
        .group(Group::Pubsub)
        .since("2.8.0")
        .complexity("O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)")
        .summary("Returns the active channels."),
    CommandSpec::new("numsub", -2, numsub)
        .flags(INTRO)
        .group(Group::Pubsub)
        .since("2.8.0")
        .complexity("O(N) for the NUMSUB subcommand, where N is the number of requested channels")
        .summary("Returns a count of subscribers to channels."),
    CommandSpec::new("numpat", 2, numpat)
        .flags(INTRO)
        .group(Group::Pubsub)
        .since("2.8.0")
        .summary("Returns a count of unique pattern subscriptions."),
    CommandSpec::new("shardchannels", -2, shardchannels)
        .flags(INTRO)
        .group(Group::Pubsub)
        .since("7.0.0")
        .complexity("O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).")
        .summary("Returns the active shard channels."),
    CommandSpec::new("shardnumsub", -2, shardnumsub)
        .flags(INTRO)
        .group(Group::Pubsub)
        .since("7.0.0")
        .complexity("O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels")
        .summary("Returns the count of subscribers of shard channels."),
    CommandSpec::new("help", 2, help)
        .flags(&[Flag::Loading, Flag::Stale])
        .group(Group::Pubsub)
        .since("6.2.0")
        .summary("Returns helpful text about the different subcommands."),
];

/// Pub/sub command family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, subscribe)
        .flags(SUB)
        .group(Group::Pubsub)
        .since("2.0.0")
        .complexity("O(N) where N is the number of channels to subscribe to.")
        .summary("Listens for messages published to channels."),
    CommandSpec::new("unsubscribe", -1, unsubscribe)
        .flags(SUB)
        .group(Group::Pubsub)
        .since("2.0.0")
        .complexity("O(N) where N is the number of channels to unsubscribe.")
        .summary("Stops listening to messages posted to channels."),
    CommandSpec::new("psubscribe", -2, psubscribe)
        .flags(SUB)
        .group(Group::Pubsub)
        .since("2.0.0")
        .complexity("O(N) where N is the number of patterns to subscribe to.")
        .summary("Listens for messages published to channels that match one or more patterns."),
    CommandSpec::new("punsubscribe", -1, punsubscribe)
        .flags(SUB)
        .group(Group::Pubsub)
        .since("2.0.0")
        .complexity("O(N) where N is the number of patterns to unsubscribe.")
        .summary("Stops listening to messages published to channels that match one or more patterns."),
    CommandSpec::new("publish", 3, publish)
        .flags(PUBF)
        .group(Group::Pubsub)
        .since("2.0.0")
        .complexity("O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).")
        .summary("Posts a message to a channel."),
    CommandSpec::new("ssubscribe", -2, ssubscribe)
        .flags(SUB)
        .keys(1, -1, 1)
        .group(Group::Pubsub)
        .since("7.0.0")
        .complexity("O(N) where N is the number of shard channels to subscribe to.")
        .summary("Listens for messages published to shard channels."),
    CommandSpec::new("sunsubscribe", -1, sunsubscribe)
        .flags(SUB)
        .keys(1, -1, 1)
        .group(Group::Pubsub)
        .since("7.0.0")
        .complexity("O(N) where N is the number of shard channels to unsubscribe.")
        .summary("Stops listening to messages posted to shard channels."),
    CommandSpec::new("spublish", 3, spublish)
        .flags(PUBF)
        .keys(1, 1, 1)
        .group(Group::Pubsub)
        .since("7.0.0")
        .complexity("O(N) where N is the number of clients subscribed to the receiving shard channel.")
        .summary("Post a message to a shard channel"),
    CommandSpec::container("pubsub", PUBSUB_SUBCOMMANDS)
        .group(Group::Pubsub)
        .since("2.8.0")
        .summary("A container for Pub/Sub commands."),
];

/// The client's subscriptions, created on first use, with limits from the live config.
fn subs<'c>(server: &ServerState, client: &'c mut ClientState) -> &'c mut Subscriptions {
    let handle = client.handle.clone();
    client.pubsub.get_or_insert_with(|| {
        let limit = server.config().client_output_buffer_limit.pubsub;
        Box::new(Subscriptions::new(handle, limit, &server.pubsub))
    })
}

/// `[kind, name, count]` confirmation frame.
fn frame(kind: &'static str, name: Option<&Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk_str(kind),
        name.map_or(Reply::Null, |n| Reply::Bulk(n.clone())),
        Reply::Integer(count as i64),
    ])
}

/// Which subscriptions a (un)subscribe command manages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn set(self, s: &mut Subscriptions) -> &mut std::collections::HashSet<Bytes> {
        match self {
            Kind::Channel => &mut s.channels,
            Kind::Pattern => &mut s.patterns,
            Kind::Shard => &mut s.shard,
        }
    }

    /// The count reported with confirmations (shard channels are counted apart).
    fn count(self, s: &Subscriptions) -> usize {
        match self {
            Kind::Shard => s.shard.len(),
            _ => s.count(),
        }
    }

    fn register(self, server: &ServerState, s: &Subscriptions, name: &Bytes) {
        match self {
            Kind::Channel => server.pubsub.subscribe(Space::Global, name, &s.mailbox),
            Kind::Pattern => server.pubsub.psubscribe(name, &s.mailbox),
            Kind::Shard => server.pubsub.subscribe(Space::Shard, name, &s.mailbox),
        }
    }

    fn unregister(self, server: &ServerState, s: &Subscriptions, name: &[u8]) {
        let id = s.mailbox.id();
        match self {
            Kind::Channel => server.pubsub.unsubscribe(Space::Global, name, id),
            Kind::Pattern => server.pubsub.punsubscribe(name, id),
            Kind::Shard => server.pubsub.unsubscribe(Space::Shard, name, id),
        }
    }
}

fn do_subscribe(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind, word: &'static str) -> CmdResult {
    let server = ctx.server;
    let s = subs(server, ctx.client);
    let mut out = Vec::with_capacity(args.len() - 1);
    for name in &args[1..] {
        let name = Bytes::copy_from_slice(name);
        if kind.set(s).insert(name.clone()) {
            kind.register(server, s, &name);
        }
        out.push(frame(word, Some(&name), kind.count(s)));
    }
    publish_counts(ctx.client);
    Ok(Reply::Many(out))
}

/// Mirrors the subscription counts into the shared handle (CLIENT LIST).
fn publish_counts(client: &ClientState) {
    use std::sync::atomic::Ordering::Relaxed;
    let (c, p, s) = client.pubsub.as_deref().map_or((0, 0, 0), |s| {
        (s.channels.len(), s.patterns.len(), s.shard.len())
    });
    client.handle.sub.store(c, Relaxed);
    client.handle.psub.store(p, Relaxed);
    client.handle.ssub.store(s, Relaxed);
}

fn do_unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind, word: &'static str) -> CmdResult {
    let server = ctx.server;
    let Some(s) = ctx.client.pubsub.as_deref_mut() else {
        // Never subscribed: one confirmation per name, or a null one.
        if args.len() == 1 {
            return Ok(frame(word, None, 0));
        }
        return Ok(Reply::Many(
            args[1..].iter().map(|n| frame(word, Some(n), 0)).collect(),
        ));
    };
    let names: Vec<Bytes> = if args.len() == 1 {
        kind.set(s).iter().cloned().collect()
    } else {
        args[1..].to_vec()
    };
    if names.is_empty() {
        return Ok(frame(word, None, kind.count(s)));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if kind.set(s).remove(&name[..]) {
            kind.unregister(server, s, &name);
        }
        out.push(frame(word, Some(&name), kind.count(s)));
    }
    publish_counts(ctx.client);
    Ok(Reply::Many(out))
}

fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Channel, "subscribe")
}

fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Pattern, "psubscribe")
}

fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Shard, "ssubscribe")
}

fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Channel, "unsubscribe")
}

fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Pattern, "punsubscribe")
}

fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Shard, "sunsubscribe")
}

fn do_publish(ctx: &mut Ctx<'_>, args: &[Bytes], space: Space) -> CmdResult {
    // Copies: the arguments are slices of the publisher's read buffer.
    let channel = Bytes::copy_from_slice(&args[1]);
    let payload = Bytes::copy_from_slice(&args[2]);
    let n = ctx.server.pubsub.publish(space, channel, payload);
    let reply = Reply::Integer(n as i64);
    // A subscribed publisher sees its own message before the reply, as in Redis.
    match ctx.client.pubsub.as_deref_mut() {
        Some(s) if s.total() > 0 => {
            let mut out = s.drain(usize::MAX);
            if out.is_empty() {
                return Ok(reply);
            }
            out.push(reply);
            Ok(Reply::Many(out))
        }
        _ => Ok(reply),
    }
}

fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_publish(ctx, args, Space::Global)
}

fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    do_publish(ctx, args, Space::Shard)
}

fn list_channels(ctx: &mut Ctx<'_>, args: &[Bytes], space: Space) -> CmdResult {
    if args.len() > 3 {
        return Err(Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            text(&args[1])
        )));
    }
    let pattern = args.get(2).map(|p| &p[..]);
    let names = ctx.server.pubsub.channels(space, pattern);
    Ok(Reply::Array(names.into_iter().map(Reply::Bulk).collect()))
}

fn channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(ctx, args, Space::Global)
}

fn shardchannels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(ctx, args, Space::Shard)
}

fn count_subscribers(ctx: &mut Ctx<'_>, args: &[Bytes], space: Space) -> CmdResult {
    let mut out = Vec::with_capacity(2 * (args.len() - 2));
    for ch in &args[2..] {
        out.push(Reply::Bulk(ch.clone()));
        out.push(Reply::Integer(ctx.server.pubsub.numsub(space, ch) as i64));
    }
    // Redis 7 answers an array of pairs in RESP2 and RESP3 alike.
    Ok(Reply::Array(out))
}

fn numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, args, Space::Global)
}

fn shardnumsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, args, Space::Shard)
}

fn numpat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Integer(ctx.server.pubsub.numpat() as i64))
}

fn help(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        LINES.iter().map(|l| Reply::simple(l)).collect(),
    ))
}

/// RESET: drops every subscription (the client leaves pub/sub mode).
pub(super) fn reset(ctx: &mut Ctx<'_>) {
    unsubscribe_all(ctx.server, ctx.client);
}

/// Drops every subscription of the client (RESET, disconnection).
pub fn unsubscribe_all(server: &ServerState, client: &mut ClientState) {
    if let Some(s) = client.pubsub.take() {
        server.pubsub.remove_all(&s);
        publish_counts(client);
    }
}
