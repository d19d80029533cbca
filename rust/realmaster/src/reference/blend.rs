//! Blend and encode (the CPU implementation of gpu/composite/blend.wgsl): residual blend
//! (`input + strength * residual`) and encoding to the engine's colour format, one row at a time
//! ([`blend_encode_row`]) so the compositor can run it on each temporal row while it is in cache.
//! 8-bit sRGB encoding uses the 255 linear thresholds of `floor(0.5 + 255 linear_to_srgb(v))`
//! found once by bisection, so it gives the per-pixel formula's bytes without a `powf` per value.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::lanes::{load_rgba_partial, LANES};
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

/// Per bucket: the threshold of the byte after its guess (`t[guess + 1]`), so that the encoder's
/// two lookups both depend only on the bucket (no lookup waits on another).
fn srgb8_next_thresholds() -> &'static [f32; GUESS_BUCKETS + 1] {
    static N: OnceLock<[f32; GUESS_BUCKETS + 1]> = OnceLock::new();
    N.get_or_init(|| {
        let (t, g) = (srgb8_thresholds(), srgb8_guesses());
        std::array::from_fn(|j| t[g[j] as usize + 1])
    })
}

/// The encoder's tables, fetched once per row.
#[derive(Clone, Copy)]
struct Srgb8Tables {
    next: &'static [f32; GUESS_BUCKETS + 1],
    guesses: &'static [u8; GUESS_BUCKETS + 1],
}

