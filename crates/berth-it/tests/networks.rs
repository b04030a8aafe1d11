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
    // Starting it again is Docker's no-op: its network stays as it is.
    d.docker(["start", "ca"]).ok();
    assert_eq!(d.inspect_fmt("ca", "{{.NetworkSettings.IPAddress}}"), ip);
    sh(&d, "ca", &format!("ping -c1 -W2 {gw} >/dev/null"));
    // Removal takes the veth pair, the namespace and the address with it.
    let id = d.inspect_fmt("ca", "{{.Id}}");
    d.docker(["rm", "-f", "ca"]).ok();
    wait_for("only the bridge stays", || {
        host_links(&d) == ["lo", "berth0"]
    });
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
    wait_for("no veth, no bridge left", || host_links(&d) == ["lo"]);
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
    // No rule while no container uses a network.
    assert!(!table().success(), "{}", table().stdout);
    d.docker(["run", "-d", "--name", "c1", "busybox", "sleep", "300"])
        .ok();
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
    // With the last container gone, none of our rules stays.
    d.docker(["rm", "-f", "c1"]).ok();
    wait_for_within("no rule of ours left", Duration::from_secs(8), || {
        !table().success()
    });
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
    wait_for("no veth, no bridge left", || host_links(&d) == ["lo"]);
    let netns: Vec<_> = std::fs::read_dir(d.exec_root.join("netns"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(netns.is_empty(), "{netns:?}");
    // Rules linger two seconds after a network's last container (so that short-lived
    // containers do not rewrite the firewall at every start), then go.
    wait_for_within("no rule of ours left", Duration::from_secs(8), || {
        !d.on_host("nft", ["list", "table", "ip", "berth"])
            .run()
            .success()
    });
}

/// A second "host" on the daemon's link: a namespace of its own, joined to the daemon's
/// by a veth pair (10.99.0.1 on the daemon's side, 10.99.0.2 on its own). Removed on drop.
struct SecondHost {
    netns: std::path::PathBuf,
}

impl SecondHost {
    fn new(d: &Daemon) -> SecondHost {
        let netns = d.root().join("second-host");
        std::fs::write(&netns, b"").unwrap();
        let o = berth_it::cli::Cli::new("unshare")
            .arg(format!("--net={}", netns.display()))
            .args(["ip", "link", "set", "lo", "up"])
            .run();
        assert!(o.success(), "{o}");
        let h = SecondHost { netns };
        let ns = h.netns.display().to_string();
        d.on_host(
            "ip",
            [
                "link", "add", "tohost2", "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        )
        .ok();
        d.on_host("ip", ["addr", "add", "10.99.0.1/24", "dev", "tohost2"])
            .ok();
        d.on_host("ip", ["link", "set", "tohost2", "up"]).ok();
        h.run("ip", &["addr", "add", "10.99.0.2/24", "dev", "eth0"])
            .ok();
        h.run("ip", &["link", "set", "eth0", "up"]).ok();
        h
    }

    fn run(&self, program: &str, args: &[&str]) -> berth_it::cli::Cli {
        berth_it::cli::Cli::new("nsenter")
            .arg(format!("--net={}", self.netns.display()))
            .arg(program)
            .args(args)
    }
}

impl Drop for SecondHost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.netns)
            .output();
        let _ = std::fs::remove_file(&self.netns);
    }
}

/// `GET` with curl, from wherever `cli` runs; the body or `None`.
fn http_get(cli: berth_it::cli::Cli) -> Option<String> {
    let o = cli.timeout(Duration::from_secs(10)).run();
    o.success().then_some(o.stdout)
}

