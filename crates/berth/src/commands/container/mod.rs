//! Container commands.

mod config;
mod exec;
mod list;
mod logs;
mod manage;
mod ops;
mod run;
mod specs;
mod stats;
mod stream;
mod tty;

pub use config::validate_network;
pub use exec::{attach, exec};
pub use list::list;
pub use logs::logs;
pub use manage::{kill, remove, stop, wait};
pub use ops::{pause, port, prune, rename, restart, top, unpause, update};
pub use run::{create, run, start};
pub use specs::parse_mount;
pub use stats::stats;
