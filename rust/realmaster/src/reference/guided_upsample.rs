//! Guided upsample (the CPU implementation of gpu/composite/guided_upsample.wgsl): joint bilateral
//! upsampling of the model residual. The per-row tap weights, the per-tap model-size terms and the
//! column tables are computed once per frame (the values the per-pixel formula gives), then
//! full-resolution rows run in parallel.
//!
//! A row is processed in chunks of [`LANES`] consecutive pixels with one pixel per lane: the chunk's
//! pixels share a handful of model-size columns (upsampling, 8 pixels span one or two model pixels,
//! so 4 or 5 columns), each column has one horizontal weight per lane (0 for a lane whose 4x4
//! window does not hold that column), and every tap is broadcast to the lanes. The per-lane sums
//! are the shader's, in its tap order, plus zero-weight terms; no gathers, and the lane loops
//! compile to SIMD (SSE2 everywhere, AVX2 where the CPU has it: same source, same results, since
//! Rust does not contract `a * b + c` into an FMA).

use rayon::prelude::*;

use super::decode::ensure_shape;

use crate::frame::ImageF32;

/// Smallest spatial sigma (model pixels): below it the weights between two taps underflow to 0.
pub const MIN_SIGMA_SPATIAL: f32 = 0.25;
/// Largest spatial sigma: beyond it the windowed weights all approach 0.
pub const MAX_SIGMA_SPATIAL: f32 = 16.0;
/// Smallest range sigma; when every range weight underflows the spatial weights take over.
pub const MIN_SIGMA_RANGE: f32 = 1e-3;

/// Pixels per chunk (one per SIMD lane).
const LANES: usize = 8;
type Lanes = [f32; LANES];

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

/// Multiply-add as the target computes it: separate rounding on the baseline target, one fused
/// rounding where the CPU has FMA (the two agree to a few ulps; each is deterministic).
trait MulAdd {
    fn madd(a: f32, b: f32, c: f32) -> f32;
}

/// `a * b + c`, two roundings.
struct Unfused;

