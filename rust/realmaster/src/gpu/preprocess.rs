//! GPU preprocessing: engine frame → model-resolution inputs.
//!
//! `Preprocessor::upload` decodes the engine's planes into full-resolution linear images
//! ([`FrameImages`], shared with compositing); `Preprocessor::record` resamples them to the model's
//! size (exact area filter), encodes each plane the way the model expects and computes the edge map
//! into a [`ModelResImages`]; [`Packer`] writes a window of those into the model's NCHW tensors.
//! Every pass is a WGSL file beside its module (preprocess/) with a CPU twin in `crate::reference`.

mod decode;
mod edges;
mod pack;
mod resample;
mod util;

pub use pack::{InputRole, Packer, TensorEntry, TensorLayout};

use crate::error::{Error, Result};
use crate::frame::{FrameRef, MAX_DIMENSION};
use crate::gpu::context::GpuContext;
use crate::gpu::frame_images::FrameImages;
use crate::gpu::kernel::GpuImage;

/// How the model wants colour: the manifest's `color.space`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelColorSpace {
    /// sRGB-encoded, clamped to [0, 1].
    #[default]
    Srgb,
    /// Linear, unclamped (HDR passes through).
    Linear,
}

/// Edge detector settings (Canny-style, at model resolution).
///
/// Each cue yields a strength normalised so that 1.0 is an unmistakable edge; the detector keeps the
/// largest: colour `|grad L|` of perceptual (sRGB-encoded) Rec.709 luminance, so a luminance step of
/// 0.2 scores 0.2; depth `|grad ln z| / depth_relative`; normals `(1 - dot(n1, n2)) / normal_crease`.
/// After non-maximum suppression, strengths >= `high` are edges and strengths >= `low` are edges
/// when connected (8-neighbourhood) to one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeParams {
    /// Hysteresis low threshold (weak edges). Default 0.08.
    pub low: f32,
    /// Hysteresis high threshold (strong edges). Default 0.2.
    pub high: f32,
    /// Relative depth change per pixel (difference of ln z) that scores 1.0. Default 0.25.
    pub depth_relative: f32,
    /// `1 - cos(angle)` between neighbouring normals that scores 1.0. Default 0.3 (about 45 degrees).
    pub normal_crease: f32,
    /// Bound on hysteresis grow steps; each step extends edges by one pixel. Default 64.
    pub max_iterations: u32,
}

impl Default for EdgeParams {
    fn default() -> Self {
        EdgeParams {
            low: 0.08,
            high: 0.2,
            depth_relative: 0.25,
            normal_crease: 0.3,
            max_iterations: 64,
        }
    }
}

/// Upper bound for `EdgeParams::max_iterations` (each step is one dispatch).
pub const MAX_HYSTERESIS_ITERATIONS: u32 = 1024;

/// What the model expects, from its manifest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreprocessConfig {
    /// Model input width (W of the tensors).
    pub model_width: u32,
    /// Model input height (H of the tensors).
    pub model_height: u32,
    /// Colour space of the `frames` tensor.
    pub color_space: ModelColorSpace,
    /// Depth is encoded as `1 / (1 + z / depth_scale)`.
    pub depth_scale: f32,
    /// Edge detector settings.
    pub edges: EdgeParams,
}

