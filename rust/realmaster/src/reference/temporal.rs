//! Temporal accumulation (the CPU implementation of gpu/composite/temporal.wgsl, and of
//! accumulated_look.wgsl in [`accumulated_look`]): accumulation of the model RESIDUAL (`current - input`, at model size)
//! with history reprojection, depth-based disocclusion rejection, a YCoCg neighbourhood clamp in full
//! colour and a clamp to the current residual's local range (see the shader header for the rule).
//!
//! Rows run in parallel bands of [`BAND_ROWS`]. A band keeps the per-pixel neighbourhood terms (the
//! current colour in YCoCg and the current residual, 6 planes) of three consecutive rows in a
//! rolling scratch; each output row combines them vertically (min, max, sum, sum of squares of the
//! 3 rows), then horizontally, into the clamp bounds of its pixels: separable 3x3 statistics, in
//! lane-wise loops over planar rows that compile to SIMD. The reprojection is then per pixel.
//! A pixel's result does not depend on the band split (bit-identical whatever the threads).

use std::sync::Mutex;

use rayon::prelude::*;

use super::decode::ensure_shape;
use super::lanes::{load_rgba_partial, store_rgba_partial, LANES};
use crate::frame::ImageF32;
use crate::gpu::composite::CompositeParams;

/// Minimum bilinear weight of history taps on the same surface for the history to be used.
pub const MIN_KEPT_WEIGHT: f32 = 0.05;

/// Rows per parallel band (each band recomputes the neighbourhood terms of 2 rows around it).
const BAND_ROWS: usize = 16;

/// Planes of neighbourhood terms: the current colour in YCoCg (3), the current residual (3).
const TERMS: usize = 6;

/// One frame's inputs to the temporal pass (all the same size: the model's).
pub struct TemporalInputs<'a> {
    /// The model's output, 4 channels.
    pub current: &'a ImageF32,
    /// The model's input colour, 4 channels.
    pub input: &'a ImageF32,
    /// The previous accumulated residual, 4 channels; None = reset.
    pub history: Option<&'a ImageF32>,
    /// Motion in pixels (current -> previous), 4 channels with xy used (the model-size motion's
    /// layout, the shader's); None = static.
    pub motion: Option<&'a ImageF32>,
    /// Current and previous view depth, 1 channel each; None = no depth test.
    pub depth: Option<(&'a ImageF32, &'a ImageF32)>,
}

/// Scratch of the temporal pass, kept by the caller between frames: one buffer per band in flight
/// (taken and returned by the bands; allocated only while there are fewer than the bands running
/// at once, so not per frame).
#[derive(Debug, Default)]
pub struct TemporalScratch {
    bands: Mutex<Vec<Vec<f32>>>,
}

#[inline(always)]
fn to_ycocg(c: [f32; 3]) -> [f32; 3] {
    [
        0.25 * c[0] + 0.5 * c[1] + 0.25 * c[2],
        0.5 * c[0] - 0.5 * c[2],
        -0.25 * c[0] + 0.5 * c[1] - 0.25 * c[2],
    ]
}

#[inline(always)]
fn from_ycocg(v: [f32; 3]) -> [f32; 3] {
    [v[0] + v[1] - v[2], v[0] + v[2], v[0] - v[1] - v[2]]
}

/// This frame's residual without history: `current - input` on rgb, alpha 1 (what the pass writes
/// on a reset, off-screen or disoccluded pixel).
pub fn residual(current: &ImageF32, input: &ImageF32) -> ImageF32 {
    let mut out = current.clone();
    for (o, i) in out.data.chunks_exact_mut(4).zip(input.data.chunks_exact(4)) {
        for c in 0..3 {
            o[c] -= i[c];
        }
        o[3] = 1.0;
    }
    out
}

/// A band's scratch, carved from one buffer: 3 rows of [`TERMS`] planes of `w` terms, the vertical
/// statistics of one term plane of one row (min, max, sum, sum of squares, each padded by one
/// pixel at both ends), the clamp bounds of one row (per term plane: low, high) and the reprojected
/// history of one row (rgb planes and a keep plane: 1 where the history is used).
struct BandBuffers<'a> {
    terms: [&'a mut [f32]; 3],
    vertical: &'a mut [f32],
    bounds: &'a mut [f32],
    history: &'a mut [f32],
}

fn band_len(w: usize) -> usize {
    3 * TERMS * w + 4 * (w + 2) + 2 * TERMS * w + 4 * w
}

impl<'a> BandBuffers<'a> {
    fn new(buf: &'a mut [f32], w: usize) -> Self {
        let (t0, rest) = buf.split_at_mut(TERMS * w);
        let (t1, rest) = rest.split_at_mut(TERMS * w);
        let (t2, rest) = rest.split_at_mut(TERMS * w);
        let (vertical, rest) = rest.split_at_mut(4 * (w + 2));
        let (bounds, rest) = rest.split_at_mut(2 * TERMS * w);
        BandBuffers {
            terms: [t0, t1, t2],
            vertical,
            bounds,
            history: &mut rest[..4 * w],
        }
    }
}

