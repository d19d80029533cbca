//! Edges (the CPU implementation of gpu/preprocess/edges_gradient.wgsl, edges_nms.wgsl,
//! edges_hysteresis.wgsl), step for step: same cue formulas, same direction bins, same
//! tie-breaking, same bounded Jacobi hysteresis. Rows run in parallel; [`EdgeScratch`] holds the
//! intermediate planes so a stage that keeps one allocates nothing per frame.

use rayon::prelude::*;

use super::decode::{ensure_shape, DecodedFrame};
use super::resample::{resample_frame_into, ModelResRef, ResamplePlans};
use crate::frame::{linear_to_srgb, ImageF32};
use crate::gpu::preprocess::{EdgeParams, PreprocessConfig};

/// Hysteresis states.
pub const NONE: u8 = 0;
pub const WEAK: u8 = 1;
pub const STRONG: u8 = 2;

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

/// Perceptual luminance used by the colour cue.
pub fn luma(rgb: &[f32]) -> f32 {
    linear_to_srgb((0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]).clamp(0.0, 1.0))
}

/// Intermediate planes of the edge detector, kept between frames.
#[derive(Debug, Clone, Default)]
pub struct EdgeScratch {
    luma: Vec<f32>,
    log_depth: Vec<f32>,
    grad: Vec<(f32, u32)>,
    state: Vec<u8>,
    /// Hysteresis: the pixels that turned strong in the last step, and in this one.
    frontier: Vec<u32>,
    next: Vec<u32>,
}

/// Per pixel (strength, direction bin) into `out`: the strongest of the colour, depth and
/// normal cues. `luma` and `log_depth` are per-pixel scratch planes.
fn gradient_into(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
    s: &mut EdgeScratch,
) {
    let (w, h) = (color_linear.width, color_linear.height);
    let n = w as usize * h as usize;
    s.luma.resize(n, 0.0);
    s.luma
        .par_iter_mut()
        .zip(color_linear.data.par_chunks_exact(4))
        .for_each(|(l, c)| *l = luma(&c[..3]));
    if let Some(z) = depth_z {
        s.log_depth.resize(n, 0.0);
        s.log_depth
            .par_iter_mut()
            .zip(z.data.par_iter())
            .for_each(|(d, &z)| *d = z.max(1e-6).ln());
    }
    s.grad.resize(n, (0.0, 0));
    let (lum, logd) = (&s.luma, &s.log_depth);
    s.grad
        .par_chunks_mut(w as usize)
        .enumerate()
        .for_each(|(y, row)| {
            let y = y as i32;
            for (x, g_out) in row.iter_mut().enumerate() {
                let x = x as i32;
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
                *g_out = (m, dir_bin(g.0, g.1));
            }
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
    gradient_into(color_linear, depth_z, normals, p, &mut s);
    s.grad
}

fn nms_into(grad: &[(f32, u32)], w: u32, h: u32, p: &EdgeParams, out: &mut Vec<u8>) {
    out.resize(grad.len(), NONE);
    let at = |x: i32, y: i32| {
        if x < 0 || y < 0 || x >= w as i32 || y >= h as i32 {
            0.0
        } else {
            grad[y as usize * w as usize + x as usize].0
        }
    };
    out.par_chunks_mut(w as usize)
        .enumerate()
        .for_each(|(y, row)| {
            let y = y as i32;
            for (x, o) in row.iter_mut().enumerate() {
                let x = x as i32;
                let (m, bin) = grad[y as usize * w as usize + x as usize];
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
    let mut out = Vec::new();
    nms_into(grad, w, h, p, &mut out);
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
    gradient_into(color_linear, depth_z, normals, p, s);
    let mut state = std::mem::take(&mut s.state);
    nms_into(&s.grad, w, h, p, &mut state);
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
