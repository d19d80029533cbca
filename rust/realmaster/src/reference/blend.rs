//! Blend and encode (the CPU implementation of gpu/composite/blend.wgsl): residual blend
//! (`input + strength * residual`) and encoding to the engine's colour format, one row at a time
//! ([`blend_encode_row`]) so the compositor can run it on each temporal row while it is in cache.
//! 8-bit sRGB encoding uses the 255 linear thresholds of `floor(0.5 + 255 linear_to_srgb(v))`
//! found once by bisection, so it gives the per-pixel formula's bytes without a `powf` per value.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::lanes::LANES;
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

/// The encoder's buckets are ranges of f32 bit patterns: bucket `j` holds the values whose bits
/// shifted right by [`BUCKET_SHIFT`] are `j` above those of 2^-13 (8 mantissa bits per power of
/// two, so a bucket spans at most 2^-8 of its values). One byte step spans more than 2^-7 of its
/// values everywhere in [2^-13, 1] (least at 1: 0.9 %), so a bucket holds at most one threshold,
/// and every value below 2^-13 (all below the first threshold, ~1.5e-4) goes to bucket 0.
const BUCKET_SHIFT: u32 = 15;

/// The bits of 2^-13, shifted: bucket 0.
const FIRST_BUCKET: u32 = (127 - 13) << (23 - BUCKET_SHIFT);

/// Buckets up to and including 1.0's.
const BUCKETS: usize = ((127 << (23 - BUCKET_SHIFT)) - FIRST_BUCKET) as usize + 1;

/// The low bits of a value inside its bucket.
const LOW_BITS: u32 = (1 << BUCKET_SHIFT) - 1;

/// Per bucket, one word: the byte of the bucket's lowest value (bits 16-23) and, in the low 16
/// bits, the low bits (within the bucket) of the next byte's threshold where it falls inside the
/// bucket, else `LOW_BITS + 1` (no value of the bucket reaches it). The encoder makes one lookup
/// per value: that byte, plus one where the value's low bits reach the threshold's.
fn srgb8_buckets() -> &'static [u32; BUCKETS] {
    static B: OnceLock<[u32; BUCKETS]> = OnceLock::new();
    B.get_or_init(|| {
        let t = srgb8_thresholds();
        std::array::from_fn(|j| {
            let lowest = (FIRST_BUCKET + j as u32) << BUCKET_SHIFT;
            let byte = t[1..256].partition_point(|&th| th.to_bits() <= lowest);
            let next = t[byte + 1].to_bits();
            let low = if next >> BUCKET_SHIFT == lowest >> BUCKET_SHIFT {
                debug_assert!(
                    byte + 2 > 255 || t[byte + 2].to_bits() >> BUCKET_SHIFT != next >> BUCKET_SHIFT
                );
                next & LOW_BITS
            } else {
                LOW_BITS + 1
            };
            (byte as u32) << 16 | low
        })
    })
}

/// `v` clamped to [0, 1] as the encoder clamps it (negative, zero and NaN to 0, 1 and above to 1),
/// then its bucket: the index into [`srgb8_buckets`].
#[inline(always)]
fn srgb8_bucket(v: f32) -> (u32, usize) {
    let v = if v > 0.0 { v } else { 0.0 };
    let v = if v < 1.0 { v } else { 1.0 };
    let bits = v.to_bits();
    let j = (bits >> BUCKET_SHIFT).saturating_sub(FIRST_BUCKET) as usize;
    (bits, j.min(BUCKETS - 1))
}

/// `floor(0.5 + 255 * linear_to_srgb(v))` clamped to a byte, by table: the byte of the value's
/// bucket, plus one where the value reaches the threshold inside the bucket.
#[inline(always)]
fn srgb8_in(table: &[u32; BUCKETS], v: f32) -> u8 {
    let (bits, j) = srgb8_bucket(v);
    let e = table[j];
    (e >> 16) as u8 + ((bits & LOW_BITS) >= (e & 0xffff)) as u8
}

