//! Compositing: model output (model resolution) → photoreal full-resolution frame in the engine's
//! colour format. Passes, one WGSL file each (CPU references in `crate::reference`):
//!
//! 1. `temporal.wgsl` at model size: accumulate the model's RESIDUAL `out - input` with the
//!    reprojected history (neighbourhood clamps, depth rejection); `accumulated_look.wgsl` then
//!    forms the accumulated look `input + history`. Only the model's look is accumulated: the
//!    engine's own content is never delayed, so an identity model gives back exactly the input even
//!    when the picture changes with no motion vectors (video, cuts the caller does not flag, format
//!    changes).
//! 2. `guided_coeffs.wgsl` then `guided_upsample.wgsl`: a guided filter of the accumulated look's
//!    residual, fitted at model size and applied to the full-res input: the full-resolution
//!    residual. Its edges are this frame's own, so nothing at full resolution lags behind.
//! 3. `blend.wgsl`: `input + strength * residual`, encoded for readback.
//!
//! Accumulating at model size instead of full resolution smooths the model's flicker where it
//! arises (the residual's detail finer than the model's pixels comes from this frame through the
//! guided filter) on an image 30-60x smaller than the frame (README, "Speed").
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
use crate::reference::guided_upsample::{clamp_eps, EdgeWeights};

use passes::{
    BlendUniform, LookUniform, Passes, ReprojectUniform, TemporalUniform, UpsampleUniform,
    DEPTH_TEST, HAS_MOTION, HISTORY_VALID,
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
    /// The guided upsample's edge-aware fit (reference/guided_upsample.rs): off the model input's
    /// edges the ridge pulls toward the look's own gain by `pull` (fine texture is scaled as the
    /// look scales the brightness), on them it is `edge_ridge` times `upsample_eps` (the engine's
    /// edges keep their contrast). A model package states it per prompt (manifest `upsample`
    /// `edge_ridge` and `edge_aware`). Default `EdgeWeights::OFF` (the plain fit).
    pub upsample_edges: EdgeWeights,
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
            upsample_eps: crate::reference::guided_upsample::DEFAULT_EPS,
            upsample_edges: EdgeWeights::OFF,
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
            upsample_edges: self.upsample_edges.sanitized(),
            clamp_k: finite_or(self.clamp_k, d.clamp_k).max(0.0),
        }
    }
}

/// The model's look at model size, as the compositor reads it (all images the model's size).
pub struct LookImages<'a> {
    /// The model's output, linear RGB; alpha a validity weight (0 where a carried-forward look left
    /// the picture). 4 channels.
    pub out: &'a GpuImage,
    /// The model's input colour the output was computed from, linear RGB. 4 channels.
    pub input: &'a GpuImage,
    /// This frame's motion in model pixels (current -> previous) in xy; None = static. 4 channels.
    pub motion: Option<&'a GpuImage>,
    /// This frame's view depth at model size (not encoded); None = no disocclusion test. 1 channel.
    pub depth: Option<&'a GpuImage>,
    /// The model input's 0/1 edges (the plane the network reads), 1 channel; the guided upsample's
    /// edge-aware fit reads it (`CompositeParams::upsample_edges`). None = not edge-aware.
    pub edges: Option<&'a GpuImage>,
}

/// Model-size images owned by the compositor, reallocated only when the model size changes.
struct ModelRes {
    width: u32,
    height: u32,
    /// Ping-pong accumulated residuals (linear rgb, alpha 1); `history[latest]` is the newest.
    history: [GpuImage; 2],
    latest: usize,
    history_valid: bool,
    /// The previous frame's model-size depth.
    depth_prev: GpuImage,
    depth_prev_valid: bool,
    /// The accumulated look the guided upsample fits: input + accumulated residual, the model's
    /// validity alpha.
    look: GpuImage,
}

impl ModelRes {
    fn new(device: &wgpu::Device, width: u32, height: u32) -> Self {
        let img = |label, c| GpuImage::new(device, label, width, height, c);
        ModelRes {
            width,
            height,
            history: [img("look history 0", 4), img("look history 1", 4)],
            latest: 0,
            history_valid: false,
            depth_prev: img("look previous depth", 1),
            depth_prev_valid: false,
            look: img("accumulated look", 4),
        }
    }
}

/// Full-resolution image owned by the compositor, reallocated only on a resolution change.
struct FullRes {
    width: u32,
    height: u32,
    /// This frame's upsampled residual (linear rgb, alpha 1): what the encode adds to the input.
    residual: GpuImage,
    /// Whether `residual` holds an upsample of this size (an encode needs one).
    valid: bool,
}

