//! Content digests and image references.
//!
//! Reference parsing follows Docker's `distribution/reference` grammar and its
//! normalisation rules (`busybox` → `docker.io/library/busybox:latest`), because
//! users and tools see the normalised and "familiar" forms and compare them.

mod digest;
mod reference;

pub use digest::{chain_ids, Digest, DigestError};
pub use reference::{Reference, ReferenceError, DEFAULT_DOMAIN, DEFAULT_TAG};
