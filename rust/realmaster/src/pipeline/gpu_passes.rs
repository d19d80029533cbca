//! [`FramePasses`] on the GPU: wgpu compute passes recorded into one command encoder per stage,
//! images in GPU buffers, the model's tensors and the encoded frame read back through staging
//! buffers.

use crate::error::{Error, Result};
use crate::frame::{ColorFormat, FrameRef};
use crate::gpu::composite::{CompositeParams, Compositor};
use crate::gpu::kernel::{map_and_read_f32_into, map_and_read_into, GpuImage};
use crate::gpu::model_io::ModelIo;
use crate::gpu::preprocess::{
    ModelColorSpace, ModelResImages, Packer, PreprocessConfig, Preprocessor, TensorLayout,
};
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
        self.pre.upload(&self.ctx, frame)
    }

    fn preprocess(&mut self, slot: usize, ring: usize) -> Result<()> {
        let mut enc = self.encoder();
        let dst = self
            .slots
            .get(slot)
            .ok_or_else(|| Error::Internal(format!("window slot {slot} out of range")))?;
        self.pre.record(&self.ctx, &mut enc, dst)?;
        let motion = self
            .motion_ring
            .get(ring)
            .ok_or_else(|| Error::Internal(format!("motion history slot {ring} out of range")))?;
        enc.copy_buffer_to_buffer(
            &dst.motion.buffer,
            0,
            &motion.buffer,
            0,
            dst.motion.size_bytes(),
        );
        self.enc = Some(enc);
        Ok(())
    }

    /// Fixed buffers only (no swaps): see `warp_motion`.
    fn warp_look(&mut self, ring: usize) -> Result<()> {
        let mut enc = self.encoder();
        let bytes = self.warp_motion.size_bytes();
        let motion = self
            .motion_ring
            .get(ring)
            .ok_or_else(|| Error::Internal(format!("motion history slot {ring} out of range")))?;
        enc.copy_buffer_to_buffer(&motion.buffer, 0, &self.warp_motion.buffer, 0, bytes);
        for look in [&self.look_out, &self.look_in] {
            self.comp
                .record_reproject(&self.ctx, &mut enc, look, &self.warp_motion, &self.scratch);
            enc.copy_buffer_to_buffer(&self.scratch.buffer, 0, &look.buffer, 0, bytes);
        }
        self.enc = Some(enc);
        Ok(())
    }

    fn pack(
        &mut self,
        order: &[usize],
        slot: usize,
        use_look: bool,
        arena: &mut Vec<f32>,
    ) -> Result<()> {
        let mut enc = self.encoder();
        let window = order
            .iter()
            .map(|&i| {
                self.slots
                    .get(i)
                    .ok_or_else(|| Error::Internal(format!("window slot {i} out of range")))
            })
            .collect::<Result<Vec<_>>>()?;
        let current = self
            .slots
            .get(slot)
            .ok_or_else(|| Error::Internal(format!("window slot {slot} out of range")))?;
        let prev = if use_look {
            &self.look_out
        } else {
            &current.color
        };
        self.packer
            .record(&self.ctx, &mut enc, &window, current, prev)?;
        let arena_bytes = self.packer.layout().total_bytes;
        enc.copy_buffer_to_buffer(self.packer.arena(), 0, &self.arena_staging, 0, arena_bytes);
        enc.copy_buffer_to_buffer(
            &current.color.buffer,
            0,
            &self.inflight_in.buffer,
            0,
            self.inflight_in.size_bytes(),
        );
        self.ctx.queue.submit([enc.finish()]);
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
        let mut enc = self.encoder();
        // write_buffer copies at once, so the caller's vector can go straight back to its pool.
        self.ctx
            .queue
            .write_buffer(&self.result_buf, 0, bytemuck::cast_slice(&rgb[..need]));
        self.io
            .record_unpack(&self.ctx, &mut enc, &self.result_buf, 0, &self.look_out);
        enc.copy_buffer_to_buffer(
            &self.inflight_in.buffer,
            0,
            &self.look_in.buffer,
            0,
            self.look_in.size_bytes(),
        );
        self.enc = Some(enc);
        Ok(())
    }

    fn composite(
        &mut self,
        format: ColorFormat,
        params: &CompositeParams,
        reset_history: bool,
        _out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut enc = self.encoder();
        let srgb = matches!(self.spec.color_space, ModelColorSpace::Srgb);
        self.io
            .record_to_linear(&self.ctx, &mut enc, &self.look_out, &self.out_lin, srgb);
        self.io
            .record_to_linear(&self.ctx, &mut enc, &self.look_in, &self.in_lin, srgb);
        let frame_images = self
            .pre
            .frame()
            .ok_or_else(|| Error::Internal("frame images missing after upload".into()))?;
        self.comp.record_composite(
            &self.ctx,
            &mut enc,
            frame_images,
            &self.out_lin,
            &self.in_lin,
            params,
            reset_history,
        );
        self.comp
            .record_encode(&self.ctx, &mut enc, frame_images, format, params.strength);
        self.enc = Some(enc);
        Ok(())
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
        // Straight into the caller's reused output buffer.
        map_and_read_into(&self.ctx.device, &staging, len, out)
    }

    fn flush(&mut self, wait: bool) -> Result<()> {
        if let Some(enc) = self.enc.take() {
            self.ctx.queue.submit([enc.finish()]);
        }
        if wait {
            self.wait()?;
        }
        Ok(())
    }
}
