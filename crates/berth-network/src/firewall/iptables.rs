//! The iptables driver, for hosts without `nft`: the same rules as the nftables driver
//! (IPv4), in chains of our own (`BERTH-*`) that the built-in chains jump to. Every apply
//! rewrites our chains in one `iptables-restore --noflush` batch, which replaces exactly
//! the chains it names, so other tools' rules are never touched.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{FirewallDriver, FirewallState, PortMapping};
use crate::{NetError, Result};

/// Our chains: (table, chain, the built-in chain that jumps to it, match of that jump).
const CHAINS: &[(&str, &str, &str, &[&str])] = &[
    ("raw", "BERTH-RAW", "PREROUTING", &[]),
    (
        "nat",
        "BERTH-PREROUTING",
        "PREROUTING",
        &["-m", "addrtype", "--dst-type", "LOCAL"],
    ),
    (
        "nat",
        "BERTH-OUTPUT",
        "OUTPUT",
        &["-m", "addrtype", "--dst-type", "LOCAL"],
    ),
    ("nat", "BERTH-POSTROUTING", "POSTROUTING", &[]),
    ("filter", "BERTH-FORWARD", "FORWARD", &[]),
];

#[derive(Debug, Clone)]
pub struct Iptables {
    iptables: PathBuf,
    restore: PathBuf,
}

impl Default for Iptables {
    fn default() -> Self {
        Iptables::new()
    }
}

impl Iptables {
    /// `iptables` and `iptables-restore` from `PATH`.
    pub fn new() -> Self {
        Iptables {
            iptables: PathBuf::from("iptables"),
            restore: PathBuf::from("iptables-restore"),
        }
    }

