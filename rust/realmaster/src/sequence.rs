//! Sequence folders (docs/formats.md, "Sequence folder (version 1)"): `Sequence` reads and checks one,
//! `SequenceWriter` writes one. The sample renderer, `realmaster render` and the training tools share
//! this code so that every reader and writer agrees on the layout.
//!
//! Planes come back as tight little-endian f32 (depth 1, normals 3, motion 2 floats per pixel), the
//! layout `OwnedFrame` uses. PNG color loads as `Rgba8Srgb`, EXR color as `Rgba32Float` (linear).

use crate::error::{Error, Result};
use crate::frame::{
    linear_to_srgb, srgb_to_linear, AuxKind, ColorFormat, FrameRef, ImageF32, OwnedFrame,
    MAX_DIMENSION,
};
use crate::light::SceneLight;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `format` value of every sequence.json.
pub const SEQUENCE_FORMAT: &str = "realmaster-sequence";
/// The one version this code reads and writes.
pub const SEQUENCE_VERSION: u32 = 1;
/// File name of the descriptor inside a sequence folder.
pub const SEQUENCE_JSON: &str = "sequence.json";
/// Upper bound on `frame_count`; beyond this the file check alone would take minutes, and no real
/// clip is that long.
pub const MAX_FRAME_COUNT: u32 = 1_000_000;

/// The only supported value of each convention field (what the runtime assumes).
pub const DEPTH_CONVENTION: &str = "view_z";
pub const NORMALS_SPACE: &str = "view";
pub const MOTION_CONVENTION: &str = "pixels_to_previous";

/// How color frames are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorEncoding {
    /// 8-bit sRGB PNG, RGB or RGBA.
    PngSrgb,
    /// Linear RGB(A) OpenEXR, f16 or f32.
    ExrLinear,
}

impl ColorEncoding {
    pub const fn as_str(self) -> &'static str {
        match self {
            ColorEncoding::PngSrgb => "png_srgb",
            ColorEncoding::ExrLinear => "exr_linear",
        }
    }
    fn extension(self) -> &'static str {
        match self {
            ColorEncoding::PngSrgb => "png",
            ColorEncoding::ExrLinear => "exr",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "png_srgb" => Some(ColorEncoding::PngSrgb),
            "exr_linear" => Some(ColorEncoding::ExrLinear),
            _ => None,
        }
    }
}

/// `"color": {...}` in sequence.json.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColorChannel {
    pub pattern: String,
    /// `png_srgb` or `exr_linear`.
    pub encoding: String,
}

/// `"depth": {...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DepthChannel {
    pub pattern: String,
    pub convention: String,
}

/// `"normals": {...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NormalsChannel {
    pub pattern: String,
    pub space: String,
}

/// `"motion": {...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MotionChannel {
    pub pattern: String,
    pub convention: String,
}

/// `"light": {...}`: per frame, the engine's sun and the world's up in the view space of the
/// normals (`crate::SceneLight`), for models that read the light.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LightChannel {
    pub space: String,
    /// One direction towards the sun per frame.
    pub sun: Vec<[f32; 3]>,
    /// One world-up direction per frame.
    pub up: Vec<[f32; 3]>,
}

/// The only supported value of `light.space`.
pub const LIGHT_SPACE: &str = "view";

/// sequence.json, field for field. Unknown fields are ignored so newer writers stay readable.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SequenceDesc {
    pub format: String,
    pub version: u32,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub frame_count: u32,
    pub color: ColorChannel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normals: Option<NormalsChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion: Option<MotionChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<LightChannel>,
    /// prompt → pattern of its paired target frames.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, String>,
    /// Frame indices that start a new shot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<u32>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// One channel of a sequence, for naming files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    Color,
    Depth,
    Normals,
    Motion,
    Target(&'a str),
}

impl Channel<'_> {
    fn describe(&self) -> String {
        match self {
            Channel::Color => "color".into(),
            Channel::Depth => "depth".into(),
            Channel::Normals => "normals".into(),
            Channel::Motion => "motion".into(),
            Channel::Target(p) => format!("target '{p}'"),
        }
    }
}

/// Expand `{frame}` / `{frame:0N}` in a pattern. Returns None if the pattern has no valid placeholder.
pub fn expand_pattern(pattern: &str, frame: u32) -> Option<String> {
    let start = pattern.find("{frame")?;
    let end = start + pattern[start..].find('}')?;
    let spec = &pattern[start + "{frame".len()..end];
    let number = if spec.is_empty() {
        frame.to_string()
    } else {
        let width: usize = spec
            .strip_prefix(":0")?
            .parse()
            .ok()
            .filter(|w| (1..=9).contains(w))?;
        format!("{frame:0width$}")
    };
    let rest = &pattern[end + 1..];
    if rest.contains("{frame") {
        return None;
    }
    Some(format!("{}{}{}", &pattern[..start], number, rest))
}