/// The neighbourhood terms of one image row into `out` ([`TERMS`] planes of `w`), 8 pixels at a
/// time (`AVX2`: read with the AVX2 build's transposes).
#[inline(always)]
fn row_terms<const AVX2: bool>(cur: &[f32], input: &[f32], out: &mut [f32]) {
    let w = cur.len() / 4;
    let mut x0 = 0;
    while x0 < w {
        let n = (w - x0).min(LANES);
        let c = load_rgba_partial::<AVX2>(&cur[x0 * 4..], n);
        let i = load_rgba_partial::<AVX2>(&input[x0 * 4..], n);
        let mut t = [[0.0f32; LANES]; TERMS];
        for l in 0..LANES {
            let v = to_ycocg([c[0][l], c[1][l], c[2][l]]);
            t[0][l] = v[0];
            t[1][l] = v[1];
            t[2][l] = v[2];
            t[3][l] = c[0][l] - i[0][l];
            t[4][l] = c[1][l] - i[1][l];
            t[5][l] = c[2][l] - i[2][l];
        }
        for (p, tp) in t.iter().enumerate() {
            if n == LANES {
                // Fixed size: a store, not a `memcpy` call per plane and group.
                out[p * w + x0..][..LANES].copy_from_slice(tp);
            } else {
                out[p * w + x0..][..n].copy_from_slice(&tp[..n]);
            }
        }
        x0 += n;
    }
}

/// Clamp bounds of one row from the terms of the rows above, at and below it: per term plane, the
/// 3x3 minimum, maximum, mean and standard deviation give (colour planes) `[max(min, mean - k sd),
/// min(max, mean + k sd)]` and (residual planes) `[min - k sd, max + k sd]`.
#[inline(always)]
fn row_bounds(rows: [&[f32]; 3], k: f32, w: usize, vertical: &mut [f32], bounds: &mut [f32]) {
    let wp = w + 2;
    for p in 0..TERMS {
        let (a, b, c) = (
            &rows[0][p * w..][..w],
            &rows[1][p * w..][..w],
            &rows[2][p * w..][..w],
        );
        // One plane's vertical statistics at a time: 4 rows of `w + 2` that stay in L1.
        let v = &mut vertical[..4 * wp];
        let (vmn, rest) = v.split_at_mut(wp);
        let (vmx, rest) = rest.split_at_mut(wp);
        let (vs1, vs2) = rest.split_at_mut(wp);
        // Vertical: into positions 1..=w, then the edge pixels repeated into the pads.
        for x in 0..w {
            let (a, b, c) = (a[x], b[x], c[x]);
            vmn[x + 1] = min(min(a, b), c);
            vmx[x + 1] = max(max(a, b), c);
            vs1[x + 1] = a + b + c;
            vs2[x + 1] = a * a + b * b + c * c;
        }
        for s in [&mut *vmn, &mut *vmx, &mut *vs1, &mut *vs2] {
            s[0] = s[1];
            s[w + 1] = s[w];
        }
        // Horizontal, then the bounds.
        let (lo, hi) = bounds[p * 2 * w..][..2 * w].split_at_mut(w);
        let colour = p < 3;
        for x in 0..w {
            let mn = min(min(vmn[x], vmn[x + 1]), vmn[x + 2]);
            let mx = max(max(vmx[x], vmx[x + 1]), vmx[x + 2]);
            let s1 = vs1[x] + vs1[x + 1] + vs1[x + 2];
            let s2 = vs2[x] + vs2[x + 1] + vs2[x + 2];
            let mean = s1 / 9.0;
            let ksd = k * max(s2 / 9.0 - mean * mean, 0.0).sqrt();
            if colour {
                lo[x] = max(mn, mean - ksd);
                hi[x] = min(mx, mean + ksd);
            } else {
                lo[x] = mn - ksd;
                hi[x] = mx + ksd;
            }
        }
    }
}

