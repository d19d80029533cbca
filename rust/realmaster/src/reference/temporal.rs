//! CPU reference of shaders/temporal.wgsl: history reprojection, depth-based disocclusion rejection,
//! YCoCg neighbourhood clamp and exponential accumulation.

use crate::frame::ImageF32;
use crate::gpu::composite::CompositeParams;

/// Minimum bilinear weight of history taps on the same surface for the history to be used.
pub const MIN_KEPT_WEIGHT: f32 = 0.05;

/// One frame's inputs to the temporal pass (all full resolution).
pub struct TemporalInputs<'a> {
    /// The current upsampled result, 4 channels.
    pub current: &'a ImageF32,
    /// The previous accumulated result, 4 channels; None = reset.
    pub history: Option<&'a ImageF32>,
    /// Motion in pixels (current -> previous) in xy, 4 channels; None = static.
    pub motion: Option<&'a ImageF32>,
    /// Current and previous view depth, 1 channel each; None = no depth test.
    pub depth: Option<(&'a ImageF32, &'a ImageF32)>,
}

fn to_ycocg(c: [f32; 3]) -> [f32; 3] {
    [
        0.25 * c[0] + 0.5 * c[1] + 0.25 * c[2],
        0.5 * c[0] - 0.5 * c[2],
        -0.25 * c[0] + 0.5 * c[1] - 0.25 * c[2],
    ]
}

fn from_ycocg(v: [f32; 3]) -> [f32; 3] {
    [v[0] + v[1] - v[2], v[0] + v[2], v[0] - v[1] - v[2]]
}

/// Accumulate `inp.current` with the reprojected, validated and clamped history.
pub fn temporal(inp: &TemporalInputs<'_>, params: &CompositeParams) -> ImageF32 {
    let params = params.sanitized();
    let cur = inp.current;
    let (w, h) = (cur.width, cur.height);
    let mut out = cur.clone();
    let Some(history) = inp.history else {
        return out;
    };
    let index = |x: i32, y: i32| -> usize {
        (y.clamp(0, h as i32 - 1) as u32 * w + x.clamp(0, w as i32 - 1) as u32) as usize
    };
    let rgb = |img: &ImageF32, i: usize| -> [f32; 3] {
        [img.data[i * 4], img.data[i * 4 + 1], img.data[i * 4 + 2]]
    };
    let alpha = params.temporal_alpha;
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let i = index(x, y);
            let (mx, my) = inp
                .motion
                .map_or((0.0, 0.0), |m| (m.data[i * 4], m.data[i * 4 + 1]));
            let (qx, qy) = (x as f32 + 0.5 + mx, y as f32 + 0.5 + my);
            if !(qx >= 0.0 && qx <= w as f32 && qy >= 0.0 && qy <= h as f32) {
                continue;
            }
            let (tx, ty) = (qx - 0.5, qy - 0.5);
            let (bx, by) = (tx.floor(), ty.floor());
            let (fx, fy) = (tx - bx, ty - by);
            let (x0, y0) = (bx as i32, by as i32);
            let taps = [
                index(x0, y0),
                index(x0 + 1, y0),
                index(x0, y0 + 1),
                index(x0 + 1, y0 + 1),
            ];
            let weights = [
                (1.0 - fx) * (1.0 - fy),
                fx * (1.0 - fy),
                (1.0 - fx) * fy,
                fx * fy,
            ];
            let mut hist = [0.0f32; 3];
            let mut wsum = 0.0f32;
            for (&t, &wt) in taps.iter().zip(&weights) {
                let mut wk = wt;
                if let Some((dc, dp)) = inp.depth {
                    let zc = dc.data[i];
                    if (dp.data[t] - zc).abs() > params.depth_reject * zc.abs() {
                        wk = 0.0;
                    }
                }
                let hv = rgb(history, t);
                for c in 0..3 {
                    hist[c] += wk * hv[c];
                }
                wsum += wk;
            }
            if wsum < MIN_KEPT_WEIGHT {
                continue;
            }
            let hist = hist.map(|v| v / wsum);

            let (mut mn, mut mxv, mut s1, mut s2) =
                ([f32::MAX; 3], [f32::MIN; 3], [0.0f32; 3], [0.0f32; 3]);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let v = to_ycocg(rgb(cur, index(x + dx, y + dy)));
                    for c in 0..3 {
                        mn[c] = mn[c].min(v[c]);
                        mxv[c] = mxv[c].max(v[c]);
                        s1[c] += v[c];
                        s2[c] += v[c] * v[c];
                    }
                }
            }
            let hy = to_ycocg(hist);
            let mut clamped = [0.0f32; 3];
            for c in 0..3 {
                let mean = s1[c] / 9.0;
                let sd = (s2[c] / 9.0 - mean * mean).max(0.0).sqrt();
                let lo = mn[c].max(mean - params.clamp_k * sd);
                let hi = mxv[c].min(mean + params.clamp_k * sd);
                clamped[c] = hy[c].max(lo).min(hi);
            }
            let hc = from_ycocg(clamped);
            let cv = rgb(cur, i);
            for c in 0..3 {
                out.data[i * 4 + c] = hc[c] * (1.0 - alpha) + cv[c] * alpha;
            }
        }
    }
    out
}
