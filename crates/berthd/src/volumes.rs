//! The daemon's side of volumes: which containers use them; the volumes a new container
//! names (made if missing); making them ready when it starts (option mounts, missing
//! bind sources) and releasing them when it stops; removing its anonymous ones with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::containers::mounts::{self, MountKind, MountPoint};
use crate::containers::Record;
use crate::daemon::Daemon;

impl From<berth_volume::VolumeError> for ApiError {
    fn from(e: berth_volume::VolumeError) -> ApiError {
        ApiError::from_kind(e)
    }
}

impl Daemon {
    pub fn volume_event(&self, name: &str, action: &str, extra: &[(&str, String)]) {
        let mut attrs = BTreeMap::new();
        attrs.insert("driver".to_string(), berth_volume::LOCAL_DRIVER.to_string());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.publish("volume", action, name, attrs);
    }

    /// Containers (any state) whose mounts name the volume: it is in use while they exist.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.volume_refs().remove(name).unwrap_or_default()
    }

    /// Every volume's users from one walk of the container records (for answers about
    /// many volumes: `ls` filters, prune, `system df`).
    pub fn volume_refs(&self) -> std::collections::HashMap<String, Vec<String>> {
        let mut refs: std::collections::HashMap<String, Vec<String>> = Default::default();
        for c in self.containers.all() {
            let r = c.record();
            for m in &r.mounts {
                if let Some(n) = &m.name {
                    let users = refs.entry(n.clone()).or_default();
                    // `--volumes-from` can mount one volume twice in a container.
                    if !users.contains(&r.id) {
                        users.push(r.id.clone());
                    }
                }
            }
        }
        refs
    }

    /// A volume of the local driver, made now if missing (with its `create` event).
    pub fn ensure_volume(
        &self,
        spec: berth_volume::VolumeSpec,
    ) -> Result<(berth_volume::Volume, bool), ApiError> {
        let (v, made) = self.volumes.create(spec)?;
        if made {
            self.volume_event(&v.name, "create", &[]);
        }
        Ok((v, made))
    }

    /// The mounts of a container about to be created: `--volumes-from`, `-v`, `--mount`,
    /// and the image's and request's `Volumes`, with their volumes looked up or made.
    /// Also the names of the volumes made for it, to remove if the create fails.
    pub fn resolve_mounts(
        &self,
        body: &Value,
        image_config: Option<&Map<String, Value>>,
    ) -> Result<(Vec<MountPoint>, Vec<String>), ApiError> {
        let empty = Value::Object(Map::new());
        let hc = body.get("HostConfig").unwrap_or(&empty);
        let mut from = Vec::new();
        for spec in hc
            .get("VolumesFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let spec = spec.as_str().unwrap_or("");
            let (name, mode) = match spec.rsplit_once(':') {
                Some((n, m)) => (n, Some(m.to_string())),
                None => (spec, None),
            };
            if let Some(m) = &mode {
                if m != "ro" && m != "rw" {
                    return Err(ApiError::bad_request(format!("invalid mode: {m}")));
                }
            }
            let other = self.containers.get(name)?;
            from.push((other.record().mounts, mode));
        }
        // The Volumes the container will have: the image's and the request's.
        let mut volumes: Map<String, Value> = image_config
            .and_then(|c| c.get("Volumes"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(v) = body.get("Volumes").and_then(Value::as_object) {
            volumes.extend(v.clone());
        }
        let plan = mounts::plan(hc, Some(&Value::Object(volumes)), &from)
            .map_err(ApiError::bad_request)?;
        let mut made = Vec::new();
        let mut out = Vec::with_capacity(plan.len());
        for req in plan {
            let mut point = req.point;
            if let Some(want) = req.volume {
                let spec = berth_volume::VolumeSpec {
                    name: want.name,
                    driver: want.driver,
                    labels: want.labels,
                    options: want.options,
                };
                match self.ensure_volume(spec) {
                    Ok((v, fresh)) => {
                        if fresh {
                            made.push(v.name.clone());
                        }
                        point.source = self.volumes.data_dir(&v.name);
                        point.name = Some(v.name);
                    }
                    Err(e) => {
                        self.discard_volumes(&made);
                        return Err(e);
                    }
                }
            }
            out.push(point);
        }
        Ok((out, made))
    }

    /// Removes volumes made for a container whose create failed.
    pub fn discard_volumes(&self, names: &[String]) {
        for n in names {
            if self.volume_users(n).is_empty() && self.volumes.remove(n).is_ok() {
                self.volume_event(n, "destroy", &[]);
            }
        }
    }

    /// Before a start: volumes with options mounted, missing `-v` bind sources made (as
    /// Docker does), and each volume's `mount` event.
    pub fn prepare_mounts(&self, rec: &Record) -> Result<(), ApiError> {
        for m in &rec.mounts {
            match m.kind {
                MountKind::Volume => {
                    let name = m.name.as_deref().unwrap_or("");
                    self.volumes.mount(name)?;
                    // Under --userns-remap a fresh volume belongs to the container's root.
                    if let Some(maps) = &rec.userns {
                        let empty =
                            std::fs::read_dir(&m.source).is_ok_and(|mut d| d.next().is_none());
                        if empty {
                            let (uid, gid) = maps.root();
                            let _ = std::os::unix::fs::chown(&m.source, Some(uid), Some(gid));
                        }
                    }
                    self.volume_event(
                        name,
                        "mount",
                        &[
                            ("container", rec.id.clone()),
                            ("destination", m.destination.clone()),
                            ("propagation", m.propagation.clone()),
                            ("read/write", m.rw.to_string()),
                        ],
                    );
                }
                MountKind::Bind => {
                    let wants_create = m.spec.is_none()
                        || m.spec
                            .as_ref()
                            .and_then(|s| s.pointer("/BindOptions/CreateMountpoint"))
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                    if wants_create && std::fs::symlink_metadata(&m.source).is_err() {
                        std::fs::create_dir_all(&m.source).map_err(|e| {
                            ApiError::internal(format!(
                                "error while creating mount source path '{}': {e}",
                                m.source.display()
                            ))
                        })?;
                    } else if std::fs::metadata(&m.source).is_err() {
                        return Err(ApiError::bad_request(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            m.source.display()
                        )));
                    }
                }
                MountKind::Tmpfs => {}
            }
        }
        Ok(())
    }

    /// After a container stopped: each volume's `unmount` event, and volumes mounted from
    /// options are unmounted once no running container uses them.
    pub fn release_volumes(&self, rec: &Record) {
        for m in rec.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            let name = m.name.as_deref().unwrap_or("");
            self.volume_event(name, "unmount", &[("container", rec.id.clone())]);
            // Only a volume mounted from its options has anything to undo: the walk of
            // the records stays off the exit path of every other container.
            if !berth_volume::is_mountpoint(&m.source) {
                continue;
            }
            let busy = self.containers.all().into_iter().any(|c| {
                c.id != rec.id && {
                    let r = c.record();
                    r.state.status == "running"
                        && r.mounts.iter().any(|o| o.name.as_deref() == Some(name))
                }
            });
            if !busy {
                if let Err(e) = self.volumes.unmount(name) {
                    tracing::warn!(volume = name, error = %e, "unmounting a volume");
                }
            }
        }
    }

    /// `rm -v` and `--rm`: the container's anonymous volumes go with it, unless another
    /// container still uses them (`--volumes-from`).
    pub fn remove_anonymous_volumes(self: &Arc<Self>, rec: &Record) {
        for m in &rec.mounts {
            let (Some(name), true) = (m.name.as_deref(), m.anonymous) else {
                continue;
            };
            let Ok(v) = self.volumes.get(name) else {
                continue;
            };
            if !v.anonymous || !self.volume_users(name).is_empty() {
                continue;
            }
            match self.volumes.remove(name) {
                Ok(()) => self.volume_event(name, "destroy", &[]),
                Err(e) => tracing::warn!(volume = name, error = %e, "removing an anonymous volume"),
            }
        }
    }
}
