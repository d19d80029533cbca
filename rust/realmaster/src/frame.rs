//! Frames as a game engine hands them over: a color buffer plus optional G-buffers, each with a
//! row pitch. `FrameRef` borrows the engine's memory; `OwnedFrame` is the copy that crosses threads.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::light::SceneLight;

/// Largest side accepted; beyond this every GPU limit we target is exceeded.
pub const MAX_DIMENSION: u32 = 16384;

/// Pixel format of the color buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorFormat {
    /// 8-bit RGBA, sRGB-encoded (the usual LDR back buffer).
    Rgba8Srgb,
    /// 8-bit BGRA, sRGB-encoded (D3D/Vulkan swapchain order).
    Bgra8Srgb,
    /// 16-bit float RGBA, linear (HDR scene color).
    Rgba16Float,
    /// 32-bit float RGBA, linear (HDR scene color).
    Rgba32Float,
}

impl ColorFormat {
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            ColorFormat::Rgba8Srgb | ColorFormat::Bgra8Srgb => 4,
            ColorFormat::Rgba16Float => 8,
            ColorFormat::Rgba32Float => 16,
        }
    }
    pub const fn is_hdr(self) -> bool {
        matches!(self, ColorFormat::Rgba16Float | ColorFormat::Rgba32Float)
    }
    /// Index used by the decode shader.
    pub const fn shader_id(self) -> u32 {
        match self {
            ColorFormat::Rgba8Srgb => 0,
            ColorFormat::Bgra8Srgb => 1,
            ColorFormat::Rgba16Float => 2,
            ColorFormat::Rgba32Float => 3,
        }
    }
}

/// Which auxiliary plane; fixes its element layout (all f32, little endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuxKind {
    /// View-space depth along the camera axis (world units), 1 float per pixel.
    Depth,
    /// View-space unit normal, 3 floats per pixel.
    Normals,
    /// Motion in pixels, from the current pixel to where it was in the previous frame, 2 floats.
    Motion,
}

impl AuxKind {
    pub const fn channels(self) -> usize {
        match self {
            AuxKind::Depth => 1,
            AuxKind::Normals => 3,
            AuxKind::Motion => 2,
        }
    }
    pub const fn bytes_per_pixel(self) -> usize {
        self.channels() * 4
    }
    pub const fn name(self) -> &'static str {
        match self {
            AuxKind::Depth => "depth",
            AuxKind::Normals => "normals",
            AuxKind::Motion => "motion",
        }
    }
}

/// A borrowed plane: bytes plus the distance in bytes between row starts.
#[derive(Debug, Clone, Copy)]
pub struct PlaneRef<'a> {
    pub data: &'a [u8],
    pub row_pitch: usize,
}

impl<'a> PlaneRef<'a> {
    /// A tightly packed plane (`row_pitch = width * bytes_per_pixel`).
    pub fn tight(data: &'a [u8], width: u32, bytes_per_pixel: usize) -> Self {
        PlaneRef {
            data,
            row_pitch: width as usize * bytes_per_pixel,
        }
    }
}

/// One engine frame, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub width: u32,
    pub height: u32,
    pub format: ColorFormat,
    pub color: PlaneRef<'a>,
    pub depth: Option<PlaneRef<'a>>,
    pub normals: Option<PlaneRef<'a>>,
    pub motion: Option<PlaneRef<'a>>,
    /// The caller says this frame starts a new shot: history and window reset.
    pub camera_cut: bool,
    /// The scene's sun and up in view space, for models that read the light (manifest input role
    /// `light`); ignored by models that do not. Such a model given none uses
    /// [`SceneLight::FALLBACK`] and warns once.
    pub light: Option<SceneLight>,
}

fn check_plane(
    name: &str,
    plane: &PlaneRef<'_>,
    width: u32,
    height: u32,
    bpp: usize,
) -> Result<()> {
    let row = width as usize * bpp;
    if plane.row_pitch < row {
        return Err(Error::invalid_frame(
            format!("{name} row pitch {} bytes is smaller than one row ({width} px x {bpp} B = {row} B)", plane.row_pitch),
            "pass the buffer's real row pitch in bytes (at least width x bytes per pixel)",
        ));
    }
    // Checked: a pitch such as 2^63 from a caller must be refused, not overflow.
    let Some(needed) = plane
        .row_pitch
        .checked_mul(height as usize - 1)
        .and_then(|n| n.checked_add(row))
    else {
        return Err(Error::invalid_frame(
            format!(
                "{name} row pitch {} bytes is implausibly large: {height} rows of it exceed the address space",
                plane.row_pitch
            ),
            "pass the buffer's real row pitch in bytes (width x bytes per pixel plus any row padding)",
        ));
    };
    if plane.data.len() < needed {
        return Err(Error::invalid_frame(
            format!(
                "{name} buffer holds {} bytes but {width}x{height} with row pitch {} needs {needed}",
                plane.data.len(),
                plane.row_pitch
            ),
            "pass the whole buffer, and the width, height and pitch it was allocated with",
        ));
    }
    Ok(())
}

impl<'a> FrameRef<'a> {
    /// A frame with a tightly packed color buffer and no G-buffers.
    pub fn color_only(width: u32, height: u32, format: ColorFormat, data: &'a [u8]) -> Self {
        FrameRef {
            width,
            height,
            format,
            color: PlaneRef::tight(data, width, format.bytes_per_pixel()),
            depth: None,
            normals: None,
            motion: None,
            camera_cut: false,
            light: None,
        }
    }

    /// Bytes of pixel data in the frame's planes (tight rows): what an upload moves.
    pub fn plane_bytes(&self) -> u64 {
        let px = self.width as u64 * self.height as u64;
        let aux = [
            (self.depth.is_some(), AuxKind::Depth),
            (self.normals.is_some(), AuxKind::Normals),
            (self.motion.is_some(), AuxKind::Motion),
        ];
        px * self.format.bytes_per_pixel() as u64
            + aux
                .iter()
                .filter(|a| a.0)
                .map(|a| px * a.1.bytes_per_pixel() as u64)
                .sum::<u64>()
    }

