//! Address management for bridge networks, as Docker's default IPAM does it: the
//! gateway takes the first free address, containers the lowest free one after it
//! (within the ip-range if there is one), the subnet's network and broadcast addresses
//! are never handed out, and a released address is reused first.
//!
//! Each network's state is one JSON record written through `berth_store` before an
//! allocation is returned, so after a `kill -9` at any point an address may at worst
//! stay allocated to an owner that never used it (startup reconciliation releases those
//! by owner); it is never handed out twice. One process owns a directory at a time (the
//! daemon holds its root lock), and a [`NetworkIpam`] is used through `&mut`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::{NetError, Result};

const SCHEMA: u32 = 1;

/// One subnet of a network, as given to `docker network create` (or chosen for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    pub subnet: IpNet,
    /// Containers get addresses only from here (the gateway and `--ip` may be anywhere
    /// in the subnet).
    pub ip_range: Option<IpNet>,
    /// An explicit gateway; without one the first free address is taken.
    pub gateway: Option<IpAddr>,
}

impl PoolConfig {
    pub fn new(subnet: IpNet) -> Self {
        PoolConfig {
            subnet,
            ip_range: None,
            gateway: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pool {
    subnet: IpNet,
    ip_range: Option<IpNet>,
    gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    schema: u32,
    network_id: String,
    network_name: String,
    pools: Vec<Pool>,
    /// Address → owner (an endpoint or container id), for reconciliation.
    allocations: BTreeMap<IpAddr, String>,
}

/// IPv4 or IPv6, for choosing which of a network's pools to allocate from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn number(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(family: Family, n: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(
            u32::try_from(n).expect("IPv4 arithmetic stays within 32 bits"),
        )),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// First and last address of a subnet, as numbers.
fn bounds(net: &IpNet) -> (u128, u128) {
    let net = net.trunc();
    (to_u128(net.network()), to_u128(net.broadcast()))
}

impl Pool {
    fn family(&self) -> Family {
        Family::of(&self.subnet.addr())
    }

    /// Addresses never handed out: the IPv4 network and broadcast addresses (not on /31
    /// and /32, RFC 3021), the IPv6 subnet-router anycast address.
    fn reserved(&self) -> Vec<u128> {
        let (first, last) = bounds(&self.subnet);
        let host_bits = self.subnet.max_prefix_len() - self.subnet.prefix_len();
        let mut r = Vec::new();
        match self.family() {
            Family::V4 if host_bits > 1 => {
                r.push(first);
                r.push(last);
            }
            Family::V4 => {}
            Family::V6 => r.push(first),
        }
        if let Some(gw) = self.gateway {
            r.push(to_u128(gw));
        }
        r
    }

    /// The lowest address of `[lo, hi]` that is neither reserved nor allocated.
    fn lowest_free(
        &self,
        allocations: &BTreeMap<IpAddr, String>,
        lo: u128,
        hi: u128,
    ) -> Option<IpAddr> {
        let family = self.family();
        let mut used: BTreeSet<u128> = self
            .reserved()
            .into_iter()
            .filter(|n| (lo..=hi).contains(n))
            .collect();
        used.extend(
            allocations
                .range(from_u128(family, lo)..=from_u128(family, hi))
                .map(|(ip, _)| to_u128(*ip)),
        );
        let mut candidate = lo;
        for u in used {
            if u > candidate {
                break;
            }
            if u == candidate {
                if candidate == hi {
                    return None;
                }
                candidate += 1;
            }
        }
        (candidate <= hi).then(|| from_u128(family, candidate))
    }

