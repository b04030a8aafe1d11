//! Published ports (`-p`, `-P`): which host ports a starting container gets, held by a
//! bound socket of the daemon for as long as it runs (so a second claim fails early with
//! Docker's message, and nothing else takes the port meanwhile), and how inspect and `ps`
//! show them. Packets reach the container through the firewall's DNAT rules; no proxy
//! process sits in between.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::containers::Record;

/// One published port of a running container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// `tcp` or `udp`.
    pub proto: String,
    /// As Docker shows it: `0.0.0.0`, `::` or the address given.
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// A socket that keeps a host port ours while the container runs: bound, not listening
/// (a connection that somehow misses the DNAT rules is refused, not left hanging).
pub struct Hold(std::os::fd::OwnedFd);

/// One binding asked for: a container port, its protocol, the host address (empty: all)
/// and the host ports to choose from (`None`: any free one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub container_port: u16,
    pub proto: String,
    pub host_ip: String,
    pub host_ports: Option<(u16, u16)>,
}

fn binding(
    container_port: u16,
    proto: &str,
    host_ip: &str,
    host_ports: Option<(u16, u16)>,
) -> Binding {
    Binding {
        container_port,
        proto: proto.to_string(),
        host_ip: host_ip.to_string(),
        host_ports,
    }
}

/// `80/tcp` → (80, "tcp").
fn parse_port_key(k: &str) -> Option<(u16, String)> {
    let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    Some((port.parse().ok().filter(|p| *p > 0)?, proto))
}

/// `HostPort`: empty (any), one port, or a range to pick from.
fn parse_host_ports(s: &str) -> Result<Option<(u16, u16)>, String> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (
        a.parse()
            .map_err(|_| format!("invalid port specification: \"{s}\""))?,
        b.parse()
            .map_err(|_| format!("invalid port specification: \"{s}\""))?,
    );
    if a == 0 || b < a {
        return Err(format!("invalid port specification: \"{s}\""));
    }
    Ok(Some((a, b)))
}

/// The bindings a container asks for: `PortBindings`, plus every exposed port on a random
/// host port with `-P`. Checked at create.
pub fn wanted(
    rec_config: &serde_json::Map<String, Value>,
    hc: &Value,
) -> Result<Vec<Binding>, String> {
    let mut out = Vec::new();
    let bindings = hc.get("PortBindings").and_then(Value::as_object);
    for (k, list) in bindings.into_iter().flatten() {
        let (port, proto) =
            parse_port_key(k).ok_or_else(|| format!("invalid port specification: \"{k}\""))?;
        let list = list.as_array().cloned().unwrap_or_default();
        let list = if list.is_empty() {
            vec![json!({})]
        } else {
            list
        };
        for b in list {
            let ip = b
                .get("HostIp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !ip.is_empty() {
                ip.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map_err(|_| format!("invalid IP address: {ip}"))?;
            }
            let host = parse_host_ports(b.get("HostPort").and_then(Value::as_str).unwrap_or(""))?;
            out.push(binding(port, &proto, &ip, host));
        }
    }
    if hc.get("PublishAllPorts").and_then(Value::as_bool) == Some(true) {
        for k in rec_config
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let Some((port, proto)) = parse_port_key(&k) else {
                continue;
            };
            if !out
                .iter()
                .any(|b| b.container_port == port && b.proto == proto)
            {
                out.push(binding(port, &proto, "", None));
            }
        }
    }
    Ok(out)
}

fn hold(proto: &str, addr: SocketAddr) -> std::io::Result<Hold> {
    use nix::sys::socket::{bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType};
    let ty = if proto == "udp" {
        SockType::Datagram
    } else {
        SockType::Stream
    };
    let family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)?;
    if addr.is_ipv6() {
        // `::` must not also take the IPv4 port: that one is claimed on its own.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    let sa = nix::sys::socket::SockaddrStorage::from(addr);
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &sa)?;
    Ok(Hold(fd))
}

fn port_of(h: &Hold) -> u16 {
    nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(
        std::os::fd::AsRawFd::as_raw_fd(&h.0),
    )
    .ok()
    .and_then(|a| {
        a.as_sockaddr_in()
            .map(|s| s.port())
            .or_else(|| a.as_sockaddr_in6().map(|s| s.port()))
    })
    .unwrap_or(0)
}

