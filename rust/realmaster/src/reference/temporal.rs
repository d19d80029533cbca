//! Temporal accumulation (the CPU implementation of gpu/composite/temporal.wgsl): accumulation of the model RESIDUAL (`current - input`)
//! with history reprojection, depth-based disocclusion rejection, a YCoCg neighbourhood clamp in full
//! colour and a clamp to the current residual's local range (see the shader header for the rule).

use rayon::prelude::*;

use super::decode::ensure_shape;
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

/// One output row of [`temporal`]: this frame's residual, accumulated with the history where
/// it is valid (`params` already sanitized).
fn temporal_row(
    inp: &TemporalInputs<'_>,
    params: &CompositeParams,
    near: &[[f32; 6]],
    y: i32,
    row: &mut [f32],
) {
    let (cur, input) = (inp.current, inp.input);
    let (w, h) = (cur.width, cur.height);
    let index = |x: i32, y: i32| -> usize {
        (y.clamp(0, h as i32 - 1) as u32 * w + x.clamp(0, w as i32 - 1) as u32) as usize
    };
    let (alpha, k) = (params.temporal_alpha, params.clamp_k);
    for (x, o) in row.chunks_exact_mut(4).enumerate() {
        let x = x as i32;
        let i = index(x, y);
        let (c0, n0) = (rgb(cur, i), rgb(input, i));
        let r = [c0[0] - n0[0], c0[1] - n0[1], c0[2] - n0[2]];
        o[..3].copy_from_slice(&r);
        o[3] = 1.0;
        let Some(history) = inp.history else {
            continue;
        };
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
                let v = &near[index(x + dx, y + dy)];
                colour.add([v[0], v[1], v[2]]);
                res.add([v[3], v[4], v[5]]);
            }
        }
        let n = n0;
        let hy = to_ycocg([n[0] + hist[0], n[1] + hist[1], n[2] + hist[2]]);
        let mut clamped = [0.0f32; 3];
        for c in 0..3 {
            let (mean, sd) = colour.mean_sd(c);
            let lo = colour.mn[c].max(mean - k * sd);
            let hi = colour.mx[c].min(mean + k * sd);
            clamped[c] = hy[c].max(lo).min(hi);
        }
        let h_full = from_ycocg(clamped);
        for c in 0..3 {
            let (_, sd) = res.mean_sd(c);
            let hres = (h_full[c] - n[c])
                .max(res.mn[c] - k * sd)
                .min(res.mx[c] + k * sd);
            o[c] = hres * (1.0 - alpha) + r[c] * alpha;
        }
    }
}

/// Per pixel: the current colour in YCoCg and the current residual `current - input`, which the
/// 3x3 neighbourhood statistics read nine times each (computed once here, in parallel).
fn neighbour_terms(inp: &TemporalInputs<'_>, near: &mut Vec<[f32; 6]>) {
    let n = inp.current.data.len() / 4;
    near.resize(n, [0.0; 6]);
    near.par_chunks_mut(4096)
        .enumerate()
        .for_each(|(chunk, terms)| {
            for (k, t) in terms.iter_mut().enumerate() {
                let i = chunk * 4096 + k;
                let (c, n) = (rgb(inp.current, i), rgb(inp.input, i));
                let y = to_ycocg(c);
                *t = [y[0], y[1], y[2], c[0] - n[0], c[1] - n[1], c[2] - n[2]];
            }
        });
}

/// [`temporal`] into `out` (resized to the current image); rows in parallel. `near` is scratch
/// kept by the caller. With a `side` buffer of `side_row` bytes per row,
/// `each_row(input_row, residual_row, side_row)` runs on every finished row while it is still in
/// cache (the compositor blends and encodes there).
pub fn temporal_into_with(
    inp: &TemporalInputs<'_>,
    params: &CompositeParams,
    out: &mut ImageF32,
    near: &mut Vec<[f32; 6]>,
    side: (&mut [u8], usize),
    each_row: impl Fn(&[f32], &[f32], &mut [u8]) + Sync,
) {
    let params = params.sanitized();
    let (w, h) = (inp.current.width, inp.current.height);
    ensure_shape(out, w, h, 4);
    if w == 0 || h == 0 {
        return;
    }
    if inp.history.is_some() {
        neighbour_terms(inp, near);
    }
    let near = &near[..];
    let row_len = w as usize * 4;
    let (side, side_row) = side;
    if side_row == 0 || side.len() < side_row * h as usize {
        out.data
            .par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(y, row)| temporal_row(inp, &params, near, y as i32, row));
        return;
    }
    out.data
        .par_chunks_mut(row_len)
        .zip(side.par_chunks_mut(side_row))
        .enumerate()
        .for_each(|(y, (row, side))| {
            temporal_row(inp, &params, near, y as i32, row);
            each_row(&inp.input.data[y * row_len..(y + 1) * row_len], row, side);
        });
}

/// Accumulate this frame's residual `inp.current - inp.input` with the reprojected, validated and
/// clamped history residual. Returns the new accumulated residual (alpha 1).
pub fn temporal(inp: &TemporalInputs<'_>, params: &CompositeParams) -> ImageF32 {
    let mut out = ImageF32::new(inp.current.width, inp.current.height, 4);
    temporal_into_with(
        inp,
        params,
        &mut out,
        &mut Vec::new(),
        (&mut [], 0),
        |_, _, _| {},
    );
    out
}
