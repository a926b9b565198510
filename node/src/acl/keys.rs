//! Which arguments of a command are keys (and how they are accessed) and which
//! are pub/sub channels, for the ACL key and channel checks.
//!
//! Access is derived from the command flags, more strictly than Redis' key
//! specs (never more permissively): a read-only command reads its keys; a
//! write command reads and writes them, except DEL/UNLINK (write only) and the
//! source keys of the storing commands (read only: ZUNIONSTORE, SUNIONSTORE,
//! COPY, GEOSEARCHSTORE, ...). A command with movable keys that is not listed
//! here needs access to all keys.

use bytes::Bytes;

use crate::cmd::{CommandEntry, Flag};

/// Access a command needs to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Reads the key.
    pub read: bool,
    /// Writes the key.
    pub write: bool,
}

const READ: Access = Access {
    read: true,
    write: false,
};
const WRITE: Access = Access {
    read: false,
    write: true,
};
const READ_WRITE: Access = Access {
    read: true,
    write: true,
};

/// The keys of one command.
#[derive(Debug, PartialEq, Eq)]
pub enum Keys {
    /// These argument positions, with their access.
    Args(Vec<(usize, Access)>),
    /// Positions unknown: only a user with access to every key may run it.
    All,
}

/// `numkeys` at `at`, keys right after it; positions bounded by `argc`.
fn numkeys(args: &[Bytes], at: usize, access: Access, out: &mut Vec<(usize, Access)>) {
    let n = args
        .get(at)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (at + 1).saturating_add(n).min(args.len());
    out.extend((at + 1..end).map(|i| (i, access)));
}

fn default_access(entry: &CommandEntry) -> Access {
    if entry.spec.has_flag(Flag::Write) {
        READ_WRITE
    } else {
        READ
    }
}

/// The keys `args` names for `entry`.
pub fn command_keys(entry: &CommandEntry, args: &[Bytes]) -> Keys {
    let spec = entry.spec;
    let name = entry.fullname.as_str();
    let mut out = Vec::new();
    if spec.has_flag(Flag::MovableKeys) {
        match name {
            "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "zmpop" | "lmpop" => {
                numkeys(args, 1, default_access(entry), &mut out)
            }
            "bzmpop" | "blmpop" => numkeys(args, 2, default_access(entry), &mut out),
            "eval" | "evalsha" => numkeys(args, 2, READ_WRITE, &mut out),
            "eval_ro" | "evalsha_ro" => numkeys(args, 2, READ, &mut out),
            "zunionstore" | "zinterstore" | "zdiffstore" => {
                if args.len() > 1 {
                    out.push((1, WRITE));
                }
                numkeys(args, 2, READ, &mut out);
            }
            "georadius" | "georadiusbymember" => {
                if args.len() > 1 {
                    out.push((1, READ));
                }
                let options = args.iter().enumerate().skip(2);
                for (i, a) in options.take(args.len().saturating_sub(3)) {
                    if a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist") {
                        out.push((i + 1, WRITE));
                    }
                }
            }
            "xread" | "xreadgroup" => {
                // Keys: the first half of the arguments after STREAMS.
                let from = if name == "xread" { 1 } else { 4 };
                let streams = args
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, a)| a.eq_ignore_ascii_case(b"streams"));
                if let Some((p, _)) = streams {
                    let n = (args.len() - p - 1) / 2;
                    out.extend((p + 1..p + 1 + n).map(|i| (i, default_access(entry))));
                }
            }
            _ => return Keys::All,
        }
        return Keys::Args(out);
    }
    if spec.first_key <= 0 {
        return Keys::Args(out);
    }
    let argc = args.len() as i64;
    let first = i64::from(spec.first_key);
    let last = match i64::from(spec.last_key) {
        l if l < 0 => argc + l,
        l => l,
    };
    let step = i64::from(spec.key_step.max(1));
    let mut i = first;
    while i <= last && i < argc {
        let access = match name {
            "del" | "unlink" => WRITE,
            "copy" if i == 1 => READ,
            "copy" => WRITE,
            "zrangestore" | "sunionstore" | "sinterstore" | "sdiffstore" | "geosearchstore"
                if i == 1 =>
            {
                WRITE
            }
            "zrangestore" | "sunionstore" | "sinterstore" | "sdiffstore" | "geosearchstore" => READ,
            _ => default_access(entry),
        };
        out.push((i as usize, access));
        i += step;
    }
    Keys::Args(out)
}

/// How a command names channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelArgs {
    /// No channels.
    None,
    /// `args[1]` is a channel (PUBLISH, SPUBLISH).
    First,
    /// `args[1..]` are channels (SUBSCRIBE, SSUBSCRIBE).
    All,
    /// `args[1..]` are patterns, matched literally against the user's (PSUBSCRIBE).
    Patterns,
}

/// The channel arguments of a command.
pub fn channel_args(entry: &CommandEntry) -> ChannelArgs {
    match entry.fullname.as_str() {
        "publish" | "spublish" => ChannelArgs::First,
        "subscribe" | "ssubscribe" => ChannelArgs::All,
        "psubscribe" => ChannelArgs::Patterns,
        _ => ChannelArgs::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::CommandTable;

    fn keys(cmd: &[&str]) -> Keys {
        let t = CommandTable::new();
        let args: Vec<Bytes> = cmd.iter().map(|s| Bytes::from(s.to_string())).collect();
        let e = t.lookup(&args).unwrap();
        command_keys(e, &args)
    }

    #[test]
    fn positions_and_access() {
        assert_eq!(keys(&["get", "k"]), Keys::Args(vec![(1, READ)]));
        assert_eq!(
            keys(&["mset", "a", "1", "b", "2"]),
            Keys::Args(vec![(1, READ_WRITE), (3, READ_WRITE)])
        );
        assert_eq!(
            keys(&["del", "a", "b"]),
            Keys::Args(vec![(1, WRITE), (2, WRITE)])
        );
        assert_eq!(
            keys(&["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
            Keys::Args(vec![(1, WRITE), (3, READ), (4, READ)])
        );
        assert_eq!(keys(&["zinter", "99", "a"]), Keys::Args(vec![(2, READ)]));
        assert_eq!(
            keys(&["georadius", "g", "0", "0", "1", "km", "STORE", "d"]),
            Keys::Args(vec![(1, READ), (7, WRITE)])
        );
        assert_eq!(
            keys(&["copy", "a", "b"]),
            Keys::Args(vec![(1, READ), (2, WRITE)])
        );
        assert_eq!(keys(&["ping"]), Keys::Args(vec![]));
        assert_eq!(
            keys(&["xread", "COUNT", "1", "STREAMS", "a", "b", "0", "$"]),
            Keys::Args(vec![(4, READ), (5, READ)])
        );
        assert_eq!(
            keys(&["xreadgroup", "GROUP", "streams", "c", "STREAMS", "a", ">"]),
            Keys::Args(vec![(5, READ_WRITE)])
        );
    }
}
