//! A private `berthd` per test.

use crate::archive::read_docker_archive;
use crate::cli::{log_tail, Cli};
use crate::http::{self, HttpResponse, HttpStream};
use crate::paths::{berth_bin, berthd_bin, docker_bin};
use serde_json::Value;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to answer `/_ping` after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Read timeout of raw HTTP requests.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A private daemon: its own temporary directory with data root, exec root,
/// socket, pidfile, config file (`{}` unless a test writes another), log and
/// docker CLI config. Killed (SIGKILL) and removed on drop.
pub struct Daemon {
    /// Root of everything this daemon and its test own (removed on drop).
    pub dir: tempfile::TempDir,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub config_file: PathBuf,
    /// berthd's stdout and stderr (appended over restarts).
    pub log_path: PathBuf,
    /// Private `DOCKER_CONFIG` of the docker CLI.
    pub docker_config: PathBuf,
    /// Scratch directory for the test's own files.
    pub work: PathBuf,
    /// Extra flags appended to the standard ones by [`Daemon::spawn`].
    pub extra_args: Vec<OsString>,
    /// The daemon's own network namespace (bind-mounted here), so its bridges, firewall
    /// table and container networks never meet another test's or the host's.
    pub netns: PathBuf,
    child: Option<Child>,
}

impl Default for Daemon {
    fn default() -> Self {
        Self::new()
    }
}

