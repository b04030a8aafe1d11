//! The daemon's services, wired together once at startup.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_image::{ImageStore, ImageUser};
use berth_oci::Digest;
use tokio_util::sync::CancellationToken;

use crate::api::ApiError;
use crate::config::Config;
use crate::containers::{Container, Containers, Record};
use crate::events::EventBus;

pub struct Daemon {
    pub config: Config,
    pub images: ImageStore,
    pub containers: Arc<Containers>,
    pub networks: crate::networks::Networks,
    pub volumes: berth_volume::VolumeStore,
    /// Embedded DNS servers of running containers on user-defined networks.
    pub dns: std::sync::Mutex<std::collections::HashMap<String, tokio::task::JoinHandle<()>>>,
    /// The sockets holding running containers' published host ports.
    pub port_holds: std::sync::Mutex<std::collections::HashMap<String, Vec<crate::ports::Hold>>>,
    /// The firewall state last applied, so that a start that changes no rule (a container
    /// without published ports) costs no `nft` run. Cleared when the rules were lost.
    pub firewall_applied: std::sync::Mutex<Option<berth_network::firewall::FirewallState>>,
    /// When each network last lost a container: its rules linger a little, so that a
    /// stream of short-lived containers does not rewrite the firewall at every start.
    pub network_last_used: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// NAT, isolation and published ports for bridge networks.
    pub firewall: Box<dyn berth_network::firewall::FirewallDriver>,
    pub execs: crate::containers::exec::Execs,
    pub events: Arc<EventBus>,
    /// Persistent engine id (`/info` `ID`), kept in the data root.
    pub engine_id: String,
    /// Cancelled when the daemon shuts down: long streams end with it.
    pub shutdown: CancellationToken,
    /// Restart-policy back-off per container: the delay before its next restart.
    backoff: std::sync::Mutex<std::collections::HashMap<String, std::time::Duration>>,
}

/// Docker's back-off: 100 ms, doubling per restart up to a minute; a container that ran
/// for ten seconds starts over at 100 ms.
const BACKOFF_START: std::time::Duration = std::time::Duration::from_millis(100);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(60);
const BACKOFF_RESET_AFTER: i64 = 10;

fn policy(r: &Record) -> (String, u32) {
    let p = r.host_config.get("RestartPolicy");
    let name = p
        .and_then(|p| p.get("Name"))
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    let max = p
        .and_then(|p| p.get("MaximumRetryCount"))
        .and_then(|n| n.as_u64())
        .unwrap_or(0) as u32;
    (name, max)
}

/// Whether the policy restarts a container that just exited.
fn restarts_after_exit(r: &Record) -> bool {
    if r.manual_stop {
        return false;
    }
    match policy(r) {
        (n, _) if n == "always" || n == "unless-stopped" => true,
        (n, max) if n == "on-failure" => {
            r.state.exit_code != 0 && (max == 0 || r.restart_count < max)
        }
        _ => false,
    }
}

impl Daemon {
    pub fn open(config: Config) -> anyhow::Result<Daemon> {
        let events = Arc::new(EventBus::new());
        let sink = {
            let events = events.clone();
            Box::new(
                move |action: &str,
                      id: &Digest,
                      name: &str,
                      labels: &serde_json::Map<String, serde_json::Value>| {
                    let mut attrs: BTreeMap<String, String> = labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect();
                    attrs.insert("name".into(), name.to_string());
                    events.publish("image", action, &id.to_string(), attrs);
                },
            )
        };
        let images = ImageStore::open(&config.data_root, sink)?;
        let engine_id = engine_id(&config.data_root)?;
        let containers = Arc::new(Containers::open(
            &config.data_root,
            &config.exec_root,
            config.cgroup_parent.as_deref(),
            crate::containers::Init {
                path: config.init_path.clone(),
                default: config.init,
            },
            crate::containers::Runtimes {
                external: config.runtimes.clone(),
                default: config.default_runtime.clone(),
            },
            config.userns_remap.as_deref(),
        )?);
        let firewall = crate::plumbing::firewall_driver(&config.firewall_backend)?;
        let networks = crate::networks::Networks::open(
            &config.data_root,
            &crate::networks::reserved_networks(),
            config.net.clone(),
        )?;
        let volumes = berth_volume::VolumeStore::open(&config.data_root)
            .map_err(|e| anyhow::anyhow!("opening the volume store: {e}"))?;
        Ok(Daemon {
            config,
            images,
            containers,
            networks,
            volumes,
            firewall,
            dns: Default::default(),
            port_holds: Default::default(),
            firewall_applied: Default::default(),
            network_last_used: Default::default(),
            execs: Default::default(),
            events,
            engine_id,
            shutdown: CancellationToken::new(),
            backoff: Default::default(),
        })
    }

