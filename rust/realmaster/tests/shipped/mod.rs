//! Shared by the tests that run the shipped student on the GPU device paths and backends: the
//! repository root, the session settings they compare under, and texture readback.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use realmaster::gpu::GpuContext;
use realmaster::{Backend, Mode, SessionConfig};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The shipped student, CPU EP, cinematic, 128x64 model input, passes on `backend`.
pub fn student_config(backend: Backend) -> SessionConfig {
    SessionConfig {
        model_dir: Some(root().join("models/realmaster-student")),
        execution_provider: "cpu".into(),
        mode: Mode::Cinematic,
        model_size: Some((128, 64)),
        backend,
        ..Default::default()
    }
}

/// Read an Rgba8Unorm texture back (width x 4 must be a multiple of 256).
pub fn read_rgba8(ctx: &GpuContext, t: &wgpu::Texture) -> Vec<u8> {
    let (w, h) = (t.width(), t.height());
    assert_eq!((w * 4) % 256, 0, "readback rows must be 256-byte aligned");
    let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("output readback"),
        size: (w * h * 4) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_texture_to_buffer(
        t.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buf,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * 4),
                rows_per_image: Some(h),
            },
        },
        t.size(),
    );
    ctx.queue.submit([enc.finish()]);
    realmaster::gpu::kernel::read_buffer(&ctx.device, &ctx.queue, &buf, 0, (w * h * 4) as u64)
        .expect("readback")
}