impl Srgb8Tables {
    fn get() -> Self {
        Srgb8Tables {
            next: srgb8_next_thresholds(),
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
        self.guesses[bucket] + (self.next[bucket] <= v) as u8
    }
}

/// `floor(0.5 + 255 * linear_to_srgb(v))` clamped to a byte, by table: a guess from the value's
/// bucket, then a step up if `v` reaches the next threshold.
#[inline]
pub fn srgb8(v: f32) -> u8 {
    Srgb8Tables::get().encode(v)
}

/// Blend and encode one row to 8-bit sRGB: `order` picks the source channel of each output byte
/// (rgb or bgr, alpha last).
#[inline(always)]
fn blend_encode_srgb8<const GATHER: bool>(
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
        let mut v = load_rgba_partial::<GATHER>(p, n);
        if let Some(r) = residual {
            let r = load_rgba_partial::<GATHER>(&r[g * 4 * LANES..], n);
            for l in 0..LANES {
                let mut px = [v[0][l], v[1][l], v[2][l], v[3][l]];
                blend_px(&mut px, &[r[0][l], r[1][l], r[2][l]], s);
                for c in 0..3 {
                    v[c][l] = px[c];
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        if GATHER && n == LANES {
            // SAFETY: only `blend_encode_srgb8_avx2` sets GATHER, behind the AVX2 check; `o`
            // holds the group's 4 * LANES bytes.
            unsafe { encode_lanes_avx2(tables, &v, order, o) };
            continue;
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

/// [`Srgb8Tables::encode`] and [`unorm8`] of a group of [`LANES`] pixels with AVX2 gathers: the
/// same arithmetic lane-wise, so the same bytes. Writes `4 * LANES` bytes of `out`.
///
/// # Safety
/// The CPU must have AVX2; `out` must hold at least `4 * LANES` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn encode_lanes_avx2(
    t: Srgb8Tables,
    v: &[[f32; LANES]; 4],
    order: [usize; 3],
    out: &mut [u8],
) {
    use std::arch::x86_64::*;
    debug_assert!(out.len() >= 4 * LANES);
    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_ps(1.0);
    const ROUND: f32 = 12_582_912.0;
    let round = _mm256_set1_ps(ROUND);
    let round_bits = _mm256_set1_epi32(ROUND.to_bits() as i32);
    let buckets = _mm256_set1_ps(GUESS_BUCKETS as f32);
    let last = _mm256_set1_epi32(GUESS_BUCKETS as i32);
    // `max(v, 0)` gives 0 for NaN and -0, `min(v, 1)` gives 1 at and above 1: the scalar selects.
    let unit = |x: __m256| _mm256_min_ps(_mm256_max_ps(x, zero), one);
    let srgb = |x: &[f32; LANES]| {
        let x = unit(_mm256_loadu_ps(x.as_ptr()));
        let j = _mm256_sub_epi32(
            _mm256_castps_si256(_mm256_add_ps(_mm256_mul_ps(x, buckets), round)),
            round_bits,
        );
        let mut bucket = [0i32; LANES];
        _mm256_storeu_si256(
            bucket.as_mut_ptr() as *mut __m256i,
            _mm256_min_epi32(j, last),
        );
        // Eight plain loads per table rather than an 8-lane gather: faster on one thread on the
        // Zen 3 measured (README). The buckets are 0..=GUESS_BUCKETS (x is in [0, 1]).
        let k = bucket.map(|i| i32::from(t.guesses[i as usize]));
        let th = bucket.map(|i| t.next[i as usize]);
        let (k, th) = (
            _mm256_loadu_si256(k.as_ptr() as *const __m256i),
            _mm256_loadu_ps(th.as_ptr()),
        );
        // One step up where the value reaches the next threshold (the compare is -1 there).
        _mm256_sub_epi32(k, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(th, x)))
    };
    let (r, g, b) = (srgb(&v[order[0]]), srgb(&v[order[1]]), srgb(&v[order[2]]));
    let a = _mm256_cvttps_epi32(_mm256_add_ps(
        _mm256_set1_ps(0.5),
        _mm256_mul_ps(_mm256_set1_ps(255.0), unit(_mm256_loadu_ps(v[3].as_ptr()))),
    ));
    let px = _mm256_or_si256(
        _mm256_or_si256(r, _mm256_slli_epi32::<8>(g)),
        _mm256_or_si256(_mm256_slli_epi32::<16>(b), _mm256_slli_epi32::<24>(a)),
    );
    _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, px);
}

/// [`blend_encode_srgb8`] compiled for AVX2, encoding with gathers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blend_encode_srgb8_avx2(
    input: &[f32],
    residual: Option<&[f32]>,
    s: f32,
    order: [usize; 3],
    out: &mut [u8],
) {
    blend_encode_srgb8::<true>(input, residual, s, order, out)
}

/// Whether the CPU has AVX2 (checked once): the encoder here and the guided upsample's loops run
/// their AVX2 builds where it does.
pub(crate) fn use_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: OnceLock<bool> = OnceLock::new();
        *AVX2.get_or_init(|| is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`blend_encode_srgb8`] in the build the CPU runs (`avx2`: only where the CPU has it).
fn blend_encode_srgb8_with(
    input: &[f32],
    residual: Option<&[f32]>,
    s: f32,
    order: [usize; 3],
    out: &mut [u8],
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the caller found AVX2 on this CPU.
        return unsafe { blend_encode_srgb8_avx2(input, residual, s, order, out) };
    }
    let _ = avx2;
    blend_encode_srgb8::<false>(input, residual, s, order, out)
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
        ColorFormat::Rgba8Srgb => {
            return blend_encode_srgb8_with(input, residual, s, [0, 1, 2], out, use_avx2())
        }
        ColorFormat::Bgra8Srgb => {
            return blend_encode_srgb8_with(input, residual, s, [2, 1, 0], out, use_avx2())
        }
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

    /// The AVX2 encoder gives the baseline's bytes (values around every threshold, out of range,
    /// NaN; a row length that leaves a partial group).
    #[test]
    fn both_encoder_builds_agree() {
        let t = srgb8_thresholds();
        let mut values: Vec<f32> = t[1..256]
            .iter()
            .flat_map(|th| {
                let b = th.to_bits();
                [b - 1, b, b + 1].map(f32::from_bits)
            })
            .collect();
        values.extend([
            -1.0,
            -0.0,
            0.0,
            f32::NAN,
            1.0,
            1.5,
            f32::INFINITY,
            0.5,
            1e-9,
        ]);
        let mut input: Vec<f32> = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            input.extend([
                v,
                values[(i * 7 + 3) % values.len()],
                values[(i * 13 + 5) % values.len()],
            ]);
            input.push(values[(i * 31 + 1) % values.len()]);
        }
        let residual: Vec<f32> = input
            .iter()
            .map(|v| if v.is_finite() { 0.1 - v * 0.05 } else { 0.0 })
            .collect();
        let n = input.len() / 4 - 3; // not a multiple of the group
        let (input, residual) = (&input[..n * 4], &residual[..n * 4]);
        let avx2 = use_avx2();
        for order in [[0, 1, 2], [2, 1, 0]] {
            for (res, s) in [(None, 0.0), (Some(residual), 1.0), (Some(residual), 0.4)] {
                let mut base = vec![0u8; n * 4];
                let mut wide = vec![0u8; n * 4];
                blend_encode_srgb8_with(input, res, s, order, &mut base, false);
                blend_encode_srgb8_with(input, res, s, order, &mut wide, avx2);
                assert_eq!(base, wide, "order {order:?} strength {s}");
                // And the baseline is the per-value formula.
                let mut px = [0.0f32; 4];
                for (i, o) in base.chunks_exact(4).enumerate() {
                    px.copy_from_slice(&input[i * 4..i * 4 + 4]);
                    if let Some(r) = res {
                        blend_px(&mut px, &r[i * 4..i * 4 + 4], s);
                    }
                    let want = [
                        srgb8_formula(px[order[0]]),
                        srgb8_formula(px[order[1]]),
                        srgb8_formula(px[order[2]]),
                        unorm8(px[3]),
                    ];
                    assert_eq!(o, want, "pixel {i}");
                }
            }
        }
    }

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
