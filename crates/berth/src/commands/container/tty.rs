//! Attached streams (docker's `hijackedIOStreamer`): raw terminal mode, the detach key
//! sequence, terminal resizes, and copying between the terminal and the connection.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stream::{write_error, StdCopy};
use crate::client::{Client, Hijacked, Query};
use crate::error::{CliError, Result};
use crate::format::time::rfc3339_local;

/// ctrl-p, ctrl-q.
const DEFAULT_ESCAPE_KEYS: [u8; 2] = [16, 17];

/// logrus's line, as docker prints it on a non-terminal stderr.
pub fn log(level: &str, msg: &str) {
    let now = chrono::Utc::now().timestamp();
    let line = format!(
        "time=\"{}\" level={level} msg={}\n",
        rfc3339_local(now),
        crate::format::value::json_string(msg)
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// moby/term's `ToBytes`: "ctrl-p,ctrl-q", "a,b", "DEL".
pub fn key_bytes(keys: &str) -> Result<Vec<u8>, String> {
    let mut codes = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let ctrl = key.strip_prefix("ctrl-").and_then(|k| {
            let b = k.as_bytes();
            (b.len() == 1).then_some(b[0])
        });
        match ctrl {
            Some(c @ b'a'..=b'z') => codes.push(c - b'a' + 1),
            Some(b'@') => codes.push(0),
            Some(c @ (b'[' | b'\\' | b']' | b'^' | b'_')) => codes.push(c - b'@'),
            _ if key == "DEL" => codes.push(127),
            _ => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(codes)
}

/// The detach sequence: the given keys, or ctrl-p,ctrl-q when none or invalid.
fn escape_keys(detach_keys: Option<&str>) -> Vec<u8> {
    match detach_keys.filter(|k| !k.is_empty()) {
        None => DEFAULT_ESCAPE_KEYS.to_vec(),
        Some(k) => key_bytes(k).unwrap_or_else(|e| {
            log(
                "warning",
                &format!("invalid detach escape keys, using default: {e}"),
            );
            DEFAULT_ESCAPE_KEYS.to_vec()
        }),
    }
}

/// moby/term's `escapeProxy`: passes input through, holding back a partly typed
/// detach sequence, and reports when the whole sequence was typed.
pub struct EscapeProxy {
    keys: Vec<u8>,
    pos: usize,
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, pos: 0 }
    }

    /// The bytes to forward, and whether the sequence is complete (then nothing
    /// after it is forwarded).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.pos] {
                self.pos += 1;
                if self.pos == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            // Not the sequence after all: what was held back goes out first.
            out.extend_from_slice(&self.keys[..self.pos]);
            self.pos = 0;
            out.push(b);
        }
        (out, false)
    }
}

/// Raw mode on the terminal at stdin while attached to a TTY; restored on drop.
pub struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    /// `In.SetRawTerminal`: nothing when stdin is not a terminal or `NORAW` is set.
    pub fn enable() -> RawTerminal {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() || std::env::var_os("NORAW").is_some_and(|v| !v.is_empty()) {
            return RawTerminal { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(&stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        RawTerminal { saved: Some(saved) }
    }

    pub fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                &saved,
            );
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The terminal size at stdout (`Out.GetTtySize`): `(height, width)`, zeros when
/// stdout is not a terminal.
pub fn tty_size() -> (u16, u16) {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return (0, 0);
    }
    match rustix::termios::tcgetwinsize(stdout) {
        Ok(w) => (w.ws_row, w.ws_col),
        Err(_) => (0, 0),
    }
}

/// `POST {base}/resize?h=&w=` (`base` is `/containers/ID` or `/exec/ID`); nothing for
/// an unknown size.
async fn resize_to(client: &mut Client, base: &str, height: u16, width: u16) -> Result<()> {
    if height == 0 && width == 0 {
        return Ok(());
    }
    let query: Query = vec![("h", height.to_string()), ("w", width.to_string())];
    client
        .post(&format!("{base}/resize"), &query)
        .await
        .map(|_| ())
}

/// docker's `MonitorTtySize`: resize now (retrying for a while in the background if
/// that fails, as the process may not have started yet), then on every SIGWINCH.
pub fn monitor_tty_size(client: &Client, base: String) -> tokio::task::JoinHandle<()> {
    let mut client = client.clone();
    tokio::spawn(async move {
        let (h, w) = tty_size();
        if resize_to(&mut client, &base, h, w).await.is_err() {
            let mut ok = false;
            for retry in 0..10u64 {
                tokio::time::sleep(Duration::from_millis((retry + 1) * 10)).await;
                let (h, w) = tty_size();
                if resize_to(&mut client, &base, h, w).await.is_ok() {
                    ok = true;
                    break;
                }
            }
            if !ok {
                let _ = writeln!(
                    std::io::stderr(),
                    "failed to resize tty, using default size"
                );
            }
        }
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            let (h, w) = tty_size();
            let _ = resize_to(&mut client, &base, h, w).await;
        }
    })
}