/// Claims host ports for every binding: the ports given, or free ones. `0.0.0.0` (no
/// address given) is claimed for IPv4 and, where the host has IPv6, for `::` as well,
/// which Docker also reports.
pub fn claim(wanted: &[Binding]) -> Result<(Vec<Published>, Vec<Hold>), String> {
    let v6 = std::path::Path::new("/proc/net/if_inet6").exists();
    let mut published = Vec::new();
    let mut holds = Vec::new();
    for b in wanted {
        let (cport, proto, ip, range) = (&b.container_port, &b.proto, &b.host_ip, &b.host_ports);
        let addrs: Vec<IpAddr> = if ip.is_empty() {
            let mut a = vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)];
            if v6 {
                a.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
            }
            a
        } else {
            vec![ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("invalid IP address: {ip}"))?]
        };
        let candidates: Vec<u16> = match range {
            Some((a, b)) => (*a..=*b).collect(),
            // Any free port; a few tries, in case the IPv6 side of one is taken.
            None => vec![0; 8],
        };
        let mut last_err = String::new();
        let mut done = false;
        'ports: for port in candidates {
            let mut these = Vec::new();
            let mut chosen = port;
            for addr in &addrs {
                match hold(proto, SocketAddr::new(*addr, chosen)) {
                    Ok(h) => {
                        chosen = port_of(&h);
                        these.push(h);
                    }
                    Err(e) => {
                        let shown = if addr.is_ipv6() {
                            format!("[{addr}]")
                        } else {
                            addr.to_string()
                        };
                        last_err = if e.kind() == std::io::ErrorKind::AddrInUse {
                            format!("Bind for {shown}:{chosen} failed: port is already allocated")
                        } else {
                            format!("Bind for {shown}:{chosen} failed: {e}")
                        };
                        continue 'ports;
                    }
                }
            }
            for addr in &addrs {
                published.push(Published {
                    proto: proto.clone(),
                    host_ip: addr.to_string(),
                    host_port: chosen,
                    container_port: *cport,
                });
            }
            holds.extend(these);
            done = true;
            break;
        }
        if !done {
            return Err(last_err);
        }
    }
    Ok((published, holds))
}

/// Inspect's `NetworkSettings.Ports`: every exposed or published port, `null` when not
/// published (or not running).
pub fn settings(rec: &Record) -> Value {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for k in rec
        .config
        .get("ExposedPorts")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        out.insert(k, Value::Null);
    }
    for p in &rec.ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = out.entry(key).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    json!(out)
}

/// `/containers/json` `Ports`: published ones with their host side, exposed ones without.
pub fn list_entries(rec: &Record) -> Value {
    let mut out = Vec::new();
    for p in &rec.ports {
        out.push(json!({"IP": p.host_ip, "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto}));
    }
    for k in rec
        .config
        .get("ExposedPorts")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if let Some((port, proto)) = parse_port_key(&k) {
            if !rec
                .ports
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_parsed_and_checked() {
        let cfg = json!({"ExposedPorts": {"8080/tcp": {}, "80/tcp": {}}});
        let hc = json!({"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000-8010"}]}, "PublishAllPorts": true});
        let w = wanted(cfg.as_object().unwrap(), &hc).unwrap();
        assert_eq!(w[0], binding(80, "tcp", "127.0.0.1", Some((8000, 8010))));
        assert_eq!(w[1], binding(8080, "tcp", "", None), "-P adds the rest");
        for bad in [
            json!({"PortBindings": {"x/tcp": []}}),
            json!({"PortBindings": {"80/icmp": []}}),
            json!({"PortBindings": {"80/tcp": [{"HostPort": "9-1"}]}}),
            json!({"PortBindings": {"80/tcp": [{"HostIp": "nope"}]}}),
        ] {
            assert!(wanted(&serde_json::Map::new(), &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_taken_port_is_refused_with_dockers_message() {
        let (pubs, holds) = claim(&[binding(80, "tcp", "127.0.0.1", None)]).unwrap();
        assert_eq!(holds.len(), 1);
        let port = pubs[0].host_port;
        assert!(port > 1024);
        let e = claim(&[binding(81, "tcp", "127.0.0.1", Some((port, port)))])
            .err()
            .unwrap();
        assert_eq!(
            e,
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        // A range skips the taken port.
        let (p2, _h2) = claim(&[binding(
            81,
            "tcp",
            "127.0.0.1",
            Some((port, port.saturating_add(5))),
        )])
        .unwrap();
        assert_ne!(p2[0].host_port, port);
    }
}