/// `floor(0.5 + 255 * linear_to_srgb(v))` clamped to a byte (NaN to 0), without a `powf`.
#[inline]
pub fn srgb8(v: f32) -> u8 {
    srgb8_in(srgb8_buckets(), v)
}

/// Blend and encode one row to 8-bit sRGB: `order` picks the source channel of each output byte
/// (rgb or bgr, alpha last). The baseline build, pixel by pixel.
fn blend_encode_srgb8(
    input: &[f32],
    residual: Option<&[f32]>,
    s: f32,
    order: [usize; 3],
    out: &mut [u8],
) {
    let table = srgb8_buckets();
    for (i, (p, o)) in input
        .chunks_exact(4)
        .zip(out.chunks_exact_mut(4))
        .enumerate()
    {
        let mut px = [p[0], p[1], p[2], p[3]];
        if let Some(r) = residual {
            blend_px(&mut px, &r[i * 4..i * 4 + 4], s);
        }
        o.copy_from_slice(&[
            srgb8_in(table, px[order[0]]),
            srgb8_in(table, px[order[1]]),
            srgb8_in(table, px[order[2]]),
            unorm8(px[3]),
        ]);
    }
}

/// [`blend_encode_srgb8`] in AVX2, 8 pixels at a time (the same arithmetic lane-wise: the same
/// bytes); the last `len % 8` pixels go through the baseline.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blend_encode_srgb8_avx2(
    input: &[f32],
    residual: Option<&[f32]>,
    s: f32,
    order: [usize; 3],
    out: &mut [u8],
) {
    use std::arch::x86_64::*;

    use super::lanes::avx2::planes_at;
    let n = (input.len() / 4).min(out.len() / 4);
    let n = residual.map_or(n, |r| n.min(r.len() / 4));
    let full = n - n % LANES;
    let enc = avx2::Srgb8::new();
    let sv = _mm256_set1_ps(s);
    let mut x = 0;
    while x < full {
        let mut v = planes_at(input.as_ptr().add(4 * x), 4);
        if let Some(r) = residual {
            let r = planes_at(r.as_ptr().add(4 * x), 4);
            // `blend_px`: `+ r` at full strength, `+ r * s` between 0 and 1, nothing at 0.
            for c in 0..3 {
                if s >= 1.0 {
                    v[c] = _mm256_add_ps(v[c], r[c]);
                } else if s > 0.0 {
                    v[c] = _mm256_add_ps(v[c], _mm256_mul_ps(r[c], sv));
                }
            }
        }
        let px = enc.pixels([v[order[0]], v[order[1]], v[order[2]], v[3]]);
        _mm256_storeu_si256(out.as_mut_ptr().add(4 * x) as *mut __m256i, px);
        x += LANES;
    }
    blend_encode_srgb8(
        &input[4 * full..],
        residual.map(|r| &r[4 * full..]),
        s,
        order,
        &mut out[4 * full..],
    );
}