    fn range_bounds(&self) -> (u128, u128) {
        bounds(self.ip_range.as_ref().unwrap_or(&self.subnet))
    }
}

fn validate(cfg: &PoolConfig) -> Result<()> {
    if let Some(r) = &cfg.ip_range {
        if Family::of(&r.addr()) != Family::of(&cfg.subnet.addr())
            || !cfg.subnet.trunc().contains(&r.trunc())
        {
            return Err(NetError::Invalid(format!(
                "Invalid ip-range {r}: it must be within subnet {}",
                cfg.subnet.trunc()
            )));
        }
    }
    if let Some(gw) = &cfg.gateway {
        if !cfg.subnet.contains(gw) {
            return Err(NetError::Invalid(format!(
                "Invalid gateway {gw}: it must be within subnet {}",
                cfg.subnet.trunc()
            )));
        }
    }
    Ok(())
}

/// The address state of one network, kept in `<dir>/<network-id>.json`.
#[derive(Debug)]
pub struct NetworkIpam {
    path: PathBuf,
    rec: Record,
}

fn record_path(dir: &Path, network_id: &str) -> Result<PathBuf> {
    if network_id.is_empty() || network_id.contains(['/', '\0']) || network_id.starts_with('.') {
        return Err(NetError::Invalid(format!(
            "invalid network id {network_id:?}"
        )));
    }
    Ok(dir.join(format!("{network_id}.json")))
}

impl NetworkIpam {
    /// Sets up a network's pools and reserves their gateways (given, or the first free
    /// address), and persists that before returning. Overwrites an earlier record of the
    /// same id (a create that crashed before the network was recorded).
    pub fn create(
        dir: &Path,
        network_id: &str,
        network_name: &str,
        pools: &[PoolConfig],
        with_gateway: bool,
    ) -> Result<NetworkIpam> {
        let path = record_path(dir, network_id)?;
        let mut rec = Record {
            schema: SCHEMA,
            network_id: network_id.to_string(),
            network_name: network_name.to_string(),
            pools: Vec::new(),
            allocations: BTreeMap::new(),
        };
        for (i, cfg) in pools.iter().enumerate() {
            validate(cfg)?;
            let overlap = pools[..i].iter().find(|p| {
                p.subnet.trunc().contains(&cfg.subnet.network())
                    || cfg.subnet.trunc().contains(&p.subnet.network())
            });
            if let Some(p) = overlap {
                return Err(NetError::Invalid(format!(
                    "invalid pools request: Pool overlaps with other one on this address space: {} and {}",
                    p.subnet.trunc(),
                    cfg.subnet.trunc()
                )));
            }
            let mut pool = Pool {
                subnet: cfg.subnet,
                ip_range: cfg.ip_range,
                gateway: None,
            };
            if with_gateway {
                let gw = match cfg.gateway {
                    Some(gw) => {
                        if pool.reserved().contains(&to_u128(gw)) {
                            return Err(NetError::AddressInUse);
                        }
                        gw
                    }
                    None => {
                        let (lo, hi) = pool.range_bounds();
                        pool.lowest_free(&rec.allocations, lo, hi).ok_or_else(|| {
                            NetError::PoolExhausted {
                                version: pool.family().number(),
                                name: network_name.to_string(),
                                id: network_id.to_string(),
                            }
                        })?
                    }
                };
                pool.gateway = Some(gw);
            }
            rec.pools.push(pool);
        }
        berth_store::create_dir_all_durable(dir)?;
        berth_store::write_json(&path, &rec)?;
        Ok(NetworkIpam { path, rec })
    }

    /// Loads a network's state.
    pub fn open(dir: &Path, network_id: &str) -> Result<NetworkIpam> {
        let path = record_path(dir, network_id)?;
        let rec: Record = berth_store::read_json(&path).map_err(|e| {
            if e.is_not_found() {
                NetError::NotFound(format!("no address pools for network {network_id}"))
            } else {
                e.into()
            }
        })?;
        if rec.schema != SCHEMA {
            return Err(NetError::Invalid(format!(
                "{}: unknown schema {}",
                path.display(),
                rec.schema
            )));
        }
        Ok(NetworkIpam { path, rec })
    }

