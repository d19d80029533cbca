//! CPU reference of the edge passes (shaders/edges_gradient.wgsl, edges_nms.wgsl,
//! edges_hysteresis.wgsl), step for step: same cue formulas, same direction bins, same
//! tie-breaking, same bounded Jacobi hysteresis.

use super::decode::DecodedFrame;
use super::resample::{resample_frame, ModelResRef};
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

/// Per pixel (strength, direction bin): the strongest of the colour, depth and normal cues.
pub fn gradient(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
) -> Vec<(f32, u32)> {
    let (w, h) = (color_linear.width, color_linear.height);
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let mut l = [0f32; 9];
            let mut d = [0f32; 9];
            let mut n = [[0f32; 9]; 3];
            for k in 0..9i32 {
                let j = idx(w, h, x + k % 3 - 1, y + k / 3 - 1);
                l[k as usize] = luma(&color_linear.data[j * 4..j * 4 + 3]);
                if let Some(z) = depth_z {
                    d[k as usize] = z.data[j].max(1e-6).ln();
                }
                if let Some(nm) = normals {
                    for (c, plane) in n.iter_mut().enumerate() {
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
                let (a, b, c) = (sobel(&n[0]), sobel(&n[1]), sobel(&n[2]));
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

/// Non-maximum suppression along the binned direction, then the double threshold.
pub fn nms(grad: &[(f32, u32)], w: u32, h: u32, p: &EdgeParams) -> Vec<u8> {
    let at = |x: i32, y: i32| {
        if x < 0 || y < 0 || x >= w as i32 || y >= h as i32 {
            0.0
        } else {
            grad[y as usize * w as usize + x as usize].0
        }
    };
    let mut out = Vec::with_capacity(grad.len());
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let (m, bin) = grad[y as usize * w as usize + x as usize];
            let (dx, dy) = match bin {
                1 => (0, 1),
                2 => (1, 1),
                3 => (1, -1),
                _ => (1, 0),
            };
            let keep = m > at(x + dx, y + dy) && m >= at(x - dx, y - dy);
            out.push(if !keep {
                NONE
            } else if m >= p.high {
                STRONG
            } else if m >= p.low {
                WEAK
            } else {
                NONE
            });
        }
    }
    out
}

/// At most `max_iterations` Jacobi steps of "weak next to strong becomes strong" (8-neighbours),
/// stopping early at the fixed point, exactly as the GPU steps do.
pub fn hysteresis(state: &[u8], w: u32, h: u32, max_iterations: u32) -> Vec<u8> {
    let mut cur = state.to_vec();
    for _ in 0..max_iterations {
        let mut next = cur.clone();
        let mut changed = false;
        for y in 0..h as i32 {
            for x in 0..w as i32 {
                let i = y as usize * w as usize + x as usize;
                if cur[i] != WEAK {
                    continue;
                }
                let strong_near = (-1..=1).any(|dy: i32| {
                    (-1..=1).any(|dx: i32| {
                        let (nx, ny) = (x + dx, y + dy);
                        nx >= 0
                            && ny >= 0
                            && nx < w as i32
                            && ny < h as i32
                            && cur[ny as usize * w as usize + nx as usize] == STRONG
                    })
                });
                if strong_near {
                    next[i] = STRONG;
                    changed = true;
                }
            }
        }
        cur = next;
        if !changed {
            break;
        }
    }
    cur
}

/// The full edge map (1 channel, 0/1) of a model-resolution frame.
pub fn edges(
    color_linear: &ImageF32,
    depth_z: Option<&ImageF32>,
    normals: Option<&ImageF32>,
    p: &EdgeParams,
) -> ImageF32 {
    let (w, h) = (color_linear.width, color_linear.height);
    let g = gradient(color_linear, depth_z, normals, p);
    let s = hysteresis(&nms(&g, w, h, p), w, h, p.max_iterations);
    ImageF32 {
        width: w,
        height: h,
        channels: 1,
        data: s
            .iter()
            .map(|&v| if v == STRONG { 1.0 } else { 0.0 })
            .collect(),
    }
}

/// The whole preprocessing chain on the CPU: resample + encode + edges.
pub fn model_inputs(frame: &DecodedFrame, cfg: &PreprocessConfig) -> ModelResRef {
    let mut r = resample_frame(frame, cfg);
    r.edges = edges(
        &r.color_linear,
        r.has_depth.then_some(&r.depth_z),
        r.has_normals.then_some(&r.normals),
        &cfg.edges,
    );
    r
}
