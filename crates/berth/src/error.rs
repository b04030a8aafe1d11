//! The CLI's error type: what to print on stderr and which exit code to use.

use std::fmt;

#[derive(Debug)]
pub enum CliError {
    /// The daemon answered with an error status; printed with docker's prefix.
    Daemon { status: u16, message: String },
    /// A message printed as-is, with a specific exit code (docker's `cli.StatusError`).
    Status { code: i32, message: String },
    /// The daemon could not be reached (docker's `errConnectionFailed`).
    Connect(String),
    /// Anything else: printed as-is, exit 1.
    Other(String),
    /// The output pipe was closed: stop quietly.
    BrokenPipe,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn other(msg: impl Into<String>) -> CliError {
        CliError::Other(msg.into())
    }

    pub fn status(code: i32, msg: impl Into<String>) -> CliError {
        CliError::Status {
            code,
            message: msg.into(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Status { code, .. } => *code,
            CliError::BrokenPipe => 0,
            _ => 1,
        }
    }

    /// Whether this is the daemon saying "not found" (docker's `errdefs.IsNotFound`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, CliError::Daemon { status: 404, .. })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
            CliError::Status { message, .. }
            | CliError::Connect(message)
            | CliError::Other(message) => f.write_str(message),
            CliError::BrokenPipe => Ok(()),
        }
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Other(e.to_string())
        }
    }
}
