//! Bridge networking through the real docker CLI, each daemon in a network namespace of
//! its own (which plays the host): addresses, routes and reachability on the default
//! bridge and on user-defined networks, the embedded resolver's scoping, isolation
//! between networks, the firewall healing after a flush, and nothing left behind after
//! `rm -f`, `network rm` and a `kill -9` of the daemon.

use std::time::Duration;

use berth_it::{wait_for, wait_for_within, Daemon};

/// `docker exec NAME sh -c SCRIPT`, asserting success; its stdout.
fn sh(d: &Daemon, name: &str, script: &str) -> String {
    let o = d.docker(["exec", name, "sh", "-c", script]).run();
    assert!(o.success(), "{o}");
    o.stdout
}

/// The host ends of containers' veth pairs in the daemon's namespace.
fn veths(d: &Daemon) -> Vec<String> {
    host_links(d)
        .into_iter()
        .filter(|l| l.starts_with("veth"))
        .collect()
}

/// The daemon namespace's interfaces, by name.
fn host_links(d: &Daemon) -> Vec<String> {
    d.on_host("ip", ["-o", "link"])
        .ok()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

#[test]
fn default_bridge_gives_an_address_a_route_and_reachability() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "ca", "busybox", "sleep", "300"])
        .ok();
    let ip = d.inspect_fmt("ca", "{{.NetworkSettings.IPAddress}}");
    let gw = d.inspect_fmt("ca", "{{.NetworkSettings.Gateway}}");
    assert_eq!(
        d.inspect_fmt("ca", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    assert!(
        ip.starts_with("172.17."),
        "{ip}: the namespace has no routes, so 172.17/16"
    );
    assert_eq!(gw, "172.17.0.1");
    let mac = d.inspect_fmt("ca", "{{.NetworkSettings.MacAddress}}");
    let o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(
        mac,
        format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]),
        "Docker's MAC for the address"
    );
    let inside = sh(
        &d,
        "ca",
        "ip -o -4 addr show eth0; ip route; cat /etc/hosts | tail -1",
    );
    assert!(inside.contains(&format!("{ip}/16")), "{inside}");
    assert!(
        inside.contains(&format!("default via {gw} dev eth0")),
        "{inside}"
    );
    let hostname = d.inspect_fmt("ca", "{{.Config.Hostname}}");
    assert!(inside.ends_with(&format!("{ip}\t{hostname}\n")), "{inside}");
    // The gateway (the host's bridge) and another container answer; so does the
    // container from the host.
    sh(&d, "ca", &format!("ping -c1 -W2 {gw} >/dev/null"));
    let o = d
        .docker(["run", "--rm", "busybox", "ping", "-c1", "-W2", &ip])
        .run();
    assert!(o.success(), "{o}");
    let o = d.on_host("busybox", ["ping", "-c1", "-W2", &ip]).run();
    assert!(o.success(), "{o}");
    // --network none: only lo, and up.
    let o = d
        .docker(["run", "--rm", "--network", "none", "busybox", "sh", "-c"])
        .arg("ip -o link | wc -l; ip -o -4 addr | awk '{print $2, $4}'; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-up")
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "1\nlo 127.0.0.1/8\nlo-up\n");
    // Removal takes the veth pair, the namespace and the address with it.
    let id = d.inspect_fmt("ca", "{{.Id}}");
    d.docker(["rm", "-f", "ca"]).ok();
    assert_eq!(host_links(&d), ["lo", "berth0"], "only the bridge stays");
    assert!(!d.exec_root.join("netns").join(&id).exists());
    d.docker(["run", "-d", "--name", "cb", "busybox", "sleep", "300"])
        .ok();
    assert_eq!(
        d.inspect_fmt("cb", "{{.NetworkSettings.IPAddress}}"),
        ip,
        "the released address is the first free one again"
    );
}