/// The 8-bit encoder's lane-wise arithmetic in AVX2, for the encoders here and the guided
/// upsample's fused apply-and-encode: the bytes of [`srgb8_in`] and [`unorm8`].
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    use super::{srgb8_buckets, BUCKETS, BUCKET_SHIFT, FIRST_BUCKET, LOW_BITS};

    pub(crate) struct Srgb8 {
        table: &'static [u32; BUCKETS],
    }

    impl Srgb8 {
        pub(crate) fn new() -> Self {
            Srgb8 {
                table: srgb8_buckets(),
            }
        }

        /// `v` clamped to [0, 1]: `max(v, 0)` gives 0 for NaN and -0, `min(v, 1)` gives 1 at
        /// and above 1 (the scalar selects).
        #[inline(always)]
        unsafe fn unit(x: __m256) -> __m256 {
            _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_set1_ps(1.0))
        }

        /// [`super::srgb8_in`] lane-wise (one table gather).
        ///
        /// # Safety
        /// AVX2 (call from a function compiled for it).
        #[inline(always)]
        pub(crate) unsafe fn srgb(&self, x: __m256) -> __m256i {
            let bits = _mm256_castps_si256(Self::unit(x));
            let j = _mm256_sub_epi32(
                _mm256_srli_epi32::<{ BUCKET_SHIFT as i32 }>(bits),
                _mm256_set1_epi32(FIRST_BUCKET as i32),
            );
            let j = _mm256_min_epi32(
                _mm256_max_epi32(j, _mm256_setzero_si256()),
                _mm256_set1_epi32(BUCKETS as i32 - 1),
            );
            // The buckets are 0..BUCKETS (clamped above).
            let e = _mm256_i32gather_epi32::<4>(self.table.as_ptr() as *const i32, j);
            // low >= threshold <=> low + 1 > threshold (both below 2^16): -1 there.
            let up = _mm256_cmpgt_epi32(
                _mm256_add_epi32(
                    _mm256_and_si256(bits, _mm256_set1_epi32(LOW_BITS as i32)),
                    _mm256_set1_epi32(1),
                ),
                _mm256_and_si256(e, _mm256_set1_epi32(0xffff)),
            );
            _mm256_sub_epi32(_mm256_srli_epi32::<16>(e), up)
        }

        /// 8 pixels from the channels of their output bytes in order (the first three sRGB
        /// encoded, the fourth unorm), as 8 packed 4-byte pixels.
        ///
        /// # Safety
        /// AVX2 (call from a function compiled for it).
        #[inline(always)]
        pub(crate) unsafe fn pixels(&self, v: [__m256; 4]) -> __m256i {
            let a = _mm256_cvttps_epi32(_mm256_add_ps(
                _mm256_set1_ps(0.5),
                _mm256_mul_ps(_mm256_set1_ps(255.0), Self::unit(v[3])),
            ));
            self.pixels_with_alpha(v[0], v[1], v[2], _mm256_slli_epi32::<24>(a))
        }

        /// [`Self::pixels`] with the alpha bytes given in place (bits 24-31 of each lane).
        ///
        /// # Safety
        /// AVX2 (call from a function compiled for it).
        #[inline(always)]
        pub(crate) unsafe fn pixels_with_alpha(
            &self,
            r: __m256,
            g: __m256,
            b: __m256,
            alpha: __m256i,
        ) -> __m256i {
            _mm256_or_si256(
                _mm256_or_si256(self.srgb(r), _mm256_slli_epi32::<8>(self.srgb(g))),
                _mm256_or_si256(_mm256_slli_epi32::<16>(self.srgb(b)), alpha),
            )
        }
    }
}

/// `t[k + 1]` for k = 0..=255 (`t[256]` infinite) as byte planes: the threshold the 16-lane
/// encoder compares a value with once it has the value's byte or the one below it.
#[cfg(target_arch = "x86_64")]
fn srgb8_next_thresholds() -> &'static super::byte_lut::ByteLut {
    static L: OnceLock<super::byte_lut::ByteLut> = OnceLock::new();
    L.get_or_init(|| {
        let t = srgb8_thresholds();
        super::byte_lut::ByteLut::new(&std::array::from_fn(|k| t[k + 1]))
    })
}

/// The 8-bit encoder for 64 values at a time with AVX-512 VBMI, without table gathers: a
/// polynomial gives each value's byte to within half a step, so the byte is that estimate's floor
/// `k` or `k + 1`; one comparison with the threshold of `k + 1` (looked up in the thresholds'
/// byte planes) decides. The bytes of [`srgb8_in`] whenever the estimate is within half a step,
/// which holds everywhere in [0, 1] with room to spare (0.15 of a step at most: the polynomial's
/// 0.13 and the reciprocal square root's 2^-14); the tests compare every value near every
/// threshold with the formula.
#[cfg(target_arch = "x86_64")]
pub(crate) mod vbmi {
    use std::arch::x86_64::*;

    use super::super::byte_lut::vbmi;

    /// Least-squares fit (degree 6, in s = sqrt(v), over the sRGB curve's power segment
    /// s >= 0.98 sqrt(0.0031308)) of 255 (1.055 v^(1/2.4) - 0.055), lowest power first.
    const POWER_FIT: [f32; 7] = [
        -10.377_18,
        393.298_05,
        -424.348_95,
        800.140_7,
        -964.289_6,
        629.143_05,
        -168.607_86,
    ];

