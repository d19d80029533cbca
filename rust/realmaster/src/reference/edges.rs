//! Edges (the CPU implementation of gpu/preprocess/edges_gradient.wgsl, edges_nms.wgsl,
//! edges_hysteresis.wgsl), step for step: same cue formulas, same direction bins, same
//! tie-breaking, same bounded Jacobi hysteresis. Rows run in parallel; [`EdgeScratch`] holds the
//! intermediate planes so a stage that keeps one allocates nothing per frame.

use rayon::prelude::*;

use super::blend::use_avx2;
use super::decode::{ensure_shape, DecodedFrame};
use super::lanes::LANES;
use super::resample::{resample_frame_into, ModelResRef, ResamplePlans};
use crate::frame::ImageF32;
use crate::gpu::preprocess::{EdgeParams, PreprocessConfig};

/// Hysteresis states.
pub const NONE: u8 = 0;
pub const WEAK: u8 = 1;
pub const STRONG: u8 = 2;

/// 0: compare left/right, 1: up/down, 2: (+1,+1)/(-1,-1), 3: (+1,-1)/(-1,+1).
pub fn dir_bin(gx: f32, gy: f32) -> u32 {
    let (ax, ay) = (gx.abs(), gy.abs());
    let t = 0.41421357f32;
    if ay <= ax * t {
        0
    } else if ax <= ay * t {
        1
    } else if (gx > 0.0) == (gy > 0.0) {
        2
    } else {
        3
    }
}

/// Perceptual luminance used by the colour cue: the sRGB encoding (`reference::srgb::encode`) of
/// the Rec.709 luma. The edge detector computes whole rows of it 8 at a time (the same bits).
pub fn luma(rgb: &[f32]) -> f32 {
    super::srgb::encode(linear_luma(rgb))
}

#[inline(always)]
fn linear_luma(rgb: &[f32]) -> f32 {
    0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
}

/// Intermediate planes of the edge detector, kept between frames. The cue planes (luma, log depth,
/// normal x, y, z) have rows of `w + 2` values: each row's first and last value repeated at its
/// ends, so the 3x3 stencil reads clamp-to-edge taps without a per-tap clamp.
#[derive(Debug, Clone, Default)]
pub struct EdgeScratch {
    luma: Vec<f32>,
    log_depth: Vec<f32>,
    normals: [Vec<f32>; 3],
    /// Per pixel: the gradient strength and its direction bin.
    strength: Vec<f32>,
    bin: Vec<u8>,
    state: Vec<u8>,
    /// Hysteresis: the pixels that turned strong in the last step, and in this one.
    frontier: Vec<u32>,
    next: Vec<u32>,
}

/// Fill a padded cue plane (rows of `w + 2`): `f(y, row)` writes row `y`'s `w` values, then its
/// first and last are repeated at its ends.
fn fill_padded(plane: &mut Vec<f32>, w: usize, h: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    plane.resize((w + 2) * h, 0.0);
    plane
        .par_chunks_mut(w + 2)
        .enumerate()
        .for_each(|(y, row)| {
            f(y, &mut row[1..=w]);
            row[0] = row[1];
            row[w + 1] = row[w];
        });
}

/// The rows above, at and below `y` of a padded plane (the edge rows repeated past the image).
fn rows3(plane: &[f32], w: usize, h: usize, y: usize) -> [&[f32]; 3] {
    let pw = w + 2;
    let row = |y: usize| &plane[y * pw..][..pw];
    [row(y.saturating_sub(1)), row(y), row((y + 1).min(h - 1))]
}

/// The Sobel gradient / 4 at column `x` of three padded rows (the sample at `(dx, dy)` is
/// `r[dy + 1][x + 1 + dx]`), summed as [`sobel`] sums it.
#[inline(always)]
fn sobel_at(r: &[&[f32]; 3], x: usize) -> (f32, f32) {
    let (a, b, c) = (r[0], r[1], r[2]);
    let gx = (a[x + 2] + 2.0 * b[x + 2] + c[x + 2]) - (a[x] + 2.0 * b[x] + c[x]);
    let gy = (c[x] + 2.0 * c[x + 1] + c[x + 2]) - (a[x] + 2.0 * a[x + 1] + a[x + 2]);
    (gx * 0.25, gy * 0.25)
}

