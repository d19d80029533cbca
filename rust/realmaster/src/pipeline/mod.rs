//! The session: threads, the temporal window, the per-frame engine (its passes on the GPU or the
//! CPU backend), inference and outputs.

pub mod backend;
pub mod config;
pub mod cpu_passes;
pub mod device_session;
pub mod engine;
pub mod frame_passes;
pub mod gpu_passes;
pub mod inference;
pub mod output;
pub mod prompt_blend;
pub mod session;
pub mod window;
pub mod worker;

pub use backend::Backend;
pub use config::{Health, Mode, SessionConfig, Stats};
pub use device_session::{DeviceFrameReport, DeviceSession, EncodedPrompt, PromptEncoderHandle};
pub use output::{FrameTimings, OutputFrame};
pub use session::Session;
