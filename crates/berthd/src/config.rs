//! Daemon configuration: dockerd-style flags merged with a `daemon.json` that uses
//! Docker's key names. As in dockerd, unknown keys are an error and an option given both
//! as a flag and in the file is refused, so a typo never silently changes behaviour.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

#[derive(Debug, clap::Parser)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: serves the Docker Engine API"
)]
pub struct Flags {
    /// Root directory of persistent state
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory for execution state files
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Daemon socket(s) to listen on (unix:///path)
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Path of the file holding the daemon's PID
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Daemon configuration file
    #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,
    /// Logging level (debug, info, warn, error, fatal)
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Parent cgroup for all containers
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Path to the init binary run by `--init` containers (Docker's docker-init, tini)
    #[arg(long)]
    pub init_path: Option<PathBuf>,
    /// Run an init inside every container
    #[arg(long)]
    pub init: bool,
    /// Register an OCI runtime: NAME=PATH (runc, crun, ...)
    #[arg(long = "add-runtime")]
    pub add_runtime: Vec<String>,
    /// The runtime containers use unless they name one
    #[arg(long)]
    pub default_runtime: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Keep containers running when the daemon stops
    #[arg(long)]
    pub live_restore: bool,
    /// Firewall for bridge networks: nftables or iptables (default: nftables when `nft`
    /// works, else iptables)
    #[arg(long)]
    pub firewall_backend: Option<String>,
    /// The default bridge's address and prefix (e.g. 172.26.0.1/16)
    #[arg(long)]
    pub bip: Option<String>,
    /// MTU of the bridges and of containers' interfaces
    #[arg(long)]
    pub mtu: Option<u32>,
    /// Subnets new networks are taken from: base=CIDR,size=PREFIX
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
    /// User/Group setting for user namespaces (default, USER[:GROUP], UID[:GID])
    #[arg(long)]
    pub userns_remap: Option<String>,
    /// Preferred registry mirror
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Insecure registry (host:port or CIDR)
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
}

/// `daemon.json`. Keys berth accepts but does not act on yet are kept so that a file
/// written for dockerd still starts berthd.
// Fields are read by serde's unknown-key check even where berthd does not use them yet.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub hosts: Option<Vec<String>>,
    pub pidfile: Option<PathBuf>,
    pub log_level: Option<String>,
    pub cgroup_parent: Option<String>,
    pub init_path: Option<PathBuf>,
    pub init: Option<bool>,
    pub debug: Option<bool>,
    pub live_restore: Option<bool>,
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    pub default_ulimits: Option<BTreeMap<String, Value>>,
    pub runtimes: Option<BTreeMap<String, Value>>,
    pub default_runtime: Option<String>,
    pub exec_opts: Option<Vec<String>>,
    pub storage_driver: Option<String>,
    pub storage_opts: Option<Vec<String>>,
    pub log_driver: Option<String>,
    pub log_opts: Option<BTreeMap<String, String>>,
    pub bip: Option<String>,
    pub default_address_pools: Option<Vec<Value>>,
    pub mtu: Option<u32>,
    pub dns: Option<Vec<String>>,
    pub dns_opts: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub iptables: Option<bool>,
    pub ip_forward: Option<bool>,
    pub ipv6: Option<bool>,
    pub userland_proxy: Option<bool>,
    pub features: Option<BTreeMap<String, bool>>,
    pub labels: Option<Vec<String>>,
    pub shutdown_timeout: Option<u64>,
    pub max_concurrent_downloads: Option<u32>,
    pub max_concurrent_uploads: Option<u32>,
    pub experimental: Option<bool>,
    pub group: Option<String>,
    pub containerd: Option<String>,
    pub userns_remap: Option<String>,
    pub firewall_backend: Option<String>,
}

// cgroup_parent and default_ulimits are consumed by containers (next step).
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Config {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub hosts: Vec<String>,
    pub pidfile: PathBuf,
    pub log_level: String,
    pub cgroup_parent: Option<String>,
    /// The init binary for `--init` (found on the host when not configured).
    pub init_path: Option<PathBuf>,
    /// `--init` for every container that does not say otherwise.
    pub init: bool,
    /// External OCI runtimes by name (the built-in one is `berth`).
    pub runtimes: BTreeMap<String, PathBuf>,
    pub default_runtime: String,
    pub live_restore: bool,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub default_ulimits: BTreeMap<String, Value>,
    pub labels: Vec<String>,
    pub group: String,
    pub config_file: Option<PathBuf>,
    /// `--userns-remap` as given (resolved to ID ranges when the daemon starts).
    pub userns_remap: Option<String>,
    /// `--bip`, `--mtu` and `--default-address-pool`.
    pub net: crate::networks::NetOptions,
    /// `--firewall-backend`: `nftables`, `iptables`, or empty for the first that works.
    pub firewall_backend: String,
}

impl Config {
    pub fn load(flags: Flags) -> anyhow::Result<Config> {
        let file = read_file(&flags.config_file)?;
        let mut both = Vec::new();
        let mut pick = |name: &str, flag_set: bool, file_set: bool| {
            if flag_set && file_set {
                both.push(name.to_string());
            }
        };
        pick(
            "data-root",
            flags.data_root.is_some(),
            file.data_root.is_some(),
        );
        pick(
            "exec-root",
            flags.exec_root.is_some(),
            file.exec_root.is_some(),
        );
        pick("hosts", !flags.hosts.is_empty(), file.hosts.is_some());
        pick("pidfile", flags.pidfile.is_some(), file.pidfile.is_some());
        pick(
            "log-level",
            flags.log_level.is_some(),
            file.log_level.is_some(),
        );
        pick(
            "cgroup-parent",
            flags.cgroup_parent.is_some(),
            file.cgroup_parent.is_some(),
        );
        pick(
            "init-path",
            flags.init_path.is_some(),
            file.init_path.is_some(),
        );
        pick("bip", flags.bip.is_some(), file.bip.is_some());
        pick(
            "firewall-backend",
            flags.firewall_backend.is_some(),
            file.firewall_backend.is_some(),
        );
        let firewall_backend = flags
            .firewall_backend
            .or(file.firewall_backend)
            .unwrap_or_default();
        if !matches!(firewall_backend.as_str(), "" | "nftables" | "iptables") {
            bail!("invalid firewall-backend {firewall_backend:?}: expected nftables or iptables");
        }
        pick("mtu", flags.mtu.is_some(), file.mtu.is_some());
        pick(
            "default-address-pools",
            !flags.default_address_pools.is_empty(),
            file.default_address_pools.is_some(),
        );
        pick(
            "userns-remap",
            flags.userns_remap.is_some(),
            file.userns_remap.is_some(),
        );
        if !both.is_empty() {
            bail!(
                "unable to configure the berth daemon with file {}: the following directives are specified both as a flag and in the configuration file: {}",
                flags.config_file.display(),
                both.join(", ")
            );
        }
        let log_level = flags.log_level.or(file.log_level).unwrap_or_else(|| {
            if flags.debug || file.debug == Some(true) {
                "debug".into()
            } else {
                "info".into()
            }
        });
        if !["debug", "info", "warn", "error", "fatal", "trace"].contains(&log_level.as_str()) {
            bail!("unable to parse logging level: {log_level}");
        }
        let data_root = flags
            .data_root
            .or(file.data_root)
            .unwrap_or_else(|| DEFAULT_DATA_ROOT.into());
        let exec_root = flags
            .exec_root
            .or(file.exec_root)
            .unwrap_or_else(|| DEFAULT_EXEC_ROOT.into());
        for (what, p) in [("data-root", &data_root), ("exec-root", &exec_root)] {
            if !p.is_absolute() {
                bail!("{what} must be an absolute path: {}", p.display());
            }
        }
        let hosts = if !flags.hosts.is_empty() {
            flags.hosts
        } else {
            file.hosts.unwrap_or_else(|| vec![DEFAULT_HOST.to_string()])
        };
        for h in &hosts {
            parse_unix_host(h)?;
        }
        let mut registry_mirrors = flags.registry_mirrors;
        registry_mirrors.extend(file.registry_mirrors.unwrap_or_default());
        let mut insecure_registries = flags.insecure_registries;
        insecure_registries.extend(file.insecure_registries.unwrap_or_default());
        Ok(Config {
            data_root,
            exec_root,
            hosts,
            pidfile: flags
                .pidfile
                .or(file.pidfile)
                .unwrap_or_else(|| "/var/run/berthd.pid".into()),
            log_level,
            cgroup_parent: flags.cgroup_parent.or(file.cgroup_parent),
            init_path: flags.init_path.or(file.init_path).or_else(find_init),
            init: flags.init || file.init.unwrap_or(false),
            runtimes: runtimes(&flags.add_runtime, file.runtimes.as_ref())?,
            default_runtime: flags
                .default_runtime
                .or(file.default_runtime)
                .unwrap_or_else(|| BUILTIN_RUNTIME.to_string()),
            live_restore: flags.live_restore || file.live_restore.unwrap_or(false),
            registry_mirrors,
            insecure_registries,
            default_ulimits: file.default_ulimits.unwrap_or_default(),
            labels: file.labels.unwrap_or_default(),
            group: file.group.unwrap_or_else(|| "berth".into()),
            config_file: flags.config_file.exists().then_some(flags.config_file),
            firewall_backend,
            net: net_options(
                flags.bip.or(file.bip),
                flags.mtu.or(file.mtu),
                &flags.default_address_pools,
                file.default_address_pools.as_deref(),
            )?,
            userns_remap: flags
                .userns_remap
                .or(file.userns_remap)
                .filter(|s| !s.is_empty()),
        })
    }
}

/// `bip`, `mtu` and `default-address-pools` (flag form `base=CIDR,size=N`, file form
/// `{"base": CIDR, "size": N}`), checked.
fn net_options(
    bip: Option<String>,
    mtu: Option<u32>,
    flag_pools: &[String],
    file_pools: Option<&[Value]>,
) -> anyhow::Result<crate::networks::NetOptions> {
    let bip = match bip {
        Some(b) => Some(crate::networks::parse_cidr(&b).ok_or_else(|| {
            anyhow::anyhow!(
                "invalid bip {b:?}: expected an address with a prefix, e.g. 172.26.0.1/16"
            )
        })?),
        None => None,
    };
    if let Some(m) = mtu {
        if !(68..=65535).contains(&m) {
            bail!("invalid mtu {m}: it must be between 68 and 65535");
        }
    }
    let mut pools = Vec::new();
    let mut add = |base: &str, size: u64| -> anyhow::Result<()> {
        let (addr, prefix) = crate::networks::parse_cidr(base)
            .ok_or_else(|| anyhow::anyhow!("invalid default address pool base {base:?}"))?;
        if size > 32 || (size as u8) < prefix {
            bail!("invalid default address pool size {size} for {base}");
        }
        pools.push((crate::networks::mask(addr, prefix), prefix, size as u8));
        Ok(())
    };
    for p in flag_pools {
        let mut base = None;
        let mut size = None;
        for kv in p.split(',') {
            match kv.split_once('=') {
                Some(("base", v)) => base = Some(v.to_string()),
                Some(("size", v)) => size = v.parse::<u64>().ok(),
                _ => bail!("invalid --default-address-pool {p:?}: expected base=CIDR,size=N"),
            }
        }
        match (base, size) {
            (Some(b), Some(s)) => add(&b, s)?,
            _ => bail!("invalid --default-address-pool {p:?}: expected base=CIDR,size=N"),
        }
    }
    for p in file_pools.into_iter().flatten() {
        let base = p.get("base").and_then(Value::as_str).unwrap_or("");
        let size = p.get("size").and_then(Value::as_u64).unwrap_or(0);
        add(base, size)?;
    }
    Ok(crate::networks::NetOptions { bip, mtu, pools })
}

/// The runtime inside berth (berth-runtime, run by the shim without a command line).
pub const BUILTIN_RUNTIME: &str = "berth";

/// `--add-runtime NAME=PATH` and daemon.json `runtimes` (`{"NAME": {"path": ...}}`), plus
/// `runc` and `crun` when they are installed, as Docker registers runc.
fn runtimes(
    flags: &[String],
    file: Option<&BTreeMap<String, Value>>,
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["runc", "crun"] {
        if let Some(p) = std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            out.insert(name.to_string(), p);
        }
    }
    for (name, v) in file.into_iter().flatten() {
        let p = v
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("runtime {name}: a path is required"))?;
        out.insert(name.clone(), PathBuf::from(p));
    }
    for f in flags {
        let (name, p) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("invalid --add-runtime {f:?}: expected NAME=PATH"))?;
        out.insert(name.to_string(), PathBuf::from(p));
    }
    if out.contains_key(BUILTIN_RUNTIME) {
        bail!("runtime name '{BUILTIN_RUNTIME}' is reserved");
    }
    Ok(out)
}

