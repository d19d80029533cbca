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

#[inline(always)]
fn unorm8(v: f32) -> u8 {
    // floor(0.5 + 255 v): the sum is positive, so truncation is the floor (and no libm call).
    (0.5 + 255.0 * v.clamp(0.0, 1.0)) as u8
}

/// The per-value formula the table reproduces.
pub fn srgb8_formula(v: f32) -> u8 {
    unorm8(linear_to_srgb(v))
}

/// `t[k]` (k = 1..=255): the smallest positive f32 whose sRGB byte is at least k; `t[256]` is
/// infinite (no byte above 255).
fn srgb8_thresholds() -> &'static [f32; 257] {
    static T: OnceLock<[f32; 257]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0f32; 257];
        let one = 1.0f32.to_bits();
        for (k, slot) in t.iter_mut().enumerate().take(256).skip(1) {
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
        t[256] = f32::INFINITY;
        t
    })
}

/// Buckets of [0, 1] for the first guess of [`srgb8`]: bucket `j` (0..=4096) holds the values
/// nearest to `j / 4096`. A bucket spans less than one byte step (the smallest step,
/// `1 / (255 * 12.92)` at the dark end, is wider than `1 / 4096`), so the byte of a value is its
/// bucket's guess or the next.
const GUESS_BUCKETS: usize = 4096;

/// Per bucket: the byte of its lower end.
fn srgb8_guesses() -> &'static [u8; GUESS_BUCKETS + 1] {
    static G: OnceLock<[u8; GUESS_BUCKETS + 1]> = OnceLock::new();
    G.get_or_init(|| {
        let t = srgb8_thresholds();
        std::array::from_fn(|j| {
            let v = ((j as f32 - 0.5) / GUESS_BUCKETS as f32).max(0.0);
            t[1..256].partition_point(|&th| th <= v) as u8
        })
    })
}

/// The encoder's tables, fetched once per row.
#[derive(Clone, Copy)]
struct Srgb8Tables {
    thresholds: &'static [f32; 257],
    guesses: &'static [u8; GUESS_BUCKETS + 1],
}

impl Srgb8Tables {
    fn get() -> Self {
        Srgb8Tables {
            thresholds: srgb8_thresholds(),
            guesses: srgb8_guesses(),
        }
    }

    /// [`srgb8`] without branches: the bucket's guess, plus one where `v` reaches the next
    /// threshold.
    #[inline(always)]
    fn encode(self, v: f32) -> u8 {
        // Negative, zero and NaN encode to 0, 1 and above to 255.
        let v = if v > 0.0 { v } else { 0.0 };
        let v = if v < 1.0 { v } else { 1.0 };
        // The nearest integer to 4096 v (exact product): adding 1.5 * 2^23 rounds, and the bits of
        // the sum hold it (no float-to-int conversion).
        const ROUND: f32 = 12_582_912.0;
        let j = (v * GUESS_BUCKETS as f32 + ROUND)
            .to_bits()
            .wrapping_sub(ROUND.to_bits()) as usize;
        let bucket = j.min(GUESS_BUCKETS);
        let k = self.guesses[bucket];
        k + (self.thresholds[k as usize + 1] <= v) as u8
    }
}

/// `floor(0.5 + 255 * linear_to_srgb(v))` clamped to a byte, by table: a guess from the value's
/// bucket, then a step up if `v` reaches the next threshold.
#[inline]
pub fn srgb8(v: f32) -> u8 {
    Srgb8Tables::get().encode(v)
}

/// Pixels per group in the 8-bit encoder (lane-wise blend and bucket arithmetic).
const LANES: usize = 8;

/// Blend and encode one row to 8-bit sRGB: `order` picks the source channel of each output byte
/// (rgb or bgr, alpha last).
#[inline(always)]
fn blend_encode_srgb8(
    input: &[f32],
    residual: Option<&[f32]>,
    s: f32,
    order: [usize; 3],
    out: &mut [u8],
) {
    let tables = Srgb8Tables::get();
    for (g, (p, o)) in input
        .chunks(4 * LANES)
        .zip(out.chunks_mut(4 * LANES))
        .enumerate()
    {
        let n = p.len() / 4;
        let mut v = [[0.0f32; LANES]; 4];
        for l in 0..n {
            for c in 0..4 {
                v[c][l] = p[l * 4 + c];
            }
        }
        if let Some(r) = residual {
            let r = &r[g * 4 * LANES..][..n * 4];
            for l in 0..n {
                let mut px = [v[0][l], v[1][l], v[2][l], v[3][l]];
                blend_px(&mut px, &r[l * 4..l * 4 + 4], s);
                for c in 0..3 {
                    v[c][l] = px[c];
                }
            }
        }
        for (l, o) in o.chunks_exact_mut(4).enumerate().take(n) {
            o.copy_from_slice(&[
                tables.encode(v[order[0]][l]),
                tables.encode(v[order[1]][l]),
                tables.encode(v[order[2]][l]),
                unorm8(v[3][l]),
            ]);
        }
    }
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
    match format {
        ColorFormat::Rgba8Srgb => return blend_encode_srgb8(input, residual, s, [0, 1, 2], out),
        ColorFormat::Bgra8Srgb => return blend_encode_srgb8(input, residual, s, [2, 1, 0], out),
        ColorFormat::Rgba16Float | ColorFormat::Rgba32Float => {}
    }
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
            ColorFormat::Rgba8Srgb | ColorFormat::Bgra8Srgb => {}
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
        for &th in &t[1..256] {
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
