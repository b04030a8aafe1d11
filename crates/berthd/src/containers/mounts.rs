//! A container's mounts as Docker records them (`MountPoints`, shown as `Mounts` in
//! inspect): volumes, bind mounts and `--mount type=tmpfs`, resolved once at create from
//! `HostConfig.Binds`, `HostConfig.Mounts`, `HostConfig.VolumesFrom` and the image's and
//! request's `Volumes`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// Where it appears in the container (absolute, cleaned).
    pub destination: String,
    /// Host path: the bind source, or the volume's data directory. Empty for tmpfs.
    pub source: PathBuf,
    /// Volume name (volumes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Volume driver ("local"), empty for others.
    #[serde(default)]
    pub driver: String,
    /// The mode string as given (`ro`, `z`, `ro,rshared` …), as Docker shows it.
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    /// Bind propagation (`rprivate` unless given); empty for volumes and tmpfs.
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content at the destination into an empty volume on first use.
    #[serde(default)]
    pub copy_data: bool,
    /// Anonymous volume (removed with `rm -v` / `--rm`).
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs mount options (`size=…,mode=…`), tmpfs only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs_options: String,
    /// The `HostConfig.Mounts` entry it came from (`--mount`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
}

impl MountPoint {
    /// The entry of inspect's `Mounts`, in Docker's shape.
    pub fn inspect(&self) -> Value {
        let mut m = json!({
            "Type": self.kind.as_str(),
            "Source": self.source,
            "Destination": self.destination,
            "Mode": self.mode,
            "RW": self.rw,
            "Propagation": self.propagation,
        });
        if self.kind == MountKind::Volume {
            m["Name"] = json!(self.name.clone().unwrap_or_default());
            m["Driver"] = json!(self.driver);
        }
        m
    }
}

/// A volume a mount needs: looked up, or created if missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeWanted {
    /// `None`: a new anonymous volume.
    pub name: Option<String>,
    pub driver: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub options: std::collections::BTreeMap<String, String>,
}

/// A mount as asked for, before its volume (if any) exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub point: MountPoint,
    pub volume: Option<VolumeWanted>,
    /// `--mount type=bind,bind-create-mountpoint`: a missing source is created.
    pub create_source: bool,
}

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// `path` cleaned as Go's `filepath.Clean` does for absolute paths.
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

fn check_destination(spec: &str, kind: &str, dest: &str) -> Result<String, String> {
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid mount path: '{dest}' mount path must be absolute"
        ));
    }
    let d = clean(dest);
    if d == "/" {
        return Err(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid specification: destination can't be '/'"
        ));
    }
    Ok(d)
}

/// The parts of a `-v` mode string: read-only, propagation, no-copy.
fn parse_mode(spec: &str, mode: &str) -> Result<(bool, Option<String>, bool), String> {
    let (mut rw, mut ro, mut prop, mut nocopy, mut label) = (false, false, None, false, false);
    for m in mode.split(',') {
        let dup = match m {
            "ro" | "rw" => {
                let d = rw || ro;
                if m == "ro" {
                    ro = true
                } else {
                    rw = true
                }
                d
            }
            "z" | "Z" => std::mem::replace(&mut label, true),
            "nocopy" => std::mem::replace(&mut nocopy, true),
            "consistent" | "cached" | "delegated" => false,
            p if PROPAGATIONS.contains(&p) => prop.replace(p.to_string()).is_some(),
            _ => true,
        };
        if dup {
            return Err(format!(
                "invalid volume specification: '{spec}': invalid mode: {mode}"
            ));
        }
    }
    Ok((ro, prop, nocopy))
}

