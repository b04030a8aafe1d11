//! Exec sessions (`docker exec`): their configuration, state and exit code, kept in
//! memory as Docker does, and the OCI process each one runs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::watch;

use super::{ContainerError, Record, Result};

#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub container_id: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub privileged: bool,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: String,
    pub console_size: Option<(u16, u16)>,
}

#[derive(Debug, Default)]
pub struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    /// The terminal's master while a `-t` session runs, for resizes.
    pub pty: Option<Arc<std::os::fd::OwnedFd>>,
}

pub struct Exec {
    pub id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    pub done: watch::Sender<bool>,
}

impl Exec {
    pub fn state(&self) -> std::sync::MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect(&self) -> Value {
        let st = self.state();
        let c = &self.config;
        json!({
            "ID": self.id,
            "Running": st.running,
            "ExitCode": st.exit_code,
            "ProcessConfig": {
                "tty": c.tty,
                "entrypoint": c.cmd.first(),
                "arguments": c.cmd.get(1..).unwrap_or(&[]),
                "privileged": c.privileged,
                "user": c.user,
            },
            "OpenStdin": c.attach_stdin,
            "OpenStderr": c.attach_stderr,
            "OpenStdout": c.attach_stdout,
            "CanRemove": false,
            "ContainerID": c.container_id,
            "DetachKeys": c.detach_keys,
            "Pid": st.pid,
        })
    }
}

#[derive(Default)]
pub struct Execs {
    map: Mutex<HashMap<String, Arc<Exec>>>,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Execs {
    /// `POST /containers/{id}/exec`: checks the request and the container's state.
    /// `name` is the container as the client named it, for Docker's messages.
    pub fn create(&self, rec: &Record, name: &str, body: &Value) -> Result<Arc<Exec>> {
        if rec.state.status != "running" {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        if rec.state.paused {
            return Err(ContainerError::Conflict(format!(
                "Container {name} is paused, unpause the container before exec"
            )));
        }
        let cmd = strs(body.get("Cmd"));
        if cmd.is_empty() {
            return Err(ContainerError::Invalid("No exec command specified".into()));
        }
        let b = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(false);
        let s = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let console_size = body
            .get("ConsoleSize")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()? as u16, a[1].as_u64()? as u16)))
            .filter(|(h, w)| *h > 0 && *w > 0);
        let exec = Arc::new(Exec {
            id: berth_store::random_hex(32),
            config: ExecConfig {
                container_id: rec.id.clone(),
                cmd,
                env: strs(body.get("Env")),
                user: s("User"),
                working_dir: s("WorkingDir"),
                privileged: b("Privileged"),
                tty: b("Tty"),
                attach_stdin: b("AttachStdin"),
                attach_stdout: b("AttachStdout"),
                attach_stderr: b("AttachStderr"),
                detach_keys: s("DetachKeys"),
                console_size,
            },
            state: Mutex::new(ExecState::default()),
            done: watch::channel(false).0,
        });
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(exec.id.clone(), exec.clone());
        Ok(exec)
    }

    pub fn get(&self, id: &str) -> Result<Arc<Exec>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ContainerError::ExecNotFound(id.to_string()))
    }

    /// Exec ids of a container (inspect's `ExecIDs`), `None` when there are none.
    pub fn ids_of(&self, container_id: &str) -> Option<Vec<String>> {
        let ids: Vec<String> = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|e| e.config.container_id == container_id && e.state().running)
            .map(|e| e.id.clone())
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    /// Forgets a removed container's sessions.
    pub fn forget_container(&self, container_id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.config.container_id != container_id);
    }
}

/// The OCI process for an exec: the container's own process settings (capabilities,
/// rlimits, no-new-privileges) with the session's command, environment, user and
/// working directory. `rootfs` is the container's mounted root, for user look-ups.
pub fn process_json(container_spec: &Value, c: &ExecConfig, rootfs: &Path) -> Result<Value> {
    let mut p = container_spec
        .get("process")
        .cloned()
        .ok_or_else(|| ContainerError::Internal("the container's spec has no process".into()))?;
    p["args"] = json!(c.cmd);
    p["terminal"] = json!(c.tty);
    let mut env = strs(p.get("env"));
    for e in &c.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if c.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !c.user.is_empty() {
        let u = super::spec::resolve_user(rootfs, &c.user).map_err(ContainerError::Invalid)?;
        p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.groups});
        // HOME follows the user unless the session sets it.
        if !c.env.iter().any(|e| e.starts_with("HOME=")) {
            env.retain(|e| !e.starts_with("HOME="));
            env.push(format!("HOME={}", u.home));
        }
    }
    p["env"] = json!(env);
    if !c.working_dir.is_empty() {
        p["cwd"] = json!(c.working_dir);
    }
    if c.privileged {
        let all = super::spec::all_caps();
        p["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all, "inheritable": [], "ambient": []});
    }
    if let Some((h, w)) = c.console_size {
        p["consoleSize"] = json!({"height": h, "width": w});
    }
    Ok(p)
}
