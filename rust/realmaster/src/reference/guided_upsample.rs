//! CPU reference of shaders/guided_upsample.wgsl: joint bilateral upsampling of the model residual.

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

fn perceptual(c: f32) -> f32 {
    let p = c.max(0.0);
    (p / (1.0 + p)).sqrt()
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
    let (w, h) = (guide.width, guide.height);
    let (lw, lh) = (out_lr.width, out_lr.height);
    let UpsampleKernel {
        inv_2ss,
        inv_2sr,
        edge,
    } = UpsampleKernel::new(sigma_spatial, sigma_range);
    let (sx, sy) = (lw as f32 / w as f32, lh as f32 / h as f32);
    let mut out = ImageF32::new(w, h, 4);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize * 4;
            let g = &guide.data[i..i + 4];
            let pg = [perceptual(g[0]), perceptual(g[1]), perceptual(g[2])];
            let (ux, uy) = ((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
            let (bx, by) = (ux.floor() as i32, uy.floor() as i32);
            let mut wx = [0.0f32; 4];
            let mut wy = [0.0f32; 4];
            for k in 0..4 {
                let dx = (bx - 1 + k as i32) as f32 - ux;
                let dy = (by - 1 + k as i32) as f32 - uy;
                wx[k] = ((-dx * dx * inv_2ss).exp() - edge).max(0.0);
                wy[k] = ((-dy * dy * inv_2ss).exp() - edge).max(0.0);
            }
            let (mut sum_j, mut w_j, mut sum_s, mut w_s) =
                ([0.0f32; 3], 0.0f32, [0.0f32; 3], 0.0f32);
            for (ky, &wyk) in wy.iter().enumerate() {
                let ty = (by - 1 + ky as i32).clamp(0, lh as i32 - 1) as u32;
                for (kx, &wxk) in wx.iter().enumerate() {
                    let tx = (bx - 1 + kx as i32).clamp(0, lw as i32 - 1) as u32;
                    let t = (ty * lw + tx) as usize * 4;
                    let o = &out_lr.data[t..t + 4];
                    let n = &in_lr.data[t..t + 4];
                    let ws = wxk * wyk * o[3].clamp(0.0, 1.0);
                    let mut d2 = 0.0;
                    for c in 0..3 {
                        let d = pg[c] - perceptual(n[c]);
                        d2 += d * d;
                    }
                    let wj = ws * (-d2 * inv_2sr).exp();
                    for c in 0..3 {
                        let r = o[c] - n[c];
                        sum_s[c] += ws * r;
                        sum_j[c] += wj * r;
                    }
                    w_s += ws;
                    w_j += wj;
                }
            }
            let res = if w_j >= 1e-4 * w_s && w_j > 0.0 {
                sum_j.map(|v| v / w_j)
            } else if w_s > 1e-8 {
                sum_s.map(|v| v / w_s)
            } else {
                [0.0; 3]
            };
            for c in 0..3 {
                out.data[i + c] = (g[c] + res[c]).max(0.0);
            }
            out.data[i + 3] = g[3];
        }
    }
    out
}
