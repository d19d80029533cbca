//! The four compositing kernels and their uniform blocks. Each `record_*` binds buffers and records one
//! dispatch; shape checks live in the caller (mod.rs).
//!
//! Every call gets its own small uniform buffer: several calls may be recorded into one encoder before
//! a submit, and `queue.write_buffer` into a shared uniform would give all of them the last values.

use wgpu::util::DeviceExt;

use crate::gpu::context::GpuContext;
use crate::gpu::kernel::Kernel;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct ReprojectUniform {
    pub src_width: u32,
    pub src_height: u32,
    pub dst_width: u32,
    pub dst_height: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct UpsampleUniform {
    pub lr_width: u32,
    pub lr_height: u32,
    pub width: u32,
    pub height: u32,
    pub inv_2ss: f32,
    pub inv_2sr: f32,
    pub edge: f32,
    pub _pad: u32,
}

/// `TemporalUniform::flags` bits.
pub(super) const HISTORY_VALID: u32 = 1;
pub(super) const HAS_MOTION: u32 = 2;
pub(super) const DEPTH_TEST: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct TemporalUniform {
    pub width: u32,
    pub height: u32,
    pub flags: u32,
    pub _pad0: u32,
    pub alpha: f32,
    pub depth_reject: f32,
    pub clamp_k: f32,
    pub _pad1: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct BlendUniform {
    pub width: u32,
    pub height: u32,
    pub format: u32,
    pub _pad0: u32,
    pub strength: f32,
    pub _pad1: [u32; 3],
}

pub(super) struct Passes {
    reproject: Kernel,
    upsample: Kernel,
    temporal: Kernel,
    blend: Kernel,
}

fn uniform_once<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM,
        })
}

/// Bind the uniform at 0 and `bufs` at 1.. and record a `w` x `h` dispatch.
fn dispatch(
    ctx: &GpuContext,
    enc: &mut wgpu::CommandEncoder,
    k: &Kernel,
    u: &wgpu::Buffer,
    bufs: &[&wgpu::Buffer],
    w: u32,
    h: u32,
) {
    let mut res = vec![u.as_entire_binding()];
    res.extend(bufs.iter().map(|b| b.as_entire_binding()));
    let bg = k.bind(&ctx.device, &res);
    k.dispatch_2d(enc, &bg, w, h);
}

impl Passes {
    pub fn new(ctx: &GpuContext) -> Self {
        let d = &ctx.device;
        Passes {
            reproject: Kernel::new(
                d,
                "reproject",
                include_str!("../../../../../shaders/reproject.wgsl"),
                "main",
            ),
            upsample: Kernel::new(
                d,
                "guided_upsample",
                include_str!("../../../../../shaders/guided_upsample.wgsl"),
                "main",
            ),
            temporal: Kernel::new(
                d,
                "temporal",
                include_str!("../../../../../shaders/temporal.wgsl"),
                "main",
            ),
            blend: Kernel::new(
                d,
                "blend",
                include_str!("../../../../../shaders/blend.wgsl"),
                "main",
            ),
        }
    }

    /// `bufs`: src, motion, dst.
    pub fn reproject(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: ReprojectUniform,
        bufs: [&wgpu::Buffer; 3],
    ) {
        let ub = uniform_once(ctx, "reproject params", &u);
        dispatch(
            ctx,
            enc,
            &self.reproject,
            &ub,
            &bufs,
            u.dst_width,
            u.dst_height,
        );
    }

    /// `bufs`: guide, out_lr, in_lr, dst.
    pub fn upsample(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: UpsampleUniform,
        bufs: [&wgpu::Buffer; 4],
    ) {
        let ub = uniform_once(ctx, "guided_upsample params", &u);
        dispatch(ctx, enc, &self.upsample, &ub, &bufs, u.width, u.height);
    }

    /// `bufs`: current, input, history (residual), motion, depth_cur, depth_prev, dst (residual).
    pub fn temporal(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: TemporalUniform,
        bufs: [&wgpu::Buffer; 7],
    ) {
        let ub = uniform_once(ctx, "temporal params", &u);
        dispatch(ctx, enc, &self.temporal, &ub, &bufs, u.width, u.height);
    }

    /// `bufs`: input, residual, out words.
    pub fn blend(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: BlendUniform,
        bufs: [&wgpu::Buffer; 3],
    ) {
        let ub = uniform_once(ctx, "blend params", &u);
        dispatch(ctx, enc, &self.blend, &ub, &bufs, u.width, u.height);
    }
}
