//! berthd as a process: flags, config file, ping/version/info, several daemons,
//! data-root exclusivity, SIGTERM, unknown endpoints, versioned paths.

use berth_it::cli::log_tail;
use berth_it::paths::berthd_bin;
use berth_it::{fixtures, Cli, Daemon};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn api_version(s: &str) -> (u32, u32) {
    let (a, b) = s
        .split_once('.')
        .unwrap_or_else(|| panic!("API version {s:?} is not MAJOR.MINOR"));
    (
        a.parse().unwrap_or_else(|_| panic!("API version {s:?}")),
        b.parse().unwrap_or_else(|_| panic!("API version {s:?}")),
    )
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {p}: {e}"))
        .trim()
        .to_string()
}

fn nproc() -> String {
    Cli::new("nproc").ok().trim().to_string()
}

fn meminfo_total_bytes() -> u64 {
    let m = read_trim("/proc/meminfo");
    let line = m
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .expect("MemTotal in /proc/meminfo");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("MemTotal value");
    kb * 1024
}

#[test]
fn ping_get_and_head_carry_api_version() {
    let d = Daemon::start();
    for path in ["/_ping", "/v1.41/_ping", "/v1.47/_ping"] {
        let r = d.http("GET", path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        assert_eq!(r.text(), "OK", "GET {path} body");
        let v = r
            .header("API-Version")
            .unwrap_or_else(|| panic!("GET {path}: no API-Version header: {:?}", r.headers));
        assert!(
            api_version(v) >= (1, 45),
            "GET {path}: API-Version {v} < 1.45"
        );

        let r = d.http("HEAD", path);
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty(), "HEAD {path} has a body: {:?}", r.text());
        let v = r
            .header("API-Version")
            .unwrap_or_else(|| panic!("HEAD {path}: no API-Version header: {:?}", r.headers));
        assert!(api_version(v) >= (1, 45), "HEAD {path}: API-Version {v}");
    }
}

#[test]
fn version_reports_api_range_and_platform() {
    let d = Daemon::start();
    let kernel = read_trim("/proc/sys/kernel/osrelease");
    for path in ["/version", "/v1.41/version", "/v1.47/version"] {
        let r = d.http("GET", path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        let v = r.json();
        let api = v["ApiVersion"].as_str().expect("ApiVersion string");
        assert!(
            api_version(api) >= (1, 45),
            "{path}: ApiVersion {api} < 1.45"
        );
        assert_eq!(v["MinAPIVersion"], "1.24", "{path}: {v}");
        assert_eq!(v["Os"], "linux", "{path}: {v}");
        assert_eq!(v["Arch"], "amd64", "{path}: {v}");
        assert_eq!(v["KernelVersion"], kernel.as_str(), "{path}: {v}");
        assert!(
            v["Version"].as_str().is_some_and(|s| !s.is_empty()),
            "{path}: Version missing: {v}"
        );
        let comps = v["Components"].as_array().cloned().unwrap_or_default();
        assert!(
            comps.iter().any(|c| c["Name"] == "Engine"),
            "{path}: no Engine component: {v}"
        );
    }
    let out = d
        .docker([
            "version",
            "--format",
            "{{.Server.Os}}/{{.Server.Arch}} {{.Server.MinAPIVersion}}",
        ])
        .ok();
    assert_eq!(out.trim(), "linux/amd64 1.24");
    let api = d
        .docker(["version", "--format", "{{.Server.APIVersion}}"])
        .ok();
    assert!(api_version(api.trim()) >= (1, 45), "docker version: {api}");
}

#[test]
fn info_reports_real_values_and_counts_images() {
    let d = Daemon::start();
    let info = d.info();
    let root = d.data_root.to_str().expect("utf-8 path");
    assert_eq!(info["DockerRootDir"], root, "DockerRootDir: {info}");
    assert_eq!(info["NCPU"].to_string(), nproc(), "NCPU == nproc: {info}");
    assert_eq!(
        info["MemTotal"].as_u64(),
        Some(meminfo_total_bytes()),
        "MemTotal"
    );
    assert_eq!(
        info["KernelVersion"],
        read_trim("/proc/sys/kernel/osrelease").as_str()
    );
    let cg = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    assert_eq!(info["CgroupVersion"], cg, "CgroupVersion");
    assert_eq!(
        info["Name"],
        read_trim("/proc/sys/kernel/hostname").as_str()
    );
    assert_eq!(info["OSType"], "linux");
    let arch = Cli::new("uname").arg("-m").ok();
    assert_eq!(info["Architecture"], arch.trim());
    for k in ["ID", "Driver"] {
        assert!(
            info[k].as_str().is_some_and(|s| !s.is_empty()),
            "/info {k} empty: {info}"
        );
    }
    assert_eq!(info["Images"], 0, "fresh data root has no image");

    // The same through the CLI.
    let out = d
        .docker([
            "info",
            "--format",
            "{{.DockerRootDir}} {{.NCPU}} {{.Images}}",
        ])
        .ok();
    assert_eq!(out.trim(), format!("{root} {} 0", nproc()));

    // The counter follows loads and deletes.
    let f = fixtures();
    d.load(&f.busybox);
    assert_eq!(d.image_count(), 1, "after loading busybox");
    d.load(&f.layered);
    assert_eq!(d.image_count(), 2, "after loading layered");
    assert_eq!(
        d.docker(["info", "--format", "{{.Images}}"]).ok().trim(),
        "2"
    );
    d.docker(["rmi", "berth-test/layered"]).ok();
    assert_eq!(d.image_count(), 1, "after rmi of layered");
}

#[test]
fn unknown_endpoints_answer_404_with_json_message() {
    let d = Daemon::start();
    for (method, path) in [
        ("GET", "/no/such/endpoint"),
        ("GET", "/v1.45/no/such/endpoint"),
        ("POST", "/v1.41/nothing/here"),
        ("DELETE", "/v1.47/definitely-not-an-endpoint"),
        ("GET", "/v1.44/images/busybox/not-a-subresource"),
    ] {
        let r = d.http(method, path);
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        let ct = r.header("content-type").unwrap_or_default();
        assert!(
            ct.contains("application/json"),
            "{method} {path}: Content-Type {ct:?}"
        );
        let v = r.json();
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path}: body {v} has no message"
        );
    }
    // and the daemon is still fine
    assert_eq!(d.http("GET", "/_ping").status, 200);
}