fn seq_err(path: impl Into<PathBuf>, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::Sequence {
        path: path.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Patterns must stay inside the folder: relative, no `..`, with a frame placeholder.
fn check_pattern(json: &Path, what: &str, pattern: &str) -> Result<()> {
    let fix = "use a relative pattern inside the folder with one {frame:04} placeholder, e.g. \"color/{frame:04}.png\"";
    if expand_pattern(pattern, 0).is_none() {
        return Err(seq_err(
            json,
            format!(
                "{what} pattern \"{pattern}\" has no valid {{frame}} or {{frame:0N}} placeholder"
            ),
            fix,
        ));
    }
    let p = Path::new(pattern);
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(seq_err(
            json,
            format!("{what} pattern \"{pattern}\" points outside the sequence folder"),
            fix,
        ));
    }
    Ok(())
}

/// Target prompt names become folder names: keep them to a safe alphabet.
pub fn is_valid_prompt_name(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl SequenceDesc {
    /// Check everything that does not need the files: format, version, sizes, conventions, patterns, cuts.
    pub fn validate(&self, json: &Path) -> Result<()> {
        if self.format != SEQUENCE_FORMAT {
            return Err(seq_err(
                json,
                format!(
                    "\"format\" is \"{}\", expected \"{SEQUENCE_FORMAT}\"",
                    self.format
                ),
                "point at a sequence folder (docs/formats.md), not another kind of folder",
            ));
        }
        if self.version != SEQUENCE_VERSION {
            return Err(seq_err(
                json,
                format!(
                    "version {} is not supported (this build reads version {SEQUENCE_VERSION})",
                    self.version
                ),
                "re-export the sequence as version 1, or update realmaster",
            ));
        }
        if self.width == 0
            || self.height == 0
            || self.width > MAX_DIMENSION
            || self.height > MAX_DIMENSION
        {
            return Err(seq_err(
                json,
                format!(
                    "size {}x{} is outside 1..={MAX_DIMENSION} px per side",
                    self.width, self.height
                ),
                "set width and height to the real pixel size of the frames",
            ));
        }
        if self.frame_count == 0 || self.frame_count > MAX_FRAME_COUNT {
            return Err(seq_err(
                json,
                format!(
                    "frame_count {} is outside 1..={MAX_FRAME_COUNT}",
                    self.frame_count
                ),
                "set frame_count to the number of frames in the folder",
            ));
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(seq_err(
                json,
                format!("fps {} is not a positive number", self.fps),
                "set fps, e.g. 24.0",
            ));
        }
        let Some(enc) = ColorEncoding::parse(&self.color.encoding) else {
            return Err(seq_err(
                json,
                format!("color encoding \"{}\" is unknown", self.color.encoding),
                "use \"png_srgb\" (8-bit sRGB PNG) or \"exr_linear\" (linear OpenEXR)",
            ));
        };
        check_pattern(json, "color", &self.color.pattern)?;
        if !self
            .color
            .pattern
            .to_ascii_lowercase()
            .ends_with(enc.extension())
        {
            return Err(seq_err(
                json,
                format!(
                    "color pattern \"{}\" does not end in .{} but encoding is {}",
                    self.color.pattern,
                    enc.extension(),
                    enc.as_str()
                ),
                "make the pattern's extension match the encoding",
            ));
        }
        let conventions = [
            (
                "depth",
                self.depth.as_ref().map(|c| (&c.pattern, &c.convention)),
                "convention",
                DEPTH_CONVENTION,
            ),
            (
                "normals",
                self.normals.as_ref().map(|c| (&c.pattern, &c.space)),
                "space",
                NORMALS_SPACE,
            ),
            (
                "motion",
                self.motion.as_ref().map(|c| (&c.pattern, &c.convention)),
                "convention",
                MOTION_CONVENTION,
            ),
        ];
        for (name, chan, field, expected) in conventions {
            let Some((pattern, value)) = chan else {
                continue;
            };
            check_pattern(json, name, pattern)?;
            if value != expected {
                return Err(seq_err(
                    json,
                    format!("{name} {field} \"{value}\" is not supported (expected \"{expected}\")"),
                    format!("convert the {name} frames to the \"{expected}\" convention of docs/formats.md"),
                ));
            }
        }
        for (prompt, pattern) in &self.targets {
            if !is_valid_prompt_name(prompt) {
                return Err(seq_err(
                    json,
                    format!("target prompt name \"{prompt}\" is not allowed"),
                    "name targets with lowercase letters, digits, '_' or '-' (e.g. \"golden_hour\")",
                ));
            }
            check_pattern(json, &format!("target '{prompt}'"), pattern)?;
        }
        if let Some(l) = &self.light {
            if l.space != LIGHT_SPACE {
                return Err(seq_err(
                    json,
                    format!("light space \"{}\" is not supported (expected \"{LIGHT_SPACE}\")", l.space),
                    "give the sun and up directions in the view space of the normals (x right, y up, z towards the camera)",
                ));
            }
            let n = self.frame_count as usize;
            if l.sun.len() != n || l.up.len() != n {
                return Err(seq_err(
                    json,
                    format!(
                        "light lists {} sun and {} up directions for {n} frames",
                        l.sun.len(),
                        l.up.len()
                    ),
                    "give one sun and one up direction per frame",
                ));
            }
            for (i, (sun, up)) in l.sun.iter().zip(&l.up).enumerate() {
                if let Err(e) = SceneLight::new(*sun, *up) {
                    return Err(seq_err(
                        json,
                        format!("light of frame {i}: {e}"),
                        "write unit vectors",
                    ));
                }
            }
        }
        if let Some(c) = self.cuts.iter().find(|&&c| c >= self.frame_count) {
            return Err(seq_err(
                json,
                format!(
                    "cut at frame {c} is beyond the last frame {}",
                    self.frame_count - 1
                ),
                "list only frame indices below frame_count in \"cuts\"",
            ));
        }
        Ok(())
    }

    pub fn color_encoding(&self) -> ColorEncoding {
        // validate() has checked this; PngSrgb is only a fallback for unvalidated descriptors.
        ColorEncoding::parse(&self.color.encoding).unwrap_or(ColorEncoding::PngSrgb)
    }

    fn pattern(&self, channel: Channel<'_>) -> Option<&str> {
        match channel {
            Channel::Color => Some(&self.color.pattern),
            Channel::Depth => self.depth.as_ref().map(|c| c.pattern.as_str()),
            Channel::Normals => self.normals.as_ref().map(|c| c.pattern.as_str()),
            Channel::Motion => self.motion.as_ref().map(|c| c.pattern.as_str()),
            Channel::Target(p) => self.targets.get(p).map(|s| s.as_str()),
        }
    }

    /// Every channel present, color first.
    fn channels(&self) -> Vec<Channel<'_>> {
        let mut v = vec![Channel::Color];
        if self.depth.is_some() {
            v.push(Channel::Depth);
        }
        if self.normals.is_some() {
            v.push(Channel::Normals);
        }
        if self.motion.is_some() {
            v.push(Channel::Motion);
        }
        v.extend(self.targets.keys().map(|k| Channel::Target(k)));
        v
    }
}

/// One frame of a sequence: the engine-style frame (color + planes + camera_cut) and its index.
#[derive(Debug, Clone)]
pub struct SequenceFrame {
    pub index: u32,
    pub frame: OwnedFrame,
}

/// An opened, checked sequence folder.
#[derive(Debug, Clone)]
pub struct Sequence {
    dir: PathBuf,
    desc: SequenceDesc,
}

impl Sequence {
    /// Read and check `dir/sequence.json` and that every frame file of every channel exists.
    pub fn open(dir: impl AsRef<Path>) -> Result<Sequence> {
        let dir = dir.as_ref().to_path_buf();
        let json = dir.join(SEQUENCE_JSON);
        if !json.is_file() {
            return Err(seq_err(
                &dir,
                format!("there is no {SEQUENCE_JSON} in this folder"),
                "point at a sequence folder (one written by realmaster-samples or `realmaster render`, see docs/formats.md)",
            ));
        }
        let text = std::fs::read_to_string(&json).map_err(|e| Error::io(&json, e))?;
        let desc: SequenceDesc = serde_json::from_str(&text).map_err(|e| {
            seq_err(
                &json,
                format!("is not valid sequence JSON: {e}"),
                "fix the file so it matches the schema in docs/formats.md",
            )
        })?;
        desc.validate(&json)?;
        let seq = Sequence { dir, desc };
        seq.check_files()?;
        Ok(seq)
    }

    fn check_files(&self) -> Result<()> {
        let mut missing = 0usize;
        let mut first: Option<(PathBuf, String, u32)> = None;
        let channels = self.desc.channels();
        for ch in &channels {
            for i in 0..self.desc.frame_count {
                let p = self.frame_path(*ch, i)?;
                if !p.is_file() {
                    missing += 1;
                    if first.is_none() {
                        first = Some((p, ch.describe(), i));
                    }
                }
            }
        }
        if let Some((path, ch, i)) = first {
            let total = channels.len() * self.desc.frame_count as usize;
            return Err(seq_err(
                &self.dir,
                format!("{missing} of {total} frame files are missing; the first is {} ({ch} frame {i})", path.display()),
                "re-render or re-export the missing frames, or lower frame_count / remove the channel in sequence.json",
            ));
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn desc(&self) -> &SequenceDesc {
        &self.desc
    }
    pub fn width(&self) -> u32 {
        self.desc.width
    }
    pub fn height(&self) -> u32 {
        self.desc.height
    }
    pub fn fps(&self) -> f64 {
        self.desc.fps
    }
    pub fn frame_count(&self) -> u32 {
        self.desc.frame_count
    }
    pub fn has_depth(&self) -> bool {
        self.desc.depth.is_some()
    }
    pub fn has_normals(&self) -> bool {
        self.desc.normals.is_some()
    }
    pub fn has_motion(&self) -> bool {
        self.desc.motion.is_some()
    }
    /// True if frame `i` is listed in `cuts`.
    pub fn is_cut(&self, i: u32) -> bool {
        self.desc.cuts.contains(&i)
    }
    /// Prompts with paired target frames, sorted.
    pub fn target_prompts(&self) -> Vec<&str> {
        self.desc.targets.keys().map(|s| s.as_str()).collect()
    }
    /// `meta.split` ("train" / "heldout"), if the writer set one.
    pub fn split(&self) -> Option<&str> {
        self.desc.meta.get("split").and_then(|v| v.as_str())
    }

    /// Path of one frame file of one channel.
    pub fn frame_path(&self, channel: Channel<'_>, i: u32) -> Result<PathBuf> {
        let pattern = self.desc.pattern(channel).ok_or_else(|| {
            seq_err(
                &self.dir,
                format!("has no {} channel", channel.describe()),
                match channel {
                    Channel::Target(_) => format!(
                        "use one of the prompts it has: {}",
                        self.target_prompts().join(", ")
                    ),
                    _ => {
                        "render or export the sequence with that channel, or run without it".into()
                    }
                },
            )
        })?;
        // validate() guarantees the placeholder; the fallback only guards unvalidated descriptors.
        let rel = expand_pattern(pattern, i).unwrap_or_else(|| pattern.to_string());
        Ok(self.dir.join(rel))
    }

    fn check_index(&self, i: u32) -> Result<()> {
        if i >= self.desc.frame_count {
            return Err(seq_err(
                &self.dir,
                format!(
                    "frame {i} requested but the sequence has {} frames",
                    self.desc.frame_count
                ),
                format!("ask for frames 0..{}", self.desc.frame_count - 1),
            ));
        }
        Ok(())
    }

    /// Load frame `i`: color, every present plane, and `camera_cut`.
    pub fn load_frame(&self, i: u32) -> Result<SequenceFrame> {
        let mut frame = OwnedFrame::default();
        self.load_frame_into(i, &mut frame)?;
        Ok(SequenceFrame { index: i, frame })
    }

    /// Like `load_frame`, reusing `dst`'s allocations.
    pub fn load_frame_into(&self, i: u32, dst: &mut OwnedFrame) -> Result<()> {
        self.check_index(i)?;
        let (w, h) = (self.desc.width, self.desc.height);
        let color_path = self.frame_path(Channel::Color, i)?;
        dst.width = w;
        dst.height = h;
        dst.camera_cut = self.is_cut(i);
        dst.light = self.light(i);
        match self.desc.color_encoding() {
            ColorEncoding::PngSrgb => {
                dst.format = ColorFormat::Rgba8Srgb;
                dst.color = read_png_rgba8(&color_path, w, h)?;
            }
            ColorEncoding::ExrLinear => {
                dst.format = ColorFormat::Rgba32Float;
                let px = read_exr_color(&color_path, w, h)?;
                dst.color.clear();
                dst.color.extend(px.iter().flat_map(|v| v.to_le_bytes()));
            }
        }
        let planes = [
            (Channel::Depth, AuxKind::Depth),
            (Channel::Normals, AuxKind::Normals),
            (Channel::Motion, AuxKind::Motion),
        ];
        for (ch, kind) in planes {
            let present = self.desc.pattern(ch).is_some();
            let (buf, flag) = match kind {
                AuxKind::Depth => (&mut dst.depth, &mut dst.has_depth),
                AuxKind::Normals => (&mut dst.normals, &mut dst.has_normals),
                AuxKind::Motion => (&mut dst.motion, &mut dst.has_motion),
            };
            *flag = present;
            buf.clear();
            if present {
                let path = self.frame_path(ch, i)?;
                let values = read_exr_channels(&path, w, h, aux_channel_names(kind))?;
                buf.extend(values.iter().flat_map(|v| v.to_le_bytes()));
            }
        }
        Ok(())
    }

    /// Frame `i`'s light, when the folder records it (validated when the folder was opened).
    pub fn light(&self, i: u32) -> Option<SceneLight> {
        let l = self.desc.light.as_ref()?;
        let i = i as usize;
        SceneLight::new(*l.sun.get(i)?, *l.up.get(i)?).ok()
    }

    /// Paired target frame `i` for `prompt`: 3 channels, sRGB-encoded, [0, 1] (EXR targets are
    /// converted from linear so every target reads the same way the model's `srgb` color space does).
    pub fn load_target(&self, prompt: &str, i: u32) -> Result<ImageF32> {
        self.check_index(i)?;
        let path = self.frame_path(Channel::Target(prompt), i)?;
        let (w, h) = (self.desc.width, self.desc.height);
        let mut img = ImageF32::new(w, h, 3);
        if is_exr(&path) {
            let px = read_exr_color(&path, w, h)?;
            for (d, s) in img.data.chunks_exact_mut(3).zip(px.chunks_exact(4)) {
                for c in 0..3 {
                    d[c] = linear_to_srgb(s[c]).min(1.0);
                }
            }
        } else {
            let px = read_png_rgba8(&path, w, h)?;
            for (d, s) in img.data.chunks_exact_mut(3).zip(px.chunks_exact(4)) {
                for c in 0..3 {
                    d[c] = s[c] as f32 / 255.0;
                }
            }
        }
        Ok(img)
    }
}

fn is_exr(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("exr"))
}

fn aux_channel_names(kind: AuxKind) -> &'static [&'static str] {
    match kind {
        AuxKind::Depth => &["Z"],
        AuxKind::Normals => &["R", "G", "B"],
        AuxKind::Motion => &["R", "G"],
    }
}

fn size_mismatch(path: &Path, got: (usize, usize), w: u32, h: u32) -> Error {
    seq_err(
        path,
        format!(
            "image is {}x{} but sequence.json says {w}x{h}",
            got.0, got.1
        ),
        "re-export every frame at the size in sequence.json, or correct width/height there",
    )
}

/// Read a PNG as tight RGBA8 (alpha 255 when the file has none).
fn read_png_rgba8(path: &Path, w: u32, h: u32) -> Result<Vec<u8>> {
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| {
            seq_err(
                path,
                format!("cannot decode the image: {e}"),
                "re-export the frame as an 8-bit PNG",
            )
        })?;
    if img.width() != w || img.height() != h {
        return Err(size_mismatch(
            path,
            (img.width() as usize, img.height() as usize),
            w,
            h,
        ));
    }
    Ok(img.to_rgba8().into_raw())
}

