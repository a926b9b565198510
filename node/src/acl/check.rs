//! The permission check of one command for one user, and the Redis 7.2 texts
//! of a denial.

use bytes::Bytes;

use super::{
    keys::{channel_args, command_keys, Access, ChannelArgs, Keys},
    log::Reason,
    User,
};
use crate::{cmd::CommandEntry, glob::glob_match};

/// Why a command was refused, with the position of the offending argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The command itself.
    Command,
    /// The key at this argument position (0: the command has unknown key positions).
    Key(usize),
    /// The channel or pattern at this argument position.
    Channel(usize),
}

impl Denied {
    /// The ACL LOG reason.
    pub fn reason(self) -> Reason {
        match self {
            Denied::Command => Reason::Command,
            Denied::Key(_) => Reason::Key,
            Denied::Channel(_) => Reason::Channel,
        }
    }

    /// The ACL LOG object: the command's full name, the key or the channel.
    pub fn object(self, entry: &CommandEntry, args: &[Bytes]) -> String {
        match self {
            Denied::Command | Denied::Key(0) => entry.fullname.clone(),
            Denied::Key(i) | Denied::Channel(i) => {
                String::from_utf8_lossy(args.get(i).map(|a| &a[..]).unwrap_or(b"")).into_owned()
            }
        }
    }

    /// The error text after `NOPERM ` (verbose: ACL DRYRUN and EXEC's re-check).
    pub fn message(
        self,
        user: &User,
        entry: &CommandEntry,
        args: &[Bytes],
        verbose: bool,
    ) -> String {
        match self {
            Denied::Command => format!(
                "User {} has no permissions to run the '{}' command",
                user.name, entry.fullname
            ),
            Denied::Key(_) if verbose => format!(
                "No permissions to access the '{}' key",
                self.object(entry, args)
            ),
            Denied::Key(_) => "No permissions to access a key".into(),
            Denied::Channel(_) if verbose => format!(
                "No permissions to access the '{}' channel",
                self.object(entry, args)
            ),
            Denied::Channel(_) => "No permissions to access a channel".into(),
        }
    }
}

fn key_allowed(user: &User, key: &[u8], need: Access) -> bool {
    user.allkeys
        || user.keys.iter().any(|p| {
            (p.read || !need.read) && (p.write || !need.write) && glob_match(&p.pattern, key, false)
        })
}

fn channel_allowed(user: &User, channel: &[u8], is_pattern: bool) -> bool {
    user.allchannels
        || user.channels.iter().any(|p| {
            if is_pattern {
                p[..] == *channel
            } else {
                glob_match(p, channel, false)
            }
        })
}

/// Whether `user` may run `entry` with `args`: the command, then its keys,
/// then its channels.
pub fn check(user: &User, entry: &CommandEntry, args: &[Bytes]) -> Result<(), Denied> {
    if !user.can_run(entry) {
        return Err(Denied::Command);
    }
    if !user.allkeys {
        match command_keys(entry, args) {
            Keys::All => return Err(Denied::Key(0)),
            Keys::Args(positions) => {
                for (i, need) in positions {
                    if !key_allowed(user, &args[i], need) {
                        return Err(Denied::Key(i));
                    }
                }
            }
        }
    }
    if !user.allchannels {
        let (from, to, pattern) = match channel_args(entry) {
            ChannelArgs::None => return Ok(()),
            ChannelArgs::First => (1, 2.min(args.len()), false),
            ChannelArgs::All => (1, args.len(), false),
            ChannelArgs::Patterns => (1, args.len(), true),
        };
        for (i, channel) in args.iter().enumerate().take(to).skip(from) {
            if !channel_allowed(user, channel, pattern) {
                return Err(Denied::Channel(i));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::CommandTable;

    fn run(rules: &[&str], cmd: &[&str]) -> Result<(), Denied> {
        let t = CommandTable::new();
        let mut u = User::new("u", &t);
        for r in rules {
            u.apply(r.as_bytes(), &t).unwrap();
        }
        let args: Vec<Bytes> = cmd.iter().map(|s| Bytes::from(s.to_string())).collect();
        check(&u, t.lookup(&args).unwrap(), &args)
    }

    #[test]
    fn commands_keys_and_channels() {
        let rw = ["+@all", "~app:*", "%R~ro:*", "%W~wo:*", "&news.*"];
        assert_eq!(run(&rw, &["get", "app:1"]), Ok(()));
        assert_eq!(run(&rw, &["get", "other"]), Err(Denied::Key(1)));
        assert_eq!(run(&rw, &["get", "ro:1"]), Ok(()));
        assert_eq!(run(&rw, &["set", "ro:1", "v"]), Err(Denied::Key(1)));
        assert_eq!(run(&rw, &["set", "wo:1", "v"]), Err(Denied::Key(1)));
        assert_eq!(run(&rw, &["del", "wo:1"]), Ok(()));
        assert_eq!(
            run(&rw, &["mset", "app:1", "v", "x", "v"]),
            Err(Denied::Key(3))
        );
        assert_eq!(
            run(&rw, &["zunionstore", "wo:d", "2", "ro:a", "app:b"]),
            Ok(())
        );
        assert_eq!(run(&rw, &["publish", "news.eu", "m"]), Ok(()));
        assert_eq!(
            run(&rw, &["publish", "sports", "m"]),
            Err(Denied::Channel(1))
        );
        assert_eq!(
            run(&rw, &["subscribe", "news.a", "x"]),
            Err(Denied::Channel(2))
        );
        assert_eq!(run(&rw, &["psubscribe", "news.*"]), Ok(()));
        assert_eq!(
            run(&rw, &["psubscribe", "news.e*"]),
            Err(Denied::Channel(1))
        );
        assert_eq!(
            run(&["+get", "allkeys"], &["set", "k", "v"]),
            Err(Denied::Command)
        );
        assert_eq!(run(&["+@all", "~*"], &["ping"]), Ok(()));
    }
}
