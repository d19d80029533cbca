//! A clip = scene + camera path + frame count + size + seed + weathers. Renders frames and writes
//! them as a sequence folder (docs/formats.md) through realmaster's SequenceWriter.

use crate::camera::{self, CameraPath};
use crate::math::{v3, Vec3};
use crate::mesh::Vertex;
use crate::post;
use crate::render::{FrameOutput, FrameSetup, Gpu, Renderer, SKY_DEPTH, SS};
use crate::scene::{Scene, SceneKind};
use crate::weather::{self, Weather};
use anyhow::{anyhow, Result};
use realmaster::sequence::{ColorEncoding, SequenceSpec, SequenceWriter};
use std::path::Path;

pub const MAX_SIDE: u32 = 2048;
pub const MIN_SIDE: u32 = 16;
pub const MAX_FRAMES: u32 = 2000;

#[derive(Debug, Clone)]
pub struct ClipSpec {
    pub scene: SceneKind,
    pub variant: String,
    pub camera: CameraPath,
    pub frames: u32,
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    pub seed: u64,
    pub weathers: Vec<Weather>,
    /// Which of `weathers` get written as targets (None = all). Rendering more than is written
    /// keeps the per-weather random streams, and so every target, identical to a full render.
    pub write_targets: Option<Vec<Weather>>,
    /// meta.split ("train" / "heldout"); None for plain renders.
    pub split: Option<String>,
    /// Round the depth/normal/motion planes before writing (None = exact). Values stay f32; the
    /// rounding only makes the EXR files compress far better (used for the committed samples).
    pub plane_quant: Option<PlaneQuant>,
}

impl ClipSpec {
    pub fn new(
        scene: SceneKind,
        camera: CameraPath,
        frames: u32,
        width: u32,
        height: u32,
        seed: u64,
    ) -> ClipSpec {
        ClipSpec {
            scene,
            variant: scene.default_variant().into(),
            camera,
            frames,
            width,
            height,
            fps: 24.0,
            seed,
            weathers: Weather::all(),
            write_targets: None,
            split: None,
            plane_quant: None,
        }
    }

    /// Check the spec; the message says what is wrong and what to pass instead.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&v) {
                return Err(format!(
                    "{name} {v} is out of range; pass a {name} between {MIN_SIDE} and {MAX_SIDE}"
                ));
            }
            if v % 2 != 0 {
                return Err(format!("{name} {v} is odd; pass an even {name} (the targets are resolved from a 2x2 supersample)"));
            }
        }
        if self.frames == 0 || self.frames > MAX_FRAMES {
            return Err(format!(
                "--frames {} is out of range; pass 1 to {MAX_FRAMES}",
                self.frames
            ));
        }
        if self.camera == CameraPath::Cut && self.frames < 2 {
            return Err(
                "the cut camera needs at least 2 frames (one per shot); pass --frames 2 or more"
                    .into(),
            );
        }
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 240.0) {
            return Err(format!(
                "--fps {} is out of range; pass a value in (0, 240]",
                self.fps
            ));
        }
        if !self.scene.variants().contains(&self.variant.as_str()) {
            return Err(format!(
                "unknown {} variant '{}'; choose one of: {}",
                self.scene.name(),
                self.variant,
                self.scene.variants().join(", ")
            ));
        }
        let mut seen = Vec::new();
        for w in &self.weathers {
            if seen.contains(w) {
                return Err(format!(
                    "weather '{}' is listed twice; list each weather once",
                    w.name()
                ));
            }
            seen.push(*w);
        }
        Ok(())
    }

    pub fn cuts(&self) -> Vec<u32> {
        self.camera.cuts(self.frames)
    }
}

/// Renders the frames of one clip.
pub struct ClipRenderer<'g> {
    gpu: &'g Gpu,
    pub spec: ClipSpec,
    pub scene: Scene,
    renderer: Renderer,
    dynamic: Vec<Vertex>,
}

/// One frame in its final, written form.
pub struct EncodedFrame {
    pub sim_rgba8: Vec<u8>,
    pub targets_rgba8: Vec<Vec<u8>>,
    pub depth: Vec<f32>,
    pub normals: Vec<f32>,
    pub motion: Vec<f32>,
}

/// How the committed samples round their float planes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneQuant {
    /// Mantissa bits kept in depth (relative precision 2^-bits).
    pub depth_bits: u32,
    /// Absolute step of normal components and of motion (pixels); powers of two keep them exact in f32.
    pub normal_step: f32,
    pub motion_step: f32,
}

