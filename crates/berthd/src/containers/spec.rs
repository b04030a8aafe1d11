//! Docker's create request + the image config → the container's effective `Config` and
//! the OCI runtime spec. Pure functions: the place for golden tests.

use serde_json::{json, Map, Value};

use berth_runtime::defaults::{DEFAULT_CAPS, MASKED_PATHS as MASKED, READONLY_PATHS as READONLY};

fn strs(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// The container's `Config` as Docker reports it: the request's values over the image's.
pub fn merge_config(
    body: &Value,
    image_config: Option<&Map<String, Value>>,
    id: &str,
) -> Map<String, Value> {
    let empty = Map::new();
    let img = image_config.unwrap_or(&empty);
    let req = |k: &str| body.get(k).filter(|v| !v.is_null());
    let mut c = Map::new();
    let hostname = req("Hostname")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            // Docker: a container on the host's network takes the host's name.
            if body
                .pointer("/HostConfig/NetworkMode")
                .and_then(Value::as_str)
                == Some("host")
            {
                crate::host::hostname()
            } else {
                id[..12].to_string()
            }
        });
    c.insert("Hostname".into(), json!(hostname));
    c.insert(
        "Domainname".into(),
        req("Domainname").cloned().unwrap_or(json!("")),
    );
    let user = req("User")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| img.get("User").and_then(Value::as_str))
        .unwrap_or("");
    c.insert("User".into(), json!(user));
    for k in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
    ] {
        c.insert(
            k.into(),
            json!(req(k).and_then(Value::as_bool).unwrap_or(false)),
        );
    }
    // Env as Docker merges it: the request's, then the image's entries whose keys the
    // request does not set.
    let mut env: Vec<String> = strs(req("Env")).unwrap_or_default();
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    for e in strs(img.get("Env")).unwrap_or_default() {
        if !env.iter().any(|x| key(x) == key(&e)) {
            env.push(e);
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    c.insert("Env".into(), json!(env));
    // An Entrypoint in the request resets the image's Cmd, as in Docker; `--entrypoint ""`
    // arrives as [""] and means no entrypoint, with the image's Cmd still applying.
    let req_entrypoint = strs(req("Entrypoint")).map(|e| {
        if e.len() == 1 && e[0].is_empty() {
            Vec::new()
        } else {
            e
        }
    });
    let entrypoint = match &req_entrypoint {
        Some(e) => Some(e.clone()).filter(|e| !e.is_empty()),
        None => strs(img.get("Entrypoint")),
    };
    let cmd = match strs(req("Cmd")).filter(|c| !c.is_empty()) {
        Some(c) => Some(c),
        None if req_entrypoint.as_ref().is_some_and(|e| !e.is_empty()) => None,
        None => strs(img.get("Cmd")),
    };
    c.insert("Cmd".into(), json!(cmd));
    c.insert("Image".into(), req("Image").cloned().unwrap_or(json!("")));
    let mut volumes = img.get("Volumes").cloned().unwrap_or(Value::Null);
    if let Some(v) = req("Volumes").and_then(Value::as_object) {
        let m = volumes
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(v.clone())
            .collect::<Map<_, _>>();
        volumes = Value::Object(m);
    }
    c.insert("Volumes".into(), volumes);
    let wd = req("WorkingDir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| img.get("WorkingDir").and_then(Value::as_str))
        .unwrap_or("");
    c.insert("WorkingDir".into(), json!(wd));
    c.insert("Entrypoint".into(), json!(entrypoint));
    c.insert(
        "OnBuild".into(),
        img.get("OnBuild").cloned().unwrap_or(Value::Null),
    );
    let mut labels = img
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(l) = req("Labels").and_then(Value::as_object) {
        labels.extend(l.clone());
    }
    c.insert("Labels".into(), Value::Object(labels));
    for k in ["ExposedPorts", "StopSignal", "Healthcheck"] {
        if let Some(v) = req(k).or_else(|| img.get(k)) {
            c.insert(k.into(), v.clone());
        }
    }
    if let Some(t) = req("StopTimeout") {
        c.insert("StopTimeout".into(), t.clone());
    }
    c
}

/// A user resolved through the container's `/etc/passwd` and `/etc/group`.
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups; the primary group is among them, as Docker sets it.
    pub groups: Vec<u32>,
    /// The passwd entry's home, `/` for users without an entry (Docker's `HOME`).
    pub home: String,
}

fn entries(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .collect()
}

/// Resolves `user[:group]` (names or ids) as Docker does.
pub fn resolve_user(rootfs: &std::path::Path, user: &str) -> Result<ResolvedUser, String> {
    let read = |f: &str| {
        std::fs::read_to_string(berth_runtime::secure_join(rootfs, std::path::Path::new(f)).ok()?)
            .ok()
    };
    let passwd_text = read("/etc/passwd").unwrap_or_default();
    let group_text = read("/etc/group").unwrap_or_default();
    let passwd = entries(&passwd_text);
    let groups = entries(&group_text);
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(_) => passwd.iter().find(|f| f.len() > 3 && f[2] == u),
        Err(_) => Some(
            passwd
                .iter()
                .find(|f| f.len() > 3 && f[0] == u)
                .ok_or_else(|| {
                    format!("unable to find user {u}: no matching entries in passwd file")
                })?,
        ),
    };
    let uid: u32 = match entry {
        Some(f) => f[2].parse().unwrap_or(0),
        None => u.parse().unwrap_or(0),
    };
    let mut gid: u32 = entry.and_then(|f| f[3].parse().ok()).unwrap_or(0);
    let name = entry.map(|f| f[0]).unwrap_or("");
    let home = entry
        .and_then(|f| f.get(5))
        .filter(|h| !h.is_empty())
        .map(|h| h.to_string())
        .unwrap_or_else(|| "/".into());
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let mut extra: Vec<u32> = groups
        .iter()
        .filter(|f| f.len() > 3 && !name.is_empty() && f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .filter(|x| *x != gid)
        .collect();
    extra.sort_unstable();
    extra.dedup();
    extra.insert(0, gid);
    Ok(ResolvedUser {
        uid,
        gid,
        groups: extra,
        home,
    })
}

pub struct SpecInput<'a> {
    pub config: &'a Map<String, Value>,
    pub host_config: &'a Value,
    pub rootfs: &'a std::path::Path,
    pub container_dir: &'a std::path::Path,
    /// The container's cgroup (`None`: the host has no usable hierarchy).
    pub cgroups_path: Option<&'a str>,
    pub cgroup_v2: bool,
    /// Namespaces joined from other containers (`--pid container:X`): kind → path.
    pub shared_namespaces: &'a [(&'static str, std::path::PathBuf)],
    /// `--init`: the host's init binary, run as the container's PID 1 in front of the
    /// command (mounted where Docker mounts it).
    pub init: Option<&'a std::path::Path>,
    /// Variables `--link` adds (`DB_PORT=tcp://...`), computed at each start.
    pub link_env: &'a [String],
    /// `--userns-remap`: the container's own user namespace with these maps (unless a
    /// joined container's is in `shared_namespaces` as `user`).
    pub userns: Option<&'a super::userns::IdMaps>,
    /// Volumes, binds and `--mount type=tmpfs`, their sources ready.
    pub mounts: &'a [super::mounts::MountPoint],
}

