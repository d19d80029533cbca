//! Guided upsample (the CPU implementation of gpu/composite/guided_coeffs.wgsl and
//! guided_upsample.wgsl): a guided filter fitted at model size and applied at full resolution.
//!
//! 1. Coefficients, per model pixel: over its 3x3 neighbourhood (clamped to the edge, taps weighted
//!    by the output's validity alpha), the least-squares affine map from the perceptual input colour
//!    `P(in) = sqrt(c / (1 + c))` to the residual `out - in` (linear RGB), ridge-regularised by
//!    `eps`: `A = (cov(P, P) + eps I)^-1 cov(P, r)`, `b = mean(r) - A^T mean(P)`. The student predicts
//!    an affine colour transform of its input, so the residual is locally close to affine in the
//!    input: the fit keeps it, and `eps` flattens what is noise (where the input barely varies).
//!    Edge-aware ([`EdgeAware`], a package's `upsample.edge_ridge` and `edge_aware`): off the
//!    model input's edges (its edge plane dilated by one model pixel) the ridge pulls each
//!    channel's map toward the look's own gain instead of 0, by a weight `pull`,
//!    `A = (cov(P, P) + eps I)^-1 (cov(P, r) + pull eps A0)` with `A0` diagonal
//!    ([`ratio_prior`]), so the frame's fine texture is scaled as the look scales the brightness
//!    (under a darkening look it would otherwise pass at its own amplitude: grain, and flicker
//!    from frame to frame); on them the ridge is `edge_ridge` times `eps` with no pull, so the
//!    engine's edges keep their contrast (docs/photoreal.md, stages 66-67).
//! 2. Apply, per full-resolution pixel: the coefficients bilinearly interpolated at the pixel's
//!    model-size position, `residual = A^T P(guide) + b`; the pass writes
//!    `out = max(guide + residual, 0) - guide` (alpha 1): the residual that brings the guide to the
//!    non-negative picture, which the blend adds back. The residual's edges are the
//!    full-resolution guide's, whatever the model size.
//!
//! Against the joint bilateral upsample this replaces (16 taps, an exp per tap per pixel): on the
//! held-out clips with the model at 64x32 and frames at 256x144, 0.2 dB closer to the path-traced
//! targets on average; per full-resolution pixel it is a lerp and a 3x4 matrix product.
//!
//! The fit runs in bands of model rows, each row streamed through a few cache-resident rows: its
//! per-pixel moments, their sums along x, the 3x3 sums over three such rows (in the shader's tap
//! order), then the solve, 8 model pixels at a time, lane-wise. A full-resolution row lerps its two
//! model rows of coefficients along y once (at model width, in a thread-local row reused across
//! frames); then, for chunks of 8 pixels, each model column the chunk reads applies its map to all
//! 8 perceptual guide colours, weighted by each pixel's lerp weight along x (the shader lerps the
//! coefficients first: the same sum in another order). Broadcast coefficients and lane-wise
//! arithmetic; where the CPU has AVX2 the solve and the apply run as AVX2 intrinsics (8-pixel
//! groups transposed with shuffles) and the other loops as AVX2 builds of the same source. The
//! apply's products and sums are fused multiply-adds in both builds (`mul_add` in the baseline,
//! FMA instructions in the AVX2 one), elsewhere none; division and square root are exact:
//! bit-identical to the baseline build.

use std::cell::RefCell;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::blend::{blend_encode_row, blend_strength, use_avx2};
use super::decode::ensure_shape;

use crate::frame::{ColorFormat, ImageF32};

/// Smallest regulariser: below it a flat neighbourhood's fit amplifies noise without bound.
pub const MIN_EPS: f32 = 1e-6;
/// Largest regulariser: beyond it every fit is the neighbourhood's mean residual.
pub const MAX_EPS: f32 = 1.0;
/// The runtime's default ridge; a model package's per-prompt ridges are scaled by the user's
/// ridge over this (model/upsample_ridges.rs).
pub const DEFAULT_EPS: f32 = 1e-3;
/// Coefficients per model pixel: for each output channel k, `(A[0][k], A[1][k], A[2][k], b[k])`.
pub const COEFFS: usize = 12;

/// `eps` as the passes use it: clamped to `MIN_EPS..=MAX_EPS`, NaN to the minimum.
pub fn clamp_eps(eps: f32) -> f32 {
    if eps.is_nan() {
        MIN_EPS
    } else {
        eps.clamp(MIN_EPS, MAX_EPS)
    }
}

#[inline(always)]
fn perceptual(c: f32) -> f32 {
    let p = c.max(0.0);
    (p / (1.0 + p)).sqrt()
}

/// [`perceptual`] of each 8-bit sRGB byte's linear value: the apply's guide colours for 8-bit
/// frames by table (the same bits as computing them).
fn perceptual_table() -> &'static [f32; 256] {
    static T: OnceLock<[f32; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let lin = &super::decode::tables().srgb;
        std::array::from_fn(|b| perceptual(lin[b]))
    })
}

/// How edge-aware the fit is (module header): the ridge's factor on the edges and the weight of
/// the pull toward the look's gain off them. [`EdgeWeights::OFF`] is the plain fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeWeights {
    /// The ridge's factor on (dilated) edges, [`MIN_EDGE_RIDGE`]..=[`MAX_EDGE_RIDGE`].
    pub edge_ridge: f32,
    /// The weight of the pull toward the look's gain off the edges, 0..=1.
    pub pull: f32,
}

impl EdgeWeights {
    /// Not edge-aware: one ridge everywhere, pulled to no change.
    pub const OFF: EdgeWeights = EdgeWeights {
        edge_ridge: 1.0,
        pull: 0.0,
    };

    /// The weights as the fit uses them: the factor clamped to its range (NaN: 1), the pull to
    /// 0..=1 (NaN: 0).
    pub fn sanitized(self) -> Self {
        EdgeWeights {
            edge_ridge: if self.edge_ridge.is_nan() {
                1.0
            } else {
                self.edge_ridge.clamp(MIN_EDGE_RIDGE, MAX_EDGE_RIDGE)
            },
            pull: if self.pull.is_nan() {
                0.0
            } else {
                self.pull.clamp(0.0, 1.0)
            },
        }
    }

    /// Whether the fit differs from the plain one.
    pub fn is_on(self) -> bool {
        self.edge_ridge > 1.0 || self.pull > 0.0
    }
}

/// The edge-aware fit (module header): the model input's edge plane and the weights.
#[derive(Debug, Clone, Copy)]
pub struct EdgeAware<'a> {
    /// The model input's 0/1 edges (the plane the network reads), the model's size, 1 channel.
    pub edges: &'a ImageF32,
    pub weights: EdgeWeights,
}

/// Bounds of [`EdgeWeights::edge_ridge`]: below 1 an edge would be flattened more than the texture
/// around it; far above, its fit is the neighbourhood's mean residual anyway.
pub const MIN_EDGE_RIDGE: f32 = 1.0;
pub const MAX_EDGE_RIDGE: f32 = 1000.0;

/// The map the ridge pulls one channel toward off the edges, from the neighbourhood's mean
/// perceptual input `p` and mean residual `r`: the look's local gain minus one, `t = r / c` with
/// `c = p^2 / (1 - p^2)` the linear colour at `p` (clamped to -1..1: a look that at most doubles or
/// blacks out), times the linear colour's slope in the guide there, `dc/dp = 2p / (1 - p^2)^2`.
/// Where the look keeps the brightness (`r = 0`) the pull is to 0, as without it. The floors keep
/// the divisions finite for black (p = 0) and unbounded (p = 1) inputs.
#[inline(always)]
fn ratio_prior(p: f32, r: f32) -> f32 {
    let p2 = p * p;
    let q = (1.0 - p2).max(PRIOR_Q_FLOOR);
    // max / min rather than clamp: a NaN goes to -1 as in the AVX2 build's max_ps / min_ps.
    #[allow(clippy::manual_clamp)]
    let t = (r * q / p2.max(PRIOR_P2_FLOOR)).max(-1.0).min(1.0);
    (t + t) * p / (q * q)
}

/// [`ratio_prior`]'s floors of `1 - p^2` and of `p^2`.
const PRIOR_Q_FLOOR: f32 = 1e-4;
const PRIOR_P2_FLOOR: f32 = 1e-12;

/// One model row of the edge-aware fit's mask: 1 where the edge plane has an edge within one
/// model pixel (3x3, clamped to the plane), else 0.
fn dilated_edge_row(edges: &ImageF32, y: usize, out: &mut Vec<f32>) {
    let (lw, lh) = (edges.width as usize, edges.height as usize);
    out.clear();
    out.resize(lw, 0.0);
    for r in [y.saturating_sub(1), y, (y + 1).min(lh - 1)] {
        let row = &edges.data[r * lw..][..lw];
        for (x, o) in out.iter_mut().enumerate() {
            let (a, b) = (x.saturating_sub(1), (x + 1).min(lw - 1));
            if row[a..=b].iter().any(|&e| e > 0.5) {
                *o = 1.0;
            }
        }
    }
}

/// Sample position along one axis: the two model-size indices and the weight of the second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Lerp {
    i0: u32,
    i1: u32,
    f: f32,
}

/// Where full-res index `x` of `n` falls among `ln` model-size samples (centres aligned, clamped).
fn lerp_at(x: u32, n: u32, ln: u32) -> Lerp {
    let u = ((x as f32 + 0.5) * (ln as f32 / n as f32) - 0.5).clamp(0.0, (ln - 1) as f32);
    let i0 = u.floor() as u32;
    Lerp {
        i0,
        i1: (i0 + 1).min(ln - 1),
        f: u - i0 as f32,
    }
}

/// Model pixels (fit) or full-resolution pixels (apply) per lane group.
const LANES: usize = 8;
type Lanes = [f32; LANES];

/// Per model pixel, what the fit sums over a neighbourhood: the validity `v`, `v P` (3), `v r` (3),
/// `v P_i P_j` (all 9, as the shader's matrix columns) and `v P_i r_k` (9); zeros for a tap left out.
const MOMENTS: usize = 25;

