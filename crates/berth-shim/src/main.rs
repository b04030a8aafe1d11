//! berth-shim: one small process per container.
//!
//! It creates the container through `berth-runtime`, is its parent (and a child
//! subreaper), owns its stdio, writes its `json-file` log, serves attach clients on a unix
//! socket, and records the exit status in `exit.json`. It is single-threaded (one poll
//! loop, no runtime) to stay small: hundreds run at once.
//!
//! Protocol with berthd, all lines of text:
//! - shim stdout: `created <pid>` once the container waits to exec, then `started` or
//!   `error <message>`; closed after that.
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
    /// Rotate the log at this many bytes (0: never)
    #[arg(long, default_value_t = 0)]
    log_max_size: u64,
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
    match run(&args, &mut status) {
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
    berth_store::write_json(&bundle.join("exit.json"), &rec).map_err(|e| e.to_string())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

fn run(args: &Args, status: &mut std::io::Stdout) -> Result<(), String> {
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

    let spec = berth_runtime::load_spec(&args.bundle).map_err(|e| e.to_string())?;
    let tty = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
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
    // The container must not inherit the mask: it would never see SIGCHLD.
    let created = {
        let r = berth_runtime::create(&spec, &args.bundle, stdio);
        r.map_err(|e| e.to_string())?
    };
    let pid = created.pid;
    // Init sent the terminal before reporting ready.
    let (out_r, in_w, master) = match console {
        Some(sock) => {
            let master = berth_runtime::console::receive(&sock).map_err(|e| e.to_string())?;
            let dup = |f: &OwnedFd| f.try_clone().map_err(|e| format!("dup: {e}"));
            let in_w = if args.stdin {
                Some(dup(&master)?)
            } else {
                None
            };
            (Some(dup(&master)?), in_w, Some(master))
        }
        None => (out_r, in_w, None),
    };
    writeln!(status, "created {pid}").map_err(|e| e.to_string())?;
    status.flush().map_err(|e| e.to_string())?;

    let mut logger = if args.no_log {
        None
    } else {
        Some(
            log::JsonFileLog::open(&args.log, args.log_max_size, args.log_max_file)
                .map_err(|e| format!("log: {e}"))?,
        )
    };
    let mut created = Some(created);
    let mut control = Some(std::io::stdin().lock());
    let mut out = out_r.map(std::fs::File::from);
    let mut err = err_r.map(std::fs::File::from);
    let mut stdin_w = in_w.map(std::fs::File::from);
    let mut clients: Vec<Client> = Vec::new();
    let mut exit: Option<(i32, Option<i32>)> = None;
    let mut exit_msg = String::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Parsing the spec and building the container allocated far more than the loop
    // needs; hundreds of shims run at once, so give it back now.
    berth_sys::release_free_memory();

    loop {
        if exit.is_some() && out.is_none() && err.is_none() {
            break;
        }
        // poll set: 0 sigfd, 1 listener, then optional control/out/err, then clients
        let mut fds: Vec<PollFd> = vec![
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        let ctl_i = control.as_ref().map(|c| {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
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
                    Ok(WaitStatus::Exited(p, code)) if p == pid => exit = Some((code, None)),
                    Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => {
                        exit = Some((128 + sig as i32, Some(sig as i32)))
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
            let mut line = String::new();
            let n = control
                .as_mut()
                .map(|c| c.read_line(&mut line))
                .unwrap_or(Ok(0));
            match n {
                Ok(0) | Err(_) => {
                    control = None;
                    if let Some(c) = created.take() {
                        // Never told to start: the daemon gave up on this container.
                        drop(c);
                        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                    }
                }
                Ok(_) if line.trim() == "start" => {
                    if let Some(c) = created.take() {
                        match c.start() {
                            Ok(_) => writeln!(status, "started").map_err(|e| e.to_string())?,
                            Err(e) => {
                                // The runtime reaped init already: record the failure and stop.
                                let msg = e.to_string().replace('\n', " ");
                                writeln!(status, "error {msg}").map_err(|e| e.to_string())?;
                                exit = Some((127, None));
                                exit_msg = msg;
                            }
                        }
                        status.flush().map_err(|e| e.to_string())?;
                    }
                }
                Ok(_) => {}
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