/// Docker's init is tini; distributions ship it as `docker-init` or `tini-static`. It
/// must be static: it runs inside images that have no C library.
fn find_init() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("docker-init"))
        .chain(
            ["/usr/libexec/docker/docker-init", "/usr/bin/tini-static"]
                .iter()
                .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}

/// A missing file at the default path is fine; a file that is there must be valid.
fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(e).with_context(|| format!("reading configuration file {}", path.display()))
        }
    };
    serde_json::from_slice(&data).map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix("unknown field `") {
            Some(rest) => {
                let key = rest.split('`').next().unwrap_or("");
                anyhow::anyhow!(
                    "unable to configure the berth daemon with file {}: the following directives don't match any configuration option: {key}",
                    path.display()
                )
            }
            None => anyhow::anyhow!("unable to configure the berth daemon with file {}: {msg}", path.display()),
        }
    })
}

/// `unix:///path` → `/path`. TCP comes with TLS support later.
pub fn parse_unix_host(h: &str) -> anyhow::Result<PathBuf> {
    match h.strip_prefix("unix://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        Some(_) => bail!("invalid host {h:?}: the socket path must be absolute"),
        None if h.starts_with("tcp://") || h.starts_with("fd://") => {
            bail!("invalid host {h:?}: only unix:// sockets are supported so far")
        }
        None => bail!("invalid host {h:?}: expected unix:///path/to/socket"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags(args: &[&str]) -> Flags {
        let mut v = vec!["berthd"];
        v.extend(args);
        Flags::parse_from(v)
    }

    #[test]
    fn defaults_are_dockerd_like() {
        let c = Config::load(flags(&["--config-file", "/nonexistent/daemon.json"])).unwrap();
        assert_eq!(c.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        assert_eq!(c.exec_root, PathBuf::from(DEFAULT_EXEC_ROOT));
        assert_eq!(c.hosts, vec![DEFAULT_HOST.to_string()]);
        assert_eq!(c.log_level, "info");
    }

    #[test]
    fn file_values_apply_and_conflicts_and_unknown_keys_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("daemon.json");
        std::fs::write(
            &f,
            r#"{"data-root": "/tmp/x", "live-restore": true, "insecure-registries": ["a:5000"]}"#,
        )
        .unwrap();
        let c = Config::load(flags(&["--config-file", f.to_str().unwrap()])).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/tmp/x"));
        assert!(c.live_restore);
        assert_eq!(c.insecure_registries, vec!["a:5000".to_string()]);
        let e = Config::load(flags(&[
            "--config-file",
            f.to_str().unwrap(),
            "--data-root",
            "/y",
        ]))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("both as a flag and in the configuration file: data-root"),
            "{e}"
        );
        std::fs::write(&f, r#"{"data-rot": "/tmp/x"}"#).unwrap();
        let e = Config::load(flags(&["--config-file", f.to_str().unwrap()])).unwrap_err();
        assert!(
            e.to_string()
                .contains("don't match any configuration option: data-rot"),
            "{e}"
        );
    }

    #[test]
    fn hosts_must_be_unix_sockets() {
        assert_eq!(
            parse_unix_host("unix:///run/x.sock").unwrap(),
            PathBuf::from("/run/x.sock")
        );
        assert!(parse_unix_host("unix://rel.sock").is_err());
        assert!(parse_unix_host("/run/x.sock").is_err());
    }
}
