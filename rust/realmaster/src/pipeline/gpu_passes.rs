//! [`FramePasses`] on the GPU: wgpu compute passes recorded into one command encoder per stage,
//! images in GPU buffers, the model's tensors and the encoded frame read back through staging
//! buffers.

use crate::error::{Error, Result};
use crate::frame::FrameRef;
use crate::gpu::composite::{CompositeParams, Compositor, LookImages};
use crate::gpu::host::{DeviceFrame, Export, Import};
use crate::gpu::kernel::{map_and_read_f32_into, map_and_read_into, GpuImage};
use crate::gpu::model_io::ModelIo;
use crate::gpu::preprocess::{
    ModelColorSpace, ModelResImages, Packer, PreprocessConfig, Preprocessor, TensorLayout,
};
use crate::gpu::timestamps::{GpuStage, GpuStageTimes, StageTimer};
use crate::gpu::GpuContext;

use super::backend::Backend;
use super::engine::ModelSpec;
use super::frame_passes::FramePasses;

pub struct GpuPasses {
    ctx: GpuContext,
    spec: ModelSpec,
    pre: Preprocessor,
    packer: Packer,
    comp: Compositor,
    io: ModelIo,
    slots: Vec<ModelResImages>,
    motion_ring: Vec<GpuImage>,
    look_out: GpuImage,
    look_in: GpuImage,
    scratch: GpuImage,
    /// The motion a warp step uses, copied from the motion history first: the reprojection then binds
    /// the same three buffers every time (look, this, scratch), so its bind groups are made once.
    /// Binding the history slots and ping-ponged look buffers directly made ~4 new bind groups and
    /// uniform buffers per frame (more combinations than the cache holds), which leaked driver memory
    /// on lavapipe (~1 MB per frame at a 128x64 model size).
    warp_motion: GpuImage,
    inflight_in: GpuImage,
    out_lin: GpuImage,
    in_lin: GpuImage,
    result_buf: wgpu::Buffer,
    arena_staging: wgpu::Buffer,
    output_staging: Option<(wgpu::Buffer, u64)>,
    /// Commands recorded since the last submit.
    enc: Option<wgpu::CommandEncoder>,
    /// The device path's import and export passes, made on its first frame.
    host: Option<(Import, Export)>,
    /// Bytes uploaded to and read back from the GPU so far.
    transfer_bytes: u64,
    /// Deferred submission: `flush` hands finished command buffers to `outgoing` for the host.
    deferred: bool,
    outgoing: Vec<wgpu::CommandBuffer>,
    /// Per-stage GPU timestamps while profiling (None where the device has no timestamp queries).
    timer: Option<StageTimer>,
    gpu_timing: bool,
    /// The window slot of the last preprocessed frame: its model-size motion (and the
    /// preprocessor's model-size depth) drive the compositor's temporal pass.
    current_slot: Option<usize>,
}

fn image4(ctx: &GpuContext, label: &str, spec: &ModelSpec) -> GpuImage {
    GpuImage::new(&ctx.device, label, spec.width, spec.height, 4)
}

impl GpuPasses {
    pub fn new(
        ctx: GpuContext,
        spec: &ModelSpec,
        cfg: PreprocessConfig,
        history: usize,
    ) -> Result<Self> {
        let pre = Preprocessor::new(&ctx, cfg)?;
        let packer = Packer::new(&ctx, &cfg, spec.window, &spec.roles)?;
        let comp = Compositor::new(&ctx);
        let io = ModelIo::new(&ctx);
        let slots = (0..spec.window)
            .map(|_| ModelResImages::new(&ctx.device, &cfg))
            .collect();
        let motion_ring = (0..history)
            .map(|_| image4(&ctx, "motion history", spec))
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
        Ok(GpuPasses {
            look_out: image4(&ctx, "look out", spec),
            look_in: image4(&ctx, "look in", spec),
            scratch: image4(&ctx, "look scratch", spec),
            warp_motion: image4(&ctx, "warp motion", spec),
            inflight_in: image4(&ctx, "inflight input", spec),
            out_lin: image4(&ctx, "out linear", spec),
            in_lin: image4(&ctx, "in linear", spec),
            spec: spec.clone(),
            pre,
            packer,
            comp,
            io,
            slots,
            motion_ring,
            result_buf,
            arena_staging,
            output_staging: None,
            enc: None,
            host: None,
            transfer_bytes: 0,
            deferred: false,
            outgoing: Vec::new(),
            timer: StageTimer::new(&ctx.device, &ctx.queue),
            gpu_timing: false,
            current_slot: None,
            ctx,
        })
    }

