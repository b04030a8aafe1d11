//! `berth info` / `berth system info`.

use serde_json::{json, Value};

use super::{go, go_arch, parse_format_template, s, CLIENT_VERSION};
use crate::cli::{check_args, Arity, FormatOpts};
use crate::client::MAX_API_VERSION;
use crate::commands::App;
use crate::error::{CliError, Result};
use crate::format::units::bytes_size;
use crate::format::value::from_json;
use crate::format::{JSON_FORMAT, JSON_KEY};

pub async fn info(app: &mut App, o: FormatOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::None)?;
    let format = o.format.unwrap_or_default();
    if format.is_empty() {
        let server = app.client.get_json("/info", &Vec::new()).await;
        let mut out = String::from("Client:\n");
        out.push_str(&format!(" Version:    {CLIENT_VERSION}\n"));
        out.push_str(" Context:    default\n");
        out.push_str(&format!(" Debug Mode: {}\n", app.debug));
        out.push_str("\nServer:\n");
        let server = match server {
            Ok(v) => v,
            Err(e) => {
                app.print(&out)?;
                // Other failures are reported under "Server:", as docker does.
                if matches!(e, CliError::Connect(_)) {
                    return Err(e);
                }
                app.eprint(&format!("ERROR: {e}\n"));
                return Err(CliError::other("errors pretty printing info"));
            }
        };
        let (text, warnings) = server_info_text(&server);
        out.push_str(&text);
        app.print(&out)?;
        for w in warnings {
            app.eprint(&format!("{w}\n"));
        }
        return Ok(());
    }
    let format = if format == JSON_KEY {
        JSON_FORMAT.to_string()
    } else {
        format
    };
    let template = parse_format_template("", &format, 64, "template parsing error: ")?
        .with_type_name("system.dockerInfo");
    let client_info = json!({
        "Debug": app.debug,
        "Version": CLIENT_VERSION,
        "DefaultAPIVersion": MAX_API_VERSION,
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        "GoVersion": "n/a",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
        "Plugins": [],
        "Warnings": null,
    });
    // Like docker, skip the daemon when the template only needs client information.
    let sparse = json!({"ClientInfo": client_info, "ClientErrors": null});
    if format != JSON_FORMAT && format.contains('.') {
        if let Ok(text) = template.render(&from_json(&sparse)) {
            return app.print(&format!("{text}\n"));
        }
    }
    let mut data = app.client.get_json("/info", &Vec::new()).await?;
    if let Value::Object(m) = &mut data {
        m.insert("ClientInfo".into(), client_info);
    }
    // docker prints the newline even when the template fails, and the bare error.
    let result = template.render(&from_json(&data));
    app.print(&format!("{}\n", result.as_deref().unwrap_or("")))?;
    result
        .map(|_| ())
        .map_err(|e| CliError::other(e.to_string()))
}

