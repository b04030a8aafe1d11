//! `--userns-remap`, Docker's user-namespace remapping: every container that does not
//! ask for `--userns=host` runs as root of its own user namespace, which maps container
//! IDs onto a subordinate range of one host user (`/etc/subuid`, `/etc/subgid`).
//!
//! Unlike Docker, images are not copied and chowned per mapping: the image layers are
//! mounted ID-mapped under the container's overlay (see `Containers::mount_rootfs`), so
//! remapped and plain containers share one image store.

use std::io::{BufRead, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Docker's name for the user `--userns-remap=default` creates and uses.
const DEFAULT_USER: &str = "dockremap";
/// The size of the range given to that user when it has none (Docker's).
const DEFAULT_RANGE: u32 = 65536;

/// One line of a uid_map/gid_map: `size` IDs from `container` inside are `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The ID maps of a remapped container (kept in its record, so a container keeps the
/// mapping its files were written with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMaps {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl IdMaps {
    /// The host uid and gid of the container's root.
    pub fn root(&self) -> (u32, u32) {
        let host_of = |ranges: &[IdRange]| {
            ranges
                .iter()
                .find(|r| r.container == 0)
                .map_or(0, |r| r.host)
        };
        (host_of(&self.uids), host_of(&self.gids))
    }

    /// The runtime spec's `uidMappings` / `gidMappings`.
    pub fn spec_mappings(ranges: &[IdRange]) -> Value {
        Value::Array(
            ranges
                .iter()
                .map(|r| json!({"containerID": r.container, "hostID": r.host, "size": r.size}))
                .collect(),
        )
    }
}

/// The daemon's remapping: its maps and a user namespace with exactly those maps, which
/// ID-mapped mounts of image layers refer to.
pub struct Remap {
    pub maps: IdMaps,
    userns: OwnedFd,
}

impl std::fmt::Debug for Remap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remap").field("maps", &self.maps).finish()
    }
}

impl Remap {
    /// Resolves a `--userns-remap` value (`default`, `USER[:GROUP]`, `UID[:GID]`) and
    /// makes the namespace, with `holder` (`berth-runc`) as the process that enters it.
    pub fn new(setting: &str, holder: &Path) -> anyhow::Result<Remap> {
        let maps = resolve(setting, Path::new("/etc"))?;
        let userns = hold_user_namespace(holder, &maps)
            .with_context(|| format!("making a user namespace for --userns-remap={setting}"))?;
        Ok(Remap { maps, userns })
    }

    pub fn userns(&self) -> BorrowedFd<'_> {
        self.userns.as_fd()
    }
}

/// The ranges of `user` (and `group`) in `etc`/subuid and subgid. `default` is Docker's
/// `dockremap` user, created (with a free range) when missing.
pub fn resolve(setting: &str, etc: &Path) -> anyhow::Result<IdMaps> {
    let (user, group) = match setting.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (setting.to_string(), None),
    };
    if user.is_empty() {
        bail!("invalid --userns-remap {setting:?}: a user is required");
    }
    if user == "default" {
        if etc == Path::new("/etc") {
            ensure_default_user()?;
        }
        return Ok(IdMaps {
            uids: ranges(&etc.join("subuid"), DEFAULT_USER, None)?,
            gids: ranges(&etc.join("subgid"), DEFAULT_USER, None)?,
        });
    }
    // A name is looked up for its ID and an ID for its name: subuid files may use either.
    let (user_name, uid) = match user.parse::<u32>() {
        Ok(uid) => (
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map(|u| u.name),
            Some(uid),
        ),
        Err(_) => {
            let u = nix::unistd::User::from_name(&user)
                .ok()
                .flatten()
                .ok_or_else(|| anyhow::anyhow!("user {user:?} not found"))?;
            (Some(user.clone()), Some(u.uid.as_raw()))
        }
    };
    let group = group.or_else(|| user_name.clone()).unwrap_or(user.clone());
    let (group_name, gid) = match group.parse::<u32>() {
        Ok(gid) => (
            nix::unistd::Group::from_gid(gid.into())
                .ok()
                .flatten()
                .map(|g| g.name),
            Some(gid),
        ),
        Err(_) => {
            let g = nix::unistd::Group::from_name(&group)
                .ok()
                .flatten()
                .ok_or_else(|| anyhow::anyhow!("group {group:?} not found"))?;
            (Some(group.clone()), Some(g.gid.as_raw()))
        }
    };
    Ok(IdMaps {
        uids: ranges(
            &etc.join("subuid"),
            user_name.as_deref().unwrap_or(&user),
            uid,
        )?,
        gids: ranges(
            &etc.join("subgid"),
            group_name.as_deref().unwrap_or(&group),
            gid,
        )?,
    })
}

