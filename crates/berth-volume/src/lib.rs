//! Volumes of the `local` driver, as Docker keeps them.
//!
//! On disk, under `<data-root>/volumes/`, each volume is a directory named after it:
//! `<name>/volume.json` (the record) and `<name>/_data` (what containers see). A volume
//! is built under a `tmp-*` name and renamed into place, and removed by renaming it back
//! to a `tmp-*` name first, so a crash at any moment leaves either a whole volume or a
//! temporary that the next start sweeps.
//!
//! A volume created with options (`--opt type=tmpfs --opt device=tmpfs --opt o=size=1m`,
//! or `o=bind` of a host directory) is mounted on its `_data` while containers use it.
//! Which containers use what is the daemon's knowledge, not this store's.

mod mountopts;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

const RECORD_SCHEMA: u32 = 1;
const RECORD_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";
const STAGING_DIR: &str = ".staging";

/// The only driver there is.
pub const LOCAL_DRIVER: &str = "local";

/// The options the local driver knows (`--opt KEY=VALUE`).
const KNOWN_OPTIONS: &[&str] = &["type", "device", "o"];

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error("{0}")]
    Mount(String),
}

impl berth_errors::HasKind for VolumeError {
    fn kind(&self) -> berth_errors::ErrorKind {
        use berth_errors::ErrorKind as K;
        match self {
            VolumeError::NotFound(_) => K::NotFound,
            VolumeError::Invalid(_) => K::InvalidArgument,
            VolumeError::Conflict(_) => K::Conflict,
            VolumeError::Store(_) | VolumeError::Mount(_) => K::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, VolumeError>;

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub schema: u32,
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// RFC 3339, seconds, with the local offset (Docker's `CreatedAt`).
    pub created_at: String,
    /// Made for a container without a name (`-v /path`, an image's `VOLUME`).
    #[serde(default)]
    pub anonymous: bool,
}

impl Volume {
    /// Whether the volume's directory is a mount made from its options.
    pub fn has_mount_options(&self) -> bool {
        self.options.contains_key("type") || self.options.contains_key("device")
    }
}

/// What a new volume is made of.
#[derive(Debug, Clone, Default)]
pub struct VolumeSpec {
    /// `None`: an anonymous volume, named with 64 random hex digits.
    pub name: Option<String>,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

pub struct VolumeStore {
    root: PathBuf,
    volumes: Mutex<BTreeMap<String, Volume>>,
}

/// Docker's rule for local volume names (they become directory names here).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn name_error(name: &str) -> VolumeError {
    if name.len() < 2 && name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return VolumeError::Invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        ));
    }
    VolumeError::Invalid(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    ))
}

