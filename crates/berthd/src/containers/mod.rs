//! Containers: records on disk, their lifecycle, and the shims that run them.
//!
//! Disk layout: `<data-root>/containers/<id>/` holds `container.json` (the record), the
//! `json-file` log, `hostname`/`hosts`/`resolv.conf`, and the writable layer
//! (`upper`, `work`) with its overlay mount point `merged`. `<exec-root>/containers/<id>/`
//! is the OCI bundle the shim runs (`config.json`, `attach.sock`, `exit.json`).
//!
//! The shim, not the daemon, is the container's parent; the daemon watches the shim
//! through a pidfd, so containers keep running while berthd restarts.

pub mod exec;
pub mod mounts;
pub mod netfiles;
pub mod resources;
pub mod seccomp;
pub mod spec;
pub mod userns;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_oci::Digest;
use berth_volume::is_mountpoint;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

const RECORD_SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("No such exec instance: {0}")]
    ExecNotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotModified(String),
    #[error("{0}")]
    Internal(String),
}

impl berth_errors::HasKind for ContainerError {
    fn kind(&self) -> berth_errors::ErrorKind {
        use berth_errors::ErrorKind as K;
        match self {
            ContainerError::NotFound(_) | ContainerError::ExecNotFound(_) => K::NotFound,
            ContainerError::Conflict(_) => K::Conflict,
            ContainerError::Invalid(_) => K::InvalidArgument,
            ContainerError::NotModified(_) => K::NotModified,
            ContainerError::Internal(_) => K::Internal,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Internal(e.to_string())
}

pub type Result<T> = std::result::Result<T, ContainerError>;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct State {
    pub status: String,
    pub pid: i32,
    pub shim_pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    /// Frozen by `pause` (Docker reports status `paused` with `Running` still true).
    #[serde(default)]
    pub paused: bool,
    /// Docker's `State.Health` while the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Value>,
}

impl State {
    /// The status word Docker reports.
    pub fn docker_status(&self) -> &str {
        if self.paused && self.status == "running" {
            "paused"
        } else {
            &self.status
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub schema: u32,
    pub id: String,
    pub name: String,
    pub created: String,
    pub image: String,
    pub image_id: Digest,
    pub config: Map<String, Value>,
    pub host_config: Value,
    pub state: State,
    pub restart_count: u32,
    /// Stopped or killed through the API: restart policies leave it alone (and
    /// `unless-stopped` keeps it down across daemon restarts). Cleared by a start.
    #[serde(default)]
    pub manual_stop: bool,
    /// The ID maps of its user namespace under `--userns-remap` (`None`: the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<userns::IdMaps>,
    /// Its attachments to networks while it runs, by network name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub endpoints: std::collections::BTreeMap<String, Endpoint>,
    /// `--link` variables for its next start (set just before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_env: Vec<String>,
    /// Host ports it holds while it runs (`-p`, `-P`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<crate::ports::Published>,
    /// `NetworkingConfig.EndpointsConfig` as created (`--ip`, `--network-alias`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub endpoint_config: Map<String, Value>,
    /// Its volumes, bind mounts and `--mount type=tmpfs` mounts, resolved at create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<mounts::MountPoint>,
}

/// What a new container needs to know of the networks.
#[derive(Debug, Default, Clone)]
pub struct NetContext {
    /// It is on a user-defined network: the embedded resolver is its nameserver.
    pub embedded_dns: bool,
    /// The default bridge's gateway (`--add-host NAME:host-gateway`).
    pub host_gateway: Option<std::net::Ipv4Addr>,
}

/// A running container's attachment to one network (Docker's endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: std::net::Ipv4Addr,
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The host end of its veth pair.
    pub host_ifname: String,
    /// On an IPv6 network: its IPv6 address, prefix and gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<(std::net::Ipv6Addr, u8, std::net::Ipv6Addr)>,
}

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An attach client waiting for the container's shim (attached before start).
pub type PendingAttach = (String, tokio::sync::oneshot::Sender<tokio::net::UnixStream>);

pub struct Container {
    pub id: String,
    record: Mutex<Record>,
    /// Bumped on every state change; waiters watch it.
    changed: watch::Sender<u64>,
    pending: Mutex<Vec<PendingAttach>>,
    /// Serialises start, stop and remove of this container.
    pub op: tokio::sync::Mutex<()>,
}

impl Container {
    pub fn record(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Compares the name without cloning the record (name look-ups scan every container).
    pub fn has_name(&self, name: &str) -> bool {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).name == name
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn add_pending_attach(&self, a: PendingAttach) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(a);
    }
}

pub struct Containers {
    root: PathBuf,
    exec_root: PathBuf,
    shim: PathBuf,
    /// `berth-runc`, for exec sessions.
    runtime_cli: PathBuf,
    /// Compiled seccomp filters, shared by every container with the same profile.
    seccomp_cache: PathBuf,
    index: Mutex<HashMap<String, Arc<Container>>>,
    pids: crate::pidwatch::PidWatcher,
    /// `None` when the host has no usable cgroup hierarchy: containers run unlimited.
    cgroups: Option<berth_cgroups::Hierarchy>,
    /// Warms the kernel lock every runtime's cgroup join takes (see its docs).
    migration_primer: Option<Arc<berth_cgroups::MigrationPrimer>>,
    /// Where containers' groups go unless their `CgroupParent` says otherwise.
    cgroup_parent: String,
    init: Init,
    runtimes: Runtimes,
    exec_root_base: PathBuf,
    /// `--userns-remap`.
    remap: Option<userns::Remap>,
}

/// External OCI runtimes by name, and the default's name.
#[derive(Debug, Clone, Default)]
pub struct Runtimes {
    pub external: std::collections::BTreeMap<String, PathBuf>,
    pub default: String,
}

/// How to run things in a container: the built-in runtime through `berth-runc`, or an
/// external one (`runc`, `crun`) through its own command line and state directory.
pub enum RuntimeCli {
    Builtin,
    External { path: PathBuf, root: PathBuf },
}

/// `--init`: the binary and whether containers get it unless they say otherwise.
#[derive(Debug, Clone, Default)]
pub struct Init {
    pub path: Option<PathBuf>,
    pub default: bool,
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fervent", "gifted", "happy", "jolly", "keen", "lucid", "merry",
    "nifty", "proud", "quirky", "serene", "tender", "vibrant", "wizardly", "zealous",
];
const NAMES: &[&str] = &[
    "albattani",
    "babbage",
    "curie",
    "darwin",
    "euclid",
    "fermi",
    "galileo",
    "hopper",
    "johnson",
    "kepler",
    "lovelace",
    "meitner",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "turing",
    "wozniak",
];

impl Containers {
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        cgroup_parent: Option<&str>,
        init: Init,
        runtimes: Runtimes,
        userns_remap: Option<&str>,
    ) -> anyhow::Result<Containers> {
        let root = data_root.join("containers");
        let seccomp_cache = exec_root.join("seccomp");
        let exec_root_base = exec_root.to_path_buf();
        let exec_root = exec_root.join("containers");
        berth_store::create_dir_all_durable(&root)?;
        berth_store::create_dir_all_durable(&exec_root)?;
        berth_store::sweep_temporaries(&root)?;
        let beside = |name: &str| {
            std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|p| p.join(name)))
                .unwrap_or_else(|| name.into())
        };
        let shim = beside("berth-shim");
        let runtime_cli = beside("berth-runc");
        let remap = userns_remap
            .map(|r| userns::Remap::new(r, &runtime_cli))
            .transpose()?;
        sweep_idmap_staging(&data_root.join("idmap"));
        let cgroups = match berth_cgroups::Hierarchy::detect() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "no cgroups: resource limits are unavailable");
                None
            }
        };
        let c = Containers {
            migration_primer: cgroups
                .as_ref()
                .and_then(|h| h.migration_primer())
                .map(Arc::new),
            root,
            exec_root,
            shim,
            runtime_cli,
            seccomp_cache,
            index: Mutex::new(HashMap::new()),
            pids: crate::pidwatch::PidWatcher::start()?,
            cgroups,
            cgroup_parent: cgroup_parent
                .filter(|p| !p.is_empty())
                .unwrap_or("/berth")
                .to_string(),
            init,
            runtimes,
            exec_root_base,
            remap,
        };
        let mut index = HashMap::new();
        for e in std::fs::read_dir(&c.root)? {
            let e = e?;
            let p = e.path().join("container.json");
            match berth_store::read_json::<Record>(&p) {
                Ok(rec) => {
                    let (tx, _) = watch::channel(0);
                    index.insert(
                        rec.id.clone(),
                        Arc::new(Container {
                            id: rec.id.clone(),
                            record: Mutex::new(rec),
                            changed: tx,
                            pending: Mutex::new(Vec::new()),
                            op: tokio::sync::Mutex::new(()),
                        }),
                    );
                }
                Err(err) => {
                    tracing::warn!(path = %p.display(), error = %err, "skipping an unreadable container record")
                }
            }
        }
        *c.index.lock().unwrap_or_else(|p| p.into_inner()) = index;
        Ok(c)
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.exec_root.join(id)
    }

    /// `berth-runc`, the daemon's helper (exec sessions, archive operations).
    pub fn runtime_cli(&self) -> &Path {
        &self.runtime_cli
    }

    pub fn runtimes(&self) -> &Runtimes {
        &self.runtimes
    }

    /// The container's runtime (recorded at create).
    pub fn runtime_of(&self, rec: &Record) -> RuntimeCli {
        let name = rec
            .host_config
            .get("Runtime")
            .and_then(Value::as_str)
            .unwrap_or(crate::config::BUILTIN_RUNTIME);
        match self.runtimes.external.get(name) {
            Some(p) => RuntimeCli::External {
                path: p.clone(),
                root: self.exec_root_base.join("runtimes").join(name),
            },
            None => RuntimeCli::Builtin,
        }
    }

    /// Writes an exec session's (or a healthcheck's) OCI process into the bundle as
    /// `<tag>.json` and returns that file and the command that runs it in the container;
    /// the caller sets the command's stdio and removes the file afterwards.
    pub fn prepare_exec(
        &self,
        rec: &Record,
        cfg: &exec::ExecConfig,
        tag: &str,
        console_socket: Option<&Path>,
    ) -> Result<(PathBuf, tokio::process::Command)> {
        self.prime_cgroup_join();
        let bundle = self.bundle(&rec.id);
        let spec: Value = berth_store::read_json(&bundle.join("config.json"))
            .map_err(|e| internal(format!("reading the container's spec: {e}")))?;
        let process = exec::process_json(&spec, cfg, &self.dir(&rec.id).join("merged"))?;
        let pfile = bundle.join(format!("{tag}.json"));
        berth_store::write_json_volatile(&pfile, &process).map_err(internal)?;
        let cmd = self.exec_command(rec, &pfile, console_socket);
        Ok((pfile, cmd))
    }

    /// The command that runs `process_file` in the running container, with the
    /// container's runtime (`berth-runc exec` or `runc exec`). With a terminal, its
    /// master is sent to `console_socket` (runc's protocol, which berth-runc speaks too).
    fn exec_command(
        &self,
        rec: &Record,
        process_file: &Path,
        console_socket: Option<&Path>,
    ) -> tokio::process::Command {
        let runtime = self.runtime_of(rec);
        let mut cmd = match &runtime {
            RuntimeCli::Builtin => {
                let mut cmd = tokio::process::Command::new(&self.runtime_cli);
                cmd.arg("exec")
                    .arg("--bundle")
                    .arg(self.bundle(&rec.id))
                    .arg("--pid")
                    .arg(rec.state.pid.to_string())
                    .arg("--seccomp-cache")
                    .arg(&self.seccomp_cache);
                cmd
            }
            // runc and crun send a terminal only from a detached exec: berth-runc waits
            // for the process in their place.
            RuntimeCli::External { path, root } if console_socket.is_some() => {
                let mut cmd = tokio::process::Command::new(&self.runtime_cli);
                cmd.arg("reap")
                    .arg("--pid-file")
                    .arg(process_file.with_extension("pid"))
                    .arg("--")
                    .arg(path)
                    .arg("--root")
                    .arg(root)
                    .arg("exec")
                    .arg("--detach")
                    .arg("--pid-file")
                    .arg(process_file.with_extension("pid"));
                cmd
            }
            RuntimeCli::External { path, root } => {
                let mut cmd = tokio::process::Command::new(path);
                cmd.arg("--root").arg(root).arg("exec");
                cmd
            }
        };
        if let Some(sock) = console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg("--process").arg(process_file);
        if let RuntimeCli::External { .. } = runtime {
            cmd.arg(&rec.id);
        }
        cmd
    }

    /// A listening socket for an exec session's terminal, on a short path (a socket's
    /// path is limited to 108 bytes, which container directories come close to).
    pub fn console_listener(&self) -> Result<(tokio::net::UnixListener, PathBuf)> {
        let dir = self.exec_root_base.join("tty");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let path = dir.join(format!("{}.sock", berth_store::random_hex(8)));
        let l = tokio::net::UnixListener::bind(&path)
            .map_err(|e| internal(format!("console socket {}: {e}", path.display())))?;
        Ok((l, path))
    }

    /// Called when a container start or an exec is about to come: the runtime will move a
    /// process into a group, and the first such move after a quiet spell waits for a
    /// kernel grace period. Paying it now, on a blocking thread, takes it off the path.
    pub fn prime_cgroup_join(&self) {
        let (Some(primer), Ok(rt)) = (
            self.migration_primer.clone(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        rt.spawn_blocking(move || primer.prime());
    }

    pub fn cgroup_v2(&self) -> bool {
        self.cgroups.as_ref().is_some_and(|h| h.is_v2())
    }

    /// The group's path: the container's `CgroupParent` or the daemon's, then its id.
    pub fn cgroup_path(&self, rec: &Record) -> String {
        let parent = rec
            .host_config
            .get("CgroupParent")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.cgroup_parent);
        format!("/{}/{}", parent.trim_matches('/'), rec.id)
    }

    pub fn cgroup(&self, rec: &Record) -> Option<berth_cgroups::Cgroup> {
        self.cgroups
            .as_ref()
            .and_then(|h| h.cgroup(&self.cgroup_path(rec)).ok())
    }

    /// Where the container's network namespace is bind-mounted while it runs.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.exec_root_base.join("netns").join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by full id, name (with or without `/`), or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Container>> {
        let idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = idx.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = idx.values().find(|c| c.has_name(name)) {
            return Ok(c.clone());
        }
        let mut found = idx
            .values()
            .filter(|c| !key.is_empty() && c.id.starts_with(key));
        match (found.next(), found.next()) {
            (Some(c), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(ContainerError::Invalid(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
            _ => Err(ContainerError::NotFound(key.to_string())),
        }
    }

    fn persist(&self, rec: &Record) -> Result<()> {
        berth_store::write_json(&self.dir(&rec.id).join("container.json"), rec).map_err(internal)
    }

    /// Applies `f` to the record, persists it and wakes waiters.
    pub fn update(&self, c: &Container, f: impl FnOnce(&mut Record)) -> Result<Record> {
        let rec = {
            let mut r = c.record.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut r);
            r.clone()
        };
        self.persist(&rec)?;
        c.changed.send_modify(|g| *g += 1);
        Ok(rec)
    }

    /// Containers using an image, for the image delete rules.
    pub fn users_of(&self, image: &Digest) -> Vec<berth_image::ImageUser> {
        self.all()
            .into_iter()
            .map(|c| c.record())
            .filter(|r| r.image_id == *image)
            .map(|r| berth_image::ImageUser {
                container_id: r.id.clone(),
                running: r.state.status == "running",
            })
            .collect()
    }

    /// `POST /containers/create`.
    pub fn create(
        &self,
        body: &Value,
        name: Option<&str>,
        image: &berth_image::Image,
        net: &NetContext,
        mounts: Vec<mounts::MountPoint>,
    ) -> Result<Record> {
        let id = berth_store::random_hex(32);
        let name = match name
            .map(|n| n.strip_prefix('/').unwrap_or(n))
            .filter(|n| !n.is_empty())
        {
            Some(n) if !valid_name(n) => {
                return Err(ContainerError::Invalid(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )))
            }
            Some(n) => n.to_string(),
            None => loop {
                let r = berth_store::random_hex(2);
                let (a, b) = (
                    usize::from_str_radix(&r[..2], 16).unwrap_or(0),
                    usize::from_str_radix(&r[2..], 16).unwrap_or(0),
                );
                let n = format!(
                    "{}_{}",
                    ADJECTIVES[a % ADJECTIVES.len()],
                    NAMES[b % NAMES.len()]
                );
                if self.get(&n).is_err() {
                    break n;
                }
            },
        };
        let config = spec::merge_config(body, image.container_config(), &id);
        let mut host_config = body
            .get("HostConfig")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        resources::validate(&mut host_config).map_err(ContainerError::Invalid)?;
        resources::validate_restart_policy(host_config.get("RestartPolicy"))
            .map_err(ContainerError::Invalid)?;
        resources::validate_ulimits(host_config.get("Ulimits")).map_err(ContainerError::Invalid)?;
        let restart = host_config
            .get("RestartPolicy")
            .and_then(|p| p.get("Name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !matches!(restart, "" | "no")
            && host_config.get("AutoRemove").and_then(Value::as_bool) == Some(true)
        {
            return Err(ContainerError::Invalid(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        // `--pid/--ipc/--network container:NAME` are kept by full id, as Docker does.
        // `--link NAME[:ALIAS]` is kept as Docker keeps it: `/NAME:/THIS/ALIAS`.
        if let Some(links) = host_config.get("Links").and_then(Value::as_array).cloned() {
            let mut out = Vec::new();
            for l in links.iter().filter_map(Value::as_str) {
                let (target, alias) = l.split_once(':').unwrap_or((l, l));
                let target = target.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                let other = self.get(target).map_err(|_| {
                    ContainerError::Invalid(format!("could not get container for {target}"))
                })?;
                // The alias becomes a hosts entry and variable names (`ALIAS_PORT`).
                if alias.is_empty()
                    || !alias
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                {
                    return Err(ContainerError::Invalid(format!(
                        "invalid link alias {alias:?}: only [a-zA-Z0-9_.-] are allowed"
                    )));
                }
                out.push(json!(format!("/{}:/{name}/{alias}", other.record().name)));
            }
            host_config.insert("Links".into(), Value::Array(out));
        }
        for key in ["PidMode", "IpcMode", "NetworkMode"] {
            let Some(other) = joined_container(host_config.get(key)) else {
                continue;
            };
            let other = match self.get(other) {
                Ok(c) => c.id.clone(),
                // Docker creates a container that will join a missing network namespace
                // (it fails at start); missing pid or ipc sources are refused now.
                Err(_) if key == "NetworkMode" => continue,
                Err(e) => return Err(ContainerError::Invalid(e.to_string())),
            };
            host_config.insert(key.into(), json!(format!("container:{other}")));
        }
        if let Some(adj) = host_config.get("OomScoreAdj").and_then(Value::as_i64) {
            if !(-1000..=1000).contains(&adj) {
                return Err(ContainerError::Invalid(format!(
                    "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
                )));
            }
        }
        if host_config
            .get("IpcMode")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            host_config.insert("IpcMode".into(), json!("private"));
        }
        let mut log = host_config
            .get("LogConfig")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let driver = log
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match driver.as_str() {
            "" => {
                log.insert("Type".into(), json!("json-file"));
            }
            "json-file" | "none" => {}
            other => {
                return Err(ContainerError::Invalid(format!(
                    "failed to create task for container: logger: no log driver named '{other}' is registered"
                )))
            }
        }
        log.entry("Config").or_insert(json!({}));
        host_config.insert("LogConfig".into(), Value::Object(log));
        if let Some(p) = host_config.get("CgroupParent").and_then(Value::as_str) {
            if p.split('/').any(|c| c == "..") {
                return Err(ContainerError::Invalid(format!(
                    "invalid cgroup parent {p:?}: \"..\" is not allowed"
                )));
            }
        }
        let runtime = host_config
            .get("Runtime")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.runtimes.default)
            .to_string();
        if runtime != crate::config::BUILTIN_RUNTIME
            && !self.runtimes.external.contains_key(&runtime)
        {
            return Err(ContainerError::Invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        host_config.insert("Runtime".into(), json!(runtime));
        let userns = self.userns_for(&host_config)?;
        let host_config = Value::Object(host_config);
        crate::ports::wanted(&config, &host_config).map_err(ContainerError::Invalid)?;
        let extra_hosts = netfiles::extra_hosts(
            &host_config,
            net.host_gateway.map(|g| g.to_string()).as_deref(),
        )
        .map_err(ContainerError::Invalid)?;
        seccomp::check_host_config(&host_config).map_err(ContainerError::Invalid)?;
        let rec = Record {
            schema: RECORD_SCHEMA,
            id: id.clone(),
            name: name.clone(),
            created: now(),
            image: body
                .get("Image")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            image_id: image.id.clone(),
            config,
            host_config,
            state: State {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..State::default()
            },
            restart_count: 0,
            manual_stop: false,
            userns,
            endpoints: Default::default(),
            ports: Vec::new(),
            link_env: Vec::new(),
            // "default" is the default bridge's other name.
            mounts,
            endpoint_config: body
                .pointer("/NetworkingConfig/EndpointsConfig")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let k = if k == "default" { "bridge" } else { k.as_str() };
                            (k.to_string(), v.clone())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        // The record directory is built under a temporary name and renamed in whole.
        let tmp = berth_store::temp_path(&self.root, "create");
        let build = || -> std::io::Result<()> {
            std::fs::create_dir_all(tmp.join("upper"))?;
            std::fs::create_dir_all(tmp.join("work"))?;
            std::fs::create_dir_all(tmp.join("merged"))?;
            make_init_layer(&tmp.join(INIT_LAYER))?;
            let hostname = rec
                .config
                .get("Hostname")
                .and_then(Value::as_str)
                .unwrap_or("");
            std::fs::write(tmp.join("hostname"), format!("{hostname}\n"))?;
            std::fs::write(tmp.join("hosts"), netfiles::hosts(&extra_hosts, None))?;
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            std::fs::write(
                tmp.join("resolv.conf"),
                netfiles::resolv_conf(&rec, &host_resolv, net.embedded_dns),
            )?;
            if log_driver(&rec.host_config) != "none" {
                std::fs::write(tmp.join(format!("{id}-json.log")), b"")?;
            }
            // The container's root owns its root directory and its /etc files, as it
            // owns them without a user namespace.
            if let Some(maps) = &rec.userns {
                let (uid, gid) = maps.root();
                for f in ["upper", "hostname", "hosts", "resolv.conf"] {
                    std::os::unix::fs::lchown(tmp.join(f), Some(uid), Some(gid))?;
                }
            }
            Ok(())
        };
        let mut idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(other) = idx.values().find(|c| c.has_name(&name)) {
            return Err(ContainerError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        if let Err(e) = build() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(internal(e));
        }
        berth_store::write_json(&tmp.join("container.json"), &rec).map_err(internal)?;
        std::fs::rename(&tmp, self.dir(&id)).map_err(internal)?;
        berth_store::fsync_dir(&self.root).map_err(internal)?;
        let (tx, _) = watch::channel(0);
        idx.insert(
            id.clone(),
            Arc::new(Container {
                id: id.clone(),
                record: Mutex::new(rec.clone()),
                changed: tx,
                pending: Mutex::new(Vec::new()),
                op: tokio::sync::Mutex::new(()),
            }),
        );
        Ok(rec)
    }

    pub(crate) fn mount_rootfs(&self, rec: &Record, lower: &[PathBuf]) -> Result<PathBuf> {
        let dir = self.dir(&rec.id);
        let merged = dir.join("merged");
        if is_mountpoint(&merged) {
            return Ok(merged);
        }
        let staging = match &rec.userns {
            None => None,
            Some(maps) => Some(self.idmap_layers(&rec.id, maps, lower)?),
        };
        let lower: &[PathBuf] = staging.as_ref().map_or(lower, |s| &s.1);
        let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        let mounted = std::ffi::CString::new(opts)
            .map_err(internal)
            .and_then(|opts| {
                rustix::mount::mount(
                    "overlay",
                    &merged,
                    "overlay",
                    rustix::mount::MountFlags::empty(),
                    Some(opts.as_c_str()),
                )
                .map_err(|e| internal(format!("mounting the root filesystem of {}: {e}", rec.id)))
            });
        // The overlay holds its own references to the ID-mapped layers: the staging
        // mounts can go at once.
        if let Some((dir, _)) = staging {
            sweep_idmap_staging_dir(&dir);
        }
        mounted.map(|()| merged)
    }

    /// ID-mapped views of the image layers for a remapped container, each mounted on a
    /// short staging path (the overlay's option string is limited to a page).
    fn idmap_layers(
        &self,
        id: &str,
        maps: &userns::IdMaps,
        lower: &[PathBuf],
    ) -> Result<(PathBuf, Vec<PathBuf>)> {
        let remap = self
            .remap
            .as_ref()
            .filter(|r| &r.maps == maps)
            .ok_or_else(|| {
                ContainerError::Invalid(
                    "the container was created with --userns-remap ID maps the daemon no longer uses: start the daemon with the same --userns-remap, or recreate the container".into(),
                )
            })?;
        let dir = self.idmap_root().join(&id[..12]);
        let mut out = Vec::with_capacity(lower.len());
        for (i, layer) in lower.iter().enumerate() {
            let target = dir.join(i.to_string());
            let done = std::fs::create_dir_all(&target)
                .and_then(|()| berth_sys::idmap::mount_idmapped(layer, &target, remap.userns()));
            if let Err(e) = done {
                sweep_idmap_staging_dir(&dir);
                return Err(internal(format!(
                    "mounting image layer {} ID-mapped for the user namespace: {e}",
                    layer.display()
                )));
            }
            out.push(target);
        }
        Ok((dir, out))
    }

    fn idmap_root(&self) -> PathBuf {
        self.root
            .parent()
            .map_or_else(|| self.root.join("idmap"), |p| p.join("idmap"))
    }

    /// `--userns` checked against the daemon's remapping, with Docker's wording; the ID
    /// maps the container gets, if any.
    fn userns_for(&self, hc: &Map<String, Value>) -> Result<Option<userns::IdMaps>> {
        let mode = hc.get("UsernsMode").and_then(Value::as_str).unwrap_or("");
        if !matches!(mode, "" | "host") {
            return Err(ContainerError::Invalid(format!(
                "invalid USER mode: {mode}"
            )));
        }
        let Some(remap) = &self.remap else {
            return Ok(None);
        };
        if mode == "host" {
            return Ok(None);
        }
        let is = |key: &str, v: &str| hc.get(key).and_then(Value::as_str) == Some(v);
        if hc.get("Privileged").and_then(Value::as_bool) == Some(true) {
            return Err(ContainerError::Invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode".into()));
        }
        if is("NetworkMode", "host") {
            return Err(ContainerError::Invalid(
                "cannot share the host's network namespace when user namespaces are enabled".into(),
            ));
        }
        if is("PidMode", "host") {
            return Err(ContainerError::Invalid(
                "cannot share the host PID namespace when user namespaces are enabled".into(),
            ));
        }
        Ok(Some(remap.maps.clone()))
    }

    /// Docker reports `name=userns` among the security options when remapping.
    pub fn remapped(&self) -> bool {
        self.remap.is_some()
    }

    pub(crate) fn unmount_rootfs(&self, id: &str) {
        let merged = self.dir(id).join("merged");
        if is_mountpoint(&merged) {
            if let Err(e) = rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH) {
                tracing::warn!(container = id, error = %e, "unmounting the root filesystem");
            }
        }
    }

    /// Starts the container's shim and the container; delivers attach clients that were
    /// waiting before letting the program run, so they see all of its output.
    pub async fn start(
        self: &Arc<Self>,
        c: &Arc<Container>,
        lower: Vec<PathBuf>,
        netns: Option<&Path>,
        on_exit: ExitHook,
    ) -> Result<Record> {
        let rec = c.record();
        check_startable(&rec)?;
        self.prime_cgroup_join();
        let rootfs = self.mount_rootfs(&rec, &lower)?;
        let result = match self.copy_up_volumes(&rec, &rootfs).await {
            Ok(()) => self.start_shim(c, &rec, &rootfs, netns, on_exit).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.unmount_rootfs(&rec.id);
            // A runtime that failed half-way may leave its group behind.
            self.remove_cgroup(&rec);
        }
        result
    }

    /// Docker's copy-up: an empty volume mounted where the image has content gets that
    /// content (owners, modes, links) before the container first sees it. The copy runs
    /// chrooted in the container's root, so no link in it can reach a host path.
    async fn copy_up_volumes(&self, rec: &Record, rootfs: &Path) -> Result<()> {
        for m in rec
            .mounts
            .iter()
            .filter(|m| m.kind == mounts::MountKind::Volume && m.copy_data)
        {
            let empty = std::fs::read_dir(&m.source).is_ok_and(|mut d| d.next().is_none());
            if !empty {
                continue;
            }
            let failed = |e: String| {
                internal(format!(
                    "copying image content into volume {}: {e}",
                    m.name.as_deref().unwrap_or("")
                ))
            };
            // A plain volume gets its copy in a `tmp-*` sibling renamed over the empty
            // data directory, so a crash half-way leaves an empty volume (copied again
            // at the next start) rather than a partial one. A volume mounted from
            // options (a tmpfs) is filled in place.
            let staged = match m.source.parent() {
                Some(vol) if !berth_volume::is_mountpoint(&m.source) => {
                    let tmp = berth_store::temp_path(vol, "copyup");
                    std::fs::create_dir(&tmp).map_err(|e| failed(e.to_string()))?;
                    Some(tmp)
                }
                _ => None,
            };
            let to = staged.as_deref().unwrap_or(&m.source);
            let copied = crate::archive::copy_up(&self.runtime_cli, rootfs, &m.destination, to)
                .await
                .map_err(|e| failed(e.message));
            if let Some(tmp) = &staged {
                // Renaming over a directory works only while it is empty: a volume
                // another container filled meanwhile keeps its content.
                let kept = matches!(copied, Ok(true)) && std::fs::rename(tmp, &m.source).is_ok();
                if kept {
                    if let Some(vol) = m.source.parent() {
                        let _ = berth_store::fsync_dir(vol);
                    }
                } else {
                    let _ = std::fs::remove_dir_all(tmp);
                }
            }
            copied?;
        }
        Ok(())
    }

    async fn start_shim(
        self: &Arc<Self>,
        c: &Arc<Container>,
        rec: &Record,
        rootfs: &Path,
        netns: Option<&Path>,
        on_exit: ExitHook,
    ) -> Result<Record> {
        let bundle = self.bundle(&rec.id);
        let dir = self.dir(&rec.id);
        if let Some(wd) = rec
            .config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
        {
            // Docker creates a missing working directory, owned by the container's root.
            if let Ok(p) = berth_runtime::secure_join(rootfs, Path::new(wd)) {
                let missing: Vec<&Path> = p.ancestors().take_while(|a| !a.exists()).collect();
                let _ = std::fs::create_dir_all(&p);
                if let Some(maps) = &rec.userns {
                    let (uid, gid) = maps.root();
                    for dir in missing {
                        let _ = std::os::unix::fs::lchown(dir, Some(uid), Some(gid));
                    }
                }
            }
        }
        let cgroups_path = self.cgroups.as_ref().map(|_| self.cgroup_path(rec));
        let mut shared = Vec::new();
        // The namespace the daemon made and plugged into the container's networks.
        if let Some(ns) = netns {
            shared.push(("network", ns.to_path_buf()));
        }
        for (key, kind, proc_name, what) in [
            ("PidMode", "pid", "pid", "PID"),
            ("IpcMode", "ipc", "ipc", "IPC"),
            ("NetworkMode", "network", "net", "network"),
        ] {
            let Some(other) = joined_container(rec.host_config.get(key)) else {
                continue;
            };
            let o = self.get(other)?.record();
            if o.state.status != "running" || o.state.pid <= 0 {
                return Err(ContainerError::Conflict(format!(
                    "cannot join {what} of a non running container: {}",
                    o.id
                )));
            }
            shared.push((
                kind,
                PathBuf::from(format!("/proc/{}/ns/{proc_name}", o.state.pid)),
            ));
            // Namespaces of a remapped container belong to its user namespace: joining
            // them takes joining that too (Docker does the same).
            if rec.userns.is_some()
                && o.userns.is_some()
                && !shared.iter().any(|(k, _)| *k == "user")
            {
                shared.push((
                    "user",
                    PathBuf::from(format!("/proc/{}/ns/user", o.state.pid)),
                ));
            }
        }
        let spec = spec::runtime_spec(&spec::SpecInput {
            config: &rec.config,
            host_config: &rec.host_config,
            rootfs,
            container_dir: &dir,
            cgroups_path: cgroups_path.as_deref(),
            cgroup_v2: self.cgroup_v2(),
            userns: rec.userns.as_ref(),
            link_env: &rec.link_env,
            mounts: &rec.mounts,
            shared_namespaces: &shared,
            init: {
                let wanted = rec
                    .host_config
                    .get("Init")
                    .and_then(Value::as_bool)
                    .unwrap_or(self.init.default);
                match (wanted, &self.init.path) {
                    (false, _) => None,
                    (true, Some(p)) => Some(p.as_path()),
                    (true, None) => {
                        return Err(ContainerError::Invalid(
                            "failed to create task for container: docker-init binary not found: install tini (docker-init) or set init-path".into(),
                        ))
                    }
                }
            },
        })
        .map_err(ContainerError::Invalid)?;
        std::fs::create_dir_all(&bundle).map_err(internal)?;
        let _ = std::fs::remove_file(bundle.join("exit.json"));
        berth_store::write_json_volatile(&bundle.join("config.json"), &spec).map_err(internal)?;
        // Docker marks its containers' roots with an empty /.dockerenv; tools test for it.
        // (The init layer has it; containers made before it existed get it here.)
        if std::fs::symlink_metadata(rootfs.join(".dockerenv")).is_err() {
            let _ = std::fs::File::create(rootfs.join(".dockerenv"));
        }
        let shim_log = std::fs::File::create(bundle.join("shim.log")).map_err(internal)?;
        let open_stdin = rec
            .config
            .get("OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (max_size, max_file) = log_opts(&rec.host_config);
        let mut cmd = tokio::process::Command::new(&self.shim);
        cmd.arg("--id")
            .arg(&rec.id)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--log")
            .arg(self.log_path(&rec.id));
        cmd.arg("--log-max-size")
            .arg(max_size.to_string())
            .arg("--log-max-file")
            .arg(max_file.to_string());
        if open_stdin {
            cmd.arg("--stdin");
            if rec.config.get("StdinOnce").and_then(Value::as_bool) == Some(true) {
                cmd.arg("--stdin-once");
            }
        }
        if let RuntimeCli::External { path, root } = self.runtime_of(rec) {
            std::fs::create_dir_all(&root).map_err(internal)?;
            cmd.arg("--runtime")
                .arg(path)
                .arg("--runtime-root")
                .arg(root);
        }
        cmd.arg("--seccomp-cache").arg(&self.seccomp_cache);
        if rec.config.get("Tty").and_then(Value::as_bool) == Some(true) {
            cmd.arg("--tty");
        }
        if log_driver(&rec.host_config) == "none" {
            cmd.arg("--no-log");
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(shim_log);
        let mut child = cmd
            .spawn()
            .map_err(|e| internal(format!("starting {}: {e}", self.shim.display())))?;
        let shim_pid = child.id().map(|p| p as i32).unwrap_or(0);
        let mut status = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut control = child.stdin.take().expect("stdin is piped");
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), status.read_line(&mut line)).await;
        let pid: i32 = match (read, line.trim().strip_prefix("created ")) {
            (Ok(Ok(_)), Some(p)) => p.parse().unwrap_or(0),
            _ => {
                let _ = child.kill().await;
                let msg = line
                    .trim()
                    .strip_prefix("error ")
                    .unwrap_or(line.trim())
                    .to_string();
                return Err(start_error(&msg));
            }
        };
        // Attach clients that came before start get the shim's socket now.
        let pending: Vec<PendingAttach> =
            std::mem::take(&mut *c.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (req, tx) in pending {
            if let Ok(s) = connect_attach(&bundle, &req).await {
                let _ = tx.send(s);
            }
        }
        control.write_all(b"start\n").await.map_err(internal)?;
        line.clear();
        let _ = tokio::time::timeout(Duration::from_secs(30), status.read_line(&mut line)).await;
        if line.trim() != "started" {
            let _ = child.wait().await;
            let msg = line
                .trim()
                .strip_prefix("error ")
                .unwrap_or(line.trim())
                .to_string();
            return Err(start_error(&msg));
        }
        // The shim outlives us; tokio reaps it if it exits while we run.
        drop(control);
        drop(child);
        let rec = self.update(c, |r| {
            r.manual_stop = false;
            r.state = State {
                status: "running".into(),
                pid,
                shim_pid,
                started_at: now(),
                finished_at: ZERO_TIME.into(),
                ..State::default()
            };
        })?;
        self.watch_shim(c.clone(), shim_pid, on_exit);
        Ok(rec)
    }

    /// Waits for the shim to exit (through a pidfd: it need not be our child), then
    /// records the container's exit.
    pub fn watch_shim(self: &Arc<Self>, c: Arc<Container>, shim_pid: i32, on_exit: ExitHook) {
        let this = self.clone();
        let exited = self.pids.wait(shim_pid);
        tokio::spawn(async move {
            let _ = exited.await;
            this.finish(&c, on_exit).await;
        });
    }

    async fn finish(self: &Arc<Self>, c: &Arc<Container>, on_exit: ExitHook) {
        let bundle = self.bundle(&c.id);
        let exit: Value = berth_store::read_json(&bundle.join("exit.json"))
            .unwrap_or_else(|_| json!({"exit_code": 255, "error": "the container's monitor died"}));
        let code = exit.get("exit_code").and_then(Value::as_i64).unwrap_or(255) as i32;
        let rec = c.record();
        let mut oom_killed = false;
        if let Some(cg) = self.cgroup(&rec) {
            // Read before removal: the kill counter lives in the group.
            oom_killed = cg.oom_kills() > 0;
            let _ = tokio::task::spawn_blocking(move || teardown_cgroup(&cg)).await;
        }
        if let RuntimeCli::External { path, root } = self.runtime_of(&rec) {
            // The runtime keeps state of its own for the container.
            let _ = tokio::process::Command::new(path)
                .arg("--root")
                .arg(root)
                .arg("delete")
                .arg("--force")
                .arg(&c.id)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await;
        }
        self.unmount_rootfs(&c.id);
        let rec = self.update(c, |r| {
            r.state.status = "exited".into();
            r.state.paused = false;
            r.state.oom_killed = oom_killed;
            r.state.exit_code = code;
            r.state.pid = 0;
            r.state.shim_pid = 0;
            r.state.error = exit
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            r.state.finished_at = exit
                .get("finished_at")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(now);
        });
        if let Ok(rec) = rec {
            on_exit(rec);
        }
    }

    /// Sends a signal to the container's init.
    pub fn kill(&self, c: &Container, signal: nix::sys::signal::Signal) -> Result<()> {
        let rec = c.record();
        if rec.state.status != "running" || rec.state.pid <= 0 {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.state.pid), signal)
            .map_err(internal)?;
        if signal == nix::sys::signal::Signal::SIGKILL {
            self.thaw_for_exit(c);
        }
        Ok(())
    }

    /// Stop signal, then SIGKILL after the timeout; returns once the container exited.
    pub async fn stop(&self, c: &Container, timeout: Option<i64>) -> Result<()> {
        let rec = c.record();
        if rec.state.status != "running" {
            return Err(ContainerError::NotModified(
                "container already stopped".into(),
            ));
        }
        let sig = stop_signal(&rec);
        let timeout = timeout
            .or_else(|| rec.config.get("StopTimeout").and_then(Value::as_i64))
            .unwrap_or(10);
        let mut rx = c.subscribe();
        let _ = self.kill(c, sig);
        self.thaw_for_exit(c);
        let exited = |c: &Container| c.record().state.status != "running";
        if timeout >= 0 {
            let wait = async {
                while !exited(c) {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(timeout as u64), wait)
                .await
                .is_ok()
            {
                return Ok(());
            }
            let _ = self.kill(c, nix::sys::signal::Signal::SIGKILL);
        }
        while !exited(c) {
            if rx.changed().await.is_err() {
                break;
            }
        }
        Ok(())
    }

    fn running_cgroup(&self, c: &Container) -> Result<(Record, berth_cgroups::Cgroup)> {
        let rec = c.record();
        if rec.state.status != "running" {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let cg = self.cgroup(&rec).ok_or_else(|| {
            ContainerError::Internal("cgroups are not available on this host".into())
        })?;
        Ok((rec, cg))
    }

    /// Freezes every process of the container (`docker pause`).
    pub async fn pause(&self, c: &Container) -> Result<Record> {
        let (rec, cg) = self.running_cgroup(c)?;
        if rec.state.paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is already paused",
                rec.id
            )));
        }
        tokio::task::spawn_blocking(move || cg.freeze())
            .await
            .map_err(internal)?
            .map_err(internal)?;
        self.update(c, |r| r.state.paused = true)
    }

    pub async fn unpause(&self, c: &Container) -> Result<Record> {
        let (rec, cg) = self.running_cgroup(c)?;
        if !rec.state.paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not paused",
                rec.id
            )));
        }
        tokio::task::spawn_blocking(move || cg.thaw())
            .await
            .map_err(internal)?
            .map_err(internal)?;
        self.update(c, |r| r.state.paused = false)
    }

    /// Thaws a paused container so a signal just sent can act (a frozen task handles
    /// nothing, not even SIGKILL, until thawed). Docker leaves it paused otherwise.
    fn thaw_for_exit(&self, c: &Container) {
        let rec = c.record();
        if rec.state.paused {
            if let Some(cg) = self.cgroup(&rec) {
                let _ = cg.thaw();
            }
            let _ = self.update(c, |r| r.state.paused = false);
        }
    }

    /// Host pids of the container's processes, init first.
    pub fn pids(&self, c: &Container) -> Result<Vec<i32>> {
        let (rec, cg) = self.running_cgroup(c)?;
        let mut pids = cg.procs().map_err(internal)?;
        pids.sort_unstable();
        if let Some(i) = pids.iter().position(|p| *p == rec.state.pid) {
            pids.remove(i);
            pids.insert(0, rec.state.pid);
        }
        Ok(pids)
    }

    /// The container's cgroup counters (`None` when it does not run).
    pub fn cgroup_stats(&self, c: &Container) -> Option<berth_cgroups::Stats> {
        let (_, cg) = self.running_cgroup(c).ok()?;
        cg.stats().ok()
    }

    /// `docker update`: checks the merged settings with Docker's rules, writes them to a
    /// running container's cgroup, then records them.
    pub async fn update_resources(&self, c: &Container, body: &Value) -> Result<Record> {
        let rec = c.record();
        let mut hc = rec.host_config.as_object().cloned().unwrap_or_default();
        let old_swap = hc.get("MemorySwap").and_then(Value::as_i64).unwrap_or(0);
        for k in resources::UPDATABLE {
            if resources::given(body, k) {
                hc.insert(k.to_string(), body[*k].clone());
            }
        }
        let mem = body.get("Memory").and_then(Value::as_i64).unwrap_or(0);
        let swap_given = resources::given(body, "MemorySwap");
        if mem > 0 && !swap_given && old_swap > 0 && mem > old_swap {
            return Err(ContainerError::Conflict(format!("Cannot update container {}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time", rec.id)));
        }
        if !swap_given {
            hc.insert("MemorySwap".into(), json!(old_swap));
        }
        if body.get("NanoCpus").and_then(Value::as_i64).unwrap_or(0) > 0 {
            // --cpus replaces an earlier period/quota pair, as in Docker.
            hc.insert("CpuPeriod".into(), json!(0));
            hc.insert("CpuQuota".into(), json!(0));
        }
        if let Some(p) = body.get("RestartPolicy").filter(|p| p.is_object()) {
            resources::validate_restart_policy(Some(p)).map_err(ContainerError::Invalid)?;
            let name = p.get("Name").and_then(Value::as_str).unwrap_or("");
            if !matches!(name, "" | "no")
                && hc.get("AutoRemove").and_then(Value::as_bool) == Some(true)
            {
                return Err(ContainerError::Invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            hc.insert("RestartPolicy".into(), p.clone());
        }
        resources::validate(&mut hc).map_err(ContainerError::Invalid)?;
        if !swap_given && old_swap > 0 {
            // An explicit earlier swap limit stays unless the update names one.
            hc.insert("MemorySwap".into(), json!(old_swap));
        }
        let hc = Value::Object(hc);
        if rec.state.status == "running" {
            if let Some(cg) = self.cgroup(&rec) {
                let r = resources::update_resources(&hc, body);
                tokio::task::spawn_blocking(move || cg.apply(&r))
                    .await
                    .map_err(internal)?
                    .map_err(|e| {
                        ContainerError::Invalid(format!("Cannot update container {}: {e}", rec.id))
                    })?;
            }
        }
        self.update(c, |r| r.host_config = hc)
    }

    /// `docker rename`: Docker's name rules and conflict message.
    pub fn rename(&self, c: &Container, new: &str) -> Result<Record> {
        let new = new.strip_prefix('/').unwrap_or(new);
        if new.is_empty() {
            return Err(ContainerError::Invalid(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !valid_name(new) {
            return Err(ContainerError::Invalid(format!(
                "Error when allocating new name: Invalid container name (/{new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if c.has_name(new) {
            return Err(ContainerError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = idx.values().find(|o| o.has_name(new)) {
            return Err(ContainerError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        // Under the index lock, so two renames to one name cannot both pass the check.
        let rec = self.update(c, |r| r.name = new.to_string());
        drop(idx);
        rec
    }

    /// Bytes in the container's writable layer (`SizeRw`).
    pub fn size_rw(&self, id: &str) -> u64 {
        dir_size(&self.dir(id).join("upper"))
    }

    /// Removes a stopped container's files and record.
    /// Kills whatever is left in the container's group and removes it (nothing to do
    /// when the group is gone already).
    fn remove_cgroup(&self, rec: &Record) {
        if let Some(cg) = self.cgroup(rec).filter(|cg| cg.exists()) {
            teardown_cgroup(&cg);
        }
    }

    pub fn remove(&self, c: &Container) -> Result<()> {
        // Last sweep: nothing of the container may outlive its removal.
        self.remove_cgroup(&c.record());
        self.unmount_rootfs(&c.id);
        let _ = std::fs::remove_dir_all(self.bundle(&c.id));
        berth_store::remove_dir_durable(&self.dir(&c.id)).map_err(internal)?;
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
        c.changed.send_modify(|g| *g += 1);
        Ok(())
    }
}

/// The container named by a `container:<name|id>` namespace mode (`--pid`, `--ipc`,
/// `--network`).
fn joined_container(mode: Option<&Value>) -> Option<&str> {
    mode?.as_str()?.strip_prefix("container:")
}

/// Kills what is left in a container's group (processes that outlived init, as with
/// `--pid host`, keep it busy) and removes it.
fn teardown_cgroup(cg: &berth_cgroups::Cgroup) {
    let _ = cg.kill_all();
    if let Err(e) = cg.remove() {
        tracing::warn!(group = %cg.relative_path().display(), error = %e, "removing a container's cgroup");
    }
}

/// Called with the final record when a container exits.
pub type ExitHook = Arc<dyn Fn(Record) + Send + Sync>;

/// A running container is not started again (Docker's 304), a restarting one not yet.
/// The per-container layer between the image and the writable layer, as Docker's
/// `-init` layer: the mount points the engine binds over (/etc/hosts …) and
/// `/.dockerenv`, so that they show in neither `diff` nor `commit`.
pub const INIT_LAYER: &str = "init";

fn make_init_layer(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mkdir = |p: &Path| {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(p)
    };
    for d in ["dev/pts", "dev/shm", "proc", "sys", "etc"] {
        mkdir(&dir.join(d))?;
    }
    for f in [
        ".dockerenv",
        "etc/resolv.conf",
        "etc/hosts",
        "etc/hostname",
        "dev/console",
    ] {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o755)
            .open(dir.join(f))?;
    }
    std::os::unix::fs::symlink("/proc/mounts", dir.join("etc/mtab"))
}

pub fn check_startable(rec: &Record) -> Result<()> {
    if rec.state.status == "running" {
        return Err(ContainerError::NotModified(
            "container already started".into(),
        ));
    }
    if rec.state.status == "restarting" {
        return Err(ContainerError::Conflict(format!(
            "cannot start container {}: container is restarting, wait until the container is running",
            rec.id
        )));
    }
    Ok(())
}

fn start_error(msg: &str) -> ContainerError {
    let msg = if msg.is_empty() {
        "the container's monitor exited unexpectedly"
    } else {
        msg
    };
    let msg = msg.strip_prefix("container init failed: ").unwrap_or(msg);
    ContainerError::Invalid(format!("failed to create task for container: OCI runtime create failed: unable to start container process: {msg}: unknown"))
}

/// The container's stop signal (`--stop-signal`, the image's `STOPSIGNAL`, or SIGTERM).
pub fn stop_signal(rec: &Record) -> nix::sys::signal::Signal {
    rec.config
        .get("StopSignal")
        .and_then(Value::as_str)
        .and_then(parse_signal)
        .unwrap_or(nix::sys::signal::Signal::SIGTERM)
}

pub fn log_driver(hc: &Value) -> &str {
    hc.get("LogConfig")
        .and_then(|l| l.get("Type"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("json-file")
}

/// `json-file` options: `max-size` (e.g. `10m`) and `max-file`.
fn log_opts(hc: &Value) -> (u64, u32) {
    let opts = hc.get("LogConfig").and_then(|l| l.get("Config"));
    let size = opts
        .and_then(|o| o.get("max-size"))
        .and_then(Value::as_str)
        .and_then(parse_size)
        .unwrap_or(0);
    let files = opts
        .and_then(|o| o.get("max-file"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (size, files)
}

pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.trim_end_matches('b').chars().last()? {
        'k' => (&s[..s.trim_end_matches('b').len() - 1], 1u64 << 10),
        'm' => (&s[..s.trim_end_matches('b').len() - 1], 1 << 20),
        'g' => (&s[..s.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (s.trim_end_matches('b'), 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

/// Docker accepts `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Option<nix::sys::signal::Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let u = s.to_ascii_uppercase();
    let name = if u.starts_with("SIG") {
        u
    } else {
        format!("SIG{u}")
    };
    name.parse().ok()
}

/// Apparent size of a tree, not following symlinks (`du --apparent-size` in bytes);
/// hard links are counted once per name, as Docker's size walk does.
pub fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// Detaches and removes the ID-mapped staging mounts a crash left behind.
fn sweep_idmap_staging(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        sweep_idmap_staging_dir(&e.path());
    }
}

/// Directories are removed one by one, never recursively: one whose mount could not be
/// detached still shows an image layer, which must not be deleted through it.
fn sweep_idmap_staging_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH);
            let _ = std::fs::remove_dir(&p);
        }
    }
    let _ = std::fs::remove_dir(dir);
}

pub async fn connect_attach(bundle: &Path, req: &str) -> std::io::Result<tokio::net::UnixStream> {
    // Through the bundle's descriptor: the full socket path may exceed the 107 bytes a
    // socket address holds.
    let dir = std::fs::File::open(bundle)?;
    let short = format!(
        "/proc/self/fd/{}/attach.sock",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    );
    let mut s = tokio::net::UnixStream::connect(short).await?;
    drop(dir);
    s.write_all(format!("{req}\n").as_bytes()).await?;
    Ok(s)
}