/// The moments of one model row as `MOMENTS` planes of the row's width (`planes[m * lw + x]`),
/// `LANES` pixels at a time.
#[inline(always)]
fn moments_row(orow: &[f32], nrow: &[f32], planes: &mut [f32]) {
    let lw = orow.len() / 4;
    for x0 in (0..lw).step_by(LANES) {
        let n = LANES.min(lw - x0);
        let mut o = [[0.0f32; LANES]; 4];
        let mut i = [[0.0f32; LANES]; 3];
        for l in 0..n {
            for c in 0..4 {
                o[c][l] = orow[(x0 + l) * 4 + c];
            }
            for c in 0..3 {
                i[c][l] = nrow[(x0 + l) * 4 + c];
            }
        }
        let r: [Lanes; 3] = array_of(|c| lanes(|l| o[c][l] - i[c][l]));
        // A non-finite residual or validity is no evidence: the tap is left out.
        let v = lanes(|l| {
            let v = o[3][l].clamp(0.0, 1.0);
            let finite = r[0][l].is_finite() && r[1][l].is_finite() && r[2][l].is_finite();
            if v > 0.0 && finite {
                v
            } else {
                0.0
            }
        });
        let keep = |x: f32, l: usize| if v[l] > 0.0 { x } else { 0.0 };
        let p: [Lanes; 3] = array_of(|c| lanes(|l| perceptual(i[c][l])));
        let vp: [Lanes; 3] = array_of(|a| lanes(|l| v[l] * p[a][l]));
        let m: [Lanes; MOMENTS] = array_of(|k| match k {
            0 => v,
            1..=3 => lanes(|l| keep(vp[k - 1][l], l)),
            4..=6 => lanes(|l| keep(v[l] * r[k - 4][l], l)),
            7..=15 => lanes(|l| keep(vp[(k - 7) / 3][l] * p[(k - 7) % 3][l], l)),
            _ => lanes(|l| keep(vp[(k - 16) / 3][l] * r[(k - 16) % 3][l], l)),
        });
        for (k, mk) in m.iter().enumerate() {
            let dst = &mut planes[k * lw + x0..];
            if n == LANES {
                dst[..LANES].copy_from_slice(mk); // a fixed-size copy: no memmove call
            } else {
                dst[..n].copy_from_slice(&mk[..n]);
            }
        }
    }
}

/// A lane array from a per-lane formula.
#[inline(always)]
fn lanes(f: impl Fn(usize) -> f32) -> Lanes {
    array_of(f)
}

/// `N` values from a per-index formula (a plain loop: `array::from_fn` is not always inlined into
/// the AVX2 builds, and a call per lane undoes the SIMD).
#[inline(always)]
fn array_of<T: Copy + Default, const N: usize>(f: impl Fn(usize) -> T) -> [T; N] {
    let mut a = [T::default(); N];
    for (i, v) in a.iter_mut().enumerate() {
        *v = f(i);
    }
    a
}

/// The edge-aware fit's inputs beside a dilated edge mask (`M`: a model row, or one group of
/// `LANES` pixels of it): the ridge's factor on the edges and `pull * eps` (the weight of the pull
/// off them, times the ridge).
#[derive(Clone, Copy)]
struct EdgeMask<M> {
    mask: M,
    edge_ridge: f32,
    pull_eps: f32,
}

/// The fit of `LANES` model pixels from their neighbourhoods' summed moments (`s[m][lane]`):
/// `COEFFS` values per lane (zeros where no tap is valid). Every step is lane-wise, so the loops
/// compile to SIMD.
#[inline(always)]
fn solve_lanes(s: &[Lanes; MOMENTS], eps: f32, edge: Option<EdgeMask<&Lanes>>) -> [Lanes; COEFFS] {
    let ok: [bool; LANES] = array_of(|l| s[0][l] >= 1e-6);
    let inv = lanes(|l| if ok[l] { 1.0 / s[0][l] } else { 0.0 });
    let mi: [Lanes; 3] = array_of(|i| lanes(|l| s[1 + i][l] * inv[l]));
    let mr: [Lanes; 3] = array_of(|i| lanes(|l| s[4 + i][l] * inv[l]));
    // Edge-aware: each lane's ridge (`eps * edge_ridge` on an edge) and, off the edges, the pull
    // toward the look's gain.
    let on = |l: usize| edge.is_some_and(|e| e.mask[l] > 0.5);
    let ridge = lanes(|l| match edge {
        Some(e) if on(l) => eps * e.edge_ridge,
        _ => eps,
    });
    let c = |i: usize, j: usize| -> Lanes {
        lanes(|l| {
            let d = if i == j { ridge[l] } else { 0.0 };
            s[7 + i * 3 + j][l] * inv[l] - mi[i][l] * mi[j][l] + d
        })
    };
    let x: [[Lanes; 3]; 3] = array_of(|i| {
        array_of(|k| {
            lanes(|l| {
                let cov = s[16 + i * 3 + k][l] * inv[l] - mi[i][l] * mr[k][l];
                match edge {
                    Some(e) if i == k && !on(l) => {
                        cov + e.pull_eps * ratio_prior(mi[k][l], mr[k][l])
                    }
                    _ => cov,
                }
            })
        })
    });
    let (c00, c10, c11, c20, c21, c22) = (c(0, 0), c(1, 0), c(1, 1), c(2, 0), c(2, 1), c(2, 2));
    // Cholesky C = L L^T (C >= eps I): stable where C is nearly singular along some colours (a
    // neighbourhood of greys varies along one axis only), unlike an adjugate inverse whose
    // determinant cancels there. The floors only keep a NaN out of the square roots.
    let l00 = lanes(|l| c00[l].max(1e-20).sqrt());
    let i00 = lanes(|l| 1.0 / l00[l]);
    let l10 = lanes(|l| c10[l] * i00[l]);
    let l20 = lanes(|l| c20[l] * i00[l]);
    let l11 = lanes(|l| (c11[l] - l10[l] * l10[l]).max(1e-20).sqrt());
    let i11 = lanes(|l| 1.0 / l11[l]);
    let l21 = lanes(|l| (c21[l] - l20[l] * l10[l]) * i11[l]);
    let l22 = lanes(|l| {
        (c22[l] - l20[l] * l20[l] - l21[l] * l21[l])
            .max(1e-20)
            .sqrt()
    });
    let i22 = lanes(|l| 1.0 / l22[l]);
    let mut out = [[0.0f32; LANES]; COEFFS];
    for k in 0..3 {
        // L y = x_k, then L^T a = y.
        let y0 = lanes(|l| x[0][k][l] * i00[l]);
        let y1 = lanes(|l| (x[1][k][l] - l10[l] * y0[l]) * i11[l]);
        let y2 = lanes(|l| (x[2][k][l] - l20[l] * y0[l] - l21[l] * y1[l]) * i22[l]);
        let a2 = lanes(|l| y2[l] * i22[l]);
        let a1 = lanes(|l| (y1[l] - l21[l] * a2[l]) * i11[l]);
        let a0 = lanes(|l| (y0[l] - l10[l] * a1[l] - l20[l] * a2[l]) * i00[l]);
        for l in 0..LANES {
            let b = mr[k][l] - (a0[l] * mi[0][l] + a1[l] * mi[1][l] + a2[l] * mi[2][l]);
            let v = [a0[l], a1[l], a2[l], b];
            for j in 0..4 {
                out[k * 4 + j][l] = if ok[l] { v[j] } else { 0.0 };
            }
        }
    }
    out
}

/// One model row of the fit from its summed moments (`MOMENTS` planes of the row's width),
/// `LANES` pixels at a time.
#[inline(always)]
fn fit_row(sums: &[f32], eps: f32, edge: Option<EdgeMask<&[f32]>>, row: &mut [f32]) {
    let lw = row.len() / COEFFS;
    for x0 in (0..lw).step_by(LANES) {
        fit_chunk(sums, eps, edge, row, x0);
    }
}

/// [`fit_row`]'s work for the (up to) `LANES` pixels from `x0`.
#[inline(always)]
fn fit_chunk(sums: &[f32], eps: f32, edge: Option<EdgeMask<&[f32]>>, row: &mut [f32], x0: usize) {
    let lw = row.len() / COEFFS;
    let n = LANES.min(lw - x0);
    let mut s = [[0.0f32; LANES]; MOMENTS];
    for (m, sm) in s.iter_mut().enumerate() {
        let src = &sums[m * lw + x0..];
        if n == LANES {
            sm.copy_from_slice(&src[..LANES]); // fixed size: no memmove call
        } else {
            sm[..n].copy_from_slice(&src[..n]);
        }
    }
    let mut mask = [0.0f32; LANES];
    if let Some(e) = edge {
        mask[..n].copy_from_slice(&e.mask[x0..x0 + n]);
    }
    let edge = edge.map(|e| EdgeMask {
        mask: &mask,
        edge_ridge: e.edge_ridge,
        pull_eps: e.pull_eps,
    });
    let c = solve_lanes(&s, eps, edge);
    for l in 0..n {
        for k in 0..COEFFS {
            row[(x0 + l) * COEFFS + k] = c[k][l];
        }
    }
}

