//! CPU preprocessing stage: engine frame → decoded full-resolution planes → model-resolution
//! inputs (area resample, model encodings, edges).

use crate::error::Result;
use crate::frame::{FrameRef, ImageF32};
use crate::gpu::preprocess::PreprocessConfig;
use crate::reference::decode::DecodedFrame;
use crate::reference::edges::{model_inputs_into, PreprocessScratch};
use crate::reference::resample::ModelResRef;

/// Decode + resample + edges on the CPU. Buffers are allocated on the first frame and when the
/// engine resolution or the set of planes changes, never per frame.
pub struct CpuPreprocessor {
    cfg: PreprocessConfig,
    frame: DecodedFrame,
    /// Aux images kept while the engine stops sending that plane.
    spare: [Option<ImageF32>; 3],
    scratch: PreprocessScratch,
    uploaded: bool,
}

impl CpuPreprocessor {
    pub fn new(cfg: PreprocessConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(CpuPreprocessor {
            cfg,
            frame: DecodedFrame::empty(),
            spare: [None, None, None],
            scratch: PreprocessScratch::default(),
            uploaded: false,
        })
    }

    pub fn config(&self) -> &PreprocessConfig {
        &self.cfg
    }

    /// Decode one engine frame into [`Self::frame`].
    pub fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
        frame.validate_layout()?;
        self.frame.decode_from(frame, &mut self.spare);
        self.uploaded = true;
        Ok(())
    }

    /// The last decoded frame at full resolution (None before the first upload).
    pub fn frame(&self) -> Option<&DecodedFrame> {
        self.uploaded.then_some(&self.frame)
    }

    /// The last decoded frame, mutable (the compositor swaps the depth plane out).
    pub fn frame_mut(&mut self) -> Option<&mut DecodedFrame> {
        self.uploaded.then_some(&mut self.frame)
    }

    /// Resample + encode + edges of the last decoded frame into `dst`.
    pub fn process(&mut self, dst: &mut ModelResRef) -> Result<()> {
        if !self.uploaded {
            return Err(crate::Error::config(
                "no frame has been uploaded yet",
                "call CpuPreprocessor::upload before process",
            ));
        }
        model_inputs_into(&self.frame, &self.cfg, &mut self.scratch, dst);
        Ok(())
    }
}
