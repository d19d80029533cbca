//! The per-frame work of a session with a model: preprocess into the window, pack the model's
//! tensors, hand them to inference, fold results back in (reprojected to the current frame), composite.
//! Runs on the session's frame thread; inference runs elsewhere (see worker.rs). The full-resolution
//! passes run on a [`FramePasses`] backend: the GPU (gpu_passes.rs) or the CPU (cpu_passes.rs).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::FrameRef;
use crate::gpu::composite::CompositeParams;
use crate::gpu::preprocess::{InputRole, ModelColorSpace, PreprocessConfig, TensorLayout};
use crate::gpu::GpuContext;

use super::backend::Backend;
use super::cpu_passes::CpuPasses;
use super::frame_passes::FramePasses;
use super::gpu_passes::GpuPasses;
use super::output::{FrameTimings, OutputFrame};
use super::window::{thumbnail, thumbnail_distance, ResetReason, Window, THUMB_H, THUMB_W};

/// Recent frames whose model-res motion is kept to carry a late model output forward.
const MOTION_HISTORY: usize = 8;

/// What the engine needs to know about the model.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub width: u32,
    pub height: u32,
    pub window: u32,
    pub color_space: ModelColorSpace,
    pub depth_scale: f32,
    /// The output colour range the manifest declares (`color.range`).
    pub range: [f32; 2],
    /// Tensor roles the graph takes (the prompt embedding is added by inference).
    pub roles: Vec<InputRole>,
}

/// Packed input tensors for one frame, in `TensorLayout` order, and a buffer for the output. Both
/// vectors travel back in the result and are reused for the next job: no per-frame allocation.
pub struct InferenceJob {
    pub frame_index: u64,
    pub arena: Vec<f32>,
    pub rgb: Vec<f32>,
}

/// Model output for one frame: `[1,3,H,W]` in the model's colour space (in `rgb` when `status` is
/// Ok), with the job's arena handed back.
pub struct InferenceResult {
    pub frame_index: u64,
    pub status: Result<()>,
    pub rgb: Vec<f32>,
    pub arena: Vec<f32>,
    pub ms: f64,
    /// Per-graph timings when the model is a diffusion model.
    pub diffusion: Option<crate::model::DiffusionTimings>,
}

/// Where the frame thread sends jobs and gets results; the session wires this to the inference thread.
pub trait InferenceLink {
    /// True when a job can be accepted right now without waiting.
    fn idle(&self) -> bool;
    fn send(&mut self, job: InferenceJob) -> Result<()>;
    /// A finished result, if any (`wait`: block until the in-flight job finishes).
    fn receive(&mut self, wait: bool) -> Option<InferenceResult>;
}

/// Per-frame settings read at the start of each frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameSettings {
    pub strength: f32,
    pub temporal_alpha: f32,
    pub cut_threshold: f32,
    /// Synchronous: infer this frame and wait for it.
    pub synchronous: bool,
    /// Wait for the GPU after each stage so timings are per stage.
    pub profile: bool,
    pub caller_reset: bool,
}

/// Wall-clock stage timer.
struct Lap(Instant);
impl Lap {
    fn stage(&mut self, into: &mut f64) {
        *into = self.0.elapsed().as_secs_f64() * 1e3;
        self.0 = Instant::now();
    }
    fn restart(&mut self) {
        self.0 = Instant::now();
    }
}

pub struct Engine {
    passes: Box<dyn FramePasses>,
    spec: ModelSpec,
    window: Window,
    /// Which frame's model-res motion each history slot holds (the images live in the backend).
    motion_ring: [Option<u64>; MOTION_HISTORY],
    look_valid: bool,
    look_frame: u64,
    /// Host buffers lent to the inference thread with each job and returned with its result.
    spare_arena: Vec<f32>,
    spare_rgb: Vec<f32>,
    last_thumb: Option<[f32; THUMB_W * THUMB_H]>,
    last_size: Option<(u32, u32)>,
    /// Results older than this belong to a previous shot and are dropped.
    shot_start: u64,
    pub resets: u64,
    pub last_reset: Option<ResetReason>,
    /// Frame index of the model output currently shown (for latency stats).
    pub shown_frame: Option<u64>,
    /// Inferences whose output was refused as absurd (see [`output_fault`]).
    pub model_faults: u64,
    /// The colour range the model's output must stay near (manifest `color.range`).
    range: [f32; 2],
}

