//! CPU preprocessing stage: engine frame → decoded full-resolution planes → model-resolution
//! inputs (area resample, model encodings, edges).

use crate::error::Result;
use crate::frame::{FrameRef, ImageF32, PlaneRef};
use crate::gpu::preprocess::PreprocessConfig;
use crate::reference::decode::DecodedFrame;
use crate::reference::edges::{model_edges_into, PreprocessScratch};
use crate::reference::resample::{resample_frame_into, resample_normals_into, ModelResRef};

/// Decode + resample + edges on the CPU. Buffers are allocated on the first frame and when the
/// engine resolution or the set of planes changes, never per frame.
pub struct CpuPreprocessor {
    cfg: PreprocessConfig,
    frame: DecodedFrame,
    /// Aux images kept while the engine stops sending that plane.
    spare: [Option<ImageF32>; 3],
    scratch: PreprocessScratch,
    /// The model's normals, resampled at upload straight from the submitted plane (only the
    /// model-size normals are used, so the full-resolution ones are not decoded); `normals_ready`
    /// while they belong to the last uploaded frame.
    normals: ImageF32,
    normals_ready: bool,
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
            normals: ImageF32::new(0, 0, 4),
            normals_ready: false,
            uploaded: false,
        })
    }

    pub fn config(&self) -> &PreprocessConfig {
        &self.cfg
    }

    /// Decode one engine frame into [`Self::frame`].
    pub fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
        frame.validate_layout()?;
        let mut rest = *frame;
        self.normals_ready = false;
        if let Some(data) = frame
            .normals
            .and_then(|n| tight_f32(n, frame.width, frame.height, 3))
        {
            resample_normals_into(
                data,
                (frame.width, frame.height),
                &self.cfg,
                &mut self.scratch.plans,
                &mut self.normals,
            );
            self.normals_ready = true;
            rest.normals = None;
        }
        self.frame.decode_from(&rest, &mut self.spare);
        self.uploaded = true;
        Ok(())
    }

    /// The last decoded frame at full resolution (None before the first upload): colour, depth and
    /// motion; normals only where the plane could not be resampled at upload (rows with padding,
    /// unaligned bytes).
    pub fn frame(&self) -> Option<&DecodedFrame> {
        self.uploaded.then_some(&self.frame)
    }

    /// Resample + encode + edges of the last decoded frame into `dst`.
    pub fn process(&mut self, dst: &mut ModelResRef) -> Result<()> {
        if !self.uploaded {
            return Err(crate::Error::config(
                "no frame has been uploaded yet",
                "call CpuPreprocessor::upload before process",
            ));
        }
        resample_frame_into(&self.frame, &self.cfg, &mut self.scratch.plans, dst);
        if self.normals_ready && self.normals.data.len() == dst.normals.data.len() {
            dst.normals.data.copy_from_slice(&self.normals.data);
            dst.has_normals = true;
        }
        model_edges_into(&self.cfg, &mut self.scratch, dst);
        Ok(())
    }
}

/// A plane of `width` x `height` pixels of `channels` floats as f32, where its rows are tight and
/// its bytes are aligned for f32 on a little-endian CPU (else None: the plane is decoded instead).
fn tight_f32(plane: PlaneRef<'_>, width: u32, height: u32, channels: usize) -> Option<&[f32]> {
    let row = width as usize * channels * 4;
    if !cfg!(target_endian = "little") || plane.row_pitch != row {
        return None;
    }
    let bytes = plane.data.get(..row * height as usize)?;
    bytemuck::try_cast_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorFormat;
    use crate::gpu::preprocess::{EdgeParams, ModelColorSpace};
    use crate::reference::decode::decode_frame;
    use crate::reference::edges::model_inputs;

    /// Normals resampled at upload from the submitted plane give the bits of the decoded path
    /// (tight rows); rows with padding go through the decode; a frame without normals after one
    /// with them has none.
    #[test]
    fn normals_from_the_plane_match_the_decoded_path() {
        let (w, h) = (37u32, 23u32);
        let mut seed = 0x9e37_79b9u32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32
        };
        let color: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 % 251) as u8).collect();
        let depth: Vec<u8> = (0..w * h)
            .flat_map(|_| (2.0 + 5.0 * rand()).to_le_bytes())
            .collect();
        let floats: Vec<f32> = (0..w * h * 3).map(|_| 2.0 * rand() - 1.0).collect();
        // Bytes of an f32 buffer: aligned for f32 (little-endian CPUs, where the fast path runs).
        let tight: &[u8] = bytemuck::cast_slice(&floats);
        // The same normals with 8 bytes of padding per row.
        let pitch = w as usize * 12 + 8;
        let mut padded = vec![0u8; pitch * h as usize];
        for y in 0..h as usize {
            padded[y * pitch..][..w as usize * 12]
                .copy_from_slice(&tight[y * w as usize * 12..][..w as usize * 12]);
        }
        let cfg = PreprocessConfig {
            model_width: 16,
            model_height: 9,
            color_space: ModelColorSpace::Srgb,
            depth_scale: 10.0,
            edges: EdgeParams::default(),
        };
        let mut pre = CpuPreprocessor::new(cfg).unwrap();
        let mut got = ModelResRef::new(16, 9);
        let base = {
            let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
            f.depth = Some(PlaneRef::tight(&depth, w, 4));
            f
        };
        for (normals, fast) in [
            (
                Some(PlaneRef::tight(tight, w, 12)),
                cfg!(target_endian = "little"),
            ),
            (
                Some(PlaneRef {
                    data: &padded,
                    row_pitch: pitch,
                }),
                false,
            ),
            (None, false),
        ] {
            let mut f = base;
            f.normals = normals;
            pre.upload(&f).unwrap();
            assert_eq!(pre.normals_ready, fast);
            pre.process(&mut got).unwrap();
            let want = model_inputs(&decode_frame(&f), &cfg);
            assert_eq!(got.has_normals, normals.is_some());
            let bits = |m: &ModelResRef| {
                [&m.normals, &m.edges, &m.color, &m.depth]
                    .iter()
                    .flat_map(|i| i.data.iter().map(|v| v.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                bits(&got),
                bits(&want),
                "normals {:?}",
                normals.map(|n| n.row_pitch)
            );
        }
    }
}