    /// Whether `iptables` runs here.
    pub fn available(&self) -> bool {
        Command::new(&self.iptables)
            .args(["-t", "nat", "-S", "POSTROUTING"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        let out = Command::new(&self.iptables)
            // Wait for the xtables lock rather than fail when another tool holds it.
            .arg("-w")
            .args(args)
            .output()
            .map_err(|e| NetError::io("run", self.iptables.clone(), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(NetError::Firewall {
                command: format!("iptables {}", args.join(" ")),
                output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    fn jump_args<'a>(
        chain: &'a str,
        builtin: &'a str,
        matches: &'a [&'a str],
        table: &'a str,
        op: &'a str,
    ) -> Vec<&'a str> {
        let mut a = vec!["-t", table, op, builtin];
        if op == "-I" {
            a.push("1");
        }
        a.extend_from_slice(matches);
        a.extend_from_slice(&["-j", chain]);
        a
    }

    /// The `iptables-restore` input that rewrites our chains for `state`.
    pub fn render(&self, state: &FirewallState) -> Result<String> {
        super::nftables::validate(state)?;
        let ports: Vec<&PortMapping> = state
            .ports
            .iter()
            .filter(|p| p.container_ip.is_ipv4())
            .collect();
        let host = |p: &PortMapping| p.host_ip.filter(|h| !h.is_unspecified());
        let is_loopback = |p: &PortMapping| host(p).is_some_and(|h| h.is_loopback());
        let dnat = |p: &PortMapping| {
            let d = host(p).map(|h| format!("-d {h}/32 ")).unwrap_or_default();
            let IpAddr::V4(c) = p.container_ip else {
                return String::new();
            };
            format!(
                "{d}-p {proto} -m {proto} --dport {} -j DNAT --to-destination {c}:{}",
                p.host_port,
                p.container_port,
                proto = p.protocol.as_str()
            )
        };
        let v4 = |n: &super::FirewallNetwork| -> Vec<String> {
            n.subnets
                .iter()
                .filter(|s| s.addr().is_ipv4())
                .map(|s| s.trunc().to_string())
                .collect()
        };
        let mut out = String::new();
        let mut table = |name: &str, chains: &[(&str, Vec<String>)]| {
            let _ = writeln!(out, "*{name}");
            for (c, _) in chains {
                let _ = writeln!(out, ":{c} - [0:0]");
            }
            for (c, rules) in chains {
                for r in rules {
                    let _ = writeln!(out, "-A {c} {r}");
                }
            }
            let _ = writeln!(out, "COMMIT");
        };
        table(
            "raw",
            &[(
                "BERTH-RAW",
                vec!["! -i lo -d 127.0.0.0/8 -j DROP".to_string()],
            )],
        );
        let mut pre = Vec::new();
        let mut output = Vec::new();
        for p in &ports {
            if !is_loopback(p) {
                pre.push(dnat(p));
            }
            output.push(dnat(p));
        }
        let mut post = Vec::new();
        for n in &state.networks {
            for s in v4(n) {
                if n.masquerade && !n.internal {
                    post.push(format!("-s {s} ! -o {} -j MASQUERADE", n.bridge));
                }
                if !n.internal {
                    post.push(format!(
                        "-s {s} -o {} -m conntrack --ctstate DNAT -j MASQUERADE",
                        n.bridge
                    ));
                }
            }
            if !n.internal {
                post.push(format!("-s 127.0.0.0/8 -o {} -j MASQUERADE", n.bridge));
            }
        }
        table(
            "nat",
            &[
                ("BERTH-PREROUTING", pre),
                ("BERTH-OUTPUT", output),
                ("BERTH-POSTROUTING", post),
            ],
        );
        let mut fwd = Vec::new();
        for n in state.networks.iter().filter(|n| n.internal) {
            fwd.push(format!("-i {b} ! -o {b} -j DROP", b = n.bridge));
            fwd.push(format!("-o {b} ! -i {b} -j DROP", b = n.bridge));
        }
        fwd.push("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".to_string());
        for n in state.networks.iter().filter(|n| !n.internal) {
            fwd.push(format!(
                "-o {} -m conntrack --ctstate DNAT -j ACCEPT",
                n.bridge
            ));
        }
        for n in &state.networks {
            for o in state.networks.iter().filter(|o| o.bridge != n.bridge) {
                fwd.push(format!("-i {} -o {} -j DROP", n.bridge, o.bridge));
            }
        }
        for n in state.networks.iter().filter(|n| !n.internal) {
            fwd.push(format!("-i {} -j ACCEPT", n.bridge));
        }
        table("filter", &[("BERTH-FORWARD", fwd)]);
        Ok(out)
    }
}

impl FirewallDriver for Iptables {
    fn name(&self) -> &'static str {
        "iptables"
    }

    fn apply(&self, state: &FirewallState) -> Result<()> {
        let batch = self.render(state)?;
        let mut child = Command::new(&self.restore)
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NetError::io("run", self.restore.clone(), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(batch.as_bytes())
                .map_err(|e| NetError::io("write to", self.restore.clone(), e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NetError::io("wait for", self.restore.clone(), e))?;
        if !out.status.success() {
            return Err(NetError::Firewall {
                command: "iptables-restore".into(),
                output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        // The jumps into our chains, each once.
        for (table, chain, builtin, matches) in CHAINS {
            let check = Self::jump_args(chain, builtin, matches, table, "-C");
            if self.run(&check).is_err() {
                self.run(&Self::jump_args(chain, builtin, matches, table, "-I"))?;
            }
        }
        Ok(())
    }

    /// The built-in chains still jump to ours (a flush of a table removes the jumps) and
    /// ours still hold their rules (a flush of one of ours empties it; the two below are
    /// never empty).
    fn is_present(&self) -> Result<bool> {
        for (table, chain, builtin, matches) in CHAINS {
            if self
                .run(&Self::jump_args(chain, builtin, matches, table, "-C"))
                .is_err()
            {
                return Ok(false);
            }
        }
        for (table, chain) in [("raw", "BERTH-RAW"), ("filter", "BERTH-FORWARD")] {
            let out = Command::new(&self.iptables)
                .args(["-w", "-t", table, "-S", chain])
                .output()
                .map_err(|e| NetError::io("run", self.iptables.clone(), e))?;
            if String::from_utf8_lossy(&out.stdout).lines().count() < 2 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn remove_all(&self) -> Result<()> {
        for (table, chain, builtin, matches) in CHAINS {
            while self
                .run(&Self::jump_args(chain, builtin, matches, table, "-D"))
                .is_ok()
            {}
            let _ = self.run(&["-t", table, "-F", chain]);
            let _ = self.run(&["-t", table, "-X", chain]);
        }
        Ok(())
    }
}