impl Daemon {
    /// Prepare the directory; the daemon is not started.
    pub fn new() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .expect("create temp dir");
        let root = dir.path().to_path_buf();
        let d = Daemon {
            data_root: root.join("data"),
            exec_root: root.join("exec"),
            socket: root.join("berth.sock"),
            pidfile: root.join("berthd.pid"),
            config_file: root.join("daemon.json"),
            log_path: root.join("berthd.log"),
            docker_config: root.join("docker-config"),
            work: root.join("work"),
            extra_args: Vec::new(),
            // Outside the daemon's directory: tests assert nothing stays mounted there.
            netns: std::env::temp_dir().join(format!(
                "berth-it-netns-{}",
                root.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )),
            child: None,
            dir,
        };
        std::fs::write(&d.netns, b"").expect("create the netns file");
        let made = Command::new("unshare")
            .arg(format!("--net={}", d.netns.display()))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .expect("run unshare");
        assert!(made.success(), "unshare --net failed: {made}");
        std::fs::write(&d.config_file, "{}\n").expect("write daemon.json");
        std::fs::create_dir_all(&d.docker_config).expect("create docker config dir");
        std::fs::create_dir_all(&d.work).expect("create work dir");
        d
    }

    /// A started daemon with the standard flags.
    pub fn start() -> Daemon {
        let mut d = Daemon::new();
        d.spawn();
        d
    }

    /// The temporary root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The standard flags: every location inside the temporary directory.
    pub fn standard_args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![
            "--data-root".into(),
            self.data_root.clone().into(),
            "--exec-root".into(),
            self.exec_root.clone().into(),
            "-H".into(),
            self.host().into(),
            "--pidfile".into(),
            self.pidfile.clone().into(),
            "--config-file".into(),
            self.config_file.clone().into(),
            "--log-level".into(),
            "debug".into(),
        ];
        v.extend(self.extra_args.iter().cloned());
        v
    }

    /// `berthd` (in the daemon's network namespace) with stdout/stderr appended to the
    /// log and no arguments.
    pub fn berthd(&self) -> Command {
        let mut c = self.logged("nsenter");
        c.arg(format!("--net={}", self.netns.display()))
            .arg(berthd_bin());
        c
    }

    /// A program run in the daemon's network namespace, which plays the host's part for
    /// networking tests (its bridges, published ports, the containers' gateway).
    pub fn on_host<I, S>(&self, program: &str, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Cli::new("nsenter")
            .arg(format!("--net={}", self.netns.display()))
            .arg(program)
            .args(args)
    }

    /// Any program with stdout/stderr appended to the daemon log.
    pub fn logged(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open daemon log");
        let mut c = Command::new(program);
        c.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        c
    }

    /// Spawn `cmd` as this daemon's process without waiting for it (the test
    /// then sets `socket` if needed and calls [`Daemon::wait_ready`]).
    pub fn adopt(&mut self, mut cmd: Command) {
        assert!(self.child.is_none(), "daemon already running");
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    }

    /// Start with the standard flags and wait until `/_ping` answers.
    pub fn spawn(&mut self) {
        let args = self.standard_args();
        self.spawn_with(args);
    }

    /// Start with exactly `args` and wait until `/_ping` answers on `self.socket`.
    pub fn spawn_with(&mut self, args: Vec<OsString>) {
        assert!(self.child.is_none(), "daemon already running");
        let child = self
            .berthd()
            .args(&args)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn berthd: {e}"));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Wait until the daemon answers `GET /_ping` with 200; panic (with the log)
    /// if it exits or does not answer within [`START_TIMEOUT`].
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    panic!(
                        "berthd exited during startup ({st})\n--- log\n{}",
                        log_tail(&self.log_path, 60)
                    );
                }
            }
            if self.socket.exists() {
                if let Ok(r) = http::request(
                    &self.socket,
                    "GET",
                    "/_ping",
                    &[],
                    None,
                    Duration::from_secs(5),
                ) {
                    if r.status == 200 {
                        return;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "berthd did not answer /_ping on {} within {:?}\n--- log\n{}",
                    self.socket.display(),
                    START_TIMEOUT,
                    log_tail(&self.log_path, 60)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pid of the running daemon.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon not running").id()
    }

    /// SIGKILL the daemon and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send SIGTERM and wait up to `timeout` for the exit status.
    pub fn sigterm(&mut self, timeout: Duration) -> ExitStatus {
        let mut c = self.child.take().expect("daemon not running");
        let pid = rustix::process::Pid::from_raw(c.id() as i32).expect("pid > 0");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill -TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = c.try_wait().expect("wait berthd") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "berthd did not exit within {timeout:?} of SIGTERM\n--- log\n{}",
                    log_tail(&self.log_path, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of the daemon's log.
    pub fn log(&self) -> String {
        log_tail(&self.log_path, 60)
    }

    /// The docker CLI pointed at this daemon, with a private config.
    pub fn docker<I, S>(&self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Cli::new(docker_bin())
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_CLI_HINTS", "false")
            .env("LC_ALL", "C")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_BUILDKIT")
            .current_dir(&self.work)
            .log(&self.log_path)
            .args(args)
    }

    /// The berth CLI pointed at this daemon (through `DOCKER_HOST`, as docker's,
    /// and `BERTH_HOST`).
    pub fn berth<I, S>(&self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Cli::new(berth_bin())
            .env("DOCKER_HOST", self.host())
            .env("BERTH_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("LC_ALL", "C")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .current_dir(&self.work)
            .log(&self.log_path)
            .args(args)
    }

    /// A raw HTTP request on the socket; panics on I/O errors and timeouts.
    pub fn http(&self, method: &str, path: &str) -> HttpResponse {
        self.http_body(method, path, None)
    }

    /// A raw HTTP request with a body.
    pub fn http_body(&self, method: &str, path: &str, body: Option<&[u8]>) -> HttpResponse {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/x-tar")]
        } else {
            &[]
        };
        http::request(&self.socket, method, path, headers, body, HTTP_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: {e} (no complete answer within {HTTP_TIMEOUT:?})\n--- log\n{}",
                self.log()
            )
        })
    }

    /// A streaming request (for `/events`).
    pub fn http_stream(&self, method: &str, path: &str, timeout: Duration) -> HttpStream {
        http::stream(&self.socket, method, path, timeout)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n--- log\n{}", self.log()))
    }

    /// `GET /info` as JSON (asserting 200).
    pub fn info(&self) -> Value {
        let r = self.http("GET", "/info");
        assert_eq!(r.status, 200, "GET /info: {}", r.text());
        r.json()
    }

    /// `.Images` of `/info`.
    pub fn image_count(&self) -> u64 {
        let info = self.info();
        info["Images"]
            .as_u64()
            .unwrap_or_else(|| panic!("/info has no numeric Images: {info}"))
    }

    /// `docker load -i <path>`; returns stdout.
    /// A daemon with the `busybox` fixture loaded, what most container tests start from.
    pub fn with_busybox() -> Daemon {
        let d = Daemon::start();
        d.load(&crate::fixtures().busybox);
        d
    }

    /// `docker inspect --format FMT NAME`, trimmed; fails the test if inspect fails.
    pub fn inspect_fmt(&self, name: &str, fmt: &str) -> String {
        self.docker(["inspect", "--format", fmt, name])
            .ok()
            .trim()
            .to_string()
    }

    /// The container's `State.Pid`.
    pub fn pid_of(&self, name: &str) -> i32 {
        let s = self.inspect_fmt(name, "{{.State.Pid}}");
        s.parse()
            .unwrap_or_else(|_| panic!("State.Pid of {name}: {s:?}"))
    }

    pub fn load(&self, path: &Path) -> String {
        self.docker(["load", "-i"]).arg(path).ok()
    }

    /// `docker image inspect` of one image, as JSON.
    pub fn inspect(&self, image: &str) -> Value {
        let out = self.docker(["image", "inspect", image]).ok();
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("docker image inspect {image}: not JSON ({e}): {out}"));
        v[0].clone()
    }

    /// `docker image inspect --format <fmt> <image>`, trimmed.
    pub fn fmt(&self, image: &str, fmt: &str) -> String {
        self.docker(["image", "inspect", "--format", fmt, image])
            .ok()
            .trim()
            .to_string()
    }

    /// Sorted `sha256:` ids of `docker images -a --no-trunc -q`.
    pub fn image_ids(&self) -> Vec<String> {
        let mut v = crate::sorted_lines(&self.docker(["images", "-a", "--no-trunc", "-q"]).ok());
        v.dedup();
        v
    }

    /// The store is consistent: every listed image (and tag) inspects, `docker save`s,
    /// and the saved archive re-hashes to its id (config) and diff ids (layers).
    /// Returns the image ids.
    pub fn assert_store_consistent(&self, what: &str) -> Vec<String> {
        let ids = self.image_ids();
        for id in &ids {
            assert!(
                crate::is_digest(id),
                "{what}: `docker images -q --no-trunc` printed {id:?}"
            );
            let inspect = self.inspect(id);
            assert_eq!(
                inspect["Id"].as_str(),
                Some(id.as_str()),
                "{what}: inspect {id}"
            );
            let out = self.work.join("consistency.tar");
            let _ = std::fs::remove_file(&out);
            self.docker(["save", "-o"]).arg(&out).arg(id).ok();
            let imgs = read_docker_archive(&out);
            assert_eq!(imgs.len(), 1, "{what}: docker save {id} holds one image");
            assert_eq!(
                &imgs[0].id, id,
                "{what}: saved config of {id} re-hashes to another id"
            );
            imgs[0].assert_layers_match_diff_ids(&format!("{what}: docker save {id}"));
            let layers: Vec<String> = inspect["RootFS"]["Layers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(layers, imgs[0].diff_ids(), "{what}: RootFS.Layers of {id}");
        }
        let tags = self
            .docker(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok();
        for t in crate::lines(&tags) {
            if t.contains("<none>") {
                continue;
            }
            let id = self.fmt(&t, "{{.Id}}");
            assert!(
                ids.contains(&id),
                "{what}: tag {t} -> {id}, not among {ids:?}"
            );
        }
        ids
    }
}

/// Kills every process whose command line mentions `dir` (the shims of this daemon's
/// containers, which outlive it by design) and detaches every mount under `dir`.
pub fn reap_leftovers(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if pid != std::process::id() as i32
                && String::from_utf8_lossy(&cmdline).contains(&needle)
            {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|t| t.starts_with(&needle))
        .collect();
    targets.reverse();
    for t in targets {
        let _ = Command::new("umount").arg("-l").arg(t).output();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers first, through the daemon, while it still runs.
        if self.child.is_some() {
            let ids = self
                .docker(["ps", "-aq"])
                .timeout(Duration::from_secs(10))
                .run();
            let ids: Vec<String> = ids.stdout.split_whitespace().map(str::to_string).collect();
            if !ids.is_empty() {
                let _ = self
                    .docker(["rm", "-f"])
                    .args(ids)
                    .timeout(Duration::from_secs(20))
                    .run();
            }
        }
        self.kill9();
        reap_leftovers(self.dir.path());
        let _ = Command::new("umount").arg("-l").arg(&self.netns).output();
        let _ = std::fs::remove_file(&self.netns);
        if std::thread::panicking() {
            eprintln!(
                "--- berthd log of {} (tail)\n{}",
                self.dir.path().display(),
                log_tail(&self.log_path, 80)
            );
        }
    }
}
