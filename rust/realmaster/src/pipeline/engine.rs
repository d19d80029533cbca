//! The per-frame work of a session with a model: preprocess into the window, pack the model's
//! tensors, hand them to inference, fold results back in (reprojected to the current frame), composite.
//! Runs on the session's frame thread; inference runs elsewhere (see worker.rs). The full-resolution
//! passes run on a [`FramePasses`] backend: the GPU (gpu_passes.rs) or the CPU (cpu_passes.rs).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::FrameRef;
use crate::gpu::composite::CompositeParams;
use crate::gpu::host::DeviceFrame;
use crate::gpu::preprocess::{InputRole, ModelColorSpace, PreprocessConfig, TensorLayout};
use crate::gpu::GpuContext;
use crate::light::SceneLight;
use crate::reference::guided_upsample::EdgeWeights;

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
    /// The model reads each frame's light (manifest role `light`, fed by inference).
    pub reads_light: bool,
}

/// Packed input tensors for one frame, in `TensorLayout` order, and a buffer for the output. Both
/// vectors travel back in the result and are reused for the next job: no per-frame allocation.
pub struct InferenceJob {
    pub frame_index: u64,
    /// The frame's light (models with a `light` input read it; None: the frame gave none).
    pub light: Option<SceneLight>,
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
    /// The factor on the user's upsample ridge for this look's prompt (`Infer::ridge_scale`).
    pub ridge_scale: f32,
    /// How edge-aware the guided upsample is for this look's prompt (`Infer::upsample_edges`).
    pub upsample_edges: EdgeWeights,
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
    pub upsample_eps: f32,
    pub cut_threshold: f32,
    /// Synchronous: infer this frame and wait for it.
    pub synchronous: bool,
    /// Wait for the GPU after each stage so timings are per stage.
    pub profile: bool,
    pub caller_reset: bool,
}

