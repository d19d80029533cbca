//! CPU preprocessing stage: engine frame → decoded full-resolution planes → model-resolution
//! inputs (area resample, model encodings, edges).

use crate::error::Result;
use crate::frame::{sanitize_plane, AuxKind, ColorFormat, FrameRef, ImageF32, PlaneRef, Sanitized};
use crate::gpu::preprocess::PreprocessConfig;
use crate::reference::decode::{decode_color_into, ColorRows};
use crate::reference::edges::{model_edges_into, PreprocessScratch};
use crate::reference::resample::{
    model_aux_swap, model_color, resample_aux_checked, resample_aux_into,
    resample_color_linear_into, ModelResRef, ResamplePlans,
};

/// The aux planes in the order of [`CpuPreprocessor`]'s model-size images.
const AUX: [AuxKind; 3] = [AuxKind::Depth, AuxKind::Normals, AuxKind::Motion];

/// Decode + resample + edges on the CPU. Buffers are allocated on the first frame and when the
/// engine resolution or the set of planes changes, never per frame.
pub struct CpuPreprocessor {
    cfg: PreprocessConfig,
    /// The last uploaded frame's colour decoded to linear, for float formats (8-bit colour is read
    /// from the frame itself: see [`ColorRows`]); stays empty otherwise.
    decoded: ImageF32,
    /// The last uploaded frame's linear colour at model size (resampled at upload, while the
    /// frame's rows are at hand).
    color_lr: ImageF32,
    /// (width, height, format) of the last uploaded frame: the frame the compositor must be given.
    uploaded_as: Option<(u32, u32, ColorFormat)>,
    /// Whether [`Self::process`] has handed the last upload's model-size planes over (by exchange,
    /// not copy: `color_lr` and `aux` then hold the destination's old planes until the next
    /// upload).
    handed_over: bool,
    scratch: PreprocessScratch,
    /// The model-size depth (view z), normals and motion, resampled at upload straight from the
    /// submitted planes: only the model-size planes are read after the preprocess (the compositor's
    /// temporal pass runs at model size too), so the full-resolution ones are not decoded.
    aux: AuxResampler,
}

/// A submitted frame's depth (view z), normals and motion at the model's size, resampled straight
/// from its planes with the G-buffer sanitizer's rules checked as the rows are read. The CPU
/// backend's preprocessor keeps them for its model inputs; the GPU backend's upload of a CPU frame
/// uploads them instead of the full-resolution planes (a few hundred KB instead of ~50 MB at 1080p).
/// Buffers are sized on the first frame and reused.
pub struct AuxResampler {
    plans: ResamplePlans,
    /// Depth z (1 channel), normals (4), motion (4); `ready` while they belong to the last frame.
    aux: [ImageF32; 3],
    ready: [bool; 3],
    /// A plane with padded rows, or one with values the G-buffer sanitizer replaces, copied
    /// tight and sanitized before its resample (sized on the first such frame, then reused).
    fixed: Vec<f32>,
    /// What the sanitizer replaced in the last frame.
    sanitized: Sanitized,
}

impl Default for AuxResampler {
    fn default() -> Self {
        AuxResampler {
            plans: ResamplePlans::default(),
            aux: [
                ImageF32::new(0, 0, 1),
                ImageF32::new(0, 0, 4),
                ImageF32::new(0, 0, 4),
            ],
            ready: [false; 3],
            fixed: Vec::new(),
            sanitized: Sanitized::default(),
        }
    }
}

