//! Decode (the CPU implementation of gpu/preprocess/decode.wgsl): engine planes → linear f32 images.
//!
//! Rows are decoded in parallel into caller-owned images (`*_into`, no allocation once sized);
//! sRGB bytes go through a 256-entry table of [`srgb_to_linear`], so the values are those of the
//! per-pixel formula.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::frame::{srgb_to_linear, AuxKind, ColorFormat, FrameRef, ImageF32, PlaneRef};

/// A decoded frame at the engine's resolution (the CPU twin of `gpu::FrameImages`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame {
    /// Linear RGBA, 4 channels.
    pub color: ImageF32,
    /// View depth, 1 channel.
    pub depth: Option<ImageF32>,
    /// xyz normal; 3 channels (the plane as sent: the GPU's texture pads it to 4).
    pub normals: Option<ImageF32>,
    /// xy motion in pixels; 2 channels (the GPU's texture pads it to 4).
    pub motion: Option<ImageF32>,
}

/// `srgb_to_linear(b / 255)` and `b / 255` for every byte.
pub(crate) struct ByteTables {
    pub(crate) srgb: [f32; 256],
    pub(crate) unorm: [f32; 256],
}

pub(crate) fn tables() -> &'static ByteTables {
    static T: OnceLock<ByteTables> = OnceLock::new();
    T.get_or_init(|| ByteTables {
        srgb: std::array::from_fn(|b| srgb_to_linear(b as f32 / 255.0)),
        unorm: std::array::from_fn(|b| b as f32 / 255.0),
    })
}

/// Resize `img` to `w` x `h` x `c` (keeps the allocation when the size is unchanged).
pub fn ensure_shape(img: &mut ImageF32, w: u32, h: u32, c: u32) {
    img.width = w;
    img.height = h;
    img.channels = c;
    img.data.resize(w as usize * h as usize * c as usize, 0.0);
}

/// Decode the colour plane into `out` (resized to the frame): linear RGBA, sRGB formats
/// linearised, alpha as stored. The frame must have passed `validate_layout`.
pub fn decode_color_into(frame: &FrameRef<'_>, out: &mut ImageF32) {
    let (w, h) = (frame.width, frame.height);
    ensure_shape(out, w, h, 4);
    if w == 0 || h == 0 {
        return;
    }
    let bpp = frame.format.bytes_per_pixel();
    let (pitch, src, format) = (frame.color.row_pitch, frame.color.data, frame.format);
    let t = tables();
    out.data
        .par_chunks_mut(w as usize * 4)
        .enumerate()
        .for_each(|(y, row)| {
            let line = &src[y * pitch..y * pitch + w as usize * bpp];
            match format {
                ColorFormat::Rgba8Srgb => {
                    for (o, p) in row.chunks_exact_mut(4).zip(line.chunks_exact(4)) {
                        o[0] = t.srgb[p[0] as usize];
                        o[1] = t.srgb[p[1] as usize];
                        o[2] = t.srgb[p[2] as usize];
                        o[3] = t.unorm[p[3] as usize];
                    }
                }
                ColorFormat::Bgra8Srgb => {
                    for (o, p) in row.chunks_exact_mut(4).zip(line.chunks_exact(4)) {
                        o[0] = t.srgb[p[2] as usize];
                        o[1] = t.srgb[p[1] as usize];
                        o[2] = t.srgb[p[0] as usize];
                        o[3] = t.unorm[p[3] as usize];
                    }
                }
                ColorFormat::Rgba16Float => {
                    for (o, p) in row.iter_mut().zip(line.chunks_exact(2)) {
                        *o = half::f16::from_bits(u16::from_le_bytes([p[0], p[1]])).to_f32();
                    }
                }
                ColorFormat::Rgba32Float => {
                    for (o, p) in row.iter_mut().zip(line.chunks_exact(4)) {
                        *o = f32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                    }
                }
            }
        });
}

/// Decode the colour plane to linear RGBA (sRGB formats are linearised; alpha stays as stored).
/// The frame must have passed `validate_layout`.
pub fn decode_color(frame: &FrameRef<'_>) -> ImageF32 {
    let mut out = ImageF32::new(0, 0, 4);
    decode_color_into(frame, &mut out);
    out
}

/// Decode an aux plane into `out` (resized) with the plane's own channels: depth 1, normals 3,
/// motion 2. Tight channels rather than the GPU textures' 4 halve what the later passes read.
pub fn decode_aux_into(
    plane: &PlaneRef<'_>,
    width: u32,
    height: u32,
    kind: AuxKind,
    out: &mut ImageF32,
) {
    let n = kind.channels();
    ensure_shape(out, width, height, n as u32);
    if width == 0 || height == 0 {
        return;
    }
    let (pitch, src) = (plane.row_pitch, plane.data);
    let len = width as usize * n;
    out.data
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(y, row)| {
            let line = &src[y * pitch..y * pitch + len * 4];
            for (o, p) in row.iter_mut().zip(line.chunks_exact(4)) {
                *o = f32::from_le_bytes([p[0], p[1], p[2], p[3]]);
            }
        });
}

