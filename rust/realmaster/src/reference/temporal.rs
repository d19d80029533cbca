//! CPU reference of shaders/temporal.wgsl: accumulation of the model RESIDUAL (`current - input`)
//! with history reprojection, depth-based disocclusion rejection, a YCoCg neighbourhood clamp in full
//! colour and a clamp to the current residual's local range (see the shader header for the rule).

use crate::frame::ImageF32;
use crate::gpu::composite::CompositeParams;

/// Minimum bilinear weight of history taps on the same surface for the history to be used.
pub const MIN_KEPT_WEIGHT: f32 = 0.05;

/// One frame's inputs to the temporal pass (all full resolution).
pub struct TemporalInputs<'a> {
    /// The current upsampled result (input + upsampled residual), 4 channels.
    pub current: &'a ImageF32,
    /// The frame's input colour, 4 channels.
    pub input: &'a ImageF32,
    /// The previous accumulated residual, 4 channels; None = reset.
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

fn rgb(img: &ImageF32, i: usize) -> [f32; 3] {
    [img.data[i * 4], img.data[i * 4 + 1], img.data[i * 4 + 2]]
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

/// Running min, max, sum and sum of squares of a 3x3 neighbourhood, per channel.
struct Stats {
    mn: [f32; 3],
    mx: [f32; 3],
    s1: [f32; 3],
    s2: [f32; 3],
}

impl Stats {
    fn new() -> Self {
        Stats {
            mn: [f32::MAX; 3],
            mx: [f32::MIN; 3],
            s1: [0.0; 3],
            s2: [0.0; 3],
        }
    }

    fn add(&mut self, v: [f32; 3]) {
        for (c, &x) in v.iter().enumerate() {
            self.mn[c] = self.mn[c].min(x);
            self.mx[c] = self.mx[c].max(x);
            self.s1[c] += x;
            self.s2[c] += x * x;
        }
    }

    fn mean_sd(&self, c: usize) -> (f32, f32) {
        let mean = self.s1[c] / 9.0;
        (mean, (self.s2[c] / 9.0 - mean * mean).max(0.0).sqrt())
    }
}

/// Accumulate this frame's residual `inp.current - inp.input` with the reprojected, validated and
/// clamped history residual. Returns the new accumulated residual (alpha 1).
pub fn temporal(inp: &TemporalInputs<'_>, params: &CompositeParams) -> ImageF32 {
    let params = params.sanitized();
    let (cur, input) = (inp.current, inp.input);
    let (w, h) = (cur.width, cur.height);
    let mut out = residual(cur, input);
    let Some(history) = inp.history else {
        return out;
    };
    let index = |x: i32, y: i32| -> usize {
        (y.clamp(0, h as i32 - 1) as u32 * w + x.clamp(0, w as i32 - 1) as u32) as usize
    };
    let (alpha, k) = (params.temporal_alpha, params.clamp_k);
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

            // 3x3 neighbourhoods: the current colour in YCoCg, the current residual in rgb.
            let (mut colour, mut res) = (Stats::new(), Stats::new());
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let j = index(x + dx, y + dy);
                    let (c, n) = (rgb(cur, j), rgb(input, j));
                    colour.add(to_ycocg(c));
                    res.add([c[0] - n[0], c[1] - n[1], c[2] - n[2]]);
                }
            }
            let n = rgb(input, i);
            let hy = to_ycocg([n[0] + hist[0], n[1] + hist[1], n[2] + hist[2]]);
            let mut clamped = [0.0f32; 3];
            for c in 0..3 {
                let (mean, sd) = colour.mean_sd(c);
                let lo = colour.mn[c].max(mean - k * sd);
                let hi = colour.mx[c].min(mean + k * sd);
                clamped[c] = hy[c].max(lo).min(hi);
            }
            let h_full = from_ycocg(clamped);
            let r = rgb(&out, i);
            for c in 0..3 {
                let (_, sd) = res.mean_sd(c);
                let hres = (h_full[c] - n[c])
                    .max(res.mn[c] - k * sd)
                    .min(res.mx[c] + k * sd);
                out.data[i * 4 + c] = hres * (1.0 - alpha) + r[c] * alpha;
            }
        }
    }
    out
}