    /// `floor` of the estimated `255 srgb(v)` for `v` in [0, 1], clamped to 0..=255.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn estimate(v: __m512) -> __m512i {
        // s ~ sqrt(v) (relative error below 2^-14); NaN at v = 0, where the linear segment
        // is chosen below.
        let s = _mm512_mul_ps(v, _mm512_rsqrt14_ps(v));
        // Estrin's scheme with fused multiply-adds: 3 dependent steps after s instead of
        // Horner's 12 (the fused 8-bit row waits on such chains: 5-9 % faster measured). Its
        // rounding differs from Horner's by far less than the half step of room.
        let c = |i: usize| _mm512_set1_ps(POWER_FIT[i]);
        let s2 = _mm512_mul_ps(s, s);
        let s4 = _mm512_mul_ps(s2, s2);
        let e01 = _mm512_fmadd_ps(c(1), s, c(0));
        let e23 = _mm512_fmadd_ps(c(3), s, c(2));
        let e45 = _mm512_fmadd_ps(c(5), s, c(4));
        let e03 = _mm512_fmadd_ps(e23, s2, e01);
        let e46 = _mm512_fmadd_ps(c(6), s2, e45);
        let p = _mm512_fmadd_ps(e46, s4, e03);
        let lin = _mm512_mul_ps(v, _mm512_set1_ps(12.92 * 255.0));
        let low = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(v, _mm512_set1_ps(0.003_130_8));
        let a = _mm512_mask_blend_ps(low, p, lin);
        let k = _mm512_cvttps_epi32(a);
        _mm512_min_epi32(
            _mm512_max_epi32(k, _mm512_setzero_si512()),
            _mm512_set1_epi32(255),
        )
    }

    /// The sRGB bytes of three channels of 64 values (`x[c][m]`: values `16 m..16 m + 16` of
    /// channel `c`), one register of 64 bytes per channel, in order: [`super::srgb8_in`]'s
    /// bytes, with the thresholds looked up once for all 192 values (from the table in memory:
    /// kept in registers across a loop it was spilled and reloaded per lookup).
    ///
    /// # Safety
    /// AVX-512 F, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    pub(crate) unsafe fn srgb3x64(x: [[__m512; 4]; 3]) -> [__m512i; 3] {
        // Loops, not closures or array maps: those are not inlined into target-feature code.
        let mut v = x;
        let mut idx = [_mm512_setzero_si512(); 3];
        for c in 0..3 {
            let mut k = [_mm_setzero_si128(); 4];
            for m in 0..4 {
                // Clamped as the scalar encoder clamps: NaN and negatives to 0, 1 and above to 1.
                v[c][m] = _mm512_min_ps(
                    _mm512_max_ps(x[c][m], _mm512_setzero_ps()),
                    _mm512_set1_ps(1.0),
                );
                k[m] = _mm512_cvtepi32_epi8(estimate(v[c][m]));
            }
            let lo = _mm512_inserti32x4::<1>(_mm512_castsi128_si512(k[0]), k[1]);
            idx[c] = _mm512_inserti32x4::<3>(_mm512_inserti32x4::<2>(lo, k[2]), k[3]);
        }
        let t = vbmi::lookup_n(super::srgb8_next_thresholds(), idx);
        let one = _mm512_set1_epi8(1);
        for c in 0..3 {
            let mut up = 0u64;
            for m in 0..4 {
                let ge = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v[c][m], t[c][m]);
                up |= u64::from(ge) << (16 * m);
            }
            idx[c] = _mm512_mask_add_epi8(idx[c], up, idx[c], one);
        }
        idx
    }
}

