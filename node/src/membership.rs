//! Stored membership: peer regions added and removed at run time (admin API), kept in
//! `<data-dir>/membership-region-<id>` so that the changes survive a restart. The file
//! is written whole (temporary file, fsync, rename) after every change, with or without
//! persistence; at start-up it is applied on top of the configured `peers`.
//!
//! Format (text, versioned by its first line):
//!
//! ```text
//! meridian-membership 1
//! peer <id> <host:port or ->
//! removed <id> <host:port or -> <cutoff>
//! ```
//!
//! `peer` lines list every current peer with its address (`-`: it dials us); `removed`
//! lines list removed regions with the address remembered for a later re-add (`-` once
//! purged) and the cutoff beyond which their ops are refused.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crdt::RegionId;
use thiserror::Error;

const HEADER: &str = "meridian-membership 1";

/// Why the stored membership could not be read or written.
#[derive(Debug, Error)]
pub enum MembershipError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not in the format above.
    #[error("{path}: line {line}: {why}")]
    Format {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// The membership of one region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Current peers and their addresses (`None`: the peer dials us).
    pub peers: BTreeMap<RegionId, Option<String>>,
    /// Removed regions: the address remembered for a re-add, and the cutoff.
    pub removed: BTreeMap<RegionId, (Option<String>, u64)>,
}

/// The membership file of region `region` in `data_dir`.
pub fn path(data_dir: &Path, region: RegionId) -> PathBuf {
    data_dir.join(format!("membership-region-{region}"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MembershipError + '_ {
    move |source| MembershipError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Membership {
    /// Reads the stored membership; `None` when no change was ever stored.
    pub fn load(path: &Path) -> Result<Option<Membership>, MembershipError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        Membership::parse(&text)
            .map(Some)
            .map_err(|(line, why)| MembershipError::Format {
                path: path.display().to_string(),
                line,
                why,
            })
    }

    fn parse(text: &str) -> Result<Membership, (usize, String)> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.trim() == HEADER => {}
            _ => return Err((1, format!("expected \"{HEADER}\""))),
        }
        let mut m = Membership::default();
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let (id, addr, cutoff) = match parts[..] {
                ["peer", id, addr] => (id, addr, None),
                ["removed", id, addr, cutoff] => (id, addr, Some(cutoff)),
                [kind, ..] if kind != "peer" && kind != "removed" => {
                    return Err((i + 1, format!("unknown entry {kind:?}")))
                }
                _ => {
                    return Err((
                        i + 1,
                        "expected: peer <id> <address|-> or removed <id> <address|-> <cutoff>"
                            .into(),
                    ))
                }
            };
            let id: RegionId = id
                .parse()
                .ok()
                .filter(|&r| r != 0)
                .ok_or((i + 1, format!("bad region id {id:?}")))?;
            let addr = (addr != "-").then(|| addr.to_string());
            let dup = m.peers.contains_key(&id) || m.removed.contains_key(&id);
            if dup {
                return Err((i + 1, format!("region {id} listed twice")));
            }
            match cutoff {
                None => {
                    m.peers.insert(id, addr);
                }
                Some(c) => {
                    let c: u64 = c
                        .parse()
                        .map_err(|_| (i + 1, format!("bad cutoff {c:?}")))?;
                    m.removed.insert(id, (addr, c));
                }
            }
        }
        Ok(m)
    }

    fn render(&self) -> String {
        let mut out = format!("{HEADER}\n");
        let a = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        for (id, addr) in &self.peers {
            out.push_str(&format!("peer {id} {}\n", a(addr)));
        }
        for (id, (addr, cutoff)) in &self.removed {
            out.push_str(&format!("removed {id} {} {cutoff}\n", a(addr)));
        }
        out
    }

    /// Writes the membership whole: temporary file, fsync, rename, fsync of the dir.
    pub fn save(&self, path: &Path) -> Result<(), MembershipError> {
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(self.render().as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, path).map_err(io(path))?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_input() {
        let mut m = Membership::default();
        m.peers.insert(2, Some("127.0.0.1:17002".into()));
        m.peers.insert(4, None);
        m.removed.insert(3, (Some("127.0.0.1:17003".into()), 42));
        assert_eq!(Membership::parse(&m.render()).unwrap(), m);
        assert!(Membership::parse("meridian-membership 2\n").is_err());
        assert!(Membership::parse("meridian-membership 1\npeer 0 -\n").is_err());
        assert!(Membership::parse("meridian-membership 1\npeer 2 -\nremoved 2 - 1\n").is_err());
        assert!(Membership::parse("meridian-membership 1\nremoved 2 -\n").is_err());
        assert!(Membership::parse("meridian-membership 1\nremoved 2 - x\n").is_err());
        assert!(Membership::parse("meridian-membership 1\nfoo 2 -\n").is_err());
        assert!(Membership::parse("meridian-membership 1\npeer 2\n").is_err());
        let dir = std::env::temp_dir().join(format!("meridian-membership-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = path(&dir, 1);
        assert_eq!(Membership::load(&p).unwrap(), None);
        m.save(&p).unwrap();
        assert_eq!(Membership::load(&p).unwrap(), Some(m));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