/// `min` as one SIMD instruction (`b` when the two are unordered); equal to `f32::min` for numbers,
/// which is all the pass sees from finite inputs.
#[inline(always)]
fn min(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// `max` as one SIMD instruction, see [`min`].
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `floor(v)` as a float and an integer, for `|v| < 2^22` (the callers check the range first):
/// adding and removing 1.5 * 2^23 rounds to the nearest integer (whose bits the sum holds), then
/// one step down where that rounded up. No libm call on targets without SSE4.1, and no saturating
/// float-to-int conversion.
#[inline(always)]
fn floor(v: f32) -> (f32, i32) {
    const ROUND: f32 = 12_582_912.0;
    let k = v + ROUND;
    let r = k - ROUND;
    let i = k.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    if r > v {
        (r - 1.0, i - 1)
    } else {
        (r, i)
    }
}

/// The reprojected history of row `y` into `out` (4 planes of `w`: rgb, then 1 where it is used
/// and 0 where this frame's residual stands alone: off-screen, or too little kept weight). Per
/// pixel: the 4 bilinear taps, the depth test, the history taps as 4-wide loads.
#[inline(always)]
fn reproject_row(
    inp: &TemporalInputs<'_>,
    history: &ImageF32,
    params: &CompositeParams,
    y: usize,
    out: &mut [f32],
) {
    reproject_row_from(inp, history, params, y, 0, out)
}

/// [`reproject_row`] for the pixels from `x0` on.
#[inline(always)]
fn reproject_row_from(
    inp: &TemporalInputs<'_>,
    history: &ImageF32,
    params: &CompositeParams,
    y: usize,
    x0: usize,
    out: &mut [f32],
) {
    let (w, h) = (inp.current.width, inp.current.height);
    let (w, h) = (w as usize, h as usize);
    let (wf, hf) = (w as f32, h as f32);
    let (wi, hi) = (w as i32 - 1, h as i32 - 1);
    let reject = params.depth_reject;
    let motion_row = inp.motion.map(|m| &m.data[y * w * 4..][..w * 4]);
    let depth = inp
        .depth
        .map(|(dc, dp)| (&dc.data[y * w..][..w], &dp.data[..]));
    let hist = &history.data[..];
    let (hr, rest) = out.split_at_mut(w);
    let (hg, rest) = rest.split_at_mut(w);
    let (hb, keep) = rest.split_at_mut(w);
    let qy0 = y as f32 + 0.5;
    for x in x0..w {
        let (mx, my) = motion_row.map_or((0.0, 0.0), |m| (m[x * 4], m[x * 4 + 1]));
        let (qx, qy) = (x as f32 + 0.5 + mx, qy0 + my);
        keep[x] = 0.0;
        if !(qx >= 0.0 && qx <= wf && qy >= 0.0 && qy <= hf) {
            continue;
        }
        let (tx, ty) = (qx - 0.5, qy - 0.5);
        // In range: -1 <= floor(tx) < w, -1 <= floor(ty) < h.
        let ((bx, xa), (by, ya)) = (floor(tx), floor(ty));
        let (fx, fy) = (tx - bx, ty - by);
        let (xa, xb) = (xa.clamp(0, wi) as usize, (xa + 1).clamp(0, wi) as usize);
        let (ya, yb) = (
            ya.clamp(0, hi) as usize * w,
            (ya + 1).clamp(0, hi) as usize * w,
        );
        let taps = [ya + xa, ya + xb, yb + xa, yb + xb];
        let mut wt = [
            (1.0 - fx) * (1.0 - fy),
            fx * (1.0 - fy),
            (1.0 - fx) * fy,
            fx * fy,
        ];
        if let Some((dc, dp)) = depth {
            let zc = dc[x];
            let limit = reject * zc.abs();
            for (wk, &t) in wt.iter_mut().zip(&taps) {
                if (dp[t] - zc).abs() > limit {
                    *wk = 0.0;
                }
            }
        }
        let (sum, wsum) = history_taps(hist, taps, wt);
        if wsum < MIN_KEPT_WEIGHT {
            continue;
        }
        hr[x] = sum[0] / wsum;
        hg[x] = sum[1] / wsum;
        hb[x] = sum[2] / wsum;
        keep[x] = 1.0;
    }
}

/// The 4 weighted history taps (top-left, top-right, bottom-left, bottom-right) summed as the AVX2
/// build sums them, left column and right column first: `(w0 h0 + w2 h2) + (w1 h1 + w3 h3)` per
/// channel, and their weights the same way.
#[inline(always)]
fn history_taps(hist: &[f32], taps: [usize; 4], wt: [f32; 4]) -> ([f32; 3], f32) {
    let h = |k: usize, c: usize| hist[taps[k] * 4 + c];
    let sum = std::array::from_fn(|c| {
        (wt[0] * h(0, c) + wt[2] * h(2, c)) + (wt[1] * h(1, c) + wt[3] * h(3, c))
    });
    (sum, (wt[0] + wt[2]) + (wt[1] + wt[3]))
}

/// [`reproject_row`] in AVX2: [`LANES`] pixels at a time, one per lane, the same operations in the
/// same order (so the same bits). Depth taps are loaded by index and each pixel's history taps as
/// two 256-bit loads (the left and right tap of a row are adjacent), not with AVX2 gathers (slower
/// on the Zen 3 measured, docs/cpu-backend.md). The last `w % LANES` pixels go through
/// [`reproject_row`]. Lanes that leave the image read clamped (in-bounds) taps and are then marked
/// unused, as the scalar loop's `continue` does.
///
/// # Safety
/// The CPU must have AVX2; `history` must have the current image's size and 4 channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn reproject_row_avx2(
    inp: &TemporalInputs<'_>,
    history: &ImageF32,
    params: &CompositeParams,
    y: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;

    use super::lanes::avx2::planes_at;
    let (w, h) = (inp.current.width, inp.current.height);
    let (w, h) = (w as usize, h as usize);
    let full = w - w % LANES;
    let motion_row = inp.motion.map(|m| &m.data[y * w * 4..][..w * 4]);
    let depth = inp
        .depth
        .map(|(dc, dp)| (&dc.data[y * w..][..w], &dp.data[..]));
    let hist = history.data.as_ptr();
    let (hr, rest) = out.split_at_mut(w);
    let (hg, rest) = rest.split_at_mut(w);
    let (hb, keep) = rest.split_at_mut(w);

    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_ps(1.0);
    let half = _mm256_set1_ps(0.5);
    let (wf, hf) = (_mm256_set1_ps(w as f32), _mm256_set1_ps(h as f32));
    let (wi, hi) = (
        _mm256_set1_epi32(w as i32 - 1),
        _mm256_set1_epi32(h as i32 - 1),
    );
    let izero = _mm256_setzero_si256();
    let ione = _mm256_set1_epi32(1);
    let wstride = _mm256_set1_epi32(w as i32);
    let round = _mm256_set1_ps(12_582_912.0);
    let round_bits = _mm256_set1_epi32(12_582_912.0f32.to_bits() as i32);
    let reject = _mm256_set1_ps(params.depth_reject);
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let min_kept = _mm256_set1_ps(MIN_KEPT_WEIGHT);
    let qy = _mm256_set1_ps(y as f32 + 0.5);
    let lane = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    // `floor` of the scalar loop, lane-wise: (float, integer).
    let floor8 = |v: __m256| {
        let k = _mm256_add_ps(v, round);
        let r = _mm256_sub_ps(k, round);
        let i = _mm256_sub_epi32(_mm256_castps_si256(k), round_bits);
        let up = _mm256_cmp_ps::<_CMP_GT_OQ>(r, v);
        let r = _mm256_blendv_ps(r, _mm256_sub_ps(r, one), up);
        // `up` is all ones (-1) where it rounded up.
        (r, _mm256_add_epi32(i, _mm256_castps_si256(up)))
    };
    let clamp = |v: __m256i, hi: __m256i| _mm256_min_epi32(_mm256_max_epi32(v, izero), hi);
    let mut x = 0;
    while x < full {
        let xs = _mm256_add_ps(_mm256_set1_ps(x as f32), lane);
        let (mx, my) = match motion_row {
            Some(m) => {
                // 8 pixels of 4 floats transposed; x and y are the first two planes.
                let [mx, my, _, _] = planes_at(m.as_ptr().add(x * 4), 4);
                (mx, my)
            }
            None => (zero, zero),
        };
        // The scalar loop's `x as f32 + 0.5 + mx`: the integer plus 0.5 is exact either way.
        let qx = _mm256_add_ps(_mm256_add_ps(xs, half), mx);
        let qyv = _mm256_add_ps(qy, my);
        let inside = _mm256_and_ps(
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_GE_OQ>(qx, zero),
                _mm256_cmp_ps::<_CMP_LE_OQ>(qx, wf),
            ),
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_GE_OQ>(qyv, zero),
                _mm256_cmp_ps::<_CMP_LE_OQ>(qyv, hf),
            ),
        );
        let (tx, ty) = (_mm256_sub_ps(qx, half), _mm256_sub_ps(qyv, half));
        let ((bx, xa), (by, ya)) = (floor8(tx), floor8(ty));
        let xa_raw = xa;
        let (fx, fy) = (_mm256_sub_ps(tx, bx), _mm256_sub_ps(ty, by));
        let (xa, xb) = (clamp(xa, wi), clamp(_mm256_add_epi32(xa, ione), wi));
        let (ya, yb) = (
            _mm256_mullo_epi32(clamp(ya, hi), wstride),
            _mm256_mullo_epi32(clamp(_mm256_add_epi32(ya, ione), hi), wstride),
        );
        let taps = [
            _mm256_add_epi32(ya, xa),
            _mm256_add_epi32(ya, xb),
            _mm256_add_epi32(yb, xa),
            _mm256_add_epi32(yb, xb),
        ];
        let (gx, gy) = (_mm256_sub_ps(one, fx), _mm256_sub_ps(one, fy));
        let mut wt = [
            _mm256_mul_ps(gx, gy),
            _mm256_mul_ps(fx, gy),
            _mm256_mul_ps(gx, fy),
            _mm256_mul_ps(fx, fy),
        ];
        // The taps as plain integers, for loads by index.
        let mut tl = [[0i32; LANES]; 4];
        for (d, t) in tl.iter_mut().zip(&taps) {
            _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, *t);
        }
        if let Some((dc, dp)) = depth {
            let zc = _mm256_loadu_ps(dc.as_ptr().add(x));
            let limit = _mm256_mul_ps(reject, _mm256_and_ps(zc, abs_mask));
            for (wk, t) in wt.iter_mut().zip(&tl) {
                let z = std::array::from_fn::<f32, LANES, _>(|l| dp[t[l] as usize]);
                let z = _mm256_loadu_ps(z.as_ptr());
                let d = _mm256_and_ps(_mm256_sub_ps(z, zc), abs_mask);
                *wk = _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(d, limit), *wk);
            }
        }
        // The history taps: per pixel, its two columns as one 256-bit load in each of the two
        // rows (4 channels of the left tap | of the right one), weighted and summed in the
        // scalar loop's order; pixels whose left tap is the row's last column or left of the
        // image (clamped taps) sum tap by tap. Then transposed back to channels.
        let pair_ok = _mm256_and_si256(
            _mm256_cmpgt_epi32(xa_raw, _mm256_set1_epi32(-1)),
            _mm256_cmpgt_epi32(_mm256_set1_epi32(w as i32 - 1), xa_raw),
        );
        let mut ok = [0i32; LANES];
        _mm256_storeu_si256(ok.as_mut_ptr() as *mut __m256i, pair_ok);
        let mut wl = [[0.0f32; LANES]; 4];
        for (d, s) in wl.iter_mut().zip(&wt) {
            _mm256_storeu_ps(d.as_mut_ptr(), *s);
        }
        let mut cols = [0.0f32; 8 * LANES];
        for l in 0..LANES {
            let dst = cols.as_mut_ptr().add(8 * l);
            if ok[l] != 0 {
                let top = _mm256_loadu_ps(hist.add(tl[0][l] as usize * 4));
                let bottom = _mm256_loadu_ps(hist.add(tl[2][l] as usize * 4));
                let pair = |a: f32, b: f32| _mm256_set_m128(_mm_set1_ps(b), _mm_set1_ps(a));
                let acc = _mm256_add_ps(
                    _mm256_mul_ps(top, pair(wl[0][l], wl[1][l])),
                    _mm256_mul_ps(bottom, pair(wl[2][l], wl[3][l])),
                );
                _mm256_storeu_ps(dst, acc);
            } else {
                let h = |k: usize, c: usize| *hist.add(tl[k][l] as usize * 4 + c);
                for c in 0..4 {
                    *dst.add(c) = wl[0][l] * h(0, c) + wl[2][l] * h(2, c);
                    *dst.add(4 + c) = wl[1][l] * h(1, c) + wl[3][l] * h(3, c);
                }
            }
        }
        let left = planes_at(cols.as_ptr(), 8);
        let right = planes_at(cols.as_ptr().add(4), 8);
        let sum: [__m256; 3] = std::array::from_fn(|c| _mm256_add_ps(left[c], right[c]));
        let wsum = _mm256_add_ps(_mm256_add_ps(wt[0], wt[2]), _mm256_add_ps(wt[1], wt[3]));
        let used = _mm256_and_ps(inside, _mm256_cmp_ps::<_CMP_NLT_UQ>(wsum, min_kept));
        _mm256_storeu_ps(hr.as_mut_ptr().add(x), _mm256_div_ps(sum[0], wsum));
        _mm256_storeu_ps(hg.as_mut_ptr().add(x), _mm256_div_ps(sum[1], wsum));
        _mm256_storeu_ps(hb.as_mut_ptr().add(x), _mm256_div_ps(sum[2], wsum));
        _mm256_storeu_ps(keep.as_mut_ptr().add(x), _mm256_and_ps(used, one));
        x += LANES;
    }
    if full < w {
        reproject_row_from(inp, history, params, y, full, out);
    }
}