fn read_exr_layer(
    path: &Path,
) -> Result<exr::prelude::Layer<exr::prelude::AnyChannels<exr::prelude::FlatSamples>>> {
    use exr::prelude::{read, ReadChannels, ReadLayers};
    let image = read()
        .no_deep_data()
        .largest_resolution_level()
        .all_channels()
        .first_valid_layer()
        .all_attributes()
        .non_parallel()
        .from_file(path)
        .map_err(|e| match e {
            exr::error::Error::Io(io) => Error::io(path, io),
            other => seq_err(
                path,
                format!("cannot decode the OpenEXR file: {other}"),
                "re-export the frame as a scan-line OpenEXR file",
            ),
        })?;
    Ok(image.layer_data)
}

/// Read named channels of an EXR into interleaved f32 (pixel-major).
fn read_exr_channels(path: &Path, w: u32, h: u32, names: &[&str]) -> Result<Vec<f32>> {
    let layer = read_exr_layer(path)?;
    if layer.size.0 != w as usize || layer.size.1 != h as usize {
        return Err(size_mismatch(path, (layer.size.0, layer.size.1), w, h));
    }
    let n = (w * h) as usize;
    let mut out = vec![0f32; n * names.len()];
    for (ci, name) in names.iter().enumerate() {
        let chan = layer
            .channel_data
            .list
            .iter()
            .find(|c| c.name.eq(name))
            .ok_or_else(|| {
                let found: Vec<String> = layer
                    .channel_data
                    .list
                    .iter()
                    .map(|c| c.name.to_string())
                    .collect();
                seq_err(
                    path,
                    format!("has no channel \"{name}\" (it has: {})", found.join(", ")),
                    format!(
                        "write the channels {} as docs/formats.md says",
                        names.join(",")
                    ),
                )
            })?;
        if chan.sample_data.len() != n {
            return Err(seq_err(
                path,
                format!("channel \"{name}\" is subsampled"),
                "write full-resolution channels",
            ));
        }
        for (i, v) in chan.sample_data.values_as_f32().enumerate() {
            out[i * names.len() + ci] = v;
        }
    }
    Ok(out)
}

