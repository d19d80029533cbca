//! The session: threads, the temporal window, the per-frame GPU engine, inference and outputs.

pub mod config;
pub mod engine;
pub mod inference;
pub mod output;
pub mod prompt_blend;
pub mod session;
pub mod window;
pub mod worker;

pub use config::{Health, Mode, SessionConfig, Stats};
pub use output::{FrameTimings, OutputFrame};
pub use session::Session;
