//! Reading `docker save` archives and building (possibly malicious) ones.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Chain ids of a list of diff ids, as Docker computes them:
/// `chain[0] = diff[0]`, `chain[i] = sha256(chain[i-1] + " " + diff[i])`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// One image of a docker-archive, re-hashed from the archive's bytes.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    /// sha256 of the config file's bytes: the image ID.
    pub id: String,
    /// The parsed config.
    pub config: Value,
    /// `RepoTags` of manifest.json.
    pub repo_tags: Vec<String>,
    /// sha256 of each layer file's bytes, in manifest order.
    pub layer_digests: Vec<String>,
}

impl ArchiveImage {
    /// `rootfs.diff_ids` of the config.
    pub fn diff_ids(&self) -> Vec<String> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics unless every layer re-hashes to the config's diff id.
    pub fn assert_layers_match_diff_ids(&self, what: &str) {
        assert_eq!(
            self.layer_digests,
            self.diff_ids(),
            "{what}: the layer files of the archive must hash to the config's rootfs.diff_ids"
        );
    }
}

/// Parse a docker-archive (`docker save` output): manifest.json + config + layers.
/// Panics with context if the archive is not well formed.
pub fn read_docker_archive(path: &Path) -> Vec<ArchiveImage> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    read_docker_archive_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{} is not a valid docker-archive: {e}", path.display()))
}

/// Like [`read_docker_archive`] on bytes; an error names what is wrong.
pub fn read_docker_archive_bytes(bytes: &[u8]) -> Result<Vec<ArchiveImage>, String> {
    let (files, links) = tar_contents(bytes)?;
    let get = |p: &str| lookup(&files, &links, p);
    let manifest = get("manifest.json").ok_or("no manifest.json in the archive")?;
    let manifest: Value =
        serde_json::from_slice(manifest).map_err(|e| format!("manifest.json: {e}"))?;
    let entries = manifest.as_array().ok_or("manifest.json is not an array")?;
    let mut out = Vec::new();
    for m in entries {
        let cfg_path = m["Config"]
            .as_str()
            .ok_or("manifest entry without Config")?;
        let cfg = get(cfg_path).ok_or(format!("config {cfg_path} missing from the archive"))?;
        let config: Value =
            serde_json::from_slice(cfg).map_err(|e| format!("config {cfg_path}: {e}"))?;
        let mut layer_digests = Vec::new();
        for l in m["Layers"]
            .as_array()
            .ok_or("manifest entry without Layers")?
        {
            let lp = l.as_str().ok_or("layer path is not a string")?;
            let data = get(lp).ok_or(format!("layer {lp} missing from the archive"))?;
            layer_digests.push(digest(data));
        }
        let repo_tags = m["RepoTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.push(ArchiveImage {
            id: digest(cfg),
            config,
            repo_tags,
            layer_digests,
        });
    }
    Ok(out)
}

fn normalize(p: &str) -> String {
    p.trim_start_matches("./").to_string()
}

type TarContents = (HashMap<String, Vec<u8>>, HashMap<String, String>);

/// Regular files (path → content) and symlinks (path → target) of a tar.
/// (Docker 20.10's `docker save` writes a layer shared by two images once and a
/// symlink to it for the second.)
pub fn tar_contents(bytes: &[u8]) -> Result<TarContents, String> {
    let mut ar = tar::Archive::new(bytes);
    let mut files = HashMap::new();
    let mut links = HashMap::new();
    for e in ar.entries().map_err(|e| format!("tar: {e}"))? {
        let mut e = e.map_err(|e| format!("tar entry: {e}"))?;
        let name = normalize(&String::from_utf8_lossy(&e.path_bytes()));
        match e.header().entry_type() {
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                e.read_to_end(&mut data)
                    .map_err(|err| format!("tar entry {name}: {err}"))?;
                files.insert(name, data);
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                links.insert(name, target);
            }
            _ => {}
        }
    }
    Ok((files, links))
}

/// Find a file by path inside the archive, following symlinks that stay inside it.
fn lookup<'a>(
    files: &'a HashMap<String, Vec<u8>>,
    links: &HashMap<String, String>,
    path: &str,
) -> Option<&'a Vec<u8>> {
    let mut p = normalize(path);
    for _ in 0..8 {
        if let Some(f) = files.get(&p) {
            return Some(f);
        }
        let target = links.get(&p)?;
        if target.starts_with('/') {
            return None;
        }
        let mut parts: Vec<&str> = p.split('/').collect();
        parts.pop();
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                c => parts.push(c),
            }
        }
        p = parts.join("/");
    }
    None
}

/// What a tar entry is.
#[derive(Debug, Clone)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// A tar entry with a raw, unchecked name (so that `../x`, `/abs` and links
/// pointing anywhere can be written, which the `tar` crate's setters refuse).
/// mtime defaults to 2024-01-01, owner to 0:0.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Written as PAX `SCHILY.xattr.<name>` records.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(path: &str, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: crate::FIXTURE_EPOCH as u64,
            xattrs: Vec::new(),
        }
    }
    pub fn dir(path: &str) -> Entry {
        Entry::new(path, Kind::Dir, 0o755)
    }
    pub fn file(path: &str, data: &[u8]) -> Entry {
        Entry::new(path, Kind::File(data.to_vec()), 0o644)
    }
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::new(path, Kind::Symlink(target.into()), 0o777)
    }
    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry::new(path, Kind::Hardlink(target.into()), 0o644)
    }
    pub fn char_dev(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, Kind::Char(major, minor), 0o666)
    }
    pub fn block_dev(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, Kind::Block(major, minor), 0o660)
    }
    pub fn fifo(path: &str) -> Entry {
        Entry::new(path, Kind::Fifo, 0o644)
    }
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, t: u64) -> Entry {
        self.mtime = t;
        self
    }
    pub fn xattr(mut self, name: &str, value: &[u8]) -> Entry {
        self.xattrs.push((name.into(), value.to_vec()));
        self
    }
}

