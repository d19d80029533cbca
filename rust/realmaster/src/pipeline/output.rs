//! What the session hands back: a frame in the engine's own format.

use crate::frame::{ColorFormat, FrameRef};

/// A finished frame, tightly packed, in the same format as the submitted frame.
#[derive(Debug, Clone)]
pub struct OutputFrame {
    pub width: u32,
    pub height: u32,
    pub format: ColorFormat,
    pub data: Vec<u8>,
    /// 0-based index of the submitted frame this output belongs to.
    pub frame_index: u64,
    /// False when the frame is the untouched input (no model, an error, or no output yet).
    pub enhanced: bool,
}

impl Default for OutputFrame {
    fn default() -> Self {
        OutputFrame {
            width: 0,
            height: 0,
            format: ColorFormat::Rgba8Srgb,
            data: Vec::new(),
            frame_index: 0,
            enhanced: false,
        }
    }
}

impl OutputFrame {
    /// Overwrite with the untouched input (tight copy, reusing the allocation).
    pub fn set_passthrough(&mut self, frame: &FrameRef<'_>, frame_index: u64) {
        let bpp = frame.format.bytes_per_pixel();
        let row = frame.width as usize * bpp;
        self.width = frame.width;
        self.height = frame.height;
        self.format = frame.format;
        self.frame_index = frame_index;
        self.enhanced = false;
        self.data.clear();
        if frame.color.row_pitch == row {
            self.data
                .extend_from_slice(&frame.color.data[..row * frame.height as usize]);
        } else {
            for y in 0..frame.height as usize {
                self.data
                    .extend_from_slice(&frame.color.data[y * frame.color.row_pitch..][..row]);
            }
        }
    }

    /// Copy into `dst`, reusing its allocation.
    pub fn copy_to(&self, dst: &mut OutputFrame) {
        dst.width = self.width;
        dst.height = self.height;
        dst.format = self.format;
        dst.frame_index = self.frame_index;
        dst.enhanced = self.enhanced;
        dst.data.clear();
        dst.data.extend_from_slice(&self.data);
    }
}

/// Milliseconds spent per stage on one frame (wall clock on the worker; GPU stages are timed with a
/// wait after each when profiling is on, which is what `realmaster bench` does).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct FrameTimings {
    /// The input checks: the G-buffer sanitizer and the colour plane's NaN/Inf scan (before
    /// `total_ms` starts).
    pub validate_ms: f64,
    pub upload_ms: f64,
    pub preprocess_ms: f64,
    /// Packing the tensor and reading it back for ONNX Runtime.
    pub pack_ms: f64,
    pub inference_ms: f64,
    /// Uploading the model output, reprojection, guided upsample, temporal accumulation, blend.
    pub composite_ms: f64,
    pub readback_ms: f64,
    pub total_ms: f64,
    /// Whether this frame launched an inference (realtime mode skips it while one is in flight).
    pub inferred: bool,
    /// For a diffusion model: the VAE encoder, denoiser (all steps) and VAE decoder times inside
    /// `inference_ms`, from the inference folded into this frame.
    pub diffusion: Option<crate::model::DiffusionTimings>,
    /// GPU time per stage from timestamp queries (profiling on a GPU backend whose device has
    /// them; None otherwise).
    pub gpu: Option<crate::gpu::timestamps::GpuStageTimes>,
}