    /// Forgets a network's pools; a missing record is not an error.
    pub fn remove(dir: &Path, network_id: &str) -> Result<()> {
        Ok(berth_store::remove_file_durable(&record_path(
            dir, network_id,
        )?)?)
    }

    /// The network ids that have a record in `dir`.
    pub fn list(dir: &Path) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NetError::io("read directory", dir, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| NetError::io("read directory", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(berth_store::TEMP_PREFIX) {
                continue;
            }
            if let Some(id) = name.strip_suffix(".json") {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The gateway of the first pool of that family.
    pub fn gateway(&self, family: Family) -> Option<IpAddr> {
        self.rec
            .pools
            .iter()
            .filter(|p| p.family() == family)
            .find_map(|p| p.gateway)
    }

    /// The subnets, in the order given at creation.
    pub fn subnets(&self) -> Vec<IpNet> {
        self.rec.pools.iter().map(|p| p.subnet.trunc()).collect()
    }

    /// The subnet holding `ip`, with its prefix (what goes on the container's interface).
    pub fn subnet_of(&self, ip: IpAddr) -> Option<IpNet> {
        self.rec
            .pools
            .iter()
            .find(|p| p.subnet.contains(&ip))
            .map(|p| p.subnet.trunc())
    }

    /// Every allocated address with its owner (gateways are not listed).
    pub fn allocations(&self) -> impl Iterator<Item = (IpAddr, &str)> {
        self.rec.allocations.iter().map(|(ip, o)| (*ip, o.as_str()))
    }

    fn exhausted(&self, family: Family) -> NetError {
        NetError::PoolExhausted {
            version: family.number(),
            name: self.rec.network_name.clone(),
            id: self.rec.network_id.clone(),
        }
    }

    fn commit(&mut self, next: Record) -> Result<()> {
        berth_store::write_json(&self.path, &next)?;
        self.rec = next;
        Ok(())
    }

    /// The lowest free address of the first pool of `family` that has one (in its
    /// ip-range when it has one), recorded for `owner` before it is returned.
    pub fn allocate(&mut self, family: Family, owner: &str) -> Result<IpAddr> {
        let found = self
            .rec
            .pools
            .iter()
            .filter(|p| p.family() == family)
            .find_map(|p| {
                let (lo, hi) = p.range_bounds();
                p.lowest_free(&self.rec.allocations, lo, hi)
            });
        let Some(ip) = found else {
            return Err(self.exhausted(family));
        };
        let mut next = self.rec.clone();
        next.allocations.insert(ip, owner.to_string());
        self.commit(next)?;
        Ok(ip)
    }

    /// Allocates a chosen address (`--ip`): anywhere in one of the subnets (Docker does
    /// not confine it to the ip-range), unless reserved or held by someone else.
    /// Asking again for an address the same owner holds returns it.
    pub fn allocate_specific(&mut self, ip: IpAddr, owner: &str) -> Result<IpAddr> {
        let Some(pool) = self.rec.pools.iter().find(|p| p.subnet.contains(&ip)) else {
            return Err(NetError::AddressNotInSubnet(ip));
        };
        if pool.reserved().contains(&to_u128(ip)) {
            return Err(NetError::AddressInUse);
        }
        match self.rec.allocations.get(&ip) {
            Some(o) if o == owner => return Ok(ip),
            Some(_) => return Err(NetError::AddressInUse),
            None => {}
        }
        let mut next = self.rec.clone();
        next.allocations.insert(ip, owner.to_string());
        self.commit(next)?;
        Ok(ip)
    }

    /// Releases an address; one that is not allocated is not an error.
    pub fn release(&mut self, ip: IpAddr) -> Result<()> {
        if !self.rec.allocations.contains_key(&ip) {
            return Ok(());
        }
        let mut next = self.rec.clone();
        next.allocations.remove(&ip);
        self.commit(next)
    }

    /// Releases every address of an owner (an endpoint torn down, or left by a crash);
    /// returns them.
    pub fn release_owner(&mut self, owner: &str) -> Result<Vec<IpAddr>> {
        let ips: Vec<IpAddr> = self
            .allocations()
            .filter(|(_, o)| *o == owner)
            .map(|(ip, _)| ip)
            .collect();
        if !ips.is_empty() {
            let mut next = self.rec.clone();
            next.allocations.retain(|_, o| o != owner);
            self.commit(next)?;
        }
        Ok(ips)
    }
}

/// A range Docker carves default subnets from: `base` split into subnets of `size` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredefinedPool {
    pub base: Ipv4Net,
    pub size: u8,
}

/// Docker's local default address pools, in order: 172.17.0.0/16 to 172.31.0.0/16 as
/// /16s, then 192.168.0.0/16 as /20s (`--default-address-pool` replaces them).
pub fn default_address_pools() -> Vec<PredefinedPool> {
    [
        ("172.17.0.0/16", 16),
        ("172.18.0.0/16", 16),
        ("172.19.0.0/16", 16),
        ("172.20.0.0/14", 16),
        ("172.24.0.0/14", 16),
        ("172.28.0.0/14", 16),
        ("192.168.0.0/16", 20),
    ]
    .into_iter()
    .map(|(base, size)| PredefinedPool {
        base: base.parse().expect("the default pools are valid prefixes"),
        size,
    })
    .collect()
}

/// The first subnet of the pools (in order) that overlaps neither a reserved network
/// (host routes, nameservers: see [`host_reserved_networks`]) nor a subnet already in
/// use by another network. The default bridge gets 172.17.0.0/16 this way unless the
/// host already routes it.
pub fn choose_default_subnet(
    reserved: &[Ipv4Net],
    in_use: &[Ipv4Net],
    pools: &[PredefinedPool],
) -> Result<Ipv4Net> {
    let overlaps = |a: &Ipv4Net, b: &Ipv4Net| a.contains(&b.network()) || b.contains(&a.network());
    for pool in pools {
        let Ok(subnets) = pool.base.trunc().subnets(pool.size) else {
            continue;
        };
        for candidate in subnets {
            if !reserved
                .iter()
                .chain(in_use)
                .any(|r| overlaps(&r.trunc(), &candidate))
            {
                return Ok(candidate);
            }
        }
    }
    Err(NetError::NoMoreSubnets)
}

/// The IPv4 networks Docker keeps default subnets away from: the host's on-link routes
/// (read over netlink, in the calling thread's namespace) and the nameservers of
/// `resolv_conf` (its text), which a bridge subnet would otherwise shadow.
pub fn host_reserved_networks(resolv_conf: &str) -> Result<Vec<Ipv4Net>> {
    let mut nets: Vec<Ipv4Net> = crate::netlink::Netlink::open()?
        .ipv4_routes()?
        .into_iter()
        .filter(|(dst, link_scope)| *link_scope && !dst.addr().is_unspecified())
        .map(|(dst, _)| dst)
        .collect();
    nets.extend(nameserver_networks(resolv_conf));
    nets.sort();
    nets.dedup();
    Ok(nets)
}

/// The IPv4 `nameserver` lines of a resolv.conf, as /32 networks.
pub fn nameserver_networks(resolv_conf: &str) -> Vec<Ipv4Net> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|w| w.parse::<Ipv4Addr>().ok())
        .map(Ipv4Net::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn make(dir: &Path, pools: &[PoolConfig]) -> NetworkIpam {
        NetworkIpam::create(dir, "n1", "mynet", pools, true).unwrap()
    }

    #[test]
    fn gateway_first_then_sequential() {
        let d = tempfile::tempdir().unwrap();
        let mut ipam = make(d.path(), &[PoolConfig::new(net("172.18.0.0/16"))]);
        assert_eq!(ipam.gateway(Family::V4), Some(v4("172.18.0.1")));
        assert_eq!(ipam.allocate(Family::V4, "a").unwrap(), v4("172.18.0.2"));
        assert_eq!(ipam.allocate(Family::V4, "b").unwrap(), v4("172.18.0.3"));
        ipam.release(v4("172.18.0.2")).unwrap();
        ipam.release(v4("172.18.0.2")).unwrap(); // idempotent
                                                 // Docker's local IPAM is not serial: the lowest free address comes back first.
        assert_eq!(ipam.allocate(Family::V4, "c").unwrap(), v4("172.18.0.2"));
        assert_eq!(ipam.allocate(Family::V4, "d").unwrap(), v4("172.18.0.4"));
    }

    #[test]
    fn specific_addresses() {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = PoolConfig::new(net("10.5.0.0/24"));
        cfg.ip_range = Some(net("10.5.0.128/25"));
        let mut ipam = make(d.path(), &[cfg]);
        // The gateway comes from the range too, as in Docker.
        assert_eq!(ipam.gateway(Family::V4), Some(v4("10.5.0.128")));
        assert_eq!(ipam.allocate(Family::V4, "a").unwrap(), v4("10.5.0.129"));
        // --ip may be outside the range but inside the subnet.
        assert_eq!(
            ipam.allocate_specific(v4("10.5.0.7"), "b").unwrap(),
            v4("10.5.0.7")
        );
        assert_eq!(
            ipam.allocate_specific(v4("10.5.0.7"), "b").unwrap(),
            v4("10.5.0.7")
        );
        let e = ipam.allocate_specific(v4("10.5.0.7"), "c").unwrap_err();
        assert_eq!(e.to_string(), "Address already in use");
        assert_eq!(
            berth_errors::HasKind::kind(&e),
            berth_errors::ErrorKind::Forbidden
        );
        for reserved in ["10.5.0.0", "10.5.0.255", "10.5.0.128"] {
            let e = ipam.allocate_specific(v4(reserved), "c").unwrap_err();
            assert_eq!(e.to_string(), "Address already in use", "{reserved}");
        }
        let e = ipam.allocate_specific(v4("10.6.0.1"), "c").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid address 10.6.0.1: It does not belong to any of this network's subnets"
        );
        assert_eq!(ipam.release_owner("b").unwrap(), vec![v4("10.5.0.7")]);
        assert!(ipam.allocations().all(|(_, o)| o == "a"));
    }

