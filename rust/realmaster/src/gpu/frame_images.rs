//! The full-resolution GPU images of one engine frame, shared by preprocessing (which fills them)
//! and compositing (which reads them).

use super::kernel::GpuImage;

/// One frame on the GPU at the engine's resolution.
pub struct FrameImages {
    pub width: u32,
    pub height: u32,
    /// Linear RGB (HDR allowed, never sRGB-encoded) + alpha, 4 channels.
    pub color: GpuImage,
    /// View-space depth, 1 channel (None when the engine gave none).
    pub depth: Option<GpuImage>,
    /// View-space unit normal in xyz, w = 0; 4 channels.
    pub normals: Option<GpuImage>,
    /// Motion in pixels (current → previous) in xy, zw = 0; 4 channels.
    pub motion: Option<GpuImage>,
}