/// [`fit_row`] with AVX2 intrinsics: [`solve_lanes`]'s operations in the same order on 8-lane
/// registers (no FMA; division and square root are exact), so the same bits; the 12 coefficient
/// registers are transposed into the row with shuffles. A row's last, partial chunk takes
/// [`fit_chunk`].
///
/// # Safety
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fit_row_avx2(sums: &[f32], eps: f32, edge: Option<EdgeMask<&[f32]>>, row: &mut [f32]) {
    use std::arch::x86_64::*;
    let lw = row.len() / COEFFS;
    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_ps(1.0);
    let floor = _mm256_set1_ps(1e-20);
    let eps_v = _mm256_set1_ps(eps);
    let edge_eps = _mm256_set1_ps(eps * edge.map_or(1.0, |e| e.edge_ridge));
    let pull_eps = _mm256_set1_ps(edge.map_or(0.0, |e| e.pull_eps));
    let half = _mm256_set1_ps(0.5);
    let minus_one = _mm256_set1_ps(-1.0);
    let q_floor = _mm256_set1_ps(PRIOR_Q_FLOOR);
    let p2_floor = _mm256_set1_ps(PRIOR_P2_FLOOR);
    let (add, sub, mul) = (
        |a, b| _mm256_add_ps(a, b),
        |a, b| _mm256_sub_ps(a, b),
        |a, b| _mm256_mul_ps(a, b),
    );
    for x0 in (0..lw).step_by(LANES) {
        if lw - x0 < LANES {
            fit_chunk(sums, eps, edge, row, x0);
            continue;
        }
        let s: [__m256; MOMENTS] = std::array::from_fn(|m| {
            let src = &sums[m * lw + x0..][..LANES];
            _mm256_loadu_ps(src.as_ptr())
        });
        let ok = _mm256_cmp_ps::<_CMP_GE_OQ>(s[0], _mm256_set1_ps(1e-6));
        let inv = _mm256_blendv_ps(zero, _mm256_div_ps(one, s[0]), ok);
        let mi = [0, 1, 2].map(|i| mul(s[1 + i], inv));
        let mr = [0, 1, 2].map(|i| mul(s[4 + i], inv));
        // Edge-aware: the lanes on an edge (`on`) take the larger ridge, the rest the pull
        // (`ratio_prior`'s operations in its order).
        let on = edge.map(|e| {
            _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_loadu_ps(e.mask[x0..x0 + LANES].as_ptr()), half)
        });
        let ridge = on.map_or(eps_v, |m| _mm256_blendv_ps(eps_v, edge_eps, m));
        let pull = on.map(|m| {
            [0, 1, 2].map(|k| {
                let p = mi[k];
                let p2 = mul(p, p);
                let q = _mm256_max_ps(sub(one, p2), q_floor);
                let t = _mm256_div_ps(mul(mr[k], q), _mm256_max_ps(p2, p2_floor));
                let t = _mm256_min_ps(_mm256_max_ps(t, minus_one), one);
                let a0 = _mm256_div_ps(mul(add(t, t), p), mul(q, q));
                (mul(pull_eps, a0), m)
            })
        });
        let c = |i: usize, j: usize| {
            let d = if i == j { ridge } else { zero };
            add(sub(mul(s[7 + i * 3 + j], inv), mul(mi[i], mi[j])), d)
        };
        let x = |i: usize, k: usize| {
            let cov = sub(mul(s[16 + i * 3 + k], inv), mul(mi[i], mr[k]));
            match pull {
                Some(pk) if i == k => _mm256_blendv_ps(add(cov, pk[k].0), cov, pk[k].1),
                _ => cov,
            }
        };
        let (c00, c10, c11, c20, c21, c22) = (c(0, 0), c(1, 0), c(1, 1), c(2, 0), c(2, 1), c(2, 2));
        let l00 = _mm256_sqrt_ps(_mm256_max_ps(c00, floor));
        let i00 = _mm256_div_ps(one, l00);
        let l10 = mul(c10, i00);
        let l20 = mul(c20, i00);
        let l11 = _mm256_sqrt_ps(_mm256_max_ps(sub(c11, mul(l10, l10)), floor));
        let i11 = _mm256_div_ps(one, l11);
        let l21 = mul(sub(c21, mul(l20, l10)), i11);
        let l22 = _mm256_sqrt_ps(_mm256_max_ps(
            sub(sub(c22, mul(l20, l20)), mul(l21, l21)),
            floor,
        ));
        let i22 = _mm256_div_ps(one, l22);
        let mut out = [zero; COEFFS];
        for k in 0..3 {
            let y0 = mul(x(0, k), i00);
            let y1 = mul(sub(x(1, k), mul(l10, y0)), i11);
            let y2 = mul(sub(sub(x(2, k), mul(l20, y0)), mul(l21, y1)), i22);
            let a2 = mul(y2, i22);
            let a1 = mul(sub(y1, mul(l21, a2)), i11);
            let a0 = mul(sub(sub(y0, mul(l10, a1)), mul(l20, a2)), i00);
            let b = sub(
                mr[k],
                add(add(mul(a0, mi[0]), mul(a1, mi[1])), mul(a2, mi[2])),
            );
            for (j, v) in [a0, a1, a2, b].into_iter().enumerate() {
                out[k * 4 + j] = _mm256_blendv_ps(zero, v, ok);
            }
        }
        let dst = row[x0 * COEFFS..(x0 + LANES) * COEFFS].as_mut_ptr();
        for k in 0..3 {
            let group = [out[k * 4], out[k * 4 + 1], out[k * 4 + 2], out[k * 4 + 3]];
            super::lanes::avx2::store_planes_strided(group, dst.add(k * 4), COEFFS);
        }
    }
}

/// One model row's 3-tap sums along x, plane by plane (`MOMENTS` planes of `lw` values each):
/// `dst[x] = (src[x-1] + src[x]) + src[x+1]`, clamped to the row.
#[inline(always)]
fn box_x(src: &[f32], dst: &mut [f32], lw: usize) {
    for (s, t) in src.chunks_exact(lw).zip(dst.chunks_exact_mut(lw)) {
        if lw == 1 {
            t[0] = (s[0] + s[0]) + s[0];
            continue;
        }
        t[0] = (s[0] + s[0]) + s[1];
        for x in 1..lw - 1 {
            t[x] = (s[x - 1] + s[x]) + s[x + 1];
        }
        t[lw - 1] = (s[lw - 2] + s[lw - 1]) + s[lw - 1];
    }
}

/// Three x-summed rows added in the shader's order: the 3x3 neighbourhood sums of a row.
#[inline(always)]
fn sum3(a: &[f32], b: &[f32], c: &[f32], dst: &mut [f32]) {
    for (((d, &a), &b), &c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = (a + b) + c;
    }
}

/// Model rows per parallel band of the fit. A band recomputes the moments of the row above and
/// below it; its working set (a moments row, three x-summed rows, a sums row: 5 x 25 floats per
/// model pixel) stays in the core's cache instead of passing 25 full planes through memory.
const FIT_BAND: usize = 32;

/// The fit's per-thread rows: `[moments, sums, x-summed ring of 3]`, each `MOMENTS * lw` floats.
#[derive(Default)]
struct FitRows {
    data: Vec<f32>,
    /// Which model row each ring slot holds.
    ring: [Option<usize>; 3],
    /// The edge-aware fit's mask of the row being fitted.
    edge_row: Vec<f32>,
}

/// One model row's moments into `mom`, then their sums along x into `dst`, in the build the CPU runs.
#[inline(always)]
fn moments_box_x(
    orow: &[f32],
    nrow: &[f32],
    mom: &mut [f32],
    dst: &mut [f32],
    lw: usize,
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `use_avx2` found AVX2 and FMA on this CPU.
        return unsafe { moments_box_x_avx2(orow, nrow, mom, dst, lw) };
    }
    let _ = avx2;
    moments_row(orow, nrow, mom);
    box_x(mom, dst, lw);
}

/// The coefficients of model rows `y0..y0 + rows.len() / (lw * COEFFS)` into `rows`.
#[allow(clippy::too_many_arguments)]
fn fit_band(
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    edge: Option<EdgeAware<'_>>,
    y0: usize,
    rows: &mut [f32],
    f: &mut FitRows,
    avx2: bool,
) {
    let (lw, lh) = (out_lr.width as usize, out_lr.height as usize);
    let blk = MOMENTS * lw;
    f.data.resize(5 * blk, 0.0);
    f.ring = [None; 3];
    let (mom, rest) = f.data.split_at_mut(blk);
    let (sums, ring) = rest.split_at_mut(blk);
    for (i, row) in rows.chunks_exact_mut(lw * COEFFS).enumerate() {
        let y = y0 + i;
        let taps = [y.saturating_sub(1), y, (y + 1).min(lh - 1)];
        for r in taps {
            if f.ring[r % 3] == Some(r) {
                continue;
            }
            let (orow, nrow) = (
                &out_lr.data[r * lw * 4..][..lw * 4],
                &in_lr.data[r * lw * 4..][..lw * 4],
            );
            moments_box_x(orow, nrow, mom, &mut ring[(r % 3) * blk..][..blk], lw, avx2);
            f.ring[r % 3] = Some(r);
        }
        let [a, b, c] = taps.map(|r| &ring[(r % 3) * blk..][..blk]);
        if let Some(e) = edge {
            dilated_edge_row(e.edges, y, &mut f.edge_row);
        }
        let er = edge.map(|e| EdgeMask {
            mask: f.edge_row.as_slice(),
            edge_ridge: e.weights.edge_ridge,
            pull_eps: eps * e.weights.pull,
        });
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `use_avx2` found AVX2 and FMA on this CPU.
            unsafe {
                sum3_avx2(a, b, c, sums);
                fit_row_avx2(sums, eps, er, row);
            }
            continue;
        }
        sum3(a, b, c, sums);
        fit_row(sums, eps, er, row);
    }
}

/// A run of at most [`LANES`] consecutive full-resolution columns, one per lane.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    x0: u32,
    n: u32,
    /// Its range of `UpsampleScratch::chunk_taps`.
    taps: (u32, u32),
}

/// One model column a chunk reads, with each lane's weight (the lerp's, 0 for a lane that does
/// not read it).
#[derive(Debug, Clone, Copy)]
struct ChunkTap {
    col: u32,
    weight: Lanes,
}

/// One model column two consecutive full chunks read (16 lanes: the first chunk's, then the
/// second's), each lane's weight as in its chunk's [`ChunkTap`] (0 where that chunk does not
/// read the column).
#[derive(Debug, Clone, Copy)]
struct WideTap {
    col: u32,
    weight: [f32; 2 * LANES],
}

/// Per-frame tables of the upsample, kept by the compositor between frames.
#[derive(Debug, Clone, Default)]
pub struct UpsampleScratch {
    /// Model size x `COEFFS`, row-major.
    coeffs: Vec<f32>,
    rows: Vec<Lerp>,
    chunks: Vec<Chunk>,
    chunk_taps: Vec<ChunkTap>,
    /// Per pair of chunks (`2 k`, `2 k + 1`), its range of `wide_taps` (empty unless both are
    /// full): the fused 8-bit row's 16-lane residual.
    wide: Vec<(u32, u32)>,
    wide_taps: Vec<WideTap>,
    /// (width, height, model width, model height) the row and chunk tables were made for.
    tables_for: Option<(u32, u32, u32, u32)>,
}

/// Chunks of `LANES` columns and the model columns each reads, in increasing order.
fn chunk_taps(w: u32, lw: u32, chunks: &mut Vec<Chunk>, taps: &mut Vec<ChunkTap>) {
    chunks.clear();
    taps.clear();
    for x0 in (0..w).step_by(LANES) {
        let n = (LANES as u32).min(w - x0);
        let start = taps.len();
        let mut lerps = [Lerp::default(); LANES];
        for (l, e) in lerps.iter_mut().take(n as usize).enumerate() {
            *e = lerp_at(x0 + l as u32, w, lw);
        }
        let lerps = &lerps[..n as usize];
        let (first, last) = (lerps[0].i0, lerps[n as usize - 1].i1);
        for col in first..=last {
            let mut weight = [0.0f32; LANES];
            for (l, e) in lerps.iter().enumerate() {
                if e.i0 == col {
                    weight[l] += 1.0 - e.f;
                }
                if e.i1 == col {
                    weight[l] += e.f;
                }
            }
            if weight.iter().any(|&v| v != 0.0) {
                taps.push(ChunkTap { col, weight });
            }
        }
        chunks.push(Chunk {
            x0,
            n,
            taps: (start as u32, taps.len() as u32),
        });
    }
}

