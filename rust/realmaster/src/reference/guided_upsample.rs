//! Guided upsample (the CPU implementation of gpu/composite/guided_upsample.wgsl): joint bilateral
//! upsampling of the model residual. The per-column and per-row tap weights and the per-tap
//! model-size terms are computed once per frame (the values the per-pixel formula gives), then
//! full-resolution rows run in parallel.

use rayon::prelude::*;

use super::decode::ensure_shape;

use crate::frame::ImageF32;

/// Smallest spatial sigma (model pixels): below it the weights between two taps underflow to 0.
pub const MIN_SIGMA_SPATIAL: f32 = 0.25;
/// Largest spatial sigma: beyond it the windowed weights all approach 0.
pub const MAX_SIGMA_SPATIAL: f32 = 16.0;
/// Smallest range sigma; when every range weight underflows the spatial weights take over.
pub const MIN_SIGMA_RANGE: f32 = 1e-3;

/// Kernel constants shared by the GPU uniform and this reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpsampleKernel {
    /// `1 / (2 sigma_spatial^2)`.
    pub inv_2ss: f32,
    /// `1 / (2 sigma_range^2)`.
    pub inv_2sr: f32,
    /// The spatial Gaussian at the window radius 2, subtracted so weights reach 0 there.
    pub edge: f32,
}

impl UpsampleKernel {
    /// Constants for the given sigmas (clamped to the limits above; NaN takes the minimum).
    pub fn new(sigma_spatial: f32, sigma_range: f32) -> Self {
        let ss = if sigma_spatial.is_nan() {
            MIN_SIGMA_SPATIAL
        } else {
            sigma_spatial.clamp(MIN_SIGMA_SPATIAL, MAX_SIGMA_SPATIAL)
        };
        let sr = sigma_range.max(MIN_SIGMA_RANGE);
        let inv_2ss = 1.0 / (2.0 * ss * ss);
        UpsampleKernel {
            inv_2ss,
            inv_2sr: 1.0 / (2.0 * sr * sr),
            edge: (-4.0 * inv_2ss).exp(),
        }
    }
}

/// `exp(x)` for `x <= 0` (NaN and values below -87 give ~0), within 1e-7 relative: `2^i * e^r`
/// with `i` the nearest integer to `x / ln 2` and a degree-7 polynomial for `e^r`, `|r| <= ln 2 / 2`.
/// Branch-free, so 16 taps vectorise; `f32::exp` is a libm call per tap and was 3/4 of the pass.
#[inline(always)]
pub fn exp_neg(x: f32) -> f32 {
    // ln 2 split so that `i * LN2_HI` is exact (Cody-Waite).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    #[allow(clippy::manual_clamp)] // unlike clamp, max maps NaN to -86
    let x = x.max(-86.0).min(0.0);
    let t = x * std::f32::consts::LOG2_E;
    let i = (t - 0.5) as i32; // round to nearest for t <= 0 (truncation toward zero)
    let r = (x - i as f32 * LN2_HI) - i as f32 * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((i + 127) as u32) << 23)
}

fn perceptual(c: f32) -> f32 {
    let p = c.max(0.0);
    (p / (1.0 + p)).sqrt()
}

/// Taps of one full-resolution column (or row): the 4 clamped model-size indices and weights.
#[derive(Debug, Clone, Copy, Default)]
struct AxisTaps {
    index: [u32; 4],
    weight: [f32; 4],
}

/// Per-frame tables of the upsample, kept by the compositor between frames.
#[derive(Debug, Clone, Default)]
pub struct UpsampleScratch {
    cols: Vec<AxisTaps>,
    rows: Vec<AxisTaps>,
    /// Per model pixel: perceptual input colour (3), residual `out - in` (3), validity, unused.
    taps: Vec<[f32; 8]>,
}

fn axis_taps(n: u32, ln: u32, inv_2ss: f32, edge: f32, out: &mut Vec<AxisTaps>) {
    let s = ln as f32 / n as f32;
    out.clear();
    out.extend((0..n).map(|x| {
        let u = (x as f32 + 0.5) * s - 0.5;
        let b = u.floor() as i32;
        let mut t = AxisTaps::default();
        for k in 0..4 {
            let d = (b - 1 + k as i32) as f32 - u;
            t.weight[k] = ((-d * d * inv_2ss).exp() - edge).max(0.0);
            t.index[k] = (b - 1 + k as i32).clamp(0, ln as i32 - 1) as u32;
        }
        t
    }));
}