impl PreprocessConfig {
    /// Check the values the passes divide by or size buffers with.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = (self.model_width, self.model_height);
        if w == 0 || h == 0 || w > MAX_DIMENSION || h > MAX_DIMENSION {
            return Err(Error::config(
                format!("model resolution {w}x{h} is outside 1..={MAX_DIMENSION}"),
                "set the model input size from the manifest's resolution",
            ));
        }
        if !(self.depth_scale.is_finite() && self.depth_scale > 0.0) {
            return Err(Error::config(
                format!("depth_scale {} is not a positive number", self.depth_scale),
                "use the manifest's depth_scale (world units, e.g. 10.0)",
            ));
        }
        let e = &self.edges;
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !(positive(e.low) && positive(e.high) && e.low <= e.high) {
            return Err(Error::config(
                format!(
                    "edge thresholds low {} / high {} are invalid",
                    e.low, e.high
                ),
                "use positive thresholds with low <= high (defaults 0.08 / 0.2)",
            ));
        }
        if !(positive(e.depth_relative) && positive(e.normal_crease)) {
            return Err(Error::config(
                format!(
                    "edge normalisers depth_relative {} / normal_crease {} must be positive",
                    e.depth_relative, e.normal_crease
                ),
                "use the defaults (0.25 / 0.3) or other positive values",
            ));
        }
        if e.max_iterations == 0 || e.max_iterations > MAX_HYSTERESIS_ITERATIONS {
            return Err(Error::config(
                format!(
                    "edge max_iterations {} is outside 1..={MAX_HYSTERESIS_ITERATIONS}",
                    e.max_iterations
                ),
                "use the default (64)",
            ));
        }
        Ok(())
    }
}

/// One frame's inputs at model resolution. The temporal window keeps T of these.
pub struct ModelResImages {
    /// RGBA in the model's colour space (alpha stays linear coverage), 4 channels.
    pub color: GpuImage,
    /// Linear RGBA at model resolution, 4 channels (compositing's guide).
    pub color_linear: GpuImage,
    /// 0/1 edge map, 1 channel.
    pub edges: GpuImage,
    /// `1 / (1 + z / depth_scale)`, 0 where the frame had no depth; 1 channel.
    pub depth: GpuImage,
    /// Unit view-space normal in xyz (0 where absent), w = 0; 4 channels.
    pub normals: GpuImage,
    /// Motion in model pixels in xy (0 where absent), zw = 0; 4 channels.
    pub motion: GpuImage,
}

impl ModelResImages {
    /// Allocate all planes at the configured model resolution (contents start at zero).
    pub fn new(device: &wgpu::Device, cfg: &PreprocessConfig) -> Self {
        let (w, h) = (cfg.model_width, cfg.model_height);
        ModelResImages {
            color: GpuImage::new(device, "model color", w, h, 4),
            color_linear: GpuImage::new(device, "model color linear", w, h, 4),
            edges: GpuImage::new(device, "model edges", w, h, 1),
            depth: GpuImage::new(device, "model depth", w, h, 1),
            normals: GpuImage::new(device, "model normals", w, h, 4),
            motion: GpuImage::new(device, "model motion", w, h, 4),
        }
    }