/// The 16-lane taps of each pair of full chunks: the union of the two chunks' columns, in
/// increasing order. A lane's extra columns (weight 0) add exact zeros to its sums (a residual
/// sum starts at +0 and is never -0, and the coefficients are finite), so the 16-lane residual has
/// the 8-lane one's bits.
fn wide_taps(
    chunks: &[Chunk],
    taps: &[ChunkTap],
    wide: &mut Vec<(u32, u32)>,
    wide_taps: &mut Vec<WideTap>,
) {
    wide.clear();
    wide_taps.clear();
    for pair in chunks.chunks(2) {
        let start = wide_taps.len() as u32;
        if let [a, b] = pair {
            if a.n as usize == LANES && b.n as usize == LANES {
                let ta = &taps[a.taps.0 as usize..a.taps.1 as usize];
                let tb = &taps[b.taps.0 as usize..b.taps.1 as usize];
                let cols = ta.iter().chain(tb).map(|t| t.col);
                let (first, last) = (cols.clone().min(), cols.max());
                for col in first.unwrap_or(1)..=last.unwrap_or(0) {
                    let mut weight = [0.0f32; 2 * LANES];
                    for (half, list) in [ta, tb].into_iter().enumerate() {
                        if let Some(t) = list.iter().find(|t| t.col == col) {
                            weight[half * LANES..][..LANES].copy_from_slice(&t.weight);
                        }
                    }
                    if weight.iter().any(|&v| v != 0.0) {
                        wide_taps.push(WideTap { col, weight });
                    }
                }
            }
        }
        wide.push((start, wide_taps.len() as u32));
    }
}

/// One full-resolution row: `v` holds its coefficients at model width (lerped along y). Per chunk,
/// each model column's affine map is applied to every lane's perceptual guide colour and weighted
/// by the lane's lerp weight: broadcast coefficients, lane-wise arithmetic, no gathers.
#[inline(always)]
fn apply_row(v: &[f32], tables: (&[Chunk], &[ChunkTap]), grow: &[f32], orow: &mut [f32]) {
    let (chunks, chunk_taps) = tables;
    for chunk in chunks {
        apply_chunk(v, chunk, chunk_taps, grow, orow);
    }
}

/// [`apply_row`]'s work for one chunk.
#[inline(always)]
fn apply_chunk(v: &[f32], chunk: &Chunk, chunk_taps: &[ChunkTap], grow: &[f32], orow: &mut [f32]) {
    let (x0, n) = (chunk.x0 as usize, chunk.n as usize);
    let mut g = [[0.0f32; LANES]; 4];
    for (l, p) in grow[x0 * 4..(x0 + n) * 4].chunks_exact(4).enumerate() {
        for c in 0..4 {
            g[c][l] = p[c];
        }
    }
    let q: [Lanes; 3] = array_of(|c| lanes(|l| perceptual(g[c][l])));
    let mut res = [[0.0f32; LANES]; 3];
    for t in &chunk_taps[chunk.taps.0 as usize..chunk.taps.1 as usize] {
        let m = &v[t.col as usize * COEFFS..][..COEFFS];
        for k in 0..3 {
            let (a0, a1, a2, b) = (m[k * 4], m[k * 4 + 1], m[k * 4 + 2], m[k * 4 + 3]);
            for l in 0..LANES {
                // Fused multiply-adds, innermost first: the AVX2 build's operations (half the
                // instructions of separate products and sums), the same bits.
                let r = a0.mul_add(q[0][l], a1.mul_add(q[1][l], a2.mul_add(q[2][l], b)));
                res[k][l] = t.weight[l].mul_add(r, res[k][l]);
            }
        }
    }
    for (l, o) in orow[x0 * 4..(x0 + n) * 4].chunks_exact_mut(4).enumerate() {
        for c in 0..3 {
            o[c] = (g[c][l] + res[c][l]).max(0.0) - g[c][l];
        }
        o[3] = 1.0;
    }
}

/// [`apply_row`] written with AVX2 intrinsics: the 8 guide pixels of a chunk transposed into
/// channel registers with shuffles, the coefficients broadcast, the result transposed back.
/// The same operations in the same order as [`apply_chunk`] (its fused multiply-adds as FMA
/// instructions; division and square root are exact in both), so the same bits. A row's last,
/// partial chunk takes [`apply_chunk`].
///
/// # Safety
/// AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_row_avx2(
    v: &[f32],
    tables: (&[Chunk], &[ChunkTap]),
    grow: &[f32],
    orow: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (chunks, chunk_taps) = tables;
    let (zero, one) = (_mm256_setzero_ps(), _mm256_set1_ps(1.0));
    for chunk in chunks {
        let (x0, n) = (chunk.x0 as usize, chunk.n as usize);
        if n < LANES {
            apply_chunk(v, chunk, chunk_taps, grow, orow);
            continue;
        }
        let src = &grow[x0 * 4..(x0 + LANES) * 4];
        let dst = &mut orow[x0 * 4..(x0 + LANES) * 4];
        let g = super::lanes::avx2::planes_at(src.as_ptr(), 4);
        let q = [0, 1, 2].map(|c| {
            let p = _mm256_max_ps(g[c], zero);
            _mm256_sqrt_ps(_mm256_div_ps(p, _mm256_add_ps(one, p)))
        });
        let taps = &chunk_taps[chunk.taps.0 as usize..chunk.taps.1 as usize];
        let [o0, o1, o2] = residual_avx2(v, taps, [g[0], g[1], g[2]], q);
        let o = [o0, o1, o2, one];
        super::lanes::avx2::store_planes_at(o, dst.as_mut_ptr());
    }
}

/// One chunk's residual in AVX2, [`apply_chunk`]'s arithmetic in its order: each model column's
/// affine map applied to the perceptual guide colours `q`, weighted by the lanes' lerp weights and
/// summed, then `max(g + r, 0) - g` against the linear guide colours `g`.
///
/// # Safety
/// AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn residual_avx2(
    v: &[f32],
    taps: &[ChunkTap],
    g: [std::arch::x86_64::__m256; 3],
    q: [std::arch::x86_64::__m256; 3],
) -> [std::arch::x86_64::__m256; 3] {
    use std::arch::x86_64::*;
    let zero = _mm256_setzero_ps();
    let mut res = [zero; 3];
    for t in taps {
        let m = &v[t.col as usize * COEFFS..][..COEFFS];
        let w = _mm256_loadu_ps(t.weight.as_ptr());
        for (k, acc) in res.iter_mut().enumerate() {
            let a = |j: usize| _mm256_set1_ps(m[k * 4 + j]);
            let r = _mm256_fmadd_ps(a(2), q[2], a(3));
            let r = _mm256_fmadd_ps(a(1), q[1], r);
            let r = _mm256_fmadd_ps(a(0), q[0], r);
            *acc = _mm256_fmadd_ps(w, r, *acc);
        }
    }
    for (k, r) in res.iter_mut().enumerate() {
        *r = _mm256_sub_ps(_mm256_max_ps(_mm256_add_ps(g[k], *r), zero), g[k]);
    }
    res
}

/// The moments and box-sum loops compiled for AVX2 (the same source and operations, wider lanes;
/// no FMA, so the results are the baseline build's bit for bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn moments_box_x_avx2(orow: &[f32], nrow: &[f32], mom: &mut [f32], dst: &mut [f32], lw: usize) {
    moments_row(orow, nrow, mom);
    box_x(mom, dst, lw);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum3_avx2(a: &[f32], b: &[f32], c: &[f32], dst: &mut [f32]) {
    sum3(a, b, c, dst)
}

/// `out = top + f (bottom - top)`, element by element (one fused multiply-add): a
/// full-resolution row's coefficients from its two model rows.
#[inline(always)]
fn lerp_rows(top: &[f32], bottom: &[f32], f: f32, out: &mut [f32]) {
    for ((d, a), b) in out.iter_mut().zip(top).zip(bottom) {
        *d = f.mul_add(b - a, *a);
    }
}

/// [`lerp_rows`] compiled for AVX2 and FMA (the same operations: the same bits).
///
/// # Safety
/// AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lerp_rows_avx2(top: &[f32], bottom: &[f32], f: f32, out: &mut [f32]) {
    lerp_rows(top, bottom, f, out)
}

/// [`lerp_rows`] in 16 lanes (the same fused multiply-add per value: the same bits).
///
/// # Safety
/// AVX-512 F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn lerp_rows_avx512(top: &[f32], bottom: &[f32], f: f32, out: &mut [f32]) {
    lerp_rows(top, bottom, f, out)
}

thread_local! {
    /// A full-resolution row's coefficients at model width: its two model rows lerped along y.
    static ROW: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The fit's rows of moments and sums.
    static FIT: RefCell<FitRows> = RefCell::new(FitRows::default());
}

/// [`guided_upsample`] into `out` (resized to the guide), using `scratch` for the tables.
pub fn guided_upsample_into(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    scratch: &mut UpsampleScratch,
    out: &mut ImageF32,
) {
    upsample_with(guide, out_lr, in_lr, eps, None, scratch, out, use_avx2())
}

/// [`guided_upsample`] with the edge-aware fit (module header).
pub fn guided_upsample_edge_aware(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    edge: EdgeAware<'_>,
) -> ImageF32 {
    upsample_new(guide, out_lr, in_lr, eps, Some(edge))
}

/// A new full-resolution residual image, in the build the CPU runs.
fn upsample_new(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    edge: Option<EdgeAware<'_>>,
) -> ImageF32 {
    let mut out = ImageF32::new(guide.width, guide.height, 4);
    let scratch = &mut UpsampleScratch::default();
    upsample_with(
        guide,
        out_lr,
        in_lr,
        eps,
        edge,
        scratch,
        &mut out,
        use_avx2(),
    );
    out
}

/// One frame's fitted guided filter, ready to produce full-resolution rows: what
/// [`guided_upsample_into`] writes, one row at a time, for a consumer that uses each row while it
/// is in cache (the CPU compositor's temporal pass) instead of a full-resolution image.
pub struct GuidedRows<'a> {
    size: (u32, u32),
    coeffs: &'a [f32],
    rows: &'a [Lerp],
    tables: (&'a [Chunk], &'a [ChunkTap]),
    /// The 16-lane taps per pair of chunks (`wide_taps`).
    wide: (&'a [(u32, u32)], &'a [WideTap]),
    lw: usize,
    avx2: bool,
    /// The fused 8-bit row decodes its guide colours with AVX-512 VBMI byte permutes (only with
    /// `avx2`, where the CPU has them).
    vbmi: bool,
}

