//! A container's mounts as Docker records them (`MountPoints`, shown as `Mounts` in
//! inspect): volumes, bind mounts and `--mount type=tmpfs`, resolved once at create from
//! `HostConfig.Binds`, `HostConfig.Mounts`, `HostConfig.VolumesFrom` and the image's and
//! request's `Volumes`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// Where it appears in the container (absolute, cleaned).
    pub destination: String,
    /// Host path: the bind source, or the volume's data directory. Empty for tmpfs.
    pub source: PathBuf,
    /// Volume name (volumes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Volume driver ("local"), empty for others.
    #[serde(default)]
    pub driver: String,
    /// The mode string as given (`ro`, `z`, `ro,rshared` …), as Docker shows it.
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    /// Bind propagation (`rprivate` unless given); empty for volumes and tmpfs.
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content at the destination into an empty volume on first use.
    #[serde(default)]
    pub copy_data: bool,
    /// Anonymous volume (removed with `rm -v` / `--rm`).
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs mount options (`size=…,mode=…`), tmpfs only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs_options: String,
    /// The `HostConfig.Mounts` entry it came from (`--mount`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
}

impl MountPoint {
    /// The entry of inspect's `Mounts`, in Docker's shape.
    pub fn inspect(&self) -> Value {
        let mut m = json!({
            "Type": self.kind.as_str(),
            "Source": self.source,
            "Destination": self.destination,
            "Mode": self.mode,
            "RW": self.rw,
            "Propagation": self.propagation,
        });
        if self.kind == MountKind::Volume {
            m["Name"] = json!(self.name.clone().unwrap_or_default());
            m["Driver"] = json!(self.driver);
        }
        m
    }

    /// True when `path` (absolute, cleaned, in the container) is this mount's
    /// destination or lies under it.
    pub fn covers(&self, path: &str) -> bool {
        let d = self.destination.trim_end_matches('/');
        d.is_empty() || path == d || path.strip_prefix(d).is_some_and(|r| r.starts_with('/'))
    }
}
