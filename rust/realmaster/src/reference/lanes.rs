//! Groups of 8 RGBA pixels between the frame's interleaved layout (4 floats per pixel) and lane
//! arrays (one array of 8 per channel), which the passes' lane-wise loops compile to SIMD.
//! Pure data movement, so both builds give the same bits: the baseline build copies value by value,
//! the AVX2 build transposes with shuffles (a copy per value costs more than the arithmetic it
//! feeds in the passes that use these).

/// Pixels per group.
pub(crate) const LANES: usize = 8;

/// One channel of a group.
pub(crate) type Lanes = [f32; LANES];

/// The group of 8 pixels at the start of `p` (at least 32 floats) as 4 channel lane arrays.
/// `AVX2`: only from code compiled for AVX2 (behind the CPU check).
#[inline(always)]
pub(crate) fn load_rgba<const AVX2: bool>(p: &[f32]) -> [Lanes; 4] {
    let p = &p[..4 * LANES];
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: AVX2 callers are compiled for AVX2 behind the CPU check; `p` holds 32 floats.
        return unsafe { avx2::load_rgba(p) };
    }
    let mut v = [[0.0f32; LANES]; 4];
    for l in 0..LANES {
        for c in 0..4 {
            v[c][l] = p[l * 4 + c];
        }
    }
    v
}

/// The first `n` pixels (`n <= 8`) at the start of `p` as lane arrays; the lanes past `n` repeat
/// the last pixel (a partial group at a row's end computes on real values).
#[inline(always)]
pub(crate) fn load_rgba_partial<const AVX2: bool>(p: &[f32], n: usize) -> [Lanes; 4] {
    if n == LANES {
        return load_rgba::<AVX2>(p);
    }
    let mut v = [[0.0f32; LANES]; 4];
    for (c, plane) in v.iter_mut().enumerate() {
        for (l, value) in plane.iter_mut().enumerate() {
            *value = p
                .get(l.min(n.saturating_sub(1)) * 4 + c)
                .copied()
                .unwrap_or(0.0);
        }
    }
    v
}

/// The group `v` into `out` (at least 32 floats), interleaved.
#[inline(always)]
pub(crate) fn store_rgba<const AVX2: bool>(v: &[Lanes; 4], out: &mut [f32]) {
    let out = &mut out[..4 * LANES];
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: as in `load_rgba`; `out` holds 32 floats.
        return unsafe { avx2::store_rgba(v, out) };
    }
    for l in 0..LANES {
        for c in 0..4 {
            out[l * 4 + c] = v[c][l];
        }
    }
}