#[test]
fn published_ports_reach_the_container_and_loopback_ones_stay_local() {
    let d = Daemon::with_busybox();
    let serve = |name: &str, text: &str, flags: &[&str]| {
        d.docker(["run", "-d", "--name", name])
            .args(flags)
            .args(["busybox", "sh", "-c"])
            .arg(format!(
                "mkdir /www; echo {text} > /www/index.html; exec httpd -f -p 80 -h /www"
            ))
            .ok();
    };
    serve("pub", "public", &["-p", "18080:80"]);
    serve("loc", "local", &["-p", "127.0.0.1:18081:80"]);
    serve("rnd", "random", &["-P", "--expose", "80"]);
    let get = |url: &str| {
        let mut body = None;
        for _ in 0..50 {
            body = http_get(d.on_host("curl", ["-sf", "-m", "2", url]));
            if body.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        body
    };
    // From the host: its own address on the link and loopback.
    let second = SecondHost::new(&d);
    assert_eq!(get("http://10.99.0.1:18080/").as_deref(), Some("public\n"));
    assert_eq!(get("http://127.0.0.1:18080/").as_deref(), Some("public\n"));
    assert_eq!(get("http://127.0.0.1:18081/").as_deref(), Some("local\n"));
    let port = d.docker(["port", "rnd", "80"]).ok();
    let rport = port
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(rport.parse::<u16>().unwrap() > 1024, "{port}");
    assert_eq!(
        get(&format!("http://127.0.0.1:{rport}/")).as_deref(),
        Some("random\n")
    );
    // Hairpin: a container reaches another's published port through the host address.
    let o = d
        .docker(["exec", "loc", "sh", "-c"])
        .arg("printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 10.99.0.1 18080 | tail -1")
        .run();
    assert_eq!(o.stdout, "public\n", "{o}");
    // From a second host: the public port answers, the loopback-bound one does not.
    let from2 = |url: &str| http_get(second.run("curl", &["-sf", "-m", "2", url]));
    assert_eq!(
        from2("http://10.99.0.1:18080/").as_deref(),
        Some("public\n")
    );
    assert_eq!(
        from2("http://10.99.0.1:18081/"),
        None,
        "127.0.0.1-bound stays local"
    );
    // UDP: a datagram to the published port reaches the container's namespace (busybox
    // has no UDP listener, so python listens there, from the host's side).
    d.docker([
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        "127.0.0.1:15353:5353/udp",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let listener = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", d.pid_of("udp")))
        .args(["python3", "-c", "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5353))\ns.settimeout(10)\nprint(s.recvfrom(100)[0].decode())"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let send = "import socket,time\nfor _ in range(50):\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'ping-udp', ('127.0.0.1', 15353))\n    time.sleep(0.1)";
    let sender = d.on_host("python3", ["-c", send]).spawn();
    let got = listener.wait_with_output().unwrap();
    let _ = sender.wait_with_output();
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "ping-udp",
        "{got:?}"
    );
    // A port that is taken is refused at start with Docker's message.
    let o = d
        .docker([
            "run", "-d", "--name", "clash", "-p", "18080:80", "busybox", "sleep", "60",
        ])
        .run();
    assert!(!o.success());
    assert!(
        o.stderr
            .contains("Bind for 0.0.0.0:18080 failed: port is already allocated"),
        "{o}"
    );
    // Stopping frees the port: nothing answers and the rules are gone.
    d.docker(["stop", "-t", "0", "pub"]).ok();
    assert_eq!(
        http_get(d.on_host("curl", ["-sf", "-m", "1", "http://127.0.0.1:18080/"])),
        None
    );
    let rules = d.on_host("nft", ["list", "table", "ip", "berth"]).ok();
    assert!(!rules.contains("18080"), "{rules}");
    d.docker(["rm", "-f", "pub", "loc", "rnd", "udp", "clash"])
        .ok();
    // Rules linger two seconds after a network's last container (so that short-lived
    // containers do not rewrite the firewall at every start), then go.
    wait_for_within("no rule of ours left", Duration::from_secs(8), || {
        !d.on_host("nft", ["list", "table", "ip", "berth"])
            .run()
            .success()
    });
}

#[test]
fn links_give_hosts_entries_and_dockers_variables() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "dbx",
        "-e",
        "SECRET=s3",
        "--expose",
        "5432",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let ip = d.inspect_fmt("dbx", "{{.NetworkSettings.IPAddress}}");
    let o = d
        .docker(["run", "--rm", "--name", "app", "--link", "dbx:db", "busybox", "sh", "-c"])
        .arg("env | grep ^DB_ | sort; grep -w db /etc/hosts; ping -c1 -W2 db >/dev/null && echo ping-db")
        .run();
    assert!(o.success(), "{o}");
    let host = d.inspect_fmt("dbx", "{{.Config.Hostname}}");
    let want = format!(
        "DB_ENV_SECRET=s3\nDB_NAME=/app/db\nDB_PORT=tcp://{ip}:5432\nDB_PORT_5432_TCP=tcp://{ip}:5432\n\
         DB_PORT_5432_TCP_ADDR={ip}\nDB_PORT_5432_TCP_PORT=5432\nDB_PORT_5432_TCP_PROTO=tcp\n\
         {ip}\tdb {host} dbx\nping-db\n"
    );
    assert_eq!(o.stdout, want);
    // Docker keeps links as /NAME:/CONTAINER/ALIAS, refuses a missing one at create
    // and a stopped one at start.
    d.docker([
        "create", "--name", "later", "--link", "dbx", "busybox", "true",
    ])
    .ok();
    assert_eq!(
        d.inspect_fmt("later", "{{json .HostConfig.Links}}"),
        "[\"/dbx:/later/dbx\"]"
    );
    let o = d
        .docker(["create", "--link", "nosuch:x", "busybox", "true"])
        .run();
    assert!(
        o.stderr.contains("could not get container for nosuch"),
        "{o}"
    );
    d.docker(["stop", "-t", "0", "dbx"]).ok();
    let o = d.docker(["start", "later"]).run();
    assert!(
        o.stderr
            .contains("Cannot link to a non running container: /dbx AS /later/dbx"),
        "{o}"
    );
}

#[test]
fn bip_mtu_and_address_pools_come_from_daemon_json() {
    let mut d = Daemon::new();
    std::fs::write(
        &d.config_file,
        r#"{"bip": "10.77.0.1/24", "mtu": 1400, "default-address-pools": [{"base": "10.200.0.0/16", "size": 24}]}"#,
    )
    .unwrap();
    d.spawn();
    d.load(&berth_it::fixtures().busybox);
    let o = d
        .docker(["run", "--rm", "busybox", "sh", "-c"])
        .arg("ip -o -4 addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/mtu; ip route | grep default")
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(
        o.stdout,
        "10.77.0.2/24\n1400\ndefault via 10.77.0.1 dev eth0 \n"
    );
    d.docker(["network", "create", "pooled"]).ok();
    assert_eq!(
        d.docker([
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            "pooled"
        ])
        .ok()
        .trim(),
        "10.200.0.0/24 10.200.0.1"
    );
    let info = d
        .docker([
            "network",
            "inspect",
            "-f",
            "{{index .Options \"com.docker.network.driver.mtu\"}}",
            "bridge",
        ])
        .ok();
    assert_eq!(info.trim(), "1400");
}

#[test]
fn ipv6_networks_give_containers_a_ula_address_too() {
    let d = Daemon::with_busybox();
    d.docker([
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd42:b:c::/64",
        "six",
    ])
    .ok();
    // Dual stack, as Docker: an IPv4 subnet from the pools besides the one given.
    let cfg = d
        .docker([
            "network",
            "inspect",
            "-f",
            "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}",
            "six",
        ])
        .ok();
    assert!(cfg.starts_with("true 172."), "{cfg}");
    assert!(cfg.contains(" fd42:b:c::/64=fd42:b:c::1"), "{cfg}");
    d.docker([
        "run",
        "-d",
        "--name",
        "v6a",
        "--network",
        "six",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let a6 = d.inspect_fmt(
        "v6a",
        "{{(index .NetworkSettings.Networks \"six\").GlobalIPv6Address}}",
    );
    assert!(a6.starts_with("fd42:b:c::"), "{a6}");
    assert_eq!(
        d.inspect_fmt(
            "v6a",
            "{{(index .NetworkSettings.Networks \"six\").IPv6Gateway}}"
        ),
        "fd42:b:c::1"
    );
    let out = sh(
        &d,
        "v6a",
        "ip -o -6 addr show eth0 scope global | awk '{print $4}'; ip -6 route | grep default",
    );
    assert!(out.starts_with(&format!("{a6}/64\n")), "{out}");
    assert!(out.contains("default via fd42:b:c::1 dev eth0"), "{out}");
    // Another container reaches it over IPv6 (a freshly added address may still be in
    // duplicate address detection: retry briefly).
    wait_for_within("ping6 between containers", Duration::from_secs(10), || {
        d.docker([
            "run",
            "--rm",
            "--network",
            "six",
            "busybox",
            "ping",
            "-6",
            "-c1",
            "-W1",
            &a6,
        ])
        .run()
        .success()
    });
    // Its name resolves to both addresses.
    let o = d
        .docker([
            "run",
            "--rm",
            "--network",
            "six",
            "busybox",
            "nslookup",
            "v6a",
        ])
        .run();
    assert!(o.stdout.contains(&a6), "AAAA for the name: {o}");
    let v4 = d.inspect_fmt(
        "v6a",
        "{{(index .NetworkSettings.Networks \"six\").IPAddress}}",
    );
    assert!(o.stdout.contains(&v4), "A for the name: {o}");
    d.docker(["rm", "-f", "v6a"]).ok();
    d.docker(["network", "rm", "six"]).ok();
}

/// The iptables backend (`--firewall-backend iptables`, for hosts without nft): NAT for
/// published ports, loopback kept local, and the chains restored after a table flush.
#[test]
fn iptables_backend_publishes_ports_and_heals() {
    let mut d = Daemon::new();
    d.extra_args = vec!["--firewall-backend".into(), "iptables".into()];
    d.spawn();
    d.load(&berth_it::fixtures().busybox);
    d.docker([
        "run", "-d", "--name", "web", "-p", "18090:80", "busybox", "sh", "-c",
    ])
    .arg("mkdir /www; echo via-iptables > /www/index.html; exec httpd -f -p 80 -h /www")
    .ok();
    let second = SecondHost::new(&d);
    let get = |cli: berth_it::cli::Cli| http_get(cli);
    wait_for_within("the published port", Duration::from_secs(10), || {
        get(d.on_host("curl", ["-sf", "-m", "2", "http://127.0.0.1:18090/"])).as_deref()
            == Some("via-iptables\n")
    });
    assert_eq!(
        get(second.run("curl", &["-sf", "-m", "2", "http://10.99.0.1:18090/"])).as_deref(),
        Some("via-iptables\n")
    );
    let nat = d
        .on_host("iptables", ["-t", "nat", "-S", "BERTH-PREROUTING"])
        .ok();
    assert!(nat.contains("--dport 18090 -j DNAT"), "{nat}");
    assert!(
        d.on_host("nft", ["list", "table", "ip", "berth"])
            .run()
            .stdout
            .is_empty(),
        "no nft table of ours"
    );
    // Someone flushes the nat table: the jump and rules come back.
    d.on_host("iptables", ["-t", "nat", "-F"]).ok();
    wait_for_within(
        "the nat rules to be restored",
        Duration::from_secs(5),
        || {
            d.on_host("iptables", ["-t", "nat", "-S", "BERTH-PREROUTING"])
                .run()
                .stdout
                .contains("--dport 18090")
                && d.on_host(
                    "iptables",
                    [
                        "-t",
                        "nat",
                        "-C",
                        "PREROUTING",
                        "-m",
                        "addrtype",
                        "--dst-type",
                        "LOCAL",
                        "-j",
                        "BERTH-PREROUTING",
                    ],
                )
                .run()
                .success()
        },
    );
    d.docker(["rm", "-f", "web"]).ok();
    // With no container on a network, our chains and jumps are gone (after the linger).
    wait_for_within("no chain of ours left", Duration::from_secs(8), || {
        !d.on_host("iptables-save", Vec::<&str>::new())
            .ok()
            .contains("BERTH-")
    });
}

#[test]
fn fixed_addresses_macs_and_aliases_given_at_run_or_connect() {
    let d = Daemon::with_busybox();
    d.docker([
        "network",
        "create",
        "--subnet",
        "10.123.45.0/24",
        "--gateway",
        "10.123.45.1",
        "fixed",
    ])
    .ok();
    let o = d
        .docker([
            "run",
            "--rm",
            "--network",
            "fixed",
            "--ip",
            "10.123.45.77",
            "--mac-address",
            "02:42:0a:00:00:99",
            "busybox",
            "sh",
            "-c",
        ])
        .arg("ip -o -4 addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/address")
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "10.123.45.77/24\n02:42:0a:00:00:99\n");
    // Taken, outside the subnet, or on the default bridge: Docker's errors.
    d.docker([
        "run",
        "-d",
        "--name",
        "holder",
        "--network",
        "fixed",
        "--ip",
        "10.123.45.80",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let o = d
        .docker([
            "run",
            "--rm",
            "--network",
            "fixed",
            "--ip",
            "10.123.45.80",
            "busybox",
            "true",
        ])
        .run();
    assert!(o.stderr.contains("Address already in use"), "{o}");
    let o = d
        .docker([
            "run",
            "--rm",
            "--network",
            "fixed",
            "--ip",
            "10.9.9.9",
            "busybox",
            "true",
        ])
        .run();
    assert!(
        o.stderr
            .contains("does not belong to any of this network's subnets"),
        "{o}"
    );
    let o = d
        .docker(["run", "--rm", "--ip", "172.17.0.50", "busybox", "true"])
        .run();
    assert!(
        o.stderr
            .contains("user specified IP address is supported on user defined networks only"),
        "{o}"
    );
    // connect --alias --ip on a running container.
    d.docker(["run", "-d", "--name", "late", "busybox", "sleep", "300"])
        .ok();
    d.docker([
        "network",
        "connect",
        "--alias",
        "nick",
        "--ip",
        "10.123.45.90",
        "fixed",
        "late",
    ])
    .ok();
    assert_eq!(
        d.inspect_fmt(
            "late",
            "{{(index .NetworkSettings.Networks \"fixed\").IPAddress}}"
        ),
        "10.123.45.90"
    );
    assert_eq!(
        sh(
            &d,
            "holder",
            "ping -c1 -W2 nick >/dev/null && echo alias-ok"
        ),
        "alias-ok\n"
    );
}