impl FullRes {
    fn new(device: &wgpu::Device, width: u32, height: u32) -> Self {
        FullRes {
            width,
            height,
            residual: GpuImage::new(device, "composite residual", width, height, 4),
            valid: false,
        }
    }
}

/// The compositor: kernels, the model-size history, the full-resolution residual and the encoded
/// output buffer.
pub struct Compositor {
    passes: Passes,
    /// Stand-ins bound where an optional input (motion, depth) is absent.
    dummy: wgpu::Buffer,
    model: ModelRes,
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
    /// Compile the kernels; the images are allocated on the first frame.
    pub fn new(ctx: &GpuContext) -> Self {
        let d = &ctx.device;
        Compositor {
            passes: Passes::new(ctx),
            dummy: GpuImage::new(d, "composite dummy", 1, 1, 4).buffer,
            model: ModelRes::new(d, 0, 0),
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

    /// Full composite of one frame up to the residual the encode adds: `record_temporal` (the
    /// model's look accumulated at model size) then `record_upsample` of the accumulated look onto
    /// the frame. `reset_history`: camera cut, first frame; a model-size change resets by itself.
    /// The result is `residual()`; call `record_encode` next for the engine's format. On an error
    /// nothing more is recorded and the history is dropped.
    pub fn record_composite(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        look: &LookImages<'_>,
        params: &CompositeParams,
        reset_history: bool,
    ) -> Result<()> {
        self.full.valid = false;
        if let Err(e) = self.prepare(ctx, frame) {
            self.model.history_valid = false;
            return Err(e);
        }
        if let Some(e) = look.edges {
            if !e.same_shape(look.out.width, look.out.height, 1) {
                self.model.history_valid = false;
                return Err(shape_error(format!(
                    "the look's edges are {}x{}x{}, not {}x{}x1",
                    e.width, e.height, e.channels, look.out.width, look.out.height
                )));
            }
        }
        self.record_temporal(ctx, enc, look, params, reset_history)?;
        let params = params.sanitized();
        // A handle (the buffer is reference-counted), so the upsample can borrow the compositor.
        let acc = self.model.look.buffer.clone();
        self.upsample_unchecked(ctx, enc, frame, (&acc, look.input), look.edges, &params);
        Ok(())
    }

    /// Check `frame` and (re)allocate the full-resolution residual for its size.
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
            self.full.valid = false;
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

    /// Check the model images and return their size.
    fn look_ok(out: &GpuImage, input: &GpuImage) -> Result<(u32, u32)> {
        let ok = out.channels == 4
            && out.width > 0
            && out.height > 0
            && input.same_shape(out.width, out.height, 4);
        if ok {
            Ok((out.width, out.height))
        } else {
            Err(shape_error(format!(
                "model images must both be 4-channel and the same size (output {}x{}x{}, input {}x{}x{})",
                out.width, out.height, out.channels, input.width, input.height, input.channels
            )))
        }
    }

    /// Guided upsample of `out_lr_linear - in_lr_linear` (model size, 4-channel linear;
    /// `out_lr_linear` alpha is a validity weight) onto `frame.color`: this frame's residual at full
    /// resolution (`residual()`; the picture is `max(input + upsampled, 0)`, so the residual is
    /// that minus the input). No temporal accumulation: `record_composite` runs that first.
    /// `edges`: the model input's edge plane for the edge-aware fit (1 channel, the model's size).
    #[allow(clippy::too_many_arguments)]
    pub fn record_upsample(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        out_lr_linear: &GpuImage,
        in_lr_linear: &GpuImage,
        edges: Option<&GpuImage>,
        params: &CompositeParams,
    ) -> Result<()> {
        self.full.valid = false;
        let (lw, lh) = Self::look_ok(out_lr_linear, in_lr_linear)?;
        if edges.is_some_and(|e| !e.same_shape(lw, lh, 1)) {
            return Err(shape_error(format!("the edge plane is not {lw}x{lh}x1")));
        }
        self.prepare(ctx, frame)?;
        let params = params.sanitized();
        self.upsample_unchecked(
            ctx,
            enc,
            frame,
            (&out_lr_linear.buffer, in_lr_linear),
            edges,
            &params,
        );
        Ok(())
    }

    /// [`record_upsample`](Self::record_upsample) after its checks (`lr`: the output's buffer and
    /// the input image, of the input's size).
    fn upsample_unchecked(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        (out_lr, in_lr): (&wgpu::Buffer, &GpuImage),
        edges: Option<&GpuImage>,
        params: &CompositeParams,
    ) {
        let (lw, lh) = (in_lr.width, in_lr.height);
        if self.coeffs.width != lw * 3 || self.coeffs.height != lh {
            self.coeffs = GpuImage::new(&ctx.device, "guided upsample coefficients", lw * 3, lh, 4);
        }
        let u = UpsampleUniform {
            lr_width: lw,
            lr_height: lh,
            width: frame.width,
            height: frame.height,
            eps: params.upsample_eps,
            // Without an edge plane the fit is not edge-aware.
            edge_ridge: edges.map_or(1.0, |_| params.upsample_edges.edge_ridge),
            edge_pull: edges.map_or(0.0, |_| params.upsample_edges.pull),
            _pad: 0,
        };
        let bufs = [
            &frame.color.buffer,
            out_lr,
            &in_lr.buffer,
            &self.coeffs.buffer,
            &self.full.residual.buffer,
            edges.map_or(&self.dummy, |e| &e.buffer),
        ];
        self.passes.upsample(ctx, enc, u, bufs);
        self.full.valid = true;
    }

    /// Temporal accumulation of the model's residual at model size (`look.out - look.input`) with
    /// the reprojected history into the other history image, then swap; then the accumulated look
    /// (`look.input + history`, `look.out`'s alpha) that the upsample fits. Keeps `look.depth` for
    /// the next frame's disocclusion test. Images of another size than `look.out` are an error
    /// (nothing recorded, history dropped).
    pub fn record_temporal(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        look: &LookImages<'_>,
        params: &CompositeParams,
        reset_history: bool,
    ) -> Result<()> {
        let checked = Self::look_ok(look.out, look.input).and_then(|(w, h)| {
            if look.motion.is_some_and(|m| !m.same_shape(w, h, 4)) {
                return Err(shape_error(format!("the look's motion is not {w}x{h}x4")));
            }
            if look.depth.is_some_and(|d| !d.same_shape(w, h, 1)) {
                return Err(shape_error(format!("the look's depth is not {w}x{h}x1")));
            }
            if !Self::fits(ctx, look.out) {
                return Err(shape_error(format!(
                    "model images {w}x{h} exceed the GPU's storage binding limit"
                )));
            }
            Ok((w, h))
        });
        let (w, h) = match checked {
            Ok(size) => size,
            Err(e) => {
                self.model.history_valid = false;
                return Err(e);
            }
        };
        if self.model.width != w || self.model.height != h {
            self.passes.forget_bindings();
            self.model = ModelRes::new(&ctx.device, w, h);
        }
        let params = params.sanitized();
        let model = &mut self.model;
        let history_valid = model.history_valid && !reset_history;
        let mut flags = if history_valid { HISTORY_VALID } else { 0 };
        if look.motion.is_some() {
            flags |= HAS_MOTION;
        }
        if look.depth.is_some() && model.depth_prev_valid {
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
        let (prev, next) = (model.latest, 1 - model.latest);
        let motion = look.motion.map_or(&self.dummy, |m| &m.buffer);
        let depth = look.depth.map_or(&self.dummy, |d| &d.buffer);
        let bufs = [
            &look.out.buffer,
            &look.input.buffer,
            &model.history[prev].buffer,
            motion,
            depth,
            &model.depth_prev.buffer,
            &model.history[next].buffer,
        ];
        self.passes.temporal(ctx, enc, u, bufs);
        let acc = LookUniform {
            width: w,
            height: h,
            _pad: [0; 2],
        };
        self.passes.accumulated_look(
            ctx,
            enc,
            acc,
            [
                &look.input.buffer,
                &model.history[next].buffer,
                &look.out.buffer,
                &model.look.buffer,
            ],
        );
        model.latest = next;
        model.history_valid = true;

        match look.depth {
            Some(d) => {
                enc.copy_buffer_to_buffer(
                    &d.buffer,
                    0,
                    &model.depth_prev.buffer,
                    0,
                    d.size_bytes(),
                );
                model.depth_prev_valid = true;
            }
            None => model.depth_prev_valid = false,
        }
        Ok(())
    }

    /// Add the upsampled residual to `frame.color` (`input + strength * residual`; `strength` 0 =
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
        if !(self.full.valid && self.full.width == w && self.full.height == h) {
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
        let residual = &self.full.residual.buffer;
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

    /// This frame's residual at full resolution (linear rgb, alpha 1): the accumulated look's
    /// guided upsample, what `record_encode` adds to the input, scaled by strength. Not the
    /// composited picture: that is `input + residual`.
    pub fn residual(&self) -> &GpuImage {
        &self.full.residual
    }

    /// The accumulated residual at model size (linear rgb, alpha 1): the history the next frame
    /// reprojects.
    pub fn history(&self) -> &GpuImage {
        &self.model.history[self.model.latest]
    }

    /// Forget the history; the next composite starts fresh (same as `reset_history = true`).
    pub fn reset(&mut self) {
        self.model.history_valid = false;
        self.model.depth_prev_valid = false;
    }
}