/// Every range of `name` (or of the numeric `id`) in a subuid/subgid file, laid end to
/// end from container ID 0.
fn ranges(file: &Path, name: &str, id: Option<u32>) -> anyhow::Result<Vec<IdRange>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let id = id.map(|i| i.to_string());
    let mut out = Vec::new();
    let mut next = 0u32;
    for line in text.lines().map(str::trim) {
        let mut f = line.split(':');
        let (Some(who), Some(start), Some(count)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if who != name && Some(who) != id.as_deref() {
            continue;
        }
        let (Ok(start), Ok(count)) = (start.parse::<u32>(), count.parse::<u32>()) else {
            bail!("invalid line in {}: {line:?}", file.display());
        };
        if count == 0 {
            continue;
        }
        out.push(IdRange {
            container: next,
            host: start,
            size: count,
        });
        next = next
            .checked_add(count)
            .ok_or_else(|| anyhow::anyhow!("{}: ranges of {name} overflow", file.display()))?;
    }
    if out.is_empty() {
        let kind = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("subuid");
        bail!("no {kind} ranges found for {name:?} in {}", file.display());
    }
    Ok(out)
}

/// Docker creates `dockremap` (a system user) and gives it a free 65536-ID range in
/// both subordinate ID files when it has none.
fn ensure_default_user() -> anyhow::Result<()> {
    if nix::unistd::User::from_name(DEFAULT_USER)
        .ok()
        .flatten()
        .is_none()
    {
        let out = Command::new("useradd")
            .args(["--system", "--shell", "/bin/false", DEFAULT_USER])
            .output()
            .context("running useradd to create the dockremap user")?;
        if !out.status.success() {
            bail!(
                "creating the dockremap user: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let path = Path::new(file);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.split(':').next() == Some(DEFAULT_USER))
        {
            continue;
        }
        // The first ID above every existing range, and at least 100000 (login.defs' default).
        let start = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':').skip(1);
                let start = f.next()?.parse::<u64>().ok()?;
                let count = f.next()?.parse::<u64>().ok()?;
                Some(start + count)
            })
            .max()
            .unwrap_or(0)
            .max(100_000);
        if start + u64::from(DEFAULT_RANGE) > u64::from(u32::MAX) {
            bail!("no free range left in {file} for {DEFAULT_USER}");
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {file}"))?;
        writeln!(f, "{DEFAULT_USER}:{start}:{DEFAULT_RANGE}")
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {file}"))?;
    }
    Ok(())
}

/// Starts `holder userns-hold`, which enters a new user namespace; writes the maps to it
/// from here and keeps a descriptor of the namespace, which outlives the holder.
fn hold_user_namespace(holder: &Path, maps: &IdMaps) -> anyhow::Result<OwnedFd> {
    let mut child = Command::new(holder)
        .arg("userns-hold")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", holder.display()))?;
    let result = (|| {
        let mut line = String::new();
        let stdout = child.stdout.take().context("holder stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("the user namespace holder did not start");
        }
        let pid = child.id();
        let lines = |ranges: &[IdRange]| -> String {
            ranges
                .iter()
                .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
                .collect()
        };
        std::fs::write(format!("/proc/{pid}/uid_map"), lines(&maps.uids))
            .context("writing uid_map")?;
        std::fs::write(format!("/proc/{pid}/gid_map"), lines(&maps.gids))
            .context("writing gid_map")?;
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/user"))?;
        Ok(OwnedFd::from(ns))
    })();
    drop(child.stdin.take());
    let status = child.wait();
    match (result, status) {
        (Ok(fd), _) => Ok(fd),
        (Err(e), _) => {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            Err(e.context(err.trim().to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_laid_end_to_end_by_name_or_id() {
        let etc = tempfile::tempdir().unwrap();
        std::fs::write(
            etc.path().join("subuid"),
            "other:1:5\nroot:200000:1000\n0:300000:65536\nbad line\n",
        )
        .unwrap();
        std::fs::write(etc.path().join("subgid"), "root:400000:65536\n").unwrap();
        let m = resolve("root", etc.path()).unwrap();
        assert_eq!(
            m.uids,
            vec![
                IdRange {
                    container: 0,
                    host: 200000,
                    size: 1000
                },
                IdRange {
                    container: 1000,
                    host: 300000,
                    size: 65536
                }
            ]
        );
        assert_eq!(m.root(), (200000, 400000));
        // By numeric ID, with an explicit group.
        assert_eq!(resolve("0:root", etc.path()).unwrap(), m);
        let e = resolve("root:nosuchgroup-berth", etc.path()).unwrap_err();
        assert!(e.to_string().contains("not found"), "{e}");
        std::fs::write(etc.path().join("subgid"), "other:1:5\n").unwrap();
        let e = resolve("root", etc.path()).unwrap_err();
        assert!(e.to_string().contains("no subgid ranges found"), "{e}");
    }
}
