//! One ACL user: its rules (ACL SETUSER syntax), its permissions and its
//! description (ACL LIST / GETUSER / the aclfile).
//!
//! Command permissions are a bitmap over the command table (subcommands
//! included) plus the rule list that produced it, kept for the description:
//! `+@all`/`-@all` reset the list, any other command rule replaces an earlier
//! rule naming the same command or category and is appended, so replaying the
//! description yields the same bitmap.

use std::fmt::Write as _;

use super::{category, sha256_hex, AclError};
use crate::cmd::{CommandEntry, CommandTable};

/// Length of a SHA-256 digest in hex.
const HASH_HEX_LEN: usize = 64;

/// A key pattern with its access (`~p` read+write, `%R~p`, `%W~p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    /// Glob pattern.
    pub pattern: Vec<u8>,
    /// Grants reading.
    pub read: bool,
    /// Grants writing.
    pub write: bool,
}

/// A user and its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Name.
    pub name: String,
    /// `on` / `off`.
    pub enabled: bool,
    /// Any password authenticates.
    pub nopass: bool,
    /// `sanitize-payload` / `skip-sanitize-payload` as last set (shown only;
    /// there is no payload sanitisation to turn on or off).
    pub payload_flag: Option<&'static str>,
    /// SHA-256 (lower-case hex) of each accepted password, in insertion order.
    pub passwords: Vec<String>,
    /// Base of the command rules: `+@all` (true) or `-@all`.
    all_commands: bool,
    /// Command rules after the base, normalised (`+get`, `-@dangerous`).
    rules: Vec<String>,
    /// Allowed command ids of the table.
    allowed: Vec<bool>,
    /// `~*` / allkeys.
    pub allkeys: bool,
    /// Key patterns (when not allkeys).
    pub keys: Vec<KeyPattern>,
    /// `&*` / allchannels.
    pub allchannels: bool,
    /// Channel patterns (when not allchannels).
    pub channels: Vec<Vec<u8>>,
}