/// Store `name` in a ustar header: up to 100 bytes in `name`, longer names split
/// at a `/` into `prefix` (155) + `name` (100).
fn set_raw_name(h: &mut tar::Header, name: &str) {
    let b = name.as_bytes();
    let u = h.as_ustar_mut().expect("ustar header");
    if b.len() <= 100 {
        u.name[..b.len()].copy_from_slice(b);
        return;
    }
    let split = (0..b.len())
        .rev()
        .find(|&i| b[i] == b'/' && i <= 155 && b.len() - i - 1 <= 100)
        .unwrap_or_else(|| panic!("name too long for a ustar header: {name}"));
    u.prefix[..split].copy_from_slice(&b[..split]);
    u.name[..b.len() - split - 1].copy_from_slice(&b[split + 1..]);
}

fn set_raw_link(h: &mut tar::Header, target: &str) {
    let b = target.as_bytes();
    assert!(b.len() <= 100, "link target too long: {target}");
    h.as_ustar_mut().expect("ustar header").linkname[..b.len()].copy_from_slice(b);
}

/// One PAX record: `<len> <key>=<value>\n`, the length counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ' '=' '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut v = format!("{len} {key}=").into_bytes();
    v.extend_from_slice(value);
    v.push(b'\n');
    v
}

/// Build a tar from entries, names written verbatim.
pub fn build_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.xattrs.is_empty() {
            let mut data = Vec::new();
            for (k, v) in &e.xattrs {
                data.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
            }
            let mut h = tar::Header::new_ustar();
            set_raw_name(&mut h, "PaxHeaders/entry");
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_mode(0o644);
            h.set_mtime(e.mtime);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, &data[..]).expect("append pax header");
        }
        let mut h = tar::Header::new_ustar();
        set_raw_name(&mut h, &e.path);
        h.set_mtime(e.mtime);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mode(e.mode);
        h.set_size(0);
        // zeros, not NULs, in the device fields of every entry (as GNU tar,
        // Python and Go write them)
        h.set_device_major(0).expect("device major");
        h.set_device_minor(0).expect("device minor");
        let data: &[u8] = match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                &[]
            }
            Kind::File(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                d
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                set_raw_link(&mut h, t);
                &[]
            }
            Kind::Hardlink(t) => {
                h.set_entry_type(tar::EntryType::Link);
                set_raw_link(&mut h, t);
                &[]
            }
            Kind::Char(ma, mi) | Kind::Block(ma, mi) => {
                h.set_entry_type(if matches!(e.kind, Kind::Char(..)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(*ma).expect("device major");
                h.set_device_minor(*mi).expect("device minor");
                &[]
            }
            Kind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                &[]
            }
        };
        h.set_cksum();
        b.append(&h, data).expect("append to in-memory tar");
    }
    b.into_inner().expect("finish in-memory tar")
}

/// A minimal image config over the given layers.
pub fn image_config(diff_ids: &[String], cmd: &[&str]) -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| json!({"created": "2024-01-01T00:00:00Z", "created_by": "berth-it"})).collect::<Vec<_>>(),
    })
}

/// A docker-archive under construction. By default the config's diff ids are the
/// layers' digests and the manifest lists the layers at `layer<i>/layer.tar`.
#[derive(Debug, Clone, Default)]
pub struct DockerArchive {
    pub repo_tags: Vec<String>,
    pub layers: Vec<Vec<u8>>,
    /// Config bytes; `None`: [`image_config`] over the layers' digests.
    pub config: Option<Vec<u8>>,
    /// Layer paths written into manifest.json; `None`: the real ones.
    pub manifest_layers: Option<Vec<String>>,
}

impl DockerArchive {
    pub fn new(repo_tag: &str, layers: Vec<Vec<u8>>) -> Self {
        DockerArchive {
            repo_tags: vec![repo_tag.to_string()],
            layers,
            ..Default::default()
        }
    }

    /// The config bytes (given or generated).
    pub fn config_bytes(&self) -> Vec<u8> {
        self.config.clone().unwrap_or_else(|| {
            let ids: Vec<String> = self.layers.iter().map(|l| digest(l)).collect();
            serde_json::to_vec(&image_config(&ids, &["sh"])).expect("serialize config")
        })
    }

    /// The archive bytes.
    pub fn build(&self) -> Vec<u8> {
        let config = self.config_bytes();
        let cfg_name = format!("{}.json", &digest(&config)[7..]);
        let mut entries = Vec::new();
        let mut paths = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            entries.push(Entry::dir(&format!("layer{i}")));
            entries.push(Entry::file(&format!("layer{i}/layer.tar"), l));
            paths.push(format!("layer{i}/layer.tar"));
        }
        entries.push(Entry::file(&cfg_name, &config));
        let manifest = json!([{
            "Config": cfg_name,
            "RepoTags": self.repo_tags,
            "Layers": self.manifest_layers.clone().unwrap_or(paths),
        }]);
        entries.push(Entry::file(
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("serialize manifest"),
        ));
        build_tar(&entries)
    }
}
