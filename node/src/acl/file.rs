//! The aclfile: one `user <name> <rules...>` line per user (the ACL LIST
//! format). ACL LOAD and start-up parse the whole file before replacing any
//! user, so a bad file leaves the current users in place; ACL SAVE writes a
//! temporary file next to it, syncs it and renames it over the old one.

use std::{collections::BTreeMap, io::Write as _, path::Path};

use super::{valid_username, AclError, User};
use crate::cmd::CommandTable;

/// Largest aclfile read (a bound on memory, far above any real file).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn file_error(path: &Path, line: usize, message: impl Into<String>) -> AclError {
    AclError::File {
        path: path.display().to_string(),
        line,
        message: message.into(),
    }
}

/// Parses aclfile text. Empty lines are skipped.
pub fn parse(
    path: &Path,
    text: &str,
    table: &CommandTable,
) -> Result<BTreeMap<String, User>, AclError> {
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        if first != "user" {
            return Err(file_error(path, line_no, "should start with user keyword"));
        }
        let name = words
            .next()
            .ok_or_else(|| file_error(path, line_no, "user name is missing"))?;
        if !valid_username(name.as_bytes()) {
            return Err(file_error(path, line_no, AclError::BadUsername.to_string()));
        }
        if users.contains_key(name) {
            return Err(file_error(
                path,
                line_no,
                format!("Duplicate user '{name}' found"),
            ));
        }
        let mut u = User::new(name, table);
        for rule in words {
            u.apply(rule.as_bytes(), table).map_err(|e| {
                file_error(
                    path,
                    line_no,
                    format!("Error in user declaration '{rule}': {e}"),
                )
            })?;
        }
        users.insert(name.to_string(), u);
    }
    Ok(users)
}

/// Reads and parses an aclfile.
pub fn load(path: &Path, table: &CommandTable) -> Result<BTreeMap<String, User>, AclError> {
    let io = |e: std::io::Error| file_error(path, 0, e.to_string());
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_error(path, 0, "file too large"));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse(path, &text, table)
}

/// The file text for these users.
pub fn render<'a>(users: impl IntoIterator<Item = &'a User>) -> String {
    let mut out = String::new();
    for u in users {
        out.push_str(&u.describe());
        out.push('\n');
    }
    out
}

/// Writes `text` to `path` atomically (temporary file, fsync, rename).
pub fn save(path: &Path, text: &str) -> Result<(), AclError> {
    let io = |e: std::io::Error| file_error(path, 0, e.to_string());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let t = CommandTable::new();
        let p = Path::new("users.acl");
        let text = "user default on nopass ~* &* +@all\n\nuser alice on #e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ~a:* resetchannels -@all +get\n";
        let users = parse(p, text, &t).unwrap();
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        lines.sort();
        assert_eq!(render(users.values()), lines.join("\n") + "\n");
        let e = parse(p, "user a on\nuser b +nosuch\n", &t).unwrap_err();
        assert_eq!(
            e.to_string(),
            "users.acl:2: Error in user declaration '+nosuch': Unknown command or category name in ACL"
        );
        assert!(parse(p, "bogus a\n", &t).is_err());
        assert!(parse(p, "user a\nuser a\n", &t).is_err());
        assert!(parse(p, "user\n", &t).is_err());
    }

    #[test]
    fn save_is_atomic_and_loadable() {
        let dir = std::env::temp_dir().join(format!("meridian-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.acl");
        let t = CommandTable::new();
        save(&path, "user x on nopass -@all\n").unwrap();
        let users = load(&path, &t).unwrap();
        assert_eq!(
            users["x"].describe(),
            "user x on nopass resetchannels -@all"
        );
        assert!(load(&dir.join("missing.acl"), &t).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