    /// The planes with their names, for shape checks and copies.
    fn planes(&self) -> [(&'static str, &GpuImage); 6] {
        [
            ("color", &self.color),
            ("color_linear", &self.color_linear),
            ("edges", &self.edges),
            ("depth", &self.depth),
            ("normals", &self.normals),
            ("motion", &self.motion),
        ]
    }

    /// Error unless every plane has the model size and its channel count.
    pub fn check_shape(&self, cfg: &PreprocessConfig) -> Result<()> {
        for (name, img) in self.planes() {
            let c = if matches!(name, "edges" | "depth") {
                1
            } else {
                4
            };
            if !img.same_shape(cfg.model_width, cfg.model_height, c) {
                return Err(Error::config(
                    format!(
                        "model-resolution image '{name}' is {}x{}x{} but the model needs {}x{}x{c}",
                        img.width, img.height, img.channels, cfg.model_width, cfg.model_height
                    ),
                    "allocate the window's images with ModelResImages::new and the same PreprocessConfig",
                ));
            }
        }
        Ok(())
    }
}

/// Engine frame → [`FrameImages`] → [`ModelResImages`].
///
/// All buffers and bind groups are made at construction or when the engine resolution changes;
/// per frame only uniform values and the raw bytes are written.
pub struct Preprocessor {
    cfg: PreprocessConfig,
    decode: decode::DecodeStage,
    resample: resample::ResampleStage,
    edges: edges::EdgeStage,
    frame: Option<FrameImages>,
    /// Aux images of the current resolution kept while the engine stops sending that plane.
    spare: [Option<GpuImage>; 3],
    /// Internal model-resolution targets; `record` copies them into the caller's images so that no
    /// bind group depends on which window slot is being filled.
    work: ModelResImages,
    /// Model-resolution view depth (not encoded) for the depth edge cue.
    depth_z: GpuImage,
    /// A CPU frame's depth, normals and motion resampled to model size on the CPU at upload:
    /// only those planes cross to the GPU (at 4K the full-resolution ones are 221 MB, ~40 ms of
    /// PCIe on the H200 machine, to be reduced to a few hundred KB on the GPU anyway).
    aux: crate::cpu::AuxResampler,
    /// The model's encoding of the depth plane (the others cross as resampled).
    depth_encoded: crate::frame::ImageF32,
    /// Where the upload writes them on the GPU (encoded depth, depth z, normals, motion);
    /// `record` copies them into `work` and `depth_z` where the GPU resample would run, so the
    /// model-size planes change in command order, as the resample's outputs did.
    aux_staging: [GpuImage; 4],
    /// Which of depth, normals and motion the last upload wrote at model size (Some), or None
    /// when the frame's aux planes are full-resolution images resampled on the GPU (the device
    /// path's import).
    aux_written: Option<[bool; 3]>,
    /// Bytes the last upload or import copied from host memory to the GPU.
    upload_bytes: u64,
}

impl Preprocessor {
    /// Compile the passes and allocate the model-resolution buffers.
    pub fn new(ctx: &GpuContext, cfg: PreprocessConfig) -> Result<Self> {
        cfg.validate()?;
        let device = &ctx.device;
        util::check_storage_size(
            device,
            "a model-resolution image",
            cfg.model_width as u64 * cfg.model_height as u64 * 16,
        )?;
        let work = ModelResImages::new(device, &cfg);
        let depth_z = GpuImage::new(
            device,
            "model depth z",
            cfg.model_width,
            cfg.model_height,
            1,
        );
        let edges = edges::EdgeStage::new(ctx, &cfg, &work, &depth_z);
        Ok(Preprocessor {
            decode: decode::DecodeStage::new(device),
            resample: resample::ResampleStage::new(device),
            edges,
            frame: None,
            spare: [None, None, None],
            work,
            depth_z,
            aux: crate::cpu::AuxResampler::default(),
            depth_encoded: crate::frame::ImageF32::new(0, 0, 1),
            aux_staging: [("depth", 1), ("depth z", 1), ("normals", 4), ("motion", 4)]
                .map(|(name, c)| GpuImage::new(device, name, cfg.model_width, cfg.model_height, c)),
            aux_written: None,
            upload_bytes: 0,
            cfg,
        })
    }

    /// The configuration this preprocessor was built with.
    pub fn config(&self) -> &PreprocessConfig {
        &self.cfg
    }

