//! Running a command (docker, berth) with a deadline, capturing its output.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Default deadline of one CLI invocation: a daemon that hangs fails the test
/// instead of blocking it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

enum Input {
    Null,
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// A command to run; see [`crate::Daemon::docker`] and [`crate::Daemon::berth`].
pub struct Cli {
    cmd: Command,
    desc: String,
    input: Input,
    timeout: Duration,
    log: Option<PathBuf>,
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    /// The command line, for messages.
    pub desc: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout followed by stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout\n{}\n--- stderr\n{}",
            self.desc, self.status, self.stdout, self.stderr
        )
    }
}

/// The last `n` lines of a daemon log, for failure messages.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

impl Cli {
    pub fn new(program: impl AsRef<OsStr>) -> Cli {
        let program = program.as_ref();
        Cli {
            cmd: Command::new(program),
            desc: program.to_string_lossy().into_owned(),
            input: Input::Null,
            timeout: DEFAULT_TIMEOUT,
            log: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cli {
        self.desc.push(' ');
        self.desc.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cli {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Cli {
        self.cmd.env_remove(k);
        self
    }

    pub fn current_dir(mut self, d: impl AsRef<Path>) -> Cli {
        self.cmd.current_dir(d);
        self
    }

    /// Feed `bytes` on stdin.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Cli {
        self.input = Input::Bytes(bytes.into());
        self
    }

    /// Feed the file at `p` on stdin.
    pub fn stdin_file(mut self, p: impl AsRef<Path>) -> Cli {
        self.input = Input::File(p.as_ref().to_path_buf());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Cli {
        self.timeout = t;
        self
    }

    /// Daemon log whose tail is added to failure messages.
    pub fn log(mut self, p: &Path) -> Cli {
        self.log = Some(p.to_path_buf());
        self
    }

    fn context(&self) -> String {
        match &self.log {
            Some(l) => format!("\n--- daemon log (tail)\n{}", log_tail(l, 40)),
            None => String::new(),
        }
    }

    /// Start the command in the background (stdout/stderr discarded, stdin as set).
    pub fn spawn(mut self) -> Child {
        let stdin = match &self.input {
            Input::Null => Stdio::null(),
            Input::File(p) => Stdio::from(
                std::fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display())),
            ),
            Input::Bytes(_) => Stdio::piped(),
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn `{}`: {e}", self.desc));
        if let Input::Bytes(b) = std::mem::replace(&mut self.input, Input::Null) {
            let mut w = child.stdin.take().expect("piped stdin");
            std::thread::spawn(move || {
                let _ = w.write_all(&b);
            });
        }
        child
    }

    /// Run to completion (or panic after the deadline, killing it).
    pub fn run(mut self) -> Out {
        let stdin = match &self.input {
            Input::Null => Stdio::null(),
            Input::File(p) => Stdio::from(
                std::fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display())),
            ),
            Input::Bytes(_) => Stdio::piped(),
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn `{}`: {e}", self.desc));
        let writer = match std::mem::replace(&mut self.input, Input::Null) {
            Input::Bytes(b) => {
                let mut w = child.stdin.take().expect("piped stdin");
                Some(std::thread::spawn(move || {
                    let _ = w.write_all(&b);
                }))
            }
            _ => None,
        };
        let mut so = child.stdout.take().expect("piped stdout");
        let mut se = child.stderr.take().expect("piped stderr");
        let t_out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = so.read_to_end(&mut v);
            v
        });
        let t_err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = se.read_to_end(&mut v);
            v
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let out = t_out.join().unwrap_or_default();
                    let err = t_err.join().unwrap_or_default();
                    panic!(
                        "`{}` did not finish within {:?} (daemon hang?)\n--- stdout\n{}\n--- stderr\n{}{}",
                        self.desc,
                        self.timeout,
                        String::from_utf8_lossy(&out),
                        String::from_utf8_lossy(&err),
                        self.context()
                    );
                }
                Err(e) => panic!("wait for `{}`: {e}", self.desc),
            }
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        let raw_stdout = t_out.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
        Out {
            status,
            stdout: String::from_utf8_lossy(&raw_stdout).into_owned(),
            stderr,
            raw_stdout,
            desc: self.desc,
        }
    }

    /// Run; panic unless it succeeds; return stdout.
    pub fn ok(self) -> String {
        let ctx_log = self.log.clone();
        let out = self.run();
        if !out.success() {
            let ctx = ctx_log
                .map(|l| format!("\n--- daemon log (tail)\n{}", log_tail(&l, 40)))
                .unwrap_or_default();
            panic!("command failed: {out}{ctx}");
        }
        out.stdout
    }

    /// Run; panic if it succeeds; return the output.
    pub fn fails(self) -> Out {
        let out = self.run();
        assert!(!out.success(), "command was expected to fail: {out}");
        out
    }
}