#[test]
fn versioned_and_unversioned_paths() {
    let d = Daemon::start();
    for base in ["/version", "/info", "/images/json", "/system/df"] {
        let mut bodies = Vec::new();
        for prefix in ["", "/v1.41", "/v1.45", "/v1.47"] {
            let path = format!("{prefix}{base}");
            let r = d.http("GET", &path);
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            bodies.push(r.json());
        }
        if base == "/images/json" {
            for b in &bodies {
                assert_eq!(b, &json!([]), "{base}: fresh daemon has no image");
            }
        }
    }
    // /system/df carries its sections
    let df = d.http("GET", "/system/df").json();
    for k in ["LayersSize", "Images", "Containers", "Volumes"] {
        assert!(df.get(k).is_some(), "/system/df lacks {k}: {df}");
    }
}

#[test]
fn system_df_lists_loaded_images() {
    let d = Daemon::start();
    d.load(&fixtures().busybox);
    let id = d.fmt("busybox", "{{.Id}}");
    let df = d.http("GET", "/system/df").json();
    let imgs = df["Images"].as_array().cloned().unwrap_or_default();
    assert_eq!(imgs.len(), 1, "/system/df Images: {df}");
    assert_eq!(imgs[0]["Id"], id.as_str(), "{df}");
    assert!(
        df["LayersSize"].as_i64().unwrap_or(0) > 0,
        "LayersSize: {df}"
    );
    let types = berth_it::sorted_lines(&d.docker(["system", "df", "--format", "{{.Type}}"]).ok());
    assert_eq!(
        types,
        ["Build Cache", "Containers", "Images", "Local Volumes"]
    );
}

#[test]
fn help_documents_every_flag() {
    let out = Cli::new(berthd_bin()).arg("--help").ok();
    for flag in [
        "--data-root",
        "--exec-root",
        "--host",
        "-H",
        "--pidfile",
        "--config-file",
        "--log-level",
        "--cgroup-parent",
    ] {
        assert!(
            out.contains(flag),
            "berthd --help does not mention {flag}:\n{out}"
        );
    }
}