/// [`dir_bin`] as selects (the same bin for every input, NaN included), so that a row of them
/// compiles to SIMD.
#[inline(always)]
fn dir_bin_select(gx: f32, gy: f32) -> u8 {
    let (ax, ay) = (gx.abs(), gy.abs());
    let t = 0.41421357f32;
    let diagonal = if (gx > 0.0) == (gy > 0.0) { 2 } else { 3 };
    let bin = if ax <= ay * t { 1 } else { diagonal };
    if ay <= ax * t {
        0
    } else {
        bin
    }
}

/// The Sobel gradients / 4 of the `N` pixels from column `x0` of three padded rows, as
/// [`sobel_at`] computes each (None where the rows hold fewer than `x0 + N + 2` values).
#[inline(always)]
fn sobel_lanes<const N: usize>(r: &[&[f32]; 3], x0: usize) -> Option<([f32; N], [f32; N])> {
    let span = x0..x0 + N + 2;
    let rows = [
        r[0].get(span.clone())?,
        r[1].get(span.clone())?,
        r[2].get(span)?,
    ];
    let (mut gx, mut gy) = ([0.0f32; N], [0.0f32; N]);
    for i in 0..N {
        (gx[i], gy[i]) = sobel_at(&rows, i);
    }
    Some((gx, gy))
}

/// The strength and direction bin of `N` pixels from their cue gradients (colour; depth and normals
/// where present): per pixel the strongest cue, stage by stage over the `N` pixels with selects
/// (no branch on a pixel's value), so each stage compiles to SIMD.
#[inline(always)]
fn strongest_cue<const N: usize>(
    luma: ([f32; N], [f32; N]),
    depth: Option<([f32; N], [f32; N])>,
    normals: Option<[([f32; N], [f32; N]); 3]>,
    p: &EdgeParams,
    strength: &mut [f32; N],
    bins: &mut [u8; N],
) {
    let (mut gx, mut gy) = luma;
    let mut m = [0.0f32; N];
    for i in 0..N {
        m[i] = (gx[i] * gx[i] + gy[i] * gy[i]).sqrt();
    }
    if let Some((dx, dy)) = depth {
        for i in 0..N {
            let md = (dx[i] * dx[i] + dy[i] * dy[i]).sqrt() / p.depth_relative;
            let take = md > m[i];
            m[i] = if take { md } else { m[i] };
            gx[i] = if take { dx[i] } else { gx[i] };
            gy[i] = if take { dy[i] } else { gy[i] };
        }
    }
    if let Some([a, b, c]) = normals {
        for i in 0..N {
            let jxx = a.0[i] * a.0[i] + b.0[i] * b.0[i] + c.0[i] * c.0[i];
            let jyy = a.1[i] * a.1[i] + b.1[i] * b.1[i] + c.1[i] * c.1[i];
            let jxy = a.0[i] * a.1[i] + b.0[i] * b.1[i] + c.0[i] * c.1[i];
            let half_diff = 0.5 * (jxx - jyy);
            let lambda = 0.5 * (jxx + jyy) + (half_diff * half_diff + jxy * jxy).sqrt();
            let mn = 0.5 * lambda / p.normal_crease;
            let v1 = (jxy, lambda - jxx);
            let v2 = (lambda - jyy, jxy);
            let first = v1.0 * v1.0 + v1.1 * v1.1 > v2.0 * v2.0 + v2.1 * v2.1;
            let gn = if first { v1 } else { v2 };
            let take = mn > m[i];
            m[i] = if take { mn } else { m[i] };
            gx[i] = if take { gn.0 } else { gx[i] };
            gy[i] = if take { gn.1 } else { gy[i] };
        }
    }
    *strength = m;
    for i in 0..N {
        bins[i] = dir_bin_select(gx[i], gy[i]);
    }
}

