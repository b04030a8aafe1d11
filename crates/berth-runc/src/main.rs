//! `berth-runc`: an OCI runtime command line over `berth-runtime`, for conformance runs and
//! for trying the runtime without the daemon.
//!
//!   berth-runc spec [--rootfs DIR]      print a default config.json (Docker's defaults)
//!   berth-runc run [--bundle DIR] ID    create, start and wait; exits with the container's status
//!   berth-runc exec --bundle DIR --pid PID --process FILE [--console-socket PATH]
//!                                       run FILE's process in the running container whose
//!                                       init is PID; exits with its status (126: not started)
//!   berth-runc reap --pid-file F -- CMD...
//!                                       run CMD (a runtime's detached exec), then wait for
//!                                       the process whose pid it wrote to F, which becomes
//!                                       ours as we are a subreaper; exit with its status
//!   berth-runc userns-hold              enter a new, still unmapped user namespace, print
//!                                       "ready", and exit at end of stdin (the daemon maps
//!                                       it and keeps a descriptor of it meanwhile)
//!   berth-runc archive <stat|get|put|export|copy-up> --root DIR [--mount SRC:DEST[:ro]]...
//!           [--path P] [--to DIR] [--uid-map C:H:N]... [--gid-map C:H:N]...
//!           [--no-overwrite-dir-non-dir] [--chown-user USER] [--readonly-root] [--require-mount]
//!                                       with DIR as its root (private mount namespace,
//!                                       pivot_root) and the mounts in place: print a path's
//!                                       stat (JSON line), write it as a tar after that line,
//!                                       extract stdin's tar into it, write the whole root as
//!                                       a tar, or copy a directory's contents into the host
//!                                       directory --to; exit 2 not found, 3 invalid, 4
//!                                       read-only, 5 root not mounted, 1 other (see archive.rs)

use std::path::PathBuf;
use std::process::exit;

mod archive;

use clap::{Parser, Subcommand};
use nix::sys::wait::{waitpid, WaitStatus};

#[derive(Parser)]
#[command(name = "berth-runc", version, about = "OCI runtime over berth-runtime")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a default runtime spec
    Spec {
        #[arg(long, default_value = "rootfs")]
        rootfs: String,
    },
    /// Create and start a container, wait for it, and exit with its status
    Run {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        id: String,
    },
    /// Run a process (an OCI `process` JSON) in a running container
    Exec {
        #[arg(short, long)]
        bundle: PathBuf,
        /// The container's init, as the host sees it
        #[arg(long)]
        pid: i32,
        #[arg(long)]
        process: PathBuf,
        /// Where compiled seccomp filters are kept between runs
        #[arg(long)]
        seccomp_cache: Option<PathBuf>,
        /// A unix socket to send the terminal's master to (with a terminal process,
        /// whose stdio is then the terminal), as runc's option
        #[arg(long)]
        console_socket: Option<PathBuf>,
    },
    /// Run a command that starts a process and detaches, and wait for that process
    #[command(hide = true)]
    Reap {
        #[arg(long)]
        pid_file: PathBuf,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Hold a new user namespace open until stdin closes
    #[command(hide = true)]
    UsernsHold,
    /// Move files in and out of a root file system, confined to it (docker cp, export,
    /// volume copy-up)
    #[command(hide = true)]
    Archive(archive::Args),
}

fn main() {
    match Cli::parse().cmd {
        Cmd::Spec { rootfs } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&default_spec(&rootfs)).expect("spec serialises")
            );
        }
        Cmd::Run { bundle, id } => exit(run(&bundle, &id)),
        Cmd::Reap { pid_file, cmd } => exit(reap(&pid_file, &cmd)),
        Cmd::Archive(args) => exit(archive::run(args)),
        Cmd::UsernsHold => {
            if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
                eprintln!("unshare user namespace: {e}");
                exit(1);
            }
            println!("ready");
            // End of file or an error: either way the daemon is done with us.
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        }
        Cmd::Exec {
            bundle,
            pid,
            process,
            console_socket,
            seccomp_cache,
        } => {
            if let Some(dir) = seccomp_cache {
                berth_runtime::set_seccomp_cache_dir(dir);
            }
            exit(exec(&bundle, pid, &process, console_socket.as_deref()))
        }
    }
}

fn exec(
    bundle: &std::path::Path,
    container_pid: i32,
    process: &std::path::Path,
    console_socket: Option<&std::path::Path>,
) -> i32 {
    let fail = |msg: String| {
        // docker exec prints this and reports 126, as with runc.
        eprintln!("OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown");
        126
    };
    let spec = match berth_runtime::load_spec(bundle) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let proc: berth_runtime::Process = match std::fs::read(process)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => return fail(format!("{}: {e}", process.display())),
    };
    let mut stdio = berth_runtime::Stdio::default();
    if let Some(path) = console_socket {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => stdio.console = Some(s.into()),
            Err(e) => return fail(format!("console socket {}: {e}", path.display())),
        }
    }
    let pid = match berth_runtime::exec(&spec, &proc, container_pid, stdio) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            return fail(
                msg.strip_prefix("container init failed: ")
                    .unwrap_or(&msg)
                    .to_string(),
            );
        }
    };
    wait_exit(pid, "exec")
}

/// runc and crun start an exec'd process with a terminal only when detached; its
/// parent then exits, and as a subreaper we inherit the process and its exit status.
fn reap(pid_file: &std::path::Path, cmd: &[String]) -> i32 {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("becoming a subreaper: {e}");
        return 126;
    }
    let status = match std::process::Command::new(&cmd[0]).args(&cmd[1..]).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("running {}: {e}", cmd[0]);
            return 126;
        }
    };
    if !status.success() {
        return status.code().unwrap_or(126);
    }
    let pid = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    let _ = std::fs::remove_file(pid_file);
    match pid {
        Some(pid) => wait_exit(nix::unistd::Pid::from_raw(pid), "exec"),
        None => {
            eprintln!("{} wrote no pid to {}", cmd[0], pid_file.display());
            126
        }
    }
}

fn wait_exit(pid: nix::unistd::Pid, what: &str) -> i32 {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(e) => {
                eprintln!("berth-runc: waiting for {what}: {e}");
                return 1;
            }
        }
    }
}

fn run(bundle: &std::path::Path, id: &str) -> i32 {
    let spec = match berth_runtime::load_spec(bundle) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth-runc: {e}");
            return 1;
        }
    };
    let created = match berth_runtime::create(&spec, bundle, berth_runtime::Stdio::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-runc: {id}: {e}");
            return 1;
        }
    };
    let pid = match created.start() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berth-runc: {id}: {e}");
            return 127;
        }
    };
    wait_exit(pid, id)
}

/// Docker's default capabilities, mounts and masked paths.
fn default_spec(rootfs: &str) -> serde_json::Value {
    use berth_runtime::defaults::{DEFAULT_CAPS as caps, MASKED_PATHS, READONLY_PATHS};
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576u64, "soft": 1048576u64}],
            "noNewPrivileges": false
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS
        }
    })
}
