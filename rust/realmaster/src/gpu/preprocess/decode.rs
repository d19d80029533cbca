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
    format_or_channels: u32,
}

/// One plane's upload buffer, uniform and cached bind group.
struct PlaneSlot {
    label: &'static str,
    raw: Option<wgpu::Buffer>,
    params: wgpu::Buffer,
    /// Bind group with the (raw, destination) buffers it was made for.
    bind: Option<(wgpu::Buffer, wgpu::Buffer, wgpu::BindGroup)>,
}

pub(crate) struct DecodeStage {
    color: Kernel,
    vec: Kernel,
    depth: Kernel,
    /// Colour, depth, normals, motion.
    slots: [PlaneSlot; 4],
    /// Repacking space for rows whose pitch is not a multiple of 4 bytes.
    scratch: Vec<u8>,
}

impl DecodeStage {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let slot = |label: &'static str| PlaneSlot {
            label,
            raw: None,
            params: uniform_buffer(device, label, std::mem::size_of::<Params>() as u64),
            bind: None,
        };
        DecodeStage {
            color: Kernel::new(device, "decode_color", SHADER, "decode_color"),
            vec: Kernel::new(device, "decode_vec", SHADER, "decode_vec"),
            depth: Kernel::new(device, "decode_depth", SHADER, "decode_depth"),
            slots: [
                slot("raw color"),
                slot("raw depth"),
                slot("raw normals"),
                slot("raw motion"),
            ],
            scratch: Vec::new(),
        }
    }

    /// Write every present plane of `frame` to the GPU and decode it into `images`; submits.
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
        let planes = [
            (
                Some(frame.color),
                Some(&images.color),
                frame.format.bytes_per_pixel(),
                frame.format.shader_id(),
            ),
            (frame.depth, images.depth.as_ref(), 4, 1),
            (frame.normals, images.normals.as_ref(), 12, 3),
            (frame.motion, images.motion.as_ref(), 8, 2),
        ];
        for (i, (plane, dst, bpp, id)) in planes.into_iter().enumerate() {
            let (Some(plane), Some(dst)) = (plane, dst) else {
                continue;
            };
            let pitch = self.write_plane(ctx, i, plane, w, h, bpp)?;
            let params = Params {
                width: w,
                height: h,
                pitch_words: (pitch / 4) as u32,
                format_or_channels: id,
            };
            ctx.queue
                .write_buffer(&self.slots[i].params, 0, bytemuck::bytes_of(&params));
            let (kernel, dst_binding) = match i {
                0 => (&self.color, 2),
                1 => (&self.depth, 3),
                _ => (&self.vec, 2),
            };
            let slot = &mut self.slots[i];
            let Some(raw) = slot.raw.as_ref() else {
                return Err(Error::Internal(format!(
                    "{} buffer missing after upload",
                    slot.label
                )));
            };
            let stale = slot
                .bind
                .as_ref()
                .is_none_or(|(r, d, _)| r != raw || d != &dst.buffer);
            if stale {
                let bg = bind_at(
                    &ctx.device,
                    kernel,
                    &[
                        (0, slot.params.as_entire_binding()),
                        (1, raw.as_entire_binding()),
                        (dst_binding, dst.buffer.as_entire_binding()),
                    ],
                );
                slot.bind = Some((raw.clone(), dst.buffer.clone(), bg));
            }
            if let Some((_, _, bg)) = slot.bind.as_ref() {
                kernel.dispatch_2d(&mut enc, bg, w, h);
            }
        }
        ctx.queue.submit([enc.finish()]);
        Ok(())
    }

    /// Copy one plane into slot `i`'s raw buffer, growing it when needed. Returns the row pitch
    /// in bytes as uploaded (a multiple of 4).
    fn write_plane(
        &mut self,
        ctx: &GpuContext,
        i: usize,
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
        let slot = &mut self.slots[i];
        let needed = bytes.len() as u64;
        if slot.raw.as_ref().is_none_or(|b| b.size() < needed) {
            check_storage_size(&ctx.device, slot.label, needed)?;
            slot.raw = None;
            slot.raw = Some(storage_buffer(
                &ctx.device,
                slot.label,
                needed,
                wgpu::BufferUsages::empty(),
            ));
        }
        if let Some(raw) = slot.raw.as_ref() {
            ctx.queue.write_buffer(raw, 0, bytes);
        }
        Ok(pitch)
    }
}
