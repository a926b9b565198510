//! DEBUG: test-only fault knobs for the chaos harness (`meridian-jepsen`).
//!
//! Every subcommand is refused unless the server was started with `test-mode yes`
//! (default no), so a production region cannot be skewed or broken by a client.
//!
//! - `DEBUG CLOCK-OFFSET-MS <ms>`: skews this region's wall clock by `ms` (may be
//!   negative; 0 restores it). The HLC and expiry both read the skewed clock, so this is
//!   the clock nemesis (skews and jumps).
//! - `DEBUG DROP-NEXT-DELTA [n]`: a deliberately injected bug — the next `n` (default 1)
//!   local ops are replicated with their content stripped (their sequence numbers still
//!   go out, so peers believe they have them). The harness must report the lost writes.

use bytes::Bytes;

use super::args::{int, is, syntax_error, text};
use super::{CmdResult, CommandSpec, Ctx, Flag};
use crate::resp::Reply;

/// DEBUG family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, debug)
    .flags(&[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale])
    .summary("Test-only fault knobs (clock offset, dropped replication ops); needs test-mode.")];

fn debug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !ctx.server.config().test_mode {
        return Err(Reply::err(
            "DEBUG is disabled: start the server with test-mode yes",
        ));
    }
    let sub = &args[1];
    if is(sub, "clock-offset-ms") && args.len() == 3 {
        let ms = int(&args[2])?;
        ctx.store().set_clock_offset_ms(ms);
        Ok(Reply::ok())
    } else if is(sub, "drop-next-delta") && args.len() <= 3 {
        let n = match args.get(2) {
            Some(a) => u32::try_from(int(a)?).map_err(|_| syntax_error())?,
            None => 1,
        };
        match ctx.server.repl.get() {
            Some(r) => {
                r.debug_drop_next_ops(n);
                Ok(Reply::ok())
            }
            None => Err(Reply::err("DROP-NEXT-DELTA needs peer regions")),
        }
    } else {
        Err(Reply::err(format!(
            "unknown DEBUG subcommand or wrong arguments: '{}'",
            text(sub)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::server::{ClientHandle, ClientState, ServerState};

    fn run(test_mode: bool, args: &[&str]) -> CmdResult {
        let cfg = Config {
            test_mode,
            ..Config::default()
        };
        let server = ServerState::new(cfg, None);
        let addr = "127.0.0.1:1".parse().unwrap();
        let mut client =
            ClientState::new(std::sync::Arc::new(ClientHandle::new(1, addr, addr, -1)));
        let mut ctx = Ctx::new(&server, &mut client);
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        debug(&mut ctx, &args)
    }

    #[test]
    fn refused_without_test_mode() {
        assert!(run(false, &["debug", "clock-offset-ms", "1000"]).is_err());
        assert_eq!(
            run(true, &["debug", "clock-offset-ms", "-1000"]).unwrap(),
            Reply::ok()
        );
        assert!(run(true, &["debug", "clock-offset-ms", "x"]).is_err());
        assert!(run(true, &["debug", "nope"]).is_err());
        // no region link: nothing to drop
        assert!(run(true, &["debug", "drop-next-delta"]).is_err());
    }
}
