//! CPU preprocessing stage: engine frame → decoded full-resolution planes → model-resolution
//! inputs (area resample, model encodings, edges).

use crate::error::Result;
use crate::frame::{AuxKind, FrameRef, ImageF32, PlaneRef};
use crate::gpu::preprocess::PreprocessConfig;
use crate::reference::decode::{DecodedFrame, FrameColor};
use crate::reference::edges::{model_edges_into, PreprocessScratch};
use crate::reference::resample::{
    encode_depth, resample_aux_into, resample_color_into, resample_decoded_aux_into, ModelResRef,
};

/// The aux planes in the order of [`CpuPreprocessor`]'s model-size images.
const AUX: [AuxKind; 3] = [AuxKind::Depth, AuxKind::Normals, AuxKind::Motion];

/// Decode + resample + edges on the CPU. Buffers are allocated on the first frame and when the
/// engine resolution or the set of planes changes, never per frame.
pub struct CpuPreprocessor {
    cfg: PreprocessConfig,
    /// The colour plane as submitted (8-bit) or decoded (float formats).
    color: FrameColor,
    /// Depth, normals and motion decoded at full resolution where they could not be resampled at
    /// upload (its colour image stays empty).
    frame: DecodedFrame,
    /// Aux images kept while the engine stops sending that plane.
    spare: [Option<ImageF32>; 3],
    scratch: PreprocessScratch,
    /// The model-size depth (view z), normals and motion, resampled at upload straight from the
    /// submitted planes: only the model-size planes are read after the preprocess (the compositor's
    /// temporal pass runs at model size too), so the full-resolution ones are not decoded. `ready`
    /// while they belong to the last uploaded frame (planes with padded rows are decoded instead).
    aux: [ImageF32; 3],
    ready: [bool; 3],
    uploaded: bool,
}

impl CpuPreprocessor {
    pub fn new(cfg: PreprocessConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(CpuPreprocessor {
            cfg,
            color: FrameColor::default(),
            frame: DecodedFrame::empty(),
            spare: [None, None, None],
            scratch: PreprocessScratch::default(),
            aux: [
                ImageF32::new(0, 0, 1),
                ImageF32::new(0, 0, 4),
                ImageF32::new(0, 0, 4),
            ],
            ready: [false; 3],
            uploaded: false,
        })
    }

    pub fn config(&self) -> &PreprocessConfig {
        &self.cfg
    }

    /// Take one engine frame: its colour kept (see [`FrameColor`]), depth, normals and motion
    /// resampled to the model's size.
    pub fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
        frame.validate_layout()?;
        let mut rest = *frame;
        let size = (frame.width, frame.height);
        for (k, kind) in AUX.into_iter().enumerate() {
            let plane = match kind {
                AuxKind::Depth => &mut rest.depth,
                AuxKind::Normals => &mut rest.normals,
                AuxKind::Motion => &mut rest.motion,
            };
            self.ready[k] = false;
            if let Some(data) = plane.and_then(|p| tight_f32(p, size.0, size.1, kind.channels())) {
                let (plans, out) = (&mut self.scratch.plans, &mut self.aux[k]);
                resample_aux_into(kind, data, size, &self.cfg, plans, out);
                self.ready[k] = true;
                *plane = None;
            }
        }
        self.color.upload(frame);
        self.frame.decode_aux_from(&rest, &mut self.spare);
        self.uploaded = true;
        Ok(())
    }

    /// The last uploaded frame's colour at full resolution (None before the first upload).
    pub fn color(&self) -> Option<&FrameColor> {
        self.uploaded.then_some(&self.color)
    }

    /// Resample + encode + edges of the last decoded frame into `dst`.
    pub fn process(&mut self, dst: &mut ModelResRef) -> Result<()> {
        if !self.uploaded {
            return Err(crate::Error::config(
                "no frame has been uploaded yet",
                "call CpuPreprocessor::upload before process",
            ));
        }
        let plans = &mut self.scratch.plans;
        resample_color_into(&self.color, &self.cfg, plans, dst);
        resample_decoded_aux_into(&self.frame, &self.cfg, plans, dst);
        let [depth, normals, motion] = &self.aux;
        let fits = |src: &ImageF32, dst: &ImageF32| src.data.len() == dst.data.len();
        if self.ready[0] && fits(depth, &dst.depth_z) {
            dst.depth_z.data.copy_from_slice(&depth.data);
            encode_depth(dst, &self.cfg);
            dst.has_depth = true;
        }
        if self.ready[1] && fits(normals, &dst.normals) {
            dst.normals.data.copy_from_slice(&normals.data);
            dst.has_normals = true;
        }
        if self.ready[2] && fits(motion, &dst.motion) {
            dst.motion.data.copy_from_slice(&motion.data);
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

    /// Depth, normals and motion resampled at upload from the submitted planes give the bits of the
    /// decoded path (tight rows); planes with padded rows go through the decode; a frame without
    /// a plane after one with it has none.
    #[test]
    fn aux_planes_from_the_submitted_planes_match_the_decoded_path() {
        let (w, h) = (37u32, 23u32);
        let mut seed = 0x9e37_79b9u32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32
        };
        let color: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 % 251) as u8).collect();
        // Per plane: f32 values (aligned for f32 on little-endian CPUs, where the fast path runs)
        // and the same bytes with 8 bytes of padding per row.
        let mut planes = Vec::new();
        for (channels, lo, hi) in [(1usize, 2.0f32, 7.0f32), (3, -1.0, 1.0), (2, -4.0, 4.0)] {
            let floats: Vec<f32> = (0..w as usize * h as usize * channels)
                .map(|_| lo + (hi - lo) * rand())
                .collect();
            let row = w as usize * channels * 4;
            let tight: &[u8] = bytemuck::cast_slice(&floats);
            let mut padded = vec![0u8; (row + 8) * h as usize];
            for y in 0..h as usize {
                padded[y * (row + 8)..][..row].copy_from_slice(&tight[y * row..][..row]);
            }
            planes.push((floats, padded, row));
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
        let fast = cfg!(target_endian = "little");
        // 0 = tight, 1 = padded rows, 2 = absent; each plane meets each of the others' cases.
        for case in 0..9usize {
            let layout = [case % 3, (case / 3) % 3, (case + case / 3) % 3];
            let plane = |k: usize| -> Option<PlaneRef<'_>> {
                let (floats, padded, row) = &planes[k];
                match layout[k] {
                    0 => Some(PlaneRef::tight(
                        bytemuck::cast_slice(&floats[..]),
                        w,
                        row / w as usize,
                    )),
                    1 => Some(PlaneRef {
                        data: padded,
                        row_pitch: row + 8,
                    }),
                    _ => None,
                }
            };
            let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
            f.depth = plane(0);
            f.normals = plane(1);
            f.motion = plane(2);
            pre.upload(&f).unwrap();
            assert_eq!(
                pre.ready,
                layout.map(|l| l == 0 && fast),
                "layout {layout:?}"
            );
            pre.process(&mut got).unwrap();
            let want = model_inputs(&decode_frame(&f), &cfg);
            assert_eq!(got.has_depth, layout[0] != 2);
            assert_eq!(got.has_normals, layout[1] != 2);
            let bits = |m: &ModelResRef| {
                [
                    &m.normals, &m.edges, &m.color, &m.depth, &m.depth_z, &m.motion,
                ]
                .iter()
                .flat_map(|i| i.data.iter().map(|v| v.to_bits()))
                .collect::<Vec<_>>()
            };
            assert!(bits(&got) == bits(&want), "layout {layout:?}");
        }
    }
}
