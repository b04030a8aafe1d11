//! The nftables driver: our own `table ip berth` (and `table ip6 berth` when a network
//! or a port has IPv6), rendered whole from the desired state and replaced in one
//! `nft -f -` batch, which the kernel applies atomically (all or nothing). Other tables
//! (Docker's, firewalld's, the distribution's) are never read or written; their verdicts
//! still apply to the same packets, since every table's base chains see every packet.
//!
//! The batch is nft's plain syntax rather than its JSON form: it is what `nft list table`
//! prints back, so a rendered table can be read, diffed and tried by hand, and the same
//! text is accepted by every nft release since 0.9 (the JSON schema changed between
//! releases). Names and addresses come from validated types, never raw user text.
//!
//! The rules follow Docker with its userland proxy off (`--userland-proxy=false`, which
//! is all berth has) and netavark:
//! - outgoing traffic from a subnet is masqueraded unless it stays on its bridge;
//! - published ports are DNAT in prerouting and output for any local destination (`fib
//!   daddr type local`); ports bound to a loopback address only in output, so only the
//!   host itself reaches them;
//! - hairpin: connections DNATed back into the bridge they came from are masqueraded, so
//!   a container can reach its own or a neighbour's published port through a host
//!   address and the answer comes back the same way;
//! - connections from 127.0.0.0/8 (to a port published on loopback, or on all addresses)
//!   are masqueraded into the bridge; the kernel routes them only with `route_localnet`
//!   on the bridge ([`crate::sysctl::set_route_localnet`]), and a raw-prerouting rule
//!   drops 127.0.0.0/8 destinations arriving from any other interface than `lo`;
//! - forwarding: internal networks exchange nothing with other interfaces; replies are
//!   accepted, then DNATed connections to published ports (from anywhere, other bridges
//!   included), then traffic between two different berth bridges is dropped, and what
//!   leaves a bridge is accepted.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ipnet::IpNet;

use super::{FirewallDriver, FirewallNetwork, FirewallState, PortMapping};
use crate::{NetError, Result};

/// nft's name for our table's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn table(self) -> &'static str {
        match self {
            Fam::V4 => "ip",
            Fam::V6 => "ip6",
        }
    }

    /// The payload keyword for addresses (`ip saddr`, `ip6 saddr`).
    fn proto(self) -> &'static str {
        self.table()
    }

    fn has(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (Fam::V4, IpAddr::V4(_)) | (Fam::V6, IpAddr::V6(_))
        )
    }
}

/// The nftables firewall driver.
#[derive(Debug, Clone)]
pub struct Nftables {
    nft: PathBuf,
    table: String,
}

impl Default for Nftables {
    fn default() -> Self {
        Nftables::new()
    }
}

impl Nftables {
    /// Uses `nft` from `PATH` and the table name `berth`.
    pub fn new() -> Self {
        Nftables {
            nft: PathBuf::from("nft"),
            table: "berth".to_string(),
        }
    }