/// The gradient of the `N` pixels from column `x0` into `strength` and `bins` (None where a row
/// is too short: the caller's tail).
#[inline(always)]
fn gradient_group<const N: usize>(
    luma: &[&[f32]; 3],
    depth: Option<&[&[f32]; 3]>,
    normals: Option<&[[&[f32]; 3]; 3]>,
    p: &EdgeParams,
    x0: usize,
    strength: &mut [f32; N],
    bins: &mut [u8; N],
) -> Option<()> {
    let l = sobel_lanes::<N>(luma, x0)?;
    let d = match depth {
        Some(d) => Some(sobel_lanes::<N>(d, x0)?),
        None => None,
    };
    let n = match normals {
        Some([nx, ny, nz]) => Some([
            sobel_lanes::<N>(nx, x0)?,
            sobel_lanes::<N>(ny, x0)?,
            sobel_lanes::<N>(nz, x0)?,
        ]),
        None => None,
    };
    strongest_cue(l, d, n, p, strength, bins);
    Some(())
}

/// One row of the gradient: per pixel the strongest of the colour, depth and normal cues (rows
/// above, at and below of each padded cue plane), as strength and direction bin. Groups of
/// [`LANES`] pixels computed lane-wise (SIMD), then the row's last pixels one at a time with the
/// same operations.
#[inline(always)]
fn gradient_row(
    luma: [&[f32]; 3],
    depth: Option<[&[f32]; 3]>,
    normals: Option<[[&[f32]; 3]; 3]>,
    p: &EdgeParams,
    strength: &mut [f32],
    bins: &mut [u8],
) {
    let (depth, normals) = (depth.as_ref(), normals.as_ref());
    let mut s_groups = strength.chunks_exact_mut(LANES);
    let mut b_groups = bins.chunks_exact_mut(LANES);
    let mut x0 = 0;
    for (s, b) in (&mut s_groups).zip(&mut b_groups) {
        let (Ok(s), Ok(b)) = (
            <&mut [f32; LANES]>::try_from(s),
            <&mut [u8; LANES]>::try_from(b),
        ) else {
            return;
        };
        if gradient_group(&luma, depth, normals, p, x0, s, b).is_none() {
            return;
        }
        x0 += LANES;
    }
    let tail = s_groups.into_remainder().iter_mut();
    for (s, b) in tail.zip(b_groups.into_remainder()) {
        let (s, b) = (std::array::from_mut(s), std::array::from_mut(b));
        if gradient_group::<1>(&luma, depth, normals, p, x0, s, b).is_none() {
            return;
        }
        x0 += 1;
    }
}

/// [`gradient_row`] compiled for AVX2 (the same operations: the same bits; no FMA).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gradient_row_avx2(
    luma: [&[f32]; 3],
    depth: Option<[&[f32]; 3]>,
    normals: Option<[[&[f32]; 3]; 3]>,
    p: &EdgeParams,
    strength: &mut [f32],
    bins: &mut [u8],
) {
    gradient_row(luma, depth, normals, p, strength, bins)
}

