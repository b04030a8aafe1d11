//! Docker's network objects: the predefined `bridge`, `host` and `none`, and user-defined
//! bridge networks, kept one JSON record per network under `<data-root>/networks/`. This
//! module knows names, IDs, subnets and the API's shape; wiring containers into them is
//! done with `berth-network` when a container starts.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The host bridge of Docker's default network (`docker0` there).
pub const DEFAULT_BRIDGE: &str = "berth0";

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("plugin \"{0}\" not found")]
    PluginNotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
}

impl berth_errors::HasKind for NetworkError {
    fn kind(&self) -> berth_errors::ErrorKind {
        use berth_errors::ErrorKind as K;
        match self {
            NetworkError::NotFound(_) | NetworkError::PluginNotFound(_) => K::NotFound,
            NetworkError::Conflict(_) => K::Conflict,
            NetworkError::Forbidden(_) => K::Forbidden,
            NetworkError::Invalid(_) => K::InvalidArgument,
            NetworkError::Internal(_) => K::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, NetworkError>;

/// One IPv4 subnet of a network (`IPAM.Config[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// Network address and prefix length.
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// `--ip-range`: where automatic addresses come from (the whole subnet when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(Ipv4Addr, u8)>,
}

impl Subnet {
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        mask(ip, self.prefix) == self.addr
    }

    fn overlaps(&self, addr: Ipv4Addr, prefix: u8) -> bool {
        let p = self.prefix.min(prefix);
        mask(self.addr, p) == mask(addr, p)
    }
}

/// `ip` with all but the first `prefix` bits cleared.
pub fn mask(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(ip);
    let m = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    Ipv4Addr::from(bits & m)
}

/// `a.b.c.d/n`, checked; the address is returned as given (not masked).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, p) = s.split_once('/')?;
    let prefix: u8 = p.parse().ok().filter(|p| *p <= 32)?;
    Some((a.parse().ok()?, prefix))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// `bridge`, `host` or `null` (Docker's driver names).
    pub driver: String,
    /// The host bridge interface (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// With `--ipv6`: its IPv6 subnet (a ULA one, usually) and gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<(ipnet::Ipv6Net, std::net::Ipv6Addr)>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub labels: Map<String, Value>,
}

impl NetworkRecord {
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// The API's network object; `containers` are its endpoints (inspect only).
    pub fn to_api(&self, containers: Option<Value>) -> Value {
        let config: Vec<Value> = self
            .subnets
            .iter()
            .map(|s| {
                let mut c = json!({"Subnet": s.cidr(), "Gateway": s.gateway.to_string()});
                if let Some((a, p)) = s.range {
                    c["IPRange"] = json!(format!("{a}/{p}"));
                }
                c
            })
            .chain(
                self.subnet6
                    .iter()
                    .map(|(net, gw)| json!({"Subnet": net.to_string(), "Gateway": gw.to_string()})),
            )
            .collect();
        let mut v = json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv4": true,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Options": self.options,
            "Labels": self.labels,
        });
        if let Some(c) = containers {
            v["Containers"] = c;
        }
        v
    }
}

/// The daemon's network settings (`--bip`, `--mtu`, `--default-address-pool`).
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// The default bridge's gateway address and prefix.
    pub bip: Option<(Ipv4Addr, u8)>,
    pub mtu: Option<u32>,
    /// (base, prefix of the base, size of each subnet); Docker's pools when empty.
    pub pools: Vec<(Ipv4Addr, u8, u8)>,
}

pub struct Networks {
    dir: PathBuf,
    index: Mutex<HashMap<String, NetworkRecord>>,
    opts: NetOptions,
}