fn round_to(v: f32, step: f32) -> f32 {
    (v / step).round() * step
}

fn keep_mantissa(v: f32, bits: u32) -> f32 {
    if bits >= 23 || !v.is_finite() {
        return v;
    }
    let drop = 23 - bits;
    let b = v.to_bits();
    // Round to nearest, then clear the dropped bits.
    let rounded = b.wrapping_add(1 << (drop - 1)) & !((1u32 << drop) - 1);
    f32::from_bits(rounded)
}

impl<'g> ClipRenderer<'g> {
    pub fn new(gpu: &'g Gpu, spec: ClipSpec) -> Result<Self> {
        Self::with_renderer(gpu, spec, None)
    }

    /// Like `new`, reusing `renderer` (its compiled pipelines) when it has the clip's size.
    pub fn with_renderer(gpu: &'g Gpu, spec: ClipSpec, renderer: Option<Renderer>) -> Result<Self> {
        spec.validate().map_err(|e| anyhow!(e))?;
        let scene = Scene::build(spec.scene, &spec.variant, spec.seed).map_err(|e| anyhow!(e))?;
        let renderer = match renderer {
            Some(mut r) if r.width == spec.width && r.height == spec.height => {
                r.set_scene(gpu, &scene);
                r
            }
            _ => Renderer::new(gpu, &scene, spec.width, spec.height)?,
        };
        Ok(ClipRenderer {
            gpu,
            spec,
            scene,
            renderer,
            dynamic: Vec::new(),
        })
    }

    /// Give the renderer back for the next clip.
    pub fn into_renderer(self) -> Renderer {
        self.renderer
    }

    /// Camera pose for frame `i` (for tests and tools).
    pub fn pose(&self, i: u32) -> camera::Pose {
        camera::pose(
            self.spec.camera,
            &self.scene,
            i,
            self.spec.frames,
            self.spec.fps,
        )
    }

    pub fn is_shot_start(&self, i: u32) -> bool {
        i == 0 || self.spec.cuts().contains(&i)
    }

    /// Render frame `i` (linear, unencoded).
    pub fn frame(&mut self, i: u32) -> Result<FrameOutput> {
        let start = self.is_shot_start(i);
        let cur = self.pose(i);
        let prev = if start { cur } else { self.pose(i - 1) };
        let fps = self.spec.fps;
        let t = i as f32 / fps;
        let t_prev = if start { t } else { (i - 1) as f32 / fps };
        // Shadow maps stay fixed for a whole shot, centred ahead of where the shot begins.
        let (shot, _) = camera::shot_of(self.spec.camera, i, self.spec.frames, fps);
        let shot_first = if shot == 0 { 0 } else { self.spec.cuts()[0] };
        let p0 = self.pose(shot_first);
        let fwd = p0.forward();
        let ahead = v3(fwd.x, 0.0, fwd.z).normalize() * 35.0;
        let half = if self.scene.kind == SceneKind::City {
            80.0
        } else {
            150.0
        };
        self.dynamic.clear();
        self.scene.dynamic_vertices(t, t_prev, &mut self.dynamic);
        let setup = FrameSetup {
            view: cur.view(),
            prev_view: prev.view(),
            cam_pos: cur.eye,
            time: t,
            shot_start: start,
            shadow_center: Vec3 {
                x: p0.eye.x + ahead.x,
                y: 0.0,
                z: p0.eye.z + ahead.z,
            },
            shadow_half: half,
            dynamic: &self.dynamic,
            weathers: &self.spec.weathers,
        };
        self.renderer.render(self.gpu, &setup)
    }

    /// Encode a rendered frame the way it is written: sRGB 8-bit color and targets.
    pub fn encode(&self, out: &FrameOutput, i: u32) -> EncodedFrame {
        let (w, h) = (self.spec.width as usize, self.spec.height as usize);
        let targets_rgba8 = self
            .spec
            .weathers
            .iter()
            .zip(&out.targets)
            .map(|(wth, hdr)| {
                // Grain differs per clip seed, frame and weather, and is the same on every run.
                let grain_seed = self.spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ ((i as u64) << 16)
                    ^ ((*wth as u64) << 48);
                post::finish_target(hdr, w, h, SS as usize, &weather::lighting(*wth), grain_seed)
            })
            .collect();
        let (depth, normals, motion) = match self.spec.plane_quant {
            Some(q) => (
                out.depth
                    .iter()
                    .map(|v| keep_mantissa(*v, q.depth_bits))
                    .collect(),
                out.normals
                    .iter()
                    .map(|v| round_to(*v, q.normal_step))
                    .collect(),
                out.motion
                    .iter()
                    .map(|v| round_to(*v, q.motion_step))
                    .collect(),
            ),
            None => (out.depth.clone(), out.normals.clone(), out.motion.clone()),
        };
        EncodedFrame {
            sim_rgba8: post::finish_sim(&out.sim),
            targets_rgba8,
            depth,
            normals,
            motion,
        }
    }
}

