//! Images: content-addressed blobs, unpacked overlay layers, and the image store with
//! Docker's semantics for load/save/import/tag/delete/prune.

mod archive;
mod changes;
mod commit;
pub mod content;
mod error;
pub mod layers;
pub mod rwlayer;
mod store;
pub mod unpack;

pub use archive::{default_container_config, go_arch, LoadedImage};
pub use changes::{apply_changes, command_form};
pub use commit::{canonical_config, merge_commit_config, CommitRequest, EMPTY_LAYER_DIFF_ID};
pub use error::{ImageError, Result};
pub use store::{DeleteItem, EventSink, HistoryItem, Image, ImageStore, ImageUser};
