//! Image-quality metrics for evaluating a model package through the runtime against a sequence's
//! paired target frames: PSNR, SSIM, temporal warping error, edge preservation, sharpness (mean
//! Laplacian magnitude), ghost edges and drift over the clip. The CLI's
//! `realmaster eval` and the shipped model's regression test use the same code, so the numbers in
//! a model card can be re-measured exactly.

use crate::error::{Error, Result};
use crate::frame::{linear_to_srgb, srgb_to_linear, ColorFormat, ImageF32, OwnedFrame};
use crate::gpu::preprocess::EdgeParams;
use crate::pipeline::{Mode, OutputFrame, Session, SessionConfig};
use crate::reference;
use crate::sequence::Sequence;
use serde::Serialize;

/// Relative view-distance difference above which a reprojected pixel counts as disoccluded
/// (the same tolerance the training tooling's `valid_history_mask` uses).
pub const DISOCCLUSION_REL_TOL: f32 = 0.1;

fn check_same(a: &ImageF32, b: &ImageF32) -> Result<()> {
    if (a.width, a.height, a.channels) != (b.width, b.height, b.channels) {
        return Err(Error::config(
            format!(
                "cannot compare a {}x{}x{} image with a {}x{}x{} one",
                a.width, a.height, a.channels, b.width, b.height, b.channels
            ),
            "compare images of the same size and channel count",
        ));
    }
    Ok(())
}

/// Peak signal-to-noise ratio in dB for values in [0, 1]; 99 dB for identical images.
pub fn psnr(a: &ImageF32, b: &ImageF32) -> Result<f64> {
    check_same(a, b)?;
    let n = a.data.len().max(1) as f64;
    let mse = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / n;
    Ok(if mse <= 1e-10 {
        99.0
    } else {
        -10.0 * mse.log10()
    })
}

/// Mean structural similarity over all channels, with a 7x7 uniform window (valid positions only)
/// and the usual constants for a [0, 1] range.
pub fn ssim(a: &ImageF32, b: &ImageF32) -> Result<f64> {
    check_same(a, b)?;
    const R: i64 = 3;
    let (w, h, ch) = (a.width as i64, a.height as i64, a.channels as i64);
    if w < 2 * R + 1 || h < 2 * R + 1 {
        return Err(Error::config(
            format!("SSIM needs at least 7x7 pixels, got {w}x{h}"),
            "evaluate larger frames",
        ));
    }
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    // Summed-area tables of x, y, x², y², xy per channel make every window O(1).
    let sw = (w + 1) as usize;
    let mut total = 0.0;
    let mut count = 0usize;
    for c in 0..ch {
        let mut tabs = vec![vec![0.0f64; sw * (h + 1) as usize]; 5];
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * ch + c) as usize;
                let (p, q) = (a.data[i] as f64, b.data[i] as f64);
                let vals = [p, q, p * p, q * q, p * q];
                let o = (y as usize + 1) * sw + x as usize + 1;
                for (t, v) in tabs.iter_mut().zip(vals) {
                    t[o] = v + t[o - 1] + t[o - sw] - t[o - sw - 1];
                }
            }
        }
        let n = ((2 * R + 1) * (2 * R + 1)) as f64;
        for y in R..h - R {
            for x in R..w - R {
                let (x0, y0, x1, y1) = (
                    (x - R) as usize,
                    (y - R) as usize,
                    (x + R + 1) as usize,
                    (y + R + 1) as usize,
                );
                let s = |t: &Vec<f64>| {
                    (t[y1 * sw + x1] - t[y0 * sw + x1] - t[y1 * sw + x0] + t[y0 * sw + x0]) / n
                };
                let (mx, my) = (s(&tabs[0]), s(&tabs[1]));
                let vx = (s(&tabs[2]) - mx * mx).max(0.0);
                let vy = (s(&tabs[3]) - my * my).max(0.0);
                let cxy = s(&tabs[4]) - mx * my;
                total += ((2.0 * mx * my + c1) * (2.0 * cxy + c2))
                    / ((mx * mx + my * my + c1) * (vx + vy + c2));
                count += 1;
            }
        }
    }
    Ok(total / count.max(1) as f64)
}

