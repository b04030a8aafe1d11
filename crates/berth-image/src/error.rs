use berth_errors::{ErrorKind, HasKind};
use berth_oci::ReferenceError;
use berth_store::StoreError;

use crate::layers::LayerError;
use crate::rwlayer::RwLayerError;
use crate::unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Docker's wording: `No such image: busybox:latest`.
    #[error("No such image: {0}")]
    NotFound(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Full Docker-style conflict sentence, e.g. "conflict: unable to delete … (must be forced) - …".
    #[error("{0}")]
    Conflict(String),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("{0}")]
    InvalidChange(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading a container's writable layer (commit).
    #[error(transparent)]
    RwLayer(#[from] RwLayerError),
}

impl From<LayerError> for ImageError {
    fn from(e: LayerError) -> ImageError {
        match e {
            LayerError::Unpack(u) => ImageError::Unpack(u),
            LayerError::Store(s) => ImageError::Store(s),
        }
    }
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Reference(_)
            | ImageError::InvalidArchive(_)
            | ImageError::Unpack(_)
            | ImageError::InvalidChange(_)
            | ImageError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Store(_) | ImageError::RwLayer(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, ImageError>;
