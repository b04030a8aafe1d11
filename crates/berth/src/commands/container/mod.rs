//! Container commands.

mod config;
mod cp;
mod exec;
mod fsops;
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
pub use cp::cp;
pub use exec::{attach, exec};
pub use fsops::{commit, diff, export};
pub use list::{list, rewrite_label_calls};
pub use logs::logs;
pub use manage::{kill, remove, stop, wait};
pub use ops::{natural_less, pause, port, prune, rename, restart, top, unpause, update};
pub use run::{create, run, start};
pub use specs::parse_mount;
pub use stats::stats;
pub use tty::log as log_line;
