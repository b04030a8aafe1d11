//! Looking at what the daemon left on disk.
//!
//! The only layout assumed is the one the daemon's contract names:
//! `<data-root>/layers/<n>/diff` (the unpacked layer) and
//! `<data-root>/layers/<n>/layer.json` (`{"chain_id": ..., "diff_id": ..., ...}`).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every path under `root` (relative, symlinks not followed). Missing root: empty.
pub fn walk(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_path_buf());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

/// One `<data-root>/layers/<n>` directory.
#[derive(Debug, Clone)]
pub struct LayerDir {
    pub dir: PathBuf,
    /// Parsed `layer.json`, `None` if absent or unparsable.
    pub json: Option<Value>,
}

impl LayerDir {
    pub fn diff(&self) -> PathBuf {
        self.dir.join("diff")
    }
    pub fn chain_id(&self) -> Option<&str> {
        self.json.as_ref()?.get("chain_id")?.as_str()
    }
    pub fn diff_id(&self) -> Option<&str> {
        self.json.as_ref()?.get("diff_id")?.as_str()
    }
}

/// All directories under `<data-root>/layers/`.
pub fn layer_dirs(data_root: &Path) -> Vec<LayerDir> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(data_root.join("layers")) else {
        return out;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = e.path();
        let json = std::fs::read(dir.join("layer.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        out.push(LayerDir { dir, json });
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out
}

/// The layer directory whose `layer.json` has this chain id.
pub fn layer_by_chain_id(data_root: &Path, chain_id: &str) -> Option<LayerDir> {
    layer_dirs(data_root)
        .into_iter()
        .find(|l| l.chain_id() == Some(chain_id))
}

fn temp_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "tmp", ".tmp", "temp", ".temp", "new-", ".new-", "staging", "ingest", "incoming",
    ]
    .iter()
    .any(|p| n.starts_with(p))
        || [".tmp", ".part", ".partial", ".incomplete", ".new"]
            .iter()
            .any(|s| n.ends_with(s))
}

/// Leftovers of interrupted work under the data root: anything with a
/// temporary-looking name (`tmp*`, `.tmp*`, `new-*`, `*.partial`, `ingest*` ...)
/// that is not an empty directory (an empty staging area is fine). The content
/// of unpacked layers (`layers/*/diff/**`) is not looked at: images have their
/// own `/tmp`.
pub fn leftovers(data_root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![data_root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(data_root).unwrap_or(&p).to_path_buf();
            let comps: Vec<_> = rel.components().collect();
            let is_diff = comps.len() == 3
                && comps[0].as_os_str() == "layers"
                && comps[2].as_os_str() == "diff";
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let name = e.file_name().to_string_lossy().into_owned();
            if temp_like(&name) {
                let empty_dir = is_dir
                    && std::fs::read_dir(&p)
                        .map(|mut r| r.next().is_none())
                        .unwrap_or(false);
                if !empty_dir {
                    out.push(rel.clone());
                }
            }
            if is_dir && !is_diff {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Mount points under `p` (from `/proc/self/mountinfo`): what a test should find gone.
pub fn mounts_under(p: &Path) -> Vec<String> {
    let needle = p.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|t| t.starts_with(&needle))
        .map(str::to_string)
        .collect()
}
