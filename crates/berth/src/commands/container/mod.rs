//! Container commands: run, create, start, ps, logs, rm, stop, kill, wait.

mod config;
mod list;
mod logs;
mod manage;
mod run;
mod stream;

pub use list::list;
pub use logs::logs;
pub use manage::{kill, remove, stop, wait};
pub use run::{create, run, start};