    /// Another table name (for several daemons in one network namespace).
    pub fn with_table(mut self, table: &str) -> Result<Self> {
        if table.is_empty()
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || !table.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return Err(NetError::Invalid(format!(
                "invalid nftables table name {table:?}"
            )));
        }
        self.table = table.to_string();
        Ok(self)
    }

    /// Another `nft` binary.
    pub fn with_binary(mut self, nft: impl Into<PathBuf>) -> Self {
        self.nft = nft.into();
        self
    }

    /// Whether `nft` can be run here (and the kernel answers it).
    pub fn available(&self) -> bool {
        Command::new(&self.nft)
            .args(["list", "tables"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The batch [`apply`](FirewallDriver::apply) feeds to `nft -f -`.
    pub fn render(&self, state: &FirewallState) -> Result<String> {
        validate(state)?;
        let mut out = String::new();
        for fam in [Fam::V4, Fam::V6] {
            // `add` then `delete` removes the table whether or not it existed (nft 1.0.6
            // has no `destroy`); the new table follows in the same batch.
            let t = format!("{} {}", fam.table(), self.table);
            let _ = writeln!(out, "add table {t}\ndelete table {t}");
            if fam == Fam::V4 || needs_v6(state) {
                render_table(&mut out, fam, &self.table, state);
            }
        }
        Ok(out)
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let command = format!("{} {}", self.nft.display(), args.join(" "));
        tracing::debug!(%command, "nft");
        let mut child = Command::new(&self.nft)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NetError::io("run", &self.nft, e))?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin was piped");
            pipe.write_all(text.as_bytes())
                .map_err(|e| NetError::io("write to", &self.nft, e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NetError::io("wait for", &self.nft, e))?;
        if !out.status.success() {
            return Err(NetError::Firewall {
                command,
                output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl FirewallDriver for Nftables {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn apply(&self, state: &FirewallState) -> Result<()> {
        let batch = self.render(state)?;
        self.run(&["-f", "-"], Some(&batch)).map(drop)
    }

    /// True when our IPv4 table exists with its port-publishing jump in place. A
    /// `nft flush ruleset` removes the table; a `flush table` empties its chains; both
    /// read as absent.
    fn is_present(&self) -> Result<bool> {
        match self.run(&["list", "table", "ip", &self.table], None) {
            Ok(text) => Ok(text.contains("jump port-dnat")),
            Err(NetError::Firewall { output, .. })
                if output.contains("No such file or directory") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn remove_all(&self) -> Result<()> {
        let mut batch = String::new();
        for fam in [Fam::V4, Fam::V6] {
            let t = format!("{} {}", fam.table(), self.table);
            let _ = writeln!(batch, "add table {t}\ndelete table {t}");
        }
        self.run(&["-f", "-"], Some(&batch)).map(drop)
    }
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= crate::link::MAX_IFNAME
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '/' && c != ':')
}

pub(super) fn validate(state: &FirewallState) -> Result<()> {
    for n in &state.networks {
        if !valid_ifname(&n.bridge) {
            return Err(NetError::Invalid(format!(
                "invalid bridge name {:?}",
                n.bridge
            )));
        }
    }
    for p in &state.ports {
        if !state.networks.iter().any(|n| n.bridge == p.bridge) {
            return Err(NetError::Invalid(format!(
                "port mapping to {}:{} through unknown bridge {:?}",
                p.container_ip, p.container_port, p.bridge
            )));
        }
        if p.host_port == 0 || p.container_port == 0 {
            return Err(NetError::Invalid(format!(
                "port mapping {}:{} -> {}:{}: ports must be non-zero (allocate the host port first)",
                p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                p.host_port,
                p.container_ip,
                p.container_port
            )));
        }
        if let Some(h) = host_ip(p) {
            // The kernel never routes a ::1 source out of an interface (IPv6 has no
            // route_localnet); only a userland proxy could serve such a port.
            if h.is_ipv6() && h.is_loopback() {
                return Err(NetError::Invalid(format!(
                    "cannot publish port {} on {h} without a userland proxy",
                    p.host_port
                )));
            }
            if h.is_ipv4() != p.container_ip.is_ipv4() {
                return Err(NetError::Invalid(format!(
                    "port mapping from {h} to {}: address families differ",
                    p.container_ip
                )));
            }
        }
    }
    Ok(())
}

/// The mapping's host address, with `0.0.0.0` / `::` meaning all (none).
fn host_ip(p: &PortMapping) -> Option<IpAddr> {
    p.host_ip.filter(|ip| !ip.is_unspecified())
}

fn needs_v6(state: &FirewallState) -> bool {
    state
        .networks
        .iter()
        .any(|n| n.subnets.iter().any(|s| matches!(s, IpNet::V6(_))))
        || state.ports.iter().any(|p| p.container_ip.is_ipv6())
}

fn q(name: &str) -> String {
    format!("\"{name}\"")
}

fn set(names: &[&str]) -> String {
    match names {
        [one] => q(one),
        _ => format!(
            "{{ {} }}",
            names.iter().map(|n| q(n)).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn dnat_target(p: &PortMapping) -> String {
    match p.container_ip {
        IpAddr::V4(a) => format!("{a}:{}", p.container_port),
        IpAddr::V6(a) => format!("[{a}]:{}", p.container_port),
    }
}

fn subnets(n: &FirewallNetwork, fam: Fam) -> Vec<String> {
    n.subnets
        .iter()
        .filter(|s| fam.has(&s.addr()))
        .map(|s| s.trunc().to_string())
        .collect()
}

fn render_table(out: &mut String, fam: Fam, table: &str, state: &FirewallState) {
    let ip = fam.proto();
    let _ = writeln!(out, "table {} {table} {{", fam.table());
    let mut chain = |name: &str, hook: Option<&str>, rules: &[String]| {
        let _ = writeln!(out, "\tchain {name} {{");
        if let Some(h) = hook {
            let _ = writeln!(out, "\t\t{h}; policy accept;");
        }
        for r in rules {
            let _ = writeln!(out, "\t\t{r}");
        }
        let _ = writeln!(out, "\t}}");
    };

    let ports: Vec<&PortMapping> = state
        .ports
        .iter()
        .filter(|p| fam.has(&p.container_ip))
        .collect();
    let is_loopback = |p: &PortMapping| host_ip(p).is_some_and(|h| h.is_loopback());

    // Loopback-addressed packets from outside: the kernel would route them on a bridge
    // with route_localnet, straight into the host's 127.0.0.1 services.
    let mut raw = Vec::new();
    if fam == Fam::V4 {
        raw.push(
            "iifname != \"lo\" ip daddr 127.0.0.0/8 drop comment \"remote loopback\"".to_string(),
        );
    }
    chain(
        "raw-prerouting",
        Some("type filter hook prerouting priority raw"),
        &raw,
    );

    let dnat_rule = |p: &PortMapping| {
        let daddr = host_ip(p)
            .map(|h| format!("{ip} daddr {h} "))
            .unwrap_or_default();
        format!(
            "{daddr}{} dport {} dnat to {}",
            p.protocol.as_str(),
            p.host_port,
            dnat_target(p)
        )
    };
    let jump = "fib daddr type local jump port-dnat".to_string();
    chain(
        "nat-prerouting",
        Some("type nat hook prerouting priority dstnat"),
        std::slice::from_ref(&jump),
    );
    let mut output = vec![jump];
    output.extend(
        ports
            .iter()
            .filter(|p| is_loopback(p))
            .map(|p| dnat_rule(p)),
    );
    chain(
        "nat-output",
        Some("type nat hook output priority -100"),
        &output,
    );
    let dnat: Vec<String> = ports
        .iter()
        .filter(|p| !is_loopback(p))
        .map(|p| dnat_rule(p))
        .collect();
    chain("port-dnat", None, &dnat);

    let mut post = Vec::new();
    for n in &state.networks {
        let br = q(&n.bridge);
        for s in subnets(n, fam) {
            if n.masquerade && !n.internal {
                post.push(format!("oifname != {br} {ip} saddr {s} masquerade"));
            }
            if !n.internal {
                post.push(format!(
                    "oifname {br} ct status dnat {ip} saddr {s} masquerade comment \"hairpin\""
                ));
            }
        }
        if fam == Fam::V4 && !n.internal {
            post.push(format!(
                "oifname {br} ip saddr 127.0.0.0/8 masquerade comment \"from loopback\""
            ));
        }
    }
    chain(
        "nat-postrouting",
        Some("type nat hook postrouting priority srcnat"),
        &post,
    );

    let mut fwd = Vec::new();
    for n in state.networks.iter().filter(|n| n.internal) {
        let br = q(&n.bridge);
        fwd.push(format!(
            "iifname {br} oifname != {br} drop comment \"internal\""
        ));
        fwd.push(format!(
            "oifname {br} iifname != {br} drop comment \"internal\""
        ));
    }
    fwd.push("ct state established,related accept".to_string());
    let external: Vec<&str> = state
        .networks
        .iter()
        .filter(|n| !n.internal)
        .map(|n| n.bridge.as_str())
        .collect();
    if !external.is_empty() {
        fwd.push(format!(
            "oifname {} ct status dnat accept comment \"published ports\"",
            set(&external)
        ));
    }
    for n in &state.networks {
        let others: Vec<&str> = state
            .networks
            .iter()
            .map(|o| o.bridge.as_str())
            .filter(|o| *o != n.bridge)
            .collect();
        if !others.is_empty() {
            fwd.push(format!(
                "iifname {} oifname {} drop comment \"isolation\"",
                q(&n.bridge),
                set(&others)
            ));
        }
    }
    if !external.is_empty() {
        fwd.push(format!("iifname {} accept", set(&external)));
    }
    chain(
        "forward",
        Some("type filter hook forward priority filter"),
        &fwd,
    );
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::super::Protocol;
    use super::*;

    fn state() -> FirewallState {
        FirewallState {
            networks: vec![
                FirewallNetwork {
                    bridge: "berth0".into(),
                    subnets: vec!["172.17.0.0/16".parse().unwrap()],
                    internal: false,
                    masquerade: true,
                },
                FirewallNetwork {
                    bridge: "br-int".into(),
                    subnets: vec!["10.10.0.1/24".parse().unwrap()],
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![
                PortMapping {
                    protocol: Protocol::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 80,
                    bridge: "berth0".into(),
                },
                PortMapping {
                    protocol: Protocol::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 5353,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 53,
                    bridge: "berth0".into(),
                },
                PortMapping {
                    protocol: Protocol::Tcp,
                    host_ip: Some("192.0.2.10".parse().unwrap()),
                    host_port: 443,
                    container_ip: "172.17.0.3".parse().unwrap(),
                    container_port: 8443,
                    bridge: "berth0".into(),
                },
            ],
        }
    }

    #[test]
    fn renders_the_whole_table() {
        let text = Nftables::new().render(&state()).unwrap();
        let expected = r#"add table ip berth
delete table ip berth
table ip berth {
	chain raw-prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname != "lo" ip daddr 127.0.0.0/8 drop comment "remote loopback"
	}
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump port-dnat
	}
	chain nat-output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump port-dnat
		ip daddr 127.0.0.1 udp dport 5353 dnat to 172.17.0.2:53
	}
	chain port-dnat {
		tcp dport 8080 dnat to 172.17.0.2:80
		ip daddr 192.0.2.10 tcp dport 443 dnat to 172.17.0.3:8443
	}
	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname != "berth0" ip saddr 172.17.0.0/16 masquerade
		oifname "berth0" ct status dnat ip saddr 172.17.0.0/16 masquerade comment "hairpin"
		oifname "berth0" ip saddr 127.0.0.0/8 masquerade comment "from loopback"
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "br-int" oifname != "br-int" drop comment "internal"
		oifname "br-int" iifname != "br-int" drop comment "internal"
		ct state established,related accept
		oifname "berth0" ct status dnat accept comment "published ports"
		iifname "berth0" oifname "br-int" drop comment "isolation"
		iifname "br-int" oifname "berth0" drop comment "isolation"
		iifname "berth0" accept
	}
}
add table ip6 berth
delete table ip6 berth
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn ipv6_gets_its_own_table() {
        let mut s = state();
        s.networks[0].subnets.push("fd00:17::/64".parse().unwrap());
        s.ports.push(PortMapping {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "fd00:17::2".parse().unwrap(),
            container_port: 80,
            bridge: "berth0".into(),
        });
        let text = Nftables::new().render(&s).unwrap();
        let v6 = &text[text.find("table ip6 berth {").unwrap()..];
        assert!(v6.contains("tcp dport 8080 dnat to [fd00:17::2]:80"));
        assert!(v6.contains("oifname != \"berth0\" ip6 saddr fd00:17::/64 masquerade"));
        assert!(!v6.contains("127.0.0.0/8"));
        assert!(!v6.contains("172.17"));
    }

    #[test]
    fn rejects_bad_input() {
        let mut s = state();
        s.networks[0].bridge = "a\"b".into();
        assert!(Nftables::new().render(&s).is_err());
        let mut s = state();
        s.ports[0].bridge = "nope".into();
        assert!(Nftables::new().render(&s).is_err());
        let mut s = state();
        s.ports[0].host_ip = Some("::1".parse().unwrap());
        assert!(Nftables::new().render(&s).is_err());
        s.ports[0].container_ip = "fd00::2".parse().unwrap();
        assert!(Nftables::new().render(&s).is_err());
        assert!(Nftables::new().with_table("x y").is_err());
        assert!(Nftables::new().with_table("berth_test-1").is_ok());
    }

    #[test]
    fn empty_state_still_has_the_skeleton() {
        let text = Nftables::new().render(&FirewallState::default()).unwrap();
        assert!(text.contains("jump port-dnat"));
        assert!(text.contains("ct state established,related accept"));
    }
}
