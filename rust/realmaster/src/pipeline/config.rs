//! What a caller configures and observes on a session: settings, statistics, status.

use std::path::PathBuf;

/// How frames are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `submit` never waits for inference; the newest frame wins; the last model output is reprojected
    /// onto each new frame so a late inference does not read as lag.
    #[default]
    Realtime,
    /// Synchronous: every frame is inferred and composited before `submit` returns; deterministic.
    Cinematic,
}

impl std::str::FromStr for Mode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "realtime" | "real-time" => Ok(Mode::Realtime),
            "cinematic" => Ok(Mode::Cinematic),
            other => Err(crate::Error::config(
                format!("unknown mode '{other}'"),
                "use 'realtime' or 'cinematic'",
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Realtime => "realtime",
            Mode::Cinematic => "cinematic",
        })
    }
}

/// Everything needed to create a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Model package folder. `None` means: no model; every frame passes through untouched and
    /// the status says why.
    pub model_dir: Option<PathBuf>,
    /// Explicit path to libonnxruntime (otherwise REALMASTER_ORT_LIB, ORT_DYLIB_PATH, beside the
    /// executable, the project's Python environment).
    pub ort_library: Option<PathBuf>,
    /// Execution provider name: auto, tensorrt, cuda, directml, coreml, cpu.
    pub execution_provider: String,
    /// Allow falling back to CPU when the requested EP fails (reported, never silent).
    pub allow_ep_fallback: bool,
    /// TensorRT engine and timing cache folder (created if missing).
    pub tensorrt_cache_dir: Option<PathBuf>,
    pub mode: Mode,
    /// Blend strength 0..1 (0 = untouched input).
    pub strength: f32,
    /// Initial prompt: a preset name or free text ("" = the model's default preset).
    pub prompt: String,
    /// Frames over which a prompt change is blended.
    pub prompt_blend_frames: u32,
    /// Temporal accumulation weight of the new frame (0..1, lower = smoother).
    pub temporal_alpha: f32,
    /// Automatic cut detection: mean absolute luminance change (0..1) above which the window resets.
    pub cut_threshold: f32,
    /// Model input size override for dynamic-resolution models (else the manifest's default).
    pub model_size: Option<(u32, u32)>,
    /// Where the full-resolution passes run: `Auto` (the GPU when the adapter is a hardware one,
    /// the CPU when the only adapter is a software rasteriser or there is none), `Gpu`, `Cpu`.
    pub backend: super::backend::Backend,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            model_dir: None,
            ort_library: None,
            execution_provider: "auto".into(),
            allow_ep_fallback: false,
            tensorrt_cache_dir: None,
            mode: Mode::Realtime,
            strength: 1.0,
            prompt: String::new(),
            prompt_blend_frames: 8,
            temporal_alpha: 0.2,
            cut_threshold: 0.25,
            model_size: None,
            backend: super::backend::Backend::Auto,
        }
    }
}

/// Live counters, cheap to read from any thread.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub frames_submitted: u64,
    pub frames_output: u64,
    /// Frames replaced by a newer one before they were processed (realtime mode).
    pub frames_dropped: u64,
    pub inferences: u64,
    /// Milliseconds of the last forward pass / the last frame's GPU pre- and post-processing.
    pub last_inference_ms: f64,
    pub last_preprocess_ms: f64,
    pub last_composite_ms: f64,
    /// Frames between the newest submitted frame and the frame the shown model output was made from.
    pub output_latency_frames: u64,
    /// The execution provider actually in use ("cpu", "cuda", ...), or "none" without a model.
    pub execution_provider: String,
    /// Where the full-resolution passes run ("gpu" or "cpu"), or "none" without a model.
    pub backend: String,
    pub window_resets: u64,
    /// Frames shown with the model's look (a fresh output or a reprojected earlier one).
    pub frames_enhanced: u64,
    /// Of those, frames that showed an earlier frame's model output reprojected onto them
    /// (realtime: inference had not caught up).
    pub frames_reprojected: u64,
    /// Frames shown untouched because of an error (a refused frame, a model fault, a GPU error).
    /// Frames shown untouched only because no model output existed yet are not counted.
    pub frames_failed: u64,
    /// Model outputs refused as absurd (mostly NaN/inf or far out of range): shown untouched.
    pub model_faults: u64,
    /// Frames whose depth, normals or motion had values replaced (NaN, infinite, far out of range).
    pub frames_sanitized: u64,
    /// Bytes the last frame moved between CPU memory and the GPU (uploads and readbacks of the
    /// full-resolution passes and the model's tensors; 0 on the CPU backend).
    pub last_frame_transfer_bytes: u64,
    /// Submits that found no frame buffer in the session's pool and copied into a new one (fresh
    /// memory, slow on its first touch). The session keeps a spare from the first realtime frame
    /// on, so this stays at the first submit or two (a resolution change resizes pooled buffers
    /// and is not counted).
    pub submit_allocations: u64,
}

/// Health of a session.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub enum Health {
    /// Frames are being enhanced.
    #[default]
    Ok,
    /// Frames pass through untouched; `message` says why and how to fix it.
    PassThrough { code: u32, message: String },
}