/// One output row with history: this frame's residual, accumulated with the reprojected history
/// (from [`reproject_row`]) where it is used, clamped to `bounds` (from [`row_bounds`]). Groups of
/// [`LANES`] pixels, one per lane, the shader's per-pixel branch as a select.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn history_row<const AVX2: bool>(
    inp: &TemporalInputs<'_>,
    cur_row: &[f32],
    params: &CompositeParams,
    bounds: &[f32],
    hist: &[f32],
    y: usize,
    row: &mut [f32],
) {
    let w = inp.current.width as usize;
    let alpha = params.temporal_alpha;
    let row_len = w * 4;
    let in_row = &inp.input.data[y * row_len..][..row_len];
    let plane = |p: usize| &bounds[p * w..][..w];
    let lo: [&[f32]; 6] = std::array::from_fn(|p| plane(2 * p));
    let hi: [&[f32]; 6] = std::array::from_fn(|p| plane(2 * p + 1));
    let hp: [&[f32]; 4] = std::array::from_fn(|p| &hist[p * w..][..w]);
    let mut x0 = 0;
    while x0 < w {
        let n = (w - x0).min(LANES);
        let c = load_rgba_partial::<AVX2>(&cur_row[x0 * 4..], n);
        let i = load_rgba_partial::<AVX2>(&in_row[x0 * 4..], n);
        // The group's bounds and history as lane arrays: plain loads for a whole group, the
        // last pixel repeated in a partial one. The lane loop below then reads only these, so it
        // compiles to SIMD.
        let mut lo_l = [[0.0f32; LANES]; 6];
        let mut hi_l = [[0.0f32; LANES]; 6];
        let mut hp_l = [[0.0f32; LANES]; 4];
        if n == LANES {
            for p in 0..6 {
                lo_l[p].copy_from_slice(&lo[p][x0..x0 + LANES]);
                hi_l[p].copy_from_slice(&hi[p][x0..x0 + LANES]);
            }
            for p in 0..4 {
                hp_l[p].copy_from_slice(&hp[p][x0..x0 + LANES]);
            }
        } else {
            for l in 0..LANES {
                let x = (x0 + l).min(w - 1);
                for p in 0..6 {
                    lo_l[p][l] = lo[p][x];
                    hi_l[p][l] = hi[p][x];
                }
                for p in 0..4 {
                    hp_l[p][l] = hp[p][x];
                }
            }
        }
        let mut out = [[0.0f32; LANES]; 4];
        out[3] = [1.0; LANES];
        for l in 0..LANES {
            let r = [c[0][l] - i[0][l], c[1][l] - i[1][l], c[2][l] - i[2][l]];
            let nn = [i[0][l], i[1][l], i[2][l]];
            let hy = to_ycocg([nn[0] + hp_l[0][l], nn[1] + hp_l[1][l], nn[2] + hp_l[2][l]]);
            let mut clamped = [0.0f32; 3];
            for ch in 0..3 {
                clamped[ch] = min(max(hy[ch], lo_l[ch][l]), hi_l[ch][l]);
            }
            let h_full = from_ycocg(clamped);
            for ch in 0..3 {
                let hres = min(max(h_full[ch] - nn[ch], lo_l[3 + ch][l]), hi_l[3 + ch][l]);
                let blended = hres * (1.0 - alpha) + r[ch] * alpha;
                out[ch][l] = if hp_l[3][l] != 0.0 { blended } else { r[ch] };
            }
        }
        store_rgba_partial::<AVX2>(&out, &mut row[x0 * 4..], n);
        x0 += n;
    }
}