/// Bilinear sample of `img` (clamped to the border).
fn sample(img: &ImageF32, x: f32, y: f32, c: u32) -> f32 {
    let (w, h) = (img.width as f32, img.height as f32);
    let x = x.clamp(0.0, w - 1.0);
    let y = y.clamp(0.0, h - 1.0);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(img.width - 1), (y0 + 1).min(img.height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = img.at(x0, y0, c) * (1.0 - fx) + img.at(x1, y0, c) * fx;
    let bottom = img.at(x0, y1, c) * (1.0 - fx) + img.at(x1, y1, c) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Per-pixel validity of reprojecting frame t-1 onto frame t: the motion vector's source lies in
/// the frame and, with depth, the previous view distance there agrees with the current one within
/// [`DISOCCLUSION_REL_TOL`] (both being sky also agrees). `motion` is 2 channels, pixels to previous.
pub fn history_mask(
    motion: &ImageF32,
    depth_cur: Option<&ImageF32>,
    depth_prev: Option<&ImageF32>,
    sky_depth: f32,
) -> ImageF32 {
    let (w, h) = (motion.width, motion.height);
    let mut m = ImageF32::new(w, h, 1);
    for y in 0..h {
        for x in 0..w {
            let sx = x as f32 + motion.at(x, y, 0);
            let sy = y as f32 + motion.at(x, y, 1);
            let inside = sx >= 0.0 && sy >= 0.0 && sx <= (w - 1) as f32 && sy <= (h - 1) as f32;
            let ok = inside
                && match (depth_cur, depth_prev) {
                    (Some(dc), Some(dp)) => {
                        let zc = dc.at(x, y, 0);
                        let zp = sample(dp, sx, sy, 0);
                        let sky = |z: f32| z >= sky_depth * 0.5;
                        (sky(zc) && sky(zp))
                            || (zc - zp).abs() <= DISOCCLUSION_REL_TOL * zc.max(1e-3)
                    }
                    _ => true,
                };
            m.data[(y * w + x) as usize] = if ok { 1.0 } else { 0.0 };
        }
    }
    m
}

/// Mean absolute difference between `cur` and `prev` warped onto it with `motion`, over the pixels
/// `mask` marks valid; also returns how many pixels counted.
pub fn warp_error(
    cur: &ImageF32,
    prev: &ImageF32,
    motion: &ImageF32,
    mask: &ImageF32,
) -> Result<(f64, usize)> {
    check_same(cur, prev)?;
    let mut sum = 0.0;
    let mut n = 0usize;
    for y in 0..cur.height {
        for x in 0..cur.width {
            if mask.at(x, y, 0) < 0.5 {
                continue;
            }
            let sx = x as f32 + motion.at(x, y, 0);
            let sy = y as f32 + motion.at(x, y, 1);
            for c in 0..cur.channels {
                sum += (cur.at(x, y, c) - sample(prev, sx, sy, c)).abs() as f64;
            }
            n += 1;
        }
    }
    Ok((
        if n > 0 {
            sum / (n as f64 * cur.channels as f64)
        } else {
            0.0
        },
        n,
    ))
}

/// Binary edge map of a 3-channel sRGB image: the runtime's own Canny reference, colour cue only.
pub fn edge_map(img: &ImageF32) -> ImageF32 {
    let mut lin = ImageF32::new(img.width, img.height, 4);
    for (d, s) in lin.data.chunks_exact_mut(4).zip(img.data.chunks_exact(3)) {
        for c in 0..3 {
            d[c] = srgb_to_linear(s[c]);
        }
        d[3] = 1.0;
    }
    reference::edges::edges(&lin, None, None, &EdgeParams::default())
}

/// F-score of `pred` edges against `reference` edges with a 1-pixel matching tolerance:
/// returns (matched pred, pred, matched ref, ref) so scores can be pooled over frames.
pub fn edge_counts(pred: &ImageF32, reference: &ImageF32) -> [u64; 4] {
    let (w, h) = (pred.width as i64, pred.height as i64);
    let on = |img: &ImageF32, x: i64, y: i64| {
        x >= 0 && y >= 0 && x < w && y < h && img.at(x as u32, y as u32, 0) > 0.5
    };
    let near = |img: &ImageF32, x: i64, y: i64| {
        (-1..=1).any(|dy| (-1..=1).any(|dx| on(img, x + dx, y + dy)))
    };
    let mut c = [0u64; 4];
    for y in 0..h {
        for x in 0..w {
            if on(pred, x, y) {
                c[1] += 1;
                c[0] += near(reference, x, y) as u64;
            }
            if on(reference, x, y) {
                c[3] += 1;
                c[2] += near(pred, x, y) as u64;
            }
        }
    }
    c
}

/// F-score from pooled [`edge_counts`].
pub fn f_score(c: [u64; 4]) -> f64 {
    let p = if c[1] > 0 {
        c[0] as f64 / c[1] as f64
    } else {
        0.0
    };
    let r = if c[3] > 0 {
        c[2] as f64 / c[3] as f64
    } else {
        0.0
    };
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Sharpness: mean |Laplacian| (4-neighbour, clamp-to-edge) of the luma of a 3-channel sRGB image.
/// A blurred image scores lower; compare an output with its target (ratio ≥ 0.9 = not softer).
pub fn sharpness(img: &ImageF32) -> f64 {
    let (w, h) = (img.width as i64, img.height as i64);
    if w == 0 || h == 0 || img.channels < 3 {
        return 0.0;
    }
    let c = img.channels as usize;
    let luma = |x: i64, y: i64| {
        let i = (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize * c;
        0.2126 * img.data[i] + 0.7152 * img.data[i + 1] + 0.0722 * img.data[i + 2]
    };
    let mut sum = 0.0f64;
    for y in 0..h {
        for x in 0..w {
            let l = luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1)
                - 4.0 * luma(x, y);
            sum += l.abs() as f64;
        }
    }
    sum / (w * h) as f64
}

/// Edges of `img` that lie within 1 px of none of `keep`'s edge maps: (such edges, all edges of `img`).
/// With `keep` = [input, target] this counts ghosts (doubled or smeared copies, invented structure).
pub fn stray_edges(img_edges: &ImageF32, keep: &[&ImageF32]) -> (u64, u64) {
    let (w, h) = (img_edges.width as i64, img_edges.height as i64);
    let on = |e: &ImageF32, x: i64, y: i64| {
        x >= 0 && y >= 0 && x < w && y < h && e.at(x as u32, y as u32, 0) > 0.5
    };
    let (mut stray, mut all) = (0u64, 0u64);
    for y in 0..h {
        for x in 0..w {
            if !on(img_edges, x, y) {
                continue;
            }
            all += 1;
            let near = keep
                .iter()
                .any(|k| (-1..=1).any(|dy| (-1..=1).any(|dx| on(k, x + dx, y + dy))));
            stray += (!near) as u64;
        }
    }
    (stray, all)
}

/// Mean of all channels (0..1): the frame's brightness, for drift checks.
pub fn mean_value(img: &ImageF32) -> f64 {
    img.data.iter().map(|v| *v as f64).sum::<f64>() / img.data.len().max(1) as f64
}

/// Least-squares slope of `ys` against their index (units per frame); 0 for fewer than 2 values.
pub fn slope(ys: &[f64]) -> f64 {
    let n = ys.len();
    if n < 2 {
        return 0.0;
    }
    let mx = (n - 1) as f64 / 2.0;
    let my = ys.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = i as f64 - mx;
        sxy += dx * (y - my);
        sxx += dx * dx;
    }
    sxy / sxx
}

/// An 8-bit output frame as a 3-channel sRGB [0, 1] image; float outputs are encoded to sRGB.
pub fn output_image(out: &OutputFrame) -> Result<ImageF32> {
    let mut img = ImageF32::new(out.width, out.height, 3);
    let bpp = out.format.bytes_per_pixel();
    for (i, px) in out.data.chunks_exact(bpp).enumerate() {
        let rgb: [f32; 3] = match out.format {
            ColorFormat::Rgba8Srgb => [
                px[0] as f32 / 255.0,
                px[1] as f32 / 255.0,
                px[2] as f32 / 255.0,
            ],
            ColorFormat::Bgra8Srgb => [
                px[2] as f32 / 255.0,
                px[1] as f32 / 255.0,
                px[0] as f32 / 255.0,
            ],
            ColorFormat::Rgba16Float => {
                let f = |k: usize| half::f16::from_le_bytes([px[2 * k], px[2 * k + 1]]).to_f32();
                [f(0), f(1), f(2)].map(|v| linear_to_srgb(v.clamp(0.0, 1.0)))
            }
            ColorFormat::Rgba32Float => {
                let f = |k: usize| {
                    f32::from_le_bytes([px[4 * k], px[4 * k + 1], px[4 * k + 2], px[4 * k + 3]])
                };
                [f(0), f(1), f(2)].map(|v| linear_to_srgb(v.clamp(0.0, 1.0)))
            }
        };
        img.data[i * 3..i * 3 + 3].copy_from_slice(&rgb);
    }
    Ok(img)
}

/// One weather's scores on one sequence.
#[derive(Debug, Clone, Serialize)]
pub struct WeatherScores {
    pub weather: String,
    pub frames: u32,
    /// Mean over frames.
    pub psnr: f64,
    pub ssim: f64,
    /// The pass-through baseline: the input frame itself against the target.
    pub psnr_passthrough: f64,
    pub ssim_passthrough: f64,
    /// Mean absolute warping error (0..1 per channel) over non-disoccluded pixels, for the
    /// output, the target render and the input.
    pub warp_error: f64,
    pub warp_error_target: f64,
    pub warp_error_input: f64,
    /// Edge F-score of the output's edges against the input's edges.
    pub edge_f: f64,
    pub edge_f_target: f64,
    /// Mean |Laplacian| of the luma ([`sharpness`]) of the output, the target and the input.
    pub sharpness: f64,
    pub sharpness_target: f64,
    pub sharpness_input: f64,
    /// Fraction of the output's edges near neither an input edge nor a target edge (ghosts).
    pub ghost_edges: f64,
    /// Fraction of edges not near an input edge, for the output and for the target (the target's
    /// own level of new structure: rain streaks, snow, fog boundaries).
    pub new_edges: f64,
    pub new_edges_target: f64,
    /// Drift: least-squares slopes over the clip's frames of the PSNR to the target (dB/frame) and
    /// of the output's mean minus the input's mean (per frame).
    pub psnr_slope: f64,
    pub brightness_drift_slope: f64,
    /// The guided upsample's ridge the frames were composited with (the session's, scaled by the
    /// package's ridge for this weather's preset).
    pub upsample_eps: f32,
    /// The guided upsample's edge-aware fit for this weather's preset (the package's
    /// `upsample.edge_ridge` and `edge_aware`): the ridge's factor on the edges (1: plain) and the
    /// pull's weight off them (0: plain).
    pub upsample_edge_ridge: f32,
    pub upsample_edge_pull: f32,
    pub per_frame: Vec<FrameScore>,
}

/// One frame's figures (drift plots, per-frame regression checks).
#[derive(Debug, Clone, Serialize)]
pub struct FrameScore {
    pub psnr: f64,
    pub psnr_passthrough: f64,
    pub mean_output: f64,
    pub mean_input: f64,
    pub mean_target: f64,
}

/// A re-exposure of a sequence's engine frames and targets alike, in stops of linear light: the
/// same scene as an engine that renders darker or brighter (Bevy's street is about 3 stops below
/// the path tracer's training renders). Only finite values in [-10, 10] exist.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exposure(f32);

impl Exposure {
    /// The sequence as it is.
    pub const NONE: Exposure = Exposure(0.0);

    pub fn stops(ev: f32) -> Result<Exposure> {
        if !(ev.is_finite() && (-10.0..=10.0).contains(&ev)) {
            return Err(Error::config(
                format!("exposure {ev} stops is out of range"),
                "pass a number of stops between -10 and 10 (e.g. -3 for an engine 8x darker)",
            ));
        }
        Ok(Exposure(ev))
    }

    pub fn ev(self) -> f32 {
        self.0
    }

    fn gain(self) -> f32 {
        self.0.exp2()
    }

    /// An sRGB value (0..1) re-exposed: decoded, scaled in linear light, encoded and clipped.
    fn srgb(self, v: f32) -> f32 {
        linear_to_srgb(srgb_to_linear(v) * self.gain()).min(1.0)
    }

    /// Every 8-bit sRGB value re-exposed, rounded to the nearest byte.
    fn srgb8_table(self) -> [u8; 256] {
        std::array::from_fn(|b| (self.srgb(b as f32 / 255.0) * 255.0).round() as u8)
    }

    /// The engine frame's colour re-exposed in place: 8-bit sRGB through a table (rounded to the
    /// nearest byte, alpha kept), linear float formats scaled.
    pub fn apply_to_frame(self, f: &mut OwnedFrame) {
        if self.0 == 0.0 {
            return;
        }
        match f.format {
            ColorFormat::Rgba8Srgb | ColorFormat::Bgra8Srgb => {
                let table = self.srgb8_table();
                for p in f.color.chunks_exact_mut(4) {
                    for c in &mut p[..3] {
                        *c = table[*c as usize];
                    }
                }
            }
            ColorFormat::Rgba32Float => {
                for p in f.color.chunks_exact_mut(16) {
                    for c in p[..12].chunks_exact_mut(4) {
                        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * self.gain();
                        c.copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            ColorFormat::Rgba16Float => {
                for p in f.color.chunks_exact_mut(8) {
                    for c in p[..6].chunks_exact_mut(2) {
                        let v = half::f16::from_le_bytes([c[0], c[1]]).to_f32() * self.gain();
                        c.copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
                    }
                }
            }
        }
    }

    /// A target (sRGB 0..1) re-exposed in place, unquantised.
    pub fn apply_to_target(self, t: &mut ImageF32) {
        if self.0 != 0.0 {
            t.data.iter_mut().for_each(|v| *v = self.srgb(*v));
        }
    }
}

/// Run `seq` through a cinematic session per weather (the preset of that name, strength 1) and
/// score every frame against the sequence's target for that weather. `config` supplies the model
/// and EP; its mode, prompt and strength are overridden.
pub fn evaluate_sequence(
    config: &SessionConfig,
    seq: &Sequence,
    weathers: &[String],
) -> Result<Vec<WeatherScores>> {
    evaluate_sequence_exposed(config, seq, weathers, Exposure::NONE)
}

/// [`evaluate_sequence`] with the engine frames and the targets re-exposed by `exposure` (the
/// relation between them kept): how the model holds up on an engine that renders darker or
/// brighter than the sequence.
pub fn evaluate_sequence_exposed(
    config: &SessionConfig,
    seq: &Sequence,
    weathers: &[String],
    exposure: Exposure,
) -> Result<Vec<WeatherScores>> {
    let available: Vec<&str> = seq.target_prompts();
    let sky_depth = seq
        .desc()
        .meta
        .get("sky_depth")
        .and_then(|v| v.as_f64())
        .unwrap_or(f64::INFINITY) as f32;
    let mut results = Vec::new();
    for weather in weathers {
        if !available.contains(&weather.as_str()) {
            return Err(Error::config(
                format!(
                    "{} has no '{weather}' targets (it has: {})",
                    seq.dir().display(),
                    available.join(", ")
                ),
                "pick a weather the sequence has targets for",
            ));
        }
        let n = seq.frame_count();
        let mut cfg = config.clone();
        cfg.mode = Mode::Cinematic;
        cfg.prompt = weather.clone();
        cfg.strength = 1.0;
        let session = Session::new(cfg)?;
        let mut frame = OwnedFrame::default();
        let mut out = OutputFrame::default();
        let (mut psnr_sum, mut ssim_sum, mut bpsnr, mut bssim) = (0.0, 0.0, 0.0, 0.0);
        let (mut we, mut we_t, mut we_i, mut we_n) = (0.0, 0.0, 0.0, 0usize);
        let (mut e_out, mut e_tgt) = ([0u64; 4], [0u64; 4]);
        let (mut sharp, mut sharp_t, mut sharp_i) = (0.0, 0.0, 0.0);
        let (mut ghost, mut new_o, mut new_t) = ([0u64; 2], [0u64; 2], [0u64; 2]);
        let mut per_frame = Vec::with_capacity(n as usize);
        let mut prev: Option<(ImageF32, ImageF32, ImageF32, Option<ImageF32>)> = None;
        for i in 0..n {
            // load_frame_into sets camera_cut, which resets the session's history at cuts.
            seq.load_frame_into(i, &mut frame)?;
            exposure.apply_to_frame(&mut frame);
            session.submit(&frame.as_frame_ref())?;
            session.latest_output(&mut out);
            if !out.enhanced {
                let why = match session.health() {
                    crate::pipeline::Health::PassThrough { message, .. } => message,
                    crate::pipeline::Health::Ok => "no output".into(),
                };
                return Err(Error::config(
                    format!("frame {i} was not enhanced: {why}"),
                    "run `realmaster doctor` and fix what it reports",
                ));
            }
            let o = output_image(&out)?;
            let mut t = seq.load_target(weather, i)?;
            exposure.apply_to_target(&mut t);
            let input = input_image(&frame)?;
            let (p, bp) = (psnr(&o, &t)?, psnr(&input, &t)?);
            psnr_sum += p;
            ssim_sum += ssim(&o, &t)?;
            bpsnr += bp;
            bssim += ssim(&input, &t)?;
            per_frame.push(FrameScore {
                psnr: p,
                psnr_passthrough: bp,
                mean_output: mean_value(&o),
                mean_input: mean_value(&input),
                mean_target: mean_value(&t),
            });
            sharp += sharpness(&o);
            sharp_t += sharpness(&t);
            sharp_i += sharpness(&input);
            let in_edges = edge_map(&input);
            let (o_edges, t_edges) = (edge_map(&o), edge_map(&t));
            add(&mut e_out, edge_counts(&o_edges, &in_edges));
            add(&mut e_tgt, edge_counts(&t_edges, &in_edges));
            let g = stray_edges(&o_edges, &[&in_edges, &t_edges]);
            let no = stray_edges(&o_edges, &[&in_edges]);
            let nt = stray_edges(&t_edges, &[&in_edges]);
            for (acc, v) in [(&mut ghost, g), (&mut new_o, no), (&mut new_t, nt)] {
                acc[0] += v.0;
                acc[1] += v.1;
            }
            let motion = frame
                .has_motion
                .then(|| plane_image(&frame.motion, frame.width, frame.height, 2));
            let depth = frame
                .has_depth
                .then(|| plane_image(&frame.depth, frame.width, frame.height, 1));
            if let (Some((po, pt, pi, pd)), Some(m), false) = (&prev, &motion, seq.is_cut(i)) {
                let mask = history_mask(m, depth.as_ref(), pd.as_ref(), sky_depth);
                let (a, k) = warp_error(&o, po, m, &mask)?;
                we += a * k as f64;
                we_t += warp_error(&t, pt, m, &mask)?.0 * k as f64;
                we_i += warp_error(&input, pi, m, &mask)?.0 * k as f64;
                we_n += k;
            }
            prev = Some((o, t, input, depth));
        }
        let nf = n.max(1) as f64;
        let wn = we_n.max(1) as f64;
        results.push(WeatherScores {
            weather: weather.clone(),
            upsample_eps: session.stats().last_upsample_eps,
            upsample_edge_ridge: session.stats().last_upsample_edge_ridge,
            upsample_edge_pull: session.stats().last_upsample_edge_pull,
            frames: n,
            psnr: psnr_sum / nf,
            ssim: ssim_sum / nf,
            psnr_passthrough: bpsnr / nf,
            ssim_passthrough: bssim / nf,
            warp_error: we / wn,
            warp_error_target: we_t / wn,
            warp_error_input: we_i / wn,
            edge_f: f_score(e_out),
            edge_f_target: f_score(e_tgt),
            sharpness: sharp / nf,
            sharpness_target: sharp_t / nf,
            sharpness_input: sharp_i / nf,
            ghost_edges: ratio(ghost),
            new_edges: ratio(new_o),
            new_edges_target: ratio(new_t),
            psnr_slope: slope(&per_frame.iter().map(|f| f.psnr).collect::<Vec<_>>()),
            brightness_drift_slope: slope(
                &per_frame
                    .iter()
                    .map(|f| f.mean_output - f.mean_input)
                    .collect::<Vec<_>>(),
            ),
            per_frame,
        });
    }
    Ok(results)
}

fn ratio(c: [u64; 2]) -> f64 {
    if c[1] == 0 {
        0.0
    } else {
        c[0] as f64 / c[1] as f64
    }
}

fn add(a: &mut [u64; 4], b: [u64; 4]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// The submitted color as a 3-channel sRGB [0, 1] image.
fn input_image(f: &OwnedFrame) -> Result<ImageF32> {
    let out = OutputFrame {
        width: f.width,
        height: f.height,
        format: f.format,
        data: f.color.clone(),
        frame_index: 0,
        enhanced: false,
    };
    output_image(&out)
}

/// A tightly packed little-endian f32 plane as an image.
fn plane_image(bytes: &[u8], w: u32, h: u32, channels: u32) -> ImageF32 {
    let mut img = ImageF32::new(w, h, channels);
    for (d, s) in img.data.iter_mut().zip(bytes.chunks_exact(4)) {
        *d = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exposure_scales_linear_light_in_every_colour_format() {
        assert!(Exposure::stops(f32::NAN).is_err());
        assert!(Exposure::stops(10.5).is_err());
        let e = Exposure::stops(-3.0).expect("in range");
        // 8-bit sRGB: white becomes 1/8 of the light (sRGB 0.3886 -> byte 99), black stays, alpha kept.
        let mut f = OwnedFrame {
            width: 2,
            height: 1,
            format: ColorFormat::Rgba8Srgb,
            color: vec![255, 255, 255, 77, 0, 128, 255, 200],
            ..Default::default()
        };
        e.apply_to_frame(&mut f);
        assert_eq!(f.color[..4], [99, 99, 99, 77]);
        assert_eq!(f.color[4], 0);
        assert_eq!(f.color[7], 200);
        let back = srgb_to_linear(f.color[5] as f32 / 255.0) / srgb_to_linear(128.0 / 255.0);
        assert!((back - 0.125).abs() < 0.01, "{back}");
        // Linear floats: scaled exactly, alpha kept.
        let px = [0.5f32, 2.0, 0.0, 0.25];
        let mut f32s = OwnedFrame {
            width: 1,
            height: 1,
            format: ColorFormat::Rgba32Float,
            color: px.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        e.apply_to_frame(&mut f32s);
        let got: Vec<f32> = f32s
            .color
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(got, vec![0.0625, 0.25, 0.0, 0.25]);
        let mut f16s = OwnedFrame {
            width: 1,
            height: 1,
            format: ColorFormat::Rgba16Float,
            color: px
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            ..Default::default()
        };
        e.apply_to_frame(&mut f16s);
        let got: Vec<f32> = f16s
            .color
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        assert_eq!(got, vec![0.0625, 0.25, 0.0, 0.25]);
        // A target: the same curve, unquantised; +1 stop clips at white.
        let mut t = ImageF32::new(1, 1, 3);
        t.data.copy_from_slice(&[1.0, 0.5, 0.0]);
        e.apply_to_target(&mut t);
        assert!((t.data[0] - linear_to_srgb(0.125)).abs() < 1e-6);
        let mut w = ImageF32::new(1, 1, 3);
        w.data.copy_from_slice(&[1.0, 0.9, 0.0]);
        Exposure::stops(1.0)
            .expect("in range")
            .apply_to_target(&mut w);
        assert_eq!(w.data[0], 1.0);
        assert_eq!(w.data[1], 1.0);
    }

    /// A 3-channel image with a vertical step at `edge_x` and a slight gradient.
    fn step(w: u32, h: u32, edge_x: u32) -> ImageF32 {
        let mut img = ImageF32::new(w, h, 3);
        for y in 0..h {
            for x in 0..w {
                let v = if x < edge_x { 0.2 } else { 0.8 } + 0.001 * y as f32;
                for c in 0..3 {
                    img.data[((y * w + x) * 3 + c) as usize] = v;
                }
            }
        }
        img
    }

    #[test]
    fn psnr_and_ssim_of_known_cases() {
        let a = step(32, 24, 16);
        assert_eq!(psnr(&a, &a).unwrap(), 99.0);
        assert!((ssim(&a, &a).unwrap() - 1.0).abs() < 1e-9);
        let mut b = a.clone();
        b.data.iter_mut().for_each(|v| *v += 0.1);
        // MSE 0.01 -> 20 dB exactly.
        assert!((psnr(&a, &b).unwrap() - 20.0).abs() < 1e-3);
        let mut noisy = a.clone();
        for (i, v) in noisy.data.iter_mut().enumerate() {
            *v += if i % 2 == 0 { 0.05 } else { -0.05 };
        }
        let s = ssim(&a, &noisy).unwrap();
        assert!(s < 0.99 && s > 0.0, "{s}");
        assert!(psnr(&a, &ImageF32::new(8, 8, 3)).is_err());
    }

    #[test]
    fn edge_f_score_is_one_for_the_same_image_and_low_for_a_blank_one() {
        let a = step(64, 48, 30);
        let e = edge_map(&a);
        let n = e.data.iter().filter(|v| **v > 0.5).count();
        assert!(
            n >= 40,
            "expected a vertical edge line, got {n} edge pixels"
        );
        assert!((f_score(edge_counts(&e, &e)) - 1.0).abs() < 1e-12);
        // An edge one pixel off still matches (1-pixel tolerance); a blank output scores 0.
        let shifted = edge_map(&step(64, 48, 31));
        assert!(f_score(edge_counts(&shifted, &e)) > 0.95);
        let blank = edge_map(&ImageF32::new(64, 48, 3));
        assert_eq!(f_score(edge_counts(&blank, &e)), 0.0);
    }

    #[test]
    fn sharpness_drops_with_blur_and_slope_fits_a_line() {
        let a = step(32, 24, 16);
        let mut blurred = a.clone();
        for y in 0..24u32 {
            for x in 1..31u32 {
                for c in 0..3u32 {
                    let v = (a.at(x - 1, y, c) + a.at(x, y, c) + a.at(x + 1, y, c)) / 3.0;
                    blurred.data[((y * 32 + x) * 3 + c) as usize] = v;
                }
            }
        }
        let (sa, sb) = (sharpness(&a), sharpness(&blurred));
        assert!(sa > 0.0 && sb < 0.75 * sa, "{sa} {sb}");
        assert_eq!(sharpness(&ImageF32::new(8, 8, 3)), 0.0);
        assert!((slope(&[1.0, 3.0, 5.0, 7.0]) - 2.0).abs() < 1e-12);
        assert_eq!(slope(&[4.0]), 0.0);
        assert!((mean_value(&a) - 0.5).abs() < 0.02);
    }

    #[test]
    fn stray_edges_count_edges_near_no_reference() {
        let a = edge_map(&step(64, 48, 20));
        let b = edge_map(&step(64, 48, 40));
        let (s, n) = stray_edges(&a, &[&a]);
        assert!(n > 0 && s == 0);
        // b's edge is 20 px away from a's: all of it is stray against a, none against [a, b].
        let (s, n) = stray_edges(&b, &[&a]);
        assert!(n > 0 && s == n, "{s} {n}");
        assert_eq!(stray_edges(&b, &[&a, &b]).0, 0);
    }

    #[test]
    fn warp_error_follows_motion_and_skips_disocclusions() {
        let (w, h) = (40u32, 20u32);
        let prev = step(w, h, 20);
        // The content moved 3 px right: the current pixel x came from x - 3 in the previous frame.
        let cur = step(w, h, 23);
        let mut motion = ImageF32::new(w, h, 2);
        for p in motion.data.chunks_exact_mut(2) {
            p[0] = -3.0;
        }
        let all = history_mask(&motion, None, None, f32::INFINITY);
        // The first 3 columns come from outside the previous frame.
        assert_eq!(all.at(2, 5, 0), 0.0);
        assert_eq!(all.at(3, 5, 0), 1.0);
        let (e, n) = warp_error(&cur, &prev, &motion, &all).unwrap();
        assert!(e < 1e-6, "{e}");
        assert_eq!(n, ((w - 3) * h) as usize);
        // Without motion compensation the step is misplaced.
        let still = ImageF32::new(w, h, 2);
        let (e0, _) = warp_error(
            &cur,
            &prev,
            &still,
            &history_mask(&still, None, None, f32::INFINITY),
        )
        .unwrap();
        assert!(e0 > 0.03, "{e0}");
        // A depth jump marks pixels as disoccluded.
        let mut dc = ImageF32::new(w, h, 1);
        dc.data.iter_mut().for_each(|v| *v = 5.0);
        let mut dp = dc.clone();
        for y in 0..h {
            dp.data[(y * w + 10) as usize] = 20.0;
        }
        let m = history_mask(&motion, Some(&dc), Some(&dp), 1e4);
        assert_eq!(m.at(13, 4, 0), 0.0);
        assert_eq!(m.at(20, 4, 0), 1.0);
    }
}
