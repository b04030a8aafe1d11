//! The one write path for everything berth keeps on disk.
//!
//! Every record is written to a temporary file in the same directory, fsynced, renamed
//! over the old name and the directory fsynced, so a `kill -9` or power loss at any
//! instant leaves either the old or the new content, never a torn file. Directories that
//! take several steps to build are built under a `tmp-*` name and renamed into place;
//! startup removes any `tmp-*` left by a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Prefix of every temporary name; `sweep_temporaries` removes them at startup.
pub const TEMP_PREFIX: &str = "tmp-";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("corrupt record {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Locked(String),
}

impl StoreError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A random name usable for temporary files and ids.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the kernel's random source is available");
    hex::encode(buf)
}

/// A fresh `tmp-<random>` path inside `dir`.
pub fn temp_path(dir: &Path, hint: &str) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{hint}-{}", random_hex(8)))
}

pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| StoreError::io("open", dir, e))?;
    f.sync_all().map_err(|e| StoreError::io("fsync", dir, e))
}

/// Creates `dir` and its parents, fsyncing each new directory's parent so the
/// creation itself is durable.
pub fn create_dir_all_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(StoreError::io("mkdir", dir, e)),
    }
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Atomically replaces `path` with `data` (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    replace(path, data, mode, true)
}

/// [`write_atomic`] without the fsyncs, for files under the exec root: runtime state
/// that must survive a crash of the daemon (the page cache does) but not of the machine
/// (the exec root is a tmpfs that a reboot empties anyway). Readers still see a whole
/// file or the old one.
pub fn write_atomic_volatile(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    replace(path, data, mode, false)
}

fn replace(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    let dir = path.parent().expect("record paths have a parent directory");
    let tmp = temp_path(dir, "write");
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| StoreError::io("create", &tmp, e))?;
        f.write_all(data)
            .map_err(|e| StoreError::io("write", &tmp, e))?;
        if durable {
            f.sync_all().map_err(|e| StoreError::io("fsync", &tmp, e))?;
        }
        fs::rename(&tmp, path).map_err(|e| StoreError::io("rename", path, e))?;
        if durable {
            fsync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Serialises `value` as JSON and writes it with [`write_atomic`].
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).expect("records always serialise");
    write_atomic(path, &data, 0o600)
}

/// Serialises `value` as JSON and writes it with [`write_atomic_volatile`].
pub fn write_json_volatile<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec(value).expect("records always serialise");
    write_atomic_volatile(path, &data, 0o600)
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
    serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes a file durably; a missing file is not an error (removal is idempotent).
pub fn remove_file_durable(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("remove", path, e)),
    }
    fsync_dir(path.parent().expect("record paths have a parent directory"))
}

/// Removes a directory tree so that a crash half-way leaves only a `tmp-*` name behind:
/// rename first (atomic), then delete at leisure.
pub fn remove_dir_durable(path: &Path) -> Result<()> {
    let dir = path.parent().expect("directories to remove have a parent");
    let tmp = temp_path(dir, "del");
    match fs::rename(path, &tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("rename", path, e)),
    }
    fsync_dir(dir)?;
    fs::remove_dir_all(&tmp).map_err(|e| StoreError::io("remove", &tmp, e))
}

/// Removes every `tmp-*` entry of `dir`: the remains of operations a crash interrupted.
pub fn sweep_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io("readdir", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("readdir", dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let p = entry.path();
        let r = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.map_err(|e| StoreError::io("remove", &p, e))?;
        removed += 1;
    }
    Ok(removed)
}

/// An exclusive lock on a root directory, held for the life of the process. The kernel
/// releases it when the process dies, even by `kill -9`, so a stale lock never blocks a
/// restart.
pub struct RootLock {
    _file: File,
    path: PathBuf,
}

impl RootLock {
    pub fn acquire(root: &Path, what: &str) -> Result<RootLock> {
        let path = root.join("berthd.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("open", &path, e))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(StoreError::Locked(format!(
                    "{what} {} is in use by another berthd{who}; each daemon needs its own {what}",
                    root.display()
                )));
            }
            Err(e) => return Err(StoreError::io("lock", &path, e.into())),
        }
        // Informational only: the flock is the real lock.
        let _ = rustix::fs::ftruncate(&file, 0);
        let _ = rustix::io::pwrite(&file, format!("{}\n", std::process::id()).as_bytes(), 0);
        Ok(RootLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("rec.json");
        write_json(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json(&p, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = read_json(&p).unwrap();
        assert_eq!(v["a"], 2);
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("rec.json")]);
    }

    #[test]
    fn sweep_removes_only_temporaries() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp-x")).unwrap();
        fs::write(d.path().join("tmp-y"), b"").unwrap();
        fs::write(d.path().join("keep"), b"").unwrap();
        assert_eq!(sweep_temporaries(d.path()).unwrap(), 2);
        assert!(d.path().join("keep").exists());
    }

    #[test]
    fn second_lock_is_refused_and_names_the_root() {
        let d = tempfile::tempdir().unwrap();
        let _a = RootLock::acquire(d.path(), "data root").unwrap();
        let err = RootLock::acquire(d.path(), "data root")
            .err()
            .expect("second lock must fail");
        assert!(
            err.to_string().contains("in use by another berthd"),
            "{err}"
        );
    }

    #[test]
    fn remove_dir_durable_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("sub");
        fs::create_dir_all(sub.join("a/b")).unwrap();
        remove_dir_durable(&sub).unwrap();
        remove_dir_durable(&sub).unwrap();
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