/// The OCI runtime spec for a container.
pub fn runtime_spec(i: &SpecInput) -> Result<Value, String> {
    let c = i.config;
    let hc = i.host_config;
    let mut args: Vec<String> = strs(c.get("Entrypoint")).unwrap_or_default();
    args.extend(strs(c.get("Cmd")).unwrap_or_default());
    if args.is_empty() {
        return Err("no command specified".into());
    }
    if i.init.is_some() {
        args.splice(0..0, [INIT_IN_CONTAINER.to_string(), "--".to_string()]);
    }
    let user = resolve_user(
        i.rootfs,
        c.get("User").and_then(Value::as_str).unwrap_or(""),
    )?;
    let (uid, gid, mut extra) = (user.uid, user.gid, user.groups);
    for g in strs(hc.get("GroupAdd")).unwrap_or_default() {
        // Names resolve through the image's /etc/group, as Docker does.
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => resolve_user(i.rootfs, &format!("0:{g}"))?.gid,
        };
        if !extra.contains(&gid) {
            extra.push(gid);
        }
    }
    let mut env: Vec<String> = strs(c.get("Env")).unwrap_or_default();
    env.extend(i.link_env.iter().cloned());
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let privileged = hc
        .get("Privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let norm = |s: &str| {
        let u = s.to_ascii_uppercase();
        if u.starts_with("CAP_") {
            u
        } else {
            format!("CAP_{u}")
        }
    };
    // Docker's order: drops first (`--cap-drop ALL` empties the set), then adds, so
    // `--cap-drop ALL --cap-add CHOWN` leaves CHOWN.
    let adds: Vec<String> = strs(hc.get("CapAdd"))
        .unwrap_or_default()
        .iter()
        .map(|c| norm(c))
        .collect();
    for d in strs(hc.get("CapDrop")).unwrap_or_default() {
        let d = norm(&d);
        if d == "CAP_ALL" {
            caps.clear();
        }
        caps.retain(|c| *c != d);
    }
    if privileged || adds.iter().any(|a| a == "CAP_ALL") {
        caps = ALL_CAPS.iter().map(|s| s.to_string()).collect();
    } else {
        for a in adds {
            if !caps.contains(&a) {
                caps.push(a);
            }
        }
    }
    let cwd = c
        .get("WorkingDir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("/");
    let dir = i.container_dir;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    let shm = hc
        .get("ShmSize")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .unwrap_or(64 << 20);
    mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}));
    for f in ["hostname", "hosts", "resolv.conf"] {
        mounts.push(json!({"destination": format!("/etc/{f}"), "type": "bind", "source": dir.join(f), "options": ["rbind", "rprivate"]}));
    }
    if let Some(init) = i.init {
        mounts.push(json!({"destination": INIT_IN_CONTAINER, "type": "bind", "source": init, "options": ["bind", "ro"]}));
    }
    let mut user = Vec::new();
    for (dest, opts) in hc
        .get("Tmpfs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut o = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        o.extend(
            opts.as_str()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        user.push(json!({"destination": super::mounts::clean(dest), "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    // The user's mounts come last, parents first; one at a destination of ours (a
    // bind over /etc/hosts, a volume on /dev/shm) replaces ours, as in Docker.
    let user_dests: Vec<String> = i
        .mounts
        .iter()
        .map(|m| m.destination.clone())
        .chain(
            user.iter()
                .filter_map(|m| m["destination"].as_str().map(str::to_string)),
        )
        .collect();
    mounts.retain(|m| !user_dests.iter().any(|d| m["destination"] == d.as_str()));
    user.extend(i.mounts.iter().map(super::mounts::spec_mount));
    // Parents before what is mounted inside them (Docker sorts by path depth).
    user.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .unwrap_or("")
            .split('/')
            .filter(|c| !c.is_empty())
            .count()
    });
    mounts.extend(user);
    if i.cgroups_path.is_some() {
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if privileged { "rw" } else { "ro" }]}));
    }
    let mut namespaces = vec![json!({"type": "mount"})];
    if i.userns.is_some() {
        match i.shared_namespaces.iter().find(|(k, _)| *k == "user") {
            Some((_, path)) => namespaces.push(json!({"type": "user", "path": path})),
            None => namespaces.push(json!({"type": "user"})),
        }
    }
    // Docker's default: a private cgroup namespace on v2, the host's on v1.
    let cgroupns = match hc.get("CgroupnsMode").and_then(Value::as_str) {
        Some("private") => true,
        Some("host") => false,
        _ => i.cgroup_v2,
    };
    if cgroupns && i.cgroups_path.is_some() {
        namespaces.push(json!({"type": "cgroup"}));
    }
    for (key, ns) in [
        ("PidMode", "pid"),
        ("IpcMode", "ipc"),
        ("UTSMode", "uts"),
        ("NetworkMode", "network"),
    ] {
        if let Some((_, path)) = i.shared_namespaces.iter().find(|(k, _)| *k == ns) {
            namespaces.push(json!({"type": ns, "path": path}));
        } else if hc.get(key).and_then(Value::as_str) != Some("host") {
            namespaces.push(json!({"type": ns}));
        }
    }
    // Docker's default, within what this host lets the engine raise: a runtime that
    // lacks CAP_SYS_RESOURCE (this one, runc, crun alike) cannot go past the hard limit.
    let host_hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, h)| h)
        .unwrap_or(u64::MAX);
    let nofile = (1u64 << 20).min(host_hard);
    let mut rlimits = vec![json!({"type": "RLIMIT_NOFILE", "soft": nofile, "hard": nofile})];
    for u in hc
        .get("Ulimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = u.get("Name").and_then(Value::as_str).unwrap_or("");
        let t = format!("RLIMIT_{}", name.to_ascii_uppercase());
        rlimits.retain(|r| r["type"] != t);
        rlimits.push(json!({"type": t, "soft": u.get("Soft").and_then(Value::as_i64).unwrap_or(0).max(0), "hard": u.get("Hard").and_then(Value::as_i64).unwrap_or(0).max(0)}));
    }
    let no_new_privs = strs(hc.get("SecurityOpt"))
        .unwrap_or_default()
        .iter()
        .any(|s| {
            s == "no-new-privileges"
                || s == "no-new-privileges:true"
                || s == "no-new-privileges=true"
        });
    let security_opt = strs(hc.get("SecurityOpt")).unwrap_or_default();
    let seccomp = super::seccomp::from_security_opts(&security_opt, privileged, &caps)?;
    let hostname = if hc.get("UTSMode").and_then(Value::as_str) == Some("host") {
        Value::Null
    } else {
        c.get("Hostname").cloned().unwrap_or(Value::Null)
    };
    let (devices, device_rules) = super::resources::host_devices(hc)?;
    let resources = super::resources::spec_resources(
        hc,
        &super::resources::device_rules(privileged, &device_rules),
    );
    let sysctl = hc
        .get("Sysctls")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    let mut linux = json!({
        "sysctl": sysctl,
        "namespaces": namespaces,
        "maskedPaths": if privileged { json!([]) } else { json!(MASKED) },
        "readonlyPaths": if privileged { json!([]) } else { json!(READONLY) },
        "devices": devices,
        "seccomp": seccomp,
    });
    if let Some(maps) = i.userns {
        linux["uidMappings"] = super::userns::IdMaps::spec_mappings(&maps.uids);
        linux["gidMappings"] = super::userns::IdMaps::spec_mappings(&maps.gids);
    }
    if let Some(p) = i.cgroups_path {
        linux["cgroupsPath"] = json!(p);
        linux["resources"] = resources;
    }
    let mut process = json!({
        "terminal": c.get("Tty").and_then(Value::as_bool).unwrap_or(false),
        "user": {"uid": uid, "gid": gid, "additionalGids": extra},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
        "rlimits": rlimits,
        "noNewPrivileges": no_new_privs,
    });
    if let Some(adj) = hc
        .get("OomScoreAdj")
        .and_then(Value::as_i64)
        .filter(|a| *a != 0)
    {
        process["oomScoreAdj"] = json!(adj);
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": i.rootfs, "readonly": hc.get("ReadonlyRootfs").and_then(Value::as_bool).unwrap_or(false)},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

const INIT_IN_CONTAINER: &str = "/sbin/docker-init";

/// Every capability (`--privileged`, `exec --privileged`, `--cap-add ALL`).
pub fn all_caps() -> &'static [&'static str] {
    ALL_CAPS
}