impl GuidedRows<'_> {
    /// The full-resolution size (the guide's).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Row `y`'s coefficients at model width (its two model rows lerped along y) into the
    /// thread's row, for `f`.
    fn with_coeffs<R>(&self, y: usize, f: impl FnOnce(&[f32]) -> R) -> R {
        let row_len = self.lw * COEFFS;
        let ry = &self.rows[y];
        ROW.with(|v| {
            let mut v = v.borrow_mut();
            v.resize(row_len, 0.0);
            let top = &self.coeffs[ry.i0 as usize * row_len..][..row_len];
            let bottom = &self.coeffs[ry.i1 as usize * row_len..][..row_len];
            #[cfg(target_arch = "x86_64")]
            if self.vbmi {
                // SAFETY: `use_vbmi` found AVX-512 F on this CPU, `use_avx2` FMA.
                unsafe { lerp_rows_avx512(top, bottom, ry.f, &mut v) };
                return f(&v);
            }
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: `use_avx2` found AVX2 and FMA on this CPU.
                unsafe { lerp_rows_avx2(top, bottom, ry.f, &mut v) };
                return f(&v);
            }
            lerp_rows(top, bottom, ry.f, &mut v);
            f(&v)
        })
    }

    /// Row `y` (`y` < height) of the result into `out` (`4 * width` floats) for the guide's row
    /// `grow` (linear RGBA, `4 * width` floats).
    pub fn row_into(&self, y: usize, grow: &[f32], out: &mut [f32]) {
        let w4 = self.size.0 as usize * 4;
        let (grow, orow) = (&grow[..w4], &mut out[..w4]);
        self.with_coeffs(y, |v| {
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: `use_avx2` found AVX2 and FMA on this CPU.
                unsafe { apply_row_avx2(v, self.tables, grow, orow) };
                return;
            }
            apply_row(v, self.tables, grow, orow);
        });
    }

    /// Row `y` of an 8-bit sRGB frame (`src`: the row's bytes, `src_bgr`: blue first) with the
    /// result blended at `strength` and encoded to `format` (8-bit) into `out`: the bytes of
    /// [`Self::row_into`] on the decoded row, then `blend::blend_encode_row`. Where the CPU has
    /// AVX2 the three run fused on 8 pixels at a time in registers: the guide's linear and
    /// perceptual colours by table (no square root or division per pixel), no row of floats
    /// written; with AVX-512 VBMI, 16 pixels at a time through byte-permute lookups, the encoder
    /// without gathers (`blend::vbmi`). `buf` is scratch for the other builds.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_srgb8_row(
        &self,
        y: usize,
        src: &[u8],
        src_bgr: bool,
        strength: f32,
        format: ColorFormat,
        out: &mut [u8],
        buf: &mut Vec<f32>,
    ) {
        let w = self.size.0 as usize;
        let out_bgr = match format {
            ColorFormat::Rgba8Srgb => false,
            ColorFormat::Bgra8Srgb => true,
            ColorFormat::Rgba16Float | ColorFormat::Rgba32Float => {
                return self.encode_srgb8_row_unfused(y, src, src_bgr, strength, format, out, buf)
            }
        };
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            let (src, out) = (&src[..w * 4], &mut out[..w * 4]);
            let s = blend_strength(strength);
            self.with_coeffs(y, |v| {
                if self.vbmi {
                    // SAFETY: `use_vbmi` found AVX-512 F, BW, VL and VBMI and `use_avx2` AVX2
                    // on this CPU; both rows hold `w` pixels.
                    unsafe {
                        apply_encode_srgb8_vbmi(
                            v,
                            self.tables,
                            self.wide,
                            src,
                            src_bgr,
                            s,
                            out_bgr,
                            out,
                        )
                    }
                } else {
                    // SAFETY: `use_avx2` found AVX2 and FMA on this CPU; both rows hold `w` pixels.
                    unsafe {
                        apply_encode_srgb8_avx2(v, self.tables, src, src_bgr, s, out_bgr, out)
                    }
                }
            });
            return;
        }
        let _ = out_bgr;
        self.encode_srgb8_row_unfused(y, src, src_bgr, strength, format, out, buf)
    }

    /// [`Self::encode_srgb8_row`] pass by pass: decode, apply, blend and encode.
    #[allow(clippy::too_many_arguments)]
    fn encode_srgb8_row_unfused(
        &self,
        y: usize,
        src: &[u8],
        src_bgr: bool,
        strength: f32,
        format: ColorFormat,
        out: &mut [u8],
        buf: &mut Vec<f32>,
    ) {
        let w4 = self.size.0 as usize * 4;
        buf.resize(2 * w4, 0.0);
        let (grow, res) = buf.split_at_mut(w4);
        super::decode::srgb8_row_to_linear(&src[..w4], src_bgr, grow);
        self.row_into(y, grow, res);
        blend_encode_row(grow, Some(res), strength, format, out);
    }
}

/// [`GuidedRows::encode_srgb8_row`]'s fused AVX2 build: per chunk of 8 pixels, the bytes' channels
/// gathered from the decode and perceptual tables, [`apply_row_avx2`]'s arithmetic, then
/// `blend::blend_encode_srgb8_avx2`'s, in the same order (the same bytes). A row's last, partial
/// chunk goes pass by pass through the baseline builds.
///
/// # Safety
/// AVX2 and FMA; `src` and `out` hold the row's pixels (4 bytes each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_encode_srgb8_avx2(
    v: &[f32],
    tables: (&[Chunk], &[ChunkTap]),
    src: &[u8],
    src_bgr: bool,
    s: f32,
    out_bgr: bool,
    out: &mut [u8],
) {
    use std::arch::x86_64::*;
    let (chunks, chunk_taps) = tables;
    let byte = super::decode::tables();
    let (lin, ptab) = (&byte.srgb, perceptual_table());
    let enc = super::blend::avx2::Srgb8::new();
    // The source's red and blue bytes; the output's byte order.
    let (rs, bs) = if src_bgr { (2, 0) } else { (0, 2) };
    let order = if out_bgr { [2, 1, 0] } else { [0, 1, 2] };
    let format = if out_bgr {
        ColorFormat::Bgra8Srgb
    } else {
        ColorFormat::Rgba8Srgb
    };
    for chunk in chunks {
        let (x0, n) = (chunk.x0 as usize, chunk.n as usize);
        if n < LANES {
            let mut g = [0.0f32; 4 * LANES];
            let mut r = [0.0f32; 4 * LANES];
            super::decode::srgb8_row_to_linear(&src[x0 * 4..(x0 + n) * 4], src_bgr, &mut g);
            let local = Chunk { x0: 0, ..*chunk };
            apply_chunk(v, &local, chunk_taps, &g, &mut r);
            let px = 4 * n;
            blend_encode_row(
                &g[..px],
                Some(&r[..px]),
                s,
                format,
                &mut out[4 * x0..][..px],
            );
            continue;
        }
        // The channels by scalar table loads into lane arrays: cheaper here than gathers.
        let bytes = &src[4 * x0..][..4 * LANES];
        let mut soa = [[0.0f32; LANES]; 6];
        for l in 0..LANES {
            let p = &bytes[4 * l..][..4];
            let (r, gg, b) = (p[rs] as usize, p[1] as usize, p[bs] as usize);
            soa[0][l] = lin[r];
            soa[1][l] = lin[gg];
            soa[2][l] = lin[b];
            soa[3][l] = ptab[r];
            soa[4][l] = ptab[gg];
            soa[5][l] = ptab[b];
        }
        let ld = |i: usize| _mm256_loadu_ps(soa[i].as_ptr());
        let g = [ld(0), ld(1), ld(2)];
        let q = [ld(3), ld(4), ld(5)];
        let taps = &chunk_taps[chunk.taps.0 as usize..chunk.taps.1 as usize];
        // The blend keeps the input's alpha, and an 8-bit alpha encodes back to its own byte
        // (`alpha_bytes_round_trip`): the source's alpha bits as they are.
        let alpha = _mm256_and_si256(
            _mm256_loadu_si256(bytes.as_ptr() as *const __m256i),
            _mm256_set1_epi32(0xff00_0000u32 as i32),
        );
        let c = blend_chunk_avx2(v, taps, g, q, s);
        let px = enc.pixels_with_alpha(c[order[0]], c[order[1]], c[order[2]], alpha);
        _mm256_storeu_si256(out.as_mut_ptr().add(4 * x0) as *mut __m256i, px);
    }
}

/// One full chunk of the fused 8-bit row from its guide's linear (`g`) and perceptual (`q`)
/// colours: [`residual_avx2`], then the blend's `g + s residual` (the colours to encode).
///
/// # Safety
/// AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn blend_chunk_avx2(
    v: &[f32],
    taps: &[ChunkTap],
    g: [std::arch::x86_64::__m256; 3],
    q: [std::arch::x86_64::__m256; 3],
    s: f32,
) -> [std::arch::x86_64::__m256; 3] {
    use std::arch::x86_64::*;
    let res = residual_avx2(v, taps, g, q);
    let sv = _mm256_set1_ps(s);
    let mut c = g;
    for k in 0..3 {
        let o = res[k];
        if s >= 1.0 {
            c[k] = _mm256_add_ps(g[k], o);
        } else if s > 0.0 {
            c[k] = _mm256_add_ps(g[k], _mm256_mul_ps(o, sv));
        }
    }
    c
}

/// The decode and perceptual tables as byte planes for [`apply_encode_srgb8_vbmi`].
fn guide_luts() -> &'static [super::byte_lut::ByteLut; 2] {
    static L: OnceLock<[super::byte_lut::ByteLut; 2]> = OnceLock::new();
    L.get_or_init(|| {
        [
            super::byte_lut::ByteLut::new(&super::decode::tables().srgb),
            super::byte_lut::ByteLut::new(perceptual_table()),
        ]
    })
}

/// [`blend_chunk_avx2`] of two consecutive full chunks in 16 lanes (`taps`: their [`WideTap`]s):
/// the same operations per lane, in the same order.
///
/// # Safety
/// AVX2, FMA and AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
#[inline]
unsafe fn blend_x16(
    v: &[f32],
    taps: &[WideTap],
    g: [std::arch::x86_64::__m512; 3],
    q: [std::arch::x86_64::__m512; 3],
    s: f32,
) -> [std::arch::x86_64::__m512; 3] {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_ps();
    let mut res = [zero; 3];
    for t in taps {
        let m = &v[t.col as usize * COEFFS..][..COEFFS];
        let w = _mm512_loadu_ps(t.weight.as_ptr());
        for k in 0..3 {
            let r = _mm512_fmadd_ps(
                _mm512_set1_ps(m[k * 4 + 2]),
                q[2],
                _mm512_set1_ps(m[k * 4 + 3]),
            );
            let r = _mm512_fmadd_ps(_mm512_set1_ps(m[k * 4 + 1]), q[1], r);
            let r = _mm512_fmadd_ps(_mm512_set1_ps(m[k * 4]), q[0], r);
            res[k] = _mm512_fmadd_ps(w, r, res[k]);
        }
    }
    let sv = _mm512_set1_ps(s);
    let mut c = g;
    for k in 0..3 {
        let o = _mm512_sub_ps(_mm512_max_ps(_mm512_add_ps(g[k], res[k]), zero), g[k]);
        if s >= 1.0 {
            c[k] = _mm512_add_ps(g[k], o);
        } else if s > 0.0 {
            c[k] = _mm512_add_ps(g[k], _mm512_mul_ps(o, sv));
        }
    }
    c
}

/// Pixels per block of [`apply_encode_srgb8_vbmi`]: eight full chunks.
const BLOCK: usize = 8 * LANES;