/// What writing a clip took.
#[derive(Debug, Clone)]
pub struct ClipStats {
    pub frames: u32,
    pub seconds: f64,
    pub bytes: u64,
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                dir_size(&path)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Render `spec` into the sequence folder `out`. `cache` carries a renderer from clip to clip (pass
/// `&mut None` for a one-off); `on_frame` is called after every frame (progress, preview capture).
pub fn write_clip(
    gpu: &Gpu,
    spec: &ClipSpec,
    out: &Path,
    cache: &mut Option<Renderer>,
    mut on_frame: impl FnMut(u32, &EncodedFrame),
) -> Result<ClipStats> {
    let t0 = std::time::Instant::now();
    let mut clip = ClipRenderer::with_renderer(gpu, spec.clone(), cache.take())?;
    let mut meta = serde_json::Map::new();
    meta.insert("scene".into(), spec.scene.name().into());
    meta.insert("variant".into(), spec.variant.clone().into());
    meta.insert("camera".into(), spec.camera.name().into());
    meta.insert("seed".into(), spec.seed.into());
    if let Some(s) = &spec.split {
        meta.insert("split".into(), s.clone().into());
    }
    meta.insert(
        "generator".into(),
        format!("realmaster-samples {}", env!("CARGO_PKG_VERSION")).into(),
    );
    meta.insert("sky_depth".into(), SKY_DEPTH.into());
    let written = |w: &Weather| spec.write_targets.as_ref().is_none_or(|k| k.contains(w));
    let seq_spec = SequenceSpec {
        width: spec.width,
        height: spec.height,
        fps: spec.fps as f64,
        frame_count: spec.frames,
        color: ColorEncoding::PngSrgb,
        depth: true,
        normals: true,
        motion: true,
        targets: spec
            .weathers
            .iter()
            .filter(|w| written(w))
            .map(|w| w.name().to_string())
            .collect(),
        cuts: spec.cuts(),
        meta,
    };
    let mut writer = SequenceWriter::create(out, seq_spec)?;
    writer.set_light(crate::export::sequence_light(spec, &clip.scene)?)?;
    for i in 0..spec.frames {
        let t = std::time::Instant::now();
        let f = clip.frame(i)?;
        let t_render = t.elapsed().as_secs_f64();
        let e = clip.encode(&f, i);
        log::debug!(
            "frame {i}: render {t_render:.2} s, post {:.2} s",
            t.elapsed().as_secs_f64() - t_render
        );
        writer.write_color_rgba8(i, &e.sim_rgba8)?;
        writer.write_depth(i, &e.depth)?;
        writer.write_normals(i, &e.normals)?;
        writer.write_motion(i, &e.motion)?;
        for (wth, t) in spec
            .weathers
            .iter()
            .zip(&e.targets_rgba8)
            .filter(|(w, _)| written(w))
        {
            writer.write_target_rgba8(wth.name(), i, t)?;
        }
        on_frame(i, &e);
    }
    writer.finish()?;
    *cache = Some(clip.into_renderer());
    Ok(ClipStats {
        frames: spec.frames,
        seconds: t0.elapsed().as_secs_f64(),
        bytes: dir_size(out),
    })
}

/// Training variants and cameras; the held-out split uses the remaining variant of each scene and
/// the orbit camera, which training never sees.
pub const TRAIN_VARIANTS: [(SceneKind, &str); 4] = [
    (SceneKind::City, "street"),
    (SceneKind::Landscape, "hills"),
    (SceneKind::City, "avenue"),
    (SceneKind::Landscape, "lakeside"),
];
pub const TRAIN_CAMERAS: [CameraPath; 4] = [
    CameraPath::Pan,
    CameraPath::Dolly,
    CameraPath::Turn,
    CameraPath::Cut,
];
pub const HELDOUT_VARIANTS: [(SceneKind, &str); 2] = [
    (SceneKind::City, "downtown"),
    (SceneKind::Landscape, "alpine"),
];
pub const HELDOUT_CAMERA: CameraPath = CameraPath::Orbit;

/// The clips of a training set: `train_NNNN` (cycling variants, cameras and seeds) and
/// `heldout_NNNN`, each with meta.split set.
pub fn training_plan(
    clips: u32,
    heldout: u32,
    frames: u32,
    width: u32,
    height: u32,
    seed: u64,
) -> Vec<(String, ClipSpec)> {
    let mut specs = Vec::new();
    for k in 0..clips as usize {
        let (scene, variant) = TRAIN_VARIANTS[k % TRAIN_VARIANTS.len()];
        // Offset the camera by the variant round so every variant meets every camera.
        let camera = TRAIN_CAMERAS[(k / TRAIN_VARIANTS.len() + k) % TRAIN_CAMERAS.len()];
        let mut s = ClipSpec::new(
            scene,
            camera,
            frames,
            width,
            height,
            seed.wrapping_add(k as u64 * 7919),
        );
        s.variant = variant.into();
        s.split = Some("train".into());
        specs.push((format!("train_{k:04}"), s));
    }
    for k in 0..heldout as usize {
        let (scene, variant) = HELDOUT_VARIANTS[k % HELDOUT_VARIANTS.len()];
        let mut s = ClipSpec::new(
            scene,
            HELDOUT_CAMERA,
            frames,
            width,
            height,
            seed.wrapping_add(1_000_000 + k as u64 * 104_729),
        );
        s.variant = variant.into();
        s.split = Some("heldout".into());
        specs.push((format!("heldout_{k:04}"), s));
    }
    specs
}

/// Total size of a folder tree in bytes.
pub fn folder_bytes(p: &Path) -> u64 {
    dir_size(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mantissa_rounding() {
        assert_eq!(keep_mantissa(1.0, 10), 1.0);
        let v = 3.3f32;
        let q = keep_mantissa(v, 12);
        assert!((q - v).abs() / v < 1.0 / 4096.0);
        assert_eq!(q.to_bits() & 0x7ff, 0);
        assert_eq!(keep_mantissa(-2.5e-3, 12).signum(), -1.0);
    }

    #[test]
    fn heldout_split_is_unseen_in_training() {
        let plan = training_plan(24, 4, 8, 64, 36, 5);
        let train: Vec<&ClipSpec> = plan
            .iter()
            .filter(|(_, s)| s.split.as_deref() == Some("train"))
            .map(|(_, s)| s)
            .collect();
        let held: Vec<&ClipSpec> = plan
            .iter()
            .filter(|(_, s)| s.split.as_deref() == Some("heldout"))
            .map(|(_, s)| s)
            .collect();
        assert_eq!((train.len(), held.len()), (24, 4));
        for h in &held {
            assert!(
                train
                    .iter()
                    .all(|t| t.variant != h.variant && t.camera != h.camera),
                "{h:?}"
            );
        }
        // Training covers every training variant with every training camera.
        for (scene, variant) in TRAIN_VARIANTS {
            for cam in TRAIN_CAMERAS {
                assert!(
                    train
                        .iter()
                        .any(|t| t.scene == scene && t.variant == variant && t.camera == cam),
                    "{variant} {cam:?}"
                );
            }
        }
        assert!(plan.iter().all(|(_, s)| s.validate().is_ok()));
    }

    #[test]
    fn spec_validation() {
        let ok = ClipSpec::new(SceneKind::City, CameraPath::Pan, 4, 64, 36, 1);
        assert!(ok.validate().is_ok());
        let e = ClipSpec {
            width: 63,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("odd"), "{e}");
        let e = ClipSpec {
            height: 0,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = ClipSpec {
            width: 4096,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("between 16 and 2048"), "{e}");
        let e = ClipSpec {
            frames: 0,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("--frames 0"), "{e}");
        let e = ClipSpec {
            camera: CameraPath::Cut,
            frames: 1,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("at least 2 frames"), "{e}");
        let e = ClipSpec {
            variant: "alpine".into(),
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("street, avenue, downtown"), "{e}");
        let e = ClipSpec {
            weathers: vec![Weather::Fog, Weather::Fog],
            ..ok
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }
}