/// Read an EXR color frame as RGBA f32 (A = 1 when absent).
fn read_exr_color(path: &Path, w: u32, h: u32) -> Result<Vec<f32>> {
    let layer = read_exr_layer(path)?;
    let has_alpha = layer.channel_data.list.iter().any(|c| c.name.eq("A"));
    drop(layer);
    let names: &[&str] = if has_alpha {
        &["R", "G", "B", "A"]
    } else {
        &["R", "G", "B"]
    };
    let px = read_exr_channels(path, w, h, names)?;
    if has_alpha {
        return Ok(px);
    }
    Ok(px
        .chunks_exact(3)
        .flat_map(|c| [c[0], c[1], c[2], 1.0])
        .collect())
}

fn write_err(path: &Path, what: impl std::fmt::Display) -> Error {
    seq_err(
        path,
        format!("cannot write the file: {what}"),
        "check free disk space and that the folder is writable",
    )
}

/// Write tight RGBA8 as a PNG: RGB when every alpha is 255 (smaller files), RGBA otherwise.
pub fn write_png_rgba8(path: &Path, w: u32, h: u32, rgba: &[u8]) -> Result<()> {
    use image::ImageEncoder;
    let n = (w * h) as usize;
    if rgba.len() != n * 4 {
        return Err(Error::invalid_frame(
            format!(
                "RGBA8 buffer has {} bytes, {w}x{h} needs {}",
                rgba.len(),
                n * 4
            ),
            "pass a tightly packed RGBA8 buffer of the sequence's size",
        ));
    }
    let opaque = rgba.chunks_exact(4).all(|p| p[3] == 255);
    let (data, color): (std::borrow::Cow<'_, [u8]>, image::ExtendedColorType) = if opaque {
        (
            rgba.chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect::<Vec<u8>>()
                .into(),
            image::ExtendedColorType::Rgb8,
        )
    } else {
        (rgba.into(), image::ExtendedColorType::Rgba8)
    };
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(&data, w, h, color)
    .map_err(|e| write_err(path, e))?;
    std::fs::write(path, bytes).map_err(|e| write_err(path, e))
}