impl FrameSettings {
    /// The compositing parameters these settings choose for a look whose prompt scales the
    /// ridge by `ridge_scale` (the rest at their defaults), sanitized as the passes use them.
    fn composite_params(&self, ridge_scale: f32, edges: EdgeWeights) -> CompositeParams {
        CompositeParams {
            strength: self.strength,
            temporal_alpha: self.temporal_alpha,
            upsample_eps: self.upsample_eps * ridge_scale,
            upsample_edges: edges,
            ..Default::default()
        }
        .sanitized()
    }
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
    /// The factor on the user's ridge for the look's prompt (its inference result's).
    look_ridge_scale: f32,
    /// How edge-aware the upsample is for the look's prompt (its inference result's).
    look_edges: EdgeWeights,
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
    /// The guided upsample's ridge of the last composited frame: the user's, scaled by the
    /// package's ridge for the look's prompt, clamped to its range.
    pub last_upsample_eps: f32,
    /// How edge-aware the last composited frame's upsample was.
    pub last_upsample_edges: EdgeWeights,
    /// The colour range the model's output must stay near (manifest `color.range`).
    range: [f32; 2],
    /// Deferred submission: the frame whose tensors were packed last frame, to read and send now.
    pending_pack: Option<(u64, Option<SceneLight>)>,
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
        Ok(Self::with_passes(passes, spec))
    }

    /// An engine over an already built backend.
    fn with_passes(passes: Box<dyn FramePasses>, spec: ModelSpec) -> Self {
        Engine {
            passes,
            window: Window::new(spec.window as usize),
            range: spec.range,
            spec,
            motion_ring: [None; MOTION_HISTORY],
            look_valid: false,
            look_frame: 0,
            look_ridge_scale: 1.0,
            look_edges: EdgeWeights::OFF,
            last_upsample_eps: 0.0,
            last_upsample_edges: EdgeWeights::OFF,
            spare_arena: Vec::new(),
            spare_rgb: Vec::new(),
            last_thumb: None,
            last_size: None,
            shot_start: 0,
            resets: 0,
            last_reset: None,
            shown_frame: None,
            model_faults: 0,
            pending_pack: None,
        }
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

    /// Decide whether `frame_index` starts a new shot (first frame, caller cut, resolution
    /// change, automatic cut from the thumbnails) and reset the window and look if so.
    fn shot_boundary(
        &mut self,
        size: (u32, u32),
        camera_cut: bool,
        thumb: Option<[f32; THUMB_W * THUMB_H]>,
        settings: &FrameSettings,
        frame_index: u64,
    ) -> Option<ResetReason> {
        let reason = if self.last_size.is_none() {
            Some(ResetReason::Start)
        } else if settings.caller_reset || camera_cut {
            Some(ResetReason::CallerCut)
        } else if self.last_size != Some(size) {
            Some(ResetReason::Resolution)
        } else if let (Some(prev), Some(now)) = (self.last_thumb.as_ref(), thumb.as_ref()) {
            (thumbnail_distance(prev, now) > settings.cut_threshold).then_some(ResetReason::AutoCut)
        } else {
            None
        };
        self.last_thumb = thumb;
        self.last_size = Some(size);
        if let Some(r) = reason {
            self.reset(r, frame_index);
        }
        reason
    }

    /// Fold a finished inference into the look, carried forward to `frame_index`. Errors on a
    /// failed inference or a model fault (the frame is then shown untouched).
    fn fold_in(
        &mut self,
        result: InferenceResult,
        frame_index: u64,
        t: &mut FrameTimings,
    ) -> Result<()> {
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
            self.look_ridge_scale = result.ridge_scale;
            self.look_edges = result.upsample_edges;
            self.shown_frame = Some(result.frame_index);
        }
        Ok(())
    }

    /// This frame's compositing parameters for the current look (its prompt's ridge), recorded
    /// for `Stats::last_upsample_eps`.
    fn composite_params(&mut self, settings: &FrameSettings) -> CompositeParams {
        let params = settings.composite_params(self.look_ridge_scale, self.look_edges);
        self.last_upsample_eps = params.upsample_eps;
        self.last_upsample_edges = params.upsample_edges;
        params
    }

    /// The device path inside a host's render graph: like [`process_device`](Self::process_device),
    /// but nothing is submitted here. The work is returned as command buffers for the host to
    /// submit in its own order (after the commands that render `frame`, before those that read
    /// `output`). The tensors packed for this frame are read back on the next call, so the output
    /// shows the model's look one frame late, carried forward with the motion vectors
    /// (deterministic in cinematic mode: frame N shows the output for frame N-1 warped to N).
    /// Ok((enhanced, command buffers)); on an error the recorded work is still returned.
    #[allow(clippy::too_many_arguments)]
    pub fn process_device_deferred(
        &mut self,
        frame: &DeviceFrame<'_>,
        output: &wgpu::Texture,
        frame_index: u64,
        settings: &FrameSettings,
        link: &mut dyn InferenceLink,
        t: &mut FrameTimings,
    ) -> (Result<bool>, Vec<wgpu::CommandBuffer>) {
        let r = self.run_deferred(frame, output, frame_index, settings, link, t);
        let flushed = self.passes.flush(false);
        let buffers = self.passes.take_command_buffers();
        (r.and_then(|e| flushed.map(|_| e)), buffers)
    }

    /// Write the host's colour unchanged into `output`, deferred: the command buffers to submit.
    pub fn passthrough_device_deferred(
        &mut self,
        color: &wgpu::Texture,
        output: &wgpu::Texture,
    ) -> (Result<()>, Vec<wgpu::CommandBuffer>) {
        let r = self
            .passes
            .set_deferred(true)
            .and_then(|_| self.passes.passthrough_to_texture(color, output))
            .and_then(|_| self.passes.flush(false));
        (r, self.passes.take_command_buffers())
    }

    fn run_deferred(
        &mut self,
        frame: &DeviceFrame<'_>,
        output: &wgpu::Texture,
        frame_index: u64,
        settings: &FrameSettings,
        link: &mut dyn InferenceLink,
        t: &mut FrameTimings,
    ) -> Result<bool> {
        let start = Instant::now();
        self.passes.set_deferred(true)?;
        let reason = self.shot_boundary(
            (frame.width(), frame.height()),
            frame.camera_cut,
            None,
            settings,
            frame_index,
        );
        // 1. The tensors packed on the previous call went out with the host's submission: read
        //    them (waits for that GPU work) and start their inference.
        if let Some((packed, light)) = self.pending_pack.take() {
            if packed >= self.shot_start {
                let mut arena = std::mem::take(&mut self.spare_arena);
                self.passes.read_packed(&mut arena)?;
                link.send(InferenceJob {
                    frame_index: packed,
                    light,
                    arena,
                    rgb: std::mem::take(&mut self.spare_rgb),
                })?;
                t.inferred = true;
            }
        }
        // 2. This frame into the window; the look carried to it.
        self.passes.import(frame)?;
        let slot = self.enter_window(frame_index)?;
        // 3. Fold in a finished inference (cinematic: the one just started). `idle` is read
        //    first, so a job seen finished is folded in here, before step 4's pack replaces the
        //    model input kept for its look (see `run`).
        let launch = settings.synchronous || link.idle();
        if let Some(result) = link.receive(settings.synchronous) {
            self.fold_in(result, frame_index, t)?;
        }
        // 4. Pack this frame for the next call when the model is free.
        if launch {
            let order = self.window.ordered();
            self.passes.record_pack(&order, slot, self.look_valid)?;
            self.pending_pack = Some((frame_index, frame.light));
        }
        // 5. Composite with the look (or show the input until the shot has one).
        let enhanced = if self.look_valid {
            let params = self.composite_params(settings);
            self.passes
                .composite_to_texture(&params, reason.is_some(), output)?;
            true
        } else {
            self.passes.passthrough_to_texture(frame.color, output)?;
            false
        };
        t.total_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(enhanced)
    }

    /// The uploaded frame into a new window slot (preprocessed, its motion kept in the history),
    /// and the look carried forward to it. Returns the slot.
    fn enter_window(&mut self, frame_index: u64) -> Result<usize> {
        let slot = self.window.push();
        let ring = (frame_index % MOTION_HISTORY as u64) as usize;
        self.passes.preprocess(slot, ring)?;
        self.motion_ring[ring] = Some(frame_index);
        if self.look_valid && self.look_frame < frame_index {
            self.passes.warp_look(ring)?;
            self.look_frame = frame_index;
        }
        Ok(slot)
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
        let enhanced = self.run(
            FrameIn::Cpu(frame),
            frame_index,
            settings,
            link,
            FrameOut::Cpu(&mut *out),
            t,
        )?;
        if enhanced {
            out.width = frame.width;
            out.height = frame.height;
            out.format = frame.format;
            out.frame_index = frame_index;
            out.enhanced = true;
        } else {
            out.set_passthrough(frame, frame_index);
        }
        Ok(())
    }

    /// The device path: process a frame of the host's textures into its `output` texture on the
    /// host's device (GPU backend only). Ok(true): enhanced; Ok(false): the input was written
    /// unchanged (no model output for this shot yet). On an error nothing is written to `output`.
    pub fn process_device(
        &mut self,
        frame: &DeviceFrame<'_>,
        output: &wgpu::Texture,
        frame_index: u64,
        settings: &FrameSettings,
        link: &mut dyn InferenceLink,
        t: &mut FrameTimings,
    ) -> Result<bool> {
        self.run(
            FrameIn::Device(frame),
            frame_index,
            settings,
            link,
            FrameOut::Texture(output),
            t,
        )
    }

    /// Write the host's colour unchanged into `output` (the device path's pass-through frame).
    pub fn passthrough_device(
        &mut self,
        color: &wgpu::Texture,
        output: &wgpu::Texture,
    ) -> Result<()> {
        self.passes.passthrough_to_texture(color, output)?;
        self.passes.flush(false)
    }

    /// Bytes moved between CPU memory and the GPU so far.
    pub fn cpu_transfer_bytes(&self) -> u64 {
        self.passes.cpu_transfer_bytes()
    }

    /// Whether [`process`](Self::process) sanitizes the frame's G-buffers itself (the CPU
    /// backend checks each row as its resample reads it); otherwise the caller must first
    /// (`OwnedFrame::sanitize_gbuffers`).
    pub fn sanitizes_gbuffers(&self) -> bool {
        self.passes.sanitizes_gbuffers()
    }

    /// What the last `process` replaced while sanitizing (then cleared).
    pub fn take_sanitized(&mut self) -> crate::frame::Sanitized {
        self.passes.take_sanitized()
    }

    /// The stages of one frame, whatever holds it: shot boundary, upload (or import), preprocess
    /// into the window, carry the look forward, launch an inference, fold in a finished one,
    /// composite. Ok(true) when the frame is enhanced, Ok(false) when it shows the input.
    fn run(
        &mut self,
        input: FrameIn<'_, '_>,
        frame_index: u64,
        settings: &FrameSettings,
        link: &mut dyn InferenceLink,
        out: FrameOut<'_>,
        t: &mut FrameTimings,
    ) -> Result<bool> {
        let start = Instant::now();
        let mut lap = Lap(Instant::now());

        // Shot boundaries: first frame, caller cut, resolution change, automatic cut (CPU frames
        // only: the device path does not read frames back, so the host flags its cuts).
        let (size, camera_cut, thumb, light) = match input {
            FrameIn::Cpu(f) => (
                (f.width, f.height),
                f.camera_cut,
                Some(thumbnail(f)),
                f.light,
            ),
            FrameIn::Device(f) => ((f.width(), f.height()), f.camera_cut, None, f.light),
        };
        let reason = self.shot_boundary(size, camera_cut, thumb, settings, frame_index);
        // A pack recorded for deferred submission belongs to the other mode's flow.
        self.pending_pack = None;
        self.passes.set_deferred(false)?;
        self.passes.set_gpu_timing(settings.profile);

        match input {
            FrameIn::Cpu(f) => self.passes.upload(f)?,
            FrameIn::Device(f) => self.passes.import(f)?,
        }
        lap.stage(&mut t.upload_ms);

        let slot = self.enter_window(frame_index)?;
        self.passes.flush(settings.profile)?;
        lap.stage(&mut t.preprocess_ms);

        // Realtime: fold in an inference that finished since the last frame before packing this
        // one. The pack replaces the model input kept for the look (a result folded in after it
        // would be paired with this frame's input, not its own: misregistered looks on every
        // moving edge), and the result hands its buffers back for the next job. `idle` is read
        // first: the inference thread clears it only after sending its result, so a job seen
        // finished here is received below, never left for after the pack.
        let launch = settings.synchronous || link.idle();
        if !settings.synchronous {
            if let Some(result) = link.receive(false) {
                self.fold_in(result, frame_index, t)?;
            }
            lap.restart();
        }

        // Launch an inference for this frame when the model is free (always, when synchronous).
        if launch {
            let order = self.window.ordered();
            let mut arena = std::mem::take(&mut self.spare_arena);
            self.passes
                .pack(&order, slot, self.look_valid, &mut arena)?;
            link.send(InferenceJob {
                frame_index,
                light,
                arena,
                rgb: std::mem::take(&mut self.spare_rgb),
            })?;
            t.inferred = true;
            lap.stage(&mut t.pack_ms);
        }

        // Cinematic: wait for this frame's inference and fold it in.
        if settings.synchronous {
            if let Some(result) = link.receive(true) {
                self.fold_in(result, frame_index, t)?;
            }
        }
        lap.restart();

        if !self.look_valid {
            // Nothing to show yet for this shot (realtime, first inference still running).
            if let (FrameIn::Device(f), FrameOut::Texture(o)) = (input, &out) {
                self.passes.passthrough_to_texture(f.color, o)?;
            }
            self.passes.flush(false)?;
            t.total_ms = start.elapsed().as_secs_f64() * 1e3;
            return Ok(false);
        }

        let params = self.composite_params(settings);
        let reset_history = reason.is_some();
        match (input, out) {
            (FrameIn::Cpu(f), FrameOut::Cpu(o)) => {
                self.passes
                    .composite(f, &params, reset_history, &mut o.data)?;
                if settings.profile {
                    self.passes.flush(true)?;
                    lap.stage(&mut t.composite_ms);
                }
                self.passes.read_output(&mut o.data)?;
            }
            (FrameIn::Device(_), FrameOut::Texture(o)) => {
                self.passes
                    .composite_to_texture(&params, reset_history, o)?;
                self.passes.flush(settings.profile)?;
            }
            _ => {
                return Err(Error::Internal(
                    "a CPU frame with a texture output, or the reverse".into(),
                ))
            }
        }
        if settings.profile {
            lap.stage(&mut t.readback_ms);
            t.gpu = self.passes.gpu_stage_times();
        } else {
            lap.stage(&mut t.composite_ms);
        }
        t.total_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(true)
    }
}