/// Decode an aux plane: depth 1 channel, normals 3, motion 2.
pub fn decode_aux(plane: &PlaneRef<'_>, width: u32, height: u32, kind: AuxKind) -> ImageF32 {
    let mut out = ImageF32::new(0, 0, 1);
    decode_aux_into(plane, width, height, kind, &mut out);
    out
}

/// Decode one optional aux plane into `slot`, parking the image in `spare` while the plane is
/// absent so that its allocation is reused when it comes back.
fn decode_optional(
    plane: Option<PlaneRef<'_>>,
    (w, h): (u32, u32),
    kind: AuxKind,
    slot: &mut Option<ImageF32>,
    spare: &mut Option<ImageF32>,
) {
    match plane {
        Some(p) => {
            let img = slot.get_or_insert_with(|| spare.take().unwrap_or(ImageF32::new(0, 0, 1)));
            decode_aux_into(&p, w, h, kind, img);
        }
        None => {
            if let Some(img) = slot.take() {
                *spare = Some(img);
            }
        }
    }
}

impl DecodedFrame {
    /// An empty frame to decode into.
    pub fn empty() -> Self {
        DecodedFrame {
            color: ImageF32::new(0, 0, 4),
            depth: None,
            normals: None,
            motion: None,
        }
    }

    /// Decode every plane `frame` has into this frame's images; `spare` keeps the aux images
    /// of planes the frame lacks (allocation happens only when a size or a plane first appears).
    pub fn decode_from(&mut self, frame: &FrameRef<'_>, spare: &mut [Option<ImageF32>; 3]) {
        decode_color_into(frame, &mut self.color);
        self.decode_aux_from(frame, spare);
    }

    /// [`Self::decode_from`] without the colour plane (the CPU backend reads it through
    /// [`ColorRows`]).
    pub fn decode_aux_from(&mut self, frame: &FrameRef<'_>, spare: &mut [Option<ImageF32>; 3]) {
        let size = (frame.width, frame.height);
        let [sd, sn, sm] = spare;
        decode_optional(frame.depth, size, AuxKind::Depth, &mut self.depth, sd);
        decode_optional(frame.normals, size, AuxKind::Normals, &mut self.normals, sn);
        decode_optional(frame.motion, size, AuxKind::Motion, &mut self.motion, sm);
    }
}

/// An engine frame's colour as the CPU passes read it. 8-bit sRGB is read where the engine left
/// it (4 bytes a pixel, rows `pitch` bytes apart): each pass that reads it decodes the rows it
/// needs by table while they are in cache, so no full-resolution float image (16 bytes a pixel) is
/// written and read back, and the plane is not copied. Float formats are read decoded to linear
/// (`decode_color_into`, once per frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColorRows<'a> {
    /// `Rgba8Srgb` or `Bgra8Srgb` (`bgr`) rows of `width * 4` bytes, `pitch` bytes apart.
    Srgb8 {
        width: u32,
        height: u32,
        bgr: bool,
        bytes: &'a [u8],
        pitch: usize,
    },
    /// Linear RGBA.
    Linear(&'a ImageF32),
}

impl<'a> ColorRows<'a> {
    /// `frame`'s colour: its own rows for 8-bit formats, else `decoded` (which must hold
    /// `decode_color_into` of the frame).
    pub fn new(frame: &FrameRef<'a>, decoded: &'a ImageF32) -> Self {
        match frame.format {
            ColorFormat::Rgba8Srgb | ColorFormat::Bgra8Srgb => ColorRows::Srgb8 {
                width: frame.width,
                height: frame.height,
                bgr: frame.format == ColorFormat::Bgra8Srgb,
                bytes: frame.color.data,
                pitch: frame.color.row_pitch,
            },
            ColorFormat::Rgba16Float | ColorFormat::Rgba32Float => ColorRows::Linear(decoded),
        }
    }

    /// Whether `format` is read decoded (float formats), so the caller decodes it first.
    pub fn needs_decode(format: ColorFormat) -> bool {
        matches!(format, ColorFormat::Rgba16Float | ColorFormat::Rgba32Float)
    }

    /// (width, height).
    pub fn size(&self) -> (u32, u32) {
        match self {
            ColorRows::Srgb8 { width, height, .. } => (*width, *height),
            ColorRows::Linear(img) => (img.width, img.height),
        }
    }

    /// Whether it holds `width * height` pixels.
    pub fn is_complete(&self) -> bool {
        let (w, h) = (self.size().0 as usize, self.size().1 as usize);
        match self {
            ColorRows::Srgb8 { bytes, pitch, .. } => {
                h == 0 || (*pitch >= w * 4 && bytes.len() >= (h - 1) * pitch + w * 4)
            }
            ColorRows::Linear(img) => img.channels == 4 && img.data.len() == w * h * 4,
        }
    }