/// Where the engine's full-resolution passes run: on this GPU device, or on the CPU.
pub enum PassDevice {
    Gpu(GpuContext),
    Cpu,
}

/// Why a model output is unusable, if it is: more than 1% of its values non-finite, or more than
/// 1% of them outside the model's colour range widened by its own width on both sides (a model
/// whose output was scaled x1e6, or that returns garbage). A few stray values are handled per pixel
/// downstream (a NaN pixel shows the input); a frame-wide fault must not be shown or called enhanced.
pub fn output_fault(rgb: &[f32], range: [f32; 2]) -> Option<String> {
    if rgb.is_empty() {
        return Some("the model returned no values".into());
    }
    let [lo, hi] = range;
    let margin = (hi - lo).abs().max(f32::EPSILON);
    let (min_ok, max_ok) = (lo - margin, hi + margin);
    let (mut non_finite, mut outside) = (0usize, 0usize);
    let mut worst = 0.0f32;
    for &v in rgb {
        if !v.is_finite() {
            non_finite += 1;
        } else if v < min_ok || v > max_ok {
            outside += 1;
            if v.abs() > worst.abs() {
                worst = v;
            }
        }
    }
    let n = rgb.len();
    let pct = |k: usize| 100.0 * k as f64 / n as f64;
    if non_finite * 100 > n {
        Some(format!(
            "{:.1}% of the model's output values are NaN or infinite",
            pct(non_finite)
        ))
    } else if outside * 100 > n {
        Some(format!(
            "{:.1}% of the model's output values are far outside its colour range [{lo}, {hi}] (e.g. {worst:e})",
            pct(outside)
        ))
    } else {
        None
    }
}

impl Engine {
    pub fn new(device: PassDevice, spec: ModelSpec) -> Result<Self> {
        if spec.width == 0 || spec.height == 0 || spec.window == 0 {
            return Err(Error::Internal(format!(
                "model spec {}x{} window {}",
                spec.width, spec.height, spec.window
            )));
        }
        let cfg = PreprocessConfig {
            model_width: spec.width,
            model_height: spec.height,
            color_space: spec.color_space,
            depth_scale: spec.depth_scale,
            edges: Default::default(),
        };
        let passes: Box<dyn FramePasses> = match device {
            PassDevice::Gpu(ctx) => Box::new(GpuPasses::new(ctx, &spec, cfg, MOTION_HISTORY)?),
            PassDevice::Cpu => Box::new(CpuPasses::new(&spec, cfg, MOTION_HISTORY)?),
        };
        Ok(Engine {
            passes,
            window: Window::new(spec.window as usize),
            range: spec.range,
            spec,
            motion_ring: [None; MOTION_HISTORY],
            look_valid: false,
            look_frame: 0,
            spare_arena: Vec::new(),
            spare_rgb: Vec::new(),
            last_thumb: None,
            last_size: None,
            shot_start: 0,
            resets: 0,
            last_reset: None,
            shown_frame: None,
            model_faults: 0,
        })
    }

    pub fn layout(&self) -> &TensorLayout {
        self.passes.layout()
    }

    /// The backend running the full-resolution passes.
    pub fn backend(&self) -> Backend {
        self.passes.backend()
    }

