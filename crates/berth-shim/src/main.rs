//! berth-shim: one small process per container.
//!
//! A short-lived child of it creates the container through `berth-runtime` (so the
//! memory that takes is gone once the container runs); the shim is the container's
//! subreaper and so becomes its parent. It owns the container's stdio, writes its
//! `json-file` log, serves attach clients on a unix socket, and records the exit status
//! in `exit.json`. It is single-threaded (one poll
//! loop, no runtime) to stay small: hundreds run at once.
//!
//! Protocol with berthd, all lines of text:
//! - shim stdout: `created <pid>` once the container waits to exec, then `started` or
//!   `error <message>`; closed after that (written by the creating child).
//! - shim stdin: berthd writes `start` once the clients that must see the first byte of
//!   output are attached. End of file afterwards means nothing: the daemon may restart.
//! - `<bundle>/attach.sock`: a client sends `stdin=0|1 stdout=0|1 stderr=0|1\n` and then
//!   receives Docker's multiplexed stream (8-byte header per frame); with `stdin=1` its
//!   bytes go to the container's stdin.

mod log;

use std::io::{BufRead, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use clap::Parser;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "berth-shim", version, about = "berth per-container monitor")]
struct Args {
    #[arg(long)]
    id: String,
    /// OCI bundle directory (config.json); also where attach.sock and exit.json live
    #[arg(long)]
    bundle: PathBuf,
    /// json-file log path
    #[arg(long)]
    log: PathBuf,
    /// Keep the container's stdin open for attach clients
    #[arg(long)]
    stdin: bool,
    /// Docker's StdinOnce: the end of an attached client's input closes the container's
    /// stdin (else that client's session ends and stdin stays open for the next one)
    #[arg(long)]
    stdin_once: bool,
    /// Rotate the log at this many bytes (0: never)
    #[arg(long, default_value_t = 0)]
    log_max_size: u64,
    /// An external OCI runtime (runc, crun) to create the container with, through its
    /// command line, instead of the built-in one
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// The external runtime's state directory (`--root`)
    #[arg(long)]
    runtime_root: Option<PathBuf>,
    /// Where compiled seccomp filters are kept between containers
    #[arg(long)]
    seccomp_cache: Option<PathBuf>,
    /// The container has a terminal (the spec's `process.terminal`)
    #[arg(long)]
    tty: bool,
    /// Log driver `none`: output goes to attached clients only
    #[arg(long)]
    no_log: bool,
    /// Log files kept when rotating
    #[arg(long, default_value_t = 1)]
    log_max_file: u32,
}

#[derive(Serialize)]
struct ExitRecord {
    exit_code: i32,
    signal: Option<i32>,
    finished_at: String,
    error: String,
}

struct Client {
    stream: UnixStream,
    stdout: bool,
    stderr: bool,
    stdin: bool,
    /// False once the client half-closed its side: it may still want output.
    reading: bool,
}

fn main() {
    let args = Args::parse();
    let mut status = std::io::stdout();
    match run(&args) {
        Ok(()) => {}
        Err(e) => {
            let _ = writeln!(status, "error {}", e.replace('\n', " "));
            let _ = write_exit(&args.bundle, 127, None, &e);
            std::process::exit(1);
        }
    }
}