impl AuxResampler {
    /// Resample `frame`'s depth, normals and motion (those it has) to `cfg`'s model size. The
    /// planes need not have been sanitized: each source row is checked against the sanitizer's
    /// rules as the resample reads it, and a plane with a bad value is copied, sanitized
    /// (`frame::sanitize_plane`, the session's rules) and resampled again.
    pub fn resample(&mut self, frame: &FrameRef<'_>, cfg: &PreprocessConfig) {
        let size = (frame.width, frame.height);
        let (w, h) = (size.0 as usize, size.1 as usize);
        self.sanitized = Sanitized::default();
        for (k, kind) in AUX.into_iter().enumerate() {
            let plane = match kind {
                AuxKind::Depth => frame.depth,
                AuxKind::Normals => frame.normals,
                AuxKind::Motion => frame.motion,
            };
            self.ready[k] = plane.is_some();
            let Some(plane) = plane else { continue };
            let (plans, out) = (&mut self.plans, &mut self.aux[k]);
            let clean = tight_f32(plane, size.0, size.1, kind.channels())
                .is_some_and(|data| resample_aux_checked(kind, data, size, cfg, plans, out));
            if clean {
                continue;
            }
            // Padded rows, or a value to replace: a tight copy, sanitized, resampled.
            let row = w * kind.bytes_per_pixel();
            self.fixed.resize(w * h * kind.channels(), 0.0);
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.fixed[..]);
            for (y, dst) in bytes.chunks_exact_mut(row.max(1)).enumerate().take(h) {
                dst.copy_from_slice(&plane.data[y * plane.row_pitch..][..row]);
            }
            let replaced = sanitize_plane(kind, bytes, (w, h));
            log::debug!(
                "aux resample: {} plane copied before its resample ({} values replaced; padded rows otherwise)",
                kind.name(),
                replaced
            );
            match kind {
                AuxKind::Depth => self.sanitized.depth = replaced,
                AuxKind::Normals => self.sanitized.normals = replaced,
                AuxKind::Motion => self.sanitized.motion = replaced,
            }
            resample_aux_into(kind, &self.fixed, size, cfg, plans, out);
        }
    }

    /// The last frame's model-size depth z, normals and motion (None for a plane it lacked).
    pub fn planes(&self) -> [Option<&ImageF32>; 3] {
        let [d, n, m] = &self.aux;
        let [rd, rn, rm] = self.ready;
        [rd.then_some(d), rn.then_some(n), rm.then_some(m)]
    }

    /// [`Self::planes`] to be taken (`resample::model_aux_swap`): what a caller leaves in them is
    /// overwritten by the next [`Self::resample`].
    pub fn planes_mut(&mut self) -> [Option<&mut ImageF32>; 3] {
        let [d, n, m] = &mut self.aux;
        let [rd, rn, rm] = self.ready;
        [rd.then_some(d), rn.then_some(n), rm.then_some(m)]
    }

    /// Which of depth, normals and motion the last frame had.
    pub fn present(&self) -> [bool; 3] {
        self.ready
    }

    /// What the G-buffer sanitizer replaced in the last frame (then cleared).
    pub fn take_sanitized(&mut self) -> Sanitized {
        std::mem::take(&mut self.sanitized)
    }
}

impl CpuPreprocessor {
    pub fn new(cfg: PreprocessConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(CpuPreprocessor {
            cfg,
            decoded: ImageF32::new(0, 0, 4),
            color_lr: ImageF32::new(0, 0, 4),
            uploaded_as: None,
            handed_over: false,
            scratch: PreprocessScratch::default(),
            aux: AuxResampler::default(),
        })
    }

    pub fn config(&self) -> &PreprocessConfig {
        &self.cfg
    }

