//! The per-container `/etc/hosts` and `/etc/resolv.conf`, as Docker writes them: the
//! localhost entries, `--add-host` entries, then the container's own address; the host's
//! resolvers unless `--dns`, `--dns-search` or `--dns-option` are given, and the embedded
//! resolver on user-defined networks.

use serde_json::Value;

use super::Record;

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `--add-host NAME:IP` entries (the CLI sends `NAME:IP`, newer ones `NAME=IP`); an IP of
/// `host-gateway` is the default bridge's gateway. Checked at create.
pub fn extra_hosts(
    hc: &Value,
    host_gateway: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for e in strs(hc.get("ExtraHosts")) {
        let (name, ip) = e
            .split_once('=')
            .or_else(|| e.split_once(':'))
            .ok_or_else(|| format!("invalid argument \"{e}\" for \"--add-host\" flag: bad format for add-host: \"{e}\""))?;
        // A name is one line's field of /etc/hosts: no spaces, no line breaks.
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "invalid argument \"{e}\" for \"--add-host\" flag: invalid hostname"
            ));
        }
        let ip = if ip == "host-gateway" {
            host_gateway
                .ok_or("unable to derive the IP value for host-gateway")?
                .to_string()
        } else {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| format!("invalid IP address in add-host: \"{ip}\""))?;
            ip.to_string()
        };
        out.push((name.to_string(), ip));
    }
    Ok(out)
}

/// `/etc/hosts`: with `own` (the container's address and names) once it has one.
pub fn hosts(extra: &[(String, String)], own: Option<(&str, &[String])>) -> String {
    let mut s = LOCALHOST.to_string();
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some((ip, names)) = own {
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    s
}

/// `/etc/resolv.conf`. `embedded`: the container is on a user-defined network, where the
/// daemon's resolver answers at 127.0.0.11 and forwards the rest.
pub fn resolv_conf(rec: &Record, host_resolv: &str, embedded: bool) -> String {
    let hc = &rec.host_config;
    let dns = strs(hc.get("Dns"));
    let search = strs(hc.get("DnsSearch"));
    let options = strs(hc.get("DnsOptions"));
    let host_lines = |prefix: &str| -> Vec<String> {
        host_resolv
            .lines()
            .filter_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
            .collect()
    };
    let search = if search.is_empty() {
        host_lines("search")
    } else {
        vec![search.join(" ")]
    };
    // Loopback resolvers of the host are unreachable from the container's namespace.
    let servers: Vec<String> = if embedded {
        vec!["127.0.0.11".into()]
    } else if dns.is_empty() {
        host_lines("nameserver")
            .into_iter()
            .filter(|n| !n.starts_with("127.") && n != "::1")
            .collect()
    } else {
        dns
    };
    let options = if options.is_empty() {
        let mut o = host_lines("options");
        if embedded {
            o.push("ndots:0".into());
        }
        o
    } else {
        vec![options.join(" ")]
    };
    let mut s = String::new();
    for l in search.iter().filter(|l| !l.is_empty()) {
        s.push_str(&format!("search {l}\n"));
    }
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    for o in options.iter().filter(|o| !o.is_empty()) {
        s.push_str(&format!("options {o}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_host_names_cannot_add_lines() {
        let ok = json!({"ExtraHosts": ["db:10.0.0.1", "gw:host-gateway"]});
        assert_eq!(
            extra_hosts(&ok, Some("172.17.0.1")).unwrap(),
            vec![
                ("db".to_string(), "10.0.0.1".to_string()),
                ("gw".to_string(), "172.17.0.1".to_string())
            ]
        );
        for bad in [
            "a\n1.2.3.4 evil:10.0.0.1",
            "two names:10.0.0.1",
            ":10.0.0.1",
            "x:notanip",
        ] {
            assert!(
                extra_hosts(&json!({"ExtraHosts": [bad]}), None).is_err(),
                "{bad:?}"
            );
        }
    }
}