/// Per pixel (strength, direction bin) into the scratch's `strength` and `bin` planes: the
/// strongest of the colour, depth and normal cues. `avx2`: only where the CPU has it.
fn gradient_into(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
    s: &mut EdgeScratch,
    avx2: bool,
) {
    let (w, h) = (color_linear.width as usize, color_linear.height as usize);
    let n = w * h;
    let c = &color_linear.data;
    // Each row filled from its source row by a lane-wise loop (one closure call per row rather
    // than per value, so the loop vectorises).
    let src_row = |y: usize, ch: usize| y * w * ch..(y + 1) * w * ch;
    fill_padded(&mut s.luma, w, h, |y, row| {
        for (v, p) in row.iter_mut().zip(c[src_row(y, 4)].chunks_exact(4)) {
            *v = linear_luma(&p[..3]);
        }
    });
    s.luma
        .par_chunks_mut(w + 2)
        .for_each(super::srgb::encode_in_place);
    if let Some(z) = depth_z {
        fill_padded(&mut s.log_depth, w, h, |y, row| {
            for (v, z) in row.iter_mut().zip(&z.data[src_row(y, 1)]) {
                *v = z.max(1e-6).ln();
            }
        });
    }
    if let Some(nm) = normals {
        for (ch, plane) in s.normals.iter_mut().enumerate() {
            fill_padded(plane, w, h, |y, row| {
                for (v, p) in row.iter_mut().zip(nm.data[src_row(y, 4)].chunks_exact(4)) {
                    *v = p[ch];
                }
            });
        }
    }
    s.strength.resize(n, 0.0);
    s.bin.resize(n, 0);
    let (lum, logd, nrm) = (&s.luma, &s.log_depth, &s.normals);
    s.strength
        .par_chunks_mut(w)
        .zip(s.bin.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, (strength, bins))| {
            let luma = rows3(lum, w, h, y);
            let depth = depth_z.map(|_| rows3(logd, w, h, y));
            let normals = normals.map(|_| nrm.each_ref().map(|plane| rows3(plane, w, h, y)));
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the caller found AVX2 on this CPU.
                return unsafe { gradient_row_avx2(luma, depth, normals, p, strength, bins) };
            }
            let _ = avx2;
            gradient_row(luma, depth, normals, p, strength, bins)
        });
}

/// Per pixel (strength, direction bin): the strongest of the colour, depth and normal cues.
pub fn gradient(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
) -> Vec<(f32, u32)> {
    let mut s = EdgeScratch::default();
    gradient_into(color_linear, depth_z, normals, p, &mut s, use_avx2());
    s.strength
        .iter()
        .zip(&s.bin)
        .map(|(&m, &b)| (m, u32::from(b)))
        .collect()
}

fn nms_into(strength: &[f32], bin: &[u8], w: u32, h: u32, p: &EdgeParams, out: &mut Vec<u8>) {
    out.resize(strength.len(), NONE);
    let at = |x: i32, y: i32| {
        if x < 0 || y < 0 || x >= w as i32 || y >= h as i32 {
            0.0
        } else {
            strength[y as usize * w as usize + x as usize]
        }
    };
    out.par_chunks_mut(w as usize)
        .enumerate()
        .for_each(|(y, row)| {
            let y = y as i32;
            for (x, o) in row.iter_mut().enumerate() {
                let x = x as i32;
                let i = y as usize * w as usize + x as usize;
                let (m, bin) = (strength[i], bin[i]);
                let (dx, dy) = match bin {
                    1 => (0, 1),
                    2 => (1, 1),
                    3 => (1, -1),
                    _ => (1, 0),
                };
                let keep = m > at(x + dx, y + dy) && m >= at(x - dx, y - dy);
                *o = if !keep {
                    NONE
                } else if m >= p.high {
                    STRONG
                } else if m >= p.low {
                    WEAK
                } else {
                    NONE
                };
            }
        });
}

/// Non-maximum suppression along the binned direction, then the double threshold.
pub fn nms(grad: &[(f32, u32)], w: u32, h: u32, p: &EdgeParams) -> Vec<u8> {
    let (strength, bin): (Vec<f32>, Vec<u8>) = grad.iter().map(|&(m, b)| (m, b as u8)).unzip();
    let mut out = Vec::new();
    nms_into(&strength, &bin, w, h, p, &mut out);
    out
}

