//! Small helpers shared by the preprocessing stages: explicit-binding bind groups (the shaders give
//! each entry point its own binding numbers), size checks that turn over-limit allocations into
//! errors instead of wgpu validation panics, and multi-dispatch compute passes.

use crate::error::{Error, Result};
use crate::gpu::kernel::{bind_group, Kernel, WG};

/// Bind `entries` (binding number, resource) in group 0 of `kernel`.
pub(crate) fn bind_at(
    device: &wgpu::Device,
    kernel: &Kernel,
    entries: &[(u32, wgpu::BindingResource<'_>)],
) -> wgpu::BindGroup {
    bind_group(
        device,
        &kernel.layout,
        Some(kernel.label),
        entries.iter().cloned(),
    )
}

/// Fail with a clear message when a storage buffer of `bytes` would exceed the device's limits.
pub(crate) fn check_storage_size(device: &wgpu::Device, what: &str, bytes: u64) -> Result<()> {
    let limits = device.limits();
    let max = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    if bytes > max {
        return Err(Error::gpu(
            format!("{what} needs a {bytes}-byte buffer but this GPU allows at most {max} bytes per storage buffer"),
            "lower the frame or model resolution",
        ));
    }
    Ok(())
}

/// A storage buffer (COPY_DST so the CPU can fill it) of at least `bytes`, rounded up to 16.
pub(crate) fn storage_buffer(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
    extra: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | extra,
        mapped_at_creation: false,
    })
}

/// An uninitialised parameter block of `bytes` (read-only storage, see
/// [`PARAMS_USAGE`](crate::gpu::kernel::PARAMS_USAGE)), written later with `queue.write_buffer`.
pub(crate) fn uniform_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: crate::gpu::kernel::PARAMS_USAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Record several 2D dispatches (`width` x `height` threads each) in one compute pass; wgpu orders
/// consecutive dispatches that touch the same storage buffers.
pub(crate) fn dispatch_many<'a>(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    steps: impl IntoIterator<Item = (&'a Kernel, &'a wgpu::BindGroup)>,
    width: u32,
    height: u32,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: None,
    });
    for (kernel, bind_group) in steps {
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(width.div_ceil(WG), height.div_ceil(WG), 1);
    }
}
