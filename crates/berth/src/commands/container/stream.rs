//! Docker's multiplexed stream (`stdcopy`): frames of an 8-byte header
//! `[stream, 0, 0, 0, len (u32 big-endian)]` followed by `len` bytes of payload.

use std::io::Write;

/// Which output a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
    /// The daemon's own error, which ends the copy (`Systemerr`).
    System,
}

const HEADER_LEN: usize = 8;

/// Splits a byte stream into frames as chunks arrive.
#[derive(Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    /// Feeds a chunk; returns the complete frames it finishes. An unknown stream
    /// byte is docker's "Unrecognized input header" error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<(StreamKind, Vec<u8>)>, String> {
        self.buf.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut at = 0;
        while self.buf.len() - at >= HEADER_LEN {
            let header = &self.buf[at..at + HEADER_LEN];
            let kind = match header[0] {
                0 => StreamKind::Stdin,
                1 => StreamKind::Stdout,
                2 => StreamKind::Stderr,
                3 => StreamKind::System,
                other => {
                    self.buf.drain(..at);
                    return Err(format!("Unrecognized input header: {other}"));
                }
            };
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if self.buf.len() - at - HEADER_LEN < len {
                break;
            }
            let start = at + HEADER_LEN;
            frames.push((kind, self.buf[start..start + len].to_vec()));
            at = start + len;
        }
        self.buf.drain(..at);
        Ok(frames)
    }
}

/// docker's `StdCopy` on top of [`Demuxer`]: stdout (and stdin) frames to `out`,
/// stderr frames to `err`; a system-error frame ends the copy with its message.
pub struct StdCopy<O: Write, E: Write> {
    demux: Demuxer,
    pub out: O,
    pub err: E,
}

impl<O: Write, E: Write> StdCopy<O, E> {
    pub fn new(out: O, err: E) -> Self {
        StdCopy {
            demux: Demuxer::default(),
            out,
            err,
        }
    }

    pub fn write(&mut self, chunk: &[u8]) -> Result<(), String> {
        for (kind, payload) in self.demux.push(chunk)? {
            let result = match kind {
                StreamKind::Stdin | StreamKind::Stdout => self
                    .out
                    .write_all(&payload)
                    .and_then(|()| self.out.flush())
                    .map_err(|e| write_error("stdout", &e)),
                StreamKind::Stderr => self
                    .err
                    .write_all(&payload)
                    .and_then(|()| self.err.flush())
                    .map_err(|e| write_error("stderr", &e)),
                StreamKind::System => {
                    return Err(format!(
                        "error from daemon in stream: {}",
                        String::from_utf8_lossy(&payload)
                    ))
                }
            };
            result?;
        }
        Ok(())
    }
}

/// Go's error for a failed write to the CLI's own output ("write /dev/stdout: broken pipe").
pub fn write_error(stream: &str, e: &std::io::Error) -> String {
    format!("write /dev/{stream}: {}", super::config::go_io_reason(e))
}

/// One frame as the daemon writes it (for tests).
#[cfg(test)]
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxes_frames_split_anywhere() {
        let mut data = frame(1, b"out\n");
        data.extend(frame(2, b"err\n"));
        data.extend(frame(1, b""));
        data.extend(frame(1, b"more"));
        for split in 0..data.len() {
            let mut d = Demuxer::default();
            let mut frames = d.push(&data[..split]).unwrap();
            frames.extend(d.push(&data[split..]).unwrap());
            assert_eq!(
                frames,
                vec![
                    (StreamKind::Stdout, b"out\n".to_vec()),
                    (StreamKind::Stderr, b"err\n".to_vec()),
                    (StreamKind::Stdout, Vec::new()),
                    (StreamKind::Stdout, b"more".to_vec()),
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn copies_to_two_writers() {
        let mut c = StdCopy::new(Vec::new(), Vec::new());
        let mut data = frame(1, b"a");
        data.extend(frame(2, b"b"));
        data.extend(frame(0, b"c"));
        for byte in &data {
            c.write(std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!(c.out, b"ac");
        assert_eq!(c.err, b"b");
    }

    #[test]
    fn rejects_bad_headers_and_reports_system_errors() {
        let mut c = StdCopy::new(Vec::new(), Vec::new());
        assert_eq!(
            c.write(&frame(7, b"x")).unwrap_err(),
            "Unrecognized input header: 7"
        );
        let mut c = StdCopy::new(Vec::new(), Vec::new());
        assert_eq!(
            c.write(&frame(3, b"boom")).unwrap_err(),
            "error from daemon in stream: boom"
        );
    }
}
