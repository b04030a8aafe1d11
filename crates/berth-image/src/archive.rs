//! Image archives: `docker save` format (also Docker 25+'s, which adds an OCI layout),
//! OCI image-layout tars, and flat rootfs tars for `import`.
//!
//! The outer archive is never extracted by name. Each regular file is streamed into a
//! numbered scratch file while being hashed, and the archive's own paths are only keys
//! of a map, so no entry name can point anywhere on the host.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use berth_oci::{Digest, Reference};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::changes::apply_changes;
use crate::content::{detect_compression, Compression, HashingReader};
use crate::error::{ImageError, Result};
use crate::store::{ImageStore, LayerBlob};

/// Small files are kept for parsing; bigger JSON documents are refused (a config or
/// manifest of more than this is not a real one).
const MAX_JSON: u64 = 8 << 20;

/// One image loaded from an archive, and what the client should be told.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub id: Digest,
    pub tags: Vec<Reference>,
}

/// The files of an archive, streamed into scratch storage.
struct Spool {
    dir: PathBuf,
    /// archive path → (scratch file, digest of its bytes, size)
    files: HashMap<String, (PathBuf, Digest, u64)>,
    /// archive path → archive path it links to
    links: HashMap<String, String>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Normalises an archive path lexically (`./a//b` → `a/b`), refusing `..` and absolute
/// paths: inside an archive they can only be an attack.
fn clean_archive_path(p: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    if p.starts_with('/') {
        return Err(ImageError::InvalidArchive(format!(
            "absolute path {p:?} in archive"
        )));
    }
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(ImageError::InvalidArchive(format!(
                    "path {p:?} escapes the archive"
                )))
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

impl Spool {
    fn read(scratch_root: &Path, reader: impl Read) -> Result<Spool> {
        let dir = berth_store::temp_path(scratch_root, "load");
        fs::create_dir(&dir).map_err(|e| berth_store::StoreError::io("mkdir", &dir, e))?;
        let mut spool = Spool {
            dir,
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let mut archive = tar::Archive::new(reader);
        let bad = |e: io::Error| ImageError::InvalidArchive(e.to_string());
        let mut n = 0u64;
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            // Names that are not clean are simply never looked up.
            let Ok(name) = clean_archive_path(&raw) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    n += 1;
                    let path = spool.dir.join(n.to_string());
                    let mut out = File::create_new(&path)
                        .map_err(|e| berth_store::StoreError::io("create", &path, e))?;
                    let mut h = HashingReader::new(&mut entry);
                    io::copy(&mut h, &mut out).map_err(bad)?;
                    let (digest, size) = h.finish();
                    spool.files.insert(name, (path, digest, size));
                }
                tar::EntryType::Symlink => {
                    if let Some(target) = entry.link_name_bytes() {
                        let target = String::from_utf8_lossy(&target).into_owned();
                        // relative to the link's directory
                        let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        let joined = if target.starts_with('/') {
                            target
                        } else {
                            format!("{base}/{target}")
                        };
                        if let Ok(t) = clean_lexically(&joined) {
                            spool.links.insert(name, t);
                        }
                    }
                }
                tar::EntryType::Link => {
                    if let Some(target) = entry.link_name_bytes() {
                        if let Ok(t) = clean_archive_path(&String::from_utf8_lossy(&target)) {
                            spool.links.insert(name, t);
                        }
                    }
                }
                _ => {}
            }
        }
        if n == 0 && spool.links.is_empty() {
            return Err(ImageError::InvalidArchive(
                "the archive is empty or not a tar file".into(),
            ));
        }
        Ok(spool)
    }

    /// Finds a file by archive path, following links within the archive.
    fn get(&self, name: &str) -> Result<&(PathBuf, Digest, u64)> {
        let mut cur = clean_archive_path(name)?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => break,
            }
        }
        Err(ImageError::InvalidArchive(format!(
            "{name} is missing from the archive"
        )))
    }

    fn json(&self, name: &str) -> Result<Value> {
        let (path, _, size) = self.get(name)?;
        if *size > MAX_JSON {
            return Err(ImageError::InvalidArchive(format!("{name} is too large")));
        }
        let data = fs::read(path).map_err(|e| berth_store::StoreError::io("read", path, e))?;
        serde_json::from_slice(&data)
            .map_err(|e| ImageError::InvalidArchive(format!("{name}: {e}")))
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        let (path, _, size) = self.get(name)?;
        if *size > MAX_JSON {
            return Err(ImageError::InvalidArchive(format!("{name} is too large")));
        }
        fs::read(path).map_err(|e| berth_store::StoreError::io("read", path, e).into())
    }
}

