//! One small vocabulary of error kinds. Crates keep their own error enums with context;
//! each reports an [`ErrorKind`] and only the HTTP layer turns kinds into status codes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    Conflict,
    Forbidden,
    NotModified,
    Unavailable,
    NotImplemented,
    Internal,
}

impl ErrorKind {
    /// The status code Docker's API uses for this kind of failure.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Conflict => 409,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotModified => 304,
            ErrorKind::Unavailable => 503,
            ErrorKind::NotImplemented => 501,
            ErrorKind::Internal => 500,
        }
    }
}

pub trait HasKind {
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_docker() {
        assert_eq!(ErrorKind::NotFound.http_status(), 404);
        assert_eq!(ErrorKind::Conflict.http_status(), 409);
        assert_eq!(ErrorKind::InvalidArgument.http_status(), 400);
        assert_eq!(ErrorKind::NotImplemented.http_status(), 501);
    }
}