    /// Cheap structural checks (sizes, pitches): O(1), safe on the engine's render thread.
    pub fn validate_layout(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::invalid_frame(
                format!("resolution {}x{} has a zero side", self.width, self.height),
                "submit frames with width and height of at least 1 pixel",
            ));
        }
        if self.width > MAX_DIMENSION || self.height > MAX_DIMENSION {
            return Err(Error::invalid_frame(
                format!(
                    "resolution {}x{} exceeds the {MAX_DIMENSION} px limit",
                    self.width, self.height
                ),
                "downscale the frame before submitting it",
            ));
        }
        check_plane(
            "color",
            &self.color,
            self.width,
            self.height,
            self.format.bytes_per_pixel(),
        )?;
        for (kind, plane) in self.aux_planes() {
            if let Some(p) = plane {
                check_plane(
                    kind.name(),
                    &p,
                    self.width,
                    self.height,
                    kind.bytes_per_pixel(),
                )?;
                if p.row_pitch % 4 != 0 {
                    return Err(Error::invalid_frame(
                        format!(
                            "{} row pitch {} is not a multiple of 4 bytes",
                            kind.name(),
                            p.row_pitch
                        ),
                        "float planes must keep 4-byte alignment per row",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn aux_planes(&self) -> [(AuxKind, Option<PlaneRef<'a>>); 3] {
        [
            (AuxKind::Depth, self.depth),
            (AuxKind::Normals, self.normals),
            (AuxKind::Motion, self.motion),
        ]
    }

    /// Full validation: layout plus a scan for NaN/Inf in every float plane (O(pixels)).
    pub fn validate(&self) -> Result<()> {
        self.validate_color()?;
        self.validate_gbuffers()
    }

    /// Layout plus the colour plane's NaN/Inf scan: what is left to check of a frame whose
    /// G-buffers went through [`OwnedFrame::sanitize_gbuffers`] (which leaves them finite).
    pub fn validate_color(&self) -> Result<()> {
        self.validate_layout()?;
        if self.format.is_hdr() {
            let bpp = self.format.bytes_per_pixel();
            for y in 0..self.height as usize {
                let row = &self.color.data[y * self.color.row_pitch..][..self.width as usize * bpp];
                if let Some(x) = first_non_finite(row, self.format) {
                    return Err(Error::invalid_frame(
                        format!("color pixel ({x}, {y}) is NaN or infinite"),
                        "clamp or sanitise the HDR buffer before submitting (e.g. a NaN-kill pass)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The NaN/Inf scan of the G-buffer planes.
    fn validate_gbuffers(&self) -> Result<()> {
        for (kind, plane) in self.aux_planes() {
            let Some(p) = plane else { continue };
            let bpp = kind.bytes_per_pixel();
            let row = |y: usize| &p.data[y * p.row_pitch..][..self.width as usize * bpp];
            // Rows in parallel; the first bad row (lowest y) is the one reported.
            let first_bad = (0..self.height as usize)
                .into_par_iter()
                .find_first(|&y| first_non_finite_f32(row(y)).is_some());
            if let Some(y) = first_bad {
                if let Some(i) = first_non_finite_f32(row(y)) {
                    return Err(Error::invalid_frame(
                        format!("{} pixel ({}, {y}) is NaN or infinite", kind.name(), i / kind.channels()),
                        format!("write finite values into the {} buffer (use a large depth for sky, zero motion where unknown)", kind.name()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Copy into an owned, tightly packed frame, reusing `dst`'s allocations.
    pub fn copy_into(&self, dst: &mut OwnedFrame) {
        dst.width = self.width;
        dst.height = self.height;
        dst.format = self.format;
        dst.camera_cut = self.camera_cut;
        dst.light = self.light;
        copy_plane(
            &mut dst.color,
            Some(self.color),
            self.width,
            self.height,
            self.format.bytes_per_pixel(),
        );
        copy_plane(
            &mut dst.depth,
            self.depth,
            self.width,
            self.height,
            AuxKind::Depth.bytes_per_pixel(),
        );
        copy_plane(
            &mut dst.normals,
            self.normals,
            self.width,
            self.height,
            AuxKind::Normals.bytes_per_pixel(),
        );
        copy_plane(
            &mut dst.motion,
            self.motion,
            self.width,
            self.height,
            AuxKind::Motion.bytes_per_pixel(),
        );
        dst.has_depth = self.depth.is_some();
        dst.has_normals = self.normals.is_some();
        dst.has_motion = self.motion.is_some();
    }

    pub fn to_owned_frame(&self) -> OwnedFrame {
        let mut f = OwnedFrame::default();
        self.copy_into(&mut f);
        f
    }
}

fn copy_plane(dst: &mut Vec<u8>, src: Option<PlaneRef<'_>>, width: u32, height: u32, bpp: usize) {
    dst.clear();
    let Some(src) = src else { return };
    let row = width as usize * bpp;
    if src.row_pitch == row {
        dst.extend_from_slice(&src.data[..row * height as usize]);
    } else {
        dst.reserve(row * height as usize);
        for y in 0..height as usize {
            dst.extend_from_slice(&src.data[y * src.row_pitch..][..row]);
        }
    }
}

fn first_non_finite(row: &[u8], format: ColorFormat) -> Option<usize> {
    match format {
        ColorFormat::Rgba32Float => first_non_finite_f32(row).map(|i| i / 4),
        ColorFormat::Rgba16Float => {
            // f16: exponent all ones = Inf/NaN.
            let bad = |c: &[u8]| (u16::from_le_bytes([c[0], c[1]]) & 0x7c00) == 0x7c00;
            if !row.chunks_exact(2).fold(false, |any, c| any | bad(c)) {
                return None;
            }
            row.chunks_exact(2).position(bad).map(|i| i / 4)
        }
        _ => None,
    }
}

/// Index of the first NaN or infinite f32 in `row` (little-endian bytes). The common all-finite row
/// is checked without an early exit, on the exponent bits, so it compiles to SIMD.
fn first_non_finite_f32(row: &[u8]) -> Option<usize> {
    let bad =
        |c: &[u8]| (u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & 0x7f80_0000) == 0x7f80_0000;
    if !row.chunks_exact(4).fold(false, |any, c| any | bad(c)) {
        return None;
    }
    row.chunks_exact(4).position(bad)
}

/// A tightly packed copy of a frame that the pipeline owns (pooled and reused).
#[derive(Debug, Clone)]
pub struct OwnedFrame {
    pub width: u32,
    pub height: u32,
    pub format: ColorFormat,
    pub color: Vec<u8>,
    pub depth: Vec<u8>,
    pub normals: Vec<u8>,
    pub motion: Vec<u8>,
    pub has_depth: bool,
    pub has_normals: bool,
    pub has_motion: bool,
    pub camera_cut: bool,
    /// See [`FrameRef::light`].
    pub light: Option<SceneLight>,
}

impl Default for OwnedFrame {
    fn default() -> Self {
        OwnedFrame {
            width: 0,
            height: 0,
            format: ColorFormat::Rgba8Srgb,
            color: Vec::new(),
            depth: Vec::new(),
            normals: Vec::new(),
            motion: Vec::new(),
            has_depth: false,
            has_normals: false,
            has_motion: false,
            camera_cut: false,
            light: None,
        }
    }
}

impl OwnedFrame {
    pub fn as_frame_ref(&self) -> FrameRef<'_> {
        let w = self.width;
        FrameRef {
            width: self.width,
            height: self.height,
            format: self.format,
            color: PlaneRef::tight(&self.color, w, self.format.bytes_per_pixel()),
            depth: self
                .has_depth
                .then(|| PlaneRef::tight(&self.depth, w, AuxKind::Depth.bytes_per_pixel())),
            normals: self
                .has_normals
                .then(|| PlaneRef::tight(&self.normals, w, AuxKind::Normals.bytes_per_pixel())),
            motion: self
                .has_motion
                .then(|| PlaneRef::tight(&self.motion, w, AuxKind::Motion.bytes_per_pixel())),
            camera_cut: self.camera_cut,
            light: self.light,
        }
    }
}

/// What [`OwnedFrame::sanitize_gbuffers`] replaced, in pixels per plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sanitized {
    pub depth: usize,
    pub normals: usize,
    pub motion: usize,
}

impl Sanitized {
    pub fn any(&self) -> bool {
        self.depth + self.normals + self.motion > 0
    }
}

impl std::fmt::Display for Sanitized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} depth, {} normal and {} motion pixels",
            self.depth, self.normals, self.motion
        )
    }
}

/// Largest depth magnitude kept as is; beyond it (and for +inf) depth is clamped here.
pub const MAX_DEPTH: f32 = 1.0e6;

impl OwnedFrame {
    /// Contain bad G-buffer values per pixel, so one bad pixel or frame neither blows out the
    /// picture nor disturbs the history of the frames after it:
    /// - depth: NaN, infinite or beyond +-[`MAX_DEPTH`] becomes the frame's farthest finite depth
    ///   (clamped to `MAX_DEPTH`; `MAX_DEPTH` when none is finite);
    /// - normals: a non-finite component zeroes the normal (unknown); a longer-than-unit normal is
    ///   renormalised;
    /// - motion: non-finite, or pointing more than one frame width/height outside the frame
    ///   (FLT_MAX, garbage), becomes zero motion (the documented "unknown").
    ///
    /// The colour plane is not touched (NaN colour is refused by `FrameRef::validate`).
    ///
    /// Rows run in parallel (rayon), and depth is rewritten only when a bad value was found, so a
    /// clean frame costs one read of its G-buffers.
    pub fn sanitize_gbuffers(&mut self) -> Sanitized {
        let mut s = Sanitized::default();
        let (w, h) = (self.width as usize, self.height as usize);
        let n = w * h;
        if n == 0 {
            return s;
        }
        if self.has_depth && self.depth.len() >= n * 4 {
            s.depth = sanitize_plane(AuxKind::Depth, &mut self.depth[..n * 4], (w, h));
        }
        if self.has_normals && self.normals.len() >= n * 12 {
            s.normals = sanitize_plane(AuxKind::Normals, &mut self.normals[..n * 12], (w, h));
        }
        if self.has_motion && self.motion.len() >= n * 8 {
            s.motion = sanitize_plane(AuxKind::Motion, &mut self.motion[..n * 8], (w, h));
        }
        s
    }
}

/// Whether row `y` of a `kind` plane (`row`: its `width` pixels, little-endian f32) keeps the
/// sanitizer's rules, i.e. [`sanitize_plane`] would change nothing in it. For passes that read the
/// plane anyway and can check each row while it is in cache (the CPU backend's resample).
pub(crate) fn aux_row_clean(kind: AuxKind, row: &[u8], y: usize, (w, h): (u32, u32)) -> bool {
    let avx2 = crate::reference::blend::use_avx2();
    match kind {
        AuxKind::Depth => gbuffer_scan::depth_row(row, avx2).1 == 0,
        AuxKind::Normals => gbuffer_scan::normals_row_clean(row, avx2),
        AuxKind::Motion => {
            gbuffer_scan::motion_row_clean(row, y as f32 + 0.5, (w as f32, h as f32), avx2)
        }
    }
}

/// [`OwnedFrame::sanitize_gbuffers`]'s rules on one tight `w` x `h` plane of `kind` (little-endian
/// f32 bytes): the number of pixels replaced.
pub(crate) fn sanitize_plane(kind: AuxKind, plane: &mut [u8], (w, h): (usize, usize)) -> usize {
    let avx2 = crate::reference::blend::use_avx2();
    match kind {
        AuxKind::Depth => {
            let plane = &mut plane[..w * h * 4];
            // Kept: finite and within MAX_DEPTH (false for NaN and infinities).
            let kept = |d: f32| d.abs() <= MAX_DEPTH;
            let (far, bad) = plane
                .par_chunks(w * 4)
                .map(|row| gbuffer_scan::depth_row(row, avx2))
                .reduce(|| (f32::NEG_INFINITY, 0), |a, b| (a.0.max(b.0), a.1 + b.1));
            if bad > 0 {
                let far = if far.is_finite() { far } else { MAX_DEPTH };
                plane.par_chunks_mut(w * 4).for_each(|row| {
                    for c in row.chunks_exact_mut(4) {
                        let d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        if !kept(d) {
                            let v = if d == f32::NEG_INFINITY || d < -MAX_DEPTH {
                                -MAX_DEPTH
                            } else if d.is_nan() {
                                far
                            } else {
                                MAX_DEPTH.max(far)
                            };
                            c.copy_from_slice(&v.to_le_bytes());
                        }
                    }
                });
            }
            bad
        }
        AuxKind::Normals => plane[..w * h * 12]
            .par_chunks_mut(w * 12)
            .map(|row| {
                if gbuffer_scan::normals_row_clean(row, avx2) {
                    return 0;
                }
                let mut fixed_count = 0;
                for c in row.chunks_exact_mut(12) {
                    let v: [f32; 3] = std::array::from_fn(|k| {
                        f32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]])
                    });
                    let len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
                    // The common case: a finite normal of at most 1.5 units (false for NaN).
                    if len2 <= 1.5 * 1.5 {
                        continue;
                    }
                    let fixed = if !len2.is_finite() {
                        // Also catches finite components whose square overflows (e.g. FLT_MAX).
                        if v.iter().all(|c| c.is_finite()) {
                            let m = v.iter().fold(0.0f32, |a, c| a.max(c.abs()));
                            let u = [v[0] / m, v[1] / m, v[2] / m];
                            let l = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
                            [u[0] / l, u[1] / l, u[2] / l]
                        } else {
                            [0.0; 3]
                        }
                    } else {
                        let l = len2.sqrt();
                        [v[0] / l, v[1] / l, v[2] / l]
                    };
                    for (k, f) in fixed.iter().enumerate() {
                        c[4 * k..4 * k + 4].copy_from_slice(&f.to_le_bytes());
                    }
                    fixed_count += 1;
                }
                fixed_count
            })
            .sum(),
        AuxKind::Motion => {
            let (wf, hf) = (w as f32, h as f32);
            plane[..w * h * 8]
                .par_chunks_mut(w * 8)
                .enumerate()
                .map(|(y, row)| {
                    let py = y as f32 + 0.5;
                    if gbuffer_scan::motion_row_clean(row, py, (wf, hf), avx2) {
                        return 0;
                    }
                    let mut zeroed = 0;
                    for (x, c) in row.chunks_exact_mut(8).enumerate() {
                        let mx = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        let my = f32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                        let (qx, qy) = (x as f32 + 0.5 + mx, py + my);
                        // Also false for NaN.
                        let sane = (-wf..=2.0 * wf).contains(&qx) && (-hf..=2.0 * hf).contains(&qy);
                        if !sane {
                            c.fill(0);
                            zeroed += 1;
                        }
                    }
                    zeroed
                })
                .sum()
        }
    }
}

/// The sanitizer's read of a clean frame: per row, whether any value breaks its plane's rule,
/// in lane-wise loops over groups of 8 pixels (no early exit, selects instead of branches) that
/// compile to SIMD, with an AVX2 build. Rows where one does are then fixed pixel by pixel by
/// [`OwnedFrame::sanitize_gbuffers`], which holds the rules; these scans repeat its tests.
pub(crate) mod gbuffer_scan {
    use super::MAX_DEPTH;

    const LANES: usize = 8;

    /// `N` little-endian f32 from the start of `c`.
    #[inline(always)]
    fn floats<const N: usize>(c: &[u8]) -> [f32; N] {
        std::array::from_fn(|k| {
            f32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]])
        })
    }

    /// Depth kept as is: finite and within [`MAX_DEPTH`] (false for NaN).
    #[inline(always)]
    fn kept(d: f32) -> bool {
        d.abs() <= MAX_DEPTH
    }

    /// One row of depth: the farthest kept depth (-inf when none) and the values not kept.
    #[inline(always)]
    fn depth_lanes(row: &[u8]) -> (f32, usize) {
        let mut far = [f32::NEG_INFINITY; LANES];
        let mut bad = [0u32; LANES];
        let groups = row.chunks_exact(4 * LANES);
        let rest = groups.remainder();
        for c in groups {
            let d = floats::<LANES>(c);
            for l in 0..LANES {
                // A select, not f32::max (whose NaN rule keeps it scalar): d is no NaN here.
                far[l] = if kept(d[l]) && d[l] > far[l] {
                    d[l]
                } else {
                    far[l]
                };
                bad[l] += u32::from(!kept(d[l]));
            }
        }
        for c in rest.chunks_exact(4) {
            let d = floats::<1>(c)[0];
            far[0] = if kept(d) && d > far[0] { d } else { far[0] };
            bad[0] += u32::from(!kept(d));
        }
        let far = far
            .iter()
            .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        (far, bad.iter().map(|&b| b as usize).sum())
    }

    /// A normal of at most 1.5 units from its squared length (false for NaN).
    #[inline(always)]
    fn short(len2: f32) -> bool {
        len2 <= 1.5 * 1.5
    }

    /// Normals within 1.5 units (false for NaN), every one of the row.
    #[inline(always)]
    fn normals_lanes(row: &[u8]) -> bool {
        let mut bad = [0u32; LANES];
        let groups = row.chunks_exact(12 * LANES);
        let rest = groups.remainder();
        for c in groups {
            let v = floats::<{ 3 * LANES }>(c);
            for l in 0..LANES {
                let len2 =
                    v[3 * l] * v[3 * l] + v[3 * l + 1] * v[3 * l + 1] + v[3 * l + 2] * v[3 * l + 2];
                bad[l] |= u32::from(!short(len2));
            }
        }
        for c in rest.chunks_exact(12) {
            let v = floats::<3>(c);
            let len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            bad[0] |= u32::from(!short(len2));
        }
        bad.iter().all(|&b| b == 0)
    }

    /// [`motion_lanes`] of the pixels from `x0` on (pixel by pixel).
    fn motion_tail(row: &[u8], x0: usize, py: f32, (wf, hf): (f32, f32)) -> bool {
        row[8 * x0..].chunks_exact(8).enumerate().all(|(k, c)| {
            let v = floats::<2>(c);
            let (qx, qy) = ((x0 + k) as f32 + 0.5 + v[0], py + v[1]);
            (qx >= -wf) & (qx <= 2.0 * wf) & (qy >= -hf) & (qy <= 2.0 * hf)
        })
    }

    /// Motion that lands within one frame width/height of the frame (false for NaN), every pixel
    /// of the row whose pixel centres are at `py`.
    #[inline(always)]
    fn motion_lanes(row: &[u8], py: f32, (wf, hf): (f32, f32)) -> bool {
        let mut bad = [0u32; LANES];
        let sane = |x: f32, mx: f32, my: f32| {
            let (qx, qy) = (x + 0.5 + mx, py + my);
            (qx >= -wf) & (qx <= 2.0 * wf) & (qy >= -hf) & (qy <= 2.0 * hf)
        };
        let groups = row.chunks_exact(8 * LANES);
        let rest = groups.remainder();
        for (g, c) in groups.enumerate() {
            let v = floats::<{ 2 * LANES }>(c);
            for l in 0..LANES {
                let x = (g * LANES + l) as f32;
                bad[l] |= u32::from(!sane(x, v[2 * l], v[2 * l + 1]));
            }
        }
        let x0 = (row.len() / 8) - rest.len() / 8;
        for (k, c) in rest.chunks_exact(8).enumerate() {
            let v = floats::<2>(c);
            bad[0] |= u32::from(!sane((x0 + k) as f32, v[0], v[1]));
        }
        bad.iter().all(|&b| b == 0)
    }

    /// The scans in AVX2: depth as the lane loop compiled for it; normals and motion with their
    /// channels deinterleaved by shuffles (the compiler's own build of those lane loops spilled),
    /// the same tests in the same operation order.
    #[cfg(target_arch = "x86_64")]
    pub(crate) mod avx2 {
        use std::arch::x86_64::*;

        use super::{LANES, MAX_DEPTH};

        /// # Safety
        /// The CPU must have AVX2 (each of these).
        /// [`super::depth_lanes`] in registers (the compiler's build of it shuffled and packed
        /// its masks every group: 2x slower): kept = |d| <= MAX_DEPTH (false for NaN); the
        /// farthest kept depth by max over kept lanes; the others counted by subtracting masks.
        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn depth(row: &[u8]) -> (f32, usize) {
            let n = row.len() / 4;
            let full = n - n % LANES;
            let p = row.as_ptr() as *const f32;
            let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
            let (mut far, mut bad) = (neg_inf, _mm256_setzero_si256());
            let mut i = 0;
            while i < full {
                let d = _mm256_loadu_ps(p.add(i));
                let kept = depth_ok(d);
                far = _mm256_max_ps(far, _mm256_blendv_ps(neg_inf, d, kept));
                // a kept lane's mask is -1: count the others (as -1 - mask + 1 = !kept)
                bad = _mm256_add_epi32(
                    bad,
                    _mm256_andnot_si256(_mm256_castps_si256(kept), _mm256_set1_epi32(1)),
                );
                i += LANES;
            }
            let mut lanes = [0.0f32; LANES];
            _mm256_storeu_ps(lanes.as_mut_ptr(), far);
            let mut counts = [0u32; LANES];
            _mm256_storeu_si256(counts.as_mut_ptr() as *mut __m256i, bad);
            let (tail_far, tail_bad) = super::depth_lanes(&row[4 * full..]);
            let far = lanes
                .iter()
                .fold(tail_far, |a, &b| if b > a { b } else { a });
            (
                far,
                tail_bad + counts.iter().map(|&c| c as usize).sum::<usize>(),
            )
        }

        /// Whether each of 8 normals (24 floats: `a`, `b`, `c` in memory order) is within 1.5
        /// units (false for NaN), as a lane mask in the order pixels 0 3 6 1 4 7 2 5.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) unsafe fn normals_ok(a: __m256, b: __m256, c: __m256) -> __m256 {
            // Rotating a, b, c by 0, 1 and 2 floats and blending (lanes from a, b, c by the
            // masks) puts x, y and z of one pixel in the same lane.
            let rot1 = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
            let rot2 = _mm256_setr_epi32(2, 3, 4, 5, 6, 7, 0, 1);
            let m = |bits: i32| {
                _mm256_castsi256_ps(_mm256_setr_epi32(
                    -(bits & 1),
                    -((bits >> 1) & 1),
                    -((bits >> 2) & 1),
                    -((bits >> 3) & 1),
                    -((bits >> 4) & 1),
                    -((bits >> 5) & 1),
                    -((bits >> 6) & 1),
                    -((bits >> 7) & 1),
                ))
            };
            let pick = |a: __m256, b: __m256, c: __m256, from_b: i32, from_c: i32| {
                _mm256_blendv_ps(_mm256_blendv_ps(a, b, m(from_b)), c, m(from_c))
            };
            let r1 = |v| _mm256_permutevar8x32_ps(v, rot1);
            let r2 = |v| _mm256_permutevar8x32_ps(v, rot2);
            // Lanes from b: x {1, 4, 7}, y {1, 4}, z {1, 4, 6}; from c: x {2, 5}, y and z
            // {2, 5, 7}; the rest from a.
            let x = pick(a, b, c, 0b1001_0010, 0b0010_0100);
            let y = pick(r1(a), r1(b), r1(c), 0b0001_0010, 0b1010_0100);
            let z = pick(r2(a), r2(b), r2(c), 0b0101_0010, 0b1010_0100);
            let len2 = _mm256_add_ps(
                _mm256_add_ps(_mm256_mul_ps(x, x), _mm256_mul_ps(y, y)),
                _mm256_mul_ps(z, z),
            );
            _mm256_cmp_ps::<_CMP_LE_OQ>(len2, _mm256_set1_ps(1.5 * 1.5))
        }

        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn normals(row: &[u8]) -> bool {
            let n = row.len() / 12;
            let full = n - n % LANES;
            let mut ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
            let p = row.as_ptr() as *const f32;
            let mut i = 0;
            while i < full {
                let q = p.add(3 * i);
                let (a, b, c) = (
                    _mm256_loadu_ps(q),
                    _mm256_loadu_ps(q.add(8)),
                    _mm256_loadu_ps(q.add(16)),
                );
                ok = _mm256_and_ps(ok, normals_ok(a, b, c));
                i += LANES;
            }
            _mm256_movemask_ps(ok) == 0xff && super::normals_lanes(&row[12 * full..])
        }

        /// Whether each of 8 motion vectors (16 floats: `a`, `b` in memory order) of the pixels
        /// from `x0` in the row whose centres are at `py` lands within one frame width/height of
        /// the frame (false for NaN), as a lane mask in pixel order.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) unsafe fn motion_ok(
            a: __m256,
            b: __m256,
            x0: usize,
            py: f32,
            (wf, hf): (f32, f32),
        ) -> __m256 {
            // 8 (x, y) pairs: deinterleave two 4-pair halves.
            let lo = _mm256_permute2f128_ps::<0x20>(a, b);
            let hi = _mm256_permute2f128_ps::<0x31>(a, b);
            let mx = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
            let my = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
            let lane = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
            let x = _mm256_add_ps(_mm256_set1_ps(x0 as f32), lane);
            let qx = _mm256_add_ps(_mm256_add_ps(x, _mm256_set1_ps(0.5)), mx);
            let qy = _mm256_add_ps(_mm256_set1_ps(py), my);
            _mm256_and_ps(
                _mm256_and_ps(
                    _mm256_cmp_ps::<_CMP_GE_OQ>(qx, _mm256_set1_ps(-wf)),
                    _mm256_cmp_ps::<_CMP_LE_OQ>(qx, _mm256_set1_ps(2.0 * wf)),
                ),
                _mm256_and_ps(
                    _mm256_cmp_ps::<_CMP_GE_OQ>(qy, _mm256_set1_ps(-hf)),
                    _mm256_cmp_ps::<_CMP_LE_OQ>(qy, _mm256_set1_ps(2.0 * hf)),
                ),
            )
        }

        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn motion(row: &[u8], py: f32, size: (f32, f32)) -> bool {
            let n = row.len() / 8;
            let full = n - n % LANES;
            let p = row.as_ptr() as *const f32;
            let mut sane = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
            let mut i = 0;
            while i < full {
                let a = _mm256_loadu_ps(p.add(2 * i));
                let b = _mm256_loadu_ps(p.add(2 * i + 8));
                sane = _mm256_and_ps(sane, motion_ok(a, b, i, py, size));
                i += LANES;
            }
            _mm256_movemask_ps(sane) == 0xff && super::motion_tail(row, full, py, size)
        }

        /// Whether each of 8 depths is kept as is (finite and within [`MAX_DEPTH`]; false for
        /// NaN), as a lane mask.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) unsafe fn depth_ok(d: __m256) -> __m256 {
            let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
            _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_and_ps(d, abs_mask), _mm256_set1_ps(MAX_DEPTH))
        }
    }

    /// Whether the pixels of a `kind` row from `x0` on keep the sanitizer's rules (the scalar
    /// loops; `y`: the row, `size`: the frame's): for the tail of a row whose first `x0` pixels
    /// a SIMD loop tested.
    pub(crate) fn tail_clean(
        kind: super::AuxKind,
        row: &[u8],
        x0: usize,
        y: usize,
        (wf, hf): (f32, f32),
    ) -> bool {
        let px = kind.bytes_per_pixel();
        match kind {
            super::AuxKind::Depth => depth_lanes(&row[px * x0..]).1 == 0,
            super::AuxKind::Normals => normals_lanes(&row[px * x0..]),
            super::AuxKind::Motion => motion_tail(row, x0, y as f32 + 0.5, (wf, hf)),
        }
    }

    /// [`depth_lanes`] in the build the CPU runs (`avx2`: only where it has AVX2).
    pub(super) fn depth_row(row: &[u8], avx2: bool) -> (f32, usize) {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the caller found AVX2 on this CPU.
            return unsafe { avx2::depth(row) };
        }
        let _ = avx2;
        depth_lanes(row)
    }

    /// [`normals_lanes`] in the build the CPU runs.
    pub(super) fn normals_row_clean(row: &[u8], avx2: bool) -> bool {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: as in `depth_row`.
            return unsafe { avx2::normals(row) };
        }
        let _ = avx2;
        normals_lanes(row)
    }

    /// [`motion_lanes`] in the build the CPU runs.
    pub(super) fn motion_row_clean(row: &[u8], py: f32, size: (f32, f32), avx2: bool) -> bool {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: as in `depth_row`.
            return unsafe { avx2::motion(row, py, size) };
        }
        let _ = avx2;
        motion_lanes(row, py, size)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn bytes(v: &[f32]) -> Vec<u8> {
            v.iter().flat_map(|f| f.to_le_bytes()).collect()
        }

        /// Both builds flag a row exactly when one of its pixels breaks the rule, wherever the
        /// pixel is (every lane of a group, the partial group at the end), for values just
        /// inside and just outside each limit and for NaN.
        #[test]
        fn scans_find_every_bad_pixel_in_both_builds() {
            let builds = [false, crate::reference::blend::use_avx2()];
            let (wf, hf, py) = (19.0f32, 7.0f32, 3.5f32);
            let limit = 1.5f32 * 1.5;
            for w in [1usize, 7, 8, 9, 16, 19] {
                for at in 0..w {
                    // Depth: a value just past MAX_DEPTH, NaN, or -inf at `at`.
                    for bad_value in [MAX_DEPTH * 1.001, f32::NAN, f32::NEG_INFINITY, -MAX_DEPTH] {
                        let mut d = vec![2.0f32; w];
                        d[at] = bad_value;
                        d[(at + 1) % w] = if w > 1 { 9.0 } else { d[0] };
                        let want_bad = usize::from(!kept(bad_value));
                        for avx2 in builds {
                            let (far, bad) = depth_row(&bytes(&d), avx2);
                            assert_eq!(bad, want_bad, "depth w {w} at {at} {bad_value}");
                            let want_far = d
                                .iter()
                                .copied()
                                .filter(|v| v.abs() <= MAX_DEPTH)
                                .fold(f32::NEG_INFINITY, f32::max);
                            assert_eq!(far, want_far);
                        }
                    }
                    // Normals: length^2 just below and above the limit, NaN.
                    let below = (limit / 3.0).sqrt();
                    let above = f32::from_bits(below.to_bits() + 2);
                    for (v, clean) in [(below, true), (above, false), (f32::NAN, false)] {
                        let mut n = vec![0.0f32; 3 * w];
                        for k in 0..w {
                            n[3 * k + 1] = 1.0;
                        }
                        n[3 * at..3 * at + 3].copy_from_slice(&[v, v, v]);
                        let len2 = v * v + v * v + v * v;
                        assert_eq!(len2 <= limit, clean, "the test's own values");
                        for avx2 in builds {
                            assert_eq!(
                                normals_row_clean(&bytes(&n), avx2),
                                clean,
                                "normals w {w} at {at} {v}"
                            );
                        }
                    }
                    // Motion: landing just inside and just outside each side, NaN.
                    let x = at as f32 + 0.5;
                    let cases = [
                        ((-wf - x, 0.0), true),
                        ((2.0 * wf - x, 0.0), true),
                        ((2.0 * wf - x + 0.01, 0.0), false),
                        ((-wf - x - 0.01, 0.0), false),
                        ((0.0, 2.0 * hf - py), true),
                        ((0.0, 2.0 * hf - py + 0.01), false),
                        ((0.0, -hf - py - 0.01), false),
                        ((f32::NAN, 0.0), false),
                        ((0.0, f32::NAN), false),
                    ];
                    for ((mx, my), clean) in cases {
                        let mut m = vec![0.0f32; 2 * w];
                        m[2 * at] = mx;
                        m[2 * at + 1] = my;
                        for avx2 in builds {
                            assert_eq!(
                                motion_row_clean(&bytes(&m), py, (wf, hf), avx2),
                                clean,
                                "motion w {w} at {at} ({mx}, {my})"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// An RGBA f32 image (linear or sRGB-encoded as the context says), tightly packed. Used for
/// CPU references, sequence I/O and outputs.
#[derive(Debug, PartialEq)]
pub struct ImageF32 {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub data: Vec<f32>,
}

impl Clone for ImageF32 {
    fn clone(&self) -> Self {
        ImageF32 {
            width: self.width,
            height: self.height,
            channels: self.channels,
            data: self.data.clone(),
        }
    }

    /// Reuses `self`'s allocation (the derived `clone_from` would allocate a new one: the CPU
    /// compositor copies the model-size depth this way every frame).
    fn clone_from(&mut self, source: &Self) {
        self.width = source.width;
        self.height = source.height;
        self.channels = source.channels;
        self.data.clone_from(&source.data);
    }
}

impl ImageF32 {
    pub fn new(width: u32, height: u32, channels: u32) -> Self {
        ImageF32 {
            width,
            height,
            channels,
            data: vec![0.0; (width * height * channels) as usize],
        }
    }

    /// Whether the image is `w` x `h` pixels of `c` channels with all its floats.
    pub fn has_shape(&self, w: u32, h: u32, c: u32) -> bool {
        self.width == w
            && self.height == h
            && self.channels == c
            && self.data.len() == w as usize * h as usize * c as usize
    }
    #[inline]
    pub fn at(&self, x: u32, y: u32, c: u32) -> f32 {
        self.data[((y * self.width + x) * self.channels + c) as usize]
    }
    #[inline]
    pub fn set(&mut self, x: u32, y: u32, c: u32, v: f32) {
        let i = ((y * self.width + x) * self.channels + c) as usize;
        self.data[i] = v;
    }
}

/// sRGB transfer functions (IEC 61966-2-1).
pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}
pub fn linear_to_srgb(c: f32) -> f32 {
    let c = c.max(0.0);
    if c <= 0.0031308 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_and_short_buffers() {
        let data = vec![0u8; 16];
        let f = FrameRef::color_only(0, 4, ColorFormat::Rgba8Srgb, &data);
        assert!(matches!(
            f.validate_layout(),
            Err(Error::InvalidFrame { .. })
        ));
        let f = FrameRef::color_only(4, 4, ColorFormat::Rgba8Srgb, &data);
        let e = f.validate_layout().unwrap_err().to_string();
        assert!(e.contains("needs 64"), "{e}");
    }

    #[test]
    fn pitch_is_honoured_when_copying() {
        // 2x2 RGBA8 with a 12-byte pitch (4 bytes padding per row).
        let data: Vec<u8> = (0..24).collect();
        let mut f = FrameRef::color_only(2, 2, ColorFormat::Rgba8Srgb, &data);
        f.color.row_pitch = 12;
        f.validate().unwrap();
        let o = f.to_owned_frame();
        assert_eq!(
            o.color,
            [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19]
        );
    }

    #[test]
    fn nan_in_hdr_and_depth_is_named() {
        let mut px = [0f32; 4 * 4];
        px[5] = f32::NAN; // pixel 1, channel 1
        let bytes: Vec<u8> = px.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f = FrameRef::color_only(2, 2, ColorFormat::Rgba32Float, &bytes);
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("(1, 0)") && e.contains("NaN"), "{e}");

        let color = vec![0u8; 16];
        let depth: Vec<u8> = [1.0f32, f32::INFINITY, 1.0, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut f = FrameRef::color_only(2, 2, ColorFormat::Rgba8Srgb, &color);
        f.depth = Some(PlaneRef::tight(&depth, 2, 4));
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("depth pixel (1, 0)"), "{e}");
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn f32s(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// The scan runs rows in parallel; the reported pixel is still the first bad one in row order.
    #[test]
    fn first_bad_gbuffer_row_is_named() {
        let (w, h) = (3u32, 64u32);
        let color = vec![0u8; (w * h * 4) as usize];
        let mut m = vec![0.0f32; (w * h * 2) as usize];
        m[(40 * w as usize + 2) * 2 + 1] = f32::NAN; // (2, 40)
        m[(9 * w as usize + 1) * 2] = f32::NEG_INFINITY; // (1, 9)
        let motion = f32_bytes(&m);
        let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
        f.motion = Some(PlaneRef::tight(&motion, w, 8));
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("motion pixel (1, 9)"), "{e}");
        // The colour-only check leaves G-buffers to the sanitizer.
        f.validate_color().unwrap();
    }

    /// Every rule of the sanitizer, on a frame taller than one row (rows run in parallel).
    #[test]
    fn sanitizer_replaces_each_kind_of_bad_value() {
        let (w, h) = (4u32, 3u32);
        let n = (w * h) as usize;
        let color = vec![0u8; n * 4];
        let mut d = vec![2.0f32; n];
        d[1] = f32::NAN;
        d[5] = f32::INFINITY;
        d[6] = f32::NEG_INFINITY;
        d[7] = 2.0e6;
        d[9] = 7.5; // the farthest kept depth
        let mut nr = vec![0.0f32; n * 3];
        for i in 0..n {
            nr[i * 3 + 2] = 1.0;
        }
        nr[3 * 2..3 * 2 + 3].copy_from_slice(&[0.0, 3.0, 4.0]); // too long: renormalised
        nr[3 * 4..3 * 4 + 3].copy_from_slice(&[f32::MAX, 0.0, f32::MAX]); // overflows
        nr[3 * 10] = f32::NAN; // unknown: zeroed
        let mut m = vec![0.5f32; n * 2];
        m[3 * 2] = f32::NAN; // pixel 3
        m[8 * 2 + 1] = -1.0e9; // pixel 8: far outside
        m[11 * 2] = -4.0 * w as f32; // pixel 11 (x = 3): 3.5 - 16 < -w
        let (db, nb, mb) = (f32_bytes(&d), f32_bytes(&nr), f32_bytes(&m));
        let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
        f.depth = Some(PlaneRef::tight(&db, w, 4));
        f.normals = Some(PlaneRef::tight(&nb, w, 12));
        f.motion = Some(PlaneRef::tight(&mb, w, 8));
        let mut o = f.to_owned_frame();
        let s = o.sanitize_gbuffers();
        assert_eq!(
            s,
            Sanitized {
                depth: 4,
                normals: 3,
                motion: 3
            }
        );
        let d2 = f32s(&o.depth);
        assert_eq!(
            (d2[1], d2[5], d2[6], d2[7]),
            (7.5, MAX_DEPTH, -MAX_DEPTH, MAX_DEPTH)
        );
        assert_eq!((d2[0], d2[9]), (2.0, 7.5));
        let n2 = f32s(&o.normals);
        assert_eq!(&n2[6..9], &[0.0, 0.6, 0.8]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((n2[12] - h).abs() < 1e-6 && n2[13] == 0.0 && (n2[14] - h).abs() < 1e-6);
        assert_eq!(&n2[30..33], &[0.0; 3]);
        assert_eq!(&n2[0..3], &[0.0, 0.0, 1.0]);
        let m2 = f32s(&o.motion);
        for p in [3, 8, 11] {
            assert_eq!(&m2[p * 2..p * 2 + 2], &[0.0, 0.0], "pixel {p}");
        }
        assert_eq!(&m2[0..2], &[0.5, 0.5]);
        o.as_frame_ref().validate().unwrap();
        // A clean frame is left as it is.
        let before = o.clone();
        assert!(!o.sanitize_gbuffers().any());
        assert_eq!(
            (o.depth, o.normals, o.motion),
            (before.depth, before.normals, before.motion)
        );
    }

    #[test]
    fn srgb_roundtrip() {
        for i in 0..=255 {
            let c = i as f32 / 255.0;
            assert!((linear_to_srgb(srgb_to_linear(c)) - c).abs() < 1e-5);
        }
    }
}
