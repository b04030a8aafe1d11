//! Unpacked layers: `<root>/<n>/diff` holds the files of one layer in overlayfs form and
//! `<root>/<n>/layer.json` says which chain it is. Numbered directories keep overlay
//! `lowerdir=` option strings short when images have many layers.
//!
//! A layer is built in `<root>/tmp-*`, flushed with `syncfs`, and renamed into place, so
//! a numbered directory always holds a complete layer.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_oci::Digest;
use berth_store::{fsync_dir, StoreError};
use serde::{Deserialize, Serialize};

use crate::unpack::{unpack_layer, UnpackError, UnpackStats};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerInfo {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Bytes of regular files in this layer alone.
    pub size: u64,
    #[serde(skip)]
    pub number: u64,
}

pub struct LayerStore {
    root: PathBuf,
    index: HashMap<Digest, LayerInfo>,
    next: u64,
}

/// A layer unpacked into a temporary directory, not yet visible.
pub struct PreparedLayer {
    dir: PathBuf,
    stats: UnpackStats,
}

impl Drop for PreparedLayer {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl LayerStore {
    pub fn open(root: &Path) -> Result<LayerStore, StoreError> {
        berth_store::create_dir_all_durable(root)?;
        berth_store::sweep_temporaries(root)?;
        let mut index: HashMap<Digest, LayerInfo> = HashMap::new();
        let mut next = 1;
        let mut entries: Vec<(u64, PathBuf)> = Vec::new();
        for e in fs::read_dir(root).map_err(|e| StoreError::io("readdir", root, e))? {
            let e = e.map_err(|e| StoreError::io("readdir", root, e))?;
            if let Ok(n) = e.file_name().to_string_lossy().parse::<u64>() {
                entries.push((n, e.path()));
            }
        }
        entries.sort();
        for (n, dir) in entries {
            next = next.max(n + 1);
            match berth_store::read_json::<LayerInfo>(&dir.join("layer.json")) {
                Ok(mut info) if !index.contains_key(&info.chain_id) => {
                    info.number = n;
                    index.insert(info.chain_id.clone(), info);
                }
                other => {
                    // Unreadable or duplicate: never referenced by a complete image record.
                    tracing::warn!(dir = %dir.display(), ok = other.is_ok(), "removing a stray layer directory");
                    berth_store::remove_dir_durable(&dir)?;
                }
            }
        }
        Ok(LayerStore {
            root: root.to_path_buf(),
            index,
            next,
        })
    }

    pub fn get(&self, chain: &Digest) -> Option<&LayerInfo> {
        self.index.get(chain)
    }

    pub fn contains(&self, chain: &Digest) -> bool {
        self.index.contains_key(chain)
    }

    pub fn all(&self) -> impl Iterator<Item = &LayerInfo> {
        self.index.values()
    }

    pub fn dir(&self, info: &LayerInfo) -> PathBuf {
        self.root.join(info.number.to_string())
    }

    /// The `diff` directory of a layer.
    pub fn diff_dir(&self, chain: &Digest) -> Option<PathBuf> {
        self.index.get(chain).map(|i| self.dir(i).join("diff"))
    }

    /// Unpacks a layer tar into a fresh temporary directory. Needs no lock on the store:
    /// nothing becomes visible until [`LayerStore::commit`].
    pub fn prepare(root: &Path, tar: impl Read) -> Result<PreparedLayer, LayerError> {
        let dir = berth_store::temp_path(root, "layer");
        let diff = dir.join("diff");
        fs::create_dir_all(&diff).map_err(|e| StoreError::io("mkdir", &diff, e))?;
        let mut prepared = PreparedLayer {
            dir,
            stats: UnpackStats::default(),
        };
        prepared.stats = unpack_layer(tar, &diff)?;
        // One syncfs makes every unpacked file durable before the rename publishes it.
        let fd = fs::File::open(&diff).map_err(|e| StoreError::io("open", &diff, e))?;
        rustix::fs::syncfs(&fd).map_err(|e| StoreError::io("syncfs", &diff, e.into()))?;
        Ok(prepared)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Publishes a prepared layer under its chain id. If the chain already exists (another
    /// load won the race) the prepared copy is discarded.
    pub fn commit(
        &mut self,
        prepared: PreparedLayer,
        chain_id: Digest,
        diff_id: Digest,
        parent: Option<Digest>,
    ) -> Result<&LayerInfo, StoreError> {
        if !self.index.contains_key(&chain_id) {
            let n = self.next;
            let info = LayerInfo {
                chain_id: chain_id.clone(),
                diff_id,
                parent,
                size: prepared.stats.size,
                number: n,
            };
            berth_store::write_json(&prepared.dir.join("layer.json"), &info)?;
            let dest = self.root.join(n.to_string());
            fs::rename(&prepared.dir, &dest).map_err(|e| StoreError::io("rename", &dest, e))?;
            fsync_dir(&self.root)?;
            self.next += 1;
            self.index.insert(chain_id.clone(), info);
        }
        drop(prepared);
        Ok(&self.index[&chain_id])
    }

    pub fn remove(&mut self, chain: &Digest) -> Result<(), StoreError> {
        if let Some(info) = self.index.get(chain) {
            let dir = self.dir(info);
            berth_store::remove_dir_durable(&dir)?;
            self.index.remove(chain);
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
