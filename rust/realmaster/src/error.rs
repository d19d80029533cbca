//! The library's one error type. Every message names the problem and the fix.

use std::path::PathBuf;

/// Stable error categories, shared with the C++ bridge as integer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    InvalidFrame = 1,
    Io = 2,
    Sequence = 3,
    Manifest = 4,
    Integrity = 5,
    ModelMismatch = 6,
    OrtLibrary = 7,
    ExecutionProvider = 8,
    Inference = 9,
    Gpu = 10,
    Prompt = 11,
    Config = 12,
    Shutdown = 13,
    Internal = 14,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A frame from the caller is malformed (size, pitch, format, NaN/Inf).
    #[error("invalid frame: {problem} (fix: {fix})")]
    InvalidFrame { problem: String, fix: String },

    #[error("cannot read {path}: {source} (fix: check that the file exists and is readable)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A sequence folder is missing frames, has a bad sequence.json, or inconsistent files.
    #[error("sequence {path}: {problem} (fix: {fix})")]
    Sequence {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// A model manifest is unreadable or inconsistent with itself.
    #[error("model manifest {path}: {problem} (fix: {fix})")]
    Manifest {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// A file's sha256 does not match the manifest.
    #[error("model file {path} fails its integrity check: expected sha256 {expected}, found {actual} (fix: re-install the model package; do not edit its files by hand)")]
    Integrity {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// The ONNX graph's real inputs/outputs differ from what the manifest declares.
    #[error("model {path} does not match its manifest: {problem} (fix: re-export the model or correct manifest.json)")]
    ModelMismatch { path: PathBuf, problem: String },

    /// libonnxruntime could not be found or loaded.
    #[error("ONNX Runtime library: {problem} (fix: {fix})")]
    OrtLibrary { problem: String, fix: String },

    /// A requested execution provider is not available or failed to register.
    #[error("execution provider {ep}: {problem} (fix: {fix})")]
    ExecutionProvider {
        ep: String,
        problem: String,
        fix: String,
    },

    #[error("inference failed: {0}")]
    Inference(String),

    #[error("GPU: {problem} (fix: {fix})")]
    Gpu { problem: String, fix: String },

    #[error("prompt: {problem} (fix: {fix})")]
    Prompt { problem: String, fix: String },

    #[error("configuration: {problem} (fix: {fix})")]
    Config { problem: String, fix: String },

    #[error("the session has shut down (fix: create a new session)")]
    Shutdown,

    #[error("internal error: {0} (please report this with the log)")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidFrame { .. } => ErrorCode::InvalidFrame,
            Error::Io { .. } => ErrorCode::Io,
            Error::Sequence { .. } => ErrorCode::Sequence,
            Error::Manifest { .. } => ErrorCode::Manifest,
            Error::Integrity { .. } => ErrorCode::Integrity,
            Error::ModelMismatch { .. } => ErrorCode::ModelMismatch,
            Error::OrtLibrary { .. } => ErrorCode::OrtLibrary,
            Error::ExecutionProvider { .. } => ErrorCode::ExecutionProvider,
            Error::Inference(_) => ErrorCode::Inference,
            Error::Gpu { .. } => ErrorCode::Gpu,
            Error::Prompt { .. } => ErrorCode::Prompt,
            Error::Config { .. } => ErrorCode::Config,
            Error::Shutdown => ErrorCode::Shutdown,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn invalid_frame(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::InvalidFrame {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
    pub fn gpu(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Gpu {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
    pub fn config(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Config {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
