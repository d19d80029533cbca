//! RealMaster Live core: engine frames in, photoreal frames out.
//!
//! Data flow (see docs/architecture.md and docs/formats.md): validate → upload/decode → resample to
//! the model size → edges → temporal window → pack tensor → ONNX Runtime → guided upsample →
//! temporal accumulate → blend → output, the full-resolution passes on the GPU (wgpu) or the CPU.
//! On any failure the output is the untouched input frame.

pub mod cpu;
pub mod error;
pub mod frame;
pub mod gpu;
pub mod light;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod reference;
pub mod sequence;

pub use error::{Error, ErrorCode, Result};
pub use frame::{AuxKind, ColorFormat, FrameRef, ImageF32, OwnedFrame, PlaneRef};
pub use light::SceneLight;

pub use gpu::host::{DepthEncoding, DeviceFrame, MotionEncoding, NormalEncoding};
pub use pipeline::{
    Backend, DeviceFrameReport, DeviceSession, EncodedPrompt, FrameTimings, Health, Mode,
    OutputFrame, PromptEncoderHandle, Session, SessionConfig, Stats,
};