/// `max` bounded hysteresis on `state` in place: a weak pixel becomes strong when an 8-connected
/// path of weak pixels of at most `max` steps links it to a strong one. That is what `max` Jacobi
/// steps of "weak next to strong becomes strong" give (the GPU's dispatches: after step k the
/// strong set is every pixel within k steps), found here breadth first, one level per step, so
/// each pixel is visited once instead of once per step. `frontier` and `next` are scratch.
fn hysteresis_in_place(
    state: &mut [u8],
    frontier: &mut Vec<u32>,
    next: &mut Vec<u32>,
    w: u32,
    h: u32,
    max: u32,
) {
    let (w, h) = (w as usize, h as usize);
    frontier.clear();
    frontier.extend(
        state
            .iter()
            .enumerate()
            .filter(|(_, &v)| v == STRONG)
            .map(|(i, _)| i as u32),
    );
    for _ in 0..max {
        next.clear();
        for &i in frontier.iter() {
            let (x, y) = (i as usize % w, i as usize / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if state[j] == WEAK {
                        state[j] = STRONG;
                        next.push(j as u32);
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        std::mem::swap(frontier, next);
    }
}

/// The result of at most `max_iterations` Jacobi steps of "weak next to strong becomes strong"
/// (8-neighbours), stopping early at the fixed point, exactly as the GPU steps do.
pub fn hysteresis(state: &[u8], w: u32, h: u32, max_iterations: u32) -> Vec<u8> {
    let mut cur = state.to_vec();
    if w == 0 || h == 0 {
        return cur;
    }
    hysteresis_in_place(
        &mut cur,
        &mut Vec::new(),
        &mut Vec::new(),
        w,
        h,
        max_iterations,
    );
    cur
}

/// The full edge map (1 channel, 0/1) of a model-resolution frame into `out`.
pub fn edges_into(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
    s: &mut EdgeScratch,
    out: &mut ImageF32,
) {
    let (w, h) = (color_linear.width, color_linear.height);
    ensure_shape(out, w, h, 1);
    if w == 0 || h == 0 {
        return;
    }
    gradient_into(color_linear, depth_z, normals, p, s, use_avx2());
    let mut state = std::mem::take(&mut s.state);
    nms_into(&s.strength, &s.bin, w, h, p, &mut state);
    hysteresis_in_place(
        &mut state,
        &mut s.frontier,
        &mut s.next,
        w,
        h,
        p.max_iterations,
    );
    for (o, &v) in out.data.iter_mut().zip(&state) {
        *o = if v == STRONG { 1.0 } else { 0.0 };
    }
    s.state = state;
}

/// The full edge map (1 channel, 0/1) of a model-resolution frame.
pub fn edges(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
) -> ImageF32 {
    let mut out = ImageF32::new(color_linear.width, color_linear.height, 1);
    edges_into(
        color_linear,
        depth_z,
        normals,
        p,
        &mut EdgeScratch::default(),
        &mut out,
    );
    out
}

/// What a preprocessing stage keeps between frames: resample plans and edge scratch planes.
#[derive(Debug, Clone, Default)]
pub struct PreprocessScratch {
    pub plans: ResamplePlans,
    pub edges: EdgeScratch,
}

/// The whole preprocessing chain on the CPU into `out`: resample + encode + edges.
pub fn model_inputs_into(
    frame: &DecodedFrame,
    cfg: &PreprocessConfig,
    scratch: &mut PreprocessScratch,
    out: &mut ModelResRef,
) {
    resample_frame_into(frame, cfg, &mut scratch.plans, out);
    model_edges_into(cfg, scratch, out);
}

/// The edge map of model inputs whose other planes are made (the last step of
/// [`model_inputs_into`]).
pub fn model_edges_into(
    cfg: &PreprocessConfig,
    scratch: &mut PreprocessScratch,
    out: &mut ModelResRef,
) {
    let mut edges = std::mem::replace(&mut out.edges, ImageF32::new(0, 0, 1));
    edges_into(
        &out.color_linear,
        out.has_depth.then_some(&out.depth_z),
        out.has_normals.then_some(&out.normals),
        &cfg.edges,
        &mut scratch.edges,
        &mut edges,
    );
    out.edges = edges;
}

/// The whole preprocessing chain on the CPU: resample + encode + edges.
pub fn model_inputs(frame: &DecodedFrame, cfg: &PreprocessConfig) -> ModelResRef {
    let mut out = ModelResRef::new(cfg.model_width, cfg.model_height);
    model_inputs_into(frame, cfg, &mut PreprocessScratch::default(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample index with clamp-to-edge addressing.
    fn idx(w: u32, h: u32, x: i32, y: i32) -> usize {
        let cx = x.clamp(0, w as i32 - 1) as usize;
        let cy = y.clamp(0, h as i32 - 1) as usize;
        cy * w as usize + cx
    }

    /// `s[(dy + 1) * 3 + (dx + 1)]` is the sample at (dx, dy); returns the Sobel gradient / 4.
    fn sobel(s: &[f32; 9]) -> (f32, f32) {
        let gx = (s[2] + 2.0 * s[5] + s[8]) - (s[0] + 2.0 * s[3] + s[6]);
        let gy = (s[6] + 2.0 * s[7] + s[8]) - (s[0] + 2.0 * s[1] + s[2]);
        (gx * 0.25, gy * 0.25)
    }

    /// The gradient pixel by pixel as the shader computes it (clamped taps, branches): the
    /// definition the row-wise gradient keeps.
    fn gradient_per_pixel(
        color: &ImageF32,
        depth_z: Option<&ImageF32>,
        normals: Option<&ImageF32>,
        p: &EdgeParams,
    ) -> Vec<(f32, u32)> {
        let (w, h) = (color.width, color.height);
        let lum: Vec<f32> = color.data.chunks_exact(4).map(|c| luma(&c[..3])).collect();
        let logd: Vec<f32> = depth_z.map_or(Vec::new(), |z| {
            z.data.iter().map(|&z| z.max(1e-6).ln()).collect()
        });
        let mut out = Vec::new();
        for y in 0..h as i32 {
            for x in 0..w as i32 {
                let mut l = [0f32; 9];
                let mut d = [0f32; 9];
                let mut nv = [[0f32; 9]; 3];
                for k in 0..9i32 {
                    let j = idx(w, h, x + k % 3 - 1, y + k / 3 - 1);
                    l[k as usize] = lum[j];
                    if depth_z.is_some() {
                        d[k as usize] = logd[j];
                    }
                    if let Some(nm) = normals {
                        for (c, plane) in nv.iter_mut().enumerate() {
                            plane[k as usize] = nm.data[j * 4 + c];
                        }
                    }
                }
                let mut g = sobel(&l);
                let mut m = (g.0 * g.0 + g.1 * g.1).sqrt();
                if depth_z.is_some() {
                    let gd = sobel(&d);
                    let md = (gd.0 * gd.0 + gd.1 * gd.1).sqrt() / p.depth_relative;
                    if md > m {
                        m = md;
                        g = gd;
                    }
                }
                if normals.is_some() {
                    let (a, b, c) = (sobel(&nv[0]), sobel(&nv[1]), sobel(&nv[2]));
                    let jxx = a.0 * a.0 + b.0 * b.0 + c.0 * c.0;
                    let jyy = a.1 * a.1 + b.1 * b.1 + c.1 * c.1;
                    let jxy = a.0 * a.1 + b.0 * b.1 + c.0 * c.1;
                    let half_diff = 0.5 * (jxx - jyy);
                    let lambda = 0.5 * (jxx + jyy) + (half_diff * half_diff + jxy * jxy).sqrt();
                    let mn = 0.5 * lambda / p.normal_crease;
                    if mn > m {
                        m = mn;
                        let v1 = (jxy, lambda - jxx);
                        let v2 = (lambda - jyy, jxy);
                        g = if v1.0 * v1.0 + v1.1 * v1.1 > v2.0 * v2.0 + v2.1 * v2.1 {
                            v1
                        } else {
                            v2
                        };
                    }
                }
                out.push((m, dir_bin(g.0, g.1)));
            }
        }
        out
    }

    /// The row-wise gradient (both builds) gives the per-pixel definition's bits: sizes down to
    /// one pixel, with and without depth and normals, values that tie and flat areas.
    #[test]
    fn row_gradient_matches_the_per_pixel_definition() {
        let mut seed = 0x1234_5678u32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32
        };
        let p = EdgeParams::default();
        for (w, h) in [(1, 1), (1, 5), (6, 1), (2, 2), (17, 9), (40, 23)] {
            let img = |c: u32, f: &mut dyn FnMut() -> f32| {
                let mut i = ImageF32::new(w, h, c);
                i.data.iter_mut().for_each(|v| *v = f());
                i
            };
            // Quantised values so that equal neighbours (ties, zero gradients) occur.
            let color = img(4, &mut || (rand() * 4.0).floor() / 4.0);
            let depth = img(1, &mut || if rand() < 0.5 { 2.0 } else { 3.0 + rand() });
            let normals = img(4, &mut || (rand() * 3.0).floor() - 1.0);
            for (d, n) in [(false, false), (true, false), (false, true), (true, true)] {
                let (d, n) = (d.then_some(&depth), n.then_some(&normals));
                let want = gradient_per_pixel(&color, d, n, &p);
                for avx2 in [false, use_avx2()] {
                    let mut s = EdgeScratch::default();
                    gradient_into(&color, d, n, &p, &mut s, avx2);
                    let got: Vec<(u32, u32)> = s
                        .strength
                        .iter()
                        .zip(&s.bin)
                        .map(|(m, &b)| (m.to_bits(), u32::from(b)))
                        .collect();
                    let want: Vec<(u32, u32)> =
                        want.iter().map(|(m, b)| (m.to_bits(), *b)).collect();
                    assert_eq!(
                        got,
                        want,
                        "{w}x{h} depth {} normals {} avx2 {avx2}",
                        d.is_some(),
                        n.is_some()
                    );
                }
            }
        }
    }

    /// The GPU's rule, one Jacobi step at a time (the definition the breadth-first search keeps).
    fn jacobi(state: &[u8], w: usize, h: usize, max: u32) -> Vec<u8> {
        let mut cur = state.to_vec();
        for _ in 0..max {
            let next: Vec<u8> = (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as i32, (i / w) as i32);
                    let near = (-1..=1).any(|dy: i32| {
                        (-1..=1).any(|dx: i32| {
                            let (nx, ny) = (x + dx, y + dy);
                            nx >= 0
                                && ny >= 0
                                && (nx as usize) < w
                                && (ny as usize) < h
                                && cur[ny as usize * w + nx as usize] == STRONG
                        })
                    });
                    if cur[i] == WEAK && near {
                        STRONG
                    } else {
                        cur[i]
                    }
                })
                .collect();
            if next == cur {
                break;
            }
            cur = next;
        }
        cur
    }

    #[test]
    fn breadth_first_hysteresis_equals_bounded_jacobi_steps() {
        let mut seed = 0x2545_f491u32;
        let mut rand = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for (w, h) in [(1, 1), (7, 1), (1, 9), (23, 17), (64, 48)] {
            for weak_share in [30u32, 60, 90] {
                let state: Vec<u8> = (0..w * h)
                    .map(|_| match rand() % 100 {
                        r if r < 2 => STRONG,
                        r if r < 2 + weak_share => WEAK,
                        _ => NONE,
                    })
                    .collect();
                for max in [1, 2, 3, 7, 64] {
                    assert_eq!(
                        hysteresis(&state, w as u32, h as u32, max),
                        jacobi(&state, w, h, max),
                        "{w}x{h}, {weak_share} % weak, {max} steps"
                    );
                }
            }
        }
    }
}