/// Rows `y0..y0 + rows.len() / row_len` (a band) with history; `GATHER`: reproject with AVX2
/// gathers (only in the AVX2 build).
#[inline(always)]
fn history_band<const GATHER: bool>(
    inp: &TemporalInputs<'_>,
    history: &ImageF32,
    params: &CompositeParams,
    buf: &mut [f32],
    y0: usize,
    out: &mut [f32],
) {
    let (cur, input) = (inp.current, inp.input);
    let (w, h) = (cur.width, cur.height);
    let (w, h) = (w as usize, h as usize);
    let row_len = w * 4;
    let bb = BandBuffers::new(buf, w);
    let mut terms = bb.terms;
    let (vertical, bounds, hist) = (bb.vertical, bb.bounds, bb.history);
    let cur_row = |y: usize| &cur.data[y * row_len..][..row_len];
    // A macro, not a closure: a closure is not inlined into `history_band_avx2` and is compiled
    // without AVX2 (perf showed it, and the AVX2 loads it calls, as functions of their own).
    macro_rules! fill {
        ($y:expr, $dst:expr) => {{
            let y: usize = $y;
            row_terms::<GATHER>(
                &cur.data[y * row_len..][..row_len],
                &input.data[y * row_len..][..row_len],
                $dst,
            )
        }};
    }
    // Slot of image row y (-1..=h): (y + 1) % 3; rows beyond the image repeat the edge row.
    let clamp = |y: isize| y.clamp(0, h as isize - 1) as usize;
    let slot = |y: isize| ((y + 1) % 3) as usize;
    let first = y0 as isize - 1;
    fill!(clamp(first), terms[slot(first)]);
    fill!(y0, terms[slot(y0 as isize)]);
    for (k, row) in out.chunks_exact_mut(row_len).enumerate() {
        let y = (y0 + k) as isize;
        fill!(clamp(y + 1), terms[slot(y + 1)]);
        {
            let [t0, t1, t2] = &mut terms;
            let all: [&[f32]; 3] = [t0, t1, t2];
            let rows = [all[slot(y - 1)], all[slot(y)], all[slot(y + 1)]];
            row_bounds(rows, params.clamp_k, w, vertical, bounds);
        }
        #[cfg(target_arch = "x86_64")]
        if GATHER {
            // SAFETY: only `history_band_avx2` sets GATHER, behind the AVX2 check; `history`
            // has the current image's shape (checked by `temporal_with`).
            unsafe { reproject_row_avx2(inp, history, params, y as usize, hist) };
        } else {
            reproject_row(inp, history, params, y as usize, hist);
        }
        #[cfg(not(target_arch = "x86_64"))]
        reproject_row(inp, history, params, y as usize, hist);
        let y = y as usize;
        history_row::<GATHER>(inp, cur_row(y), params, bounds, hist, y, row);
    }
}