/// Write interleaved f32 channels as a ZIP-compressed (lossless) scan-line EXR.
pub fn write_exr_channels(
    path: &Path,
    w: u32,
    h: u32,
    names: &[&str],
    values: &[f32],
) -> Result<()> {
    use exr::prelude::{
        AnyChannel, AnyChannels, Blocks, Compression, Encoding, FlatSamples, Image, Layer,
        LayerAttributes, LineOrder, SmallVec, WritableImage,
    };
    let n = (w * h) as usize;
    if values.len() != n * names.len() {
        return Err(Error::invalid_frame(
            format!(
                "{} floats given for {} channels of {w}x{h}",
                values.len(),
                names.len()
            ),
            format!("pass {} floats per pixel, tightly packed", names.len()),
        ));
    }
    let channels: Vec<AnyChannel<FlatSamples>> = names
        .iter()
        .enumerate()
        .map(|(ci, name)| {
            let plane: Vec<f32> = values
                .iter()
                .skip(ci)
                .step_by(names.len())
                .copied()
                .collect();
            AnyChannel::new(*name, FlatSamples::F32(plane))
        })
        .collect();
    let encoding = Encoding {
        compression: Compression::ZIP16,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    let layer = Layer::new(
        (w as usize, h as usize),
        LayerAttributes::default(),
        encoding,
        AnyChannels::sort(SmallVec::from_vec(channels)),
    );
    Image::from_layer(layer)
        .write()
        .non_parallel()
        .to_file(path)
        .map_err(|e| write_err(path, e))
}

/// What a new sequence folder will hold.
#[derive(Debug, Clone)]
pub struct SequenceSpec {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub frame_count: u32,
    pub color: ColorEncoding,
    pub depth: bool,
    pub normals: bool,
    pub motion: bool,
    /// Prompts with paired target frames (PNG sRGB).
    pub targets: Vec<String>,
    pub cuts: Vec<u32>,
    pub meta: serde_json::Map<String, serde_json::Value>,
}

impl SequenceSpec {
    /// Color-only PNG sequence (what `realmaster render` writes).
    pub fn color_only(width: u32, height: u32, fps: f64, frame_count: u32) -> Self {
        SequenceSpec {
            width,
            height,
            fps,
            frame_count,
            color: ColorEncoding::PngSrgb,
            depth: false,
            normals: false,
            motion: false,
            targets: Vec::new(),
            cuts: Vec::new(),
            meta: Default::default(),
        }
    }
}

/// Writes a sequence folder frame by frame; `finish` writes sequence.json last, so a folder with a
/// sequence.json is always complete.
pub struct SequenceWriter {
    dir: PathBuf,
    desc: SequenceDesc,
    /// written[channel][frame], channels in `desc.channels()` order.
    written: Vec<Vec<bool>>,
}

impl SequenceWriter {
    /// Create the folder (and its channel folders). Existing files are overwritten; refusing a
    /// non-empty folder is the caller's policy.
    pub fn create(dir: impl AsRef<Path>, spec: SequenceSpec) -> Result<SequenceWriter> {
        let dir = dir.as_ref().to_path_buf();
        let digits = (spec.frame_count.saturating_sub(1).max(1).ilog10() as usize + 1).max(4);
        let pat = |folder: &str, ext: &str| format!("{folder}/{{frame:0{digits}}}.{ext}");
        for t in &spec.targets {
            if !is_valid_prompt_name(t) {
                return Err(seq_err(
                    &dir,
                    format!("target prompt name \"{t}\" is not allowed"),
                    "name targets with lowercase letters, digits, '_' or '-' (e.g. \"golden_hour\")",
                ));
            }
        }
        let mut cuts = spec.cuts.clone();
        cuts.sort_unstable();
        cuts.dedup();
        let desc = SequenceDesc {
            format: SEQUENCE_FORMAT.into(),
            version: SEQUENCE_VERSION,
            width: spec.width,
            height: spec.height,
            fps: spec.fps,
            frame_count: spec.frame_count,
            color: ColorChannel {
                pattern: pat("color", spec.color.extension()),
                encoding: spec.color.as_str().into(),
            },
            depth: spec.depth.then(|| DepthChannel {
                pattern: pat("depth", "exr"),
                convention: DEPTH_CONVENTION.into(),
            }),
            normals: spec.normals.then(|| NormalsChannel {
                pattern: pat("normals", "exr"),
                space: NORMALS_SPACE.into(),
            }),
            motion: spec.motion.then(|| MotionChannel {
                pattern: pat("motion", "exr"),
                convention: MOTION_CONVENTION.into(),
            }),
            light: None,
            targets: spec
                .targets
                .iter()
                .map(|t| (t.clone(), pat(&format!("targets/{t}"), "png")))
                .collect(),
            cuts,
            meta: spec.meta.clone(),
        };
        desc.validate(&dir.join(SEQUENCE_JSON))?;
        let channels = desc.channels();
        for ch in &channels {
            let pattern = desc.pattern(*ch).unwrap_or_default();
            let folder = dir.join(Path::new(pattern).parent().unwrap_or(Path::new("")));
            std::fs::create_dir_all(&folder).map_err(|e| write_err(&folder, e))?;
        }
        let written = vec![vec![false; desc.frame_count as usize]; channels.len()];
        Ok(SequenceWriter { dir, desc, written })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn desc(&self) -> &SequenceDesc {
        &self.desc
    }

    fn slot(&self, channel: Channel<'_>, i: u32) -> Result<(usize, PathBuf)> {
        if i >= self.desc.frame_count {
            return Err(seq_err(
                &self.dir,
                format!(
                    "frame {i} is beyond the declared frame_count {}",
                    self.desc.frame_count
                ),
                "declare the full frame count in SequenceSpec",
            ));
        }
        let idx = self
            .desc
            .channels()
            .iter()
            .position(|c| *c == channel)
            .ok_or_else(|| {
                seq_err(
                    &self.dir,
                    format!(
                        "the sequence was created without a {} channel",
                        channel.describe()
                    ),
                    "list the channel in SequenceSpec before writing it",
                )
            })?;
        let pattern = self.desc.pattern(channel).unwrap_or_default();
        let rel = expand_pattern(pattern, i).unwrap_or_else(|| pattern.to_string());
        Ok((idx, self.dir.join(rel)))
    }

    fn check_len(&self, what: &str, len: usize, per_pixel: usize) -> Result<()> {
        let need = (self.desc.width * self.desc.height) as usize * per_pixel;
        if len != need {
            return Err(Error::invalid_frame(
                format!(
                    "{what} has {len} values, {}x{} needs {need}",
                    self.desc.width, self.desc.height
                ),
                format!("pass {per_pixel} values per pixel at the sequence's size, tightly packed"),
            ));
        }
        Ok(())
    }

    /// Color frame from tight RGBA8 sRGB bytes.
    pub fn write_color_rgba8(&mut self, i: u32, rgba: &[u8]) -> Result<()> {
        self.check_len("color", rgba.len(), 4)?;
        let (idx, path) = self.slot(Channel::Color, i)?;
        match self.desc.color_encoding() {
            ColorEncoding::PngSrgb => {
                write_png_rgba8(&path, self.desc.width, self.desc.height, rgba)?
            }
            ColorEncoding::ExrLinear => {
                let lin: Vec<f32> = rgba
                    .chunks_exact(4)
                    .flat_map(|p| {
                        [
                            srgb_to_linear(p[0] as f32 / 255.0),
                            srgb_to_linear(p[1] as f32 / 255.0),
                            srgb_to_linear(p[2] as f32 / 255.0),
                            p[3] as f32 / 255.0,
                        ]
                    })
                    .collect();
                write_exr_channels(
                    &path,
                    self.desc.width,
                    self.desc.height,
                    &["R", "G", "B", "A"],
                    &lin,
                )?;
            }
        }
        self.written[idx][i as usize] = true;
        Ok(())
    }

    /// Color frame from tight linear RGBA f32.
    pub fn write_color_linear(&mut self, i: u32, rgba: &[f32]) -> Result<()> {
        self.check_len("color", rgba.len(), 4)?;
        let (idx, path) = self.slot(Channel::Color, i)?;
        match self.desc.color_encoding() {
            ColorEncoding::PngSrgb => {
                let bytes: Vec<u8> = rgba
                    .chunks_exact(4)
                    .flat_map(|p| {
                        [
                            to_u8(linear_to_srgb(p[0])),
                            to_u8(linear_to_srgb(p[1])),
                            to_u8(linear_to_srgb(p[2])),
                            to_u8(p[3]),
                        ]
                    })
                    .collect();
                write_png_rgba8(&path, self.desc.width, self.desc.height, &bytes)?;
            }
            ColorEncoding::ExrLinear => write_exr_channels(
                &path,
                self.desc.width,
                self.desc.height,
                &["R", "G", "B", "A"],
                rgba,
            )?,
        }
        self.written[idx][i as usize] = true;
        Ok(())
    }

    fn write_plane(
        &mut self,
        channel: Channel<'_>,
        kind: AuxKind,
        i: u32,
        values: &[f32],
    ) -> Result<()> {
        self.check_len(kind.name(), values.len(), kind.channels())?;
        let (idx, path) = self.slot(channel, i)?;
        write_exr_channels(
            &path,
            self.desc.width,
            self.desc.height,
            aux_channel_names(kind),
            values,
        )?;
        self.written[idx][i as usize] = true;
        Ok(())
    }

    /// View-space depth, 1 float per pixel.
    pub fn write_depth(&mut self, i: u32, depth: &[f32]) -> Result<()> {
        self.write_plane(Channel::Depth, AuxKind::Depth, i, depth)
    }
    /// View-space unit normals, 3 floats per pixel.
    pub fn write_normals(&mut self, i: u32, normals: &[f32]) -> Result<()> {
        self.write_plane(Channel::Normals, AuxKind::Normals, i, normals)
    }
    /// Motion in pixels to the previous frame, 2 floats per pixel.
    pub fn write_motion(&mut self, i: u32, motion: &[f32]) -> Result<()> {
        self.write_plane(Channel::Motion, AuxKind::Motion, i, motion)
    }

    /// Paired target for `prompt` from tight RGBA8 sRGB bytes.
    pub fn write_target_rgba8(&mut self, prompt: &str, i: u32, rgba: &[u8]) -> Result<()> {
        self.check_len("target", rgba.len(), 4)?;
        let (idx, path) = self.slot(Channel::Target(prompt), i)?;
        write_png_rgba8(&path, self.desc.width, self.desc.height, rgba)?;
        self.written[idx][i as usize] = true;
        Ok(())
    }

    /// Write a whole engine frame: color in the sequence's encoding plus whichever planes the
    /// sequence declares (each must be present in `frame`).
    pub fn write_frame(&mut self, i: u32, frame: &FrameRef<'_>) -> Result<()> {
        frame.validate_layout()?;
        if frame.width != self.desc.width || frame.height != self.desc.height {
            return Err(Error::invalid_frame(
                format!(
                    "frame is {}x{} but the sequence is {}x{}",
                    frame.width, frame.height, self.desc.width, self.desc.height
                ),
                "write frames at the size given in SequenceSpec",
            ));
        }
        let owned = frame.to_owned_frame();
        match owned.format {
            ColorFormat::Rgba8Srgb => self.write_color_rgba8(i, &owned.color)?,
            ColorFormat::Bgra8Srgb => {
                let rgba: Vec<u8> = owned
                    .color
                    .chunks_exact(4)
                    .flat_map(|p| [p[2], p[1], p[0], p[3]])
                    .collect();
                self.write_color_rgba8(i, &rgba)?
            }
            ColorFormat::Rgba16Float => {
                let lin: Vec<f32> = owned
                    .color
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect();
                self.write_color_linear(i, &lin)?
            }
            ColorFormat::Rgba32Float => self.write_color_linear(i, &f32_plane(&owned.color))?,
        }
        let planes = [
            (
                Channel::Depth,
                AuxKind::Depth,
                owned.has_depth,
                &owned.depth,
            ),
            (
                Channel::Normals,
                AuxKind::Normals,
                owned.has_normals,
                &owned.normals,
            ),
            (
                Channel::Motion,
                AuxKind::Motion,
                owned.has_motion,
                &owned.motion,
            ),
        ];
        for (ch, kind, has, bytes) in planes {
            if self.desc.pattern(ch).is_none() {
                continue;
            }
            if !has {
                return Err(Error::invalid_frame(
                    format!(
                        "the sequence declares {} but the frame has none",
                        kind.name()
                    ),
                    format!(
                        "pass the {} plane, or create the sequence without it",
                        kind.name()
                    ),
                ));
            }
            self.write_plane(ch, kind, i, &f32_plane(bytes))?;
        }
        Ok(())
    }

    /// Check every declared file was written, write sequence.json, and reopen the folder as a check.
    /// Record the frames' light (`"light"` in sequence.json): one sun and one up direction per
    /// frame, view space. Checked as a reader would check it.
    pub fn set_light(&mut self, light: LightChannel) -> Result<()> {
        let mut desc = self.desc.clone();
        desc.light = Some(light);
        desc.validate(&self.dir.join(SEQUENCE_JSON))?;
        self.desc = desc;
        Ok(())
    }

    pub fn finish(self) -> Result<Sequence> {
        let channels = self.desc.channels();
        for (ci, ch) in channels.iter().enumerate() {
            if let Some(i) = self.written[ci].iter().position(|w| !w) {
                let missing: usize = self
                    .written
                    .iter()
                    .map(|c| c.iter().filter(|w| !**w).count())
                    .sum();
                return Err(seq_err(
                    &self.dir,
                    format!("{missing} declared frame files were never written; the first is {} frame {i}", ch.describe()),
                    "write every frame of every declared channel before finish()",
                ));
            }
        }
        let json = self.dir.join(SEQUENCE_JSON);
        let text = serde_json::to_string_pretty(&self.desc)
            .map_err(|e| Error::Internal(format!("serialising sequence.json: {e}")))?;
        std::fs::write(&json, text + "\n").map_err(|e| write_err(&json, e))?;
        Sequence::open(&self.dir)
    }
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn f32_plane(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand() {
        assert_eq!(
            expand_pattern("color/{frame:04}.png", 7).as_deref(),
            Some("color/0007.png")
        );
        assert_eq!(
            expand_pattern("c/{frame}.png", 12).as_deref(),
            Some("c/12.png")
        );
        assert_eq!(
            expand_pattern("c/{frame:06}_x.exr", 12345).as_deref(),
            Some("c/012345_x.exr")
        );
        assert_eq!(expand_pattern("c/frame.png", 1), None);
        assert_eq!(expand_pattern("c/{frame:4}.png", 1), None);
        assert_eq!(expand_pattern("{frame:04}/{frame:04}.png", 1), None);
    }

    #[test]
    fn prompt_names() {
        assert!(is_valid_prompt_name("golden_hour"));
        assert!(!is_valid_prompt_name("../x"));
        assert!(!is_valid_prompt_name("Rain"));
        assert!(!is_valid_prompt_name(""));
    }
}
