//! The two small passes between the model and the compositor: unpack the model's planar output
//! tensor into an image, and convert model-space colour to linear.

use super::context::GpuContext;
use super::kernel::{BindCache, GpuImage, Kernel};
use crate::error::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    extra: u32,
    _pad: u32,
}

/// `unpack_output.wgsl` and `to_linear.wgsl`.
pub struct ModelIo {
    unpack: Kernel,
    to_linear: Kernel,
    /// Bind groups with their uniforms, so a steady frame loop allocates nothing and the two
    /// to_linear calls recorded into one encoder each keep their own parameters.
    unpack_binds: BindCache,
    linear_binds: BindCache,
}

impl ModelIo {
    pub fn new(ctx: &GpuContext) -> Self {
        ModelIo {
            unpack: Kernel::new(
                &ctx.device,
                "unpack_output",
                include_str!("unpack_output.wgsl"),
                "main",
            ),
            to_linear: Kernel::new(
                &ctx.device,
                "to_linear",
                include_str!("to_linear.wgsl"),
                "main",
            ),
            unpack_binds: BindCache::default(),
            linear_binds: BindCache::default(),
        }
    }

    /// Unpack `[1,3,H,W]` floats starting at float `offset` of `tensor` into `dst` (4ch, H x W).
    /// A tensor too short for `dst`, or a `dst` that is not 4-channel, records nothing.
    pub fn record_unpack(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        tensor: &wgpu::Buffer,
        offset: u32,
        dst: &GpuImage,
    ) -> Result<()> {
        let need = (offset as u64 + 3 * dst.width as u64 * dst.height as u64) * 4;
        if dst.channels != 4 || tensor.size() < need {
            return Err(io_error(format!(
                "unpack of a {}x{}x3 output at float {offset} needs {need} bytes and a 4-channel image (tensor {} bytes, image {} channels)",
                dst.width, dst.height, tensor.size(), dst.channels
            )));
        }
        let p = Params {
            width: dst.width,
            height: dst.height,
            extra: offset,
            _pad: 0,
        };
        let bg = self.unpack_binds.get(
            &ctx.device,
            &self.unpack,
            bytemuck::bytes_of(&p),
            &[tensor, &dst.buffer],
        );
        self.unpack.dispatch_2d(enc, &bg, dst.width, dst.height);
        Ok(())
    }

    /// Convert `src` (model colour space) to linear into `dst`. `srgb`: whether the model space is sRGB.
    pub fn record_to_linear(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        src: &GpuImage,
        dst: &GpuImage,
        srgb: bool,
    ) -> Result<()> {
        if !src.same_shape(dst.width, dst.height, 4) || dst.channels != 4 {
            return Err(io_error(format!(
                "to_linear needs two 4-channel images of one size (src {}x{}x{}, dst {}x{}x{})",
                src.width, src.height, src.channels, dst.width, dst.height, dst.channels
            )));
        }
        let p = Params {
            width: dst.width,
            height: dst.height,
            extra: if srgb { 0 } else { 1 },
            _pad: 0,
        };
        let bg = self.linear_binds.get(
            &ctx.device,
            &self.to_linear,
            bytemuck::bytes_of(&p),
            &[&src.buffer, &dst.buffer],
        );
        self.to_linear.dispatch_2d(enc, &bg, dst.width, dst.height);
        Ok(())
    }
}

fn io_error(problem: String) -> Error {
    Error::gpu(
        format!("model output: {problem}"),
        "pass images of the model's size (the session builds them that way)",
    )
}

/// The CPU implementations of both passes (the CPU backend runs these; tests compare the GPU
/// passes with them).
pub mod reference {
    /// `[1,3,H,W]` model output → RGBA (alpha 1; a pixel with a non-finite value is all zero,
    /// alpha 0 = invalid) into `out` (resized).
    pub fn unpack_into(tensor: &[f32], width: u32, height: u32, out: &mut Vec<f32>) {
        let plane = (width * height) as usize;
        out.clear();
        out.resize(plane * 4, 0.0);
        for i in 0..plane {
            let (r, g, b) = (tensor[i], tensor[plane + i], tensor[2 * plane + i]);
            if r.is_finite() && g.is_finite() && b.is_finite() {
                out[i * 4..i * 4 + 4].copy_from_slice(&[r, g, b, 1.0]);
            }
        }
    }

    pub fn unpack(tensor: &[f32], width: u32, height: u32) -> Vec<f32> {
        let mut out = Vec::new();
        unpack_into(tensor, width, height, &mut out);
        out
    }

    /// The model's colour space → linear RGBA into `out` (resized).
    pub fn to_linear_into(src: &[f32], srgb: bool, out: &mut Vec<f32>) {
        out.clear();
        if !srgb {
            out.extend_from_slice(src);
            return;
        }
        crate::reference::srgb::decode_rgba_into(src, out);
    }

    pub fn to_linear(src: &[f32], srgb: bool) -> Vec<f32> {
        let mut out = Vec::new();
        to_linear_into(src, srgb, &mut out);
        out
    }
}