/// [`history_band`] compiled for AVX2 (the same source and operations: identical results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn history_band_avx2(
    inp: &TemporalInputs<'_>,
    history: &ImageF32,
    params: &CompositeParams,
    buf: &mut [f32],
    y0: usize,
    out: &mut [f32],
) {
    history_band::<true>(inp, history, params, buf, y0, out)
}

/// [`temporal`] into `out` (resized to the current image); bands of rows in parallel. `scratch` is
/// kept by the caller.
pub fn temporal_into(
    inp: &TemporalInputs<'_>,
    params: &CompositeParams,
    out: &mut ImageF32,
    scratch: &mut TemporalScratch,
) {
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    temporal_with(inp, params, out, scratch, avx2);
}

/// [`temporal_into`] with the band loop's build chosen (`avx2` only where the CPU has it).
fn temporal_with(
    inp: &TemporalInputs<'_>,
    params: &CompositeParams,
    out: &mut ImageF32,
    scratch: &mut TemporalScratch,
    avx2: bool,
) {
    let params = params.sanitized();
    let (w, h) = (inp.current.width, inp.current.height);
    // Inputs of another shape than the current image are left out (history and motion as on a
    // reset or a static camera, depth as when absent) rather than read out of bounds.
    let fits = |img: &ImageF32, c: u32| img.has_shape(w, h, c);
    let inputs = TemporalInputs {
        current: inp.current,
        input: inp.input,
        history: inp.history.filter(|hist| fits(hist, 4)),
        motion: inp.motion.filter(|m| fits(m, 4)),
        depth: inp.depth.filter(|(dc, dp)| fits(dc, 1) && fits(dp, 1)),
    };
    let inp = &inputs;
    if !(fits(inp.current, 4) && fits(inp.input, 4)) {
        ensure_shape(out, w, h, 4);
        out.data.fill(0.0);
        return;
    }
    ensure_shape(out, w, h, 4);
    if w == 0 || h == 0 {
        return;
    }
    let row_len = w as usize * 4;
    let (current, input) = (&inp.current.data, &inp.input.data);
    let pool = &scratch.bands;
    out.data
        .par_chunks_mut(row_len * BAND_ROWS)
        .enumerate()
        .for_each(|(b, rows)| {
            let y0 = b * BAND_ROWS;
            let mut buf = pool
                .lock()
                .map(|mut p| p.pop())
                .unwrap_or_default()
                .unwrap_or_default();
            buf.resize(band_len(w as usize), 0.0);
            let _ = avx2; // (read only by the x86-64 arm)
            match inp.history {
                None => {
                    // No history: this frame's residual.
                    for (k, row) in rows.chunks_exact_mut(row_len).enumerate() {
                        let y = y0 + k;
                        let c = &current[y * row_len..][..row_len];
                        let i = &input[y * row_len..][..row_len];
                        for ((o, c), i) in row
                            .chunks_exact_mut(4)
                            .zip(c.chunks_exact(4))
                            .zip(i.chunks_exact(4))
                        {
                            o.copy_from_slice(&[c[0] - i[0], c[1] - i[1], c[2] - i[2], 1.0]);
                        }
                    }
                }
                #[cfg(target_arch = "x86_64")]
                Some(history) if avx2 => {
                    // SAFETY: `temporal_into` found AVX2 on this CPU.
                    unsafe { history_band_avx2(inp, history, &params, &mut buf, y0, rows) };
                }
                Some(history) => history_band::<false>(inp, history, &params, &mut buf, y0, rows),
            }
            if let Ok(mut p) = pool.lock() {
                p.push(buf);
            }
        });
}

