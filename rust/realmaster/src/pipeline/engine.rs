//! The per-frame GPU work of a session with a model: preprocess into the window, pack the model's
//! tensors, hand them to inference, fold results back in (reprojected to the current frame), composite.
//! Runs on the session's frame thread; inference runs elsewhere (see worker.rs).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::FrameRef;
use crate::gpu::composite::{CompositeParams, Compositor};
use crate::gpu::kernel::{map_and_read_f32_into, map_and_read_into, GpuImage};
use crate::gpu::model_io::ModelIo;
use crate::gpu::preprocess::{
    InputRole, ModelColorSpace, ModelResImages, Packer, PreprocessConfig, Preprocessor,
    TensorLayout,
};
use crate::gpu::GpuContext;

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
    ctx: GpuContext,
    spec: ModelSpec,
    pre: Preprocessor,
    packer: Packer,
    comp: Compositor,
    io: ModelIo,
    slots: Vec<ModelResImages>,
    window: Window,
    motion_ring: Vec<(Option<u64>, GpuImage)>,
    look_out: GpuImage,
    look_in: GpuImage,
    scratch: GpuImage,
    /// The motion a warp step uses, copied from the motion history first: the reprojection then binds
    /// the same three buffers every time (look, this, scratch), so its bind groups are made once.
    /// Binding the history slots and ping-ponged look buffers directly made ~4 new bind groups and
    /// uniform buffers per frame (more combinations than the cache holds), which leaked driver memory
    /// on lavapipe (~1 MB per frame at a 128x64 model size).
    warp_motion: GpuImage,
    look_valid: bool,
    look_frame: u64,
    inflight_in: GpuImage,
    out_lin: GpuImage,
    in_lin: GpuImage,
    result_buf: wgpu::Buffer,
    arena_staging: wgpu::Buffer,
    /// Host buffers lent to the inference thread with each job and returned with its result.
    spare_arena: Vec<f32>,
    spare_rgb: Vec<f32>,
    output_staging: Option<(wgpu::Buffer, u64)>,
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

fn image4(ctx: &GpuContext, label: &str, spec: &ModelSpec) -> GpuImage {
    GpuImage::new(&ctx.device, label, spec.width, spec.height, 4)
}