fn write_exit(
    bundle: &Path,
    exit_code: i32,
    signal: Option<i32>,
    error: &str,
) -> Result<(), String> {
    let rec = ExitRecord {
        exit_code,
        signal,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        error: error.to_string(),
    };
    berth_store::write_json_volatile(&bundle.join("exit.json"), &rec).map_err(|e| e.to_string())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

fn run(args: &Args) -> Result<(), String> {
    if let Some(dir) = &args.seccomp_cache {
        berth_runtime::set_seccomp_cache_dir(dir.clone());
    }
    // Our own session: signals aimed at the daemon's process group never reach us.
    let _ = nix::unistd::setsid();
    // Orphans of the container (with a shared PID namespace) are reaped here, not by init.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
    // SIGCHLD arrives through a descriptor the poll loop watches.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| format!("blocking SIGCHLD: {e}"))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| format!("signalfd: {e}"))?;

    // Bound by a relative name from inside the bundle: a socket path longer than 107
    // bytes (deep exec roots, 64-hex ids) cannot be bound by its full name.
    std::env::set_current_dir(&args.bundle)
        .map_err(|e| format!("entering {}: {e}", args.bundle.display()))?;
    let sock_path = PathBuf::from("attach.sock");
    let _ = std::fs::remove_file(&sock_path);
    let listener = UnixListener::bind(&sock_path)
        .map_err(|e| format!("listening on {}: {e}", sock_path.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;

    let tty = args.tty;
    // With a terminal the container's three streams are its slave side; the master is
    // both the output we read and where attached stdin goes. Without, three pipes.
    // The terminal is opened by init inside the container and its master sent back.
    let (out_r, err_r, in_w, stdio, console) = if tty {
        let (mine, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let stdio = berth_runtime::Stdio {
            console: Some(OwnedFd::from(theirs)),
            ..Default::default()
        };
        (None, None, None, stdio, Some(mine))
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_r, in_w) = if args.stdin {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let stdio = berth_runtime::Stdio {
            stdin: in_r,
            stdout: Some(out_w),
            stderr: Some(err_w),
            console: None,
        };
        (Some(out_r), Some(err_r), in_w, stdio, None)
    };
    // The heavy work (reading the spec, building the container) happens in a child
    // that exits once the container runs: its memory goes with it, while this process
    // stays for the container's whole life, hundreds of times over.
    let (report_r, report_w) = pipe()?;
    match berth_sys::fork_single_threaded().map_err(|e| format!("fork: {e}"))? {
        berth_sys::Forked::Child => {
            drop(report_r);
            drop(listener);
            creator(args, stdio, report_w)
        }
        berth_sys::Forked::Parent { .. } => {
            drop(report_w);
            // Our copies of the container's ends: end of file needs every writer gone.
            drop(stdio);
        }
    }
    let mut report = Some(std::io::BufReader::new(std::fs::File::from(report_r)));
    let mut pid: Option<nix::unistd::Pid> = None;
    let mut console = console;
    let mut master: Option<OwnedFd> = None;

    let mut logger = if args.no_log {
        None
    } else {
        Some(
            log::JsonFileLog::open(&args.log, args.log_max_size, args.log_max_file)
                .map_err(|e| format!("log: {e}"))?,
        )
    };
    let mut out = out_r.map(std::fs::File::from);
    let mut err = err_r.map(std::fs::File::from);
    let mut stdin_w = in_w.map(std::fs::File::from);
    let mut clients: Vec<Client> = Vec::new();
    let mut exit: Option<(i32, Option<i32>)> = None;
    // Children reaped before the creator's `pid N` line was read: under load the
    // container can run and exit before this loop gets to that line.
    let mut reaped_early: Vec<(nix::unistd::Pid, (i32, Option<i32>))> = Vec::new();
    let mut exit_msg = String::new();
    let mut buf = vec![0u8; 16 * 1024];

    loop {
        if exit.is_some() && out.is_none() && err.is_none() && report.is_none() {
            break;
        }
        // poll set: 0 sigfd, 1 listener, then optional control/out/err, then clients
        let mut fds: Vec<PollFd> = vec![
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        let ctl_i = report.as_ref().map(|c| {
            fds.push(PollFd::new(c.get_ref().as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let out_i = out.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let err_i = err.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let first_client = fds.len();
        let mut polled: Vec<usize> = Vec::new();
        for (i, c) in clients.iter().enumerate().filter(|(_, c)| c.reading) {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
            polled.push(i);
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        let sig_ready = ready(0);
        let listen_ready = ready(1);
        let ctl_ready = ctl_i.is_some_and(ready);
        let out_ready = out_i.is_some_and(ready);
        let err_ready = err_i.is_some_and(ready);
        let client_ready: Vec<bool> = (first_client..fds.len()).map(ready).collect();
        drop(fds);

        if sig_ready {
            while sigfd.read_signal().ok().flatten().is_some() {}
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(p, code)) if Some(p) == pid => exit = Some((code, None)),
                    Ok(WaitStatus::Signaled(p, sig, _)) if Some(p) == pid => {
                        exit = Some((128 + sig as i32, Some(sig as i32)))
                    }
                    Ok(WaitStatus::Exited(p, code)) if pid.is_none() => {
                        reaped_early.push((p, (code, None)))
                    }
                    Ok(WaitStatus::Signaled(p, sig, _)) if pid.is_none() => {
                        reaped_early.push((p, (128 + sig as i32, Some(sig as i32))))
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue, // a reaped orphan
                }
            }
        }
        if listen_ready {
            while let Ok((stream, _)) = listener.accept() {
                match handshake(stream) {
                    Some(Request::Attach(c)) => clients.push(c),
                    Some(Request::Resize(rows, cols)) => {
                        if let Some(m) = &master {
                            let _ = berth_runtime::set_window_size(m, rows, cols);
                        }
                    }
                    None => {}
                }
            }
        }
        if ctl_ready {
            // The creator's report: `pid N` once the container waits to start, then
            // `started`, or `error MESSAGE` (also when it could not create it).
            let mut line = String::new();
            let n = report
                .as_mut()
                .map(|r| r.read_line(&mut line))
                .unwrap_or(Ok(0));
            let line = line.trim_end();
            match n {
                Ok(0) | Err(_) => {
                    report = None;
                    // The creator died without a word before creating the container.
                    if pid.is_none() && exit.is_none() {
                        exit = Some((127, None));
                        exit_msg = "the container was never created".into();
                    }
                }
                Ok(_) => {
                    if let Some(p) = line.strip_prefix("pid ") {
                        pid = p.parse().ok().map(nix::unistd::Pid::from_raw);
                        if let Some((_, status)) =
                            reaped_early.iter().find(|(r, _)| Some(*r) == pid)
                        {
                            exit = Some(*status);
                        }
                        // Init sent the terminal before it reported ready.
                        if let Some(sock) = console.take() {
                            let m = berth_runtime::console::receive(&sock)
                                .map_err(|e| e.to_string())?;
                            if args.stdin {
                                stdin_w = Some(std::fs::File::from(
                                    m.try_clone().map_err(|e| format!("dup: {e}"))?,
                                ));
                            }
                            out = Some(std::fs::File::from(
                                m.try_clone().map_err(|e| format!("dup: {e}"))?,
                            ));
                            master = Some(m);
                        }
                    } else if let Some(msg) = line.strip_prefix("error ") {
                        exit = Some((127, None));
                        exit_msg = msg.to_string();
                    }
                }
            }
        }
        for (ready, stream_no, file) in [(out_ready, 1u8, &mut out), (err_ready, 2u8, &mut err)] {
            if !ready {
                continue;
            }
            let Some(f) = file.as_mut() else { continue };
            match f.read(&mut buf) {
                Ok(0) | Err(_) => {
                    if let Some(l) = logger.as_mut() {
                        l.flush_partial(stream_no);
                    }
                    *file = None;
                }
                Ok(n) => {
                    let chunk = &buf[..n];
                    if let Some(l) = logger.as_mut() {
                        l.write(stream_no, chunk);
                    }
                    let mut header = [stream_no, 0, 0, 0, 0, 0, 0, 0];
                    header[4..]
                        .copy_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
                    // A terminal's output is one stream and goes out unframed, as Docker's.
                    let header: &[u8] = if tty { &[] } else { &header };
                    clients.retain_mut(|c| {
                        let wanted = if stream_no == 1 { c.stdout } else { c.stderr };
                        !wanted
                            || (c.stream.write_all(header).is_ok()
                                && c.stream.write_all(chunk).is_ok())
                    });
                }
            }
        }
        // Client input: stdin bytes, or end of file. A client that half-closes (the docker
        // CLI does when it sends no input) still receives output until it goes away.
        let mut gone = Vec::new();
        for (k, r) in client_ready.iter().enumerate() {
            if !r {
                continue;
            }
            let i = polled[k];
            let c = &mut clients[i];
            match c.stream.read(&mut buf) {
                // Docker's StdinOnce only closes the program's stdin; otherwise the
                // client's session ends here and stdin stays open for the next one.
                Ok(0) if c.stdin && (tty || !args.stdin_once) => gone.push(i),
                Ok(0) => {
                    if c.stdin {
                        stdin_w = None; // closing stdin tells the program input ended
                    }
                    c.reading = false;
                }
                Err(_) => gone.push(i),
                Ok(n) => {
                    if c.stdin {
                        if let Some(w) = stdin_w.as_mut() {
                            if w.write_all(&buf[..n]).is_err() {
                                stdin_w = None;
                            }
                        }
                    }
                }
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
    }
    drop(stdin_w);
    let (code, signal) = exit.expect("loop ends only after the exit");
    write_exit(&args.bundle, code, signal, &exit_msg)?;
    for c in &clients {
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
    }
    let _ = std::fs::remove_file(&sock_path);
    let _ = sigfd.as_fd().as_raw_fd();
    Ok(())
}

/// The short-lived child: creates the container (with the built-in runtime or an
/// external one), tells the shim (on `report`) and the daemon (on stdout) its pid, waits
/// for the daemon's `start` on stdin, starts it, reports, and exits. Init then belongs
/// to the shim, the subreaper.
fn creator(args: &Args, stdio: berth_runtime::Stdio, report: OwnedFd) -> ! {
    let mut to = Reports {
        shim: std::fs::File::from(report),
    };
    let result = match &args.runtime {
        Some(rt) => external(args, rt, stdio, &mut to),
        None => builtin(args, stdio, &mut to),
    };
    if let Err(e) = result {
        to.both(&format!("error {}", e.replace('\n', " ")));
    }
    std::process::exit(0)
}

/// The creator's two audiences: the shim (a pipe) and the daemon (stdout).
struct Reports {
    shim: std::fs::File,
}

impl Reports {
    fn daemon(&self, line: &str) {
        let mut status = std::io::stdout();
        let _ = writeln!(status, "{line}");
        let _ = status.flush();
    }

    fn both(&mut self, line: &str) {
        let _ = writeln!(self.shim, "{line}");
        self.daemon(line);
    }

    /// Reports the created container and waits for the daemon's `start`; `false` when
    /// the daemon gave up on it (stdin closed).
    fn created(&mut self, pid: i32) -> Result<bool, String> {
        writeln!(self.shim, "pid {pid}").map_err(|e| e.to_string())?;
        self.daemon(&format!("created {pid}"));
        let mut line = String::new();
        Ok(
            matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0 && line.trim() == "start"),
        )
    }
}

fn builtin(args: &Args, stdio: berth_runtime::Stdio, to: &mut Reports) -> Result<(), String> {
    let bundle = args.bundle.as_path();
    let spec = berth_runtime::load_spec(bundle).map_err(|e| e.to_string())?;
    let created = berth_runtime::create(&spec, bundle, stdio).map_err(|e| e.to_string())?;
    drop(spec);
    if !to.created(created.pid.as_raw())? {
        // Dropping `created` closes init's start pipe: init exits without running.
        return Err("the container was never started".into());
    }
    created.start().map_err(|e| e.to_string())?;
    to.both("started");
    Ok(())
}

/// An external runtime: `RUNTIME create` (the container's stdio are its stdio, which it
/// hands to the container), the pid from its pid file, then `RUNTIME start`.
fn external(
    args: &Args,
    rt: &Path,
    mut stdio: berth_runtime::Stdio,
    to: &mut Reports,
) -> Result<(), String> {
    let bundle = args.bundle.as_path();
    // With a terminal the runtime sends its master to a socket of ours (relative to the
    // bundle, our working directory, which keeps the path short); it goes on to the shim
    // the way the built-in runtime sends it.
    let to_shim = stdio.console.take();
    let console = match (args.tty, &to_shim) {
        (true, Some(_)) => {
            let path = Path::new("console.sock");
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(|e| format!("console socket: {e}"))?;
            Some((l, path))
        }
        _ => None,
    };
    let log = bundle.join("runtime.log");
    let run = |sub: &[&str], stdio: berth_runtime::Stdio| -> Result<(), String> {
        let mut cmd = std::process::Command::new(rt);
        if let Some(root) = &args.runtime_root {
            cmd.arg("--root").arg(root);
        }
        let io = |f: Option<OwnedFd>| {
            f.map(std::process::Stdio::from)
                .unwrap_or(std::process::Stdio::null())
        };
        let st = cmd
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .args(sub)
            .stdin(io(stdio.stdin))
            .stdout(io(stdio.stdout))
            .stderr(io(stdio.stderr))
            .status()
            .map_err(|e| format!("running {}: {e}", rt.display()))?;
        if st.success() {
            return Ok(());
        }
        // runc and crun log JSON lines; the last message says why.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Err(text
            .lines()
            .rev()
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                v.get("msg")?.as_str().map(str::to_string)
            })
            .unwrap_or_else(|| format!("{} {} failed: {st}", rt.display(), sub[0])))
    };
    let pid_file = bundle.join("init.pid");
    let bundle_arg = bundle.to_string_lossy();
    let pid_file_arg = pid_file.to_string_lossy();
    let mut create = vec![
        "create",
        "--bundle",
        &bundle_arg,
        "--pid-file",
        &pid_file_arg,
    ];
    if console.is_some() {
        create.extend(["--console-socket", "console.sock"]);
    }
    create.push(&args.id);
    run(&create, stdio)?;
    if let (Some((listener, path)), Some(shim)) = (console, to_shim) {
        // The runtime connected and sent the master before its create returned.
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("console socket: {e}"))?;
        let (stream, _) = listener
            .accept()
            .map_err(|e| format!("the runtime sent no terminal: {e}"))?;
        stream
            .set_nonblocking(false)
            .map_err(|e| format!("console socket: {e}"))?;
        let master = berth_runtime::console::receive(&stream).map_err(|e| e.to_string())?;
        berth_runtime::console::send(&shim, &master).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(path);
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .map_err(|e| format!("reading the runtime's pid file: {e}"))?
        .trim()
        .parse()
        .map_err(|_| "the runtime's pid file holds no pid".to_string())?;
    if !to.created(pid)? {
        let _ = run(&["delete", "--force", &args.id], Default::default());
        return Err("the container was never started".into());
    }
    run(&["start", &args.id], Default::default())?;
    to.both("started");
    Ok(())
}

enum Request {
    Attach(Client),
    /// `resize ROWS COLS`: the terminal's new size; the connection ends there.
    Resize(u16, u16),
}

/// Reads the client's one-line request (blocking briefly: clients send it at once).
fn handshake(stream: UnixStream) -> Option<Request> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let mut s = &stream;
    while line.len() < 128 {
        match s.read(&mut b) {
            Ok(1) if b[0] == b'\n' => break,
            Ok(1) => line.push(b[0]),
            _ => return None,
        }
    }
    stream.set_read_timeout(None).ok()?;
    let line = String::from_utf8_lossy(&line);
    if let Some(size) = line.strip_prefix("resize ") {
        let mut it = size.split_whitespace().map(|n| n.parse::<u16>().ok());
        return match (it.next().flatten(), it.next().flatten()) {
            (Some(r), Some(c)) => Some(Request::Resize(r, c)),
            _ => None,
        };
    }
    let flag = |k: &str| line.split_whitespace().any(|w| w == format!("{k}=1"));
    Some(Request::Attach(Client {
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        stdin: flag("stdin"),
        reading: true,
        stream,
    }))
}