/// [`apply_encode_srgb8_avx2`] 64 pixels (eight full chunks) at a time: the 256 source bytes
/// permuted into one register of 64 bytes per channel (red, green, blue), each table's byte-plane
/// lookup (`byte_lut::vbmi::lookup_dealt`) gives the three channels' linear and perceptual values,
/// each pair of chunks' residual and blend run in 16 lanes ([`blend_x16`]: the AVX2 build's
/// operations over the union of their model columns), and the 64 blended pixels are encoded
/// together without table gathers (`blend::vbmi::srgb3x64`). Each table is read once
/// per block: looked up 16 pixels at a time, the three tables (48 registers) did not stay in
/// registers and were reloaded whole per lookup, and a quarter of each lookup was the alpha
/// bytes'. Chunks outside a block as in the AVX2 build. The same table values, arithmetic and
/// bytes. No closures in the loop: they were not inlined into this target-feature function (perf
/// showed one at 14 % of the samples).
///
/// # Safety
/// AVX2, FMA and AVX-512 F, BW, VL and VBMI; `src` and `out` hold the row's pixels (4 bytes each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vbmi")]
#[allow(clippy::too_many_arguments)]
unsafe fn apply_encode_srgb8_vbmi(
    v: &[f32],
    tables: (&[Chunk], &[ChunkTap]),
    (wide, wide_taps): (&[(u32, u32)], &[WideTap]),
    src: &[u8],
    src_bgr: bool,
    s: f32,
    out_bgr: bool,
    out: &mut [u8],
) {
    use std::arch::x86_64::*;

    use super::byte_lut::vbmi;
    let (chunks, chunk_taps) = tables;
    let [lin_lut, per_lut] = guide_luts();
    let order = if out_bgr { [2, 1, 0] } else { [0, 1, 2] };
    // Byte 16 c + p of the permuted pixels: channel c (red, green, blue, alpha) of pixel p.
    let (rs, bs) = if src_bgr { (2u8, 0u8) } else { (0, 2) };
    let perm: [u8; 64] = std::array::from_fn(|i| {
        let (c, p) = (i / 16, (i % 16) as u8);
        4 * p + [rs, 1, bs, 3][c]
    });
    let perm = _mm512_loadu_si512(perm.as_ptr() as *const _);
    let alpha_bits = _mm512_set1_epi32(0xff00_0000u32 as i32);
    let mut i = 0;
    while i < chunks.len() {
        let x0 = chunks[i].x0 as usize;
        // Even `i`: the block's pairs of chunks are `wide`'s.
        let block = i % 2 == 0
            && chunks.get(i..i + BLOCK / LANES).is_some_and(|b| {
                b.iter()
                    .enumerate()
                    .all(|(j, c)| c.n as usize == LANES && c.x0 as usize == x0 + j * LANES)
            });
        if !block {
            apply_encode_srgb8_avx2(
                v,
                (std::slice::from_ref(&chunks[i]), chunk_taps),
                src,
                src_bgr,
                s,
                out_bgr,
                out,
            );
            i += 1;
            continue;
        }
        let base = src.as_ptr().add(4 * x0);
        // The frame's row comes from memory (the preprocessor read it long before): each of the
        // block's four lines is prefetched 2 KB ahead rather than left to the hardware's stream
        // detection, which restarts at every 4 KB page (perf put 8 % of this loop on these loads).
        let ahead = base.wrapping_add(super::resample::PREFETCH_BYTES);
        for m in 0..4 {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * m) as *const i8);
        }
        let mut raw = [_mm512_setzero_si512(); 4];
        let mut p = raw;
        for m in 0..4 {
            raw[m] = _mm512_loadu_si512(base.add(64 * m) as *const _);
            p[m] = _mm512_permutexvar_epi8(perm, raw[m]);
        }
        // Each group of 16 pixels as channel planes (128-bit lanes red, green, blue, alpha), then
        // a 4x4 transpose of those lanes: one register per channel, pixels in order.
        let t0 = _mm512_shuffle_i32x4::<0x44>(p[0], p[1]);
        let t1 = _mm512_shuffle_i32x4::<0x44>(p[2], p[3]);
        let t2 = _mm512_shuffle_i32x4::<0xEE>(p[0], p[1]);
        let t3 = _mm512_shuffle_i32x4::<0xEE>(p[2], p[3]);
        let rgb = [
            _mm512_shuffle_i32x4::<0x88>(t0, t1),
            _mm512_shuffle_i32x4::<0xDD>(t0, t1),
            _mm512_shuffle_i32x4::<0x88>(t2, t3),
        ];
        let dealt = [vbmi::deal(rgb[0]), vbmi::deal(rgb[1]), vbmi::deal(rgb[2])];
        let g = vbmi::lookup_dealt(lin_lut, dealt);
        let q = vbmi::lookup_dealt(per_lut, dealt);
        // Per group of 16 pixels (two chunks): the residual and blend in 16 lanes.
        let mut x = [[_mm512_setzero_ps(); 4]; 3];
        for m in 0..4 {
            let (t0, t1) = wide[i / 2 + m];
            let taps = &wide_taps[t0 as usize..t1 as usize];
            let gm = [g[0][m], g[1][m], g[2][m]];
            let qm = [q[0][m], q[1][m], q[2][m]];
            let c = blend_x16(v, taps, gm, qm, s);
            for k in 0..3 {
                x[k][m] = c[order[k]];
            }
        }
        let b = super::blend::vbmi::srgb3x64(x);
        // The three byte planes dealt and interleaved: register m holds pixels 16 m .. 16 m + 16
        // as RGB(A) words (alpha 0), beside the source's alpha bits as they are (see
        // `apply_encode_srgb8_avx2`).
        let zero = _mm512_setzero_si512();
        let px = vbmi::words([vbmi::deal(b[0]), vbmi::deal(b[1]), vbmi::deal(b[2]), zero]);
        let dst = out.as_mut_ptr().add(4 * x0);
        for m in 0..4 {
            let a = _mm512_and_si512(raw[m], alpha_bits);
            let px = _mm512_or_si512(_mm512_castps_si512(px[m]), a);
            _mm512_storeu_si512(dst.add(64 * m) as *mut _, px);
        }
        i += BLOCK / LANES;
    }
}

/// Fit the guided filter of `out_lr - in_lr` (model size) for the full-resolution `guide`, into
/// `scratch`: the coefficients and the per-size tables. None when a size is zero. `edge`: the
/// edge-aware fit (module header); an edge plane of another size than the model's is not used.
pub fn guided_rows<'a>(
    size: (u32, u32),
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    edge: Option<EdgeAware<'_>>,
    scratch: &'a mut UpsampleScratch,
) -> Option<GuidedRows<'a>> {
    guided_rows_with(size, out_lr, in_lr, eps, edge, scratch, use_avx2())
}

/// `edge` as the fit uses it: present when its plane has the model's size (1 channel) and its
/// sanitized weights differ from the plain fit's.
fn usable_edge<'a>(edge: Option<EdgeAware<'a>>, model: &ImageF32) -> Option<EdgeAware<'a>> {
    edge.filter(|e| e.edges.has_shape(model.width, model.height, 1))
        .map(|e| EdgeAware {
            weights: e.weights.sanitized(),
            ..e
        })
        .filter(|e| e.weights.is_on())
}

fn guided_rows_with<'a>(
    (w, h): (u32, u32),
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    edge: Option<EdgeAware<'_>>,
    scratch: &'a mut UpsampleScratch,
    avx2: bool,
) -> Option<GuidedRows<'a>> {
    let (lw, lh) = (out_lr.width as usize, out_lr.height as usize);
    if w == 0 || h == 0 || lw == 0 || lh == 0 {
        return None;
    }
    let eps = clamp_eps(eps);
    let edge = usable_edge(edge, out_lr);
    // 1. The fit per model row, in bands of rows: each row's moments, their 3x3 sums, the solve.
    scratch.coeffs.resize(lw * lh * COEFFS, 0.0);
    scratch
        .coeffs
        .par_chunks_mut(FIT_BAND * lw * COEFFS)
        .enumerate()
        .for_each(|(band, rows)| {
            FIT.with(|f| {
                fit_band(
                    out_lr,
                    in_lr,
                    eps,
                    edge,
                    band * FIT_BAND,
                    rows,
                    &mut f.borrow_mut(),
                    avx2,
                )
            })
        });
    // 2. The apply's tables (they depend only on the sizes).
    let key = (w, h, lw as u32, lh as u32);
    if scratch.tables_for != Some(key) {
        scratch.rows.clear();
        scratch
            .rows
            .extend((0..h).map(|y| lerp_at(y, h, lh as u32)));
        chunk_taps(w, lw as u32, &mut scratch.chunks, &mut scratch.chunk_taps);
        wide_taps(
            &scratch.chunks,
            &scratch.chunk_taps,
            &mut scratch.wide,
            &mut scratch.wide_taps,
        );
        scratch.tables_for = Some(key);
    }
    Some(GuidedRows {
        size: (w, h),
        coeffs: &scratch.coeffs,
        rows: &scratch.rows,
        tables: (&scratch.chunks, &scratch.chunk_taps),
        wide: (&scratch.wide, &scratch.wide_taps),
        lw,
        avx2,
        vbmi: avx2 && super::byte_lut::use_vbmi(),
    })
}

#[allow(clippy::too_many_arguments)]
fn upsample_with(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
    edge: Option<EdgeAware<'_>>,
    scratch: &mut UpsampleScratch,
    out: &mut ImageF32,
    avx2: bool,
) {
    let (w, h) = (guide.width, guide.height);
    ensure_shape(out, w, h, 4);
    if guide.data.len() < w as usize * h as usize * 4 {
        return;
    }
    let Some(rows) = guided_rows_with((w, h), out_lr, in_lr, eps, edge, scratch, avx2) else {
        return;
    };
    let w4 = w as usize * 4;
    out.data
        .par_chunks_mut(w4)
        .enumerate()
        .for_each(|(y, orow)| rows.row_into(y, &guide.data[y * w4..][..w4], orow));
}

