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
    /// The guided upsample's ridge (1e-6..=1, default 1e-3): how the model's look reaches detail
    /// finer than its input size. Where the model-size input varies by less than about
    /// `sqrt(upsample_eps)` (in perceptual colour, 0 black .. 0.71 white) the engine frame's
    /// detail is kept at its own contrast; finer variation gets the model's change. Smaller
    /// follows the model closer (less grain and fewer dark rims under dark looks such as night;
    /// on the held-out clips 1e-5 is 0.08-0.12 dB closer to the path-traced targets), larger
    /// keeps more of the engine's edges (docs/photoreal.md, "The guided upsample's ridge").
    /// A model package may state a ridge per prompt (manifest `upsample`, docs/formats.md): a
    /// look is then composited with this ridge times its prompt's ridge over 1e-3, so the default
    /// gives the package's own ridges (`Stats::last_upsample_eps` reports the one used).
    pub upsample_eps: f32,
    /// Automatic cut detection: mean absolute luminance change (0..1) above which the window resets.
    pub cut_threshold: f32,
    /// Model input size override for dynamic-resolution models (else the manifest's default).
    pub model_size: Option<(u32, u32)>,
    /// Where the full-resolution passes run: `Auto` (the GPU when the adapter is a hardware one,
    /// the CPU when the only adapter is a software rasteriser or there is none), `Gpu`, `Cpu`.
    pub backend: super::backend::Backend,
    /// Hold the model's output to the teacher's exposure rule where its package states one
    /// (manifest `exposure`; model/exposure.rs): the output's brightness follows the engine
    /// frame's as the path-traced targets' did, whatever renderer drew it. Off by default: it
    /// lifts frames of a renderer whose brightness the student misjudges, and darkens frames an
    /// engine renders darker than its scene (an underexposed frame, a low sun) further than the
    /// student does (docs/photoreal.md, stage 60).
    pub exposure_lock: bool,
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
            upsample_eps: crate::gpu::composite::CompositeParams::default().upsample_eps,
            cut_threshold: 0.25,
            model_size: None,
            backend: super::backend::Backend::Auto,
            exposure_lock: false,
        }
    }
}

impl SessionConfig {
    /// The range `temporal_alpha` is clamped to (1 = no accumulation).
    pub const TEMPORAL_ALPHA_RANGE: std::ops::RangeInclusive<f32> = 0.01..=1.0;

    /// `temporal_alpha` within [`Self::TEMPORAL_ALPHA_RANGE`].
    pub(crate) fn clamped_temporal_alpha(&self) -> f32 {
        let r = Self::TEMPORAL_ALPHA_RANGE;
        self.temporal_alpha.clamp(*r.start(), *r.end())
    }

    /// The look's settings both session kinds check before they load anything.
    pub(crate) fn check_look(&self) -> crate::Result<()> {
        if !(0.0..=1.0).contains(&self.strength) {
            return Err(crate::Error::config(
                format!("strength {} is outside 0..1", self.strength),
                "pass a strength between 0 and 1",
            ));
        }
        check_upsample_eps(self.upsample_eps)
    }
}

/// The guided upsample's ridge, at creation and when set live.
pub(crate) fn check_upsample_eps(eps: f32) -> crate::Result<()> {
    use crate::reference::guided_upsample::{MAX_EPS, MIN_EPS};
    if !(MIN_EPS..=MAX_EPS).contains(&eps) {
        return Err(crate::Error::config(
            format!("upsample_eps {eps} is outside {MIN_EPS:e}..={MAX_EPS}"),
            "pass a value in that range (default 1e-3; smaller follows the model's look into finer detail)",
        ));
    }
    Ok(())
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
    /// The model reads each frame's light (sun and up, `FrameRef::light`).
    pub model_reads_light: bool,
    /// Frames such a model got without a light (it used `SceneLight::FALLBACK` for them).
    pub frames_without_light: u64,
    /// Bytes the last frame moved between CPU memory and the GPU (uploads and readbacks of the
    /// full-resolution passes and the model's tensors; 0 on the CPU backend).
    pub last_frame_transfer_bytes: u64,
    /// Submits that found no frame buffer in the session's pool and copied into a new one (fresh
    /// memory, slow on its first touch). The session keeps a spare from the first realtime frame
    /// on, so this stays at the first submit or two (a resolution change resizes pooled buffers
    /// and is not counted).
    pub submit_allocations: u64,
    /// The guided upsample's ridge of the last composited frame: `upsample_eps` scaled by the
    /// model package's ridge for the look's prompt (its manifest `upsample`), 0 before any.
    pub last_upsample_eps: f32,
    /// The guided upsample's edge-aware fit of the last composited frame (the model package's
    /// `upsample.edge_ridge` and `edge_aware` for the look's prompt): the ridge's factor on the
    /// model input's edges (1: plain) and the pull toward the look's gain off them (0: plain).
    pub last_upsample_edge_ridge: f32,
    pub last_upsample_edge_pull: f32,
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