/// Where a frame comes from: CPU planes, or the host's textures (device path).
#[derive(Clone, Copy)]
enum FrameIn<'f, 'a> {
    Cpu(&'f FrameRef<'a>),
    Device(&'f DeviceFrame<'a>),
}

/// Where the frame goes: a CPU output frame, or the host's texture.
enum FrameOut<'o> {
    Cpu(&'o mut OutputFrame),
    Texture(&'o wgpu::Texture),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ColorFormat, OwnedFrame};
    use crate::gpu::preprocess::{EdgeParams, InputRole};

    /// A 16x8 model of the frame's colour and edges, and its preprocessing.
    fn tiny_model() -> (ModelSpec, PreprocessConfig) {
        let spec = ModelSpec {
            width: 16,
            height: 8,
            window: 1,
            color_space: ModelColorSpace::Srgb,
            depth_scale: 100.0,
            range: [0.0, 1.0],
            roles: vec![InputRole::Frames, InputRole::Edges],
            reads_light: false,
        };
        let cfg = PreprocessConfig {
            model_width: 16,
            model_height: 8,
            color_space: spec.color_space,
            depth_scale: spec.depth_scale,
            edges: EdgeParams::default(),
        };
        (spec, cfg)
    }

    /// Full strength, no temporal accumulation; cinematic (`synchronous`) or realtime with no
    /// automatic cuts.
    fn test_settings(synchronous: bool) -> FrameSettings {
        FrameSettings {
            strength: 1.0,
            temporal_alpha: 1.0,
            upsample_eps: CompositeParams::default().upsample_eps,
            cut_threshold: if synchronous { 1.0 } else { f32::INFINITY },
            synchronous,
            profile: false,
            caller_reset: false,
        }
    }

    /// A model's answer to `job`: `f` of each value of its colour planes (the first 3 of `plane`
    /// values each).
    fn answer(job: InferenceJob, plane: usize, f: impl Fn(f32) -> f32) -> InferenceResult {
        let mut rgb = job.rgb;
        rgb.clear();
        rgb.extend(job.arena[..3 * plane].iter().map(|&v| f(v)));
        InferenceResult {
            frame_index: job.frame_index,
            status: Ok(()),
            rgb,
            arena: job.arena,
            ms: 0.0,
            diffusion: None,
            ridge_scale: 1.0,
            upsample_edges: EdgeWeights::OFF,
        }
    }

    /// The CPU backend, with `composite` failing on the frames listed.
    struct Failing {
        inner: CpuPasses,
        fail_on: Vec<u64>,
        frame: u64,
    }

    impl FramePasses for Failing {
        fn backend(&self) -> Backend {
            self.inner.backend()
        }
        fn layout(&self) -> &TensorLayout {
            self.inner.layout()
        }
        fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
            self.frame += 1;
            self.inner.upload(frame)
        }
        fn preprocess(&mut self, slot: usize, ring: usize) -> Result<()> {
            self.inner.preprocess(slot, ring)
        }
        fn warp_look(&mut self, ring: usize) -> Result<()> {
            self.inner.warp_look(ring)
        }
        fn pack(&mut self, o: &[usize], s: usize, l: bool, a: &mut Vec<f32>) -> Result<()> {
            self.inner.pack(o, s, l, a)
        }
        fn set_look(&mut self, rgb: &[f32]) -> Result<()> {
            self.inner.set_look(rgb)
        }
        fn composite(
            &mut self,
            frame: &FrameRef<'_>,
            params: &CompositeParams,
            reset: bool,
            out: &mut Vec<u8>,
        ) -> Result<()> {
            if self.fail_on.contains(&(self.frame - 1)) {
                return Err(Error::gpu("test: the composite pass failed", "none"));
            }
            self.inner.composite(frame, params, reset, out)
        }
        fn read_output(&mut self, out: &mut Vec<u8>) -> Result<()> {
            self.inner.read_output(out)
        }
        fn flush(&mut self, wait: bool) -> Result<()> {
            self.inner.flush(wait)
        }
    }

    /// A synchronous model that brightens its input frame's colour a little.
    struct Brighten {
        result: Option<InferenceResult>,
        plane: usize,
    }

    impl InferenceLink for Brighten {
        fn idle(&self) -> bool {
            self.result.is_none()
        }
        fn send(&mut self, job: InferenceJob) -> Result<()> {
            self.result = Some(answer(job, self.plane, |v| (v + 0.1).min(1.0)));
            Ok(())
        }
        fn receive(&mut self, _wait: bool) -> Option<InferenceResult> {
            self.result.take()
        }
    }

    #[test]
    fn a_failing_pass_is_an_error_and_the_frame_is_not_enhanced() {
        let (spec, cfg) = tiny_model();
        let passes = Failing {
            inner: CpuPasses::new(&spec, cfg, MOTION_HISTORY).unwrap(),
            fail_on: vec![1],
            frame: 0,
        };
        let mut engine = Engine::with_passes(Box::new(passes), spec);
        let (w, h) = (32u32, 16u32);
        let frame = OwnedFrame {
            width: w,
            height: h,
            format: ColorFormat::Rgba8Srgb,
            color: (0..w * h * 4).map(|i| (i % 200) as u8).collect(),
            ..Default::default()
        };
        let mut link = Brighten {
            result: None,
            plane: 16 * 8,
        };
        let settings = test_settings(true);
        for i in 0..3u64 {
            let mut out = OutputFrame::default();
            let mut t = FrameTimings::default();
            let r = engine.process(
                &frame.as_frame_ref(),
                i,
                &settings,
                &mut link,
                &mut out,
                &mut t,
            );
            if i == 1 {
                let e = r.expect_err("the failing composite must fail the frame");
                assert!(e.to_string().contains("composite pass failed"), "{e}");
                assert!(!out.enhanced, "a failed frame is never marked enhanced");
            } else {
                r.unwrap();
                assert!(out.enhanced, "frame {i}");
                assert_ne!(
                    out.data, frame.color,
                    "frame {i}: the model's look is shown"
                );
            }
        }
    }

    /// An asynchronous identity model whose jobs finish between frames (`tick`), as the inference
    /// thread's do when it is faster than the frame loop: the next frame finds the link idle and
    /// the result waiting, the moment that frame both folds in the last job and packs a new one.
    struct FinishedNextFrame {
        running: Option<InferenceResult>,
        finished: Option<InferenceResult>,
        plane: usize,
    }

    impl FinishedNextFrame {
        fn tick(&mut self) {
            if let Some(r) = self.running.take() {
                self.finished = Some(r);
            }
        }
    }

    impl InferenceLink for FinishedNextFrame {
        fn idle(&self) -> bool {
            self.running.is_none()
        }
        fn send(&mut self, job: InferenceJob) -> Result<()> {
            self.running = Some(answer(job, self.plane, |v| v));
            Ok(())
        }
        fn receive(&mut self, _wait: bool) -> Option<InferenceResult> {
            self.finished.take()
        }
    }

    /// Realtime: a result is folded in with the model input of the frame it was computed from,
    /// not the input of a frame packed since. With an identity model the look is then no change,
    /// so every enhanced frame is its input exactly, however the picture changes.
    #[test]
    fn realtime_results_keep_the_input_they_were_computed_from() {
        let (spec, cfg) = tiny_model();
        let passes = CpuPasses::new(&spec, cfg, MOTION_HISTORY).unwrap();
        let mut engine = Engine::with_passes(Box::new(passes), spec);
        let mut link = FinishedNextFrame {
            running: None,
            finished: None,
            plane: 16 * 8,
        };
        let settings = test_settings(false);
        let (w, h) = (32u32, 16u32);
        let mut enhanced = 0;
        for i in 0..6u32 {
            // A pattern that moves 3 pixels per frame (no motion vectors: nothing says so).
            let frame = OwnedFrame {
                width: w,
                height: h,
                format: ColorFormat::Rgba8Srgb,
                color: (0..w * h * 4)
                    .map(|k| {
                        let x = (k / 4) % w;
                        if k % 4 == 3 {
                            255
                        } else {
                            ((x + 3 * i) * 37 % 200 + 20) as u8
                        }
                    })
                    .collect(),
                ..Default::default()
            };
            link.tick();
            let mut out = OutputFrame::default();
            let mut t = FrameTimings::default();
            engine
                .process(
                    &frame.as_frame_ref(),
                    i as u64,
                    &settings,
                    &mut link,
                    &mut out,
                    &mut t,
                )
                .unwrap();
            if out.enhanced {
                enhanced += 1;
                assert!(
                    out.data == frame.color,
                    "frame {i}: the identity look changed the frame"
                );
            }
        }
        assert!(enhanced >= 4, "{enhanced} enhanced frames");
    }
}
