//! Blend and encode (the CPU implementation of gpu/composite/blend.wgsl): residual blend
//! (`input + strength * residual`) and encoding to the engine's colour format, one row at a time
//! ([`blend_encode_row`]) so the compositor can run it on each temporal row while it is in cache.
//! 8-bit sRGB encoding uses the 255 linear thresholds of `floor(0.5 + 255 linear_to_srgb(v))`
//! found once by bisection, so it gives the per-pixel formula's bytes without a `powf` per value.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::frame::{linear_to_srgb, ColorFormat, ImageF32};

/// The strength the blend uses: clamped to 0..=1, non-finite counts as 0 (like the compositor).
pub fn blend_strength(strength: f32) -> f32 {
    if strength.is_finite() {
        strength.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[inline]
fn blend_px(o: &mut [f32; 4], r: &[f32], s: f32) {
    for c in 0..3 {
        if s >= 1.0 {
            o[c] += r[c];
        } else if s > 0.0 {
            o[c] += r[c] * s;
        }
    }
}

/// `input + s residual` on rgb (s = 0 selects the input exactly, s = 1 is `input + residual`); alpha
/// from `input`. `strength` is clamped to 0..=1; a non-finite one counts as 0 (like the compositor).
pub fn blend(input: &ImageF32, residual: &ImageF32, strength: f32) -> ImageF32 {
    let s = blend_strength(strength);
    let mut out = input.clone();
    for (o, r) in out
        .data
        .chunks_exact_mut(4)
        .zip(residual.data.chunks_exact(4))
    {
        let mut p = [o[0], o[1], o[2], o[3]];
        blend_px(&mut p, r, s);
        o.copy_from_slice(&p);
    }
    out
}

fn unorm8(v: f32) -> u8 {
    (0.5 + 255.0 * v.clamp(0.0, 1.0)).floor() as u8
}

/// The per-value formula the table reproduces.
pub fn srgb8_formula(v: f32) -> u8 {
    unorm8(linear_to_srgb(v))
}

/// `t[k]` (k = 1..=255): the smallest positive f32 whose sRGB byte is at least k.
fn srgb8_thresholds() -> &'static [f32; 256] {
    static T: OnceLock<[f32; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0f32; 256];
        let one = 1.0f32.to_bits();
        for (k, slot) in t.iter_mut().enumerate().skip(1) {
            let (mut lo, mut hi) = (0u32, one);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if srgb8_formula(f32::from_bits(mid)) as usize >= k {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            *slot = f32::from_bits(hi);
        }
        t
    })
}

/// Buckets of [0, 1] for the first guess of [`srgb8`]: a bucket spans less than one byte step.
const GUESS_BUCKETS: usize = 4096;

/// Per bucket: the byte of its lower end.
fn srgb8_guesses() -> &'static [u8; GUESS_BUCKETS] {
    static G: OnceLock<[u8; GUESS_BUCKETS]> = OnceLock::new();
    G.get_or_init(|| {
        let t = srgb8_thresholds();
        std::array::from_fn(|b| {
            let v = b as f32 / GUESS_BUCKETS as f32;
            t[1..].partition_point(|&th| th <= v) as u8
        })
    })
}

/// `floor(0.5 + 255 * linear_to_srgb(v))` clamped to a byte, by table: a guess from the value's
/// bucket, then a step up past every threshold at or below `v` (at most one or two).
#[inline]
pub fn srgb8(v: f32) -> u8 {
    if v.is_nan() || v <= 0.0 {
        return 0; // negative, zero and NaN encode to 0
    }
    if v >= 1.0 {
        return 255;
    }
    let t = srgb8_thresholds();
    let bucket = ((v * GUESS_BUCKETS as f32) as usize).min(GUESS_BUCKETS - 1);
    let mut k = srgb8_guesses()[bucket] as usize;
    while k < 255 && t[k + 1] <= v {
        k += 1;
    }
    k as u8
}

/// Blend one row (`input`, `residual`: 4 floats per pixel; `residual` None = input only) and
/// encode it into `out` (`format.bytes_per_pixel()` per pixel).
pub fn blend_encode_row(
    input: &[f32],
    residual: Option<&[f32]>,
    strength: f32,
    format: ColorFormat,
    out: &mut [u8],
) {
    let s = blend_strength(strength);
    let bpp = format.bytes_per_pixel();
    for (i, (p, o)) in input
        .chunks_exact(4)
        .zip(out.chunks_exact_mut(bpp))
        .enumerate()
    {
        let mut v = [p[0], p[1], p[2], p[3]];
        if let Some(r) = residual {
            blend_px(&mut v, &r[i * 4..i * 4 + 4], s);
        }
        match format {
            ColorFormat::Rgba8Srgb => {
                o.copy_from_slice(&[srgb8(v[0]), srgb8(v[1]), srgb8(v[2]), unorm8(v[3])]);
            }
            ColorFormat::Bgra8Srgb => {
                o.copy_from_slice(&[srgb8(v[2]), srgb8(v[1]), srgb8(v[0]), unorm8(v[3])]);
            }
            ColorFormat::Rgba16Float => {
                for (c, &x) in v.iter().enumerate() {
                    o[2 * c..2 * c + 2].copy_from_slice(
                        &half::f16::from_f32(x.clamp(-65504.0, 65504.0)).to_le_bytes(),
                    );
                }
            }
            ColorFormat::Rgba32Float => {
                for (c, &x) in v.iter().enumerate() {
                    o[4 * c..4 * c + 4].copy_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
}

/// Encode linear RGBA to `format`'s bytes, tight rows (what `Compositor::output_buffer` holds).
pub fn encode(img: &ImageF32, format: ColorFormat) -> Vec<u8> {
    let bpp = format.bytes_per_pixel();
    let mut out = vec![0u8; img.data.len() / 4 * bpp];
    let row = (img.width as usize).max(1);
    out.par_chunks_mut(row * bpp)
        .zip(img.data.par_chunks(row * 4))
        .for_each(|(o, p)| blend_encode_row(p, None, 0.0, format, o));
    out
}

/// Blend then encode.
pub fn blend_encode(
    input: &ImageF32,
    residual: &ImageF32,
    strength: f32,
    format: ColorFormat,
) -> Vec<u8> {
    let bpp = format.bytes_per_pixel();
    let mut out = vec![0u8; input.data.len() / 4 * bpp];
    let row = (input.width as usize).max(1);
    out.par_chunks_mut(row * bpp)
        .zip(input.data.par_chunks(row * 4))
        .zip(residual.data.par_chunks(row * 4))
        .for_each(|((o, p), r)| blend_encode_row(p, Some(r), strength, format, o));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb8_table_matches_the_formula() {
        // Every value near each threshold, and a dense sweep of [0, 1].
        let t = srgb8_thresholds();
        for &th in &t[1..] {
            let b = th.to_bits();
            for v in b.saturating_sub(2000)..b + 2000 {
                let v = f32::from_bits(v);
                assert_eq!(srgb8(v), srgb8_formula(v), "{v:e}");
            }
        }
        let one = 1.0f32.to_bits();
        for bits in (0..one).step_by(997) {
            let v = f32::from_bits(bits);
            assert_eq!(srgb8(v), srgb8_formula(v), "{v:e}");
        }
        for v in [
            -1.0,
            -0.0,
            f32::NAN,
            1.0,
            2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert_eq!(srgb8(v), srgb8_formula(v), "{v}");
        }
    }
}
