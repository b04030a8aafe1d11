//! Docker's `PathStat` (`X-Docker-Container-Path-Stat`, base64 of its JSON).

use rustix::fs::{FileType, Stat};
use serde::{Deserialize, Serialize};

/// Go's `os.ModeDir`.
pub const GO_MODE_DIR: u32 = 1 << 31;
/// Go's `os.ModeSymlink`.
pub const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_DEVICE: u32 = 1 << 26;
const GO_MODE_NAMED_PIPE: u32 = 1 << 25;
const GO_MODE_SOCKET: u32 = 1 << 24;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_CHAR_DEVICE: u32 = 1 << 21;
const GO_MODE_STICKY: u32 = 1 << 20;

/// A `st_mode` in Go's `os.FileMode` encoding (what `PathStat.mode` carries): the
/// permission bits, with the type and the setuid/setgid/sticky bits as high flags.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    if st_mode & 0o4000 != 0 {
        m |= GO_MODE_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= GO_MODE_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= GO_MODE_STICKY;
    }
    m | match FileType::from_raw_mode(st_mode) {
        FileType::Directory => GO_MODE_DIR,
        FileType::Symlink => GO_MODE_SYMLINK,
        FileType::BlockDevice => GO_MODE_DEVICE,
        FileType::CharacterDevice => GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
        FileType::Fifo => GO_MODE_NAMED_PIPE,
        FileType::Socket => GO_MODE_SOCKET,
        _ => 0,
    }
}

/// `container.PathStat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339 with nanoseconds, as Go marshals a `time.Time`.
    pub mtime: String,
    /// For a symlink: its target with every symlink followed, as an absolute path in the
    /// root (as far as it resolves). Empty otherwise.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    pub(crate) fn new(name: String, st: &Stat, link_target: String) -> PathStat {
        PathStat {
            name,
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime: rfc3339(st.st_mtime, st.st_mtime_nsec as u32),
            link_target,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }
}

fn rfc3339(sec: i64, nsec: u32) -> String {
    chrono::DateTime::from_timestamp(sec, nsec)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_go() {
        assert_eq!(go_file_mode(0o040755), GO_MODE_DIR | 0o755);
        assert_eq!(go_file_mode(0o120777), GO_MODE_SYMLINK | 0o777);
        assert_eq!(go_file_mode(0o104755), GO_MODE_SETUID | 0o755);
        assert_eq!(go_file_mode(0o041777), GO_MODE_DIR | GO_MODE_STICKY | 0o777);
        assert_eq!(
            go_file_mode(0o020666),
            GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE | 0o666
        );
        assert_eq!(go_file_mode(0o010644), GO_MODE_NAMED_PIPE | 0o644);
        assert_eq!(go_file_mode(0o100640), 0o640);
        assert_eq!(rfc3339(1_704_067_200, 0), "2024-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_704_067_200, 5_000_000),
            "2024-01-01T00:00:00.005Z"
        );
    }
}
