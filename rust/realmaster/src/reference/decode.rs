//! CPU reference of shaders/decode.wgsl: engine planes → linear f32 images.

use crate::frame::{srgb_to_linear, AuxKind, ColorFormat, FrameRef, ImageF32, PlaneRef};

/// A decoded frame at the engine's resolution (the CPU twin of `gpu::FrameImages`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame {
    /// Linear RGBA, 4 channels.
    pub color: ImageF32,
    /// View depth, 1 channel.
    pub depth: Option<ImageF32>,
    /// xyz normal, w = 0; 4 channels.
    pub normals: Option<ImageF32>,
    /// xy motion in pixels, zw = 0; 4 channels.
    pub motion: Option<ImageF32>,
}

fn f32_at(bytes: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]])
}

/// Decode the colour plane to linear RGBA (sRGB formats are linearised; alpha stays as stored).
/// The frame must have passed `validate_layout`.
pub fn decode_color(frame: &FrameRef<'_>) -> ImageF32 {
    let (w, h) = (frame.width, frame.height);
    let bpp = frame.format.bytes_per_pixel();
    let mut out = ImageF32::new(w, h, 4);
    for y in 0..h {
        for x in 0..w {
            let p =
                &frame.color.data[y as usize * frame.color.row_pitch + x as usize * bpp..][..bpp];
            let unorm = |b: u8| b as f32 / 255.0;
            let c: [f32; 4] = match frame.format {
                ColorFormat::Rgba8Srgb => [
                    srgb_to_linear(unorm(p[0])),
                    srgb_to_linear(unorm(p[1])),
                    srgb_to_linear(unorm(p[2])),
                    unorm(p[3]),
                ],
                ColorFormat::Bgra8Srgb => [
                    srgb_to_linear(unorm(p[2])),
                    srgb_to_linear(unorm(p[1])),
                    srgb_to_linear(unorm(p[0])),
                    unorm(p[3]),
                ],
                ColorFormat::Rgba16Float => std::array::from_fn(|c| {
                    half::f16::from_bits(u16::from_le_bytes([p[2 * c], p[2 * c + 1]])).to_f32()
                }),
                ColorFormat::Rgba32Float => std::array::from_fn(|c| f32_at(p, 4 * c)),
            };
            for (ch, v) in c.into_iter().enumerate() {
                out.set(x, y, ch as u32, v);
            }
        }
    }
    out
}

/// Decode an aux plane: depth → 1 channel; normals and motion → 4 channels with the rest 0.
pub fn decode_aux(plane: &PlaneRef<'_>, width: u32, height: u32, kind: AuxKind) -> ImageF32 {
    let n = kind.channels();
    let out_channels = if kind == AuxKind::Depth { 1 } else { 4 };
    let mut out = ImageF32::new(width, height, out_channels);
    for y in 0..height {
        for x in 0..width {
            let base = y as usize * plane.row_pitch + x as usize * n * 4;
            for c in 0..n {
                out.set(x, y, c as u32, f32_at(plane.data, base + 4 * c));
            }
        }
    }
    out
}

/// Decode every plane the frame has.
pub fn decode_frame(frame: &FrameRef<'_>) -> DecodedFrame {
    let (w, h) = (frame.width, frame.height);
    DecodedFrame {
        color: decode_color(frame),
        depth: frame.depth.map(|p| decode_aux(&p, w, h, AuxKind::Depth)),
        normals: frame
            .normals
            .map(|p| decode_aux(&p, w, h, AuxKind::Normals)),
        motion: frame.motion.map(|p| decode_aux(&p, w, h, AuxKind::Motion)),
    }
}
