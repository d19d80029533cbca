//! Model packages and ONNX Runtime: manifest and integrity checks, locating libonnxruntime,
//! execution providers, the per-frame session (student and diffusion kinds) and prompt encoding.
//!
//! Typical use:
//! ```no_run
//! # use realmaster::model::*;
//! # fn main() -> realmaster::Result<()> {
//! let package = ModelPackage::open("models/realmaster-student-s")?;
//! let opts = SessionOptions { ep: ExecutionProvider::Auto, ..Default::default() };
//! let mut session = ModelSession::load(&package, &opts)?;
//! let mut prompts = PromptEncoder::load(&package, &opts)?;
//! let embedding = prompts.encode("rain")?;
//! # let _ = (&mut session, embedding);
//! # Ok(())
//! # }
//! ```

pub mod diffusion;
pub mod ep;
pub mod exposure;
mod graph;
pub mod manifest;
pub mod ort_lib;
pub mod package;
pub mod preset_blend;
pub mod prompt;
pub mod session;
pub mod tokenizer;
pub mod upsample_ridges;

pub use diffusion::{flow_sigmas, gaussian_noise, shift_sigma, DiffusionTimings};
pub use ep::{available_eps, EpOptions, EpSelection, ExecutionProvider};
pub use exposure::ExposureLock;
pub use manifest::{ColorSpace, InputRole, Manifest, ModelKind, Precision, Resolution, LIGHT_DIM};
pub use ort_lib::OrtLibInfo;
pub use package::{sha256_file, ModelPackage};
pub use prompt::{l2_normalise, lerp_normalised, PromptEncoder};
pub use session::{model_input_size, ModelInput, ModelSession, SessionOptions};
pub use tokenizer::WordPieceTokenizer;
pub use upsample_ridges::UpsampleRidges;
