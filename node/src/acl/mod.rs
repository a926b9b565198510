//! Users, passwords and permissions (Redis 6/7 ACLs), per region: ACLs are
//! not replicated; every region has its own users (see `node/README.md`).
//!
//! * [`user`]: one user, its rules (ACL SETUSER syntax) and its description.
//! * [`category`]: command categories, derived from the command table.
//! * [`keys`]: which arguments of a command are keys and channels.
//! * [`check`]: the permission check run before every command (in one place,
//!   `cmd::access`) and its error texts.
//! * [`log`]: ACL LOG.
//! * [`file`]: the aclfile (ACL SAVE / ACL LOAD / start-up).
//!
//! Passwords are kept only as SHA-256 digests. A user may have several, so a
//! password rotates without downtime: `>new`, move the clients, `<old`.

pub mod category;
pub mod check;
pub mod file;
pub mod keys;
pub mod log;
pub mod user;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex, MutexGuard, RwLock,
    },
};

use thiserror::Error;

pub use user::User;

use crate::cmd::CommandTable;

/// Errors of ACL rules, users and the aclfile. The texts are Redis'.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AclError {
    /// Unrecognised rule.
    #[error("Syntax error")]
    Syntax,
    /// `+name` / `+@name` names no command or category.
    #[error("Unknown command or category name in ACL")]
    UnknownCommand,
    /// `<pw` / `!hash` of a password the user does not have.
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    /// `#hash` that is not 64 lower-case hex digits.
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    /// `~pattern` after `~*` / allkeys.
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    AfterAllKeys,
    /// `&pattern` after `&*` / allchannels.
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    AfterAllChannels,
    /// `(...)` selectors.
    #[error("Selectors are not supported")]
    SelectorsUnsupported,
    /// A user name with spaces or control characters.
    #[error("Usernames can't contain spaces or null characters")]
    BadUsername,
    /// An aclfile problem, with its location.
    #[error("{path}:{line}: {message}")]
    File {
        /// The file.
        path: String,
        /// 1-based line number (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = String::with_capacity(64);
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether a user name is acceptable (printable, no spaces).
pub fn valid_username(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// A connection's identity: its user, and whether it has authenticated.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user (a snapshot; refreshed when the ACLs change).
    pub user: Arc<User>,
    /// False until AUTH/HELLO succeeds, when the default user needs a password.
    pub authenticated: bool,
    generation: u64,
}

/// The users of this region.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    generation: AtomicU64,
    log: Mutex<log::AclLog>,
}

impl Acl {
    /// Only the `default` user (nopass, every permission).
    pub fn new(table: &CommandTable) -> Acl {
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), Arc::new(User::default_user(table)));
        Acl {
            users: RwLock::new(users),
            generation: AtomicU64::new(0),
            log: Mutex::new(log::AclLog::default()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<User>>> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<User>>> {
        self.users.write().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Relaxed);
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.read().get(name).cloned()
    }

    /// The `default` user (always present).
    pub fn default_user(&self) -> Arc<User> {
        self.user("default")
            .expect("the default user is never removed")
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.read().values().cloned().collect()
    }

    /// ACL SETUSER: applies `rules` to the user (created if missing). All or
    /// nothing: on an error the user is unchanged; the error names the rule.
    pub fn set_user(
        &self,
        name: &[u8],
        rules: &[&[u8]],
        table: &CommandTable,
    ) -> Result<(), (usize, AclError)> {
        if !valid_username(name) {
            return Err((usize::MAX, AclError::BadUsername));
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let mut users = self.write();
        let mut u = match users.get(&name) {
            Some(u) => (**u).clone(),
            None => User::new(&name, table),
        };
        for (i, r) in rules.iter().enumerate() {
            u.apply(r, table).map_err(|e| (i, e))?;
        }
        users.insert(name, Arc::new(u));
        drop(users);
        self.changed();
        Ok(())
    }

    /// ACL DELUSER of one user; false if it did not exist. `default` must be
    /// refused by the caller.
    pub fn del_user(&self, name: &str) -> bool {
        let removed = self.write().remove(name).is_some();
        if removed {
            self.changed();
        }
        removed
    }

    /// Replaces every user (ACL LOAD); a `default` user is added if missing.
    pub fn replace_all(&self, mut users: BTreeMap<String, User>, table: &CommandTable) {
        users
            .entry("default".to_string())
            .or_insert_with(|| User::default_user(table));
        *self.write() = users.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        self.changed();
    }

    /// `requirepass`: an empty password makes the default user nopass, any
    /// other replaces its passwords.
    pub fn set_default_password(&self, password: &str, table: &CommandTable) {
        let mut rule = b">".to_vec();
        rule.extend_from_slice(password.as_bytes());
        let rules: Vec<&[u8]> = if password.is_empty() {
            vec![b"nopass"]
        } else {
            vec![b"resetpass", &rule]
        };
        // The rules are valid by construction.
        let _ = self.set_user(b"default", &rules, table);
    }

    /// The user `name` if it is on and `password` is one of its passwords.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let u = self.user(std::str::from_utf8(name).ok()?)?;
        (u.enabled && u.password_ok(password)).then_some(u)
    }

    /// The session of a new connection: the default user, authenticated when it
    /// needs no password (and is on).
    pub fn new_session(&self) -> Session {
        let user = self.default_user();
        Session {
            authenticated: user.nopass && user.enabled,
            user,
            generation: self.generation.load(Relaxed),
        }
    }

    /// A session of `user`, authenticated.
    pub fn session_of(&self, user: Arc<User>) -> Session {
        Session {
            user,
            authenticated: true,
            generation: self.generation.load(Relaxed),
        }
    }

    /// Brings a session's user snapshot up to date after ACL changes. A
    /// session whose user was deleted loses its authentication.
    pub fn refresh(&self, s: &mut Session) {
        let g = self.generation.load(Relaxed);
        if s.generation == g {
            return;
        }
        s.generation = g;
        match self.user(&s.user.name) {
            Some(u) => s.user = u,
            None => s.authenticated = false,
        }
    }

    /// The ACL LOG.
    pub fn log(&self) -> MutexGuard<'_, log::AclLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sessions_follow_changes() {
        let t = CommandTable::new();
        let acl = Acl::new(&t);
        assert!(acl.new_session().authenticated);
        acl.set_default_password("pw", &t);
        let mut s = acl.new_session();
        assert!(!s.authenticated);
        assert!(acl.authenticate(b"default", b"nope").is_none());
        let u = acl.authenticate(b"default", b"pw").unwrap();
        s = acl.session_of(u);
        acl.set_user(b"bob", &[b"on", b">x", b"+get"], &t).unwrap();
        assert!(acl.authenticate(b"bob", b"x").is_some());
        acl.set_user(b"bob", &[b"off"], &t).unwrap();
        assert!(acl.authenticate(b"bob", b"x").is_none());
        assert_eq!(
            acl.set_user(b"bob", &[b"on", b"+nosuch"], &t),
            Err((1, AclError::UnknownCommand))
        );
        assert!(
            !acl.user("bob").unwrap().enabled,
            "failed SETUSER changed nothing"
        );
        let mut bob = acl.session_of(acl.user("bob").unwrap());
        assert!(acl.del_user("bob"));
        acl.refresh(&mut bob);
        assert!(!bob.authenticated);
        acl.refresh(&mut s);
        assert!(s.authenticated);
        assert!(acl.set_user(b"a b", &[], &t).is_err());
    }
}