#[test]
fn user_networks_resolve_names_only_among_their_members() {
    let d = Daemon::with_busybox();
    d.docker(["network", "create", "front"]).ok();
    d.docker(["network", "create", "back"]).ok();
    d.docker([
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker([
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "back",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker([
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "front",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let web_ip = d.inspect_fmt(
        "web",
        "{{(index .NetworkSettings.Networks \"front\").IPAddress}}",
    );
    let db_ip = d.inspect_fmt(
        "db",
        "{{(index .NetworkSettings.Networks \"back\").IPAddress}}",
    );
    let out = sh(
        &d,
        "client",
        "grep nameserver /etc/resolv.conf; nslookup web; nslookup www; ping -c1 -W2 web >/dev/null && echo ping-web",
    );
    assert!(out.starts_with("nameserver 127.0.0.11\n"), "{out}");
    assert!(
        out.matches(&web_ip).count() >= 2,
        "name and alias give web's address: {out}"
    );
    assert!(out.contains("ping-web"), "{out}");
    // db is on another network: no name, and no route through the bridges either.
    let o = d.docker(["exec", "client", "nslookup", "db"]).run();
    assert!(!o.stdout.contains(&db_ip), "{o}");
    let o = d
        .docker(["exec", "client", "ping", "-c1", "-W1", &db_ip])
        .run();
    assert!(!o.success(), "networks are isolated from each other: {o}");
    // Connected to back as well, client now reaches db by name.
    d.docker(["network", "connect", "back", "client"]).ok();
    let out = sh(
        &d,
        "client",
        "ip -o link | wc -l; ping -c1 -W2 db >/dev/null && echo ping-db",
    );
    assert_eq!(out, "3\nping-db\n", "lo, eth0, eth1");
    d.docker(["network", "disconnect", "back", "client"]).ok();
    assert_eq!(sh(&d, "client", "ip -o link | wc -l"), "2\n");
    // A network with members cannot go; without them it takes its bridge along.
    let o = d.docker(["network", "rm", "front"]).run();
    assert!(o.stderr.contains("has active endpoints"), "{o}");
    d.docker(["rm", "-f", "web", "db", "client"]).ok();
    d.docker(["network", "rm", "front", "back"]).ok();
    assert_eq!(host_links(&d), ["lo"], "no veth, no bridge left");
    let ipam = std::fs::read_dir(d.data_root.join("networks/ipam"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(
        ipam, 0,
        "removed networks leave no address state (the default bridge was never used)"
    );
}

#[test]
fn firewall_rules_come_back_after_a_flush() {
    let d = Daemon::with_busybox();
    let table = || d.on_host("nft", ["list", "table", "ip", "berth"]).run();
    let before = table();
    assert!(before.success(), "{before}");
    assert!(before.stdout.contains("masquerade"), "{}", before.stdout);
    d.on_host("nft", ["flush", "ruleset"]).ok();
    wait_for_within(
        "the firewall table to be restored",
        Duration::from_secs(5),
        || table().success(),
    );
    assert_eq!(table().stdout, before.stdout);
}

#[test]
fn networks_survive_kill_9_and_leave_nothing_after_rm() {
    let mut d = Daemon::with_busybox();
    d.docker(["network", "create", "n1"]).ok();
    d.docker([
        "run",
        "-d",
        "--name",
        "keep",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker([
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker([
        "run",
        "-d",
        "--name",
        "gone",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let ip = d.inspect_fmt(
        "keep",
        "{{(index .NetworkSettings.Networks \"n1\").IPAddress}}",
    );
    let gone_pid = d.pid_of("gone");
    assert_eq!(veths(&d).len(), 3, "one veth per container");
    d.kill9();
    // Killed while the daemon is away: its network must be undone at the restart.
    let pid = rustix::process::Pid::from_raw(gone_pid).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    d.spawn();
    wait_for("gone to be seen exited", || {
        d.inspect_fmt("gone", "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect_fmt("keep", "{{.State.Running}}"), "true");
    wait_for("gone's veth to be removed", || veths(&d).len() == 2);
    assert_eq!(
        d.inspect_fmt(
            "keep",
            "{{(index .NetworkSettings.Networks \"n1\").IPAddress}}"
        ),
        ip
    );
    // The resolver is back for it too.
    assert_eq!(
        sh(&d, "peer", "ping -c1 -W2 keep >/dev/null && echo ok"),
        "ok\n"
    );
    d.docker(["rm", "-f", "keep", "peer", "gone"]).ok();
    d.docker(["network", "rm", "n1"]).ok();
    assert_eq!(host_links(&d), ["lo"], "no veth, no bridge left");
    let netns: Vec<_> = std::fs::read_dir(d.exec_root.join("netns"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(netns.is_empty(), "{netns:?}");
}