    /// Upload and decode one engine frame into [`Self::frame`] (submitted to the queue before
    /// returning). Images are reallocated only when the engine resolution changes.
    ///
    /// The colour crosses at full resolution (the guide of the compositor's upsample); depth,
    /// normals and motion are area-resampled to the model's size on the CPU
    /// ([`crate::cpu::AuxResampler`], the CPU backend's code: the same values) and only those
    /// cross, so no full-resolution aux image is kept for a CPU frame.
    pub fn upload(&mut self, ctx: &GpuContext, frame: &FrameRef<'_>) -> Result<()> {
        // O(1) and guards the slicing below; the caller's full validation already ran.
        frame.validate_layout()?;
        self.ensure_frame_images(ctx, (frame.width, frame.height), [false; 3])?;
        let Some(images) = self.frame.as_ref() else {
            return Err(Error::Internal(
                "frame images missing after allocation".into(),
            ));
        };
        // Colour only: the frame images hold no aux image, so the decode skips those planes.
        self.decode.upload(ctx, frame, images)?;
        // The G-buffers need not have been sanitized: the resample checks every value it reads
        // against the sanitizer's rules and resamples a sanitized copy of a plane that breaks
        // them (what it replaced: `take_sanitized`).
        self.aux.resample(frame, &self.cfg);
        let [depth_z, normals, motion] = self.aux.planes();
        if let Some(z) = depth_z {
            crate::reference::resample::encode_depth_into(z, &self.cfg, &mut self.depth_encoded);
        }
        let depth = depth_z.map(|_| &self.depth_encoded);
        let mut bytes = frame.color.row_pitch as u64 * frame.height as u64;
        // Only the planes the frame has: `record` clears the others on the GPU.
        let sources = [depth, depth_z, normals, motion];
        for (dst, src) in self.aux_staging.iter().zip(sources) {
            let Some(src) = src else { continue };
            let data: &[u8] = bytemuck::cast_slice(&src.data);
            if data.len() as u64 != dst.size_bytes() {
                return Err(Error::Internal(format!(
                    "GPU upload: a model-size aux plane holds {} bytes, its image {}",
                    data.len(),
                    dst.size_bytes()
                )));
            }
            ctx.queue.write_buffer(&dst.buffer, 0, data);
            bytes += data.len() as u64;
        }
        self.upload_bytes = bytes;
        self.aux_written = Some(self.aux.present());
        self.frame_changed(ctx);
        Ok(())
    }

    /// What the G-buffer sanitizer replaced in the last [`Self::upload`]'s depth, normals and
    /// motion (then cleared).
    pub fn take_sanitized(&mut self) -> crate::frame::Sanitized {
        self.aux.take_sanitized()
    }

    /// Bytes the last [`Self::upload`] copied to the GPU (the colour plane and the model-size
    /// aux planes), or 0 after an import.
    pub fn upload_bytes(&self) -> u64 {
        self.upload_bytes
    }

    /// Whether the last frame had depth ([`Self::depth_z`] is zero otherwise).
    pub fn has_depth(&self) -> bool {
        self.aux_present()[0]
    }

    /// Which of depth, normals and motion the last frame had.
    fn aux_present(&self) -> [bool; 3] {
        match (self.aux_written, self.frame.as_ref()) {
            (Some(p), _) => p,
            (None, Some(f)) => [f.depth.is_some(), f.normals.is_some(), f.motion.is_some()],
            (None, None) => [false; 3],
        }
    }

    /// The device path's `upload`: record the import of the host's textures into
    /// [`Self::frame`] (`import`: the pass, owned by the caller). Nothing crosses to the CPU.
    pub fn import(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        import: &mut crate::gpu::host::Import,
        frame: &crate::gpu::host::DeviceFrame<'_>,
    ) -> Result<()> {
        frame.validate()?;
        let planes = [
            frame.depth.is_some(),
            frame.normals.is_some(),
            frame.motion.is_some(),
        ];
        self.ensure_frame_images(ctx, (frame.width(), frame.height()), planes)?;
        let Some(images) = self.frame.as_ref() else {
            return Err(Error::Internal(
                "frame images missing after allocation".into(),
            ));
        };
        import.record(ctx, enc, frame, images)?;
        self.aux_written = None;
        self.upload_bytes = 0;
        self.frame_changed(ctx);
        Ok(())
    }

    /// Point the resample and edge stages at the current frame images.
    fn frame_changed(&mut self, ctx: &GpuContext) {
        let Some(images) = self.frame.as_ref() else {
            return;
        };
        self.resample
            .prepare(ctx, &self.cfg, images, &self.work, &self.depth_z);
        let [depth, normals, _] = self.aux_present();
        self.edges.set_frame_cues(ctx, &self.cfg, depth, normals);
    }

