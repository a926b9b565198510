//! WAIT: Meridian's cross-region synchronous option.
//!
//! `WAIT numregions timeout` blocks until `numregions` peer REGIONS have durably applied
//! every write this client made before it (this region's op sequence number after the
//! client's last write), or until `timeout` milliseconds pass (0 = forever), and returns
//! how many peer regions have. A write confirmed with `WAIT n` survives the loss of this
//! region as long as one of those `n` regions survives. Without peer regions WAIT answers
//! 0 at once when `numregions` is 0 and otherwise waits out its timeout, as redis-server
//! does without replicas. Inside MULTI/EXEC it never blocks.
//!
//! Blocking: the client registers on a reserved pseudo-key ([`WAIT_KEY`]) that the
//! replication task signals whenever it has run a step while anyone is blocked (acks
//! arrive in steps); the re-run handler recounts.

use std::time::Duration;

use bytes::Bytes;

use super::args::{int, NOT_INTEGER};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;
use crate::store::Wake;

/// The pseudo-key WAIT blocks on (signalled in every database by the replication task).
pub const WAIT_KEY: &[u8] = b"\x00meridian\x00wait";

/// WAIT family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("wait", 3, wait)
    .flags(&[Flag::Noscript])
    .group(Group::Server)
    .summary(
        "Blocks until the writes sent by this connection are durable in a number of other regions.",
    )];

fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let want = int(&args[1])?;
    let timeout_ms = int(&args[2])?;
    if timeout_ms < 0 {
        return Err(Reply::err("timeout is negative"));
    }
    if want < 0 {
        return Err(Reply::err(NOT_INTEGER));
    }
    let have = match ctx.server.repl.get() {
        Some(r) => {
            let vv = crdt::VersionVector::from_pairs([(r.region(), ctx.client.woff)]);
            let st = ctx.store();
            let n = r.core.lock().durable_regions(&vv);
            drop(st);
            n as i64
        }
        None => 0,
    };
    if have >= want || !ctx.can_block() {
        return Ok(Reply::Integer(have));
    }
    let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
    let mut st = ctx.store();
    ctx.block(
        &mut st,
        &[WAIT_KEY],
        Wake::All,
        timeout,
        Reply::Integer(have),
    );
    Ok(Reply::Integer(have))
}
