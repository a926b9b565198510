//! ACL command categories. A command's categories come from its spec
//! ([`crate::cmd::CommandSpec::acl_categories`]): its flags (`write`, `read`,
//! `admin` + `dangerous`, `pubsub`, `fast`/`slow`, `blocking`), its group
//! (`string`, `hash`, `keyspace`, ...) and explicit extras.

use crate::cmd::CommandEntry;

/// Every category, in Redis' ACL CAT order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Whether `name` (lower case, without `@`) is a category.
pub fn exists(name: &str) -> bool {
    CATEGORIES.contains(&name)
}

/// Whether the command (or subcommand) belongs to the category.
pub fn contains(entry: &CommandEntry, category: &str) -> bool {
    (entry.spec.handler.is_some() || !entry.subcommands.is_empty())
        && entry.spec.acl_categories().contains(&category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::CommandTable;

    #[test]
    fn categories_follow_the_command_flags() {
        let t = CommandTable::new();
        let e = |n: &str| t.get_full(n.as_bytes()).unwrap();
        assert!(contains(e("get"), "read") && contains(e("get"), "string"));
        assert!(contains(e("get"), "fast") && !contains(e("get"), "write"));
        assert!(contains(e("set"), "write") && contains(e("set"), "slow"));
        assert!(contains(e("hset"), "hash") && contains(e("sadd"), "set"));
        assert!(contains(e("zadd"), "sortedset") && contains(e("publish"), "pubsub"));
        assert!(contains(e("config|set"), "admin") && contains(e("config|set"), "dangerous"));
        assert!(contains(e("flushall"), "dangerous") && contains(e("del"), "keyspace"));
        assert!(contains(e("ping"), "connection") && contains(e("multi"), "transaction"));
        for e in t.all() {
            for c in e.spec.acl_categories() {
                assert!(exists(c), "{} has unknown category {c}", e.fullname);
            }
        }
    }
}
