//! Docker's `json-file` log format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.000000000Z"}`,
//! a record per output line (partial lines are held until their newline or the end of
//! the stream), with size-based rotation to `<log>.1`, `<log>.2` … as Docker does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Docker splits lines longer than this into several records.
const MAX_LINE: usize = 16 * 1024;

pub struct JsonFileLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    partial: [Vec<u8>; 2],
}

impl JsonFileLog {
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> std::io::Result<JsonFileLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// `stream`: 1 stdout, 2 stderr.
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let i = usize::from(stream == 2);
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            self.record(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            let end = start + MAX_LINE;
            self.record(stream, &buf[start..end]);
            start = end;
        }
        buf.drain(..start);
        self.partial[i] = buf;
    }

    pub fn flush_partial(&mut self, stream: u8) {
        let i = usize::from(stream == 2);
        let rest = std::mem::take(&mut self.partial[i]);
        if !rest.is_empty() {
            self.record(stream, &rest);
        }
    }

    fn record(&mut self, stream: u8, line: &[u8]) {
        let rec = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": if stream == 2 { "stderr" } else { "stdout" },
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        });
        let mut bytes = serde_json::to_vec(&rec).expect("log records serialise");
        bytes.push(b'\n');
        if self.max_size > 0 && self.size + bytes.len() as u64 > self.max_size && self.size > 0 {
            self.rotate();
        }
        // A full disk loses log lines, never the container.
        if self.file.write_all(&bytes).is_ok() {
            self.size += bytes.len() as u64;
        }
    }

    fn rotate(&mut self) {
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_file <= 1 {
            let _ = self.file.set_len(0);
            self.size = 0;
            return;
        }
        for n in (1..self.max_file - 1).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        let _ = std::fs::rename(&self.path, name(1));
        if let Ok(f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}