    #[test]
    fn exhaustion_and_explicit_gateway() {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = PoolConfig::new(net("192.168.7.0/29"));
        cfg.gateway = Some(v4("192.168.7.6"));
        let mut ipam = make(d.path(), &[cfg]);
        let got: Vec<IpAddr> = (0..5)
            .map(|i| ipam.allocate(Family::V4, &format!("c{i}")).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "192.168.7.1",
                "192.168.7.2",
                "192.168.7.3",
                "192.168.7.4",
                "192.168.7.5"
            ]
            .map(v4)
            .to_vec()
        );
        let e = ipam.allocate(Family::V4, "x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no available IPv4 addresses on this network's address pools: mynet (n1)"
        );
        let e = ipam.allocate(Family::V6, "x").unwrap_err();
        assert!(e.to_string().starts_with("no available IPv6 addresses"));
    }

    #[test]
    fn survives_reload() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut ipam = make(d.path(), &[PoolConfig::new(net("10.9.0.0/24"))]);
            ipam.allocate(Family::V4, "a").unwrap();
            ipam.allocate(Family::V4, "b").unwrap();
            ipam.release(v4("10.9.0.2")).unwrap();
            // no explicit save: every change is already on disk
        }
        assert_eq!(NetworkIpam::list(d.path()).unwrap(), vec!["n1".to_string()]);
        let mut ipam = NetworkIpam::open(d.path(), "n1").unwrap();
        assert_eq!(ipam.gateway(Family::V4), Some(v4("10.9.0.1")));
        assert_eq!(
            ipam.allocations().collect::<Vec<_>>(),
            vec![(v4("10.9.0.3"), "b")]
        );
        assert_eq!(ipam.allocate(Family::V4, "c").unwrap(), v4("10.9.0.2"));
        assert_eq!(ipam.allocate(Family::V4, "d").unwrap(), v4("10.9.0.4"));
        NetworkIpam::remove(d.path(), "n1").unwrap();
        NetworkIpam::remove(d.path(), "n1").unwrap();
        assert!(matches!(
            NetworkIpam::open(d.path(), "n1"),
            Err(NetError::NotFound(_))
        ));
    }

    #[test]
    fn dual_stack_and_small_subnets() {
        let d = tempfile::tempdir().unwrap();
        let mut ipam = make(
            d.path(),
            &[
                PoolConfig::new(net("10.1.0.0/31")),
                PoolConfig::new(net("fd00:1::/64")),
            ],
        );
        // /31: both addresses usable (RFC 3021), the first goes to the gateway.
        assert_eq!(ipam.gateway(Family::V4), Some(v4("10.1.0.0")));
        assert_eq!(ipam.allocate(Family::V4, "a").unwrap(), v4("10.1.0.1"));
        assert!(ipam.allocate(Family::V4, "b").is_err());
        assert_eq!(ipam.gateway(Family::V6), Some(v4("fd00:1::1")));
        assert_eq!(ipam.allocate(Family::V6, "a").unwrap(), v4("fd00:1::2"));
        assert_eq!(ipam.subnet_of(v4("fd00:1::2")), Some(net("fd00:1::/64")));
    }

    #[test]
    fn invalid_configs() {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = PoolConfig::new(net("10.1.0.0/24"));
        cfg.ip_range = Some(net("10.2.0.0/25"));
        assert!(NetworkIpam::create(d.path(), "x", "x", &[cfg], true).is_err());
        let mut cfg = PoolConfig::new(net("10.1.0.0/24"));
        cfg.gateway = Some(v4("10.1.1.1"));
        assert!(NetworkIpam::create(d.path(), "x", "x", &[cfg], true).is_err());
        let a = PoolConfig::new(net("10.1.0.0/16"));
        let b = PoolConfig::new(net("10.1.2.0/24"));
        assert!(NetworkIpam::create(d.path(), "x", "x", &[a, b], true).is_err());
        assert!(NetworkIpam::create(d.path(), "../x", "x", &[], true).is_err());
    }

    #[test]
    fn default_subnets() {
        let pools = default_address_pools();
        let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert_eq!(
            choose_default_subnet(&[], &[], &pools).unwrap(),
            n("172.17.0.0/16")
        );
        // A host route inside 172.17/16 pushes the default bridge to 172.18/16.
        assert_eq!(
            choose_default_subnet(&[n("172.17.5.0/24")], &[], &pools).unwrap(),
            n("172.18.0.0/16")
        );
        // A wide route covering all of 172.16/12 moves on to 192.168.x.0/20.
        assert_eq!(
            choose_default_subnet(&[n("172.16.0.0/12")], &[n("192.168.0.0/20")], &pools).unwrap(),
            n("192.168.16.0/20")
        );
        let everything = [n("172.16.0.0/12"), n("192.168.0.0/16")];
        assert_eq!(
            choose_default_subnet(&everything, &[], &pools)
                .unwrap_err()
                .to_string(),
            "all predefined address pools have been fully subnetted"
        );
        assert_eq!(
            pools
                .iter()
                .map(|p| p.base.subnets(p.size).unwrap().count())
                .sum::<usize>(),
            15 + 16
        );
    }

    #[test]
    fn nameservers() {
        let text =
            "# comment\nnameserver 10.0.0.53\nnameserver ::1\nsearch x\nnameserver 1.1.1.1 # x\n";
        assert_eq!(
            nameserver_networks(text),
            vec![
                "10.0.0.53/32".parse::<Ipv4Net>().unwrap(),
                "1.1.1.1/32".parse().unwrap()
            ]
        );
    }
}