/// One `HostConfig.Binds` entry (`-v SRC:DST[:MODE]`, or `-v DST` for an anonymous
/// volume), with Docker's rules and messages.
pub fn parse_bind(spec: &str) -> Result<MountRequest, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_mode = |m: &str| parse_mode(spec, m).is_ok();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [d, m] if is_mode(m) && d.starts_with('/') => ("", *d, *m),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(format!("invalid volume specification: '{spec}'")),
    };
    if parts.len() == 3 && src.is_empty() {
        return Err(format!("invalid volume specification: '{spec}'"));
    }
    let bind = src.starts_with('/');
    let kind = if bind { "bind" } else { "volume" };
    let destination = check_destination(spec, kind, dst)?;
    let (ro, prop, nocopy) = if mode.is_empty() {
        (false, None, false)
    } else {
        parse_mode(spec, mode)?
    };
    if bind {
        if nocopy {
            return Err(format!(
                "invalid volume specification: '{spec}': invalid mode: {mode}"
            ));
        }
        return Ok(MountRequest {
            point: MountPoint {
                kind: MountKind::Bind,
                destination,
                source: PathBuf::from(clean(src)),
                name: None,
                driver: String::new(),
                mode: mode.to_string(),
                rw: !ro,
                propagation: prop.unwrap_or_else(|| "rprivate".into()),
                copy_data: false,
                anonymous: false,
                tmpfs_options: String::new(),
                spec: None,
            },
            volume: None,
            create_source: true,
        });
    }
    if prop.is_some() {
        return Err(format!(
            "invalid volume specification: '{spec}': invalid mode: {mode}"
        ));
    }
    if !src.is_empty() && !berth_volume::valid_name(src) {
        return Err(format!(
            "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    let named = !src.is_empty();
    Ok(MountRequest {
        point: MountPoint {
            kind: MountKind::Volume,
            destination,
            source: PathBuf::new(),
            name: None,
            driver: berth_volume::LOCAL_DRIVER.into(),
            mode: if mode.is_empty() && named {
                "z".into()
            } else {
                mode.to_string()
            },
            rw: !ro,
            propagation: String::new(),
            copy_data: !nocopy,
            anonymous: !named,
            tmpfs_options: String::new(),
            spec: None,
        },
        volume: Some(VolumeWanted {
            name: named.then(|| src.to_string()),
            ..VolumeWanted::default()
        }),
        create_source: false,
    })
}

fn mount_err(kind: &str, msg: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{kind}\": {msg}")
}

fn string_map(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One `HostConfig.Mounts` entry (`--mount`), with Docker's rules and messages.
pub fn parse_mount(m: &Value) -> Result<MountRequest, String> {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
    let present = |k: &str| m.get(k).is_some_and(|v| !v.is_null());
    let kind = s("Type");
    let source = s("Source");
    let target = s("Target");
    let read_only = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
    let k = match kind {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        "" => return Err(mount_err("", "mount type unknown")),
        other => return Err(mount_err(other, "mount type unknown")),
    };
    if target.is_empty() {
        return Err(mount_err(kind, "field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(mount_err(
            kind,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    let destination = clean(target);
    if destination == "/" {
        return Err(mount_err(
            kind,
            "invalid specification: destination can't be '/'",
        ));
    }
    for (field, allowed) in [
        ("BindOptions", MountKind::Bind),
        ("VolumeOptions", MountKind::Volume),
        ("TmpfsOptions", MountKind::Tmpfs),
    ] {
        if present(field) && k != allowed {
            return Err(mount_err(
                kind,
                format!("field {field} must not be specified"),
            ));
        }
    }
    let mut point = MountPoint {
        kind: k,
        destination,
        source: PathBuf::new(),
        name: None,
        driver: String::new(),
        mode: String::new(),
        rw: !read_only,
        propagation: String::new(),
        copy_data: false,
        anonymous: false,
        tmpfs_options: String::new(),
        spec: Some(m.clone()),
    };
    match k {
        MountKind::Bind => {
            if source.is_empty() {
                return Err(mount_err(kind, "field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(mount_err(
                    kind,
                    format!("invalid mount path: '{source}' mount path must be absolute"),
                ));
            }
            let create = m
                .pointer("/BindOptions/CreateMountpoint")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !create && std::fs::metadata(source).is_err() {
                return Err(mount_err(
                    kind,
                    format!("bind source path does not exist: {source}"),
                ));
            }
            let prop = m
                .pointer("/BindOptions/Propagation")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or("rprivate");
            if !PROPAGATIONS.contains(&prop) {
                return Err(mount_err(kind, format!("invalid propagation mode: {prop}")));
            }
            point.source = PathBuf::from(clean(source));
            point.propagation = prop.to_string();
            Ok(MountRequest {
                point,
                volume: None,
                create_source: create,
            })
        }
        MountKind::Volume => {
            if !source.is_empty() && !berth_volume::valid_name(source) {
                return Err(mount_err(
                    kind,
                    format!("invalid volume name {source:?}: only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"),
                ));
            }
            let o = m.get("VolumeOptions");
            point.copy_data = !o
                .and_then(|o| o.get("NoCopy"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            point.driver = o
                .and_then(|o| o.pointer("/DriverConfig/Name"))
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .unwrap_or(berth_volume::LOCAL_DRIVER)
                .to_string();
            point.anonymous = source.is_empty();
            if !source.is_empty() {
                point.mode = "z".into();
            }
            Ok(MountRequest {
                volume: Some(VolumeWanted {
                    name: (!source.is_empty()).then(|| source.to_string()),
                    driver: point.driver.clone(),
                    labels: string_map(o.and_then(|o| o.get("Labels"))),
                    options: string_map(o.and_then(|o| o.pointer("/DriverConfig/Options"))),
                }),
                point,
                create_source: false,
            })
        }
        MountKind::Tmpfs => {
            if !source.is_empty() {
                return Err(mount_err(kind, "field Source must not be specified"));
            }
            let mut opts = Vec::new();
            if read_only {
                opts.push("ro".to_string());
            }
            if let Some(size) = m.pointer("/TmpfsOptions/SizeBytes").and_then(Value::as_i64) {
                if size < 0 {
                    return Err(mount_err(kind, format!("invalid tmpfs size: {size}")));
                }
                if size > 0 {
                    opts.push(format!("size={size}"));
                }
            }
            if let Some(mode) = m.pointer("/TmpfsOptions/Mode").and_then(Value::as_u64) {
                if mode > 0 {
                    opts.push(format!("mode={:o}", mode & 0o7777));
                }
            }
            point.tmpfs_options = opts.join(",");
            Ok(MountRequest {
                point,
                volume: None,
                create_source: false,
            })
        }
    }
}

/// Every mount a new container asks for, in Docker's order of precedence:
/// `--volumes-from` first, then `-v` binds and `--mount`s (which replace a volumes-from
/// mount at the same destination, and may not repeat each other's), then an anonymous
/// volume for each `Volumes` destination (image's and request's) not mounted otherwise.
/// `volumes_from` holds each source container's mounts and the mode asked (`ro`/`rw`).
pub fn plan(
    host_config: &Value,
    config_volumes: Option<&Value>,
    volumes_from: &[(Vec<MountPoint>, Option<String>)],
) -> Result<Vec<MountRequest>, String> {
    let mut out: Vec<MountRequest> = Vec::new();
    for (points, mode) in volumes_from {
        for p in points {
            let mut p = p.clone();
            match mode.as_deref() {
                Some("ro") => p.rw = false,
                Some("rw") => p.rw = true,
                _ => {}
            }
            p.copy_data = false;
            out.retain(|r| r.point.destination != p.destination);
            out.push(MountRequest {
                volume: p.name.clone().map(|n| VolumeWanted {
                    name: Some(n),
                    driver: p.driver.clone(),
                    ..VolumeWanted::default()
                }),
                point: p,
                create_source: false,
            });
        }
    }
    let mut own: Vec<MountRequest> = Vec::new();
    let binds = host_config.get("Binds").and_then(Value::as_array);
    for b in binds.into_iter().flatten() {
        let spec = b
            .as_str()
            .ok_or("invalid volume specification: not a string")?;
        own.push(parse_bind(spec)?);
    }
    let mounts = host_config.get("Mounts").and_then(Value::as_array);
    for m in mounts.into_iter().flatten() {
        own.push(parse_mount(m)?);
    }
    for (i, r) in own.iter().enumerate() {
        if own[..i]
            .iter()
            .any(|o| o.point.destination == r.point.destination)
        {
            return Err(format!("Duplicate mount point: {}", r.point.destination));
        }
    }
    for r in own {
        out.retain(|o| o.point.destination != r.point.destination);
        out.push(r);
    }
    let tmpfs: Vec<String> = host_config
        .get("Tmpfs")
        .and_then(Value::as_object)
        .map(|t| t.keys().map(|k| clean(k)).collect())
        .unwrap_or_default();
    if let Some(vols) = config_volumes.and_then(Value::as_object) {
        for dest in vols.keys() {
            if !dest.starts_with('/') {
                return Err(format!(
                    "invalid volume specification: '{dest}': invalid mount config for type \"volume\": invalid mount path: '{dest}' mount path must be absolute"
                ));
            }
            let d = clean(dest);
            if out.iter().any(|o| o.point.destination == d) || tmpfs.contains(&d) {
                continue;
            }
            let mut r = parse_bind(&d)?;
            r.point.anonymous = true;
            out.push(r);
        }
    }
    Ok(out)
}

/// The OCI spec entry for a mount; `source` is where the daemon made it available
/// (a volume's data directory, mounted if it has options).
pub fn spec_mount(p: &MountPoint) -> Value {
    match p.kind {
        MountKind::Tmpfs => {
            let mut o = vec!["nosuid", "nodev", "noexec"];
            o.extend(p.tmpfs_options.split(',').filter(|s| !s.is_empty()));
            json!({"destination": p.destination, "type": "tmpfs", "source": "tmpfs", "options": o})
        }
        MountKind::Bind | MountKind::Volume => {
            let prop = if p.propagation.is_empty() {
                "rprivate"
            } else {
                &p.propagation
            };
            let mut o = vec!["rbind", prop];
            if !p.rw {
                o.push("ro");
            }
            json!({"destination": p.destination, "type": "bind", "source": p.source, "options": o})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_as_docker_parses_them() {
        let r = parse_bind("/host/dir:/ctr:ro").unwrap();
        assert_eq!(r.point.kind, MountKind::Bind);
        assert_eq!(r.point.source, PathBuf::from("/host/dir"));
        assert_eq!(
            (
                r.point.rw,
                r.point.mode.as_str(),
                r.point.propagation.as_str()
            ),
            (false, "ro", "rprivate")
        );
        let r = parse_bind("/h:/c:rshared,rw").unwrap();
        assert_eq!(
            (r.point.rw, r.point.propagation.as_str()),
            (true, "rshared")
        );
        let r = parse_bind("data:/d").unwrap();
        assert_eq!(r.point.kind, MountKind::Volume);
        assert_eq!(r.volume.unwrap().name.as_deref(), Some("data"));
        assert_eq!(r.point.mode, "z");
        assert!(r.point.copy_data);
        assert!(!parse_bind("data:/d:nocopy").unwrap().point.copy_data);
        let r = parse_bind("/anon").unwrap();
        assert!(r.point.anonymous && r.volume.unwrap().name.is_none());
        let r = parse_bind("/anon:ro").unwrap();
        assert!(!r.point.rw);
        for (bad, msg) in [
            ("/h:rel", "mount path must be absolute"),
            ("/h:/", "destination can't be '/'"),
            ("/h:/c:bogus", "invalid mode: bogus"),
            ("/h:/c:ro,rw", "invalid mode: ro,rw"),
            ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
            ("x!:/c", "includes invalid characters"),
            ("vol:/c:shared", "invalid mode"),
        ] {
            let e = parse_bind(bad).unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    #[test]
    fn mounts_parse_with_dockers_checks() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().display().to_string();
        let r =
            parse_mount(&json!({"Type": "bind", "Source": src, "Target": "/m", "ReadOnly": true}))
                .unwrap();
        assert_eq!(
            (
                r.point.rw,
                r.point.propagation.as_str(),
                r.point.mode.as_str()
            ),
            (false, "rprivate", "")
        );
        let e =
            parse_mount(&json!({"Type": "bind", "Source": format!("{src}/nope"), "Target": "/m"}))
                .unwrap_err();
        assert_eq!(e, format!("invalid mount config for type \"bind\": bind source path does not exist: {src}/nope"));
        let e = parse_mount(&json!({"Type": "bind", "Source": "rel", "Target": "/m"})).unwrap_err();
        assert!(
            e.contains("invalid mount path: 'rel' mount path must be absolute"),
            "{e}"
        );
        let e = parse_mount(
            &json!({"Type": "bind", "Source": src, "Target": "/m", "VolumeOptions": {}}),
        )
        .unwrap_err();
        assert!(e.contains("field VolumeOptions must not be specified"));
        let r = parse_mount(&json!({"Type": "volume", "Source": "v1", "Target": "/v", "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"}, "DriverConfig": {"Options": {"type": "tmpfs"}}}})).unwrap();
        assert!(!r.point.copy_data);
        let w = r.volume.unwrap();
        assert_eq!(w.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(w.options.get("type").map(String::as_str), Some("tmpfs"));
        let r = parse_mount(&json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 2097152, "Mode": 1023}})).unwrap();
        assert_eq!(r.point.tmpfs_options, "size=2097152,mode=1777");
        let e = parse_mount(&json!({"Type": "tmpfs", "Source": "x", "Target": "/t"})).unwrap_err();
        assert!(e.contains("field Source must not be specified"));
        assert!(parse_mount(&json!({"Type": "npipe", "Target": "/t"}))
            .unwrap_err()
            .contains("mount type unknown"));
        assert!(parse_mount(&json!({"Type": "volume"}))
            .unwrap_err()
            .contains("field Target must not be empty"));
    }

    #[test]
    fn plan_orders_and_overrides_like_docker() {
        let from = MountPoint {
            kind: MountKind::Volume,
            destination: "/shared".into(),
            source: "/v/x/_data".into(),
            name: Some("x".into()),
            driver: "local".into(),
            mode: "".into(),
            rw: true,
            propagation: "".into(),
            copy_data: true,
            anonymous: true,
            tmpfs_options: "".into(),
            spec: None,
        };
        let hc = json!({"Binds": ["/h:/data", "named:/n"], "Tmpfs": {"/t": ""}});
        let vols = json!({"/data": {}, "/img": {}, "/t": {}, "/shared": {}});
        let p = plan(&hc, Some(&vols), &[(vec![from], Some("ro".into()))]).unwrap();
        let dests: Vec<&str> = p.iter().map(|r| r.point.destination.as_str()).collect();
        assert_eq!(dests, ["/shared", "/data", "/n", "/img"]);
        assert!(!p[0].point.rw && !p[0].point.copy_data);
        assert!(p[3].point.anonymous && p[3].point.copy_data);
        let e = plan(&json!({"Binds": ["/a:/x", "v1:/x"]}), None, &[]).unwrap_err();
        assert_eq!(e, "Duplicate mount point: /x");
    }
}