/// Accumulate this frame's residual `inp.current - inp.input` with the reprojected, validated and
/// clamped history residual. Returns the new accumulated residual (alpha 1).
pub fn temporal(inp: &TemporalInputs<'_>, params: &CompositeParams) -> ImageF32 {
    let (w, h) = (inp.current.width, inp.current.height);
    let mut out = ImageF32::new(w, h, 4);
    temporal_into(inp, params, &mut out, &mut TemporalScratch::default());
    out
}

/// The accumulated look (accumulated_look.wgsl) into `out`: `input + residual` on rgb (the
/// model's input plus the accumulated residual [`temporal`] returns) with `model_out`'s alpha, the
/// validity weight the guided upsample's fit reads. Images of another size than `input` leave `out`
/// as `input` with alpha 0 (no valid tap: the upsample then adds nothing).
pub fn accumulated_look(
    input: &ImageF32,
    residual: &ImageF32,
    model_out: &ImageF32,
    out: &mut ImageF32,
) {
    let (w, h) = (input.width, input.height);
    ensure_shape(out, w, h, 4);
    let fits = |img: &ImageF32| img.has_shape(w, h, 4);
    if !(fits(input) && fits(residual) && fits(model_out)) {
        if fits(input) {
            out.data.copy_from_slice(&input.data);
            out.data.chunks_exact_mut(4).for_each(|p| p[3] = 0.0);
        } else {
            out.data.fill(0.0);
        }
        return;
    }
    for (((o, i), r), m) in out
        .data
        .chunks_exact_mut(4)
        .zip(input.data.chunks_exact(4))
        .zip(residual.data.chunks_exact(4))
        .zip(model_out.data.chunks_exact(4))
    {
        o[0] = i[0] + r[0];
        o[1] = i[1] + r[1];
        o[2] = i[2] + r[2];
        o[3] = m[3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: &mut u32) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        (*seed >> 8) as f32 / (1 << 24) as f32
    }

    fn image(w: u32, h: u32, c: u32, seed: &mut u32, f: impl Fn(f32) -> f32) -> ImageF32 {
        let mut img = ImageF32::new(w, h, c);
        for v in img.data.iter_mut() {
            *v = f(noise(seed));
        }
        img
    }

    /// Both builds give the same bits, whatever the threads (bands in any order).
    #[test]
    fn builds_and_thread_counts_agree_bit_for_bit() {
        let mut seed = 0x9e37_79b9u32;
        // Not a multiple of the lanes nor of the band height.
        let (w, h) = (45u32, 37u32);
        let current = image(w, h, 4, &mut seed, |v| 1.2 * v);
        let input = image(w, h, 4, &mut seed, |v| 1.2 * v);
        let history = image(w, h, 4, &mut seed, |v| v - 0.5);
        let motion = image(w, h, 4, &mut seed, |v| 6.0 * v - 3.0);
        let depth = image(w, h, 1, &mut seed, |v| if v < 0.3 { 2.0 } else { 10.0 + v });
        let prev = image(w, h, 1, &mut seed, |v| if v < 0.4 { 2.0 } else { 10.0 + v });
        let params = CompositeParams {
            temporal_alpha: 0.2,
            ..Default::default()
        };
        // With and without motion and depth (the AVX2 reprojection has a path for each).
        for (with_motion, with_depth) in [(true, true), (false, true), (true, false)] {
            let inputs = TemporalInputs {
                current: &current,
                input: &input,
                history: Some(&history),
                motion: with_motion.then_some(&motion),
                depth: with_depth.then_some((&depth, &prev)),
            };
            check_builds_agree(&inputs, &params, with_motion);
        }
        // Inputs of the wrong shape are left out, not read out of bounds.
        let motion2 = image(w, h, 2, &mut seed, |v| v);
        let small = image(w - 1, h, 4, &mut seed, |v| v);
        let odd = TemporalInputs {
            current: &current,
            input: &input,
            history: Some(&small),
            motion: Some(&motion2),
            depth: Some((&depth, &prev)),
        };
        let mut out = ImageF32::new(0, 0, 4);
        temporal_into(&odd, &params, &mut out, &mut TemporalScratch::default());
        assert_eq!(out.data, residual(&current, &input).data);
    }

    fn check_builds_agree(inputs: &TemporalInputs<'_>, params: &CompositeParams, moving: bool) {
        let (current, input) = (inputs.current, inputs.input);
        let (w, h) = (current.width, current.height);
        let mut outs = Vec::new();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for avx2 in [
                false,
                cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx2"),
            ] {
                let mut out = ImageF32::new(0, 0, 4);
                let mut scratch = TemporalScratch::default();
                pool.install(|| temporal_with(inputs, params, &mut out, &mut scratch, avx2));
                outs.push(out);
            }
        }
        for o in &outs[1..] {
            assert!(o
                .data
                .iter()
                .zip(&outs[0].data)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        // Some pixels keep history, some do not (all do without motion: nothing leaves the frame).
        let fresh = residual(current, input);
        let kept = outs[0]
            .data
            .iter()
            .zip(&fresh.data)
            .filter(|(a, b)| a != b)
            .count();
        let most = if moving {
            (w * h * 3) as usize
        } else {
            (w * h * 4) as usize
        };
        assert!(kept > 100 && kept < most, "{kept}");
    }
}
