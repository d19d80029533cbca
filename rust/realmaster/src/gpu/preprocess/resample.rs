//! Resample stage: full-resolution frame → model resolution with an exact area filter, plus each
//! plane's model encoding (resample.wgsl).

use super::util::{bind_at, dispatch_many, uniform_buffer};
use super::{ModelColorSpace, ModelResImages, PreprocessConfig};
use crate::gpu::context::GpuContext;
use crate::gpu::frame_images::FrameImages;
use crate::gpu::kernel::{GpuImage, Kernel};

const SHADER: &str = include_str!("resample.wgsl");

/// Mirrors `Params` in resample.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    scale_x: f32,
    scale_y: f32,
    mode: u32,
    color_space: u32,
    depth_scale: f32,
    motion_x: f32,
    motion_y: f32,
    _pad: u32,
}

const COLOR: usize = 0;
const NORMALS: usize = 1;
const MOTION: usize = 2;
const DEPTH: usize = 3;

pub(crate) struct ResampleStage {
    color: Kernel,
    vec: Kernel,
    depth: Kernel,
    /// Per plane (COLOR, NORMALS, MOTION, DEPTH): its uniform, and a bind group with the source
    /// buffer it was made for.
    params: [wgpu::Buffer; 4],
    binds: [Option<(wgpu::Buffer, wgpu::BindGroup)>; 4],
}

impl ResampleStage {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let size = std::mem::size_of::<Params>() as u64;
        ResampleStage {
            color: Kernel::new(device, "resample_color", SHADER, "resample_color"),
            vec: Kernel::new(device, "resample_vec", SHADER, "resample_vec"),
            depth: Kernel::new(device, "resample_depth", SHADER, "resample_depth"),
            params: std::array::from_fn(|_| uniform_buffer(device, "resample params", size)),
            binds: [None, None, None, None],
        }
    }

    /// Write this frame's parameters and (re)build bind groups whose source image changed.
    pub(crate) fn prepare(
        &mut self,
        ctx: &GpuContext,
        cfg: &PreprocessConfig,
        frame: &FrameImages,
        work: &ModelResImages,
        depth_z: &GpuImage,
    ) {
        let (sw, sh, mw, mh) = (frame.width, frame.height, cfg.model_width, cfg.model_height);
        let base = Params {
            src_width: sw,
            src_height: sh,
            dst_width: mw,
            dst_height: mh,
            scale_x: sw as f32 / mw as f32,
            scale_y: sh as f32 / mh as f32,
            mode: 0,
            color_space: match cfg.color_space {
                ModelColorSpace::Srgb => 0,
                ModelColorSpace::Linear => 1,
            },
            depth_scale: cfg.depth_scale,
            motion_x: mw as f32 / sw as f32,
            motion_y: mh as f32 / sh as f32,
            _pad: 0,
        };
        for (i, mode) in [(COLOR, 0), (NORMALS, 1), (MOTION, 2), (DEPTH, 0)] {
            ctx.queue.write_buffer(
                &self.params[i],
                0,
                bytemuck::bytes_of(&Params { mode, ..base }),
            );
        }

        let device = &ctx.device;
        let sources = [
            Some(&frame.color),
            frame.normals.as_ref(),
            frame.motion.as_ref(),
            frame.depth.as_ref(),
        ];
        for (i, src) in sources.into_iter().enumerate() {
            let Some(src) = src else { continue };
            if self.binds[i]
                .as_ref()
                .is_some_and(|(b, _)| b == &src.buffer)
            {
                continue;
            }
            let p = self.params[i].as_entire_binding();
            let s = src.buffer.as_entire_binding();
            let bg = match i {
                COLOR => bind_at(
                    device,
                    &self.color,
                    &[
                        (0, p),
                        (1, s),
                        (2, work.color.buffer.as_entire_binding()),
                        (3, work.color_linear.buffer.as_entire_binding()),
                    ],
                ),
                NORMALS => bind_at(
                    device,
                    &self.vec,
                    &[(0, p), (1, s), (2, work.normals.buffer.as_entire_binding())],
                ),
                MOTION => bind_at(
                    device,
                    &self.vec,
                    &[(0, p), (1, s), (2, work.motion.buffer.as_entire_binding())],
                ),
                _ => bind_at(
                    device,
                    &self.depth,
                    &[
                        (0, p),
                        (4, s),
                        (5, work.depth.buffer.as_entire_binding()),
                        (6, depth_z.buffer.as_entire_binding()),
                    ],
                ),
            };
            self.binds[i] = Some((src.buffer.clone(), bg));
        }
    }

    /// Resample every plane the frame has; zero the model planes it lacks (all three for a CPU
    /// frame, whose depth, normals and motion are resampled on the CPU at upload).
    pub(crate) fn record(
        &self,
        enc: &mut wgpu::CommandEncoder,
        frame: &FrameImages,
        work: &ModelResImages,
        depth_z: &GpuImage,
        (mw, mh): (u32, u32),
    ) {
        let present = [
            true,
            frame.normals.is_some(),
            frame.motion.is_some(),
            frame.depth.is_some(),
        ];
        let kernels = [&self.color, &self.vec, &self.vec, &self.depth];
        let mut steps = [None, None, None, None];
        for i in [COLOR, NORMALS, MOTION, DEPTH] {
            match (present[i], self.binds[i].as_ref()) {
                (true, Some((_, bg))) => steps[i] = Some((kernels[i], bg)),
                _ => match i {
                    NORMALS => enc.clear_buffer(&work.normals.buffer, 0, None),
                    MOTION => enc.clear_buffer(&work.motion.buffer, 0, None),
                    DEPTH => {
                        enc.clear_buffer(&work.depth.buffer, 0, None);
                        enc.clear_buffer(&depth_z.buffer, 0, None);
                    }
                    _ => {}
                },
            }
        }
        dispatch_many(enc, "resample", steps.into_iter().flatten(), mw, mh);
    }
}
