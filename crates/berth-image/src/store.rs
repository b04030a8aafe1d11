//! The image store: image records, tags, and the rules Docker applies to them.
//!
//! On-disk layout under `<data-root>`:
//! - `content/blobs/sha256/<hex>`: image configs and uncompressed layer tars (kept so
//!   `save` reproduces every layer byte for byte and so its diff id);
//! - `layers/<n>/{diff,layer.json}`: unpacked layers, shared by all images;
//! - `images/<hex>.json`: one record per image; `repositories.json`: the tags.
//!
//! Write order makes every crash point consistent: blobs, then layers, then the image
//! record, then tags. Deletion runs the other way. At startup anything not reachable
//! from a tag or image record is collected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_oci::{chain_ids, Digest, Reference};
use berth_store::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::content::ContentStore;
use crate::error::{ImageError, Result};
use crate::layers::{LayerInfo, LayerStore};

const RECORD_SCHEMA: u32 = 1;

/// An image known to the store.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: Digest,
    /// The whole config document, exactly as stored (its digest is the id).
    pub config: Arc<Value>,
    pub diff_ids: Vec<Digest>,
    pub chain_ids: Vec<Digest>,
    pub parent: Option<Digest>,
    /// Sum of this image's layer sizes.
    pub size: u64,
    pub last_tag_time: Option<DateTime<Utc>>,
}

impl Image {
    /// The `config` object inside the config document (Cmd, Env, Labels …).
    pub fn container_config(&self) -> Option<&Map<String, Value>> {
        self.config.get("config").and_then(Value::as_object)
    }

