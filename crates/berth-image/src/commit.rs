//! `docker commit`: a new image from a container's writable layer on top of its image.
//!
//! The image config is Docker's for a commit (`NewChildImage`): the parent's rootfs and
//! history with one more entry, the committed `config`, the container's id and config
//! (`container`, `container_config`), `author` and `docker_version`. A writable layer
//! with nothing in it adds no layer; its history entry is then marked `empty_layer`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use berth_oci::{Digest, Reference};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::archive::go_arch;
use crate::error::{ImageError, Result};
use crate::store::{ImageStore, LayerBlob};

/// The diff id of a tar with no entries (its two end blocks): Docker's empty layer.
pub const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Everything a commit records besides the layer itself.
#[derive(Debug, Clone)]
pub struct CommitRequest<'a> {
    /// The container's image (`None` for a container of no image).
    pub parent: Option<&'a Digest>,
    /// The new image's `config`: the container's, overridden and changed as the caller
    /// decided (see [`merge_commit_config`]).
    pub config: Map<String, Value>,
    /// The container's own config, kept as `container_config`.
    pub container_config: Map<String, Value>,
    pub container_id: &'a str,
    pub author: &'a str,
    pub comment: &'a str,
    /// `created_by` of the history entry (Docker: the container's `Cmd` joined by spaces).
    pub created_by: String,
    pub docker_version: &'a str,
    /// Tagged through the store's tag path (a `tag` event) once the image exists.
    pub tag: Option<&'a Reference>,
}