impl User {
    /// A new user as Redis creates it: off, no password, no commands, no keys,
    /// no channels.
    pub fn new(name: &str, table: &CommandTable) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            payload_flag: None,
            passwords: Vec::new(),
            all_commands: false,
            rules: Vec::new(),
            allowed: vec![false; table.all().count()],
            allkeys: false,
            keys: Vec::new(),
            allchannels: false,
            channels: Vec::new(),
        }
    }

    /// The `default` user of a fresh server: on, nopass, every command, key and channel.
    pub fn default_user(table: &CommandTable) -> User {
        let mut u = User::new("default", table);
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            u.apply(rule.as_bytes(), table)
                .expect("the default user's rules are valid");
        }
        u
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, rule: &[u8], table: &CommandTable) -> Result<(), AclError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"allkeys" => self.set_allkeys(),
            b"resetkeys" => {
                self.allkeys = false;
                self.keys.clear();
            }
            b"allchannels" => self.set_allchannels(),
            b"resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
            }
            b"allcommands" => self.set_all_commands(true),
            b"nocommands" => self.set_all_commands(false),
            b"reset" => {
                for r in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    "-@all",
                    "off",
                    "sanitize-payload",
                ] {
                    self.apply(r.as_bytes(), table)?;
                }
            }
            b"sanitize-payload" => self.payload_flag = Some("sanitize-payload"),
            b"skip-sanitize-payload" => self.payload_flag = Some("skip-sanitize-payload"),
            _ => return self.apply_prefixed(rule, table),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8], table: &CommandTable) -> Result<(), AclError> {
        match rule.first() {
            Some(b'>') => {
                self.add_hash(sha256_hex(&rule[1..]));
                Ok(())
            }
            Some(b'<') => {
                let h = sha256_hex(&rule[1..]);
                self.remove_hash(&h)
            }
            Some(b'#') => {
                let h = valid_hash(&rule[1..])?;
                self.add_hash(h);
                Ok(())
            }
            Some(b'!') => {
                let h = valid_hash(&rule[1..])?;
                self.remove_hash(&h)
            }
            Some(b'~') => self.add_key_pattern(&rule[1..], true, true),
            Some(b'%') => {
                let tilde = rule
                    .iter()
                    .position(|&c| c == b'~')
                    .ok_or(AclError::Syntax)?;
                let (mut read, mut write) = (false, false);
                for &c in &rule[1..tilde] {
                    match c.to_ascii_uppercase() {
                        b'R' => read = true,
                        b'W' => write = true,
                        _ => return Err(AclError::Syntax),
                    }
                }
                if !read && !write {
                    return Err(AclError::Syntax);
                }
                self.add_key_pattern(&rule[tilde + 1..], read, write)
            }
            Some(b'&') => self.add_channel(&rule[1..]),
            Some(b'+') | Some(b'-') => self.apply_command_rule(rule, table),
            Some(b'(') => Err(AclError::SelectorsUnsupported),
            _ => Err(AclError::Syntax),
        }
    }

    fn add_hash(&mut self, h: String) {
        self.nopass = false;
        if !self.passwords.contains(&h) {
            self.passwords.push(h);
        }
    }

    fn remove_hash(&mut self, h: &str) -> Result<(), AclError> {
        let before = self.passwords.len();
        self.passwords.retain(|p| p != h);
        if self.passwords.len() == before {
            return Err(AclError::NoSuchPassword);
        }
        self.nopass = false;
        Ok(())
    }

    fn set_allkeys(&mut self) {
        self.allkeys = true;
        self.keys.clear();
    }

    fn add_key_pattern(&mut self, pattern: &[u8], read: bool, write: bool) -> Result<(), AclError> {
        if self.allkeys {
            return Err(AclError::AfterAllKeys);
        }
        if pattern == b"*" && read && write {
            self.set_allkeys();
            return Ok(());
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(k) => {
                k.read |= read;
                k.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        Ok(())
    }

    fn set_allchannels(&mut self) {
        self.allchannels = true;
        self.channels.clear();
    }

    fn add_channel(&mut self, pattern: &[u8]) -> Result<(), AclError> {
        if self.allchannels {
            return Err(AclError::AfterAllChannels);
        }
        if pattern == b"*" {
            self.set_allchannels();
        } else if !self.channels.iter().any(|c| c == pattern) {
            self.channels.push(pattern.to_vec());
        }
        Ok(())
    }

    fn set_all_commands(&mut self, on: bool) {
        self.all_commands = on;
        self.rules.clear();
        self.allowed.iter_mut().for_each(|a| *a = on);
    }

    fn apply_command_rule(&mut self, rule: &[u8], table: &CommandTable) -> Result<(), AclError> {
        let allow = rule[0] == b'+';
        let name = std::str::from_utf8(&rule[1..])
            .map_err(|_| AclError::UnknownCommand)?
            .to_ascii_lowercase();
        if name == "@all" {
            self.set_all_commands(allow);
            return Ok(());
        }
        if let Some(cat) = name.strip_prefix('@') {
            if !category::exists(cat) {
                return Err(AclError::UnknownCommand);
            }
            for e in table.all() {
                if category::contains(e, cat) {
                    self.allowed[e.id] = allow;
                }
            }
        } else {
            let entry = table
                .get_full(name.as_bytes())
                .filter(|e| e.spec.handler.is_some() || !e.subcommands.is_empty())
                .ok_or(AclError::UnknownCommand)?;
            self.allowed[entry.id] = allow;
            for &sub in &entry.subcommands {
                self.allowed[sub] = allow;
            }
        }
        let sign = if allow { '+' } else { '-' };
        self.rules.retain(|r| r[1..] != name);
        self.rules.push(format!("{sign}{name}"));
        Ok(())
    }

    /// Whether the user may run the command (or subcommand) `entry`.
    pub fn can_run(&self, entry: &CommandEntry) -> bool {
        self.allowed.get(entry.id).copied().unwrap_or(false)
    }

    /// Whether a password authenticates this user (which must also be on).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let h = sha256_hex(password);
        // Every stored hash is compared, equal-length strings byte by byte
        // without an early exit.
        self.passwords.iter().fold(false, |ok, p| {
            ok | constant_time_eq(p.as_bytes(), h.as_bytes())
        })
    }

    /// The command rules as ACL LIST shows them (`+@all -flushall`).
    pub fn command_rules(&self) -> String {
        let mut out = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for r in &self.rules {
            out.push(' ');
            out.push_str(r);
        }
        out
    }

    /// Key patterns as ACL LIST shows them (`~*`, `%R~ro:* ~rw:*`, or empty).
    pub fn key_rules(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let v: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let prefix = match (k.read, k.write) {
                    (true, true) => "~",
                    (true, false) => "%R~",
                    _ => "%W~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(&k.pattern))
            })
            .collect();
        v.join(" ")
    }

    /// Channel patterns as ACL GETUSER shows them (`&*`, `&news:*`, or empty).
    pub fn channel_rules(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        let v: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        v.join(" ")
    }

    /// The ACL LIST line (also the aclfile line): replaying its rules on a new
    /// user gives this user back.
    pub fn describe(&self) -> String {
        let mut out = format!("user {} ", self.name);
        out.push_str(if self.enabled { "on" } else { "off" });
        if self.nopass {
            out.push_str(" nopass");
        }
        if let Some(f) = self.payload_flag {
            let _ = write!(out, " {f}");
        }
        for p in &self.passwords {
            let _ = write!(out, " #{p}");
        }
        let keys = self.key_rules();
        if !keys.is_empty() {
            let _ = write!(out, " {keys}");
        }
        if !self.allchannels {
            out.push_str(" resetchannels");
        }
        let channels = self.channel_rules();
        if !channels.is_empty() {
            let _ = write!(out, " {channels}");
        }
        let _ = write!(out, " {}", self.command_rules());
        out
    }
}