    /// Containers using an image.
    pub fn image_users(&self, id: &Digest) -> Vec<ImageUser> {
        self.containers.users_of(id)
    }

    /// Publishes a container event with Docker's attributes (name, image, labels).
    pub fn container_event(&self, r: &Record, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = r
            .config
            .get("Labels")
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        attrs.insert("name".into(), r.name.clone());
        attrs.insert("image".into(), r.image.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.publish("container", action, &r.id, attrs);
    }

    pub fn network_event(
        &self,
        n: &crate::networks::NetworkRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), n.name.clone());
        attrs.insert("type".to_string(), n.driver.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.publish("network", action, &n.id, attrs);
    }

    fn exit_hook(self: &Arc<Self>) -> crate::containers::ExitHook {
        let d = Arc::downgrade(self);
        Arc::new(move |rec: Record| {
            let Some(d) = d.upgrade() else { return };
            // As Docker: a stopped container holds no address and no interface.
            d.stop_dns(&rec.id);
            let rec = d.forget_networks(&rec);
            d.release_volumes(&rec);
            if rec.state.oom_killed {
                d.container_event(&rec, "oom", &[]);
            }
            d.container_event(
                &rec,
                "die",
                &[("exitCode", rec.state.exit_code.to_string())],
            );
            let auto_remove = rec
                .host_config
                .get("AutoRemove")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if auto_remove {
                tokio::spawn(async move {
                    if let Ok(c) = d.containers.get(&rec.id) {
                        // `--rm` takes the anonymous volumes along, as Docker does.
                        let _ = d.remove_container(&c, true, true).await;
                    }
                });
            } else if restarts_after_exit(&rec) && !d.shutdown.is_cancelled() {
                d.schedule_restart(rec);
            }
        })
    }