/// Like [`clean_archive_path`] but resolves `..` against earlier components (for symlink
/// targets inside the archive); going above the archive root is refused.
fn clean_lexically(p: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(ImageError::InvalidArchive(format!(
                        "link {p:?} escapes the archive"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Scratch files of a load or import; whatever was not adopted by the content store is
/// removed when the operation ends, however it ends.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// An image found in an archive, before it is added.
struct Candidate {
    config: Vec<u8>,
    layers: Vec<String>,
    tags: Vec<Reference>,
}

impl ImageStore {
    /// `POST /images/load`: loads every image in a docker-archive or OCI-layout tar.
    /// Nothing is tagged unless every image in the archive is valid.
    pub fn load(&self, reader: impl Read) -> Result<(Vec<LoadedImage>, Vec<String>)> {
        let spool = Spool::read(self.content.scratch_dir(), reader)?;
        let candidates = if spool.get("manifest.json").is_ok() {
            docker_manifest(&spool)?
        } else if spool.get("index.json").is_ok() {
            oci_index(&spool)?
        } else {
            return Err(ImageError::InvalidArchive(
                "no manifest.json or index.json found: not a docker save or OCI image archive"
                    .into(),
            ));
        };
        // Prepare every image's layer blobs first (decompressing where needed) so a bad
        // layer anywhere fails the load before anything is added.
        let mut prepared = Vec::new();
        let mut scratch = Scratch(Vec::new());
        for c in candidates {
            let mut blobs = Vec::new();
            for l in &c.layers {
                let b = self.uncompressed_layer(&spool, l)?;
                scratch.0.extend(b.file.clone());
                blobs.push(b);
            }
            prepared.push((c, blobs));
        }
        let mut loaded = Vec::new();
        let mut notes = Vec::new();
        for (c, blobs) in prepared {
            let (id, _) = self.add_image(&c.config, blobs, None)?;
            let labels = self.get(&id).map(|i| i.labels()).unwrap_or_default();
            for t in &c.tags {
                let mut inner = self.lock();
                if let Some(old) = self.set_ref(&mut inner, t, &id)? {
                    notes.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        t.familiar_string()
                    ));
                }
            }
            self.emit("load", &id, &id.to_string(), &labels);
            loaded.push(LoadedImage { id, tags: c.tags });
        }
        Ok((loaded, notes))
    }

    /// Returns a layer blob of the archive as an uncompressed tar file and its diff id.
    fn uncompressed_layer(&self, spool: &Spool, name: &str) -> Result<LayerBlob> {
        let (path, digest, _) = spool.get(name)?;
        let mut f = File::open(path).map_err(|e| berth_store::StoreError::io("open", path, e))?;
        let mut head = [0u8; 6];
        let n =
            read_up_to(&mut f, &mut head).map_err(|e| ImageError::InvalidArchive(e.to_string()))?;
        f.rewind()
            .map_err(|e| ImageError::InvalidArchive(e.to_string()))?;
        let reader: Box<dyn Read> = match detect_compression(&head[..n]) {
            Compression::None => {
                return Ok(LayerBlob {
                    diff_id: digest.clone(),
                    file: Some(self.copy_out(path)?),
                });
            }
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f))),
            other => {
                return Err(ImageError::InvalidArchive(format!(
                    "{name}: {other:?} compressed layers are not supported"
                )))
            }
        };
        let (file, diff_id) = self.spool_uncompressed(reader)?;
        Ok(LayerBlob {
            diff_id,
            file: Some(file),
        })
    }

    /// Moves a scratch file out of the spool (which deletes its directory on drop) into a
    /// scratch name of its own, ready to be adopted by the content store.
    fn copy_out(&self, path: &Path) -> Result<PathBuf> {
        let dest = berth_store::temp_path(self.content.scratch_dir(), "blob");
        match fs::hard_link(path, &dest) {
            Ok(()) => Ok(dest),
            Err(_) => {
                fs::copy(path, &dest).map_err(|e| berth_store::StoreError::io("copy", &dest, e))?;
                Ok(dest)
            }
        }
    }

    fn spool_uncompressed(&self, mut reader: impl Read) -> Result<(PathBuf, Digest)> {
        let dest = berth_store::temp_path(self.content.scratch_dir(), "blob");
        let mut out =
            File::create_new(&dest).map_err(|e| berth_store::StoreError::io("create", &dest, e))?;
        let mut h = HashingReader::new(&mut reader);
        if let Err(e) = io::copy(&mut h, &mut out) {
            let _ = fs::remove_file(&dest);
            return Err(ImageError::InvalidArchive(format!(
                "decompressing a layer: {e}"
            )));
        }
        Ok((dest, h.finish().0))
    }

    /// `POST /images/create?fromSrc=-`: makes a one-layer image from a rootfs tar
    /// (optionally gzip-compressed).
    pub fn import(
        &self,
        reader: impl Read,
        source: &str,
        tag: Option<&Reference>,
        changes: &[String],
        message: &str,
    ) -> Result<Digest> {
        let mut reader = BufReader::new(reader);
        let head = {
            use std::io::BufRead;
            let buf = reader
                .fill_buf()
                .map_err(|e| ImageError::InvalidArchive(e.to_string()))?;
            buf[..buf.len().min(6)].to_vec()
        };
        let mut container_config = default_container_config();
        apply_changes(&mut container_config, changes)?;
        let (file, diff_id) = match detect_compression(&head) {
            Compression::None => self.spool_uncompressed(reader)?,
            Compression::Gzip => {
                self.spool_uncompressed(flate2::read::MultiGzDecoder::new(reader))?
            }
            other => {
                return Err(ImageError::InvalidArchive(format!(
                    "{other:?} compressed archives are not supported"
                )))
            }
        };
        let _scratch = Scratch(vec![file.clone()]);
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let comment = if message.is_empty() {
            format!("Imported from {source}")
        } else {
            message.to_string()
        };
        let mut config = Map::new();
        config.insert("architecture".into(), json!(go_arch()));
        if !message.is_empty() {
            config.insert("comment".into(), json!(message));
        }
        config.insert("config".into(), Value::Object(container_config));
        config.insert("created".into(), json!(now));
        config.insert(
            "history".into(),
            json!([{"created": now, "comment": comment}]),
        );
        config.insert("os".into(), json!("linux"));
        config.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": [diff_id.to_string()]}),
        );
        let config_bytes =
            serde_json::to_vec(&Value::Object(config)).expect("JSON values serialise");
        let (id, _) = self.add_image(
            &config_bytes,
            vec![LayerBlob {
                diff_id,
                file: Some(file),
            }],
            None,
        )?;
        let labels = self.get(&id).map(|i| i.labels()).unwrap_or_default();
        if let Some(t) = tag {
            let mut inner = self.lock();
            self.set_ref(&mut inner, &t.clone().with_default_tag(), &id)?;
        }
        self.emit("import", &id, &id.to_string(), &labels);
        Ok(id)
    }

    /// Which images, under which tags, `GET /images/get?names=…` writes. A repository
    /// name alone means every tag of it; an id means the image untagged.
    pub fn resolve_for_save(&self, names: &[String]) -> Result<Vec<(Digest, Vec<Reference>)>> {
        let mut out: Vec<(Digest, Vec<Reference>)> = Vec::new();
        let mut add = |id: Digest, r: Option<Reference>| {
            let pos = match out.iter().position(|(i, _)| *i == id) {
                Some(p) => p,
                None => {
                    out.push((id, Vec::new()));
                    out.len() - 1
                }
            };
            if let Some(r) = r {
                if !out[pos].1.contains(&r) {
                    out[pos].1.push(r);
                }
            }
        };
        for name in names {
            let id = self.resolve(name)?;
            if is_id_like(&id, name) {
                add(id, None);
                continue;
            }
            let r = Reference::parse_normalized(name)?;
            if r.tag().is_none() && r.digest().is_none() {
                // every tag of the repository
                let mut any = false;
                for img in self.list() {
                    for t in self.references(&img.id) {
                        if t.name() == r.name() && t.tag().is_some() {
                            add(img.id.clone(), Some(t));
                            any = true;
                        }
                    }
                }
                if !any {
                    add(id, None);
                }
            } else if r.digest().is_some() {
                add(id, None);
            } else {
                add(id, Some(r));
            }
        }
        Ok(out)
    }

    /// Writes a docker-archive tar (`manifest.json`, `<config>.json`, `<layer>/layer.tar`),
    /// the format every Docker version loads.
    pub fn save(&self, images: &[(Digest, Vec<Reference>)], out: impl Write) -> Result<()> {
        let mut tar = tar::Builder::new(out);
        let mut manifest = Vec::new();
        let mut repositories: Map<String, Value> = Map::new();
        let mut written_layers: Vec<String> = Vec::new();
        let io_err =
            |e: io::Error| ImageError::Store(berth_store::StoreError::io("write", "archive", e));
        for (id, tags) in images {
            let img = self
                .get(id)
                .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
            let mtime = img.created_unix().max(0) as u64;
            let config_bytes = self.content.read(id)?;
            append_bytes(
                &mut tar,
                &format!("{}.json", id.hex()),
                &config_bytes,
                mtime,
            )
            .map_err(io_err)?;
            let mut layer_paths = Vec::new();
            let mut parent_dir: Option<String> = None;
            for (i, chain) in img.chain_ids.iter().enumerate() {
                let dir = chain.hex().to_string();
                if !written_layers.contains(&dir) {
                    let mut v1 = json!({"id": dir, "created": "1970-01-01T00:00:00Z", "container_config": {"Cmd": null}});
                    if let Some(p) = &parent_dir {
                        v1["parent"] = json!(p);
                    }
                    append_dir(&mut tar, &dir, mtime).map_err(io_err)?;
                    append_bytes(&mut tar, &format!("{dir}/VERSION"), b"1.0", mtime)
                        .map_err(io_err)?;
                    append_bytes(
                        &mut tar,
                        &format!("{dir}/json"),
                        v1.to_string().as_bytes(),
                        mtime,
                    )
                    .map_err(io_err)?;
                    let blob = self.content.path(&img.diff_ids[i]);
                    let mut f = self.content.open_blob(&img.diff_ids[i])?;
                    let len = f.metadata().map_err(io_err)?.len();
                    let mut h = tar::Header::new_ustar();
                    h.set_size(len);
                    h.set_mode(0o644);
                    h.set_mtime(mtime);
                    h.set_entry_type(tar::EntryType::Regular);
                    tar.append_data(&mut h, format!("{dir}/layer.tar"), &mut f)
                        .map_err(|e| {
                            ImageError::Store(berth_store::StoreError::io("read", blob, e))
                        })?;
                    written_layers.push(dir.clone());
                }
                layer_paths.push(format!("{dir}/layer.tar"));
                parent_dir = Some(dir);
            }
            let repo_tags: Vec<String> = tags.iter().map(|t| t.familiar_string()).collect();
            for t in tags {
                if let (Some(tag), Some(top)) = (t.tag(), &parent_dir) {
                    let e = repositories
                        .entry(t.familiar_name())
                        .or_insert_with(|| json!({}));
                    e[tag] = json!(top);
                }
            }
            manifest.push(json!({
                "Config": format!("{}.json", id.hex()),
                "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
                "Layers": layer_paths,
            }));
            self.emit("save", id, &id.to_string(), &img.labels());
        }
        let now = Utc::now().timestamp().max(0) as u64;
        append_bytes(
            &mut tar,
            "manifest.json",
            Value::Array(manifest).to_string().as_bytes(),
            now,
        )
        .map_err(io_err)?;
        if !repositories.is_empty() {
            append_bytes(
                &mut tar,
                "repositories",
                Value::Object(repositories).to_string().as_bytes(),
                now,
            )
            .map_err(io_err)?;
        }
        tar.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
        Ok(())
    }
}