/// The full-res residual `max(guide + r, 0) - guide` (alpha 1), r = the guided filter of
/// `out_lr - in_lr` (fitted at model size, applied to the full-res guide; see the module header). `guide` is full res, `out_lr`
/// and `in_lr` share the model size; all 4-channel linear RGB. `out_lr` alpha is a validity weight
/// (0 = invalid tap).
pub fn guided_upsample(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    eps: f32,
) -> ImageF32 {
    upsample_new(guide, out_lr, in_lr, eps, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guide with edges and noise, model images with invalid taps; sizes that leave partial
    /// blocks, a downsample and 1-pixel model sizes.
    fn inputs(w: u32, h: u32, lw: u32, lh: u32) -> (ImageF32, ImageF32, ImageF32) {
        let mut seed = 0x2545_f491u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32
        };
        let mut guide = ImageF32::new(w, h, 4);
        for (i, v) in guide.data.iter_mut().enumerate() {
            let x = (i / 4) as u32 % w;
            *v = if x < w / 3 { 0.1 } else { 0.9 } + 0.2 * rnd();
        }
        let mut out_lr = ImageF32::new(lw, lh, 4);
        let mut in_lr = ImageF32::new(lw, lh, 4);
        for v in out_lr.data.iter_mut().chain(in_lr.data.iter_mut()) {
            *v = 1.5 * rnd();
        }
        for k in [1usize, 5, 9] {
            out_lr.data[(k % (lw * lh) as usize) * 4 + 3] = 0.0;
        }
        (guide, out_lr, in_lr)
    }

    /// A model-size edge plane: a vertical line of edges at a third of the width and a few
    /// scattered ones (1-pixel sizes: none).
    fn edge_plane(lw: u32, lh: u32) -> ImageF32 {
        let mut e = ImageF32::new(lw, lh, 1);
        if lw > 2 {
            for y in 0..lh {
                e.data[(y * lw + lw / 3) as usize] = 1.0;
            }
            for k in [7usize, 23, 41] {
                let i = (k * 13) % (lw * lh) as usize;
                e.data[i] = 1.0;
            }
        }
        e
    }

    /// The module header's formula per pixel, in f64 (Gaussian elimination, not Cholesky).
    /// `edge`: the edge-aware fit's plane and ridge factor (the module header's prior, written out
    /// here from its definition: the look's gain minus one times dc/dP at the means).
    #[allow(clippy::too_many_arguments)]
    fn formula(
        g: &ImageF32,
        o: &ImageF32,
        n: &ImageF32,
        eps: f64,
        edge: Option<(&ImageF32, f64, f64)>,
        x: u32,
        y: u32,
    ) -> [f64; 3] {
        let (w, h, lw, lh) = (g.width, g.height, o.width as i32, o.height as i32);
        let on_edge = |mx: i32, my: i32| {
            edge.is_some_and(|(e, _, _)| {
                (-1..=1).any(|dy| {
                    (-1..=1).any(|dx| {
                        let (ex, ey) = ((mx + dx).clamp(0, lw - 1), (my + dy).clamp(0, lh - 1));
                        e.data[(ey * lw + ex) as usize] > 0.5
                    })
                })
            })
        };
        let p = |c: f32| {
            let c = c.max(0.0) as f64;
            (c / (1.0 + c)).sqrt()
        };
        let coeffs = |mx: i32, my: i32| -> [[f64; 4]; 3] {
            let (mut sw, mut s) = (0.0, vec![[0.0f64; 7]; 0]);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let t = (((my + dy).clamp(0, lh - 1) * lw + (mx + dx).clamp(0, lw - 1)) * 4)
                        as usize;
                    let v = o.data[t + 3].clamp(0.0, 1.0) as f64;
                    sw += v;
                    let mut e = [0.0; 7];
                    for c in 0..3 {
                        e[c] = p(n.data[t + c]);
                        e[3 + c] = (o.data[t + c] - n.data[t + c]) as f64;
                    }
                    e[6] = v;
                    s.push(e);
                }
            }
            if sw < 1e-6 {
                return [[0.0; 4]; 3];
            }
            let mean =
                |f: &dyn Fn(&[f64; 7]) -> f64| s.iter().map(|e| e[6] * f(e)).sum::<f64>() / sw;
            let mi: [f64; 3] = std::array::from_fn(|i| mean(&|e| e[i]));
            let mr: [f64; 3] = std::array::from_fn(|k| mean(&|e| e[3 + k]));
            let mut m = [[0.0f64; 4]; 3]; // rows: [C | x_k] per k below
            let on = on_edge(mx, my);
            let ridge = match edge {
                Some((_, f, _)) if on => eps * f,
                _ => eps,
            };
            let c: [[f64; 3]; 3] = std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    mean(&|e| e[i] * e[j]) - mi[i] * mi[j] + if i == j { ridge } else { 0.0 }
                })
            });
            for k in 0..3 {
                // Off the edges the pull toward the look's gain: t = mean(r) / c(mean P)
                // (clamped), c(p) = p^2 / (1 - p^2), times dc/dp = 2p / (1 - p^2)^2.
                let pull = match edge {
                    Some((_, _, weight)) if !on => {
                        let p2 = mi[k] * mi[k];
                        let q = (1.0 - p2).max(1e-4);
                        let t = (mr[k] / (p2.max(1e-12) / q)).clamp(-1.0, 1.0);
                        weight * eps * 2.0 * t * mi[k] / (q * q)
                    }
                    _ => 0.0,
                };
                // Gaussian elimination on [C | cov(P, r_k) + pull].
                let mut a: [[f64; 4]; 3] = std::array::from_fn(|i| {
                    let xk = mean(&|e| e[i] * e[3 + k]) - mi[i] * mr[k]
                        + if i == k { pull } else { 0.0 };
                    [c[i][0], c[i][1], c[i][2], xk]
                });
                for col in 0..3 {
                    let piv = (col..3)
                        .max_by(|&u, &v| a[u][col].abs().total_cmp(&a[v][col].abs()))
                        .unwrap();
                    a.swap(col, piv);
                    for r in 0..3 {
                        if r != col {
                            let f = a[r][col] / a[col][col];
                            let pivot_row = a[col];
                            for (v, p) in a[r].iter_mut().zip(pivot_row) {
                                *v -= f * p;
                            }
                        }
                    }
                }
                let sol: [f64; 3] = std::array::from_fn(|i| a[i][3] / a[i][i]);
                let b = mr[k] - (0..3).map(|i| sol[i] * mi[i]).sum::<f64>();
                m[k] = [sol[0], sol[1], sol[2], b];
            }
            m
        };
        let at = |x: u32, n: u32, ln: i32| {
            let u = ((x as f64 + 0.5) * ln as f64 / n as f64 - 0.5).clamp(0.0, (ln - 1) as f64);
            let i0 = u.floor() as i32;
            (i0, (i0 + 1).min(ln - 1), u - i0 as f64)
        };
        let (x0, x1, fx) = at(x, w, lw);
        let (y0, y1, fy) = at(y, h, lh);
        let (c00, c01, c10, c11) = (
            coeffs(x0, y0),
            coeffs(x1, y0),
            coeffs(x0, y1),
            coeffs(x1, y1),
        );
        let i = ((y * w + x) * 4) as usize;
        let q = [p(g.data[i]), p(g.data[i + 1]), p(g.data[i + 2]), 1.0];
        std::array::from_fn(|k| {
            let res: f64 = (0..4)
                .map(|j| {
                    let top = c00[k][j] + fx * (c01[k][j] - c00[k][j]);
                    let bot = c10[k][j] + fx * (c11[k][j] - c10[k][j]);
                    (top + fy * (bot - top)) * q[j]
                })
                .sum();
            (g.data[i + k] as f64 + res).max(0.0) - g.data[i + k] as f64
        })
    }

    #[test]
    fn computes_the_guided_filter_formula() {
        for (w, h, lw, lh) in [
            (61, 47, 16, 12),
            (100, 30, 7, 5),
            (13, 9, 31, 20),
            (9, 7, 1, 1),
        ] {
            let (g, o, n) = inputs(w, h, lw, lh);
            let e = edge_plane(lw, lh);
            for (eps, edge) in [
                (1e-3f32, None),
                (1e-2, None),
                (0.3, None),
                (1e-3, Some((3.0f32, 1.0f32))),
                (1e-2, Some((10.0, 1.0))),
                (1e-3, Some((2.0, 0.4))),
            ] {
                let out = match edge {
                    None => guided_upsample(&g, &o, &n, eps),
                    Some((f, p)) => guided_upsample_edge_aware(
                        &g,
                        &o,
                        &n,
                        eps,
                        EdgeAware {
                            edges: &e,
                            weights: EdgeWeights {
                                edge_ridge: f,
                                pull: p,
                            },
                        },
                    ),
                };
                let mut worst = 0.0f64;
                for y in 0..h {
                    for x in 0..w {
                        let want = formula(
                            &g,
                            &o,
                            &n,
                            eps as f64,
                            edge.map(|(f, p)| (&e, f as f64, p as f64)),
                            x,
                            y,
                        );
                        let i = ((y * w + x) * 4) as usize;
                        for (c, want) in want.iter().enumerate() {
                            worst = worst.max((out.data[i + c] as f64 - want).abs());
                        }
                        assert_eq!(out.data[i + 3], 1.0);
                    }
                }
                // f32 normal equations against f64 elimination; values ~1.
                assert!(
                    worst < 2e-3,
                    "{w}x{h} from {lw}x{lh}, eps {eps}, edge ridge {edge:?}: off by {worst}"
                );
            }
        }
    }

    /// Under a look that darkens a flat neighbourhood by a gain, the frame's fine texture (a
    /// 1-pixel checker the model's size cannot see) is scaled by that gain with the edge-aware fit
    /// off the edges, and passes at its own amplitude with the plain fit; on an edge the fit is the
    /// plain one at `eps * edge_ridge`, bit for bit.
    #[test]
    fn edge_aware_fit_scales_texture_by_the_looks_gain_and_keeps_edges() {
        let (w, h, lw, lh) = (64u32, 48u32, 8u32, 6u32);
        let (amp, base, gain) = (0.04f32, 0.5f32, 0.2f32);
        let mut guide = ImageF32::new(w, h, 4);
        for y in 0..h {
            for x in 0..w {
                let v = if (x + y) % 2 == 0 {
                    base + amp
                } else {
                    base - amp
                };
                let i = ((y * w + x) * 4) as usize;
                guide.data[i..i + 4].copy_from_slice(&[v, v, v, 1.0]);
            }
        }
        let mut in_lr = ImageF32::new(lw, lh, 4);
        let mut out_lr = ImageF32::new(lw, lh, 4);
        for (i, o) in in_lr
            .data
            .chunks_exact_mut(4)
            .zip(out_lr.data.chunks_exact_mut(4))
        {
            i.copy_from_slice(&[base, base, base, 1.0]);
            o.copy_from_slice(&[gain * base, gain * base, gain * base, 1.0]);
        }
        // The picture's checker amplitude at the centre (guide + residual).
        let amplitude = |res: &ImageF32| {
            let at = |x: u32, y: u32| {
                let i = ((y * w + x) * 4) as usize;
                guide.data[i] + res.data[i]
            };
            (at(w / 2, h / 2) - at(w / 2 + 1, h / 2)).abs() / 2.0
        };
        let none = ImageF32::new(lw, lh, 1);
        let flat = EdgeAware {
            edges: &none,
            weights: EdgeWeights {
                edge_ridge: 3.0,
                pull: 1.0,
            },
        };
        let plain = amplitude(&guided_upsample(&guide, &out_lr, &in_lr, 1e-3));
        let aware = amplitude(&guided_upsample_edge_aware(
            &guide, &out_lr, &in_lr, 1e-3, flat,
        ));
        assert!(
            (plain / amp - 1.0).abs() < 0.05,
            "plain fit: {plain} of {amp}"
        );
        assert!(
            (aware / (gain * amp) - 1.0).abs() < 0.2,
            "edge-aware fit: {aware}, the look's gain gives {}",
            gain * amp
        );
        // Everything an edge: the plain fit with the ridge times edge_ridge.
        let mut all = ImageF32::new(lw, lh, 1);
        all.data.fill(1.0);
        let (g, o, n) = inputs(61, 47, 16, 12);
        let mut all16 = ImageF32::new(16, 12, 1);
        all16.data.fill(1.0);
        let weights = EdgeWeights {
            edge_ridge: 10.0,
            pull: 1.0,
        };
        let on = EdgeAware {
            edges: &all16,
            weights,
        };
        let a = guided_upsample_edge_aware(&g, &o, &n, 1e-3, on);
        let b = guided_upsample(&g, &o, &n, 1e-3 * 10.0);
        assert!(same_bits(&a, &b));
        // An edge plane of another size is not used.
        let wrong = EdgeAware {
            edges: &all,
            weights,
        };
        let c = guided_upsample_edge_aware(&g, &o, &n, 1e-3, wrong);
        let d = guided_upsample(&g, &o, &n, 1e-3);
        assert!(same_bits(&c, &d));
        // Weights that are the plain fit's (a prompt with no weight on an edge-aware preset).
        let off = EdgeAware {
            edges: &all16,
            weights: EdgeWeights::OFF,
        };
        let c = guided_upsample_edge_aware(&g, &o, &n, 1e-3, off);
        assert!(same_bits(&c, &d));
    }

    fn same_bits(a: &ImageF32, b: &ImageF32) -> bool {
        a.data.len() == b.data.len()
            && a.data
                .iter()
                .zip(&b.data)
                .all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn both_builds_give_the_same_bits() {
        for (w, h, lw, lh) in [(61, 47, 16, 12), (100, 30, 7, 5), (13, 9, 31, 20)] {
            let (g, mut o, n) = inputs(w, h, lw, lh);
            // A corner of model pixels without a valid tap: fits that fall back to no change.
            for y in 0..lh.min(4) {
                for x in 0..lw.min(6) {
                    o.data[((y * lw + x) * 4 + 3) as usize] = 0.0;
                }
            }
            let e = edge_plane(lw, lh);
            let aware = |edge_ridge, pull| EdgeAware {
                edges: &e,
                weights: EdgeWeights { edge_ridge, pull },
            };
            for edge in [None, Some(aware(3.0, 1.0)), Some(aware(2.0, 0.3))] {
                let outs: Vec<ImageF32> = [false, use_avx2()]
                    .into_iter()
                    .map(|avx2| {
                        let mut out = ImageF32::new(0, 0, 4);
                        let mut scratch = UpsampleScratch::default();
                        upsample_with(&g, &o, &n, 1e-3, edge, &mut scratch, &mut out, avx2);
                        out
                    })
                    .collect();
                assert!(
                    same_bits(&outs[0], &outs[1]),
                    "{w}x{h} from {lw}x{lh}, edge-aware {}: the AVX2 build differs",
                    edge.is_some()
                );
            }
        }
    }

    /// 8-bit frames: the fused AVX2 apply-blend-encode gives the bytes of the baseline build's
    /// pass-by-pass path (decode, apply, blend, encode), for both byte orders in and out, three
    /// strengths and widths with a partial last chunk; and the perceptual table holds the
    /// computed values.
    #[test]
    fn the_fused_8_bit_row_gives_the_pass_by_pass_bytes() {
        let lin = &super::super::decode::tables().srgb;
        for (b, &v) in perceptual_table().iter().enumerate() {
            assert_eq!(v.to_bits(), perceptual(lin[b]).to_bits(), "byte {b}");
        }
        let mut seed = 0x2545_f491u32;
        let mut byte = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8
        };
        // Widths from one chunk to several 64-pixel blocks of the VBMI build and a tail, model
        // widths from a few columns per chunk to more than one per pixel.
        let sizes = [
            (61u32, 23u32, 16u32, 12u32),
            (37, 9, 7, 5),
            (8, 4, 3, 2),
            (64, 3, 9, 2),
            (200, 5, 29, 4),
            (136, 3, 150, 3),
        ];
        for (w, h, lw, lh) in sizes {
            let src: Vec<u8> = (0..w * h * 4).map(|_| byte()).collect();
            let (_, o, n) = inputs(w, h, lw, lh);
            for (src_bgr, format, strength) in [
                (false, ColorFormat::Rgba8Srgb, 1.0),
                (true, ColorFormat::Rgba8Srgb, 0.5),
                (false, ColorFormat::Bgra8Srgb, 0.0),
                (true, ColorFormat::Bgra8Srgb, 1.0),
                (false, ColorFormat::Rgba32Float, 0.7),
            ] {
                let bpp = format.bytes_per_pixel();
                // (AVX2, VBMI): the baseline, the AVX2 build and, where the CPU has it, the VBMI one.
                let run = |(avx2, vbmi): (bool, bool)| {
                    let mut scratch = UpsampleScratch::default();
                    let mut rows = guided_rows_with((w, h), &o, &n, 1e-3, None, &mut scratch, avx2)
                        .expect("non-empty sizes");
                    assert_eq!(rows.vbmi, avx2 && super::super::byte_lut::use_vbmi());
                    rows.vbmi = vbmi;
                    let mut out = vec![0u8; (w * h) as usize * bpp];
                    let mut buf = Vec::new();
                    for (y, row) in out.chunks_exact_mut(w as usize * bpp).enumerate() {
                        let s = &src[y * w as usize * 4..][..w as usize * 4];
                        rows.encode_srgb8_row(y, s, src_bgr, strength, format, row, &mut buf);
                    }
                    out
                };
                let want = run((false, false));
                let vbmi = super::super::byte_lut::use_vbmi();
                for build in [(use_avx2(), false), (use_avx2(), vbmi)] {
                    assert!(
                        run(build) == want,
                        "{w}x{h} from {lw}x{lh}, bgr in {src_bgr}, {format:?}, strength {strength}, build {build:?}"
                    );
                }
                // The baseline is the guided upsample of the decoded frame, blended and encoded.
                let mut guide = ImageF32::new(w, h, 4);
                for (g, s) in guide
                    .data
                    .chunks_exact_mut(w as usize * 4)
                    .zip(src.chunks_exact(w as usize * 4))
                {
                    super::super::decode::srgb8_row_to_linear(s, src_bgr, g);
                }
                let mut res = ImageF32::new(0, 0, 4);
                upsample_with(
                    &guide,
                    &o,
                    &n,
                    1e-3,
                    None,
                    &mut UpsampleScratch::default(),
                    &mut res,
                    false,
                );
                let mut whole = vec![0u8; want.len()];
                blend_encode_row(&guide.data, Some(&res.data), strength, format, &mut whole);
                assert!(
                    whole == want,
                    "{w}x{h}: the row path differs from the image path"
                );
            }
        }
    }

    #[test]
    fn an_affine_residual_is_reproduced_at_full_resolution() {
        // out = M in + c exactly (in perceptual space, on the residual): the fit recovers it and
        // the full-res guide gets the same map, edges included.
        let (w, h, lw, lh) = (64u32, 36u32, 16u32, 9u32);
        let map = |p: [f32; 3]| -> [f32; 3] {
            [
                0.3 * p[0] - 0.1 * p[1] + 0.05,
                0.2 * p[1] + 0.1 * p[2] - 0.02,
                -0.25 * p[2] + 0.1,
            ]
        };
        let colour = |x: f32, y: f32| -> [f32; 3] {
            let e = if x > 0.37 { 0.8 } else { 0.05 };
            [e, 0.2 + 0.5 * y, 0.1 + 0.6 * x * y]
        };
        let mut g = ImageF32::new(w, h, 4);
        for y in 0..h {
            for x in 0..w {
                let c = colour((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
                let i = ((y * w + x) * 4) as usize;
                g.data[i..i + 4].copy_from_slice(&[c[0], c[1], c[2], 1.0]);
            }
        }
        let (mut o, mut n) = (ImageF32::new(lw, lh, 4), ImageF32::new(lw, lh, 4));
        for y in 0..lh {
            for x in 0..lw {
                let c = colour((x as f32 + 0.5) / lw as f32, (y as f32 + 0.5) / lh as f32);
                let r = map(c.map(perceptual));
                let i = ((y * lw + x) * 4) as usize;
                n.data[i..i + 4].copy_from_slice(&[c[0], c[1], c[2], 1.0]);
                o.data[i..i + 4].copy_from_slice(&[c[0] + r[0], c[1] + r[1], c[2] + r[2], 1.0]);
            }
        }
        let out = guided_upsample(&g, &o, &n, MIN_EPS);
        let mut worst = 0.0f32;
        for (px, gp) in out.data.chunks_exact(4).zip(g.data.chunks_exact(4)) {
            let r = map([perceptual(gp[0]), perceptual(gp[1]), perceptual(gp[2])]);
            for c in 0..3 {
                worst = worst.max((px[c] - ((gp[c] + r[c]).max(0.0) - gp[c])).abs());
            }
        }
        assert!(worst < 2e-3, "max error {worst}");
    }

    #[test]
    fn no_valid_tap_gives_no_residual_and_bad_values_are_ignored() {
        // 12 model columns: a full 8-pixel group and a partial one in both builds' fit.
        let (g, mut o, n) = inputs(40, 10, 12, 4);
        for px in o.data.chunks_exact_mut(4) {
            px[3] = 0.0;
        }
        let out = guided_upsample(&g, &o, &n, 1e-3);
        for (a, b) in out.data.chunks_exact(4).zip(g.data.chunks_exact(4)) {
            for c in 0..3 {
                assert_eq!(a[c], b[c].max(0.0) - b[c]);
            }
            assert_eq!(a[3], 1.0);
        }
        // A NaN residual at one tap: everything stays finite.
        let (g, mut o, n) = inputs(20, 10, 5, 4);
        o.data[4 * 7] = f32::NAN;
        o.data[4 * 3 + 1] = f32::INFINITY;
        let out = guided_upsample(&g, &o, &n, f32::NAN);
        assert!(out.data.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn eps_is_clamped() {
        assert_eq!(clamp_eps(f32::NAN), MIN_EPS);
        assert_eq!(clamp_eps(-1.0), MIN_EPS);
        assert_eq!(clamp_eps(5.0), MAX_EPS);
        assert_eq!(clamp_eps(1e-3), 1e-3);
    }
}
