//! The full-resolution work of one frame as the engine sees it, independent of where it runs:
//! [`GpuPasses`](super::gpu_passes::GpuPasses) records wgpu compute passes,
//! [`CpuPasses`](super::cpu_passes::CpuPasses) runs the same passes natively. The engine keeps the
//! logic (shot cuts, the window order, which model output is shown); a backend keeps the images:
//! the window's model-resolution slots, the motion history, the look (the last model output and
//! the input it was made from, carried forward) and the full-resolution compositing state.

use crate::error::Error;
use crate::error::Result;
use crate::frame::FrameRef;
use crate::gpu::composite::CompositeParams;
use crate::gpu::host::DeviceFrame;
use crate::gpu::preprocess::TensorLayout;

use super::backend::Backend;

pub trait FramePasses: Send {
    /// Which backend this is (`Gpu` or `Cpu`).
    fn backend(&self) -> Backend;

    /// The model's input tensors in the arena `pack` fills.
    fn layout(&self) -> &TensorLayout;

    /// Upload and decode the frame's planes at full resolution.
    fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()>;

    /// Resample + encode + edges of the uploaded frame into window slot `slot`; keep its
    /// model-resolution motion in history slot `ring`.
    fn preprocess(&mut self, slot: usize, ring: usize) -> Result<()>;

    /// Carry both look images one frame forward with the motion in history slot `ring`.
    fn warp_look(&mut self, ring: usize) -> Result<()>;

    /// Pack the window (`order`: slots oldest first; `slot` is the current frame) into `arena`,
    /// with the look as the previous output (`use_look`) or else the current frame's colour, and
    /// keep `slot`'s colour as the input of the inference in flight.
    fn pack(
        &mut self,
        order: &[usize],
        slot: usize,
        use_look: bool,
        arena: &mut Vec<f32>,
    ) -> Result<()>;

    /// A model output (`[1,3,H,W]`, model colour space) becomes the look, with the in-flight
    /// input as the look's input.
    fn set_look(&mut self, rgb: &[f32]) -> Result<()>;

    /// Composite the uploaded frame (`frame`: the one given to `upload`; a backend may read its
    /// colour again here) with the look and encode it to the frame's format. The encoded bytes
    /// are in `out` after `read_output` (a backend may write them here already).
    fn composite(
        &mut self,
        frame: &FrameRef<'_>,
        params: &CompositeParams,
        reset_history: bool,
        out: &mut Vec<u8>,
    ) -> Result<()>;

    /// Copy the encoded frame of the last `composite` into `out`.
    fn read_output(&mut self, out: &mut Vec<u8>) -> Result<()>;

    /// Finish the work recorded so far (GPU: submit; wait for it when `wait`).
    fn flush(&mut self, wait: bool) -> Result<()>;

    /// Time each stage's GPU work with timestamp queries from now on (where the device can).
    fn set_gpu_timing(&mut self, _on: bool) {}

    /// The GPU times of the stages recorded since the last call (waits for the GPU); None where
    /// not timed.
    fn gpu_stage_times(&mut self) -> Option<crate::gpu::timestamps::GpuStageTimes> {
        None
    }

    /// Bytes moved between CPU memory and the GPU so far (uploads and readbacks; 0 on the CPU
    /// backend, whose images never leave CPU memory).
    fn cpu_transfer_bytes(&self) -> u64 {
        0
    }

    /// Whether `upload` applies the G-buffer sanitizer's rules itself (checking each row as it
    /// reads it), so the caller need not sanitize a frame first.
    fn sanitizes_gbuffers(&self) -> bool {
        false
    }

    /// What `upload`'s own sanitizing replaced in the last frame (then cleared); nothing where it
    /// does not sanitize.
    fn take_sanitized(&mut self) -> crate::frame::Sanitized {
        crate::frame::Sanitized::default()
    }

    /// Device path: record the import of a host's textures in place of `upload` (GPU only).
    fn import(&mut self, _frame: &DeviceFrame<'_>) -> Result<()> {
        Err(no_device_path())
    }

    /// Device path: composite into the host's texture in place of `composite` + `read_output`.
    fn composite_to_texture(
        &mut self,
        _params: &CompositeParams,
        _reset_history: bool,
        _output: &wgpu::Texture,
    ) -> Result<()> {
        Err(no_device_path())
    }

    /// Deferred submission (device path in a host's render graph): `flush` finishes the recorded
    /// work into command buffers for the host to submit instead of submitting it.
    fn set_deferred(&mut self, on: bool) -> Result<()> {
        // Submitting right away is what every backend does; only a GPU can defer.
        if on {
            Err(no_device_path())
        } else {
            Ok(())
        }
    }

    /// The command buffers finished since the last call (deferred submission).
    fn take_command_buffers(&mut self) -> Vec<wgpu::CommandBuffer> {
        Vec::new()
    }

    /// Deferred `pack`, first half: record packing the window into the tensor staging buffer.
    fn record_pack(&mut self, _order: &[usize], _slot: usize, _use_look: bool) -> Result<()> {
        Err(no_device_path())
    }

    /// Deferred `pack`, second half, once the host has submitted the recorded pack: read the
    /// tensors into `arena` (waits for the GPU to finish that work).
    fn read_packed(&mut self, _arena: &mut Vec<f32>) -> Result<()> {
        Err(no_device_path())
    }

    /// Device path: the host's colour, unchanged, into its output texture (a pass-through frame).
    fn passthrough_to_texture(
        &mut self,
        _color: &wgpu::Texture,
        _output: &wgpu::Texture,
    ) -> Result<()> {
        Err(no_device_path())
    }
}

fn no_device_path() -> Error {
    Error::config(
        "the CPU backend has no device path",
        "run the device path on a GPU backend (GpuContext::from_host)",
    )
}