    /// The model this engine was built for.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn reset(&mut self, reason: ResetReason, frame_index: u64) {
        self.window.reset();
        self.look_valid = false;
        self.shot_start = frame_index;
        self.motion_ring = [None; MOTION_HISTORY];
        self.resets += 1;
        self.last_reset = Some(reason);
        log::debug!("window reset at frame {frame_index}: {reason:?}");
    }

    /// Process one validated frame into `out`. Errors leave `out` untouched; the caller shows the input.
    pub fn process(
        &mut self,
        frame: &FrameRef<'_>,
        frame_index: u64,
        settings: &FrameSettings,
        link: &mut dyn InferenceLink,
        out: &mut OutputFrame,
        t: &mut FrameTimings,
    ) -> Result<()> {
        let start = Instant::now();
        let mut lap = Lap(Instant::now());

        // Shot boundaries: first frame, caller cut, resolution change, automatic cut.
        let thumb = thumbnail(frame);
        let size = (frame.width, frame.height);
        let reason = if self.last_size.is_none() {
            Some(ResetReason::Start)
        } else if settings.caller_reset || frame.camera_cut {
            Some(ResetReason::CallerCut)
        } else if self.last_size != Some(size) {
            Some(ResetReason::Resolution)
        } else if self
            .last_thumb
            .as_ref()
            .is_some_and(|p| thumbnail_distance(p, &thumb) > settings.cut_threshold)
        {
            Some(ResetReason::AutoCut)
        } else {
            None
        };
        self.last_thumb = Some(thumb);
        self.last_size = Some(size);
        if let Some(r) = reason {
            self.reset(r, frame_index);
        }

        self.passes.upload(frame)?;
        lap.stage(&mut t.upload_ms);

        let slot = self.window.push();
        let ring = (frame_index % MOTION_HISTORY as u64) as usize;
        self.passes.preprocess(slot, ring)?;
        self.motion_ring[ring] = Some(frame_index);
        if self.look_valid && self.look_frame < frame_index {
            self.passes.warp_look(ring)?;
            self.look_frame = frame_index;
        }
        self.passes.flush(settings.profile)?;
        lap.stage(&mut t.preprocess_ms);

        // Launch an inference for this frame when the model is free (always, when synchronous).
        if settings.synchronous || link.idle() {
            let order = self.window.ordered();
            let mut arena = std::mem::take(&mut self.spare_arena);
            self.passes
                .pack(&order, slot, self.look_valid, &mut arena)?;
            link.send(InferenceJob {
                frame_index,
                arena,
                rgb: std::mem::take(&mut self.spare_rgb),
            })?;
            t.inferred = true;
            lap.stage(&mut t.pack_ms);
        }

        // Fold in a finished inference, carried forward to this frame.
        if let Some(result) = link.receive(settings.synchronous) {
            t.inference_ms = result.ms;
            t.diffusion = result.diffusion;
            self.spare_arena = result.arena;
            // set_look copies at once, so the vector goes straight back to the pool.
            self.spare_rgb = result.rgb;
            result.status?;
            if let Some(problem) = output_fault(&self.spare_rgb, self.range) {
                self.model_faults += 1;
                return Err(Error::Inference(format!(
                    "model fault on frame {}: {problem}; the frame is shown untouched (fix: check the model package: re-export it, or compare its output with `realmaster eval`)",
                    result.frame_index
                )));
            }
            if result.frame_index >= self.shot_start {
                self.passes.set_look(&self.spare_rgb)?;
                for f in result.frame_index + 1..=frame_index {
                    let r = (f % MOTION_HISTORY as u64) as usize;
                    if self.motion_ring[r] == Some(f) {
                        self.passes.warp_look(r)?;
                    }
                }
                self.look_valid = true;
                self.look_frame = frame_index;
                self.shown_frame = Some(result.frame_index);
            }
        }
        lap.restart();

        if !self.look_valid {
            // Nothing to show yet for this shot (realtime, first inference still running).
            out.set_passthrough(frame, frame_index);
            t.total_ms = start.elapsed().as_secs_f64() * 1e3;
            self.passes.flush(false)?;
            return Ok(());
        }

        let params = CompositeParams {
            strength: settings.strength,
            temporal_alpha: settings.temporal_alpha,
            ..Default::default()
        };
        let reset_history = reason.is_some();
        self.passes
            .composite(frame.format, &params, reset_history, &mut out.data)?;
        if settings.profile {
            self.passes.flush(true)?;
            lap.stage(&mut t.composite_ms);
        }
        self.passes.read_output(&mut out.data)?;
        out.width = frame.width;
        out.height = frame.height;
        out.format = frame.format;
        out.frame_index = frame_index;
        out.enhanced = true;
        if settings.profile {
            lap.stage(&mut t.readback_ms);
        } else {
            lap.stage(&mut t.composite_ms);
        }
        t.total_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(())
    }
}