impl VolumeStore {
    /// Opens (creating) `<data_root>/volumes`, sweeping what a crash left half-made.
    pub fn open(data_root: &Path) -> Result<VolumeStore> {
        let root = data_root.join("volumes");
        // Half-made and half-deleted volumes live in a staging directory whose name no
        // volume can have (names start with a letter or digit), never beside the volumes:
        // a volume may well be called `tmp-data`.
        let staging = root.join(STAGING_DIR);
        berth_store::create_dir_all_durable(&staging)?;
        berth_store::sweep_temporaries(&staging)?;
        let mut volumes = BTreeMap::new();
        for entry in
            fs::read_dir(&root).map_err(|e| berth_store::StoreError::io("readdir", &root, e))?
        {
            let entry = entry.map_err(|e| berth_store::StoreError::io("readdir", &root, e))?;
            if entry.file_name() == STAGING_DIR {
                continue;
            }
            // A copy-up a crash interrupted left its staging directory.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                berth_store::sweep_temporaries(&entry.path())?;
            }
            let path = entry.path().join(RECORD_FILE);
            match berth_store::read_json::<Volume>(&path) {
                Ok(v) if valid_name(&v.name) && entry.file_name() == v.name.as_str() => {
                    volumes.insert(v.name.clone(), v);
                }
                Ok(_) => {
                    tracing::warn!(path = %path.display(), "volume record names another volume; ignored")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable volume record; ignored")
                }
            }
        }
        Ok(VolumeStore {
            root,
            volumes: Mutex::new(volumes),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Volume>> {
        self.volumes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /volumes/create`: the new volume, or the existing one of that name (Docker
    /// answers a second create of a name with the volume it has). `true` when made now.
    pub fn create(&self, spec: VolumeSpec) -> Result<(Volume, bool)> {
        let driver = if spec.driver.is_empty() {
            LOCAL_DRIVER.to_string()
        } else {
            spec.driver.clone()
        };
        if driver != LOCAL_DRIVER {
            return Err(VolumeError::Invalid(format!(
                "create {}: error looking up volume plugin {driver}: plugin \"{driver}\" not found",
                spec.name.as_deref().unwrap_or("")
            )));
        }
        let anonymous = spec.name.is_none();
        let name = match spec.name {
            Some(n) => n,
            None => berth_store::random_hex(32),
        };
        if !valid_name(&name) {
            return Err(name_error(&name));
        }
        for key in spec.options.keys() {
            if !KNOWN_OPTIONS.contains(&key.as_str()) {
                return Err(VolumeError::Invalid(format!(
                    "create {name}: invalid option key: {key:?}"
                )));
            }
        }
        if spec.options.contains_key("type") != spec.options.contains_key("device")
            && !spec
                .options
                .get("o")
                .is_some_and(|o| o.split(',').any(|x| x == "bind"))
        {
            return Err(VolumeError::Invalid(format!(
                "create {name}: missing required option: {:?}",
                if spec.options.contains_key("type") {
                    "device"
                } else {
                    "type"
                }
            )));
        }
        let mut volumes = self.lock();
        if let Some(v) = volumes.get(&name) {
            return Ok((v.clone(), false));
        }
        let v = Volume {
            schema: RECORD_SCHEMA,
            name: name.clone(),
            driver,
            labels: spec.labels,
            options: spec.options,
            created_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            anonymous,
        };
        let tmp = berth_store::temp_path(&self.root.join(STAGING_DIR), "create");
        let build = || -> Result<()> {
            fs::create_dir(&tmp).map_err(|e| berth_store::StoreError::io("mkdir", &tmp, e))?;
            let data = tmp.join(DATA_DIR);
            fs::create_dir(&data).map_err(|e| berth_store::StoreError::io("mkdir", &data, e))?;
            berth_store::write_json(&tmp.join(RECORD_FILE), &v)?;
            let dest = self.root.join(&name);
            fs::rename(&tmp, &dest).map_err(|e| berth_store::StoreError::io("rename", &dest, e))?;
            berth_store::fsync_dir(&self.root)?;
            Ok(())
        };
        if let Err(e) = build() {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        volumes.insert(name, v.clone());
        Ok((v, true))
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    pub fn list(&self) -> Vec<Volume> {
        self.lock().values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Where containers mount the volume (`Mountpoint`).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    /// Makes the volume ready to be bound into a container: mounts it from its options
    /// unless that is done already. The directory to bind.
    pub fn mount(&self, name: &str) -> Result<PathBuf> {
        let v = self.get(name)?;
        let data = self.data_dir(name);
        if v.has_mount_options() && !is_mountpoint(&data) {
            mountopts::mount(&v.options, &data).map_err(|e| {
                VolumeError::Mount(format!(
                    "error while mounting volume '{}': {e}",
                    data.display()
                ))
            })?;
        }
        Ok(data)
    }

    /// Undoes [`VolumeStore::mount`] (the caller knows no container uses it any more).
    pub fn unmount(&self, name: &str) -> Result<()> {
        let data = self.data_dir(name);
        if is_mountpoint(&data) {
            rustix::mount::unmount(&data, rustix::mount::UnmountFlags::DETACH)
                .map_err(|e| VolumeError::Mount(format!("unmounting volume {name}: {e}")))?;
        }
        Ok(())
    }

    /// Deletes the volume and its data (the caller checked that no container uses it).
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut volumes = self.lock();
        if !volumes.contains_key(name) {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        // The data of a mounted volume is somebody else's (a tmpfs, a bound host
        // directory): detach it, and never delete through a mount that stays.
        self.unmount(name)?;
        let data = self.data_dir(name);
        if is_mountpoint(&data) {
            return Err(VolumeError::Mount(format!(
                "remove {name}: its data directory is still a mount point"
            )));
        }
        // Renamed into the staging directory first: a crash during the delete leaves
        // only something the next start sweeps, never half a volume.
        let doomed = berth_store::temp_path(&self.root.join(STAGING_DIR), "del");
        let dir = self.root.join(name);
        fs::rename(&dir, &doomed).map_err(|e| berth_store::StoreError::io("rename", &dir, e))?;
        berth_store::fsync_dir(&self.root)?;
        fs::remove_dir_all(&doomed)
            .map_err(|e| berth_store::StoreError::io("remove", &doomed, e))?;
        volumes.remove(name);
        Ok(())
    }

    /// Bytes the volume's files take (`system df`), not crossing into other
    /// filesystems; -1 for a volume mounted from its options, as Docker reports.
    pub fn size(&self, name: &str) -> i64 {
        let data = self.data_dir(name);
        match self.get(name) {
            Ok(v) if v.has_mount_options() => -1,
            Ok(_) => tree_size(&data) as i64,
            Err(_) => -1,
        }
    }
}

/// Bytes used by the files under `dir` (each inode once), staying on its filesystem and
/// never following symlinks.
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(top) = fs::symlink_metadata(dir) else {
        return 0;
    };
    let dev = top.dev();
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() <= 1 || seen.insert(m.ino()) {
                total += m.len();
            }
        }
    }
    total
}

/// True when `p` is mounted on (its device differs from its parent's, or it is bound
/// from elsewhere on the same device: then its mount id differs).
pub fn is_mountpoint(p: &Path) -> bool {
    let (Ok(m), Some(parent)) = (fs::symlink_metadata(p), p.parent()) else {
        return false;
    };
    let Ok(pm) = fs::metadata(parent) else {
        return false;
    };
    if m.dev() != pm.dev() {
        return true;
    }
    mount_id(p)
        .zip(mount_id(parent))
        .is_some_and(|(a, b)| a != b)
}

fn mount_id(p: &Path) -> Option<u64> {
    let st = rustix::fs::statx(
        rustix::fs::CWD,
        p,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()?;
    Some(st.stx_mnt_id)
}

impl From<io::Error> for VolumeError {
    fn from(e: io::Error) -> Self {
        VolumeError::Mount(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> VolumeSpec {
        VolumeSpec {
            name: Some(name.into()),
            ..VolumeSpec::default()
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        for good in ["ab", "a1", "my-vol_1.x", "0abc"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["a", "", "-ab", ".ab", "a/b", "..", "a b", "../x", "é1"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(name_error("a").to_string().contains("too short"));
        assert!(name_error("a/b").to_string().contains("invalid characters"));
    }

    #[test]
    fn create_get_list_remove_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(d.path()).unwrap();
        let mut sp = spec("data1");
        sp.labels.insert("a".into(), "b".into());
        let (v, made) = s.create(sp.clone()).unwrap();
        assert!(made);
        assert_eq!(v.driver, "local");
        assert!(s.data_dir("data1").is_dir());
        // A second create answers the existing volume.
        let (again, made) = s.create(spec("data1")).unwrap();
        assert!(!made);
        assert_eq!(again.labels, v.labels);
        let (anon, _) = s.create(VolumeSpec::default()).unwrap();
        assert!(anon.anonymous);
        assert_eq!(anon.name.len(), 64);
        std::fs::write(s.data_dir("data1").join("f"), b"12345").unwrap();
        assert_eq!(s.size("data1"), 5);
        // A crash left a half-made volume and a half-made copy-up: swept, and the
        // records come back (a volume named like a temporary among them).
        s.create(spec("tmp-data")).unwrap();
        std::fs::create_dir_all(d.path().join("volumes/.staging/tmp-create-x/_data")).unwrap();
        std::fs::create_dir_all(d.path().join("volumes/data1/tmp-copyup-x/a")).unwrap();
        drop(s);
        let s = VolumeStore::open(d.path()).unwrap();
        assert!(!d.path().join("volumes/.staging/tmp-create-x").exists());
        assert!(!d.path().join("volumes/data1/tmp-copyup-x").exists());
        assert_eq!(s.list().len(), 3);
        s.remove("tmp-data").unwrap();
        assert_eq!(s.get("data1").unwrap(), v);
        s.remove("data1").unwrap();
        assert!(matches!(s.get("data1"), Err(VolumeError::NotFound(_))));
        assert!(!d.path().join("volumes/data1").exists());
        assert_eq!(
            s.remove("data1").unwrap_err().to_string(),
            "get data1: no such volume"
        );
    }

    #[test]
    fn bad_input_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(d.path()).unwrap();
        assert!(matches!(
            s.create(spec("../etc")),
            Err(VolumeError::Invalid(_))
        ));
        let mut sp = spec("opts");
        sp.options.insert("bogus".into(), "1".into());
        assert!(s
            .create(sp)
            .unwrap_err()
            .to_string()
            .contains("invalid option key"));
        let mut sp = spec("drv");
        sp.driver = "nfsplugin".into();
        assert!(s.create(sp).unwrap_err().to_string().contains("plugin"));
        assert!(s.list().is_empty());
    }

    #[test]
    fn a_tmpfs_volume_is_mounted_and_removed_without_touching_its_contents_source() {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(d.path()).unwrap();
        let mut sp = spec("tmpv");
        sp.options.insert("type".into(), "tmpfs".into());
        sp.options.insert("device".into(), "tmpfs".into());
        sp.options.insert("o".into(), "size=1m,mode=700".into());
        s.create(sp).unwrap();
        let data = s.mount("tmpv").unwrap();
        assert!(is_mountpoint(&data));
        assert_eq!(s.size("tmpv"), -1);
        // Mounting again is a no-op.
        s.mount("tmpv").unwrap();
        s.remove("tmpv").unwrap();
        assert!(!data.exists());
    }

    #[test]
    fn removing_a_bound_volume_keeps_the_host_directory() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("host");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("precious"), b"x").unwrap();
        let s = VolumeStore::open(&d.path().join("root")).unwrap();
        let mut sp = spec("bound");
        sp.options.insert("type".into(), "none".into());
        sp.options
            .insert("device".into(), host.display().to_string());
        sp.options.insert("o".into(), "bind".into());
        s.create(sp).unwrap();
        let data = s.mount("bound").unwrap();
        assert!(data.join("precious").exists());
        s.remove("bound").unwrap();
        assert!(host.join("precious").exists());
    }
}