/// Whether the CPU has AVX2 and FMA (checked once; every AVX2 CPU but a few VIA/Zhaoxin ones has
/// both): the encoder here and the guided upsample's loops run their AVX2 builds where it does
/// (the upsample's apply uses fused multiply-adds, as its baseline build does with `mul_add`).
pub(crate) fn use_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: OnceLock<bool> = OnceLock::new();
        *AVX2.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
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
    blend_encode_srgb8(input, residual, s, order, out)
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

    /// Every f32 within `ulps` steps of each threshold of the 8-bit encoder.
    fn near_thresholds(ulps: u32) -> Vec<f32> {
        srgb8_thresholds()[1..256]
            .iter()
            .flat_map(|th| {
                let b = th.to_bits();
                (b.saturating_sub(ulps)..=b + ulps).map(f32::from_bits)
            })
            .collect()
    }

    /// The AVX2 encoder gives the baseline's bytes (values around every threshold, out of range,
    /// NaN; a row length that leaves a partial group).
    #[test]
    fn both_encoder_builds_agree() {
        let mut values = near_thresholds(1);
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

    /// The fused 8-bit compositor copies the source's alpha bits: that is the blend's output
    /// only because every byte's decoded alpha encodes back to the same byte.
    #[test]
    fn alpha_bytes_round_trip() {
        let unorm = &super::super::decode::tables().unorm;
        for (b, &v) in unorm.iter().enumerate() {
            assert_eq!(unorm8(v) as usize, b);
        }
    }

    /// The 64-value encoder's bytes of `values` (a multiple of 192: three channels of 64), or
    /// None without AVX-512 VBMI.
    fn srgb8_64_values(values: &[f32]) -> Option<Vec<u8>> {
        #[cfg(not(target_arch = "x86_64"))]
        return None;
        #[cfg(target_arch = "x86_64")]
        {
            if !super::super::byte_lut::use_vbmi() {
                return None;
            }
            use std::arch::x86_64::*;
            let mut out = Vec::with_capacity(values.len());
            // SAFETY: `use_vbmi` found AVX-512 F, BW and VBMI.
            unsafe {
                for group in values.chunks_exact(192) {
                    let x: [[__m512; 4]; 3] = std::array::from_fn(|c| {
                        std::array::from_fn(|m| _mm512_loadu_ps(group[64 * c + 16 * m..].as_ptr()))
                    });
                    for b in vbmi::srgb3x64(x) {
                        let mut bytes = [0u8; 64];
                        _mm512_storeu_si512(bytes.as_mut_ptr() as *mut _, b);
                        out.extend(bytes);
                    }
                }
            }
            Some(out)
        }
    }

    /// The 64-value encoder gives the formula's bytes for every value near every threshold, a
    /// sweep of [0, 1] and the values out of range.
    #[test]
    fn the_64_value_encoder_matches_the_formula() {
        let mut values = near_thresholds(3000);
        values.extend((0..1.0f32.to_bits()).step_by(613).map(f32::from_bits));
        values.extend([
            -1.0,
            -0.0,
            0.0,
            f32::NAN,
            1.0,
            2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            1e-45,
        ]);
        while !values.len().is_multiple_of(192) {
            values.push(0.5);
        }
        let Some(got) = srgb8_64_values(&values) else {
            eprintln!("no AVX-512 VBMI here: nothing to compare");
            return;
        };
        for (v, g) in values.iter().zip(got) {
            assert_eq!(g, srgb8_formula(*v), "{v:e}");
        }
    }

    /// Every f32 in [0, 1] through the 64-value encoder (about 10^9 values, minutes in a debug
    /// build): `cargo test --release -- --ignored every_value`.
    #[test]
    #[ignore]
    fn the_64_value_encoder_matches_the_table_for_every_value() {
        let one = 1.0f32.to_bits();
        let step = 192 * (1 << 14);
        for start in (0..=one).step_by(step) {
            let values: Vec<f32> = (start..start + step as u32)
                .map(|b| f32::from_bits(b.min(one)))
                .collect();
            let Some(got) = srgb8_64_values(&values) else {
                return;
            };
            for (v, g) in values.iter().zip(got) {
                assert_eq!(g, srgb8(*v), "{v:e}");
            }
        }
    }

    #[test]
    fn srgb8_table_matches_the_formula() {
        // Every value near each threshold, and a dense sweep of [0, 1].
        for v in near_thresholds(2000) {
            assert_eq!(srgb8(v), srgb8_formula(v), "{v:e}");
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