/// The first `n` pixels of `v` into `out` (`n * 4` floats).
#[inline(always)]
pub(crate) fn store_rgba_partial<const AVX2: bool>(v: &[Lanes; 4], out: &mut [f32], n: usize) {
    if n == LANES {
        return store_rgba::<AVX2>(v, out);
    }
    for (l, o) in out[..n * 4].chunks_exact_mut(4).enumerate() {
        o.copy_from_slice(&[v[0][l], v[1][l], v[2][l], v[3][l]]);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    use super::{Lanes, LANES};

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn load_rgba(p: &[f32]) -> [Lanes; 4] {
        debug_assert!(p.len() >= 4 * LANES);
        let planes = planes_at(p.as_ptr(), 4);
        let mut v = [[0.0f32; LANES]; 4];
        for (dst, src) in v.iter_mut().zip(planes) {
            _mm256_storeu_ps(dst.as_mut_ptr(), src);
        }
        v
    }

    /// 8 groups of 4 floats, group `i` at `q + stride * i`, as 4 registers of 8 (the first, ...,
    /// the fourth float of every group). Pixels 0-3 go to the low 128-bit halves and 4-7 to the
    /// high ones, so that two rounds of in-half unpacks leave each channel in pixel order.
    ///
    /// # Safety
    /// AVX2; the 8 groups must be readable.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn planes_at(q: *const f32, stride: usize) -> [__m256; 4] {
        let pair = |i: usize| {
            _mm256_insertf128_ps::<1>(
                _mm256_castps128_ps256(_mm_loadu_ps(q.add(stride * i))),
                _mm_loadu_ps(q.add(stride * (i + 4))),
            )
        };
        // p0 | p4, p1 | p5, p2 | p6, p3 | p7 -> the channels.
        transpose_halves([pair(0), pair(1), pair(2), pair(3)])
    }

    /// The low (`hi` false) or high 64-bit halves of each 128-bit half of `x` and `y`, interleaved:
    /// the second round of the transposes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn pairs(x: __m256, y: __m256, hi: bool) -> __m256 {
        let (x, y) = (_mm256_castps_pd(x), _mm256_castps_pd(y));
        _mm256_castpd_ps(if hi {
            _mm256_unpackhi_pd(x, y)
        } else {
            _mm256_unpacklo_pd(x, y)
        })
    }

    /// The inverse of [`load_rgba`].
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn store_rgba(v: &[Lanes; 4], out: &mut [f32]) {
        debug_assert!(out.len() >= 4 * LANES);
        let planes = [0, 1, 2, 3].map(|c| _mm256_loadu_ps(v[c].as_ptr()));
        store_planes_at(planes, out.as_mut_ptr());
    }

    /// 4 channel registers into 8 groups of 4 floats, group `i` at `o + stride * i`: the inverse
    /// of [`planes_at`].
    ///
    /// # Safety
    /// AVX2; the 8 groups must be writable.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn store_planes_strided(planes: [__m256; 4], o: *mut f32, stride: usize) {
        let px = transpose_halves(planes);
        for (i, p) in px.into_iter().enumerate() {
            _mm_storeu_ps(o.add(stride * i), _mm256_castps256_ps128(p));
            _mm_storeu_ps(o.add(stride * (i + 4)), _mm256_extractf128_ps::<1>(p));
        }
    }

    /// The 4x4 transpose within each 128-bit half of 4 registers: pixels 0 | 4, 1 | 5, 2 | 6,
    /// 3 | 7 (4 channels each) to channels r, g, b, a (pixels 0-3 | 4-7), and, being its own
    /// inverse, channels back to pixels.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn transpose_halves(v: [__m256; 4]) -> [__m256; 4] {
        let [a, b, c, d] = v;
        // (a0 b0 a1 b1 | ...), (a2 b2 a3 b3 | ...), then 64-bit pairs of those.
        let (ab_lo, ab_hi) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
        let (cd_lo, cd_hi) = (_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
        [
            pairs(ab_lo, cd_lo, false),
            pairs(ab_lo, cd_lo, true),
            pairs(ab_hi, cd_hi, false),
            pairs(ab_hi, cd_hi, true),
        ]
    }

    /// The inverse of [`planes_at`] with groups of 4 contiguous floats: 4 channel registers into
    /// 8 interleaved pixels at `o`.
    ///
    /// # Safety
    /// AVX2; 32 floats at `o` must be writable.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn store_planes_at(planes: [__m256; 4], o: *mut f32) {
        let px = transpose_halves(planes);
        // Pixels 0-1, 2-3, 4-5, 6-7 as whole 256-bit stores.
        _mm256_storeu_ps(o, _mm256_permute2f128_ps::<0x20>(px[0], px[1]));
        _mm256_storeu_ps(o.add(8), _mm256_permute2f128_ps::<0x20>(px[2], px[3]));
        _mm256_storeu_ps(o.add(16), _mm256_permute2f128_ps::<0x31>(px[0], px[1]));
        _mm256_storeu_ps(o.add(24), _mm256_permute2f128_ps::<0x31>(px[2], px[3]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_builds_transpose_alike() {
        let p: Vec<f32> = (0..40).map(|i| i as f32 * 0.5 - 3.0).collect();
        let avx2 = cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx2");
        let scalar = load_rgba::<false>(&p);
        for l in 0..LANES {
            for c in 0..4 {
                assert_eq!(scalar[c][l], p[l * 4 + c]);
            }
        }
        let mut back = vec![0.0f32; 32];
        store_rgba::<false>(&scalar, &mut back);
        assert_eq!(back, p[..32]);
        if avx2 {
            assert_eq!(load_rgba::<true>(&p), scalar);
            let mut back2 = vec![0.0f32; 32];
            store_rgba::<true>(&scalar, &mut back2);
            assert_eq!(back2, back);
        }
        if avx2 {
            // Groups of 4 at a stride of 12 (the guided upsample's coefficient rows): the same
            // values as the lane arrays, and the floats between the groups untouched.
            let mut strided = vec![-1.0f32; 12 * LANES];
            // SAFETY: AVX2 was found; 8 groups of 4 at a stride of 12 fit in 96 floats.
            unsafe {
                let planes = avx2::planes_at(p.as_ptr(), 4);
                avx2::store_planes_strided(planes, strided.as_mut_ptr(), 12);
            }
            for l in 0..LANES {
                assert_eq!(&strided[l * 12..l * 12 + 4], &p[l * 4..l * 4 + 4]);
                assert!(strided[l * 12 + 4..l * 12 + 12].iter().all(|&v| v == -1.0));
            }
        }
        // A partial group repeats its last pixel and stores only its own pixels.
        let part = load_rgba_partial::<false>(&p[..12], 3);
        for l in 0..LANES {
            assert_eq!(part[1][l], p[l.min(2) * 4 + 1]);
        }
        let mut tail = vec![9.0f32; 16];
        store_rgba_partial::<false>(&part, &mut tail, 3);
        assert_eq!(&tail[..12], &p[..12]);
        assert_eq!(&tail[12..], &[9.0; 4]);
    }
}
