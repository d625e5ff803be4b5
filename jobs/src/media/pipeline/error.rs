//! Why an upload could not be processed: [`MediaError`], shared by the pipeline
//! and its decode, encode and ops steps (a leaf, so the steps need not import
//! the pipeline).

/// Why an upload could not be processed.
#[derive(thiserror::Error, Debug)]
pub enum MediaError {
    /// The upload is larger than `max_upload_bytes`.
    #[error("upload is {size} bytes; the limit is {max}")]
    UploadTooLarge {
        /// Upload size.
        size: u64,
        /// Configured limit.
        max: u64,
    },
    /// Not a JPEG, PNG, WebP or GIF, or uses a feature the decoders don't support.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// Corrupt or truncated data.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// Header dimensions exceed `max_dimension` (checked before decoding).
    #[error("image is {width}x{height} pixels; the limit is {max} per side")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Configured limit.
        max: u32,
    },
    /// Decoding would need more memory than `max_alloc_bytes`.
    #[error("decoding needs {needed} bytes; the limit is {max}")]
    MemoryLimit {
        /// Estimated bytes for the decoded pixels.
        needed: u64,
        /// Configured limit.
        max: u64,
    },
    /// The media config is invalid (not the upload's fault).
    #[error("invalid media config: {0}")]
    InvalidConfig(String),
    /// An encoder ran out of memory; may succeed later under less load.
    #[error("out of resources: {0}")]
    ResourceExhausted(String),
    /// A bug or an encoder failure that would repeat on retry.
    #[error("media pipeline error: {0}")]
    Internal(String),
}

impl MediaError {
    /// `true` when retrying the same upload cannot succeed (bad input, deterministic failures).
    /// Only a bad config (fixable by the operator) and encoder memory exhaustion are retryable.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::UploadTooLarge { .. }
            | Self::Unsupported(_)
            | Self::Corrupt(_)
            | Self::TooLarge { .. }
            | Self::MemoryLimit { .. }
            | Self::Internal(_) => true,
            Self::InvalidConfig(_) | Self::ResourceExhausted(_) => false,
        }
    }

    /// Stable short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UploadTooLarge { .. } => "upload_too_large",
            Self::Unsupported(_) => "unsupported",
            Self::Corrupt(_) => "corrupt",
            Self::TooLarge { .. } => "too_large",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::InvalidConfig(_) => "invalid_config",
            Self::ResourceExhausted(_) => "resource_exhausted",
            Self::Internal(_) => "internal",
        }
    }
}