fn is_id_like(id: &Digest, name: &str) -> bool {
    let n = name.strip_prefix("sha256:").unwrap_or(name);
    n.len() >= 12 && id.hex().starts_with(n) || name == id.to_string()
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str, mtime: u64) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Directory);
    tar.append_data(&mut h, format!("{name}/"), io::empty())
}

/// Docker's `docker save` manifest: `[{"Config": …, "RepoTags": […], "Layers": […]}]`.
fn docker_manifest(spool: &Spool) -> Result<Vec<Candidate>> {
    let m = spool.json("manifest.json")?;
    let entries = m
        .as_array()
        .ok_or_else(|| ImageError::InvalidArchive("manifest.json is not a list".into()))?;
    let mut out = Vec::new();
    for e in entries {
        let config_name = e.get("Config").and_then(Value::as_str).ok_or_else(|| {
            ImageError::InvalidArchive("manifest.json entry without Config".into())
        })?;
        let config = spool.bytes(config_name)?;
        let layers = e
            .get("Layers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|l| l.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or(Some(Vec::new()))
            .ok_or_else(|| {
                ImageError::InvalidArchive("manifest.json has a non-string layer".into())
            })?;
        let mut tags = Vec::new();
        if let Some(rt) = e.get("RepoTags").and_then(Value::as_array) {
            for t in rt {
                let s = t.as_str().ok_or_else(|| {
                    ImageError::InvalidArchive("RepoTags holds a non-string".into())
                })?;
                let r = Reference::parse_normalized(s)?;
                if r.tag().is_none() {
                    return Err(ImageError::InvalidArchive(format!("invalid tag {s:?}")));
                }
                tags.push(r);
            }
        }
        out.push(Candidate {
            config,
            layers,
            tags,
        });
    }
    Ok(out)
}

/// An OCI image layout: `index.json` → manifest (possibly through nested indexes).
fn oci_index(spool: &Spool) -> Result<Vec<Candidate>> {
    let index = spool.json("index.json")?;
    let mut out = Vec::new();
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| ImageError::InvalidArchive("index.json has no manifests".into()))?;
    for desc in manifests {
        let ann = desc.get("annotations");
        let name = ann
            .and_then(|a| a.get("io.containerd.image.name"))
            .and_then(Value::as_str)
            .or_else(|| {
                ann.and_then(|a| a.get("org.opencontainers.image.ref.name"))
                    .and_then(Value::as_str)
            });
        let tags = match name {
            // A bare tag (`latest`) names no repository: the image loads untagged.
            Some(n) if n.contains('/') || n.contains(':') => {
                let r = Reference::parse_normalized(n)?;
                if r.tag().is_some() {
                    vec![r]
                } else {
                    Vec::new()
                }
            }
            Some(n) => match Reference::parse_normalized(n) {
                Ok(r) if r.tag().is_some() => vec![r],
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let manifest = resolve_manifest(spool, desc, 0)?;
        let config_digest = descriptor_digest(manifest.get("config"))?;
        let config = spool.bytes(&blob_path(&config_digest))?;
        if Digest::of(&config) != config_digest {
            return Err(ImageError::InvalidArchive(format!(
                "config blob does not match its digest {config_digest}"
            )));
        }
        let mut layers = Vec::new();
        for l in manifest
            .get("layers")
            .and_then(Value::as_array)
            .unwrap_or(&Vec::new())
        {
            let d = descriptor_digest(Some(l))?;
            let (_, actual, _) = spool.get(&blob_path(&d))?;
            if *actual != d {
                return Err(ImageError::InvalidArchive(format!(
                    "layer blob does not match its digest {d}"
                )));
            }
            layers.push(blob_path(&d));
        }
        out.push(Candidate {
            config,
            layers,
            tags,
        });
    }
    Ok(out)
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn descriptor_digest(desc: Option<&Value>) -> Result<Digest> {
    desc.and_then(|d| d.get("digest"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ImageError::InvalidArchive("descriptor without a valid sha256 digest".into())
        })
}

/// Follows an index descriptor down to an image manifest for this platform.
fn resolve_manifest(spool: &Spool, desc: &Value, depth: u32) -> Result<Value> {
    if depth > 4 {
        return Err(ImageError::InvalidArchive("nested indexes too deep".into()));
    }
    let d = descriptor_digest(Some(desc))?;
    let data = spool.bytes(&blob_path(&d))?;
    if Digest::of(&data) != d {
        return Err(ImageError::InvalidArchive(format!(
            "manifest blob does not match its digest {d}"
        )));
    }
    let doc: Value = serde_json::from_slice(&data)
        .map_err(|e| ImageError::InvalidArchive(format!("manifest {d}: {e}")))?;
    if let Some(list) = doc.get("manifests").and_then(Value::as_array) {
        let arch = go_arch();
        let pick = list
            .iter()
            .find(|m| {
                let p = m.get("platform");
                p.and_then(|p| p.get("architecture"))
                    .and_then(Value::as_str)
                    == Some(arch)
                    && p.and_then(|p| p.get("os")).and_then(Value::as_str) == Some("linux")
            })
            .or_else(|| list.first())
            .ok_or_else(|| ImageError::InvalidArchive("empty image index".into()))?;
        return resolve_manifest(spool, pick, depth + 1);
    }
    Ok(doc)
}

/// Go's name for this machine's architecture, as image configs spell it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The `config` object Docker writes for imported images: every key present.
pub fn default_container_config() -> Map<String, Value> {
    let v = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("literal object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_cleaned_and_escapes_refused() {
        assert_eq!(clean_archive_path("./a//b.json").unwrap(), "a/b.json");
        assert!(clean_archive_path("../etc/passwd").is_err());
        assert!(clean_archive_path("/etc/passwd").is_err());
        assert_eq!(clean_lexically("a/../b/layer.tar").unwrap(), "b/layer.tar");
        assert!(clean_lexically("a/../../x").is_err());
    }
}