/// docker's `prettyPrintServerInfo`; returns the text and the warnings for stderr.
fn server_info_text(info: &Value) -> (String, Vec<String>) {
    let mut o = String::new();
    let mut line = |label: &str, value: String| o.push_str(&format!("{label} {value}\n"));
    let num = |k: &str| go(info.get(k).or(Some(&json!(0))));
    let non_empty = |o: &mut String, label: &str, value: &str| {
        if !value.is_empty() {
            o.push_str(&format!("{label} {value}\n"));
        }
    };
    line(" Containers:", num("Containers"));
    line("  Running:", num("ContainersRunning"));
    line("  Paused:", num("ContainersPaused"));
    line("  Stopped:", num("ContainersStopped"));
    line(" Images:", num("Images"));
    non_empty(&mut o, " Server Version:", s(info, "ServerVersion"));
    non_empty(&mut o, " Storage Driver:", s(info, "Driver"));
    let pairs = |key: &str| -> Vec<(String, String)> {
        info.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let p = p.as_array()?;
                Some((go(p.first()), go(p.get(1))))
            })
            .collect()
    };
    for (k, v) in pairs("DriverStatus") {
        o.push_str(&format!("  {k}: {v}\n"));
    }
    for (k, v) in pairs("SystemStatus") {
        o.push_str(&format!(" {k}: {v}\n"));
    }
    non_empty(&mut o, " Logging Driver:", s(info, "LoggingDriver"));
    non_empty(&mut o, " Cgroup Driver:", s(info, "CgroupDriver"));
    non_empty(&mut o, " Cgroup Version:", s(info, "CgroupVersion"));
    let list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|x| go(Some(x)))
            .collect()
    };
    let plugins = info.get("Plugins").cloned().unwrap_or(Value::Null);
    o.push_str(" Plugins:\n");
    o.push_str(&format!(
        "  Volume: {}\n",
        list(plugins.get("Volume")).join(" ")
    ));
    o.push_str(&format!(
        "  Network: {}\n",
        list(plugins.get("Network")).join(" ")
    ));
    let authz = list(plugins.get("Authorization"));
    if !authz.is_empty() {
        o.push_str(&format!("  Authorization: {}\n", authz.join(" ")));
    }
    o.push_str(&format!("  Log: {}\n", list(plugins.get("Log")).join(" ")));
    let cdi = list(info.get("CDISpecDirs"));
    if !cdi.is_empty() {
        o.push_str(" CDI spec directories:\n");
        for d in cdi {
            o.push_str(&format!("  {d}\n"));
        }
    }
    let swarm = info.get("Swarm").cloned().unwrap_or(Value::Null);
    o.push_str(&format!(" Swarm: {}\n", s(&swarm, "LocalNodeState")));
    if !matches!(s(&swarm, "LocalNodeState"), "inactive" | "locked" | "") {
        o.push_str(&format!("  NodeID: {}\n", s(&swarm, "NodeID")));
        o.push_str(&format!(
            "  Is Manager: {}\n",
            go(swarm.get("ControlAvailable").or(Some(&json!(false))))
        ));
        o.push_str(&format!("  Node Address: {}\n", s(&swarm, "NodeAddr")));
    }
    if let Some(runtimes) = info
        .get("Runtimes")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        let mut names: Vec<&String> = runtimes.keys().collect();
        names.sort();
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        o.push_str(&format!(" Runtimes: {}\n", names.join(" ")));
        o.push_str(&format!(
            " Default Runtime: {}\n",
            s(info, "DefaultRuntime")
        ));
    }
    if s(info, "OSType") == "linux" {
        let commit = |k: &str| {
            info.get(k)
                .map(|c| s(c, "ID").to_string())
                .unwrap_or_default()
        };
        o.push_str(&format!(" Init Binary: {}\n", s(info, "InitBinary")));
        o.push_str(&format!(
            " containerd version: {}\n",
            commit("ContainerdCommit")
        ));
        o.push_str(&format!(" runc version: {}\n", commit("RuncCommit")));
        o.push_str(&format!(" init version: {}\n", commit("InitCommit")));
        let sec = list(info.get("SecurityOptions"));
        if !sec.is_empty() {
            o.push_str(" Security Options:\n");
            for opt in sec {
                let mut name = String::new();
                let mut profile = None;
                for kv in opt.split(',') {
                    match kv.split_once('=') {
                        Some(("name", v)) => name = v.to_string(),
                        Some(("profile", v)) => profile = Some(v.to_string()),
                        _ => {}
                    }
                }
                o.push_str(&format!("  {name}\n"));
                if let Some(p) = profile {
                    o.push_str(&format!("   Profile: {p}\n"));
                }
            }
        }
    }
    non_empty(&mut o, " Kernel Version:", s(info, "KernelVersion"));
    non_empty(&mut o, " Operating System:", s(info, "OperatingSystem"));
    non_empty(&mut o, " OSType:", s(info, "OSType"));
    non_empty(&mut o, " Architecture:", s(info, "Architecture"));
    o.push_str(&format!(" CPUs: {}\n", num("NCPU")));
    let mem = info.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    o.push_str(&format!(" Total Memory: {}\n", bytes_size(mem)));
    non_empty(&mut o, " Name:", s(info, "Name"));
    non_empty(&mut o, " ID:", s(info, "ID"));
    o.push_str(&format!(" Docker Root Dir: {}\n", s(info, "DockerRootDir")));
    let debug = info.get("Debug").and_then(Value::as_bool).unwrap_or(false);
    o.push_str(&format!(" Debug Mode: {debug}\n"));
    if debug {
        o.push_str(&format!("  File Descriptors: {}\n", num("NFd")));
        o.push_str(&format!("  Goroutines: {}\n", num("NGoroutines")));
        o.push_str(&format!("  System Time: {}\n", s(info, "SystemTime")));
        o.push_str(&format!("  EventsListeners: {}\n", num("NEventsListener")));
    }
    non_empty(&mut o, " HTTP Proxy:", s(info, "HttpProxy"));
    non_empty(&mut o, " HTTPS Proxy:", s(info, "HttpsProxy"));
    non_empty(&mut o, " No Proxy:", s(info, "NoProxy"));
    let labels = list(info.get("Labels"));
    if !labels.is_empty() {
        o.push_str(" Labels:\n");
        for l in labels {
            o.push_str(&format!("  {l}\n"));
        }
    }
    let experimental = info
        .get("ExperimentalBuild")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    o.push_str(&format!(" Experimental: {experimental}\n"));
    if let Some(reg) = info.get("RegistryConfig").filter(|r| !r.is_null()) {
        let cidrs = reg
            .get("InsecureRegistryCIDRs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let index = reg
            .get("IndexConfigs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !cidrs.is_empty() || !index.is_empty() {
            o.push_str(" Insecure Registries:\n");
            let mut names: Vec<&String> = index.keys().collect();
            names.sort();
            for n in names {
                if !index[n]
                    .get("Secure")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    o.push_str(&format!("  {}\n", s(&index[n], "Name")));
                }
            }
            for c in &cidrs {
                o.push_str(&format!("  {}\n", format_cidr(c)));
            }
        }
        let mirrors = list(reg.get("Mirrors"));
        if !mirrors.is_empty() {
            o.push_str(" Registry Mirrors:\n");
            for m in mirrors {
                o.push_str(&format!("  {m}\n"));
            }
        }
    }
    let live = info
        .get("LiveRestoreEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    o.push_str(&format!(" Live Restore Enabled: {live}\n"));
    non_empty(&mut o, " Product License:", s(info, "ProductLicense"));
    let pools = info
        .get("DefaultAddressPools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !pools.is_empty() {
        o.push_str(" Default Address Pools:\n");
        for p in pools {
            o.push_str(&format!(
                "   Base: {}, Size: {}\n",
                s(&p, "Base"),
                go(p.get("Size"))
            ));
        }
    }
    o.push('\n');
    (o, list(info.get("Warnings")))
}

/// Insecure-registry CIDRs arrive as Go's `net.IPNet` JSON (`{"IP":..,"Mask":<base64>}`)
/// or already as a string.
fn format_cidr(v: &Value) -> String {
    if let Some(text) = v.as_str() {
        return text.to_string();
    }
    let ip = s(v, "IP");
    let mask = decode_base64(s(v, "Mask")).unwrap_or_default();
    let bits: u32 = mask.iter().map(|b| b.count_ones()).sum();
    format!("{ip}/{bits}")
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_from_go_ipnet() {
        assert_eq!(
            format_cidr(&json!({"IP": "127.0.0.0", "Mask": "/wAAAA=="})),
            "127.0.0.0/8"
        );
        assert_eq!(format_cidr(&json!("::1/128")), "::1/128");
    }
}
