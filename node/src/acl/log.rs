//! ACL LOG: the most recent denials (commands, keys, channels, failed AUTH),
//! newest first, bounded by `acllog-max-len`. A denial equal to a recent one
//! (same reason, context, object and user, within a minute) counts on that
//! entry instead of adding one, as in Redis.

use std::{collections::VecDeque, time::Instant};

use crate::resp::Reply;

/// Entries that repeat within this time are grouped.
const GROUPING_MS: u128 = 60_000;

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The command is not allowed.
    Command,
    /// A key is not allowed.
    Key,
    /// A channel is not allowed.
    Channel,
    /// Wrong password or disabled user.
    Auth,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Queued in MULTI or re-checked at EXEC.
    Multi,
    /// Called from a script (`redis.call`).
    Lua,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One denial to record.
#[derive(Debug, Clone)]
pub struct Denial {
    /// Why.
    pub reason: Reason,
    /// Where.
    pub context: Context,
    /// The command name, key, channel, or `AUTH`.
    pub object: String,
    /// The user (for AUTH: the user name tried).
    pub username: String,
    /// The client's CLIENT LIST line.
    pub client_info: String,
}

#[derive(Debug)]
struct Entry {
    denial: Denial,
    count: u64,
    id: u64,
    created: Instant,
    created_ms: u64,
    updated_ms: u64,
    updated: Instant,
}

/// The log.
#[derive(Debug, Default)]
pub struct AclLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl AclLog {
    /// Records a denial, keeping at most `max_len` entries.
    pub fn add(&mut self, d: Denial, max_len: usize) {
        let now = Instant::now();
        let same = self.entries.iter().position(|e| {
            e.denial.reason == d.reason
                && e.denial.context == d.context
                && e.denial.object == d.object
                && e.denial.username == d.username
                && now.duration_since(e.updated).as_millis() < GROUPING_MS
        });
        if let Some(i) = same {
            if let Some(mut e) = self.entries.remove(i) {
                e.count += 1;
                e.updated = now;
                e.updated_ms = wall_ms();
                e.denial.client_info = d.client_info;
                self.entries.push_front(e);
            }
        } else {
            let ms = wall_ms();
            self.entries.push_front(Entry {
                denial: d,
                count: 1,
                id: self.next_id,
                created: now,
                created_ms: ms,
                updated_ms: ms,
                updated: now,
            });
            self.next_id += 1;
        }
        self.entries.truncate(max_len);
    }

    /// ACL LOG RESET.
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The newest `count` entries, in ACL LOG's (Redis 7.2) shape.
    pub fn reply(&self, count: usize) -> Reply {
        let s = Reply::bulk_str;
        let rows = self
            .entries
            .iter()
            .take(count)
            .map(|e| {
                let d = &e.denial;
                Reply::Map(vec![
                    (s("count"), Reply::Integer(e.count as i64)),
                    (s("reason"), s(d.reason.as_str())),
                    (s("context"), s(d.context.as_str())),
                    (s("object"), s(&d.object)),
                    (s("username"), s(&d.username)),
                    (
                        s("age-seconds"),
                        Reply::Double(e.created.elapsed().as_secs_f64()),
                    ),
                    (s("client-info"), s(&d.client_info)),
                    (s("entry-id"), Reply::Integer(e.id as i64)),
                    (s("timestamp-created"), Reply::Integer(e.created_ms as i64)),
                    (
                        s("timestamp-last-updated"),
                        Reply::Integer(e.updated_ms as i64),
                    ),
                ])
            })
            .collect();
        Reply::Array(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(object: &str) -> Denial {
        Denial {
            reason: Reason::Command,
            context: Context::Toplevel,
            object: object.into(),
            username: "u".into(),
            client_info: String::new(),
        }
    }

    #[test]
    fn groups_repeats_and_stays_bounded() {
        let mut log = AclLog::default();
        log.add(denial("get"), 3);
        log.add(denial("get"), 3);
        assert_eq!(log.len(), 1);
        for o in ["a", "b", "c", "d"] {
            log.add(denial(o), 3);
        }
        assert_eq!(log.len(), 3);
        let Reply::Array(rows) = log.reply(10) else {
            panic!()
        };
        let Reply::Map(first) = &rows[0] else {
            panic!()
        };
        assert_eq!(first[3].1, Reply::bulk_str("d"));
        log.reset();
        assert!(log.is_empty());
    }
}
