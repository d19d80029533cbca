//! Compositing: model output (model resolution) → photoreal full-resolution frame in the engine's
//! colour format. Passes, one WGSL file each (CPU references in `crate::reference`):
//!
//! 1. `guided_coeffs.wgsl` then `guided_upsample.wgsl`: a guided filter of the model residual, fitted
//!    at model size and applied to the full-res input (`current = input + residual`).
//! 2. `temporal.wgsl`: accumulate the RESIDUAL `current - input` with the reprojected history
//!    (neighbourhood clamps, depth rejection). Only the model's look is accumulated: the engine's own
//!    content is never delayed, so an identity model gives back exactly the input even when the
//!    picture changes with no motion vectors (video, cuts the caller does not flag, format changes).
//! 3. `blend.wgsl`: `input + strength * residual`, encoded for readback.
//!
//! `reproject.wgsl` is also exposed on its own to carry a model output forward to a later frame.
//!
//! Every `record_*` returns a `Result`: a shape problem records nothing and is returned, never
//! panics, and the caller shows the untouched frame (the session reports it once and counts the frame
//! as failed, not enhanced).

mod passes;

use crate::error::{Error, Result};
use crate::frame::ColorFormat;
use crate::gpu::context::GpuContext;
use crate::gpu::frame_images::FrameImages;
use crate::gpu::kernel::GpuImage;
use crate::reference::guided_upsample::clamp_eps;

use passes::{
    BlendUniform, Passes, ReprojectUniform, TemporalUniform, UpsampleUniform, DEPTH_TEST,
    HAS_MOTION, HISTORY_VALID,
};

/// Compositing parameters. Out-of-range values are clamped when recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompositeParams {
    /// Blend of the result over the input, 0 (input) ..= 1 (result). Default 1.
    pub strength: f32,
    /// Weight of the current frame's residual in the temporal accumulation where history is valid,
    /// 0..=1 (1 = no accumulation). Default 0.15: noise variance drops ~12x at rest, ~7 frames to adapt.
    pub temporal_alpha: f32,
    /// History is rejected where the previous depth differs from the current one by more than this
    /// fraction of the current depth. Default 0.1.
    pub depth_reject: f32,
    /// Regulariser of the guided upsample's per-neighbourhood fit (on perceptual colour
    /// `sqrt(c / (1 + c))`, 0 black .. 0.71 white): where the model-size input varies by less than
    /// about `sqrt(eps)` the residual is flattened to its neighbourhood mean instead of following
    /// the input. Smaller = the residual follows finer input detail. Clamped to 1e-6..=1. Default 1e-3.
    pub upsample_eps: f32,
    /// Neighbourhood clamp half-width in standard deviations (YCoCg, 3x3), also bounded by the
    /// neighbourhood min/max; the history residual is further bounded by the current residual's 3x3
    /// min/max widened by this many of its own standard deviations. Larger = less flicker, more
    /// ghosting risk. Default 1.25.
    pub clamp_k: f32,
}

impl Default for CompositeParams {
    fn default() -> Self {
        CompositeParams {
            strength: 1.0,
            temporal_alpha: 0.15,
            depth_reject: 0.1,
            upsample_eps: 1e-3,
            clamp_k: 1.25,
        }
    }
}

fn finite_or(v: f32, default: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        default
    }
}

impl CompositeParams {
    /// The values the passes actually use: ranges clamped, non-finite values replaced by safe ones
    /// (strength 0 = input, temporal_alpha 1 = no history, the defaults for the rest).
    pub fn sanitized(&self) -> Self {
        let d = CompositeParams::default();
        CompositeParams {
            strength: finite_or(self.strength, 0.0).clamp(0.0, 1.0),
            temporal_alpha: finite_or(self.temporal_alpha, 1.0).clamp(0.0, 1.0),
            depth_reject: finite_or(self.depth_reject, d.depth_reject).max(0.0),
            upsample_eps: clamp_eps(finite_or(self.upsample_eps, d.upsample_eps)),
            clamp_k: finite_or(self.clamp_k, d.clamp_k).max(0.0),
        }
    }
}

/// Full-resolution images owned by the compositor, reallocated only on a resolution change.
struct FullRes {
    width: u32,
    height: u32,
    /// This frame's upsampled result, input + residual (before temporal accumulation).
    current: GpuImage,
    /// Ping-pong accumulated residuals (linear rgb, alpha 1); `history[latest]` is the newest.
    history: [GpuImage; 2],
    latest: usize,
    history_valid: bool,
    /// The previous frame's depth (copied: the frame's own depth image is refilled every frame).
    depth_prev: GpuImage,
    depth_prev_valid: bool,
}

