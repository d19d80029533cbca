//! Decode stage: raw plane bytes → full-resolution linear images (decode.wgsl).

use super::util::{bind_at, check_storage_size, storage_buffer, uniform_buffer};
use crate::error::{Error, Result};
use crate::frame::{FrameRef, PlaneRef};
use crate::gpu::context::GpuContext;
use crate::gpu::frame_images::FrameImages;
use crate::gpu::kernel::Kernel;

const SHADER: &str = include_str!("decode.wgsl");

/// Mirrors `Params` in decode.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    pitch_words: u32,
    /// `ColorFormat::shader_id`.
    color_format: u32,
}

const LABEL: &str = "raw color";

pub(crate) struct DecodeStage {
    color: Kernel,
    /// The colour plane's upload buffer (depth, normals and motion of a CPU frame are resampled
    /// on the CPU and cross at model size: `Preprocessor::upload`).
    raw: Option<wgpu::Buffer>,
    params: wgpu::Buffer,
    /// Bind group with the (raw, destination) buffers it was made for.
    bind: Option<(wgpu::Buffer, wgpu::Buffer, wgpu::BindGroup)>,
    /// Repacking space for rows whose pitch is not a multiple of 4 bytes.
    scratch: Vec<u8>,
}

impl DecodeStage {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        DecodeStage {
            color: Kernel::new(device, "decode_color", SHADER, "decode_color"),
            raw: None,
            params: uniform_buffer(device, LABEL, std::mem::size_of::<Params>() as u64),
            bind: None,
            scratch: Vec::new(),
        }
    }

    /// Write the colour plane of `frame` to the GPU and decode it into `images.color`; submits.
    pub(crate) fn upload(
        &mut self,
        ctx: &GpuContext,
        frame: &FrameRef<'_>,
        images: &FrameImages,
    ) -> Result<()> {
        let (w, h) = (frame.width, frame.height);
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("decode"),
            });
        let dst = &images.color;
        let pitch = self.write_plane(ctx, frame.color, w, h, frame.format.bytes_per_pixel())?;
        let params = Params {
            width: w,
            height: h,
            pitch_words: (pitch / 4) as u32,
            color_format: frame.format.shader_id(),
        };
        ctx.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let Some(raw) = self.raw.as_ref() else {
            return Err(Error::Internal(format!(
                "{LABEL} buffer missing after upload"
            )));
        };
        let stale = self
            .bind
            .as_ref()
            .is_none_or(|(r, d, _)| r != raw || d != &dst.buffer);
        if stale {
            let bg = bind_at(
                &ctx.device,
                &self.color,
                &[
                    (0, self.params.as_entire_binding()),
                    (1, raw.as_entire_binding()),
                    (2, dst.buffer.as_entire_binding()),
                ],
            );
            self.bind = Some((raw.clone(), dst.buffer.clone(), bg));
        }
        if let Some((_, _, bg)) = self.bind.as_ref() {
            self.color.dispatch_2d(&mut enc, bg, w, h);
        }
        ctx.queue.submit([enc.finish()]);
        Ok(())
    }

    /// Copy the plane into the raw buffer, growing it when needed. Returns the row pitch in bytes
    /// as uploaded (a multiple of 4).
    fn write_plane(
        &mut self,
        ctx: &GpuContext,
        plane: PlaneRef<'_>,
        w: u32,
        h: u32,
        bpp: usize,
    ) -> Result<usize> {
        let row = w as usize * bpp; // every supported bpp is a multiple of 4
        let (bytes, pitch): (&[u8], usize) = if plane.row_pitch.is_multiple_of(4) {
            // Padding between rows goes up too: one copy beats a CPU repack.
            (
                &plane.data[..plane.row_pitch * (h as usize - 1) + row],
                plane.row_pitch,
            )
        } else {
            self.scratch.clear();
            for y in 0..h as usize {
                self.scratch
                    .extend_from_slice(&plane.data[y * plane.row_pitch..][..row]);
            }
            (&self.scratch, row)
        };
        let needed = bytes.len() as u64;
        if self.raw.as_ref().is_none_or(|b| b.size() < needed) {
            check_storage_size(&ctx.device, LABEL, needed)?;
            self.raw = None;
            self.raw = Some(storage_buffer(
                &ctx.device,
                LABEL,
                needed,
                wgpu::BufferUsages::empty(),
            ));
        }
        if let Some(raw) = self.raw.as_ref() {
            ctx.queue.write_buffer(raw, 0, bytes);
        }
        Ok(pitch)
    }
}
