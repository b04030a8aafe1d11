//! Display of the daemon's JSON-message streams (`/images/load`, `/images/create`),
//! as docker's `jsonmessage.DisplayJSONMessagesStream` prints them to a non-terminal.

use std::io::Write;

use serde_json::Value;

use super::time::rfc3339_nano_fixed;
use super::units::human_size;
use crate::error::{CliError, Result};

/// Splits a byte stream into complete JSON values as they arrive.
#[derive(Default)]
pub struct JsonSplitter {
    buf: Vec<u8>,
}

impl JsonSplitter {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Value>> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(v)) => {
                    consumed = stream.byte_offset();
                    out.push(v);
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => return Err(CliError::other(e.to_string())),
                None => break,
            }
        }
        self.buf.drain(..consumed);
        Ok(out)
    }

    /// Whatever is left must be whitespace once the stream ends.
    pub fn finish(&self) -> Result<()> {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            Ok(())
        } else {
            Err(CliError::other("unexpected EOF"))
        }
    }
}

/// docker's `DisplayJSONMessagesStream` state: on a terminal, progress lines are
/// redrawn in place, one line per layer id.
pub struct Display {
    terminal: bool,
    width: usize,
    ids: Vec<String>,
}

impl Display {
    pub fn new(terminal: bool, width: usize) -> Display {
        Display {
            terminal,
            width,
            ids: Vec::new(),
        }
    }

    /// Prints one message; an `errorDetail` becomes the returned error.
    pub fn message(&mut self, msg: &Value, out: &mut impl Write) -> Result<()> {
        if msg.get("aux").is_some_and(|a| !a.is_null()) {
            return Ok(());
        }
        let has_progress = msg.get("progressDetail").is_some_and(|p| !p.is_null());
        let id = msg.get("id").and_then(Value::as_str).unwrap_or("");
        let progress_text = msg.get("progress").and_then(Value::as_str).unwrap_or("");
        let mut diff = 0;
        if !id.is_empty() && (has_progress || !progress_text.is_empty()) {
            let line = match self.ids.iter().position(|i| i == id) {
                Some(line) => line,
                None => {
                    self.ids.push(id.to_string());
                    if self.terminal {
                        out.write_all(b"\n")?;
                    }
                    self.ids.len() - 1
                }
            };
            diff = self.ids.len() - line;
            if self.terminal {
                write!(out, "\x1b[{diff}A")?;
            }
        } else {
            self.ids.clear();
        }
        let result = display_message(msg, out, self.terminal, self.width);
        if !id.is_empty() && self.terminal {
            write!(out, "\x1b[{diff}B")?;
        }
        result
    }
}

/// docker's `JSONMessage.Display`.
fn display_message(msg: &Value, out: &mut impl Write, terminal: bool, width: usize) -> Result<()> {
    let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or("");
    if let Some(detail) = msg.get("errorDetail").filter(|d| !d.is_null()) {
        let text = detail.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(CliError::other(text));
    }
    let progress = msg.get("progressDetail").filter(|p| !p.is_null());
    let bar = progress
        .map(|p| progress_string(p, width))
        .unwrap_or_default();
    let mut line = String::new();
    let mut endl = "";
    if terminal && s("stream").is_empty() && progress.is_some() {
        line.push_str("\x1b[2K\r");
        endl = "\r";
    } else if progress.is_some() && !bar.is_empty() {
        // Progress bars are not drawn on a non-terminal.
        return Ok(());
    }
    let time_nano = msg.get("timeNano").and_then(Value::as_i64).unwrap_or(0);
    let time = msg.get("time").and_then(Value::as_i64).unwrap_or(0);
    if time_nano != 0 {
        line.push_str(&format!("{} ", rfc3339_nano_fixed(time_nano)));
    } else if time != 0 {
        line.push_str(&format!("{} ", rfc3339_nano_fixed(time * 1_000_000_000)));
    }
    if !s("id").is_empty() {
        line.push_str(&format!("{}: ", s("id")));
    }
    if !s("from").is_empty() {
        line.push_str(&format!("(from {}) ", s("from")));
    }
    if progress.is_some() && terminal {
        line.push_str(&format!("{} {bar}{endl}", s("status")));
    } else if !s("progress").is_empty() {
        line.push_str(&format!("{} {}{endl}", s("status"), s("progress")));
    } else if !s("stream").is_empty() {
        line.push_str(&format!("{}{endl}", s("stream")));
    } else {
        line.push_str(&format!("{}{endl}\n", s("status")));
    }
    out.write_all(line.as_bytes())?;
    Ok(())
}

/// docker's `JSONProgress.String` (without the time-left estimate).
fn progress_string(p: &Value, width: usize) -> String {
    let num = |k: &str| p.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (current, total) = (num("current"), num("total"));
    let units = p.get("units").and_then(Value::as_str).unwrap_or("");
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return if units.is_empty() {
            format!("{:>8}", human_size(current as f64))
        } else {
            format!("{current} {units}")
        };
    }
    let percentage = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = if width > 110 {
        format!(
            "[{}>{}] ",
            "=".repeat(percentage),
            " ".repeat(50 - percentage)
        )
    } else {
        String::new()
    };
    let numbers = if units.is_empty() {
        if current > total {
            format!("{:>8}", human_size(current as f64))
        } else {
            format!(
                "{:>8}/{}",
                human_size(current as f64),
                human_size(total as f64)
            )
        }
    } else if current > total {
        format!("{current} {units}")
    } else {
        format!("{current}/{total} {units}")
    };
    format!("{bar}{numbers}")
}

/// Width of the terminal on stdout, 200 when unknown (as docker assumes).
pub fn terminal_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .map(|w| w.ws_col as usize)
        .unwrap_or(200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_concatenated_json() {
        let mut s = JsonSplitter::default();
        let v = s.push(b"{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(v, vec![json!({"a": 1})]);
        let v = s.push(b":2}\r\n").unwrap();
        assert_eq!(v, vec![json!({"b": 2})]);
        s.finish().unwrap();
    }

    #[test]
    fn displays_messages() {
        let mut out = Vec::new();
        let mut d = Display::new(false, 80);
        d.message(
            &json!({"stream": "Loaded image: busybox:latest\n"}),
            &mut out,
        )
        .unwrap();
        d.message(&json!({"status": "Loading layer", "progressDetail": {"current": 1, "total": 2}, "id": "x"}), &mut out).unwrap();
        d.message(&json!({"status": "sha256:abc"}), &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Loaded image: busybox:latest\nsha256:abc\n"
        );
        let err = d.message(
            &json!({"errorDetail": {"message": "boom"}, "error": "boom"}),
            &mut Vec::new(),
        );
        assert_eq!(err.unwrap_err().to_string(), "boom");
    }

    #[test]
    fn redraws_progress_on_terminals() {
        let mut out = Vec::new();
        let mut d = Display::new(true, 80);
        let msg = json!({"status": "Loading layer", "progressDetail": {"current": 10, "total": 20}, "id": "abc"});
        d.message(&msg, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n\x1b[1A\x1b[2K\rabc: Loading layer      10B/20B\r\x1b[1B"
        );
    }
}
