//! CPU reference of shaders/blend.wgsl: residual blend (`input + strength * residual`) and encoding
//! to the engine's colour format.

use crate::frame::{linear_to_srgb, ColorFormat, ImageF32};

/// `input + s residual` on rgb (s = 0 selects the input exactly, s = 1 is `input + residual`); alpha
/// from `input`. `strength` is clamped to 0..=1; a non-finite one counts as 0 (like the compositor).
pub fn blend(input: &ImageF32, residual: &ImageF32, strength: f32) -> ImageF32 {
    let s = if strength.is_finite() {
        strength.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut out = input.clone();
    for (o, r) in out
        .data
        .chunks_exact_mut(4)
        .zip(residual.data.chunks_exact(4))
    {
        for c in 0..3 {
            if s >= 1.0 {
                o[c] += r[c];
            } else if s > 0.0 {
                o[c] += r[c] * s;
            }
        }
    }
    out
}

fn unorm8(v: f32) -> u8 {
    (0.5 + 255.0 * v.clamp(0.0, 1.0)).floor() as u8
}

/// Encode linear RGBA to `format`'s bytes, tight rows (what `Compositor::output_buffer` holds).
pub fn encode(img: &ImageF32, format: ColorFormat) -> Vec<u8> {
    let mut out = Vec::with_capacity(img.data.len() / 4 * format.bytes_per_pixel());
    for p in img.data.chunks_exact(4) {
        match format {
            ColorFormat::Rgba8Srgb | ColorFormat::Bgra8Srgb => {
                let (r, g, b, a) = (
                    unorm8(linear_to_srgb(p[0])),
                    unorm8(linear_to_srgb(p[1])),
                    unorm8(linear_to_srgb(p[2])),
                    unorm8(p[3]),
                );
                if format == ColorFormat::Rgba8Srgb {
                    out.extend_from_slice(&[r, g, b, a]);
                } else {
                    out.extend_from_slice(&[b, g, r, a]);
                }
            }
            ColorFormat::Rgba16Float => {
                for &v in p {
                    out.extend_from_slice(
                        &half::f16::from_f32(v.clamp(-65504.0, 65504.0)).to_le_bytes(),
                    );
                }
            }
            ColorFormat::Rgba32Float => {
                for &v in p {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    out
}

/// Blend then encode.
pub fn blend_encode(
    input: &ImageF32,
    residual: &ImageF32,
    strength: f32,
    format: ColorFormat,
) -> Vec<u8> {
    encode(&blend(input, residual, strength), format)
}