impl FullRes {
    fn new(device: &wgpu::Device, width: u32, height: u32) -> Self {
        FullRes {
            width,
            height,
            current: GpuImage::new(device, "composite current", width, height, 4),
            history: [
                GpuImage::new(device, "composite history 0", width, height, 4),
                GpuImage::new(device, "composite history 1", width, height, 4),
            ],
            latest: 0,
            history_valid: false,
            depth_prev: GpuImage::new(device, "composite previous depth", width, height, 1),
            depth_prev_valid: false,
        }
    }
}

/// The compositor: kernels, full-res history and the encoded output buffer.
pub struct Compositor {
    passes: Passes,
    /// Stand-ins bound where an optional input (motion, depth) is absent.
    dummy: wgpu::Buffer,
    full: FullRes,
    output: wgpu::Buffer,
    output_capacity: u64,
    output_len: u64,
    /// The guided upsample's fit: 3 vec4 per model pixel (stored as a 4-channel image 3x as wide),
    /// reallocated when the model size changes.
    coeffs: GpuImage,
}

/// A compositing input of the wrong shape or size.
fn shape_error(problem: String) -> Error {
    Error::gpu(
        format!("compositor: {problem}"),
        "pass the compositor images of the sizes its record_* functions document (the session builds them that way)",
    )
}