    pub fn labels(&self) -> Map<String, Value> {
        self.container_config()
            .and_then(|c| c.get("Labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Seconds since the epoch of the config's `created`, 0 when absent.
    pub fn created_unix(&self) -> i64 {
        self.created().map(|t| t.timestamp()).unwrap_or(0)
    }

    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.config
            .get("created")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ImageRecord {
    schema: u32,
    id: Digest,
    #[serde(default)]
    parent: Option<Digest>,
    #[serde(default)]
    last_tag_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RefsFile {
    schema: u32,
    refs: BTreeMap<String, Digest>,
}

/// A container that uses an image, as the delete rules need to know.
#[derive(Debug, Clone)]
pub struct ImageUser {
    pub container_id: String,
    pub running: bool,
}

/// One line of a delete answer: `{"Untagged": …}` or `{"Deleted": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

/// An image history entry, newest first, as `GET /images/{name}/history` returns it.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

/// Called for every image event (action, image id, name attribute, image labels).
pub type EventSink = Box<dyn Fn(&str, &Digest, &str, &Map<String, Value>) + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) layers: LayerStore,
    pub(crate) images: HashMap<Digest, Image>,
    refs: BTreeMap<String, Digest>,
    /// Chain ids and blob digests in use by operations under way; GC leaves them alone.
    leases: HashMap<Digest, usize>,
}

pub struct ImageStore {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) content: ContentStore,
    images_dir: PathBuf,
    refs_path: PathBuf,
    layers_root: PathBuf,
    events: EventSink,
}

/// Where a new image's layer tars come from.
pub(crate) struct LayerBlob {
    pub diff_id: Digest,
    /// A file of the uncompressed tar, to move into the content store (same filesystem),
    /// or `None` when the blob is already stored.
    pub file: Option<PathBuf>,
}

impl ImageStore {
    pub fn open(data_root: &Path, events: EventSink) -> Result<ImageStore> {
        let content = ContentStore::open(&data_root.join("content"))?;
        let layers_root = data_root.join("layers");
        let layers = LayerStore::open(&layers_root)?;
        let images_dir = data_root.join("images");
        berth_store::create_dir_all_durable(&images_dir)?;
        berth_store::sweep_temporaries(&images_dir)?;
        berth_store::sweep_temporaries(data_root)?;
        let refs_path = data_root.join("repositories.json");
        let refs_file: RefsFile = match berth_store::read_json(&refs_path) {
            Ok(r) => r,
            Err(e) if e.is_not_found() => RefsFile::default(),
            Err(e) => return Err(e.into()),
        };
        let store = ImageStore {
            inner: Mutex::new(Inner {
                layers,
                images: HashMap::new(),
                refs: refs_file.refs,
                leases: HashMap::new(),
            }),
            content,
            images_dir,
            refs_path,
            layers_root,
            events,
        };
        store.load_records()?;
        Ok(store)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves in-memory state that disk can rebuild;
        // keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, action: &str, id: &Digest, name: &str, labels: &Map<String, Value>) {
        (self.events)(action, id, name, labels);
    }

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.images_dir.join(format!("{}.json", id.hex()))
    }

    /// Rebuilds the in-memory index from disk, dropping records whose content is gone,
    /// then collects unreferenced layers and blobs.
    fn load_records(&self) -> Result<()> {
        let mut inner = self.lock();
        let entries = fs::read_dir(&self.images_dir)
            .map_err(|e| StoreError::io("readdir", &self.images_dir, e))?;
        for e in entries {
            let e = e.map_err(|e| StoreError::io("readdir", &self.images_dir, e))?;
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match self.read_image(&inner.layers, &path) {
                Ok(img) => {
                    inner.images.insert(img.id.clone(), img);
                }
                Err(err) => {
                    tracing::warn!(record = %path.display(), error = %err, "dropping an image record whose content is incomplete");
                    berth_store::remove_file_durable(&path)?;
                }
            }
        }
        let before = inner.refs.len();
        let Inner { refs, images, .. } = &mut *inner;
        refs.retain(|_, id| images.contains_key(id));
        if refs.len() != before {
            self.save_refs(&inner)?;
        }
        self.collect_garbage(&mut inner, None)?;
        Ok(())
    }

    fn read_image(&self, layers: &LayerStore, path: &Path) -> Result<Image> {
        let rec: ImageRecord = berth_store::read_json(path)?;
        let config_bytes = self.content.read(&rec.id)?;
        let mut img = parse_image(&rec.id, &config_bytes)?;
        for ch in &img.chain_ids {
            if !layers.contains(ch) {
                return Err(ImageError::InvalidArchive(format!("layer {ch} is missing")));
            }
        }
        img.size = img
            .chain_ids
            .iter()
            .filter_map(|c| layers.get(c))
            .map(|l| l.size)
            .sum();
        img.parent = rec.parent;
        img.last_tag_time = rec.last_tag_time;
        Ok(img)
    }

    fn save_refs(&self, inner: &Inner) -> Result<()> {
        let file = RefsFile {
            schema: RECORD_SCHEMA,
            refs: inner.refs.clone(),
        };
        berth_store::write_json(&self.refs_path, &file)?;
        Ok(())
    }

    fn write_record(&self, img: &Image) -> Result<()> {
        let rec = ImageRecord {
            schema: RECORD_SCHEMA,
            id: img.id.clone(),
            parent: img.parent.clone(),
            last_tag_time: img.last_tag_time,
        };
        berth_store::write_json(&self.record_path(&img.id), &rec)?;
        Ok(())
    }

    // ---- look-ups -------------------------------------------------------------------

    /// Resolves what a user typed to an image id, in Docker's order: full id, reference,
    /// then unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        let inner = self.lock();
        resolve_in(&inner, name)
    }

    pub fn get(&self, id: &Digest) -> Option<Image> {
        self.lock().images.get(id).cloned()
    }

    pub fn lookup(&self, name: &str) -> Result<Image> {
        let inner = self.lock();
        let id = resolve_in(&inner, name)?;
        Ok(inner.images[&id].clone())
    }

    pub fn list(&self) -> Vec<Image> {
        self.lock().images.values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().images.len()
    }

    /// All references (tags and digests) pointing at `id`.
    pub fn references(&self, id: &Digest) -> Vec<Reference> {
        references_in(&self.lock(), id)
    }