    /// The GPU device this backend runs on.
    pub fn gpu(&self) -> &GpuContext {
        &self.ctx
    }

    fn encoder(&mut self) -> wgpu::CommandEncoder {
        self.enc
            .take()
            .unwrap_or_else(|| self.ctx.device.create_command_encoder(&Default::default()))
    }

    /// Record into the pending encoder with `f`. The encoder goes back even when `f` fails, so
    /// the work recorded before (this frame's preprocess, say) is still submitted: a failing pass
    /// records nothing itself and leaves the other images consistent.
    fn host_passes(&mut self) -> &mut (Import, Export) {
        let device = &self.ctx.device;
        self.host
            .get_or_insert_with(|| (Import::new(device), Export::new()))
    }

    /// The look (model output and its input) to linear, then guided upsample + temporal
    /// accumulation onto the frame: what both outputs (CPU-frame encode, host texture) start from.
    fn record_look_composite(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        params: &CompositeParams,
        reset_history: bool,
    ) -> Result<()> {
        let srgb = matches!(self.spec.color_space, ModelColorSpace::Srgb);
        self.io
            .record_to_linear(&self.ctx, enc, &self.look_out, &self.out_lin, srgb)?;
        self.io
            .record_to_linear(&self.ctx, enc, &self.look_in, &self.in_lin, srgb)?;
        let frame_images = self
            .pre
            .frame()
            .ok_or_else(|| Error::Internal("frame images missing after upload".into()))?;
        let current = self.current_slot.and_then(|s| self.slots.get(s));
        let look = LookImages {
            out: &self.out_lin,
            input: &self.in_lin,
            motion: current.map(|c| &c.motion),
            depth: self.pre.has_depth().then(|| self.pre.depth_z()),
            edges: current.map(|c| &c.edges),
        };
        self.comp
            .record_composite(&self.ctx, enc, frame_images, &look, params, reset_history)
    }

    fn recording<R>(
        &mut self,
        stage: GpuStage,
        f: impl FnOnce(&mut Self, &mut wgpu::CommandEncoder) -> Result<R>,
    ) -> Result<R> {
        let mut enc = self.encoder();
        let pair = match (&mut self.timer, self.gpu_timing) {
            (Some(t), true) => t.begin(&mut enc, stage),
            _ => None,
        };
        let r = f(self, &mut enc);
        if let Some(t) = &mut self.timer {
            t.end(&mut enc, pair);
        }
        self.enc = Some(enc);
        r
    }

    fn wait(&self) -> Result<()> {
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| {
                Error::gpu(
                    format!("GPU wait failed ({e})"),
                    "the device was lost; restart the session",
                )
            })
    }
}

impl FramePasses for GpuPasses {
    fn backend(&self) -> Backend {
        Backend::Gpu
    }

    fn layout(&self) -> &TensorLayout {
        self.packer.layout()
    }

    fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
        // Work recorded before (a warp) reads images the upload does not touch; submit it first
        // so the order stays that of the calls.
        self.flush(false)?;
        self.pre.upload(&self.ctx, frame)?;
        self.transfer_bytes += self.pre.upload_bytes();
        Ok(())
    }

    /// The upload resamples depth, normals and motion on the CPU, checking each row it reads
    /// (`cpu::AuxResampler`), as the CPU backend does.
    fn sanitizes_gbuffers(&self) -> bool {
        true
    }

    fn take_sanitized(&mut self) -> crate::frame::Sanitized {
        self.pre.take_sanitized()
    }

    fn preprocess(&mut self, slot: usize, ring: usize) -> Result<()> {
        self.recording(GpuStage::Preprocess, |s, enc| {
            let dst = s
                .slots
                .get(slot)
                .ok_or_else(|| Error::Internal(format!("window slot {slot} out of range")))?;
            let motion = s.motion_ring.get(ring).ok_or_else(|| {
                Error::Internal(format!("motion history slot {ring} out of range"))
            })?;
            s.pre.record(&s.ctx, enc, dst)?;
            s.current_slot = Some(slot);
            enc.copy_buffer_to_buffer(
                &dst.motion.buffer,
                0,
                &motion.buffer,
                0,
                dst.motion.size_bytes(),
            );
            Ok(())
        })
    }

    /// Fixed buffers only (no swaps): see `warp_motion`.
    fn warp_look(&mut self, ring: usize) -> Result<()> {
        self.recording(GpuStage::CarryForward, |s, enc| {
            let bytes = s.warp_motion.size_bytes();
            let motion = s.motion_ring.get(ring).ok_or_else(|| {
                Error::Internal(format!("motion history slot {ring} out of range"))
            })?;
            enc.copy_buffer_to_buffer(&motion.buffer, 0, &s.warp_motion.buffer, 0, bytes);
            for look in [&s.look_out, &s.look_in] {
                s.comp
                    .record_reproject(&s.ctx, enc, look, &s.warp_motion, &s.scratch)?;
                enc.copy_buffer_to_buffer(&s.scratch.buffer, 0, &look.buffer, 0, bytes);
            }
            Ok(())
        })
    }

    fn pack(
        &mut self,
        order: &[usize],
        slot: usize,
        use_look: bool,
        arena: &mut Vec<f32>,
    ) -> Result<()> {
        let recorded = self.record_pack(order, slot, use_look);
        // Submit what was recorded either way (earlier stages of this frame included).
        self.flush(false)?;
        recorded?;
        self.read_packed(arena)
    }

    fn record_pack(&mut self, order: &[usize], slot: usize, use_look: bool) -> Result<()> {
        let arena_bytes = self.packer.layout().total_bytes;
        self.recording(GpuStage::Pack, |s, enc| {
            let window = order
                .iter()
                .map(|&i| {
                    s.slots
                        .get(i)
                        .ok_or_else(|| Error::Internal(format!("window slot {i} out of range")))
                })
                .collect::<Result<Vec<_>>>()?;
            let current = s
                .slots
                .get(slot)
                .ok_or_else(|| Error::Internal(format!("window slot {slot} out of range")))?;
            let prev = if use_look {
                &s.look_out
            } else {
                &current.color
            };
            s.packer.record(&s.ctx, enc, &window, current, prev)?;
            enc.copy_buffer_to_buffer(s.packer.arena(), 0, &s.arena_staging, 0, arena_bytes);
            enc.copy_buffer_to_buffer(
                &current.color.buffer,
                0,
                &s.inflight_in.buffer,
                0,
                s.inflight_in.size_bytes(),
            );
            Ok(())
        })
    }

    fn read_packed(&mut self, arena: &mut Vec<f32>) -> Result<()> {
        let arena_bytes = self.packer.layout().total_bytes;
        self.transfer_bytes += arena_bytes;
        map_and_read_f32_into(&self.ctx.device, &self.arena_staging, arena_bytes, arena)
    }

    fn set_look(&mut self, rgb: &[f32]) -> Result<()> {
        let need = (self.spec.width * self.spec.height * 3) as usize;
        if rgb.len() < need {
            return Err(Error::Inference(format!(
                "the model returned {} values for a {}x{}x3 output",
                rgb.len(),
                self.spec.width,
                self.spec.height
            )));
        }
        // write_buffer copies at once, so the caller's vector can go straight back to its pool.
        self.ctx
            .queue
            .write_buffer(&self.result_buf, 0, bytemuck::cast_slice(&rgb[..need]));
        self.transfer_bytes += need as u64 * 4;
        self.recording(GpuStage::Look, |s, enc| {
            s.io.record_unpack(&s.ctx, enc, &s.result_buf, 0, &s.look_out)?;
            enc.copy_buffer_to_buffer(
                &s.inflight_in.buffer,
                0,
                &s.look_in.buffer,
                0,
                s.look_in.size_bytes(),
            );
            Ok(())
        })
    }

    fn composite(
        &mut self,
        frame: &FrameRef<'_>,
        params: &CompositeParams,
        reset_history: bool,
        _out: &mut Vec<u8>,
    ) -> Result<()> {
        self.recording(GpuStage::Composite, |s, enc| {
            s.record_look_composite(enc, params, reset_history)?;
            let frame_images = s
                .pre
                .frame()
                .ok_or_else(|| Error::Internal("frame images missing".into()))?;
            s.comp
                .record_encode(&s.ctx, enc, frame_images, frame.format, params.strength)
        })
    }

    fn read_output(&mut self, out: &mut Vec<u8>) -> Result<()> {
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
        let mut enc = self.encoder();
        enc.copy_buffer_to_buffer(self.comp.output_buffer(), 0, &staging, 0, len);
        self.ctx.queue.submit([enc.finish()]);
        self.transfer_bytes += len;
        // Straight into the caller's reused output buffer.
        map_and_read_into(&self.ctx.device, &staging, len, out)
    }

    fn flush(&mut self, wait: bool) -> Result<()> {
        if let Some(enc) = self.enc.take() {
            if self.deferred {
                self.outgoing.push(enc.finish());
            } else {
                self.ctx.queue.submit([enc.finish()]);
            }
        }
        if wait {
            if self.deferred {
                return Err(Error::Internal(
                    "cannot wait for work the host has not submitted (deferred submission)".into(),
                ));
            }
            self.wait()?;
        }
        Ok(())
    }

    fn set_deferred(&mut self, on: bool) -> Result<()> {
        if on != self.deferred {
            // Work recorded under the other mode goes out under that mode.
            self.flush(false)?;
            self.deferred = on;
        }
        Ok(())
    }

    fn take_command_buffers(&mut self) -> Vec<wgpu::CommandBuffer> {
        std::mem::take(&mut self.outgoing)
    }

    fn cpu_transfer_bytes(&self) -> u64 {
        self.transfer_bytes
    }

    fn set_gpu_timing(&mut self, on: bool) {
        if !on {
            if let Some(t) = &mut self.timer {
                t.clear();
            }
        }
        self.gpu_timing = on && self.timer.is_some();
    }

    fn gpu_stage_times(&mut self) -> Option<GpuStageTimes> {
        if !self.gpu_timing || self.deferred {
            return None;
        }
        self.flush(false).ok()?;
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        match self.timer.as_mut()?.read(device, queue) {
            Ok(t) => Some(t),
            Err(e) => {
                log::debug!("GPU stage times unavailable: {e}");
                None
            }
        }
    }

    fn import(&mut self, frame: &DeviceFrame<'_>) -> Result<()> {
        self.host_passes();
        self.recording(GpuStage::Import, |s, enc| {
            let (import, _) = s
                .host
                .as_mut()
                .ok_or_else(|| Error::Internal("device passes missing".into()))?;
            s.pre.import(&s.ctx, enc, import, frame)
        })
    }

    fn composite_to_texture(
        &mut self,
        params: &CompositeParams,
        reset_history: bool,
        output: &wgpu::Texture,
    ) -> Result<()> {
        self.host_passes();
        self.recording(GpuStage::Composite, |s, enc| {
            s.record_look_composite(enc, params, reset_history)?;
            let frame_images = s
                .pre
                .frame()
                .ok_or_else(|| Error::Internal("frame images missing".into()))?;
            let (_, export) = s
                .host
                .as_mut()
                .ok_or_else(|| Error::Internal("device passes missing".into()))?;
            export.record_blend(
                &s.ctx,
                enc,
                &frame_images.color,
                s.comp.residual(),
                params.strength,
                output,
            )
        })
    }

    fn passthrough_to_texture(
        &mut self,
        color: &wgpu::Texture,
        output: &wgpu::Texture,
    ) -> Result<()> {
        self.host_passes();
        self.recording(GpuStage::Composite, |s, enc| {
            let (_, export) = s
                .host
                .as_mut()
                .ok_or_else(|| Error::Internal("device passes missing".into()))?;
            export.record_passthrough(&s.ctx, enc, color, output)
        })
    }
}
