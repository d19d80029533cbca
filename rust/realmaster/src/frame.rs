//! Frames as a game engine hands them over: a color buffer plus optional G-buffers, each with a
//! row pitch. `FrameRef` borrows the engine's memory; `OwnedFrame` is the copy that crosses threads.

use crate::error::{Error, Result};

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
        for (kind, plane) in self.aux_planes() {
            let Some(p) = plane else { continue };
            let bpp = kind.bytes_per_pixel();
            for y in 0..self.height as usize {
                let row = &p.data[y * p.row_pitch..][..self.width as usize * bpp];
                if let Some(i) = row
                    .chunks_exact(4)
                    .position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
                {
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
        ColorFormat::Rgba32Float => row
            .chunks_exact(4)
            .position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
            .map(|i| i / 4),
        ColorFormat::Rgba16Float => row
            .chunks_exact(2)
            // f16: exponent all ones = Inf/NaN.
            .position(|c| (u16::from_le_bytes([c[0], c[1]]) & 0x7c00) == 0x7c00)
            .map(|i| i / 4),
        _ => None,
    }
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

fn get_f32(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

fn set_f32(b: &mut [u8], i: usize, v: f32) {
    b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
}

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
    pub fn sanitize_gbuffers(&mut self) -> Sanitized {
        let mut s = Sanitized::default();
        let n = self.width as usize * self.height as usize;
        if self.has_depth && self.depth.len() >= n * 4 {
            let mut far = f32::NEG_INFINITY;
            for i in 0..n {
                let d = get_f32(&self.depth, i);
                if d.is_finite() && d.abs() <= MAX_DEPTH {
                    far = far.max(d);
                }
            }
            let far = if far.is_finite() { far } else { MAX_DEPTH };
            for i in 0..n {
                let d = get_f32(&self.depth, i);
                if !d.is_finite() || d.abs() > MAX_DEPTH {
                    let v = if d == f32::NEG_INFINITY || d < -MAX_DEPTH {
                        -MAX_DEPTH
                    } else if d.is_nan() {
                        far
                    } else {
                        MAX_DEPTH.max(far)
                    };
                    set_f32(&mut self.depth, i, v);
                    s.depth += 1;
                }
            }
        }
        if self.has_normals && self.normals.len() >= n * 12 {
            for i in 0..n {
                let v = [
                    get_f32(&self.normals, 3 * i),
                    get_f32(&self.normals, 3 * i + 1),
                    get_f32(&self.normals, 3 * i + 2),
                ];
                let len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
                let fixed = if !len2.is_finite() {
                    // Also catches finite components whose square overflows (e.g. FLT_MAX).
                    if v.iter().all(|c| c.is_finite()) {
                        let m = v.iter().fold(0.0f32, |a, c| a.max(c.abs()));
                        let u = [v[0] / m, v[1] / m, v[2] / m];
                        let l = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
                        Some([u[0] / l, u[1] / l, u[2] / l])
                    } else {
                        Some([0.0; 3])
                    }
                } else if len2 > 1.5 * 1.5 {
                    let l = len2.sqrt();
                    Some([v[0] / l, v[1] / l, v[2] / l])
                } else {
                    None
                };
                if let Some(f) = fixed {
                    for (k, c) in f.iter().enumerate() {
                        set_f32(&mut self.normals, 3 * i + k, *c);
                    }
                    s.normals += 1;
                }
            }
        }
        if self.has_motion && self.motion.len() >= n * 8 {
            let (w, h) = (self.width as f32, self.height as f32);
            for i in 0..n {
                let (mx, my) = (
                    get_f32(&self.motion, 2 * i),
                    get_f32(&self.motion, 2 * i + 1),
                );
                let x = (i % self.width as usize) as f32 + 0.5 + mx;
                let y = (i / self.width as usize) as f32 + 0.5 + my;
                // Also false for NaN.
                let sane = (-w..=2.0 * w).contains(&x) && (-h..=2.0 * h).contains(&y);
                if !sane {
                    set_f32(&mut self.motion, 2 * i, 0.0);
                    set_f32(&mut self.motion, 2 * i + 1, 0.0);
                    s.motion += 1;
                }
            }
        }
        s
    }
}

/// An RGBA f32 image (linear or sRGB-encoded as the context says), tightly packed. Used for
/// CPU references, sequence I/O and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageF32 {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub data: Vec<f32>,
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

    #[test]
    fn srgb_roundtrip() {
        for i in 0..=255 {
            let c = i as f32 / 255.0;
            assert!((linear_to_srgb(srgb_to_linear(c)) - c).abs() < 1e-5);
        }
    }
}