/// With no flag at all the daemon uses /var/lib/berth, /run/berth,
/// unix:///run/berth.sock and /etc/berth/daemon.json. It runs in a private
/// mount namespace with tmpfs over /var/lib and /run and an overlay over /etc
/// (upper dir in the test's temp dir), so the host is untouched; the test
/// reaches the daemon's files through /proc/<pid>/root.
#[test]
fn defaults_apply_without_flags() {
    let mut d = Daemon::new();
    let bin = berthd_bin();
    let ovl = d.root().join("etc-overlay");
    let script = concat!(
        "set -e; mount --make-rprivate /; ",
        "mount -t tmpfs berth-it /var/lib; mount -t tmpfs berth-it /run; ",
        "mkdir -p \"$1/upper\" \"$1/work\"; ",
        "mount -t overlay berth-it -o \"lowerdir=/etc,upperdir=$1/upper,workdir=$1/work\" /etc; ",
        "mkdir -p /etc/berth; ",
        "printf '{\"registry-mirrors\": [\"https://defaults.berth.invalid\"]}' > /etc/berth/daemon.json; ",
        "exec \"$0\""
    );
    let mut cmd = d.logged("unshare");
    cmd.args([
        "--net",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
    ])
    .arg(&bin)
    .arg(&ovl);
    d.adopt(cmd);
    // Until the script has mounted its tmpfs and exec'd berthd, the namespace still
    // shows the host's /run, where another daemon may listen: wait for the exec.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let bin = bin.canonicalize().unwrap_or(bin);
    while std::fs::read_link(format!("/proc/{}/exe", d.pid()))
        .ok()
        .as_deref()
        != Some(bin.as_path())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "berthd was not exec'd in the namespace"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let ns_root = format!("/proc/{}/root", d.pid());
    d.socket = format!("{ns_root}/run/berth.sock").into();
    d.wait_ready();
    let info = d.info();
    assert_eq!(info["DockerRootDir"], "/var/lib/berth", "{info}");
    assert!(
        Path::new(&format!("{ns_root}/var/lib/berth")).is_dir(),
        "default data root created"
    );
    assert!(
        Path::new(&format!("{ns_root}/run/berth")).is_dir(),
        "default exec root created"
    );
    let mirrors = info["RegistryConfig"]["Mirrors"].to_string();
    assert!(
        mirrors.contains("defaults.berth.invalid"),
        "default config file /etc/berth/daemon.json read: Mirrors {mirrors}"
    );
    let meta = std::fs::symlink_metadata(&d.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
}

#[test]
fn flags_place_every_location() {
    let mut d = Daemon::new();
    let root = d.root().to_path_buf();
    d.data_root = root.join("custom-data/nested");
    d.exec_root = root.join("custom-exec/nested");
    d.socket = root.join("custom-api.sock");
    d.pidfile = root.join("custom.pid");
    let args = vec![
        "--data-root".into(),
        d.data_root.clone().into_os_string(),
        "--exec-root".into(),
        d.exec_root.clone().into_os_string(),
        "--host".into(),
        d.host().into(),
        "--pidfile".into(),
        d.pidfile.clone().into_os_string(),
        "--config-file".into(),
        d.config_file.clone().into_os_string(),
        "--log-level".into(),
        "warn".into(),
        "--cgroup-parent".into(),
        format!("berth-it-{:x}", berth_it::random_u64() & 0xffff_ffff).into(),
    ];
    d.spawn_with(args);

    let pid = std::fs::read_to_string(&d.pidfile)
        .unwrap_or_else(|e| panic!("pidfile {}: {e}", d.pidfile.display()));
    assert_eq!(
        pid.trim(),
        d.pid().to_string(),
        "pidfile holds the daemon's pid"
    );
    let meta = std::fs::symlink_metadata(&d.socket).expect("socket exists");
    assert!(
        meta.file_type().is_socket(),
        "{} is a socket",
        d.socket.display()
    );
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o660,
        "socket mode must be 0660"
    );
    assert!(d.data_root.is_dir(), "data root created");
    assert!(d.exec_root.is_dir(), "exec root created");
    let info = d.info();
    assert_eq!(info["DockerRootDir"], d.data_root.to_str().unwrap());
    d.load(&fixtures().busybox);
    assert!(
        !berth_it::fsutil::walk(&d.data_root).is_empty(),
        "the image store lives under --data-root"
    );
    assert!(
        !root.join("data").exists(),
        "nothing is written to the kit's default data root"
    );
}

#[test]
fn default_socket_mode_is_0660() {
    let d = Daemon::start();
    let meta = std::fs::symlink_metadata(&d.socket).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
}