fn output_buffer(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("composite output"),
        size: size.max(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

impl Compositor {
    /// Compile the kernels; full-res buffers are allocated on the first frame.
    pub fn new(ctx: &GpuContext) -> Self {
        let d = &ctx.device;
        Compositor {
            passes: Passes::new(ctx),
            dummy: GpuImage::new(d, "composite dummy", 1, 1, 4).buffer,
            full: FullRes::new(d, 1, 1),
            output: output_buffer(d, 16),
            output_capacity: 16,
            output_len: 0,
            coeffs: GpuImage::new(d, "guided upsample coefficients", 0, 0, 4),
        }
    }

    fn fits(ctx: &GpuContext, img: &GpuImage) -> bool {
        img.size_bytes() <= ctx.device.limits().max_storage_buffer_binding_size
    }

    /// Reproject `src` into `dst` with `motion` (same size as `dst`, xy in `dst` pixels, current →
    /// previous): `dst(p) = bilinear(src, p + motion(p))`, `src` scaled to `dst`'s size if it differs.
    /// Off-screen samples get alpha 0 and the clamp-to-edge colour. All images 4-channel.
    /// On a shape mismatch nothing is recorded (dst keeps its contents) and the problem is returned.
    pub fn record_reproject(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        src: &GpuImage,
        motion: &GpuImage,
        dst: &GpuImage,
    ) -> Result<()> {
        if src.channels != 4
            || motion.channels != 4
            || dst.channels != 4
            || src.width == 0
            || src.height == 0
        {
            return Err(shape_error(format!(
                "reproject needs non-empty 4-channel images (src {}ch, motion {}ch, dst {}ch)",
                src.channels, motion.channels, dst.channels
            )));
        }
        if !motion.same_shape(dst.width, dst.height, 4) {
            return Err(shape_error(format!(
                "reproject motion is {}x{} but dst is {}x{}",
                motion.width, motion.height, dst.width, dst.height
            )));
        }
        if !Self::fits(ctx, src) || !Self::fits(ctx, dst) {
            return Err(shape_error(format!(
                "reproject images {}x{} exceed the GPU's storage binding limit",
                dst.width, dst.height
            )));
        }
        let u = ReprojectUniform {
            src_width: src.width,
            src_height: src.height,
            dst_width: dst.width,
            dst_height: dst.height,
        };
        self.passes
            .reproject(ctx, enc, u, [&src.buffer, &motion.buffer, &dst.buffer]);
        Ok(())
    }

    /// Whether `frame`'s images agree with its size (the preprocessor builds them that way).
    fn frame_ok(frame: &FrameImages) -> std::result::Result<(), String> {
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 || !frame.color.same_shape(w, h, 4) {
            return Err(format!(
                "frame {w}x{h} has a {}x{}x{} colour image",
                frame.color.width, frame.color.height, frame.color.channels
            ));
        }
        if frame.depth.as_ref().is_some_and(|d| !d.same_shape(w, h, 1)) {
            return Err(format!("frame {w}x{h} has a depth image of another size"));
        }
        if frame
            .motion
            .as_ref()
            .is_some_and(|m| !m.same_shape(w, h, 4))
        {
            return Err(format!("frame {w}x{h} has a motion image of another size"));
        }
        Ok(())
    }

    /// Full composite of one frame up to the linear result (before blending): `record_upsample`
    /// then `record_temporal`. `reset_history`: camera cut, first frame; a resolution change resets
    /// by itself. The accumulated residual is `residual()`; call `record_encode` next for the
    /// engine's format. On an error nothing is recorded and the history is dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn record_composite(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        out_lr_linear: &GpuImage,
        in_lr_linear: &GpuImage,
        params: &CompositeParams,
        reset_history: bool,
    ) -> Result<()> {
        self.record_upsample(ctx, enc, frame, out_lr_linear, in_lr_linear, params)?;
        self.record_temporal(ctx, enc, frame, params, reset_history)
    }

    /// Check `frame` and (re)allocate the full-resolution images for its size.
    fn prepare(&mut self, ctx: &GpuContext, frame: &FrameImages) -> Result<()> {
        let checked = Self::frame_ok(frame).and_then(|()| {
            if Self::fits(ctx, &frame.color) {
                Ok(())
            } else {
                Err(format!(
                    "frame {}x{} exceeds the GPU's storage binding limit",
                    frame.width, frame.height
                ))
            }
        });
        if let Err(problem) = checked {
            self.full.history_valid = false;
            return Err(shape_error(problem));
        }
        let (w, h) = (frame.width, frame.height);
        if self.full.width != w || self.full.height != h {
            // The cached bind groups hold the old images (and the frame's, which change with them).
            self.passes.forget_bindings();
            self.full = FullRes::new(&ctx.device, w, h);
        }
        Ok(())
    }

    /// Guided upsample of `out_lr_linear - in_lr_linear` (model size, 4-channel linear;
    /// `out_lr_linear` alpha is a validity weight) onto `frame.color`: this frame's result before
    /// temporal accumulation, `input + residual`.
    pub fn record_upsample(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        out_lr_linear: &GpuImage,
        in_lr_linear: &GpuImage,
        params: &CompositeParams,
    ) -> Result<()> {
        let lr_ok = out_lr_linear.channels == 4
            && out_lr_linear.width > 0
            && out_lr_linear.height > 0
            && in_lr_linear.same_shape(out_lr_linear.width, out_lr_linear.height, 4);
        if !lr_ok {
            self.full.history_valid = false;
            return Err(shape_error(format!(
                "model images must both be 4-channel and the same size (output {}x{}x{}, input {}x{}x{})",
                out_lr_linear.width, out_lr_linear.height, out_lr_linear.channels, in_lr_linear.width, in_lr_linear.height, in_lr_linear.channels
            )));
        }
        self.prepare(ctx, frame)?;
        let params = params.sanitized();
        let (lw, lh) = (out_lr_linear.width, out_lr_linear.height);
        if self.coeffs.width != lw * 3 || self.coeffs.height != lh {
            self.coeffs = GpuImage::new(&ctx.device, "guided upsample coefficients", lw * 3, lh, 4);
        }
        let u = UpsampleUniform {
            lr_width: lw,
            lr_height: lh,
            width: frame.width,
            height: frame.height,
            eps: params.upsample_eps,
            _pad: [0; 3],
        };
        let bufs = [
            &frame.color.buffer,
            &out_lr_linear.buffer,
            &in_lr_linear.buffer,
            &self.coeffs.buffer,
            &self.full.current.buffer,
        ];
        self.passes.upsample(ctx, enc, u, bufs);
        Ok(())
    }

    /// Temporal accumulation of this frame's residual (`record_upsample`'s result minus the input)
    /// with the reprojected history into the other history image, then swap; keeps the frame's
    /// depth for the next frame's disocclusion test.
    pub fn record_temporal(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        params: &CompositeParams,
        reset_history: bool,
    ) -> Result<()> {
        let resized = self.full.width != frame.width || self.full.height != frame.height;
        self.prepare(ctx, frame)?;
        if resized {
            return Err(shape_error(format!(
                "record_temporal for {}x{} without an upsample of that size",
                frame.width, frame.height
            )));
        }
        let params = params.sanitized();
        let (w, h) = (frame.width, frame.height);
        let full = &mut self.full;
        let history_valid = full.history_valid && !reset_history;
        let mut flags = if history_valid { HISTORY_VALID } else { 0 };
        if frame.motion.is_some() {
            flags |= HAS_MOTION;
        }
        if frame.depth.is_some() && full.depth_prev_valid {
            flags |= DEPTH_TEST;
        }
        let u = TemporalUniform {
            width: w,
            height: h,
            flags,
            _pad0: 0,
            alpha: params.temporal_alpha,
            depth_reject: params.depth_reject,
            clamp_k: params.clamp_k,
            _pad1: 0,
        };
        let (prev, next) = (full.latest, 1 - full.latest);
        let motion = frame.motion.as_ref().map_or(&self.dummy, |m| &m.buffer);
        let depth = frame.depth.as_ref().map_or(&self.dummy, |d| &d.buffer);
        let bufs = [
            &full.current.buffer,
            &frame.color.buffer,
            &full.history[prev].buffer,
            motion,
            depth,
            &full.depth_prev.buffer,
            &full.history[next].buffer,
        ];
        self.passes.temporal(ctx, enc, u, bufs);
        full.latest = next;
        full.history_valid = true;

        match &frame.depth {
            Some(d) => {
                enc.copy_buffer_to_buffer(&d.buffer, 0, &full.depth_prev.buffer, 0, d.size_bytes());
                full.depth_prev_valid = true;
            }
            None => full.depth_prev_valid = false,
        }
        Ok(())
    }

    /// Add the accumulated residual to `frame.color` (`input + strength * residual`; `strength` 0 =
    /// input exactly, 1 = input + residual) and encode to `format` into `output_buffer()` (tight rows,
    /// `output_len_bytes()` long; alpha from the input). Needs a composite of this frame's size
    /// first; without one nothing is recorded and `output_len_bytes()` is 0.
    pub fn record_encode(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        format: ColorFormat,
        strength: f32,
    ) -> Result<()> {
        self.output_len = 0;
        Self::frame_ok(frame).map_err(shape_error)?;
        let (w, h) = (frame.width, frame.height);
        let len = w as u64 * h as u64 * format.bytes_per_pixel() as u64;
        if len > ctx.device.limits().max_storage_buffer_binding_size {
            return Err(shape_error(format!(
                "encoded output of {w}x{h} exceeds the GPU's storage binding limit"
            )));
        }
        if !(self.full.history_valid && self.full.width == w && self.full.height == h) {
            return Err(shape_error(format!(
                "record_encode called for {w}x{h} without a composite of that size"
            )));
        }
        if len > self.output_capacity {
            self.passes.forget_bindings();
            self.output = output_buffer(&ctx.device, len);
            self.output_capacity = len;
        }
        self.output_len = len;
        let residual = &self.full.history[self.full.latest].buffer;
        let strength = finite_or(strength, 0.0).clamp(0.0, 1.0);
        let u = BlendUniform {
            width: w,
            height: h,
            format: format.shader_id(),
            _pad0: 0,
            strength,
            _pad1: [0; 3],
        };
        self.passes
            .blend(ctx, enc, u, [&frame.color.buffer, residual, &self.output]);
        Ok(())
    }

    /// Encoded frame from the last `record_encode` (STORAGE | COPY_SRC; may be larger than the frame).
    pub fn output_buffer(&self) -> &wgpu::Buffer {
        &self.output
    }

    /// Bytes of the encoded frame at the start of `output_buffer()` (width x height x bytes per pixel).
    pub fn output_len_bytes(&self) -> u64 {
        self.output_len
    }

    /// The temporally accumulated model residual (linear rgb, alpha 1, full resolution): what
    /// `record_encode` adds to the input, scaled by strength. Not the composited picture: that is
    /// `input + residual`. Same as `result()`.
    pub fn residual(&self) -> &GpuImage {
        &self.full.history[self.full.latest]
    }

    /// Alias of `residual()`, kept for existing callers: the accumulated residual, not the picture.
    pub fn result(&self) -> &GpuImage {
        self.residual()
    }

    /// Forget the history; the next composite starts fresh (same as `reset_history = true`).
    pub fn reset(&mut self) {
        self.full.history_valid = false;
        self.full.depth_prev_valid = false;
    }
}