/// `attach`'s `resizeTTY`: one size off first, so that a shell redraws its prompt on
/// every attach, then the real size.
pub async fn nudge_and_monitor(client: &Client, base: String) -> tokio::task::JoinHandle<()> {
    let (h, w) = tty_size();
    let mut c = client.clone();
    let _ = resize_to(&mut c, &base, h.saturating_add(1), w.saturating_add(1)).await;
    monitor_tty_size(client, base)
}

/// What is attached, and how.
pub struct Streams {
    /// The process has a TTY: output is raw, not multiplexed.
    pub tty: bool,
    /// Copy the CLI's stdin to the connection.
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Option<String>,
}

/// How the stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The daemon closed the output (or input ended with nothing to read).
    Done,
    /// The user typed the detach sequence (moby/term's `EscapeError`).
    Detached,
}

/// Aborts a spawned task when dropped (a cancelled stream stops reading stdin).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where output goes: demultiplexed unless raw (TTY), unattached streams dropped.
struct Output {
    copy: StdCopy<Box<dyn Write + Send>, Box<dyn Write + Send>>,
    raw: bool,
}

impl Output {
    fn new(s: &Streams) -> Output {
        let sink = |on: bool, err: bool| -> Box<dyn Write + Send> {
            match (on, err) {
                (false, _) => Box::new(std::io::sink()),
                (true, false) => Box::new(std::io::stdout()),
                (true, true) => Box::new(std::io::stderr()),
            }
        };
        Output {
            copy: StdCopy::new(sink(s.stdout, false), sink(s.stderr, true)),
            raw: s.tty,
        }
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if self.raw {
            return self
                .copy
                .out
                .write_all(chunk)
                .and_then(|()| self.copy.out.flush())
                .map_err(|e| CliError::Other(write_error("stdout", &e)));
        }
        self.copy.write(chunk).map_err(CliError::Other)
    }
}

/// docker's `hijackedIOStreamer.stream`.
pub async fn stream_io(conn: Hijacked, s: Streams) -> Result<StreamEnd> {
    let mut raw = None;
    let mut proxy = None;
    if s.stdin && s.tty {
        raw = Some(RawTerminal::enable());
        proxy = Some(EscapeProxy::new(escape_keys(s.detach_keys.as_deref())));
    }
    let output_attached = s.stdout || s.stderr;
    let mut out = Output::new(&s);
    match conn {
        Hijacked::Body(mut body) => {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| CliError::other(e.to_string()))?;
                if let Some(chunk) = frame.data_ref() {
                    out.write(chunk)?;
                }
            }
            Ok(StreamEnd::Done)
        }
        Hijacked::Upgraded(io) => {
            let (mut reader, mut writer) = tokio::io::split(io);
            let (input_tx, mut input_rx) = tokio::sync::oneshot::channel::<StreamEnd>();
            let stdin = s.stdin;
            let input = AbortOnDrop(tokio::spawn(async move {
                let mut end = StreamEnd::Done;
                if stdin {
                    let mut input = tokio::io::stdin();
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        let n = match input.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let (data, detached) = match proxy.as_mut() {
                            Some(p) => p.feed(&buf[..n]),
                            None => (buf[..n].to_vec(), false),
                        };
                        if !data.is_empty() && writer.write_all(&data).await.is_err() {
                            break;
                        }
                        if detached {
                            end = StreamEnd::Detached;
                            break;
                        }
                    }
                }
                if end == StreamEnd::Done {
                    let _ = writer.shutdown().await;
                }
                let _ = input_tx.send(end);
                // Keep the write half alive: dropping it early could close the socket.
                std::future::pending::<()>().await;
            }));
            let mut buf = vec![0u8; 32 * 1024];
            let mut input_done = false;
            let result = loop {
                tokio::select! {
                    read = reader.read(&mut buf), if output_attached => match read {
                        Ok(0) => break Ok(StreamEnd::Done),
                        Ok(n) => {
                            if let Err(e) = out.write(&buf[..n]) {
                                break Err(e);
                            }
                        }
                        Err(e) => break Err(CliError::other(e.to_string())),
                    },
                    end = &mut input_rx, if !input_done => {
                        input_done = true;
                        match end {
                            Ok(StreamEnd::Detached) => break Ok(StreamEnd::Detached),
                            // Input ended: wait for the output, if any is attached.
                            _ if output_attached => {}
                            _ => break Ok(StreamEnd::Done),
                        }
                    }
                }
            };
            // The terminal goes back to normal before anything else is printed.
            if let Some(r) = raw.as_mut() {
                r.restore();
            }
            drop(input);
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_like_moby() {
        assert_eq!(key_bytes("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(
            key_bytes("a,ctrl-@,ctrl-[,ctrl-_,DEL"),
            Ok(vec![b'a', 0, 27, 31, 127])
        );
        assert_eq!(
            key_bytes("ctrl-P"),
            Err("Unknown character: 'ctrl-P'".into())
        );
        assert_eq!(escape_keys(None), vec![16, 17]);
    }

    #[test]
    fn escape_proxy_holds_back_a_partial_sequence() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(p.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(p.feed(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(p.feed(b"\x11tail"), (Vec::new(), true));
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"1\x10\x11"), (b"1".to_vec(), true));
        // A repeated first key is not taken as the start of a new sequence.
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"\x10\x10\x11"), (b"\x10\x10\x11".to_vec(), false));
    }
}