    /// Row `y`'s bytes of an 8-bit frame (None for float formats).
    pub fn srgb8_row(&self, y: usize) -> Option<&'a [u8]> {
        match *self {
            ColorRows::Srgb8 {
                width,
                bytes,
                pitch,
                ..
            } => bytes.get(y * pitch..)?.get(..width as usize * 4),
            ColorRows::Linear(_) => None,
        }
    }

    /// Row `y` as linear RGBA: the decoded image's row, or the bytes decoded into `buf` (the
    /// values of [`decode_color_into`]).
    pub fn linear_row<'b>(&'b self, y: usize, buf: &'b mut Vec<f32>) -> &'b [f32] {
        match self {
            ColorRows::Linear(img) => {
                let w4 = img.width as usize * 4;
                &img.data[y * w4..][..w4]
            }
            ColorRows::Srgb8 { width, bgr, .. } => {
                let w4 = *width as usize * 4;
                buf.resize(w4, 0.0);
                let row = self.srgb8_row(y).unwrap_or(&[]);
                srgb8_row_to_linear(row, *bgr, buf);
                buf
            }
        }
    }

    /// The whole frame as a linear image (tests, and callers that need one).
    pub fn to_linear(&self) -> ImageF32 {
        let (w, h) = self.size();
        let mut out = ImageF32::new(w, h, 4);
        let mut buf = Vec::new();
        for (y, row) in out.data.chunks_exact_mut(w.max(1) as usize * 4).enumerate() {
            row.copy_from_slice(self.linear_row(y, &mut buf));
        }
        out
    }
}

/// One row of 8-bit sRGB pixels (`bgr`: blue first) as linear RGBA, by table.
pub fn srgb8_row_to_linear(src: &[u8], bgr: bool, out: &mut [f32]) {
    let t = tables();
    let (r, b) = if bgr { (2, 0) } else { (0, 2) };
    for (o, p) in out.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        o[0] = t.srgb[p[r] as usize];
        o[1] = t.srgb[p[1] as usize];
        o[2] = t.srgb[p[b] as usize];
        o[3] = t.unorm[p[3] as usize];
    }
}

/// Decode every plane the frame has.
pub fn decode_frame(frame: &FrameRef<'_>) -> DecodedFrame {
    let mut out = DecodedFrame::empty();
    out.decode_from(frame, &mut [None, None, None]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8-bit colour is read from the frame's own rows whatever their pitch, and decodes to what
    /// `decode_color` makes of the frame; float colour is read decoded.
    #[test]
    fn colour_rows_read_the_frame_in_place() {
        let (w, h) = (5u32, 37u32);
        let tight: Vec<u8> = (0..w * h * 4).map(|i| (i * 29 % 256) as u8).collect();
        let pitch = w as usize * 4 + 12;
        let mut padded = vec![0xeeu8; pitch * h as usize];
        for y in 0..h as usize {
            padded[y * pitch..][..w as usize * 4]
                .copy_from_slice(&tight[y * w as usize * 4..][..w as usize * 4]);
        }
        let none = ImageF32::new(0, 0, 4);
        for format in [ColorFormat::Rgba8Srgb, ColorFormat::Bgra8Srgb] {
            let mut frame = FrameRef::color_only(w, h, format, &padded);
            frame.color.row_pitch = pitch;
            assert!(!ColorRows::needs_decode(format));
            let color = ColorRows::new(&frame, &none);
            match color {
                ColorRows::Srgb8 { bytes, bgr, .. } => {
                    assert!(std::ptr::eq(bytes, &padded[..]), "not copied");
                    assert_eq!(bgr, format == ColorFormat::Bgra8Srgb);
                }
                ColorRows::Linear(_) => panic!("8-bit colour must stay bytes"),
            }
            for y in 0..h as usize {
                assert_eq!(
                    color.srgb8_row(y),
                    Some(&tight[y * w as usize * 4..][..w as usize * 4])
                );
            }
            assert!(color.is_complete());
            assert_eq!(color.to_linear(), decode_color(&frame));
            // A plane one byte short of its last row is not complete.
            frame.color.data = &padded[..padded.len() - 13];
            assert!(!ColorRows::new(&frame, &none).is_complete());
        }
        let floats: Vec<u8> = (0..w * h * 4)
            .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
            .collect();
        let frame = FrameRef::color_only(w, h, ColorFormat::Rgba32Float, &floats);
        assert!(ColorRows::needs_decode(frame.format));
        let mut decoded = ImageF32::new(0, 0, 4);
        decode_color_into(&frame, &mut decoded);
        let color = ColorRows::new(&frame, &decoded);
        assert!(matches!(color, ColorRows::Linear(img) if *img == decode_color(&frame)));
        assert!(color.srgb8_row(0).is_none());
    }
}