/// [`guided_upsample`] into `out` (resized to the guide), using `scratch` for the tables.
#[allow(clippy::too_many_arguments)]
pub fn guided_upsample_into(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    sigma_spatial: f32,
    sigma_range: f32,
    scratch: &mut UpsampleScratch,
    out: &mut ImageF32,
) {
    let (w, h) = (guide.width, guide.height);
    let (lw, lh) = (out_lr.width, out_lr.height);
    ensure_shape(out, w, h, 4);
    if w == 0 || h == 0 || lw == 0 || lh == 0 {
        return;
    }
    let UpsampleKernel {
        inv_2ss,
        inv_2sr,
        edge,
    } = UpsampleKernel::new(sigma_spatial, sigma_range);
    axis_taps(w, lw, inv_2ss, edge, &mut scratch.cols);
    axis_taps(h, lh, inv_2ss, edge, &mut scratch.rows);
    scratch.taps.clear();
    scratch.taps.extend(
        out_lr
            .data
            .chunks_exact(4)
            .zip(in_lr.data.chunks_exact(4))
            .map(|(o, n)| {
                [
                    perceptual(n[0]),
                    perceptual(n[1]),
                    perceptual(n[2]),
                    o[0] - n[0],
                    o[1] - n[1],
                    o[2] - n[2],
                    o[3].clamp(0.0, 1.0),
                    0.0,
                ]
            }),
    );
    let (cols, rows, taps) = (&scratch.cols, &scratch.rows, &scratch.taps);
    out.data
        .par_chunks_mut(w as usize * 4)
        .zip(guide.data.par_chunks(w as usize * 4))
        .enumerate()
        .for_each(|(y, (orow, grow))| {
            let ry = &rows[y];
            for ((o, g), cx) in orow
                .chunks_exact_mut(4)
                .zip(grow.chunks_exact(4))
                .zip(cols.iter())
            {
                let pg = [perceptual(g[0]), perceptual(g[1]), perceptual(g[2])];
                // The 16 taps as lanes: spatial weights and range arguments, then one vectorised
                // exp, then the sums in the shader's tap order.
                let mut ws = [0.0f32; 16];
                let mut arg = [0.0f32; 16];
                let mut t16: [&[f32; 8]; 16] = [&taps[0]; 16];
                for (ky, (&ty, &wyk)) in ry.index.iter().zip(&ry.weight).enumerate() {
                    let line = &taps[(ty * lw) as usize..];
                    for (kx, (&tx, &wxk)) in cx.index.iter().zip(&cx.weight).enumerate() {
                        let k = ky * 4 + kx;
                        let t = &line[tx as usize];
                        t16[k] = t;
                        ws[k] = wxk * wyk * t[6];
                        let mut d2 = 0.0;
                        for c in 0..3 {
                            let d = pg[c] - t[c];
                            d2 += d * d;
                        }
                        arg[k] = -d2 * inv_2sr;
                    }
                }
                let mut wj = [0.0f32; 16];
                for k in 0..16 {
                    wj[k] = ws[k] * exp_neg(arg[k]);
                }
                let (mut sum_j, mut w_j, mut sum_s, mut w_s) =
                    ([0.0f32; 3], 0.0f32, [0.0f32; 3], 0.0f32);
                for k in 0..16 {
                    let t = t16[k];
                    for c in 0..3 {
                        let r = t[3 + c];
                        sum_s[c] += ws[k] * r;
                        sum_j[c] += wj[k] * r;
                    }
                    w_s += ws[k];
                    w_j += wj[k];
                }
                let res = if w_j >= 1e-4 * w_s && w_j > 0.0 {
                    sum_j.map(|v| v / w_j)
                } else if w_s > 1e-8 {
                    sum_s.map(|v| v / w_s)
                } else {
                    [0.0; 3]
                };
                for c in 0..3 {
                    o[c] = (g[c] + res[c]).max(0.0);
                }
                o[3] = g[3];
            }
        });
}

/// Full-res result = guide + residual, residual = joint-bilateral upsample of `out_lr - in_lr`
/// (see the shader header for the exact weights). `guide` is full res, `out_lr` and `in_lr` share the
/// model size; all 4-channel linear RGB. `out_lr` alpha is a validity weight (0 = invalid tap).
pub fn guided_upsample(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    sigma_spatial: f32,
    sigma_range: f32,
) -> ImageF32 {
    let mut out = ImageF32::new(guide.width, guide.height, 4);
    guided_upsample_into(
        guide,
        out_lr,
        in_lr,
        sigma_spatial,
        sigma_range,
        &mut UpsampleScratch::default(),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::exp_neg;

    #[test]
    fn exp_neg_is_exp_to_a_few_ulps() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > -80.0 {
            let want = (x as f64).exp();
            let rel = ((exp_neg(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x -= 0.000_731;
        }
        assert!(worst < 1e-6, "worst relative error {worst:e}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert!(exp_neg(-200.0) < 1e-37);
        assert!(exp_neg(f32::NAN) < 1e-37);
        assert!(exp_neg(f32::NEG_INFINITY) < 1e-37);
        assert!(exp_neg(-86.0) > 0.0);
    }
}