    /// Take one engine frame: its colour, depth, normals and motion resampled to the model's size
    /// (float colour also decoded and kept for the compositor; 8-bit colour is not copied: the
    /// compositor reads it from the same frame, [`Self::color`]). The G-buffers need not have been sanitized: each source row
    /// is checked against the sanitizer's rules as the resample reads it, and a plane with a bad
    /// value is copied, sanitized (`frame::sanitize_plane`, the session's rules) and resampled
    /// again; [`take_sanitized`](Self::take_sanitized) reports what was replaced.
    pub fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
        frame.validate_layout()?;
        self.aux.resample(frame, &self.cfg);
        self.uploaded_as = None;
        if ColorRows::needs_decode(frame.format) {
            decode_color_into(frame, &mut self.decoded);
        }
        let color = ColorRows::new(frame, &self.decoded);
        let plans = &mut self.scratch.plans;
        resample_color_linear_into(color, &self.cfg, plans, &mut self.color_lr);
        self.uploaded_as = Some((frame.width, frame.height, frame.format));
        self.handed_over = false;
        Ok(())
    }

    /// What the G-buffer sanitizer replaced in the last uploaded frame (then cleared).
    pub fn take_sanitized(&mut self) -> Sanitized {
        self.aux.take_sanitized()
    }

    /// The colour of `frame`, which must be the last uploaded one (the compositor reads it): its
    /// 8-bit rows in place, or the decoded image of a float frame. An error before any upload or
    /// for a frame of another size or format.
    pub fn color<'a>(&'a self, frame: &FrameRef<'a>) -> Result<ColorRows<'a>> {
        if self.uploaded_as != Some((frame.width, frame.height, frame.format)) {
            return Err(crate::Error::Internal(format!(
                "CPU preprocessor: the frame to composite ({}x{} {:?}) is not the uploaded one ({:?})",
                frame.width, frame.height, frame.format, self.uploaded_as
            )));
        }
        Ok(ColorRows::new(frame, &self.decoded))
    }

    /// Resample + encode + edges of the last uploaded frame into `dst`, once per upload: the
    /// upload's model-size planes trade places with `dst`'s rather than being copied (3.25 MB a
    /// frame at 256x256), so a second call before the next upload is an error.
    pub fn process(&mut self, dst: &mut ModelResRef) -> Result<()> {
        if self.uploaded_as.is_none() {
            return Err(crate::Error::config(
                "no frame has been uploaded yet",
                "call CpuPreprocessor::upload before process",
            ));
        }
        if self.handed_over {
            return Err(crate::Error::config(
                "the uploaded frame has already been processed",
                "upload the frame again before processing it into another destination",
            ));
        }
        self.handed_over = true;
        std::mem::swap(&mut dst.color_linear, &mut self.color_lr);
        model_color(dst, &self.cfg);
        model_aux_swap(self.aux.planes_mut(), &self.cfg, dst);
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
        // Per plane: f32 values within the sanitizer's rules (aligned for f32 on little-endian
        // CPUs, where the fast path runs)
        // and the same bytes with 8 bytes of padding per row.
        let mut planes = Vec::new();
        for (channels, lo, hi) in [(1usize, 2.0f32, 7.0f32), (3, -0.8, 0.8), (2, -4.0, 4.0)] {
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
                pre.aux.present(),
                layout.map(|l| l != 2),
                "layout {layout:?}"
            );
            assert!(!pre.take_sanitized().any());
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

    /// The compositor reads an 8-bit frame's colour from the frame itself (not a copy), a float
    /// frame's decoded once at upload; a frame other than the uploaded one is an error.
    #[test]
    fn colour_is_read_from_the_uploaded_frame() {
        let cfg = PreprocessConfig {
            model_width: 8,
            model_height: 4,
            color_space: ModelColorSpace::Srgb,
            depth_scale: 10.0,
            edges: EdgeParams::default(),
        };
        let mut pre = CpuPreprocessor::new(cfg).unwrap();
        let bytes: Vec<u8> = (0..17 * 9 * 4).map(|i| (i * 13 % 256) as u8).collect();
        let frame = FrameRef::color_only(17, 9, ColorFormat::Bgra8Srgb, &bytes);
        assert!(pre.color(&frame).is_err(), "nothing uploaded yet");
        pre.upload(&frame).unwrap();
        match pre.color(&frame).unwrap() {
            ColorRows::Srgb8 { bytes: b, bgr, .. } => {
                assert!(std::ptr::eq(b, &bytes[..]) && bgr);
            }
            ColorRows::Linear(_) => panic!("8-bit colour must be read in place"),
        }
        let other = FrameRef::color_only(9, 17, ColorFormat::Bgra8Srgb, &bytes);
        assert!(pre.color(&other).is_err());
        let floats: Vec<u8> = (0..17 * 9 * 4)
            .flat_map(|i| (i as f32 / 600.0).to_le_bytes())
            .collect();
        let float_frame = FrameRef::color_only(17, 9, ColorFormat::Rgba32Float, &floats);
        assert!(pre.color(&float_frame).is_err(), "not the uploaded format");
        pre.upload(&float_frame).unwrap();
        assert!(pre.color(&frame).is_err());
        let color = pre.color(&float_frame).unwrap();
        assert_eq!(color.to_linear(), decode_frame(&float_frame).color);
        let mut got = ModelResRef::new(8, 4);
        pre.process(&mut got).unwrap();
        let want = model_inputs(&decode_frame(&float_frame), &cfg);
        assert_eq!(got.color_linear, want.color_linear);
        assert_eq!(got.color, want.color);
        // The upload's planes were handed over: a second process is refused and leaves the
        // first one's result alone; after the next upload it runs again.
        let mut again = ModelResRef::new(8, 4);
        let err = pre.process(&mut again).unwrap_err().to_string();
        assert!(err.contains("already been processed"), "{err}");
        assert_eq!(got.color_linear, want.color_linear);
        pre.upload(&float_frame).unwrap();
        pre.process(&mut again).unwrap();
        assert_eq!(again.color_linear, want.color_linear);
        assert_eq!(again.color, want.color);
    }

    /// Bad G-buffer values (each kind the sanitizer replaces, in the first, a middle and the last
    /// row, tight and padded planes) give the model-size planes of the frame sanitized first, and
    /// the counts `OwnedFrame::sanitize_gbuffers` reports; a clean frame after them reports none.
    #[test]
    fn upload_sanitizes_as_the_session_would() {
        let (w, h) = (37u32, 29u32);
        let n = (w * h) as usize;
        let color: Vec<u8> = (0..n * 4).map(|i| (i * 5 % 253) as u8).collect();
        let depth: Vec<f32> = (0..n).map(|i| 2.0 + (i % 17) as f32 * 0.3).collect();
        let normals: Vec<f32> = (0..n * 3).map(|i| [0.3f32, -0.5, 0.81][i % 3]).collect();
        let motion: Vec<f32> = (0..n * 2).map(|i| (i % 7) as f32 - 3.0).collect();
        let cfg = PreprocessConfig {
            model_width: 12,
            model_height: 8,
            color_space: ModelColorSpace::Srgb,
            depth_scale: 10.0,
            edges: EdgeParams::default(),
        };
        let mut pre = CpuPreprocessor::new(cfg).unwrap();
        let bits = |m: &ModelResRef| {
            [&m.normals, &m.depth, &m.depth_z, &m.motion]
                .iter()
                .flat_map(|i| i.data.iter().map(|v| v.to_bits()))
                .collect::<Vec<_>>()
        };
        for pad in [0usize, 12] {
            for row in [0usize, 13, h as usize - 1] {
                let (mut d, mut nr, mut m) = (depth.clone(), normals.clone(), motion.clone());
                let at = row * w as usize + 5;
                d[at] = f32::NAN;
                d[at + 1] = f32::INFINITY;
                nr[3 * at..3 * at + 3].copy_from_slice(&[0.0, 3.0, 4.0]);
                m[2 * at + 1] = f32::NAN;
                let padded = |v: &[f32], ch: usize| {
                    let r = w as usize * ch * 4;
                    let mut out = Vec::new();
                    for src in bytemuck::cast_slice::<f32, u8>(v).chunks(r) {
                        out.extend_from_slice(src);
                        out.extend(std::iter::repeat_n(0u8, pad));
                    }
                    out
                };
                let (db, nb, mb) = (padded(&d, 1), padded(&nr, 3), padded(&m, 2));
                let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
                f.depth = Some(PlaneRef {
                    data: &db,
                    row_pitch: w as usize * 4 + pad,
                });
                f.normals = Some(PlaneRef {
                    data: &nb,
                    row_pitch: w as usize * 12 + pad,
                });
                f.motion = Some(PlaneRef {
                    data: &mb,
                    row_pitch: w as usize * 8 + pad,
                });
                let mut got = ModelResRef::new(12, 8);
                pre.upload(&f).unwrap();
                pre.process(&mut got).unwrap();
                let mut owned = f.to_owned_frame();
                let want_counts = owned.sanitize_gbuffers();
                assert_eq!(
                    want_counts,
                    crate::frame::Sanitized {
                        depth: 2,
                        normals: 1,
                        motion: 1
                    }
                );
                assert_eq!(pre.take_sanitized(), want_counts, "pad {pad} row {row}");
                let want = model_inputs(&decode_frame(&owned.as_frame_ref()), &cfg);
                assert!(bits(&got) == bits(&want), "pad {pad} row {row}");
                assert!(got.depth_z.data.iter().all(|v| v.is_finite()));
            }
        }
        let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
        let (db, nb, mb): (&[u8], &[u8], &[u8]) = (
            bytemuck::cast_slice(&depth),
            bytemuck::cast_slice(&normals),
            bytemuck::cast_slice(&motion),
        );
        f.depth = Some(PlaneRef::tight(db, w, 4));
        f.normals = Some(PlaneRef::tight(nb, w, 12));
        f.motion = Some(PlaneRef::tight(mb, w, 8));
        pre.upload(&f).unwrap();
        assert!(!pre.take_sanitized().any());
    }
}