#[test]
fn config_file_sets_data_root_and_hosts() {
    let mut d = Daemon::new();
    let root = d.root().to_path_buf();
    let data = root.join("data-from-config");
    d.socket = root.join("from-config.sock");
    d.data_root = data.clone();
    let cfg = json!({
        "data-root": data,
        "hosts": [d.host()],
        "log-level": "debug",
    });
    std::fs::write(&d.config_file, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let args = vec![
        "--exec-root".into(),
        d.exec_root.clone().into_os_string(),
        "--pidfile".into(),
        d.pidfile.clone().into_os_string(),
        "--config-file".into(),
        d.config_file.clone().into_os_string(),
    ];
    d.spawn_with(args);
    let info = d.info();
    assert_eq!(info["DockerRootDir"], data.to_str().unwrap(), "{info}");
    d.load(&fixtures().busybox);
    assert!(
        !berth_it::fsutil::walk(&data).is_empty(),
        "images are stored under the config file's data-root"
    );
    assert_eq!(d.image_count(), 1);
}

#[test]
fn config_file_registry_and_live_restore_settings_show_in_info() {
    let mut d = Daemon::new();
    let cfg = json!({
        "registry-mirrors": ["https://mirror.berth.invalid"],
        "insecure-registries": ["10.99.0.0/16", "registry.berth.invalid:5000"],
        "live-restore": true,
    });
    std::fs::write(&d.config_file, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    d.spawn();
    let info = d.info();
    assert_eq!(info["LiveRestoreEnabled"], true, "{info}");
    let rc = &info["RegistryConfig"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        strings(&rc["Mirrors"])
            .iter()
            .any(|m| m.starts_with("https://mirror.berth.invalid")),
        "Mirrors: {rc}"
    );
    let cidrs = strings(&rc["InsecureRegistryCIDRs"]);
    assert!(cidrs.contains(&"10.99.0.0/16".to_string()), "{rc}");
    assert!(cidrs.contains(&"127.0.0.0/8".to_string()), "{rc}");
    assert_eq!(
        rc["IndexConfigs"]["registry.berth.invalid:5000"]["Secure"], false,
        "{rc}"
    );
}

#[test]
fn two_daemons_side_by_side() {
    let a = Daemon::start();
    let b = Daemon::start();
    let f = fixtures();
    a.load(&f.busybox);
    b.load(&f.layered);
    let (ia, ib) = (a.info(), b.info());
    assert_eq!(ia["DockerRootDir"], a.data_root.to_str().unwrap());
    assert_eq!(ib["DockerRootDir"], b.data_root.to_str().unwrap());
    assert_ne!(ia["ID"], ib["ID"], "each data root has its own engine ID");
    let list = |d: &Daemon| {
        berth_it::sorted_lines(
            &d.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"])
                .ok(),
        )
    };
    assert_eq!(list(&a), ["busybox:latest"]);
    assert_eq!(list(&b), ["berth-test/layered:latest"]);
}

#[test]
fn second_daemon_on_the_same_data_root_refuses() {
    let a = Daemon::start();
    a.load(&fixtures().busybox);
    let other = a.root().join("second");
    std::fs::create_dir_all(&other).unwrap();
    let sock2 = other.join("second.sock");
    let log2 = other.join("second.log");
    let logf = std::fs::File::create(&log2).unwrap();
    let mut child = std::process::Command::new(berthd_bin())
        .arg("--data-root")
        .arg(&a.data_root)
        .arg("--exec-root")
        .arg(other.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", sock2.display()))
        .arg("--pidfile")
        .arg(other.join("second.pid"))
        .arg("--config-file")
        .arg(&a.config_file)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .expect("spawn second berthd");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "a second berthd on the same data root kept running\n--- its log\n{}",
                log_tail(&log2, 30)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let msg = std::fs::read_to_string(&log2).unwrap_or_default();
    assert!(
        matches!(status.code(), Some(c) if c != 0),
        "second daemon must exit non-zero, got {status}\n{msg}"
    );
    let lower = msg.to_ascii_lowercase();
    assert!(
        msg.contains(a.data_root.to_str().unwrap())
            || ["already", "in use", "lock"]
                .iter()
                .any(|w| lower.contains(w)),
        "second daemon must say the data root is in use, said:\n{msg}"
    );
    assert!(!sock2.exists(), "refusing daemon left its socket behind");
    // The first daemon is untouched.
    assert!(a.socket.exists(), "first daemon's socket still there");
    assert_eq!(a.http("GET", "/_ping").status, 200);
    assert_eq!(a.image_count(), 1);
    a.load(&fixtures().layered);
    assert_eq!(a.image_count(), 2);
}

#[test]
fn sigterm_exits_cleanly_and_state_survives_restarts() {
    let mut d = Daemon::start();
    d.load(&fixtures().busybox);
    let id = d.fmt("busybox", "{{.Id}}");
    let st = d.sigterm(Duration::from_secs(20));
    assert_eq!(
        st.code(),
        Some(0),
        "exit status after SIGTERM: {st}\n{}",
        d.log()
    );
    assert!(!d.socket.exists(), "socket removed on clean shutdown");

    d.spawn();
    assert_eq!(
        d.fmt("busybox", "{{.Id}}"),
        id,
        "image survives a clean restart"
    );
    assert_eq!(d.image_count(), 1);

    // kill -9 leaves a stale socket and pidfile: the next start copes.
    d.kill9();
    d.spawn();
    assert_eq!(d.fmt("busybox", "{{.Id}}"), id, "image survives kill -9");
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap().trim(),
        d.pid().to_string(),
        "pidfile rewritten with the new pid"
    );
}
