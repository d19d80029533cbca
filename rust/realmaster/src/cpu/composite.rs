//! CPU compositing stage: guided upsample of the model residual, temporal accumulation, blend and
//! encode, fused per row: each row of the upsample is produced inside the temporal pass and each
//! accumulated row is blended and encoded while it is in cache.

use crate::error::{Error, Result};
use crate::frame::{ColorFormat, ImageF32};
use crate::gpu::composite::CompositeParams;
use crate::reference::blend::{blend_encode_row, blend_strength};
use crate::reference::decode::DecodedFrame;
use crate::reference::guided_upsample::{guided_rows, UpsampleScratch};
use crate::reference::temporal::{temporal_into_with, TemporalInputs, TemporalScratch};

/// The compositor's full-resolution state: the ping-pong accumulated residuals and the previous
/// frame's depth.
pub struct CpuCompositor {
    width: u32,
    height: u32,
    history: [ImageF32; 2],
    latest: usize,
    history_valid: bool,
    depth_prev: ImageF32,
    depth_prev_valid: bool,
    upsample: UpsampleScratch,
    /// The temporal pass's band buffers.
    temporal: TemporalScratch,
}

impl Default for CpuCompositor {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuCompositor {
    pub fn new() -> Self {
        let empty = |c| ImageF32::new(0, 0, c);
        CpuCompositor {
            width: 0,
            height: 0,
            history: [empty(4), empty(4)],
            latest: 0,
            history_valid: false,
            depth_prev: empty(1),
            depth_prev_valid: false,
            upsample: UpsampleScratch::default(),
            temporal: TemporalScratch::default(),
        }
    }

    /// Composite `frame` with the model's look (`out_lr`, `in_lr`: model size, 4-channel linear;
    /// `out_lr` alpha is a validity weight) and encode `input + strength * residual` to `format`
    /// into `out` (tight rows). `reset_history`: camera cut or first frame. The frame's depth
    /// plane is swapped into the compositor's previous-depth image (the next decode refills it).
    /// Model images of different shapes are an error: nothing is written, the history is dropped
    /// and the caller shows the untouched frame.
    #[allow(clippy::too_many_arguments)]
    pub fn composite_encode(
        &mut self,
        frame: &mut DecodedFrame,
        out_lr: &ImageF32,
        in_lr: &ImageF32,
        params: &CompositeParams,
        reset_history: bool,
        format: ColorFormat,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let params = params.sanitized();
        let (w, h) = (frame.color.width, frame.color.height);
        if self.width != w || self.height != h {
            self.width = w;
            self.height = h;
            self.history_valid = false;
            self.depth_prev_valid = false;
        }
        // 1. The guided upsample's fit; its full-resolution rows are produced inside the temporal
        // pass, each while it is in cache (no full-resolution image written and read back).
        let lr_ok = out_lr.channels == 4
            && out_lr.width > 0
            && out_lr.height > 0
            && in_lr.channels == 4
            && in_lr.width == out_lr.width
            && in_lr.height == out_lr.height;
        if !lr_ok {
            self.history_valid = false;
            return Err(Error::Internal(format!(
                "CPU compositor: model images must both be 4-channel and the same size (output {}x{}x{}, input {}x{}x{})",
                out_lr.width, out_lr.height, out_lr.channels, in_lr.width, in_lr.height, in_lr.channels
            )));
        }
        let Some(current) = guided_rows(
            &frame.color,
            out_lr,
            in_lr,
            params.upsample_eps,
            &mut self.upsample,
        ) else {
            self.history_valid = false;
            if w == 0 || h == 0 {
                out.clear();
                return Ok(());
            }
            return Err(Error::Internal(format!(
                "CPU compositor: the decoded frame holds {} floats, not {w}x{h}x4",
                frame.color.data.len()
            )));
        };

        // 2. Temporal accumulation into the other history image, blended and encoded per row.
        let history_valid = self.history_valid && !reset_history;
        let (prev, next) = (self.latest, 1 - self.latest);
        let [h0, h1] = &mut self.history;
        let (hist_prev, hist_next) = if prev == 0 { (&*h0, h1) } else { (&*h1, h0) };
        let depth = match (&frame.depth, self.depth_prev_valid) {
            (Some(d), true) => Some((d, &self.depth_prev)),
            _ => None,
        };
        let inputs = TemporalInputs {
            current: &current,
            input: &frame.color,
            history: history_valid.then_some(hist_prev),
            motion: frame.motion.as_ref(),
            depth,
        };
        let bpp = format.bytes_per_pixel();
        out.resize(w as usize * h as usize * bpp, 0);
        let strength = blend_strength(params.strength);
        temporal_into_with(
            &inputs,
            &params,
            hist_next,
            &mut self.temporal,
            (out, w as usize * bpp),
            |input, residual, bytes| {
                blend_encode_row(input, Some(residual), strength, format, bytes)
            },
        );
        self.latest = next;
        self.history_valid = true;

        // 3. Keep this frame's depth for the next frame's disocclusion test.
        match frame.depth.as_mut() {
            Some(d) => {
                std::mem::swap(&mut self.depth_prev, d);
                self.depth_prev_valid = true;
            }
            None => self.depth_prev_valid = false,
        }
        Ok(())
    }

    /// The accumulated residual of the last composite (linear rgb, alpha 1).
    pub fn residual(&self) -> &ImageF32 {
        &self.history[self.latest]
    }

    /// Forget the history; the next composite starts fresh.
    pub fn reset(&mut self) {
        self.history_valid = false;
        self.depth_prev_valid = false;
    }
}