fn valid_hash(h: &[u8]) -> Result<String, AclError> {
    if h.len() != HASH_HEX_LEN || !h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(AclError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> Result<User, AclError> {
        let t = CommandTable::new();
        let mut u = User::new("alice", &t);
        for r in rules {
            u.apply(r.as_bytes(), &t)?;
        }
        Ok(u)
    }

    #[test]
    fn default_user_description() {
        let t = CommandTable::new();
        assert_eq!(
            User::default_user(&t).describe(),
            "user default on nopass ~* &* +@all"
        );
        assert_eq!(
            user(&[]).unwrap().describe(),
            "user alice off resetchannels -@all"
        );
    }

    #[test]
    fn passwords_rotate() {
        let mut u = user(&["on", ">one", ">two"]).unwrap();
        assert!(u.password_ok(b"one") && u.password_ok(b"two"));
        assert!(!u.password_ok(b"three"));
        let t = CommandTable::new();
        u.apply(b"<one", &t).unwrap();
        assert!(!u.password_ok(b"one") && u.password_ok(b"two"));
        assert_eq!(u.apply(b"<one", &t), Err(AclError::NoSuchPassword));
        let h = sha256_hex(b"two");
        assert_eq!(u.passwords, vec![h.clone()]);
        u.apply(format!("!{h}").as_bytes(), &t).unwrap();
        assert!(!u.password_ok(b"two"));
        assert_eq!(u.apply(b"#abc", &t), Err(AclError::BadHash));
        u.apply(b"nopass", &t).unwrap();
        assert!(u.password_ok(b"anything"));
        u.apply(b"resetpass", &t).unwrap();
        assert!(!u.password_ok(b"anything"));
    }

    #[test]
    fn command_rules_replay_to_the_same_permissions() {
        let t = CommandTable::new();
        let u = user(&[
            "+@read",
            "-@dangerous",
            "+set",
            "-get",
            "+config|get",
            "+GET",
        ])
        .unwrap();
        assert_eq!(
            u.command_rules(),
            "-@all +@read -@dangerous +set +config|get +get"
        );
        let can = |u: &User, c: &str| u.can_run(t.get_full(c.as_bytes()).unwrap());
        assert!(can(&u, "get") && can(&u, "set") && can(&u, "config|get"));
        assert!(!can(&u, "config|set") && !can(&u, "keys") && !can(&u, "del"));
        let mut again = User::new("alice", &t);
        for r in u.describe().split(' ').skip(2) {
            again.apply(r.as_bytes(), &t).unwrap();
        }
        assert_eq!(again, u);
        let u = user(&["+@all", "-config", "+config|get"]).unwrap();
        assert!(can(&u, "config|get") && !can(&u, "config|set") && can(&u, "flushall"));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert_eq!(user(&["+nosuch"]), Err(AclError::UnknownCommand));
        assert_eq!(user(&["+@nosuch"]), Err(AclError::UnknownCommand));
        assert_eq!(user(&["foo"]), Err(AclError::Syntax));
        assert_eq!(user(&["%X~a"]), Err(AclError::Syntax));
        assert_eq!(user(&["%R"]), Err(AclError::Syntax));
        assert_eq!(user(&["allkeys", "~a"]), Err(AclError::AfterAllKeys));
        assert_eq!(user(&["&*", "&a"]), Err(AclError::AfterAllChannels));
        assert_eq!(user(&["(~a +get)"]), Err(AclError::SelectorsUnsupported));
    }

    #[test]
    fn key_and_channel_patterns() {
        let u = user(&["~cache:*", "%R~ro:*", "%W~w:*", "%RW~x", "&news*"]).unwrap();
        assert_eq!(u.key_rules(), "~cache:* %R~ro:* %W~w:* ~x");
        assert_eq!(u.channel_rules(), "&news*");
        let u = user(&["~a", "resetkeys", "allkeys", "allchannels"]).unwrap();
        assert_eq!((u.key_rules().as_str(), u.allchannels), ("~*", true));
        let u = user(&["~a", "reset"]).unwrap();
        assert_eq!(
            u.describe(),
            "user alice off sanitize-payload resetchannels -@all"
        );
    }
}
