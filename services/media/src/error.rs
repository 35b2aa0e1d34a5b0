use thiserror::Error;

/// Errors raised while parsing or packaging media. Every variant names the
/// place that went wrong so a connection can be closed with a useful log line.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MediaError {
    #[error("truncated {what}: needed {needed} more bytes")]
    Truncated { what: &'static str, needed: usize },
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    #[error("limit exceeded: {what} is {size}, limit {limit}")]
    TooLarge { what: &'static str, size: usize, limit: usize },
}

impl MediaError {
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        MediaError::Invalid { what, detail: detail.into() }
    }
    pub fn unsupported(what: &'static str, detail: impl Into<String>) -> Self {
        MediaError::Unsupported { what, detail: detail.into() }
    }
}
