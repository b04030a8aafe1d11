//! Image commands: images/ls, rmi, prune, history, tag, load, save, import.

mod history;
mod list;
mod remove;
mod tag;
mod transfer;

pub use history::history;
pub use list::{image_row, list, IMAGE_CONTEXT, IMAGE_HEADER};
pub use remove::{prune, remove};
pub use tag::tag;
pub use transfer::{import, load, save};
