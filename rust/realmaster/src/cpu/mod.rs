//! The CPU backend's stages: the full-resolution passes on the host, multithreaded (rayon), with
//! every buffer owned by its stage and reused from frame to frame. The per-pass code is
//! `crate::reference` (the same code the GPU passes are tested against); the stages here hold
//! its buffers and chain it the way the GPU stages chain the shaders.

mod composite;
mod preprocess;

pub use composite::{CpuCompositor, ModelLook};
pub use preprocess::{AuxResampler, CpuPreprocessor};