impl Engine {
    pub fn new(ctx: GpuContext, spec: ModelSpec) -> Result<Self> {
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
        let range = spec.range;
        let pre = Preprocessor::new(&ctx, cfg)?;
        let packer = Packer::new(&ctx, &cfg, spec.window, &spec.roles)?;
        let comp = Compositor::new(&ctx);
        let io = ModelIo::new(&ctx);
        let slots = (0..spec.window)
            .map(|_| ModelResImages::new(&ctx.device, &cfg))
            .collect();
        let motion_ring = (0..MOTION_HISTORY)
            .map(|_| (None, image4(&ctx, "motion history", &spec)))
            .collect();
        let plane = (spec.width * spec.height) as u64;
        let result_buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("model output"),
            size: plane * 3 * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let arena_staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tensor staging"),
            size: packer.layout().total_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Engine {
            look_out: image4(&ctx, "look out", &spec),
            look_in: image4(&ctx, "look in", &spec),
            scratch: image4(&ctx, "look scratch", &spec),
            warp_motion: image4(&ctx, "warp motion", &spec),
            inflight_in: image4(&ctx, "inflight input", &spec),
            out_lin: image4(&ctx, "out linear", &spec),
            in_lin: image4(&ctx, "in linear", &spec),
            window: Window::new(spec.window as usize),
            ctx,
            spec,
            pre,
            packer,
            comp,
            io,
            slots,
            motion_ring,
            look_valid: false,
            look_frame: 0,
            result_buf,
            arena_staging,
            spare_arena: Vec::new(),
            spare_rgb: Vec::new(),
            output_staging: None,
            last_thumb: None,
            last_size: None,
            shot_start: 0,
            resets: 0,
            last_reset: None,
            shown_frame: None,
            model_faults: 0,
            range,
        })
    }

    pub fn layout(&self) -> &TensorLayout {
        self.packer.layout()
    }

    pub fn gpu(&self) -> &GpuContext {
        &self.ctx
    }

    fn reset(&mut self, reason: ResetReason, frame_index: u64) {
        self.window.reset();
        self.look_valid = false;
        self.shot_start = frame_index;
        for m in &mut self.motion_ring {
            m.0 = None;
        }
        self.resets += 1;
        self.last_reset = Some(reason);
        log::debug!("window reset at frame {frame_index}: {reason:?}");
    }

    fn sync(&self, enc: wgpu::CommandEncoder, wait: bool) -> Result<wgpu::CommandEncoder> {
        self.ctx.queue.submit([enc.finish()]);
        if wait {
            self.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| {
                    Error::gpu(
                        format!("GPU wait failed ({e})"),
                        "the device was lost; restart the session",
                    )
                })?;
        }
        Ok(self.ctx.device.create_command_encoder(&Default::default()))
    }

    /// Warp both look images one frame forward with `motion`.
    /// Fixed buffers only (no swaps): see `warp_motion`.
    fn warp_look(&mut self, enc: &mut wgpu::CommandEncoder, motion_slot: usize) {
        let bytes = self.warp_motion.size_bytes();
        enc.copy_buffer_to_buffer(
            &self.motion_ring[motion_slot].1.buffer,
            0,
            &self.warp_motion.buffer,
            0,
            bytes,
        );
        for look in [&self.look_out, &self.look_in] {
            self.comp
                .record_reproject(&self.ctx, enc, look, &self.warp_motion, &self.scratch);
            enc.copy_buffer_to_buffer(&self.scratch.buffer, 0, &look.buffer, 0, bytes);
        }
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

        self.pre.upload(&self.ctx, frame)?;
        lap.stage(&mut t.upload_ms);

        let slot = self.window.push();
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        self.pre.record(&self.ctx, &mut enc, &self.slots[slot])?;
        let ring = (frame_index % MOTION_HISTORY as u64) as usize;
        enc.copy_buffer_to_buffer(
            &self.slots[slot].motion.buffer,
            0,
            &self.motion_ring[ring].1.buffer,
            0,
            self.slots[slot].motion.size_bytes(),
        );
        self.motion_ring[ring].0 = Some(frame_index);
        if self.look_valid && self.look_frame < frame_index {
            self.warp_look(&mut enc, ring);
            self.look_frame = frame_index;
        }
        enc = self.sync(enc, settings.profile)?;
        lap.stage(&mut t.preprocess_ms);

        // Launch an inference for this frame when the model is free (always, when synchronous).
        if settings.synchronous || link.idle() {
            let order = self.window.ordered();
            let window: Vec<&ModelResImages> = order.iter().map(|&i| &self.slots[i]).collect();
            let prev = if self.look_valid {
                &self.look_out
            } else {
                &self.slots[slot].color
            };
            self.packer
                .record(&self.ctx, &mut enc, &window, &self.slots[slot], prev)?;
            let arena_bytes = self.packer.layout().total_bytes;
            enc.copy_buffer_to_buffer(self.packer.arena(), 0, &self.arena_staging, 0, arena_bytes);
            enc.copy_buffer_to_buffer(
                &self.slots[slot].color.buffer,
                0,
                &self.inflight_in.buffer,
                0,
                self.inflight_in.size_bytes(),
            );
            self.ctx.queue.submit([enc.finish()]);
            let mut arena = std::mem::take(&mut self.spare_arena);
            map_and_read_f32_into(
                &self.ctx.device,
                &self.arena_staging,
                arena_bytes,
                &mut arena,
            )?;
            enc = self.ctx.device.create_command_encoder(&Default::default());
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
            // write_buffer copies at once, so the vector goes straight back to the pool.
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
                self.ctx.queue.write_buffer(
                    &self.result_buf,
                    0,
                    bytemuck::cast_slice(&self.spare_rgb),
                );
                self.io
                    .record_unpack(&self.ctx, &mut enc, &self.result_buf, 0, &self.look_out);
                enc.copy_buffer_to_buffer(
                    &self.inflight_in.buffer,
                    0,
                    &self.look_in.buffer,
                    0,
                    self.look_in.size_bytes(),
                );
                for f in result.frame_index + 1..=frame_index {
                    let r = (f % MOTION_HISTORY as u64) as usize;
                    if self.motion_ring[r].0 == Some(f) {
                        self.warp_look(&mut enc, r);
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
            self.ctx.queue.submit([enc.finish()]);
            return Ok(());
        }

        let srgb = matches!(self.spec.color_space, ModelColorSpace::Srgb);
        self.io
            .record_to_linear(&self.ctx, &mut enc, &self.look_out, &self.out_lin, srgb);
        self.io
            .record_to_linear(&self.ctx, &mut enc, &self.look_in, &self.in_lin, srgb);
        let frame_images = self
            .pre
            .frame()
            .ok_or_else(|| Error::Internal("frame images missing after upload".into()))?;
        let params = CompositeParams {
            strength: settings.strength,
            temporal_alpha: settings.temporal_alpha,
            ..Default::default()
        };
        let reset_history = reason.is_some();
        self.comp.record_composite(
            &self.ctx,
            &mut enc,
            frame_images,
            &self.out_lin,
            &self.in_lin,
            &params,
            reset_history,
        );
        self.comp.record_encode(
            &self.ctx,
            &mut enc,
            frame_images,
            frame.format,
            settings.strength,
        );
        let len = self.comp.output_len_bytes();
        let staging = match &self.output_staging {
            Some((b, l)) if *l == len => b.clone(),
            _ => {
                let b = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("output staging"),
                    size: len,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.output_staging = Some((b.clone(), len));
                b
            }
        };
        if settings.profile {
            enc = self.sync(enc, true)?;
            lap.stage(&mut t.composite_ms);
        }
        enc.copy_buffer_to_buffer(self.comp.output_buffer(), 0, &staging, 0, len);
        self.ctx.queue.submit([enc.finish()]);
        // Straight into the caller's reused output buffer.
        map_and_read_into(&self.ctx.device, &staging, len, &mut out.data)?;
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