    /// Puts the container in `restarting` and starts it again after the back-off, unless
    /// it is stopped, removed or started by someone else meanwhile.
    fn schedule_restart(self: &Arc<Self>, rec: Record) {
        let ran = chrono::DateTime::parse_from_rfc3339(&rec.state.finished_at)
            .ok()
            .zip(chrono::DateTime::parse_from_rfc3339(&rec.state.started_at).ok())
            .map(|(f, s)| f.signed_duration_since(s).num_seconds())
            .unwrap_or(0);
        let delay = {
            let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
            let next = match b.get(&rec.id) {
                Some(d) if ran < BACKOFF_RESET_AFTER => (*d * 2).min(BACKOFF_MAX),
                _ => BACKOFF_START,
            };
            b.insert(rec.id.clone(), next);
            next
        };
        let Ok(c) = self.containers.get(&rec.id) else {
            return;
        };
        let _ = self
            .containers
            .update(&c, |r| r.state.status = "restarting".into());
        let d = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = d.shutdown.cancelled() => return,
            }
            let _op = c.op.lock().await;
            let now = c.record();
            if now.state.status != "restarting" || d.containers.get(&c.id).is_err() {
                return;
            }
            let _ = d.containers.update(&c, |r| {
                r.restart_count += 1;
                r.state.status = "exited".into();
            });
            if let Err(e) = d.start_container(&c).await {
                tracing::warn!(container = %c.id, error = %e.message, "restart failed");
                let _ = d
                    .containers
                    .update(&c, |r| r.state.error = e.message.clone());
            }
        });
    }

    /// Docker reports the stop signal as a `kill` event when stopping a running container.
    pub fn stop_event_kill(&self, c: &Container) {
        let rec = c.record();
        if rec.state.status == "running" {
            let sig = crate::containers::stop_signal(&rec) as i32;
            self.container_event(&rec, "kill", &[("signal", sig.to_string())]);
        }
    }

    /// `docker stop`/`kill`: marks the stop as the user's, so policies leave it down; a
    /// container waiting to restart just stays exited.
    pub fn mark_manual_stop(&self, c: &Container) {
        let _ = self.containers.update(c, |r| {
            r.manual_stop = true;
            if r.state.status == "restarting" {
                r.state.status = "exited".into();
            }
        });
    }

    pub async fn start_container(self: &Arc<Self>, c: &Arc<Container>) -> Result<(), ApiError> {
        let rec = c.record();
        // Before anything is set up for it: a running container keeps what it has.
        crate::containers::check_startable(&rec)?;
        match self.try_start(c, &rec).await {
            Ok(rec) => {
                self.container_event(&rec, "start", &[]);
                crate::health::monitor(self, c.clone());
                Ok(())
            }
            Err(e) => {
                self.stop_dns(&rec.id);
                self.forget_networks(&c.record());
                // Docker removes an auto-remove container that failed to start.
                if rec
                    .host_config
                    .get("AutoRemove")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
                    && c.record().state.status != "running"
                    && self.containers.remove(c).is_ok()
                {
                    self.remove_anonymous_volumes(&rec);
                    self.container_event(&rec, "destroy", &[]);
                }
                Err(e)
            }
        }
    }

    /// Links, networks, then the runtime; any failure is undone by the caller.
    async fn try_start(
        self: &Arc<Self>,
        c: &Arc<Container>,
        rec: &Record,
    ) -> Result<Record, ApiError> {
        let lower = self.container_lower_dirs(rec)?;
        self.prepare_mounts(rec)?;
        let link_env: Vec<String> = self
            .links_of(rec)?
            .iter()
            .flat_map(|(alias, other)| crate::plumbing::link_env(alias, other, &rec.name))
            .collect();
        let attached = {
            let d = self.clone();
            let r = rec.clone();
            tokio::task::spawn_blocking(move || d.attach_networks(&r)).await??
        };
        let netns = attached.netns;
        // Recorded before the start, so that any exit path finds what to undo.
        let rec = self.containers.update(c, |r| {
            r.endpoints = attached.endpoints;
            r.ports = attached.ports;
            r.link_env = link_env;
        })?;
        self.apply_firewall();
        for ep in rec.endpoints.values() {
            if let Ok(n) = self.networks.get(&ep.network_id) {
                self.network_event(&n, "connect", &[("container", rec.id.clone())]);
            }
        }
        self.write_own_hosts_entry(&rec);
        // Serving before the program runs: its first lookup may come at once.
        self.serve_dns(&rec);
        Ok(self
            .containers
            .start(c, lower, netns.as_deref(), self.exit_hook())
            .await?)
    }

    /// The read-only layers under a container's writable layer, top first (overlay
    /// `lowerdir` order): its init layer (if it was made with one), then its image's.
    pub fn container_lower_dirs(&self, rec: &Record) -> Result<Vec<std::path::PathBuf>, ApiError> {
        let mut dirs = self.images.layer_dirs(&rec.image_id)?;
        let init = self
            .containers
            .dir(&rec.id)
            .join(crate::containers::INIT_LAYER);
        if init.is_dir() {
            dirs.insert(0, init);
        }
        Ok(dirs)
    }

    /// `docker restart`: stop if running, then start; not counted in `RestartCount`.
    pub async fn restart_container(
        self: &Arc<Self>,
        c: &Arc<Container>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError> {
        let _op = c.op.lock().await;
        if c.record().state.status == "running" {
            self.stop_event_kill(c);
            self.containers.stop(c, timeout).await?;
            self.container_event(&c.record(), "stop", &[]);
        }
        self.start_container(c).await?;
        self.container_event(&c.record(), "restart", &[]);
        Ok(())
    }

    pub async fn remove_container(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        remove_volumes: bool,
    ) -> Result<(), ApiError> {
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status == "running" {
            if !force {
                return Err(ApiError::new(
                    berth_errors::ErrorKind::Conflict,
                    format!("You cannot remove a running container {}. Stop the container before attempting removal or force remove", rec.id),
                ));
            }
            self.containers.stop(c, Some(0)).await?;
        }
        self.stop_dns(&rec.id);
        self.forget_networks(&c.record());
        self.containers.remove(c)?;
        if remove_volumes {
            self.remove_anonymous_volumes(&rec);
        }
        self.execs.forget_container(&rec.id);
        self.backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        self.container_event(&rec, "destroy", &[]);
        Ok(())
    }

    /// Stops every running container in parallel (stop signal, then SIGKILL).
    pub async fn stop_all_containers(self: &Arc<Self>) {
        let mut set = tokio::task::JoinSet::new();
        for c in self.containers.all() {
            if c.record().state.status == "running" {
                let d = self.clone();
                set.spawn(async move {
                    let _op = c.op.lock().await;
                    if d.containers.stop(&c, None).await.is_ok() {
                        d.container_event(&c.record(), "stop", &[]);
                    }
                });
            }
        }
        while set.join_next().await.is_some() {}
    }

    /// After a restart: containers whose shim still runs are watched again; the others
    /// get the exit their shim recorded.
    pub fn restore(self: &Arc<Self>) {
        self.apply_firewall();
        self.heal_firewall();
        let d = self.clone();
        tokio::task::spawn_blocking(move || d.sweep_veths());
        for c in self.containers.all() {
            let rec = c.record();
            if rec.state.status != "running" && !rec.endpoints.is_empty() {
                // It died while the daemon was down, before its network was undone.
                self.forget_networks(&rec);
            }
            let (name, _) = policy(&rec);
            if rec.state.status == "restarting"
                || (rec.state.status == "exited"
                    && (name == "always" || (name == "unless-stopped" && !rec.manual_stop)))
            {
                // Docker brings these back when the daemon starts.
                let d = self.clone();
                tokio::spawn(async move {
                    let _op = c.op.lock().await;
                    let _ = d
                        .containers
                        .update(&c, |r| r.state.status = "exited".into());
                    if let Err(e) = d.start_container(&c).await {
                        tracing::warn!(container = %c.id, error = %e.message, "restart at daemon start failed");
                    }
                });
                continue;
            }
            if rec.state.status == "running" {
                let alive = rec.state.shim_pid > 0
                    && nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.state.shim_pid), None)
                        .is_ok();
                tracing::info!(container = %rec.id, alive, "restoring a running container");
                self.containers.watch_shim(
                    c.clone(),
                    if alive { rec.state.shim_pid } else { 0 },
                    self.exit_hook(),
                );
                if alive {
                    crate::health::monitor(self, c.clone());
                    self.serve_dns(&rec);
                    self.rehold_ports(&rec);
                }
            }
        }
    }
}

fn engine_id(root: &Path) -> anyhow::Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        let s = s.trim();
        if !s.is_empty() {
            return Ok(s.to_string());
        }
    }
    let hex = berth_store::random_hex(16);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    berth_store::write_atomic(&p, id.as_bytes(), 0o600)?;
    Ok(id)
}