    /// The last uploaded frame at full resolution.
    pub fn frame(&self) -> Option<&FrameImages> {
        self.frame.as_ref()
    }

    /// The last recorded frame's view depth at model size (not encoded; 1 channel), as the
    /// compositor's temporal pass reads it; zero where the frame had no depth.
    pub fn depth_z(&self) -> &GpuImage {
        &self.depth_z
    }

    /// Record resample + edges of the last uploaded frame into `dst`. The commands read the frame
    /// images when the encoder is submitted, so submit before the next `upload`.
    pub fn record(
        &self,
        _ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        dst: &ModelResImages,
    ) -> Result<()> {
        let Some(frame) = self.frame.as_ref() else {
            return Err(Error::config(
                "no frame has been uploaded yet",
                "call Preprocessor::upload before record",
            ));
        };
        dst.check_shape(&self.cfg)?;
        self.resample.record(
            enc,
            frame,
            &self.work,
            &self.depth_z,
            (self.cfg.model_width, self.cfg.model_height),
        );
        // A CPU frame's images hold no aux image, so the resample above zeroed those model
        // planes; the ones the frame had were resampled at upload and go over them here.
        if let Some([d, n, m]) = self.aux_written {
            let [depth, depth_z, normals, motion] = &self.aux_staging;
            let copies = [
                (depth, &self.work.depth, d),
                (depth_z, &self.depth_z, d),
                (normals, &self.work.normals, n),
                (motion, &self.work.motion, m),
            ];
            for (src, dst, _) in copies.into_iter().filter(|c| c.2) {
                enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, src.size_bytes());
            }
        }
        self.edges.record(enc);
        for ((_, src), (_, dst)) in self.work.planes().iter().zip(dst.planes().iter()) {
            enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, src.size_bytes());
        }
        Ok(())
    }

    /// Allocate the frame images for a `w` x `h` frame with the aux planes `present`
    /// (depth, normals, motion).
    fn ensure_frame_images(
        &mut self,
        ctx: &GpuContext,
        (w, h): (u32, u32),
        present: [bool; 3],
    ) -> Result<()> {
        let device = &ctx.device;
        if self
            .frame
            .as_ref()
            .is_none_or(|f| f.width != w || f.height != h)
        {
            // Colour is the largest plane (16 B/px), so this bounds the aux planes too.
            util::check_storage_size(
                device,
                "the full-resolution colour image",
                w as u64 * h as u64 * 16,
            )?;
            self.spare = [None, None, None];
            self.frame = None; // free the old resolution before allocating the new one
            self.frame = Some(FrameImages {
                width: w,
                height: h,
                color: GpuImage::new(device, "frame color", w, h, 4),
                depth: None,
                normals: None,
                motion: None,
            });
        }
        let Some(images) = self.frame.as_mut() else {
            return Err(Error::Internal(
                "frame images missing after allocation".into(),
            ));
        };
        let [spare_depth, spare_normals, spare_motion] = &mut self.spare;
        swap_aux(&mut images.depth, spare_depth, present[0], || {
            GpuImage::new(device, "frame depth", w, h, 1)
        });
        swap_aux(&mut images.normals, spare_normals, present[1], || {
            GpuImage::new(device, "frame normals", w, h, 4)
        });
        swap_aux(&mut images.motion, spare_motion, present[2], || {
            GpuImage::new(device, "frame motion", w, h, 4)
        });
        Ok(())
    }
}

/// Keep an aux image in `slot` exactly when the plane is present, parking it in `spare` otherwise.
fn swap_aux(
    slot: &mut Option<GpuImage>,
    spare: &mut Option<GpuImage>,
    present: bool,
    make: impl FnOnce() -> GpuImage,
) {
    if present {
        if slot.is_none() {
            *slot = Some(spare.take().unwrap_or_else(make));
        }
    } else if let Some(img) = slot.take() {
        *spare = Some(img);
    }
}