const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_overrides_image_and_entrypoint_resets_cmd() {
        let img = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "WorkingDir": "/data", "Labels": {"a": "1"}});
        let id = "0123456789abcdef0123";
        let c = merge_config(
            &json!({"Image": "busybox", "Env": ["A=2", "B=3"], "Labels": {"b": "2"}}),
            img.as_object(),
            id,
        );
        assert_eq!(c["Env"], json!(["A=2", "B=3", "PATH=/bin"]));
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["WorkingDir"], json!("/data"));
        assert_eq!(c["Hostname"], json!("0123456789ab"));
        assert_eq!(c["Labels"], json!({"a": "1", "b": "2"}));
        let c = merge_config(&json!({"Entrypoint": ["echo"]}), img.as_object(), id);
        assert_eq!(c["Entrypoint"], json!(["echo"]));
        assert_eq!(c["Cmd"], Value::Null);
    }

    #[test]
    fn users_resolve_through_the_image_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/home:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\nwheel:x:10:nobody\n",
        )
        .unwrap();
        let r = |u: &str| resolve_user(d.path(), u).map(|r| (r.uid, r.gid, r.groups, r.home));
        assert_eq!(r("").unwrap(), (0, 0, vec![0], "/root".to_string()));
        assert_eq!(
            r("nobody").unwrap(),
            (65534, 65534, vec![65534, 10], "/home".to_string())
        );
        assert_eq!(
            r("1000:wheel").unwrap(),
            (1000, 10, vec![10], "/".to_string())
        );
        assert_eq!(
            r("nobody:root").unwrap(),
            (65534, 0, vec![0, 10], "/home".to_string())
        );
        assert!(r("ghost")
            .unwrap_err()
            .contains("unable to find user ghost"));
    }

    #[test]
    fn spec_has_dockers_defaults() {
        let d = tempfile::tempdir().unwrap();
        let config = merge_config(&json!({"Cmd": ["true"]}), None, "0123456789abcdef");
        let s = runtime_spec(&SpecInput {
            config: &config,
            host_config: &json!({}),
            rootfs: d.path(),
            container_dir: d.path(),
            cgroups_path: None,
            cgroup_v2: false,
            shared_namespaces: &[],
            userns: None,
            link_env: &[],
            init: None,
            mounts: &[],
        })
        .unwrap();
        assert_eq!(s["process"]["args"], json!(["true"]));
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            DEFAULT_CAPS.len()
        );
        assert_eq!(s["linux"]["namespaces"].as_array().unwrap().len(), 5);
        let s = runtime_spec(&SpecInput {
            config: &config,
            host_config: &json!({"Privileged": true, "NetworkMode": "host"}),
            rootfs: d.path(),
            container_dir: d.path(),
            cgroups_path: None,
            cgroup_v2: false,
            shared_namespaces: &[],
            userns: None,
            link_env: &[],
            init: None,
            mounts: &[],
        })
        .unwrap();
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            ALL_CAPS.len()
        );
        assert_eq!(s["linux"]["namespaces"].as_array().unwrap().len(), 4);
        assert_eq!(s["linux"]["maskedPaths"], json!([]));
    }
}