impl MulAdd for Unfused {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `a * b + c`, one rounding (only inside `target_feature(enable = "fma")` code: elsewhere it is a
/// libm call).
#[cfg(target_arch = "x86_64")]
struct Fused;

#[cfg(target_arch = "x86_64")]
impl MulAdd for Fused {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// `2^-d` for `d >= 0` (NaN and values above 125 give `2^-125`), within 3e-7 relative: `2^-i`
/// times a degree-5 minimax polynomial of `2^-g` on `|g| <= 1/2`, with `i` the nearest integer to
/// `d` and `g = d - i`. Branch-free and without float-to-int conversions (adding and removing
/// 1.5 * 2^23 rounds, and the bits of the sum hold `-i`), so lanes of it vectorise; `f32::exp` is
/// a libm call per tap.
#[inline(always)]
fn exp2_neg<F: MulAdd>(d: f32) -> f32 {
    /// 1.5 * 2^23: adding it rounds a float of magnitude < 2^22 to an integer.
    const ROUND: f32 = 12_582_912.0;
    // 2^f ~ C0 + C1 f + ... + C5 f^5 on |f| <= 1/2 (minimax for the relative error); here f = -g.
    const C: [f32; 6] = [
        1.000_000_1,
        0.693_146_94,
        0.240_221_2,
        0.055_507_13,
        0.009_675_541,
        0.001_327_647_1,
    ];
    let d = d.min(125.0); // unlike clamp, min maps NaN to 125
    let k = ROUND - d;
    let i = k - ROUND; // -round(d), exact
    let g = d + i;
    let p = F::madd(g, -C[5], C[4]);
    let p = F::madd(g, p, -C[3]);
    let p = F::madd(g, p, C[2]);
    let p = F::madd(g, p, -C[1]);
    let p = F::madd(g, p, C[0]);
    // The bits of k are those of ROUND plus i: shifting i + 127 into the exponent gives 2^i.
    let scale = f32::from_bits(k.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
    p * scale
}

#[inline(always)]
fn perceptual(c: f32) -> f32 {
    let p = c.max(0.0);
    (p / (1.0 + p)).sqrt()
}

/// Taps of one full-resolution column (or row): the 4 clamped model-size indices and weights, and
/// the unclamped position of the first.
#[derive(Debug, Clone, Copy, Default)]
struct AxisTaps {
    first: i32,
    index: [u32; 4],
    weight: [f32; 4],
}

/// A run of at most [`LANES`] consecutive columns processed together, one per lane.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// First column.
    x0: u32,
    /// Columns (lanes in use).
    n: u32,
    /// Its range of `UpsampleScratch::chunk_taps`.
    taps: (u32, u32),
}

/// One model-size column of a chunk: its clamped index and each lane's horizontal weight.
#[derive(Debug, Clone, Copy)]
struct ChunkTap {
    index: u32,
    weight: Lanes,
}

/// Per-frame tables of the upsample, kept by the compositor between frames.
#[derive(Debug, Clone, Default)]
pub struct UpsampleScratch {
    cols: Vec<AxisTaps>,
    rows: Vec<AxisTaps>,
    chunks: Vec<Chunk>,
    chunk_taps: Vec<ChunkTap>,
    /// Per model pixel: perceptual input colour scaled by `sqrt(log2(e) / (2 sigma_r^2))` (3),
    /// residual `out - in` (3, non-finite as 0), validity, unused.
    taps: Vec<[f32; 8]>,
}

fn axis_taps(n: u32, ln: u32, inv_2ss: f32, edge: f32, out: &mut Vec<AxisTaps>) {
    let s = ln as f32 / n as f32;
    out.clear();
    out.extend((0..n).map(|x| {
        let u = (x as f32 + 0.5) * s - 0.5;
        let b = u.floor() as i32;
        let mut t = AxisTaps {
            first: b - 1,
            ..Default::default()
        };
        for k in 0..4 {
            let d = (b - 1 + k as i32) as f32 - u;
            t.weight[k] = ((-d * d * inv_2ss).exp() - edge).max(0.0);
            t.index[k] = (b - 1 + k as i32).clamp(0, ln as i32 - 1) as u32;
        }
        t
    }));
}

/// Group the columns in chunks of at most [`LANES`]: each chunk takes the run that needs the
/// fewest model-size columns per pixel (upsampling, the columns sharing one window), and lists
/// the distinct (unclamped) tap positions of its lanes in increasing order, the order of the
/// shader's taps, with every lane's weight (0 off its window). The windows' first positions never
/// decrease along a row, so a run of windows covers `4 + sum(min(step, 4))` positions.
fn chunk_taps(cols: &[AxisTaps], chunks: &mut Vec<Chunk>, taps: &mut Vec<ChunkTap>) {
    chunks.clear();
    taps.clear();
    let mut x0 = 0;
    while x0 < cols.len() {
        let run = &cols[x0..cols.len().min(x0 + LANES)];
        let (mut n, mut positions) = (1, 4);
        let mut covered = 4;
        for k in 1..run.len() {
            covered += (run[k].first - run[k - 1].first).clamp(0, 4) as usize;
            // More pixels per position, or as many and more pixels.
            if (k + 1) * positions >= n * covered {
                (n, positions) = (k + 1, covered);
            }
        }
        let group = &run[..n];
        let start = taps.len();
        let mut p = group[0].first;
        let last = group[n - 1].first + 3;
        while p <= last {
            let mut t = ChunkTap {
                index: 0,
                weight: [0.0; LANES],
            };
            let mut used = false;
            for (l, c) in group.iter().enumerate() {
                let k = p - c.first;
                if (0..4).contains(&k) {
                    t.weight[l] = c.weight[k as usize];
                    t.index = c.index[k as usize];
                    used = true;
                }
            }
            if used {
                taps.push(t);
            }
            p += 1;
        }
        chunks.push(Chunk {
            x0: x0 as u32,
            n: n as u32,
            taps: (start as u32, taps.len() as u32),
        });
        x0 += n;
    }
}

/// One full-resolution row: `grow` the guide row, `orow` the output row (4 floats per pixel).
#[inline(always)]
fn upsample_row<F: MulAdd>(
    ry: &AxisTaps,
    tables: (&[Chunk], &[ChunkTap], &[[f32; 8]]),
    lw: usize,
    scale: f32,
    grow: &[f32],
    orow: &mut [f32],
) {
    let (chunks, chunk_taps, taps) = tables;
    let lines: [&[[f32; 8]]; 4] = std::array::from_fn(|k| &taps[ry.index[k] as usize * lw..][..lw]);
    for chunk in chunks {
        let (x0, n) = (chunk.x0 as usize, chunk.n as usize);
        let mut g = [[0.0f32; LANES]; 4];
        for (l, p) in grow[x0 * 4..(x0 + n) * 4].chunks_exact(4).enumerate() {
            for c in 0..4 {
                g[c][l] = p[c];
            }
        }
        let mut pg = [[0.0f32; LANES]; 3];
        for c in 0..3 {
            for l in 0..LANES {
                pg[c][l] = scale * perceptual(g[c][l]);
            }
        }
        let ctaps = &chunk_taps[chunk.taps.0 as usize..chunk.taps.1 as usize];
        let mut sum_j = [[0.0f32; LANES]; 3];
        let mut w_j: Lanes = [0.0; LANES];
        let mut w_s: Lanes = [0.0; LANES];
        for (line, &wy) in lines.iter().zip(&ry.weight) {
            if wy == 0.0 {
                continue;
            }
            for ct in ctaps {
                let t = &line[ct.index as usize];
                let wv = wy * t[6];
                if wv == 0.0 {
                    continue; // an invalid tap: every lane's weight is 0
                }
                for l in 0..LANES {
                    let ws = ct.weight[l] * wv;
                    let d0 = pg[0][l] - t[0];
                    let d1 = pg[1][l] - t[1];
                    let d2 = pg[2][l] - t[2];
                    let dd = F::madd(d2, d2, F::madd(d1, d1, d0 * d0));
                    let wr = ws * exp2_neg::<F>(dd);
                    w_s[l] += ws;
                    w_j[l] += wr;
                    sum_j[0][l] = F::madd(wr, t[3], sum_j[0][l]);
                    sum_j[1][l] = F::madd(wr, t[4], sum_j[1][l]);
                    sum_j[2][l] = F::madd(wr, t[5], sum_j[2][l]);
                }
            }
        }
        let mut res = [[0.0f32; LANES]; 3];
        for c in 0..3 {
            for l in 0..LANES {
                res[c][l] = sum_j[c][l] / w_j[l];
            }
        }
        for l in 0..n {
            if !(w_j[l] >= 1e-4 * w_s[l] && w_j[l] > 0.0) {
                // No tap looks like the pixel: the spatial weights alone (rare, so per lane).
                let mut sum_s = [0.0f32; 3];
                if w_s[l] > 1e-8 {
                    for (line, &wy) in lines.iter().zip(&ry.weight) {
                        for ct in ctaps {
                            let t = &line[ct.index as usize];
                            let ws = ct.weight[l] * (wy * t[6]);
                            for c in 0..3 {
                                sum_s[c] += ws * t[3 + c];
                            }
                        }
                    }
                    sum_s = sum_s.map(|v| v / w_s[l]);
                }
                for c in 0..3 {
                    res[c][l] = sum_s[c];
                }
            }
        }
        for (l, o) in orow[x0 * 4..(x0 + n) * 4].chunks_exact_mut(4).enumerate() {
            for c in 0..3 {
                o[c] = (g[c][l] + res[c][l]).max(0.0);
            }
            o[3] = g[3][l];
        }
    }
}

/// [`upsample_row`] compiled for AVX2 and FMA (the same source; wider lanes, fused multiply-adds).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn upsample_row_avx2(
    ry: &AxisTaps,
    tables: (&[Chunk], &[ChunkTap], &[[f32; 8]]),
    lw: usize,
    scale: f32,
    grow: &[f32],
    orow: &mut [f32],
) {
    upsample_row::<Fused>(ry, tables, lw, scale, grow, orow)
}

/// [`upsample_row`] for the baseline target.
fn upsample_row_base(
    ry: &AxisTaps,
    tables: (&[Chunk], &[ChunkTap], &[[f32; 8]]),
    lw: usize,
    scale: f32,
    grow: &[f32],
    orow: &mut [f32],
) {
    upsample_row::<Unfused>(ry, tables, lw, scale, grow, orow)
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
    upsample_with(
        guide,
        out_lr,
        in_lr,
        (sigma_spatial, sigma_range),
        scratch,
        out,
        simd_level(),
    );
}

/// Whether the CPU runs the AVX2 + FMA build of the row loop.
fn simd_level() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`guided_upsample_into`] with the row loop's build chosen (`avx2` only where the CPU has it).
fn upsample_with(
    guide: &ImageF32,
    out_lr: &ImageF32,
    in_lr: &ImageF32,
    (sigma_spatial, sigma_range): (f32, f32),
    scratch: &mut UpsampleScratch,
    out: &mut ImageF32,
    avx2: bool,
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
    // Perceptual colours scaled so that the squared distance d gives the range weight as 2^-d.
    let scale = (inv_2sr * std::f32::consts::LOG2_E).sqrt();
    axis_taps(w, lw, inv_2ss, edge, &mut scratch.cols);
    axis_taps(h, lh, inv_2ss, edge, &mut scratch.rows);
    chunk_taps(&scratch.cols, &mut scratch.chunks, &mut scratch.chunk_taps);
    scratch.taps.clear();
    let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
    scratch.taps.extend(
        out_lr
            .data
            .chunks_exact(4)
            .zip(in_lr.data.chunks_exact(4))
            .map(|(o, n)| {
                [
                    scale * perceptual(n[0]),
                    scale * perceptual(n[1]),
                    scale * perceptual(n[2]),
                    finite(o[0] - n[0]),
                    finite(o[1] - n[1]),
                    finite(o[2] - n[2]),
                    o[3].clamp(0.0, 1.0),
                    0.0,
                ]
            }),
    );
    let rows = &scratch.rows;
    let tables = (
        &scratch.chunks[..],
        &scratch.chunk_taps[..],
        &scratch.taps[..],
    );
    let lw = lw as usize;
    out.data
        .par_chunks_mut(w as usize * 4)
        .zip(guide.data.par_chunks(w as usize * 4))
        .enumerate()
        .for_each(|(y, (orow, grow))| {
            let ry = &rows[y];
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: `simd_level` found AVX2 and FMA on this CPU.
                unsafe { upsample_row_avx2(ry, tables, lw, scale, grow, orow) };
                return;
            }
            let _ = avx2;
            upsample_row_base(ry, tables, lw, scale, grow, orow);
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
    use super::*;

    #[test]
    fn exp2_neg_is_exp2_to_a_few_ulps() {
        fn check<F: MulAdd>() {
            let mut worst = 0.0f64;
            let mut d = 0.0f32;
            while d < 120.0 {
                let want = (-d as f64).exp2();
                let rel = ((exp2_neg::<F>(d) as f64 - want) / want).abs();
                worst = worst.max(rel);
                d += 0.000_731;
            }
            assert!(worst < 5e-7, "worst relative error {worst:e}");
            assert!((exp2_neg::<F>(0.0) - 1.0).abs() < 2e-7);
            assert!(exp2_neg::<F>(200.0) < 1e-37);
            assert!(exp2_neg::<F>(f32::NAN) < 1e-37);
            assert!(exp2_neg::<F>(f32::INFINITY) < 1e-37);
            assert!(exp2_neg::<F>(125.0) > 0.0);
        }
        check::<Unfused>();
        #[cfg(target_arch = "x86_64")]
        if simd_level() {
            check::<Fused>();
        }
    }

    /// A guide with edges and noise, model images with invalid taps; sizes that leave partial
    /// chunks, and a downsample.
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

    /// The shader's formula per pixel, in f64.
    fn formula(
        g: &ImageF32,
        o: &ImageF32,
        n: &ImageF32,
        ss: f32,
        sr: f32,
        x: u32,
        y: u32,
    ) -> [f64; 3] {
        let k = UpsampleKernel::new(ss, sr);
        let p = |c: f32| {
            let c = c.max(0.0) as f64;
            (c / (1.0 + c)).sqrt()
        };
        let (w, h, lw, lh) = (g.width, g.height, o.width, o.height);
        let ux = (x as f64 + 0.5) * lw as f64 / w as f64 - 0.5;
        let uy = (y as f64 + 0.5) * lh as f64 / h as f64 - 0.5;
        let gw = |d: f64| ((-d * d * k.inv_2ss as f64).exp() - k.edge as f64).max(0.0);
        let i = ((y * w + x) * 4) as usize;
        let (mut sj, mut wj, mut s, mut ws) = ([0f64; 3], 0f64, [0f64; 3], 0f64);
        for ky in 0..4 {
            let ty = uy.floor() as i32 - 1 + ky;
            for kx in 0..4 {
                let tx = ux.floor() as i32 - 1 + kx;
                let t = (ty.clamp(0, lh as i32 - 1) as u32 * lw + tx.clamp(0, lw as i32 - 1) as u32)
                    as usize
                    * 4;
                let wsp =
                    gw(tx as f64 - ux) * gw(ty as f64 - uy) * o.data[t + 3].clamp(0.0, 1.0) as f64;
                let d2: f64 = (0..3)
                    .map(|c| (p(g.data[i + c]) - p(n.data[t + c])).powi(2))
                    .sum();
                let wr = wsp * (-d2 * k.inv_2sr as f64).exp();
                for c in 0..3 {
                    let r = (o.data[t + c] - n.data[t + c]) as f64;
                    sj[c] += wr * r;
                    s[c] += wsp * r;
                }
                wj += wr;
                ws += wsp;
            }
        }
        let res = if wj >= 1e-4 * ws && wj > 0.0 {
            sj.map(|v| v / wj)
        } else if ws > 1e-8 {
            s.map(|v| v / ws)
        } else {
            [0.0; 3]
        };
        std::array::from_fn(|c| (g.data[i + c] as f64 + res[c]).max(0.0))
    }

    #[test]
    fn both_builds_compute_the_shader_formula() {
        for (w, h, lw, lh) in [(61, 47, 16, 12), (100, 30, 7, 5), (13, 9, 31, 20)] {
            let (g, o, n) = inputs(w, h, lw, lh);
            for (ss, sr) in [(1.0, 0.1), (0.6, 0.03), (2.0, 1.0), (1.0, 1e-3)] {
                let mut outs = Vec::new();
                for avx2 in [false, simd_level()] {
                    let mut out = ImageF32::new(0, 0, 4);
                    let mut scratch = UpsampleScratch::default();
                    upsample_with(&g, &o, &n, (ss, sr), &mut scratch, &mut out, avx2);
                    for y in 0..h {
                        for x in 0..w {
                            let want = formula(&g, &o, &n, ss, sr, x, y);
                            let i = ((y * w + x) * 4) as usize;
                            for (c, want) in want.iter().enumerate() {
                                let d = (out.data[i + c] as f64 - want).abs();
                                assert!(
                                    d < 2e-5,
                                    "{w}x{h} from {lw}x{lh}, {ss} {sr}, avx2 {avx2}: ({x}, {y}) off by {d}"
                                );
                            }
                            assert_eq!(out.data[i + 3], g.data[i + 3]);
                        }
                    }
                    outs.push(out);
                }
                let d = outs[0]
                    .data
                    .iter()
                    .zip(&outs[1].data)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(d < 1e-5, "builds differ by {d}");
            }
        }
    }
}
