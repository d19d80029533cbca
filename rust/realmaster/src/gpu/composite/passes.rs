//! The compositing kernels and their uniform blocks. Each `record_*` binds buffers and records one
//! dispatch; shape checks live in the caller (mod.rs).
//!
//! Each pass's bind groups, with their uniforms, come from a [`BindCache`]: a steady frame loop
//! allocates nothing, and several calls recorded into one encoder still see their own values.

use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{BindCache, Kernel};

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
    pub eps: f32,
    /// The edge-aware fit's ridge factor on the edges and pull weight off them (1 and 0: the
    /// plain fit; `CompositeParams::upsample_edges`).
    pub edge_ridge: f32,
    pub edge_pull: f32,
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
pub(super) struct LookUniform {
    pub width: u32,
    pub height: u32,
    pub _pad: [u32; 2],
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

/// A kernel and the bind groups it has been recorded with.
struct Pass {
    kernel: Kernel,
    binds: BindCache,
}

impl Pass {
    fn new(ctx: &GpuContext, label: &'static str, source: &str) -> Self {
        Pass {
            kernel: Kernel::new(&ctx.device, label, source, "main"),
            binds: BindCache::default(),
        }
    }

    /// Bind `u` at 0 and `bufs` at 1.. and record a `w` x `h` dispatch.
    fn dispatch<U: bytemuck::Pod>(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: &U,
        bufs: &[&wgpu::Buffer],
        w: u32,
        h: u32,
    ) {
        let bg = self
            .binds
            .get(&ctx.device, &self.kernel, bytemuck::bytes_of(u), bufs);
        self.kernel.dispatch_2d(enc, &bg, w, h);
    }
}

pub(super) struct Passes {
    reproject: Pass,
    coeffs: Pass,
    upsample: Pass,
    temporal: Pass,
    look: Pass,
    blend: Pass,
}

impl Passes {
    pub fn new(ctx: &GpuContext) -> Self {
        Passes {
            reproject: Pass::new(ctx, "reproject", include_str!("reproject.wgsl")),
            coeffs: Pass::new(ctx, "guided_coeffs", include_str!("guided_coeffs.wgsl")),
            upsample: Pass::new(ctx, "guided_upsample", include_str!("guided_upsample.wgsl")),
            temporal: Pass::new(ctx, "temporal", include_str!("temporal.wgsl")),
            look: Pass::new(
                ctx,
                "accumulated_look",
                include_str!("accumulated_look.wgsl"),
            ),
            blend: Pass::new(ctx, "blend", include_str!("blend.wgsl")),
        }
    }

    /// Forget the cached bind groups (call when the images they bind are reallocated).
    pub fn forget_bindings(&mut self) {
        for p in [
            &mut self.reproject,
            &mut self.coeffs,
            &mut self.upsample,
            &mut self.temporal,
            &mut self.look,
            &mut self.blend,
        ] {
            p.binds.clear();
        }
    }

    /// `bufs`: src, motion, dst.
    pub fn reproject(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: ReprojectUniform,
        bufs: [&wgpu::Buffer; 3],
    ) {
        self.reproject
            .dispatch(ctx, enc, &u, &bufs, u.dst_width, u.dst_height);
    }

    /// Both steps of the guided upsample. `bufs`: guide, out_lr, in_lr, coefficients (3 vec4 per
    /// model pixel), dst, the model input's edges (1 float per model pixel; read only where
    /// `u.edge_ridge > 0`).
    pub fn upsample(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: UpsampleUniform,
        bufs: [&wgpu::Buffer; 6],
    ) {
        let [guide, out_lr, in_lr, coeffs, dst, edges] = bufs;
        self.coeffs.dispatch(
            ctx,
            enc,
            &u,
            &[out_lr, in_lr, coeffs, edges],
            u.lr_width,
            u.lr_height,
        );
        self.upsample
            .dispatch(ctx, enc, &u, &[guide, coeffs, dst], u.width, u.height);
    }

    /// `bufs`: current, input, history (residual), motion, depth_cur, depth_prev, dst (residual).
    pub fn temporal(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: TemporalUniform,
        bufs: [&wgpu::Buffer; 7],
    ) {
        self.temporal
            .dispatch(ctx, enc, &u, &bufs, u.width, u.height);
    }

    /// `bufs`: input, accumulated residual, model output (its alpha), dst.
    pub fn accumulated_look(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: LookUniform,
        bufs: [&wgpu::Buffer; 4],
    ) {
        self.look.dispatch(ctx, enc, &u, &bufs, u.width, u.height);
    }

    /// `bufs`: input, residual, out words.
    pub fn blend(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        u: BlendUniform,
        bufs: [&wgpu::Buffer; 3],
    ) {
        self.blend.dispatch(ctx, enc, &u, &bufs, u.width, u.height);
    }
}