    /// Image ids that have `id` as parent.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        self.lock()
            .images
            .values()
            .filter(|i| i.parent.as_ref() == Some(id))
            .map(|i| i.id.clone())
            .collect()
    }

    pub fn layer(&self, chain: &Digest) -> Option<LayerInfo> {
        self.lock().layers.get(chain).cloned()
    }

    /// Unpacked layer directories of an image, top layer first (overlay `lowerdir` order).
    pub fn layer_dirs(&self, id: &Digest) -> Result<Vec<PathBuf>> {
        let inner = self.lock();
        let img = inner
            .images
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let mut dirs = Vec::new();
        for ch in img.chain_ids.iter().rev() {
            dirs.push(
                inner
                    .layers
                    .diff_dir(ch)
                    .ok_or_else(|| ImageError::NotFound(ch.to_string()))?,
            );
        }
        Ok(dirs)
    }

    /// Total bytes of all unpacked layers, each counted once.
    pub fn layers_size(&self) -> u64 {
        self.lock().layers.all().map(|l| l.size).sum()
    }

    /// Size the image has in common with other images (layers used by more than one image).
    pub fn shared_size(&self, id: &Digest) -> u64 {
        let inner = self.lock();
        let Some(img) = inner.images.get(id) else {
            return 0;
        };
        img.chain_ids
            .iter()
            .filter(|ch| {
                inner
                    .images
                    .values()
                    .filter(|o| o.id != *id)
                    .any(|o| o.chain_ids.contains(ch))
            })
            .filter_map(|ch| inner.layers.get(ch))
            .map(|l| l.size)
            .sum()
    }

    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let inner = self.lock();
        let id = resolve_in(&inner, name)?;
        let img = &inner.images[&id];
        let mut items = Vec::new();
        let mut layer_i = 0usize;
        let empty = Vec::new();
        let hist = img
            .config
            .get("history")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        for h in hist {
            let empty_layer = h
                .get("empty_layer")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut size = 0;
            if !empty_layer {
                if let Some(ch) = img.chain_ids.get(layer_i) {
                    size = inner.layers.get(ch).map(|l| l.size).unwrap_or(0);
                }
                layer_i += 1;
            }
            let created = h
                .get("created")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp())
                .unwrap_or(0);
            items.push(HistoryItem {
                id: "<missing>".into(),
                created,
                created_by: h
                    .get("created_by")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                tags: Vec::new(),
                size,
                comment: h
                    .get("comment")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
            });
        }
        items.reverse();
        // Docker labels entries top-down with the ids of the image and its local parents.
        let mut cur = Some(id);
        for item in items.iter_mut() {
            let Some(cid) = cur else { break };
            item.id = cid.to_string();
            item.tags = references_in(&inner, &cid)
                .into_iter()
                .filter(|r| r.tag().is_some())
                .map(|r| r.familiar_string())
                .collect();
            cur = inner
                .images
                .get(&cid)
                .and_then(|i| i.parent.clone())
                .filter(|p| inner.images.contains_key(p));
        }
        Ok(items)
    }

    // ---- tags -----------------------------------------------------------------------

    /// `docker tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        let target = target.clone().with_default_tag();
        if target.digest().is_some() {
            return Err(ImageError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let mut inner = self.lock();
        let id = resolve_in(&inner, source)?;
        self.set_ref(&mut inner, &target, &id)?;
        let labels = inner.images[&id].labels();
        drop(inner);
        self.emit("tag", &id, &target.familiar_string(), &labels);
        Ok(())
    }

    /// Points `r` at `id`, returning the image it pointed at before, if another.
    pub(crate) fn set_ref(
        &self,
        inner: &mut Inner,
        r: &Reference,
        id: &Digest,
    ) -> Result<Option<Digest>> {
        let key = r.to_string();
        let old = inner.refs.insert(key, id.clone()).filter(|o| o != id);
        let now = Utc::now();
        if let Some(img) = inner.images.get_mut(id) {
            img.last_tag_time = Some(now);
        }
        let img = inner.images[id].clone();
        self.write_record(&img)?;
        self.save_refs(inner)?;
        Ok(old)
    }

    // ---- adding images --------------------------------------------------------------

    /// Adds an image whose config is `config_bytes` and whose layer tars are `blobs`
    /// (bottom first). Layers already present are reused. Returns the image id and
    /// whether it was new.
    pub(crate) fn add_image(
        &self,
        config_bytes: &[u8],
        blobs: Vec<LayerBlob>,
        parent: Option<Digest>,
    ) -> Result<(Digest, bool)> {
        let id = Digest::of(config_bytes);
        let img = parse_image(&id, config_bytes)?;
        let given: Vec<&Digest> = blobs.iter().map(|b| &b.diff_id).collect();
        if img.diff_ids.iter().collect::<Vec<_>>() != given {
            return Err(ImageError::InvalidArchive(format!(
                "the image config lists {} layer digest(s) that do not match the {} layer(s) in the archive",
                img.diff_ids.len(),
                blobs.len()
            )));
        }
        let mut leased: Vec<Digest> = img
            .chain_ids
            .iter()
            .chain(img.diff_ids.iter())
            .cloned()
            .collect();
        leased.push(id.clone());
        // The first chain id is the first diff id: lease each digest once.
        leased.sort();
        leased.dedup();
        self.lease(&leased);
        let result = self.add_image_leased(img, config_bytes, blobs, parent);
        if result.is_err() {
            self.discard_unreferenced(&leased);
        }
        self.unlease(&leased);
        result.map(|new| (id, new))
    }

    fn add_image_leased(
        &self,
        mut img: Image,
        config_bytes: &[u8],
        blobs: Vec<LayerBlob>,
        parent: Option<Digest>,
    ) -> Result<bool> {
        // 1. blobs (content addressed, harmless if a crash leaves them: GC collects them)
        for b in &blobs {
            if let Some(f) = &b.file {
                self.content.adopt(f, &b.diff_id)?;
            }
        }
        // 2. layers, unpacked outside the lock
        for (i, chain) in img.chain_ids.iter().enumerate() {
            if self.lock().layers.contains(chain) {
                continue;
            }
            let tar = self.content.open_blob(&img.diff_ids[i])?;
            let prepared = LayerStore::prepare(&self.layers_root, std::io::BufReader::new(tar))?;
            let parent_chain = if i == 0 {
                None
            } else {
                Some(img.chain_ids[i - 1].clone())
            };
            self.lock().layers.commit(
                prepared,
                chain.clone(),
                img.diff_ids[i].clone(),
                parent_chain,
            )?;
        }
        // 3. config blob and image record
        self.content.put(config_bytes)?;
        let mut inner = self.lock();
        if inner.images.contains_key(&img.id) {
            return Ok(false);
        }
        img.size = img
            .chain_ids
            .iter()
            .filter_map(|c| inner.layers.get(c))
            .map(|l| l.size)
            .sum();
        img.parent = parent.filter(|p| inner.images.contains_key(p));
        self.write_record(&img)?;
        inner.images.insert(img.id.clone(), img);
        Ok(true)
    }

    /// After a failed add: removes the layers and blobs it stored that nothing else
    /// refers to (nor another operation leases), so a refused archive leaves no trace.
    fn discard_unreferenced(&self, digests: &[Digest]) {
        let mut inner = self.lock();
        let used: HashSet<&Digest> = inner
            .images
            .values()
            .flat_map(|i| {
                i.chain_ids
                    .iter()
                    .chain(i.diff_ids.iter())
                    .chain(std::iter::once(&i.id))
            })
            .collect();
        let dead: Vec<Digest> = digests
            .iter()
            .filter(|d| !used.contains(d) && inner.leases.get(*d).copied().unwrap_or(0) <= 1)
            .cloned()
            .collect();
        for d in dead {
            if let Err(e) = inner
                .layers
                .remove(&d)
                .and_then(|()| self.content.delete(&d))
            {
                tracing::warn!(digest = %d, error = %e, "could not discard content of a failed image add");
            }
        }
    }

    pub(crate) fn lease(&self, digests: &[Digest]) {
        let mut inner = self.lock();
        for d in digests {
            *inner.leases.entry(d.clone()).or_default() += 1;
        }
    }

    pub(crate) fn unlease(&self, digests: &[Digest]) {
        let mut inner = self.lock();
        for d in digests {
            if let Some(n) = inner.leases.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    inner.leases.remove(d);
                }
            }
        }
    }

    // ---- deleting -------------------------------------------------------------------

    /// `DELETE /images/{name}` with Docker's rules for untagging versus deleting.
    /// `users` tells which containers use an image.
    pub fn delete(
        &self,
        name: &str,
        force: bool,
        prune: bool,
        users: &dyn Fn(&Digest) -> Vec<ImageUser>,
    ) -> Result<Vec<DeleteItem>> {
        let mut inner = self.lock();
        let id = resolve_in(&inner, name)?;
        let mut records = Vec::new();
        let mut events: Vec<(&'static str, Digest, String)> = Vec::new();
        let by_id = is_id_prefix(&id, name);
        let mut quiet = false;

        if !by_id {
            let given = Reference::parse_normalized(name)?.with_default_tag();
            let repo_refs = references_in(&inner, &id);
            if !force && is_single_reference(&repo_refs) {
                if let Some(u) = users(&id).first() {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        short(&u.container_id),
                        id.short()
                    )));
                }
            }
            inner.refs.remove(&given.to_string());
            records.push(DeleteItem::Untagged(given.familiar_string()));
            events.push(("untag", id.clone(), id.to_string()));
            let mut remaining = references_in(&inner, &id);
            // A tag was removed and only digest references of the same repository remain:
            // drop those too so they do not keep the image alive.
            if given.digest().is_none()
                && !remaining
                    .iter()
                    .any(|r| r.digest().is_none() && r.name() == given.name())
            {
                for r in remaining
                    .iter()
                    .filter(|r| r.digest().is_some() && r.name() == given.name())
                {
                    inner.refs.remove(&r.to_string());
                    records.push(DeleteItem::Untagged(r.familiar_string()));
                    events.push(("untag", id.clone(), id.to_string()));
                }
                remaining = references_in(&inner, &id);
            }
            self.save_refs(&inner)?;
            if !remaining.is_empty() {
                drop(inner);
                self.emit_all(&events);
                return Ok(records);
            }
            quiet = true;
        } else {
            let repo_refs = references_in(&inner, &id);
            if is_single_reference(&repo_refs) {
                let mut mask = Conflicts::HARD;
                if !force {
                    mask |= Conflicts::STOPPED;
                }
                if let Some(c) = check_conflicts(&inner, &id, mask, users) {
                    return Err(c.into_error(&id));
                }
                for r in repo_refs {
                    inner.refs.remove(&r.to_string());
                    records.push(DeleteItem::Untagged(r.familiar_string()));
                    events.push(("untag", id.clone(), id.to_string()));
                }
                self.save_refs(&inner)?;
            }
        }
        let result = self.delete_helper(
            &mut inner,
            &id,
            force,
            prune,
            quiet,
            users,
            &mut records,
            &mut events,
        );
        drop(inner);
        self.emit_all(&events);
        result.map(|()| records)
    }

    fn emit_all(&self, events: &[(&'static str, Digest, String)]) {
        for (action, id, name) in events {
            self.emit(action, id, name, &Map::new());
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_helper(
        &self,
        inner: &mut Inner,
        id: &Digest,
        force: bool,
        prune: bool,
        quiet: bool,
        users: &dyn Fn(&Digest) -> Vec<ImageUser>,
        records: &mut Vec<DeleteItem>,
        events: &mut Vec<(&'static str, Digest, String)>,
    ) -> Result<()> {
        let mut mask = Conflicts::HARD;
        if !force {
            mask |= Conflicts::SOFT;
        }
        if let Some(c) = check_conflicts(inner, id, mask, users) {
            let dangling = references_in(inner, id).is_empty();
            if quiet && (!dangling || c.used) {
                return Ok(());
            }
            return Err(c.into_error(id));
        }
        let parent = inner.images.get(id).and_then(|i| i.parent.clone());
        for r in references_in(inner, id) {
            inner.refs.remove(&r.to_string());
            records.push(DeleteItem::Untagged(r.familiar_string()));
            events.push(("untag", id.clone(), id.to_string()));
        }
        self.save_refs(inner)?;
        // The record goes first: without it the layers are garbage, never a broken image.
        berth_store::remove_file_durable(&self.record_path(id))?;
        let img = inner.images.remove(id).expect("resolved above");
        events.push(("delete", id.clone(), id.to_string()));
        records.push(DeleteItem::Deleted(id.to_string()));
        let removed = self.collect_garbage(inner, Some(&img))?;
        records.extend(
            removed
                .into_iter()
                .map(|c| DeleteItem::Deleted(c.to_string())),
        );
        if prune {
            if let Some(p) = parent.filter(|p| inner.images.contains_key(p)) {
                return self.delete_helper(inner, &p, false, true, true, users, records, events);
            }
        }
        Ok(())
    }

    /// Removes layers and blobs no image or lease refers to. With `focus`, only that
    /// image's layers are considered (and the removed chain ids returned top-down, as
    /// Docker reports them); without, everything is swept (startup).
    fn collect_garbage(&self, inner: &mut Inner, focus: Option<&Image>) -> Result<Vec<Digest>> {
        let mut live_chains: HashSet<&Digest> = HashSet::new();
        let mut live_blobs: HashSet<&Digest> = HashSet::new();
        for img in inner.images.values() {
            live_chains.extend(img.chain_ids.iter());
            live_blobs.extend(img.diff_ids.iter());
            live_blobs.insert(&img.id);
        }
        let candidates: Vec<Digest> = match focus {
            Some(img) => img.chain_ids.iter().rev().cloned().collect(),
            None => inner.layers.all().map(|l| l.chain_id.clone()).collect(),
        };
        let dead_chains: Vec<Digest> = candidates
            .into_iter()
            .filter(|c| {
                !live_chains.contains(c)
                    && !inner.leases.contains_key(c)
                    && inner.layers.contains(c)
            })
            .collect();
        let dead_blobs: Vec<Digest> = match focus {
            Some(img) => std::iter::once(&img.id)
                .chain(img.diff_ids.iter())
                .filter(|d| !live_blobs.contains(d) && !inner.leases.contains_key(d))
                .cloned()
                .collect(),
            None => self
                .content
                .list()?
                .into_iter()
                .filter(|d| !live_blobs.contains(d) && !inner.leases.contains_key(d))
                .collect(),
        };
        for c in &dead_chains {
            inner.layers.remove(c)?;
        }
        for b in &dead_blobs {
            self.content.delete(b)?;
        }
        Ok(dead_chains)
    }

    /// `POST /images/prune`: removes dangling images (all unused ones with `all`) that
    /// `keep` does not protect. Returns the delete records and bytes reclaimed.
    pub fn prune(
        &self,
        all: bool,
        matches: &dyn Fn(&Image) -> bool,
        users: &dyn Fn(&Digest) -> Vec<ImageUser>,
    ) -> Result<(Vec<DeleteItem>, u64)> {
        let mut inner = self.lock();
        let before: u64 = inner.layers.all().map(|l| l.size).sum();
        let heads: Vec<Digest> = inner
            .images
            .values()
            .filter(|i| {
                !inner
                    .images
                    .values()
                    .any(|o| o.parent.as_ref() == Some(&i.id))
            })
            .filter(|i| all || references_in(&inner, &i.id).is_empty())
            .filter(|i| users(&i.id).is_empty())
            .filter(|i| matches(i))
            .map(|i| i.id.clone())
            .collect();
        let mut records = Vec::new();
        let mut events = Vec::new();
        for id in heads {
            if !inner.images.contains_key(&id) {
                continue;
            }
            let mut these = Vec::new();
            // force: tags on the image are what --all is meant to remove
            match self.delete_helper(
                &mut inner,
                &id,
                all,
                true,
                false,
                users,
                &mut these,
                &mut events,
            ) {
                Ok(()) => records.extend(these),
                Err(ImageError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let after: u64 = inner.layers.all().map(|l| l.size).sum();
        drop(inner);
        self.emit_all(&events);
        Ok((records, before.saturating_sub(after)))
    }
}

/// Parses a config document into an [`Image`] (sizes and parent filled in by the caller).
pub(crate) fn parse_image(id: &Digest, config_bytes: &[u8]) -> Result<Image> {
    let config: Value = serde_json::from_slice(config_bytes).map_err(|e| {
        ImageError::InvalidArchive(format!("image config {id} is not valid JSON: {e}"))
    })?;
    if !config.is_object() {
        return Err(ImageError::InvalidArchive(format!(
            "image config {id} is not a JSON object"
        )));
    }
    let diff_ids = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|d| d.as_str().and_then(|s| s.parse::<Digest>().ok()))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(Some(Vec::new()))
        .ok_or_else(|| {
            ImageError::InvalidArchive(format!("image config {id} has an invalid rootfs.diff_ids"))
        })?;
    let chain_ids = chain_ids(&diff_ids);
    Ok(Image {
        id: id.clone(),
        config: Arc::new(config),
        diff_ids,
        chain_ids,
        parent: None,
        size: 0,
        last_tag_time: None,
    })
}

fn resolve_in(inner: &Inner, name: &str) -> Result<Digest> {
    if let Ok(d) = name.parse::<Digest>() {
        return if inner.images.contains_key(&d) {
            Ok(d)
        } else {
            Err(ImageError::NotFound(name.to_string()))
        };
    }
    let parsed = Reference::parse_normalized(name);
    if let Ok(r) = &parsed {
        let r = r.clone().with_default_tag();
        if let Some(id) = inner.refs.get(&r.to_string()) {
            return Ok(id.clone());
        }
    }
    // A short id: hex digits (optionally after "sha256:"), unique among images.
    let hexpart = name.strip_prefix("sha256:").unwrap_or(name);
    if !hexpart.is_empty()
        && hexpart.len() <= 64
        && hexpart
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        let mut found = inner.images.keys().filter(|k| k.hex().starts_with(hexpart));
        if let Some(first) = found.next() {
            if found.next().is_some() {
                return Err(ImageError::InvalidArgument(format!(
                    "ambiguous image id prefix {name}"
                )));
            }
            return Ok(first.clone());
        }
    }
    match parsed {
        Ok(r) => Err(ImageError::NotFound(r.with_default_tag().familiar_string())),
        Err(_) if hexpart.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(ImageError::NotFound(name.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

fn references_in(inner: &Inner, id: &Digest) -> Vec<Reference> {
    inner
        .refs
        .iter()
        .filter(|(_, v)| *v == id)
        .filter_map(|(k, _)| Reference::parse_full(k).ok())
        .collect()
}

fn short(id: &str) -> &str {
    let s = id.strip_prefix("sha256:").unwrap_or(id);
    &s[..s.len().min(12)]
}

/// Docker's `isImageIDPrefix`: the user named the image by (a prefix of) its id.
fn is_id_prefix(id: &Digest, name: &str) -> bool {
    let n = name.strip_prefix("sha256:").unwrap_or(name);
    !n.is_empty() && id.hex().starts_with(n)
}

/// Docker's `isSingleReference`: at most one tag, and all digest references in its repo.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical: HashSet<String> = HashSet::new();
    for r in refs {
        if r.digest().is_some() {
            canonical.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    canonical.len() == 1 && canonical.contains(&single.name())
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Conflicts(u8);

impl Conflicts {
    const DEPENDENT_CHILD: Conflicts = Conflicts(1);
    const RUNNING: Conflicts = Conflicts(2);
    const ACTIVE_REFERENCE: Conflicts = Conflicts(4);
    const STOPPED: Conflicts = Conflicts(8);
    const HARD: Conflicts = Conflicts(1 | 2);
    const SOFT: Conflicts = Conflicts(4 | 8);
    fn has(self, o: Conflicts) -> bool {
        self.0 & o.0 != 0
    }
}

impl std::ops::BitOrAssign for Conflicts {
    fn bitor_assign(&mut self, o: Conflicts) {
        self.0 |= o.0;
    }
}

struct Conflict {
    hard: bool,
    used: bool,
    message: String,
}

impl Conflict {
    fn into_error(self, id: &Digest) -> ImageError {
        let force = if self.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        ImageError::Conflict(format!(
            "conflict: unable to delete {} ({force}) - {}",
            id.short(),
            self.message
        ))
    }
}

fn check_conflicts(
    inner: &Inner,
    id: &Digest,
    mask: Conflicts,
    users: &dyn Fn(&Digest) -> Vec<ImageUser>,
) -> Option<Conflict> {
    if mask.has(Conflicts::DEPENDENT_CHILD)
        && inner.images.values().any(|i| i.parent.as_ref() == Some(id))
    {
        return Some(Conflict {
            hard: true,
            used: false,
            message: "image has dependent child images".into(),
        });
    }
    let us = users(id);
    if mask.has(Conflicts::RUNNING) {
        if let Some(u) = us.iter().find(|u| u.running) {
            return Some(Conflict {
                hard: true,
                used: true,
                message: format!(
                    "image is being used by running container {}",
                    short(&u.container_id)
                ),
            });
        }
    }
    // Any reference at all (Docker's rule): pruning the parent of a deleted image stops
    // at a tagged one.
    if mask.has(Conflicts::ACTIVE_REFERENCE) && !references_in(inner, id).is_empty() {
        return Some(Conflict {
            hard: false,
            used: false,
            message: "image is referenced in multiple repositories".into(),
        });
    }
    if mask.has(Conflicts::STOPPED) {
        if let Some(u) = us.iter().find(|u| !u.running) {
            return Some(Conflict {
                hard: false,
                used: true,
                message: format!(
                    "image is being used by stopped container {}",
                    short(&u.container_id)
                ),
            });
        }
    }
    None
}
