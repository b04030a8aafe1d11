//! The container's `/etc/passwd` and `/etc/group`, read inside its root: user and group
//! names for tar headers, and `Config.User` for `copyUIDGID`.

use std::collections::HashMap;
use std::os::fd::BorrowedFd;

use crate::{fsx, Error, Result};

/// Larger account files are not read (they are text of a few lines in any image).
const MAX_FILE: u64 = 4 << 20;

fn entries(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').collect())
        .collect()
}

fn read(root: BorrowedFd<'_>, path: &str) -> String {
    fsx::read_small_file(root, path, MAX_FILE)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// User and group names by ID (the first entry of each ID wins, as in `getpwuid`).
#[derive(Debug, Default)]
pub(crate) struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    pub(crate) fn read(root: BorrowedFd<'_>) -> Names {
        let index = |text: &str| {
            let mut m = HashMap::new();
            for f in entries(text) {
                if let (Some(name), Some(id)) = (f.first(), f.get(2).and_then(|i| i.parse().ok())) {
                    m.entry(id).or_insert_with(|| name.to_string());
                }
            }
            m
        };
        Names {
            users: index(&read(root, "etc/passwd")),
            groups: index(&read(root, "etc/group")),
        }
    }

    pub(crate) fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    pub(crate) fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

/// A numeric ID as Docker takes one (`strconv.ParseUint(s, 10, 32)`, at most MaxInt32).
fn numeric(s: &str) -> Option<u32> {
    s.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32)
}

/// The uid and gid of `Config.User` (`user`, `user:group`, `uid`, `uid:gid`, …) through
/// the root's `/etc/passwd` and `/etc/group`, with Docker's rules for `copyUIDGID`: a
/// name must exist; a uid missing from passwd keeps gid 0; an empty part is 0.
pub fn resolve_user(root: BorrowedFd<'_>, spec: &str) -> Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let (mut uid, mut gid) = (0, 0);
    if !user.is_empty() {
        let text = read(root, "etc/passwd");
        let passwd = entries(&text);
        let id = |f: &Vec<&str>, i: usize| f.get(i).and_then(|s| s.parse::<u32>().ok());
        match numeric(user) {
            Some(n) => {
                uid = n;
                gid = passwd
                    .iter()
                    .find(|f| id(f, 2) == Some(n))
                    .and_then(|f| id(f, 3))
                    .unwrap_or(0);
            }
            None => {
                let f = passwd.iter().find(|f| f.first() == Some(&user)).ok_or_else(|| {
                    Error::Invalid(format!(
                        "failed to look up user {user:?} in container: no matching entries in passwd file"
                    ))
                })?;
                uid = id(f, 2).unwrap_or(0);
                gid = id(f, 3).unwrap_or(0);
            }
        }
    }
    if !group.is_empty() {
        gid = match numeric(group) {
            Some(n) => n,
            None => {
                let text = read(root, "etc/group");
                entries(&text)
                    .iter()
                    .find(|f| f.first() == Some(&group))
                    .and_then(|f| f.get(2).and_then(|s| s.parse().ok()))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "failed to look up group {group:?} in container: no matching entries in group file"
                        ))
                    })?
            }
        };
    }
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn users_resolve_as_docker_does() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nwww:x:33:34::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let root = crate::Root::open(d.path()).unwrap();
        let r = |s: &str| resolve_user(root.fd(), s).map_err(|e| e.to_string());
        assert_eq!(r("nobody"), Ok((65534, 65534)));
        assert_eq!(r("33"), Ok((33, 34)));
        assert_eq!(r("1234"), Ok((1234, 0)));
        assert_eq!(r("www:staff"), Ok((33, 50)));
        assert_eq!(r("www:77"), Ok((33, 77)));
        assert_eq!(r(":50"), Ok((0, 50)));
        assert_eq!(
            r("ghost"),
            Err(
                "failed to look up user \"ghost\" in container: no matching entries in passwd file"
                    .into()
            )
        );
        assert!(r("www:ghosts").unwrap_err().contains("group \"ghosts\""));
        let n = Names::read(root.fd());
        assert_eq!(n.user(65534), Some("nobody"));
        assert_eq!(n.group(50), Some("staff"));
        assert_eq!(n.user(9), None);
        // A FIFO in place of /etc/passwd does not block (and resolves nothing).
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        rustix::fs::mknodat(
            root.fd().as_fd(),
            "etc/passwd",
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(r("nobody").is_err());
        assert_eq!(r("5"), Ok((5, 0)));
    }
}