/// Docker's `container.Config` keys in its field order (how it serialises them).
const CONFIG_KEYS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// Keys Docker omits when empty (`omitempty`); the others are always written.
const OMIT_EMPTY: &[&str] = &[
    "ExposedPorts",
    "Healthcheck",
    "ArgsEscaped",
    "NetworkDisabled",
    "MacAddress",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// A `container.Config` as Docker writes one: its known keys in its order, every key
/// that is not `omitempty` present. Unknown keys are dropped, as Go's decoder drops them.
pub fn canonical_config(c: &Map<String, Value>) -> Map<String, Value> {
    let defaults = crate::archive::default_container_config();
    let mut out = Map::new();
    for k in CONFIG_KEYS {
        match c.get(*k) {
            Some(v) if !(OMIT_EMPTY.contains(k) && is_empty(v)) => {
                out.insert((*k).into(), v.clone());
            }
            _ => {
                if let Some(d) = defaults.get(*k) {
                    out.insert((*k).into(), d.clone());
                }
            }
        }
    }
    out
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn empty_at(c: &Map<String, Value>, k: &str) -> bool {
    c.get(k).is_none_or(is_empty)
}

/// Docker's commit `merge`: what the committed config leaves unset is taken from the
/// container's config (`User`, `ExposedPorts`, `Env`, `Labels`, `Cmd`/`Entrypoint`,
/// `Healthcheck`, `WorkingDir`, `Volumes`, `StopSignal`).
pub fn merge_commit_config(user: &mut Map<String, Value>, container: &Map<String, Value>) {
    if empty_at(user, "User") {
        if let Some(u) = container.get("User") {
            user.insert("User".into(), u.clone());
        }
    }
    let cports = container.get("ExposedPorts").and_then(Value::as_object);
    match user.get_mut("ExposedPorts").and_then(Value::as_object_mut) {
        Some(ports) if !ports.is_empty() => {
            for (p, v) in cports.into_iter().flatten() {
                ports.entry(p.clone()).or_insert_with(|| v.clone());
            }
        }
        _ => {
            if let Some(c) = container.get("ExposedPorts") {
                user.insert("ExposedPorts".into(), c.clone());
            }
        }
    }
    let mut env = strs(user.get("Env"));
    if env.is_empty() {
        if let Some(c) = container.get("Env") {
            user.insert("Env".into(), c.clone());
        }
    } else {
        let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
        for e in strs(container.get("Env")) {
            if !env.iter().any(|u| key(u) == key(&e)) {
                env.push(e);
            }
        }
        user.insert("Env".into(), json!(env));
    }
    let mut labels = user
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in container
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    user.insert("Labels".into(), Value::Object(labels));
    if empty_at(user, "Entrypoint") {
        if empty_at(user, "Cmd") {
            user.insert(
                "Cmd".into(),
                container.get("Cmd").cloned().unwrap_or(Value::Null),
            );
        }
        if user.get("Entrypoint").is_none_or(Value::is_null) {
            user.insert(
                "Entrypoint".into(),
                container.get("Entrypoint").cloned().unwrap_or(Value::Null),
            );
        }
    }
    if let Some(chc) = container.get("Healthcheck").and_then(Value::as_object) {
        match user.get_mut("Healthcheck").and_then(Value::as_object_mut) {
            Some(uhc) => {
                for k in ["Test", "Interval", "Timeout", "StartPeriod", "Retries"] {
                    if uhc.get(k).is_none_or(is_empty) {
                        if let Some(v) = chc.get(k) {
                            uhc.insert(k.into(), v.clone());
                        }
                    }
                }
            }
            None => {
                user.insert("Healthcheck".into(), Value::Object(chc.clone()));
            }
        }
    }
    if empty_at(user, "WorkingDir") {
        if let Some(w) = container.get("WorkingDir") {
            user.insert("WorkingDir".into(), w.clone());
        }
    }
    let cvols = container.get("Volumes").and_then(Value::as_object);
    match user.get_mut("Volumes").and_then(Value::as_object_mut) {
        Some(vols) if !vols.is_empty() => {
            for (k, v) in cvols.into_iter().flatten() {
                vols.insert(k.clone(), v.clone());
            }
        }
        _ => {
            if let Some(c) = container.get("Volumes") {
                user.insert("Volumes".into(), c.clone());
            }
        }
    }
    if empty_at(user, "StopSignal") {
        if let Some(s) = container.get("StopSignal") {
            user.insert("StopSignal".into(), s.clone());
        }
    }
}

/// A file that hashes what is written to it (the layer's diff id).
struct HashingFile {
    file: File,
    hasher: Sha256,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The spooled layer, removed unless the content store adopted it.
struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl ImageStore {
    /// `POST /commit`: writes the layer with `write_layer` (into a scratch file of the
    /// content store, hashed for its diff id), then adds the image with `req.parent` as
    /// its parent, and tags it when asked. Returns the new image's id.
    pub fn commit(
        &self,
        req: CommitRequest<'_>,
        write_layer: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<Digest> {
        // The parent's content stays while the layer is written, even if it is removed
        // meanwhile (`rmi -f`).
        let parent = match req.parent {
            Some(p) => Some(
                self.get(p)
                    .ok_or_else(|| ImageError::NotFound(p.to_string()))?,
            ),
            None => None,
        };
        let leased: Vec<Digest> = parent
            .iter()
            .flat_map(|p| {
                p.chain_ids
                    .iter()
                    .chain(p.diff_ids.iter())
                    .chain(std::iter::once(&p.id))
                    .cloned()
            })
            .collect();
        self.lease(&leased);
        let result = self.commit_leased(&req, parent.as_ref(), write_layer);
        self.unlease(&leased);
        let id = result?;
        if let Some(t) = req.tag {
            self.tag(&id.to_string(), t)?;
        }
        Ok(id)
    }

    fn commit_leased(
        &self,
        req: &CommitRequest<'_>,
        parent: Option<&crate::Image>,
        write_layer: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<Digest> {
        let path = berth_store::temp_path(self.content.scratch_dir(), "commit");
        let file =
            File::create_new(&path).map_err(|e| berth_store::StoreError::io("create", &path, e))?;
        let spooled = Spooled(path.clone());
        let mut w = HashingFile {
            file,
            hasher: Sha256::new(),
        };
        write_layer(&mut w)?;
        w.flush()
            .map_err(|e| berth_store::StoreError::io("write", &path, e))?;
        let diff_id = Digest::from_sha256(&w.hasher.finalize());
        drop(w.file);
        let empty_layer = diff_id.to_string() == EMPTY_LAYER_DIFF_ID;

        let pcfg = parent.map(|p| p.config.as_ref());
        let pget = |k: &str| pcfg.and_then(|c| c.get(k)).filter(|v| !v.is_null());
        let mut diff_ids: Vec<Digest> = parent.map(|p| p.diff_ids.clone()).unwrap_or_default();
        let mut blobs: Vec<LayerBlob> = diff_ids
            .iter()
            .map(|d| LayerBlob {
                diff_id: d.clone(),
                file: None,
            })
            .collect();
        if !empty_layer {
            diff_ids.push(diff_id.clone());
            blobs.push(LayerBlob {
                diff_id,
                file: Some(path.clone()),
            });
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut entry = Map::new();
        entry.insert("created".into(), json!(now));
        if !req.author.is_empty() {
            entry.insert("author".into(), json!(req.author));
        }
        if !req.created_by.is_empty() {
            entry.insert("created_by".into(), json!(req.created_by));
        }
        if !req.comment.is_empty() {
            entry.insert("comment".into(), json!(req.comment));
        }
        if empty_layer {
            entry.insert("empty_layer".into(), json!(true));
        }
        let mut history = pget("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        history.push(Value::Object(entry));

        // Docker writes the top-level keys sorted.
        let mut config = Map::new();
        config.insert(
            "architecture".into(),
            pget("architecture")
                .cloned()
                .unwrap_or_else(|| json!(go_arch())),
        );
        if !req.author.is_empty() {
            config.insert("author".into(), json!(req.author));
        }
        config.insert(
            "config".into(),
            Value::Object(canonical_config(&req.config)),
        );
        if !req.container_id.is_empty() {
            config.insert("container".into(), json!(req.container_id));
        }
        config.insert(
            "container_config".into(),
            Value::Object(canonical_config(&req.container_config)),
        );
        config.insert("created".into(), json!(now));
        if !req.docker_version.is_empty() {
            config.insert("docker_version".into(), json!(req.docker_version));
        }
        config.insert("history".into(), Value::Array(history));
        config.insert(
            "os".into(),
            pget("os").cloned().unwrap_or_else(|| json!("linux")),
        );
        for k in ["os.features", "os.version"] {
            if let Some(v) = pget(k) {
                config.insert(k.into(), v.clone());
            }
        }
        config.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}),
        );
        if let Some(v) = pget("variant") {
            config.insert("variant".into(), v.clone());
        }
        let config_bytes =
            serde_json::to_vec(&Value::Object(config)).expect("JSON values serialise");
        let (id, _) = self.add_image(&config_bytes, blobs, req.parent.cloned())?;
        drop(spooled);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn empty_layer_digest_is_two_zero_blocks() {
        assert_eq!(Digest::of(&[0u8; 1024]).to_string(), EMPTY_LAYER_DIFF_ID);
        let mut b = tar::Builder::new(Vec::new());
        b.finish().unwrap();
        assert_eq!(
            Digest::of(&b.into_inner().unwrap()).to_string(),
            EMPTY_LAYER_DIFF_ID
        );
    }

    #[test]
    fn merge_takes_what_the_commit_leaves_unset() {
        let container = obj(json!({
            "User": "app", "Env": ["A=1", "PATH=/bin"], "Cmd": ["sh"], "Entrypoint": null,
            "Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}, "WorkingDir": "/w",
            "Volumes": {"/v": {}}, "StopSignal": "SIGINT"
        }));
        let mut user = obj(json!({
            "Env": ["A=2"], "Labels": null, "ExposedPorts": {"81/tcp": {}}, "Cmd": null
        }));
        merge_commit_config(&mut user, &container);
        assert_eq!(user["User"], json!("app"));
        assert_eq!(user["Env"], json!(["A=2", "PATH=/bin"]));
        assert_eq!(user["Labels"], json!({"a": "1"}));
        assert_eq!(user["ExposedPorts"], json!({"81/tcp": {}, "80/tcp": {}}));
        assert_eq!(user["Cmd"], json!(["sh"]));
        assert_eq!(user["WorkingDir"], json!("/w"));
        assert_eq!(user["Volumes"], json!({"/v": {}}));
        assert_eq!(user["StopSignal"], json!("SIGINT"));

        // An entrypoint of its own keeps the commit's (empty) Cmd.
        let mut user = obj(json!({"Entrypoint": ["/x"], "Cmd": null}));
        merge_commit_config(&mut user, &container);
        assert_eq!(user["Cmd"], Value::Null);
        // Labels become an empty object rather than null, as in Docker.
        let mut user = obj(json!({}));
        merge_commit_config(&mut user, &obj(json!({})));
        assert_eq!(user["Labels"], json!({}));
    }

    #[test]
    fn canonical_config_orders_and_fills_keys() {
        let c = canonical_config(&obj(json!({
            "Labels": {"a": "b"}, "Cmd": ["x"], "Bogus": 1, "ExposedPorts": {}, "StopSignal": "SIGINT"
        })));
        let keys: Vec<&str> = c.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Hostname",
                "Domainname",
                "User",
                "AttachStdin",
                "AttachStdout",
                "AttachStderr",
                "Tty",
                "OpenStdin",
                "StdinOnce",
                "Env",
                "Cmd",
                "Image",
                "Volumes",
                "WorkingDir",
                "Entrypoint",
                "OnBuild",
                "Labels",
                "StopSignal"
            ]
        );
    }
}
