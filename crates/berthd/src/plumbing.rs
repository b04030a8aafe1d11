//! Connecting containers to their networks: before the runtime starts, the daemon makes
//! the container's network namespace (bind-mounted under `<exec-root>/netns/`), takes an
//! address from the network's IPAM, and plugs a veth pair into the network's bridge; the
//! runtime spec then joins that namespace by path. At exit, or at `rm`, all of it is
//! undone. The firewall is one desired state, re-applied after every change.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use berth_network::firewall::{FirewallDriver, FirewallNetwork, FirewallState};
use berth_network::ipam::{Family, NetworkIpam, PoolConfig};
use berth_network::link::{self, BridgeConfig, VethConfig};
use serde_json::Value;

use crate::containers::{ContainerError, Endpoint, Record};
use crate::daemon::Daemon;
use crate::networks::NetworkRecord;

fn internal(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Internal(e.to_string())
}

/// The network a container's `NetworkMode` plugs it into, if any: `None` for `host` and
/// `container:` (no namespace of its own) and `Some(None)` for `none` (a namespace with
/// only `lo`).
fn wanted_network(rec: &Record) -> Option<Option<String>> {
    match rec
        .host_config
        .get("NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("default")
    {
        "host" => None,
        m if m.starts_with("container:") => None,
        "none" => Some(None),
        "" | "default" | "bridge" => Some(Some("bridge".into())),
        name => Some(Some(name.to_string())),
    }
}

/// `EndpointsConfig[<network>].IPAMConfig.IPv4Address` (`--ip`), `Aliases` and
/// `MacAddress` (`--mac-address`, sent there since API 1.44; older clients put it in
/// `Config.MacAddress`).
fn endpoint_config(
    rec: &Record,
    net: &NetworkRecord,
) -> (Option<Ipv4Addr>, Vec<String>, Option<String>) {
    let cfg = rec
        .endpoint_config
        .get(&net.name)
        .or_else(|| rec.endpoint_config.get(&net.id));
    let ip = cfg
        .and_then(|c| c.pointer("/IPAMConfig/IPv4Address"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok());
    let aliases = cfg
        .and_then(|c| c.get("Aliases"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mac = cfg
        .and_then(|c| c.get("MacAddress"))
        .or_else(|| rec.config.get("MacAddress"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    (ip, aliases, mac)
}

/// How long a network's rules stay after its last container left.
const FIREWALL_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// What [`Daemon::attach_networks`] made for a starting container.
#[derive(Debug, Default)]
pub struct Attached {
    /// The namespace for the runtime spec (`None`: it uses another's).
    pub netns: Option<PathBuf>,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub ports: Vec<crate::ports::Published>,
}

impl Daemon {
    fn ipam_dir(&self) -> PathBuf {
        self.config.data_root.join("networks").join("ipam")
    }

    /// A network's address state, made from its record the first time it is needed.
    fn ipam(&self, net: &NetworkRecord) -> Result<NetworkIpam, ContainerError> {
        match NetworkIpam::open(&self.ipam_dir(), &net.id) {
            Ok(i) => Ok(i),
            Err(berth_network::NetError::NotFound(_)) => {
                let mut pools: Vec<PoolConfig> = net
                    .subnets
                    .iter()
                    .map(|s| PoolConfig {
                        subnet: format!("{}/{}", s.addr, s.prefix)
                            .parse()
                            .expect("a subnet record is a valid CIDR"),
                        ip_range: s
                            .range
                            .map(|(a, p)| format!("{a}/{p}").parse().expect("a valid range")),
                        gateway: Some(IpAddr::V4(s.gateway)),
                    })
                    .collect();
                if let Some((net6, gw6)) = net.subnet6 {
                    pools.push(PoolConfig {
                        subnet: ipnet::IpNet::V6(net6),
                        ip_range: None,
                        gateway: Some(IpAddr::V6(gw6)),
                    });
                }
                NetworkIpam::create(&self.ipam_dir(), &net.id, &net.name, &pools, true)
                    .map_err(internal)
            }
            Err(e) => Err(internal(e)),
        }
    }

    /// Makes the container's namespace and endpoints; returns the namespace's path for the
    /// runtime spec (`None`: the container uses another namespace). Undoes what it did
    /// when a step fails.
    pub fn attach_networks(self: &Arc<Self>, rec: &Record) -> Result<Attached, ContainerError> {
        let Some(net_name) = wanted_network(rec) else {
            // Docker ignores published ports on the host's network.
            return Ok(Attached::default());
        };
        let netns = self.containers.netns_path(&rec.id);
        if let Some(dir) = netns.parent() {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        // A namespace left by a crash is replaced.
        let _ = berth_network::netns::remove_netns(&netns);
        berth_network::netns::create_netns(&netns).map_err(internal)?;
        let mut endpoints = BTreeMap::new();
        // Its `--network`, then those it was connected to while stopped.
        let mut names: Vec<String> = net_name.into_iter().collect();
        if !names.is_empty() {
            for n in rec.endpoint_config.keys() {
                if !names.contains(n) && self.networks.get(n).is_ok() {
                    names.push(n.clone());
                }
            }
        }
        for (i, name) in names.iter().enumerate() {
            match self.attach_one(rec, name, &netns, &format!("eth{i}")) {
                Ok(ep) => {
                    endpoints.insert(name.clone(), ep);
                }
                Err(e) => {
                    let mut partial = rec.clone();
                    partial.endpoints = endpoints;
                    self.detach_networks(&partial);
                    return Err(e);
                }
            }
        }
        // Published ports go to the first network's address.
        let mut published = Vec::new();
        if !endpoints.is_empty() {
            let wanted = crate::ports::wanted(&rec.config, &rec.host_config)
                .map_err(ContainerError::Invalid)?;
            match crate::ports::claim(&wanted) {
                Ok((p, holds)) => {
                    published = p;
                    self.port_holds
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(rec.id.clone(), holds);
                }
                Err(e) => {
                    let mut partial = rec.clone();
                    partial.endpoints = endpoints;
                    self.detach_networks(&partial);
                    return Err(ContainerError::Invalid(format!(
                        "driver failed programming external connectivity on endpoint {}: {e}",
                        rec.name
                    )));
                }
            }
        }
        // The caller applies the firewall once the endpoints are in the record.
        Ok(Attached {
            netns: Some(netns),
            endpoints,
            ports: published,
        })
    }

    fn attach_one(
        &self,
        rec: &Record,
        name: &str,
        netns: &std::path::Path,
        ifname: &str,
    ) -> Result<Endpoint, ContainerError> {
        let net = self
            .networks
            .get(name)
            .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        let subnet = net
            .subnets
            .first()
            .cloned()
            .ok_or_else(|| ContainerError::Invalid(format!("network {name} has no subnet")))?;
        let (want_ip, aliases, want_mac) = endpoint_config(rec, &net);
        let mut ipam = self.ipam(&net)?;
        let ip = match want_ip {
            Some(ip) => ipam.allocate_specific(IpAddr::V4(ip), &rec.id),
            None => ipam.allocate(Family::V4, &rec.id),
        }
        .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        let IpAddr::V4(ip) = ip else {
            return Err(internal("an IPv4 pool gave an IPv6 address"));
        };
        let ip6 = match net.subnet6 {
            Some((net6, gw6)) => match ipam.allocate(Family::V6, &rec.id) {
                Ok(IpAddr::V6(a)) => Some((a, net6.prefix_len(), gw6)),
                Ok(_) => None,
                Err(e) => {
                    let _ = ipam.release(IpAddr::V4(ip));
                    return Err(ContainerError::Invalid(e.to_string()));
                }
            },
            None => None,
        };
        let host_ifname = link::host_ifname(&rec.id, &net.id);
        let plug = || -> Result<[u8; 6], ContainerError> {
            link::ensure_bridge(&BridgeConfig {
                name: net.bridge.clone(),
                mtu: self.networks.mtu(),
                ipv4: Some(
                    format!("{}/{}", subnet.gateway, subnet.prefix)
                        .parse()
                        .map_err(internal)?,
                ),
                ipv6: net
                    .subnet6
                    .map(|(n6, gw6)| ipnet::Ipv6Net::new(gw6, n6.prefix_len()))
                    .transpose()
                    .map_err(internal)?,
            })
            .map_err(internal)?;
            berth_network::sysctl::enable_ip_forward().map_err(internal)?;
            if net.subnet6.is_some() {
                berth_network::sysctl::enable_ipv6_forward().map_err(internal)?;
            }
            let mac = match &want_mac {
                Some(m) => parse_mac(m)
                    .ok_or_else(|| ContainerError::Invalid(format!("invalid MAC address: {m}")))?,
                None => link::docker_mac(ip),
            };
            let mut veth = VethConfig::new(&net.bridge, &host_ifname, netns);
            veth.container_ifname = ifname;
            veth.mtu = self.networks.mtu();
            veth.mac = Some(mac);
            veth.ipv4 = Some(
                format!("{ip}/{}", subnet.prefix)
                    .parse()
                    .map_err(internal)?,
            );
            veth.gateway4 = (!net.internal).then_some(subnet.gateway);
            if let Some((a, p, gw)) = ip6 {
                veth.ipv6 = Some(ipnet::Ipv6Net::new(a, p).map_err(internal)?);
                veth.gateway6 = (!net.internal).then_some(gw);
            }
            link::attach_veth(&veth).map_err(internal)?;
            Ok(mac)
        };
        match plug() {
            Ok(mac) => Ok(Endpoint {
                network_id: net.id.clone(),
                endpoint_id: berth_store::random_hex(32),
                ip,
                prefix: subnet.prefix,
                gateway: subnet.gateway,
                mac: link::format_mac(&mac),
                aliases,
                host_ifname,
                ip6,
            }),
            Err(e) => {
                let _ = link::detach_veth(&host_ifname);
                let _ = ipam.release(IpAddr::V4(ip));
                if let Some((a, _, _)) = ip6 {
                    let _ = ipam.release(IpAddr::V6(a));
                }
                Err(e)
            }
        }
    }

    /// `docker network connect` on a running container: one more interface (`ethN`).
    pub fn connect_running(
        self: &Arc<Self>,
        rec: &Record,
        net: &NetworkRecord,
    ) -> Result<Endpoint, ContainerError> {
        let netns = self.containers.netns_path(&rec.id);
        let ifname = format!("eth{}", rec.endpoints.len());
        // The caller applies the firewall once the endpoint is in the record.
        self.attach_one(rec, &net.name, &netns, &ifname)
    }

    /// `docker network disconnect` of a running container's endpoint.
    pub fn disconnect_running(&self, rec: &Record, net: &NetworkRecord, ep: &Endpoint) {
        if let Err(e) = link::detach_veth(&ep.host_ifname) {
            tracing::warn!(container = %rec.id, network = %net.name, error = %e, "removing the veth pair");
        }
        if let Ok(mut ipam) = self.ipam(net) {
            let _ = ipam.release(IpAddr::V4(ep.ip));
            if let Some((a, _, _)) = ep.ip6 {
                let _ = ipam.release(IpAddr::V6(a));
            }
        }
    }

    /// Clears the container's endpoints and ports from its record, then undoes them (the
    /// firewall is recomputed from the records, so the order matters). Returns the
    /// updated record.
    pub fn forget_networks(&self, rec: &Record) -> Record {
        let updated = match self.containers.get(&rec.id) {
            Ok(c) => self
                .containers
                .update(&c, |r| {
                    r.endpoints.clear();
                    r.ports.clear();
                })
                .unwrap_or_else(|_| rec.clone()),
            Err(_) => rec.clone(),
        };
        self.detach_networks(rec);
        for ep in rec.endpoints.values() {
            if let Ok(n) = self.networks.get(&ep.network_id) {
                self.network_event(&n, "disconnect", &[("container", rec.id.clone())]);
            }
        }
        updated
    }

    /// Undoes [`attach_networks`]: every endpoint and the namespace. Safe to repeat, and
    /// to call for a container that never had any.
    pub fn detach_networks(&self, rec: &Record) {
        {
            let mut used = self
                .network_last_used
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            for ep in rec.endpoints.values() {
                used.insert(ep.network_id.clone(), now);
            }
            used.retain(|_, t| t.elapsed() < FIREWALL_LINGER);
        }
        self.port_holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        let netns = self.containers.netns_path(&rec.id);
        if let Err(e) = berth_network::netns::remove_netns(&netns) {
            tracing::warn!(container = %rec.id, error = %e, "removing the network namespace");
        }
        for ep in rec.endpoints.values() {
            if let Ok(net) = self.networks.get(&ep.network_id) {
                if let Ok(mut ipam) = self.ipam(&net) {
                    let _ = ipam.release_owner(&rec.id);
                }
            }
        }
        // Deleting a network device waits for the kernel's RCU grace periods (15–20 ms
        // here), which would sit on every `rm` and `run --rm`: it happens on a thread of
        // its own. The address is free already; the old pair's MAC is the address's own,
        // so a new container taking it meets no stale neighbour entry. A daemon killed
        // before the thread is done finds the pair at its next start (sweep_veths).
        let doomed: Vec<String> = rec
            .endpoints
            .values()
            .map(|e| e.host_ifname.clone())
            .collect();
        if !doomed.is_empty() {
            let id = rec.id.clone();
            std::thread::spawn(move || {
                for name in doomed {
                    if let Err(e) = link::detach_veth(&name) {
                        tracing::warn!(container = %id, error = %e, "removing the veth pair");
                    }
                }
            });
        }
        if !rec.endpoints.is_empty() {
            self.apply_firewall();
        }
    }

    /// Deletes host ends of veth pairs on our bridges that no container's record names
    /// (left by a daemon killed while removing them).
    pub fn sweep_veths(&self) {
        let bridges: Vec<u32> = self
            .networks
            .all()
            .iter()
            .filter(|n| !n.bridge.is_empty())
            .filter_map(|n| link::link_details(&n.bridge).ok().flatten())
            .map(|l| l.index)
            .collect();
        let known: Vec<String> = self
            .containers
            .all()
            .iter()
            .flat_map(|c| {
                c.record()
                    .endpoints
                    .values()
                    .map(|e| e.host_ifname.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        for name in link::link_names().unwrap_or_default() {
            if !name.starts_with("veth") || known.contains(&name) {
                continue;
            }
            let ours = link::link_details(&name)
                .ok()
                .flatten()
                .and_then(|l| l.controller)
                .is_some_and(|c| bridges.contains(&c));
            if ours {
                tracing::info!(link = %name, "removing a veth pair no container owns");
                let _ = link::detach_veth(&name);
            }
        }
    }

    /// After a daemon restart: the running containers' published ports are held again.
    pub fn rehold_ports(&self, rec: &Record) {
        if rec.ports.is_empty() {
            return;
        }
        let mut holds = Vec::new();
        for p in &rec.ports {
            let wanted = [crate::ports::Binding {
                container_port: p.container_port,
                proto: p.proto.clone(),
                host_ip: p.host_ip.clone(),
                host_ports: Some((p.host_port, p.host_port)),
            }];
            match crate::ports::claim(&wanted) {
                Ok((_, h)) => holds.extend(h),
                Err(e) => {
                    tracing::warn!(container = %rec.id, error = %e, "holding a published port again")
                }
            }
        }
        self.port_holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rec.id.clone(), holds);
    }

    /// What the firewall should hold now: every bridge network, and the published ports
    /// of running containers.
    pub fn firewall_state(&self) -> FirewallState {
        // Only networks with a running container on them, or that had one moments ago
        // (FIREWALL_LINGER): with none, no rule is left.
        let mut active: std::collections::BTreeSet<String> = self
            .containers
            .all()
            .iter()
            .flat_map(|c| c.record().endpoints.into_values().map(|e| e.network_id))
            .collect();
        active.extend(
            self.network_last_used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(_, t)| t.elapsed() < FIREWALL_LINGER)
                .map(|(id, _)| id.clone()),
        );
        let networks = self
            .networks
            .all()
            .into_iter()
            .filter(|n| n.driver == "bridge" && !n.bridge.is_empty() && active.contains(&n.id))
            .map(|n| FirewallNetwork {
                bridge: n.bridge.clone(),
                subnets: n
                    .subnets
                    .iter()
                    .filter_map(|s| format!("{}/{}", s.addr, s.prefix).parse().ok())
                    .chain(n.subnet6.map(|(n6, _)| ipnet::IpNet::V6(n6)))
                    .collect(),
                internal: n.internal,
                masquerade: n
                    .options
                    .get("com.docker.network.bridge.enable_ip_masquerade")
                    .and_then(Value::as_str)
                    != Some("false"),
            })
            .collect();
        let mut ports = Vec::new();
        for c in self.containers.all() {
            let rec = c.record();
            let Some((net, ep)) = rec.endpoints.iter().next() else {
                continue;
            };
            let Ok(net) = self.networks.get(net) else {
                continue;
            };
            for p in &rec.ports {
                let host_ip: IpAddr = match p.host_ip.parse() {
                    Ok(ip) => ip,
                    Err(_) => continue,
                };
                // IPv6 bindings only hold the port: the container has no IPv6 address.
                if host_ip.is_ipv6() {
                    continue;
                }
                if host_ip.is_loopback() || host_ip.is_unspecified() {
                    // The port answers on 127.0.0.1 too: loopback-addressed packets may be
                    // routed to the bridge only with this.
                    let _ = berth_network::sysctl::set_route_localnet(&net.bridge);
                }
                ports.push(berth_network::firewall::PortMapping {
                    protocol: match p.proto.as_str() {
                        "udp" => berth_network::firewall::Protocol::Udp,
                        "sctp" => berth_network::firewall::Protocol::Sctp,
                        _ => berth_network::firewall::Protocol::Tcp,
                    },
                    host_ip: (!host_ip.is_unspecified()).then_some(host_ip),
                    host_port: p.host_port,
                    container_ip: IpAddr::V4(ep.ip),
                    container_port: p.container_port,
                    bridge: net.bridge.clone(),
                });
            }
        }
        FirewallState { networks, ports }
    }

    /// Makes the kernel's rules match [`firewall_state`]; failures are logged (the
    /// healing loop tries again).
    pub fn apply_firewall(&self) {
        let state = self.firewall_state();
        // Held across the apply: two changes must not land in the wrong order.
        let mut applied = self
            .firewall_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if applied.as_ref() == Some(&state) {
            return;
        }
        let result = if state.networks.is_empty() && state.ports.is_empty() {
            self.firewall.remove_all()
        } else {
            self.firewall.apply(&state)
        };
        match result {
            Ok(()) => *applied = Some(state),
            Err(e) => {
                *applied = None;
                tracing::warn!(driver = self.firewall.name(), error = %e, "applying firewall rules");
            }
        }
    }

    /// Re-applies the rules whenever someone removed them (`nft flush ruleset`, a
    /// firewall reload), checking once a second.
    pub fn heal_firewall(self: &Arc<Self>) {
        let d = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(d) = d.upgrade() else { return };
                if d.shutdown.is_cancelled() {
                    return;
                }
                // Nothing to restore while no rule is wanted.
                let wanted = d
                    .firewall_applied
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_none_or(|s| !s.networks.is_empty() || !s.ports.is_empty());
                if !wanted {
                    continue;
                }
                let gone = tokio::task::spawn_blocking({
                    let d = d.clone();
                    move || !d.firewall.is_present().unwrap_or(true)
                })
                .await
                .unwrap_or(false);
                if gone {
                    tracing::info!("firewall rules were removed by someone else; restoring them");
                    *d.firewall_applied.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                // Also drops the rules of networks whose last container left a while ago.
                // The state (a walk over every record) is only recomputed when that can
                // have changed it.
                let lingering = !d
                    .network_last_used
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty();
                if gone || lingering {
                    let d2 = d.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        d2.apply_firewall();
                        d2.network_last_used
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .retain(|_, t| t.elapsed() < FIREWALL_LINGER);
                    })
                    .await;
                }
            }
        });
    }

    /// `/etc/hosts` with the container's own address (its first network's) and hostname,
    /// rewritten at every start since the address may change.
    pub fn write_own_hosts_entry(&self, rec: &Record) {
        let host_gateway = self.networks.default_gateway().map(|g| g.to_string());
        let extra =
            crate::containers::netfiles::extra_hosts(&rec.host_config, host_gateway.as_deref())
                .unwrap_or_default();
        let hostname = rec
            .config
            .get("Hostname")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut extra = extra;
        // Linked containers by alias, hostname and name (Docker's legacy links).
        for (alias, other) in self.links_of(rec).unwrap_or_default() {
            if let Some(ep) = other.endpoints.get("bridge") {
                let host = other
                    .config
                    .get("Hostname")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                extra.push((format!("{alias} {host} {}", other.name), ep.ip.to_string()));
            }
        }
        let own_ip = rec.endpoints.values().next().map(|e| e.ip.to_string());
        let names = [hostname];
        let text = crate::containers::netfiles::hosts(
            &extra,
            own_ip.as_deref().map(|ip| (ip, &names[..])),
        );
        let path = self.containers.dir(&rec.id).join("hosts");
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!(container = %rec.id, error = %e, "writing /etc/hosts");
        }
    }

    /// Starts the embedded resolver for a container on a user-defined network.
    pub fn serve_dns(self: &Arc<Self>, rec: &Record) {
        if !rec.endpoints.keys().any(|n| n != "bridge") {
            return;
        }
        match self.start_dns(&rec.id, &self.containers.netns_path(&rec.id)) {
            Ok(task) => {
                if let Some(old) = self
                    .dns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(rec.id.clone(), task)
                {
                    old.abort();
                }
            }
            Err(e) => tracing::warn!(container = %rec.id, error = %e, "no embedded DNS"),
        }
    }

    pub fn stop_dns(&self, id: &str) {
        if let Some(t) = self
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
        {
            t.abort();
        }
    }

    /// The linked containers (`--link`) as (alias, record), checked to be running.
    pub fn links_of(&self, rec: &Record) -> Result<Vec<(String, Record)>, ContainerError> {
        let mut out = Vec::new();
        for l in rec
            .host_config
            .get("Links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            // `/NAME:/THIS/ALIAS`
            let Some((target, path)) = l.split_once(':') else {
                continue;
            };
            let alias = path.rsplit('/').next().unwrap_or(path).to_string();
            let target = target.trim_start_matches('/');
            let other = self
                .containers
                .get(target)
                .map_err(|_| {
                    ContainerError::Invalid(format!("could not get container for {target}"))
                })?
                .record();
            if other.state.status != "running" {
                return Err(ContainerError::Conflict(format!(
                    "Cannot link to a non running container: /{} AS {path}",
                    other.name
                )));
            }
            out.push((alias, other));
        }
        Ok(out)
    }

    /// A removed network's bridge goes with it.
    pub fn network_removed(&self, net: &NetworkRecord) {
        if !net.bridge.is_empty() {
            let _ = link::delete_bridge(&net.bridge);
        }
        let _ = NetworkIpam::remove(&self.ipam_dir(), &net.id);
        self.apply_firewall();
    }
}

/// `02:42:ac:11:00:02`.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// The firewall for this host: the backend asked for, or nftables when `nft` works, else
/// iptables, else none (with a warning).
pub fn firewall_driver(backend: &str) -> anyhow::Result<Box<dyn FirewallDriver>> {
    let nft = berth_network::firewall::Nftables::new();
    let ipt = berth_network::firewall::Iptables::new();
    Ok(match backend {
        "nftables" if nft.available() => Box::new(nft),
        "nftables" => anyhow::bail!("firewall-backend nftables: nft does not work on this host"),
        "iptables" if ipt.available() => Box::new(ipt),
        "iptables" => {
            anyhow::bail!("firewall-backend iptables: iptables does not work on this host")
        }
        _ if nft.available() => Box::new(nft),
        _ if ipt.available() => Box::new(ipt),
        _ => {
            tracing::warn!(
                "neither nft nor iptables works: no NAT or isolation rules for bridge networks"
            );
            Box::new(berth_network::firewall::NoFirewall)
        }
    })
}

/// The variables Docker's legacy links give a container for one linked container
/// (`ALIAS_PORT_80_TCP_ADDR` and the rest).
pub fn link_env(alias: &str, other: &Record, own_name: &str) -> Vec<String> {
    let a = alias.to_ascii_uppercase().replace('-', "_");
    let Some(ep) = other.endpoints.get("bridge") else {
        return Vec::new();
    };
    let ip = ep.ip;
    let mut env = vec![format!("{a}_NAME=/{own_name}/{alias}")];
    let mut ports: Vec<(u16, String)> = other
        .config
        .get("ExposedPorts")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter_map(|k| {
                    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                    Some((p.parse().ok()?, proto.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{a}_PORT={proto}://{ip}:{p}"));
    }
    for (p, proto) in &ports {
        let key = format!("{a}_PORT_{p}_{}", proto.to_ascii_uppercase());
        env.push(format!("{key}={proto}://{ip}:{p}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={p}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    for e in other
        .config
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some((k, v)) = e.split_once('=') {
            // Docker leaves out what every image has.
            if k != "HOME" && k != "PATH" {
                env.push(format!("{a}_ENV_{k}={v}"));
            }
        }
    }
    env
}