impl Networks {
    /// Opens the store, creating the predefined networks on first use. `host_routes`
    /// are the host's IPv4 routes (address, prefix) the default bridge must not overlap.
    pub fn open(
        data_root: &Path,
        host_routes: &[(Ipv4Addr, u8)],
        opts: NetOptions,
    ) -> anyhow::Result<Networks> {
        let dir = data_root.join("networks");
        berth_store::create_dir_all_durable(&dir)?;
        berth_store::sweep_temporaries(&dir)?;
        let mut index = HashMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match berth_store::read_json::<NetworkRecord>(&p) {
                Ok(r) => {
                    index.insert(r.id.clone(), r);
                }
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "skipping a damaged network record")
                }
            }
        }
        let n = Networks {
            dir,
            index: Mutex::new(index),
            opts,
        };
        n.apply_bip()?;
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if n.get(name).is_ok() {
                continue;
            }
            let mut rec = NetworkRecord {
                id: berth_store::random_hex(32),
                name: name.into(),
                created: now(),
                driver: driver.into(),
                bridge: String::new(),
                subnets: Vec::new(),
                internal: false,
                attachable: false,
                enable_ipv6: false,
                subnet6: None,
                options: Map::new(),
                labels: Map::new(),
            };
            if name == "bridge" {
                let (addr, prefix, gateway) = match n.opts.bip {
                    Some((gw, p)) => (mask(gw, p), p, gw),
                    None => {
                        let (a, p) = n.free_pool(host_routes).ok_or_else(|| {
                            anyhow::anyhow!("no free subnet for the default bridge")
                        })?;
                        (a, p, Ipv4Addr::from(u32::from(a) + 1))
                    }
                };
                rec.bridge = DEFAULT_BRIDGE.into();
                rec.subnets = vec![Subnet {
                    addr,
                    prefix,
                    gateway,
                    range: None,
                }];
                for (k, v) in [
                    ("com.docker.network.bridge.default_bridge", "true"),
                    ("com.docker.network.bridge.enable_icc", "true"),
                    ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                    ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                    ("com.docker.network.bridge.name", DEFAULT_BRIDGE),
                ] {
                    rec.options.insert(k.into(), json!(v));
                }
                rec.options.insert(
                    "com.docker.network.driver.mtu".into(),
                    json!(n.opts.mtu.unwrap_or(1500).to_string()),
                );
            }
            n.save(&rec)?;
            n.lock().insert(rec.id.clone(), rec);
        }
        Ok(n)
    }

    /// `--bip` given now re-addresses an existing default bridge, as dockerd does at start.
    fn apply_bip(&self) -> anyhow::Result<()> {
        let Some((gw, p)) = self.opts.bip else {
            return Ok(());
        };
        let mut idx = self.lock();
        let Some(rec) = idx.values_mut().find(|r| r.name == "bridge") else {
            return Ok(());
        };
        let want = Subnet {
            addr: mask(gw, p),
            prefix: p,
            gateway: gw,
            range: None,
        };
        if rec.subnets.first() != Some(&want) {
            rec.subnets = vec![want];
            berth_store::write_json(&self.dir.join(format!("{}.json", rec.id)), &*rec)?;
        }
        Ok(())
    }

    /// The default bridge's gateway (what `--add-host NAME:host-gateway` resolves to).
    pub fn default_gateway(&self) -> Option<Ipv4Addr> {
        self.get("bridge")
            .ok()
            .and_then(|b| b.subnets.first().map(|s| s.gateway))
    }

    pub fn mtu(&self) -> Option<u32> {
        self.opts.mtu
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, NetworkRecord>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, rec: &NetworkRecord) -> anyhow::Result<()> {
        berth_store::write_json(&self.dir.join(format!("{}.json", rec.id)), rec)?;
        Ok(())
    }

    /// Docker's choice of a subnet: the first of its default pools that overlaps no
    /// network of ours and nothing `reserved` (the host's routes and nameservers).
    fn free_pool(&self, reserved: &[(Ipv4Addr, u8)]) -> Option<(Ipv4Addr, u8)> {
        let net = |(a, p): (Ipv4Addr, u8)| ipnet::Ipv4Net::new(a, p).ok();
        // A default route reserves nothing.
        let reserved: Vec<ipnet::Ipv4Net> = reserved
            .iter()
            .copied()
            .filter(|(_, p)| *p > 0)
            .filter_map(net)
            .collect();
        let in_use: Vec<ipnet::Ipv4Net> = self
            .lock()
            .values()
            .flat_map(|n| &n.subnets)
            .filter_map(|s| net((s.addr, s.prefix)))
            .collect();
        let pools = if self.opts.pools.is_empty() {
            berth_network::ipam::default_address_pools()
        } else {
            self.opts
                .pools
                .iter()
                .filter_map(|(a, p, size)| {
                    Some(berth_network::ipam::PredefinedPool {
                        base: ipnet::Ipv4Net::new(*a, *p).ok()?,
                        size: *size,
                    })
                })
                .collect()
        };
        berth_network::ipam::choose_default_subnet(&reserved, &in_use, &pools)
            .ok()
            .map(|n| (n.network(), n.prefix_len()))
    }

    /// By full name, full ID or unique ID prefix (Docker's lookup order).
    pub fn get(&self, key: &str) -> Result<NetworkRecord> {
        let idx = self.lock();
        if let Some(r) = idx.values().find(|r| r.name == key) {
            return Ok(r.clone());
        }
        if let Some(r) = idx.get(key) {
            return Ok(r.clone());
        }
        let mut hits = idx
            .values()
            .filter(|r| !key.is_empty() && r.id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(r), None) => Ok(r.clone()),
            (Some(_), Some(_)) => Err(NetworkError::Invalid(format!("network {key} is ambiguous"))),
            _ => Err(NetworkError::NotFound(key.to_string())),
        }
    }

    pub fn all(&self) -> Vec<NetworkRecord> {
        let mut v: Vec<_> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// `POST /networks/create`.
    pub fn create(&self, body: &Value, host_routes: &[(Ipv4Addr, u8)]) -> Result<NetworkRecord> {
        let name = body.get("Name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(NetworkError::Invalid("network name is required".into()));
        }
        let driver = body
            .get("Driver")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .unwrap_or("bridge");
        if driver != "bridge" {
            return Err(NetworkError::PluginNotFound(driver.to_string()));
        }
        if self.get(name).is_ok_and(|r| r.name == name) {
            return Err(NetworkError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let id = berth_store::random_hex(32);
        let options = body
            .get("Options")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let bridge = options
            .get("com.docker.network.bridge.name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ', ':']) {
            return Err(NetworkError::Invalid(format!(
                "invalid bridge name {bridge:?}"
            )));
        }
        if self.lock().values().any(|n| n.bridge == bridge) {
            return Err(NetworkError::Conflict(format!(
                "bridge name {bridge} is already in use by another network"
            )));
        }
        let mut subnets = Vec::new();
        let mut subnet6 = None;
        for c in body
            .pointer("/IPAM/Config")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(sub) = c
                .get("Subnet")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            if sub.contains(':') {
                let net: ipnet::Ipv6Net = sub.parse().map_err(|_| {
                    NetworkError::Invalid(format!(
                        "invalid network config:\ninvalid subnet {sub} : invalid CIDR address: {sub}"
                    ))
                })?;
                let net = net.trunc();
                let gateway = match c
                    .get("Gateway")
                    .and_then(Value::as_str)
                    .filter(|g| !g.is_empty())
                {
                    Some(g) => g.parse::<std::net::Ipv6Addr>().map_err(|_| {
                        NetworkError::Invalid(format!("invalid gateway address {g}"))
                    })?,
                    None => std::net::Ipv6Addr::from(u128::from(net.network()) + 1),
                };
                if !net.contains(&gateway) {
                    return Err(NetworkError::Invalid(format!(
                        "no matching subnet for gateway {gateway}"
                    )));
                }
                subnet6 = Some((net, gateway));
                continue;
            }
            let Some((addr, prefix)) = parse_cidr(sub) else {
                return Err(NetworkError::Invalid(format!(
                    "invalid network config:\ninvalid subnet {sub} : invalid CIDR address: {sub}"
                )));
            };
            let addr = mask(addr, prefix);
            let gateway = match c
                .get("Gateway")
                .and_then(Value::as_str)
                .filter(|g| !g.is_empty())
            {
                Some(g) => g
                    .parse::<Ipv4Addr>()
                    .map_err(|_| NetworkError::Invalid(format!("invalid gateway address {g}")))?,
                None => Ipv4Addr::from(u32::from(addr) + 1),
            };
            let range = match c
                .get("IPRange")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                Some(r) => {
                    let (ra, rp) = parse_cidr(r)
                        .ok_or_else(|| NetworkError::Invalid(format!("invalid ip-range {r}")))?;
                    Some((mask(ra, rp), rp))
                }
                None => None,
            };
            let s = Subnet {
                addr,
                prefix,
                gateway,
                range,
            };
            if !s.contains(gateway) {
                return Err(NetworkError::Invalid(format!(
                    "no matching subnet for gateway {gateway}"
                )));
            }
            if let Some((ra, rp)) = range {
                if rp < prefix || !s.contains(ra) {
                    return Err(NetworkError::Invalid(format!(
                        "no matching subnet for range {ra}/{rp}"
                    )));
                }
            }
            if self
                .lock()
                .values()
                .flat_map(|n| &n.subnets)
                .any(|o| o.overlaps(addr, prefix))
            {
                return Err(NetworkError::Forbidden(
                    "invalid pool request: Pool overlaps with other one on this address space"
                        .into(),
                ));
            }
            subnets.push(s);
        }
        if subnets.is_empty() {
            let (addr, prefix) = self.free_pool(host_routes).ok_or_else(|| {
                NetworkError::Invalid(
                    "all predefined address pools have been fully subnetted".into(),
                )
            })?;
            subnets.push(Subnet {
                addr,
                prefix,
                gateway: Ipv4Addr::from(u32::from(addr) + 1),
                range: None,
            });
        }
        let enable_ipv6 = body
            .get("EnableIPv6")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !enable_ipv6 {
            subnet6 = None;
        } else if subnet6.is_none() {
            // Docker gives an IPv6 network without a subnet a unique local one.
            let n: u128 = u128::from_str_radix(&id[..10], 16).unwrap_or(1);
            let net =
                ipnet::Ipv6Net::new(std::net::Ipv6Addr::from((0xfdu128 << 120) | (n << 80)), 64)
                    .expect("a /64 is a valid prefix");
            subnet6 = Some((net, std::net::Ipv6Addr::from(u128::from(net.network()) + 1)));
        }
        let rec = NetworkRecord {
            id,
            name: name.to_string(),
            created: now(),
            driver: "bridge".into(),
            bridge,
            subnets,
            internal: body
                .get("Internal")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            attachable: body
                .get("Attachable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            enable_ipv6,
            subnet6,
            options,
            labels: body
                .get("Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        self.save(&rec)
            .map_err(|e| NetworkError::Internal(e.to_string()))?;
        self.lock().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Removes a user-defined network (the caller checked it has no endpoints).
    pub fn remove(&self, rec: &NetworkRecord) -> Result<()> {
        if rec.predefined() {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let path = self.dir.join(format!("{}.json", rec.id));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NetworkError::Internal(e.to_string())),
        }
        let _ = berth_store::fsync_dir(&self.dir);
        self.lock().remove(&rec.id);
        Ok(())
    }
}

/// What new subnets must stay clear of: the host's on-link routes and nameservers (as
/// Docker), read in the daemon's network namespace.
pub fn reserved_networks() -> Vec<(Ipv4Addr, u8)> {
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    match berth_network::ipam::host_reserved_networks(&resolv) {
        Ok(nets) => nets.iter().map(|n| (n.network(), n.prefix_len())).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the host's routes");
            Vec::new()
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bridge_avoids_host_routes_and_user_networks_take_the_next_pool() {
        let dir = tempfile::tempdir().unwrap();
        let routes = [
            (Ipv4Addr::new(172, 17, 5, 0), 24),
            (Ipv4Addr::new(0, 0, 0, 0), 0),
        ];
        let n = Networks::open(dir.path(), &routes, NetOptions::default()).unwrap();
        let bridge = n.get("bridge").unwrap();
        assert_eq!(bridge.subnets[0].cidr(), "172.18.0.0/16");
        assert_eq!(bridge.subnets[0].gateway, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(n.get("host").unwrap().driver, "host");
        assert_eq!(n.get("none").unwrap().driver, "null");
        let a = n.create(&json!({"Name": "a"}), &routes).unwrap();
        assert_eq!(a.subnets[0].cidr(), "172.19.0.0/16");
        assert_eq!(a.bridge, format!("br-{}", &a.id[..12]));
        let e = n.create(&json!({"Name": "a"}), &routes).unwrap_err();
        assert_eq!(e.to_string(), "network with name a already exists");
        let e = n
            .create(
                &json!({"Name": "b", "IPAM": {"Config": [{"Subnet": "172.19.3.0/24"}]}}),
                &routes,
            )
            .unwrap_err();
        assert!(e.to_string().contains("Pool overlaps"), "{e}");
        let c = n
            .create(
                &json!({"Name": "c", "IPAM": {"Config": [{"Subnet": "10.1.2.0/24", "Gateway": "10.1.2.254"}]}}),
                &routes,
            )
            .unwrap();
        assert_eq!(c.subnets[0].gateway, Ipv4Addr::new(10, 1, 2, 254));
        let e = n
            .create(
                &json!({"Name": "d", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.8.0.1"}]}}),
                &routes,
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("no matching subnet for gateway"),
            "{e}"
        );
        // Reopened from disk: the same networks.
        drop(n);
        let n = Networks::open(dir.path(), &routes, NetOptions::default()).unwrap();
        assert_eq!(n.get(&a.id[..10]).unwrap().name, "a");
        assert_eq!(n.all().len(), 5);
        assert!(n.remove(&n.get("bridge").unwrap()).is_err());
        n.remove(&a).unwrap();
        // By ID: the name "a" could still match another ID's prefix, as in Docker.
        assert!(matches!(n.get(&a.id), Err(NetworkError::NotFound(_))));
    }
}
