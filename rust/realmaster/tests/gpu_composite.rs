//! Compositing passes on the GPU (lavapipe in CI) against their CPU references, plus behaviour:
//! shifts, sharp edges, residual noise convergence, no ghosting, an identity model giving back the
//! input exactly, blend end points and output encodings. The compositor accumulates the model's
//! residual (`output - input`) at model size and upsamples the accumulated look onto the frame, so
//! `Compositor::residual()` (full resolution) and `Compositor::history()` (model size) are compared
//! with residuals.
//! A missing GPU adapter fails these tests: the test setup installs a software Vulkan driver.

use realmaster::frame::{ColorFormat, ImageF32};
use realmaster::gpu::composite::{CompositeParams, Compositor, LookImages};
use realmaster::gpu::kernel::{read_buffer, read_image};
use realmaster::gpu::{AdapterPreference, FrameImages, GpuContext, GpuImage};
use realmaster::reference::blend::{blend, blend_encode};
use realmaster::reference::guided_upsample::{
    guided_upsample, guided_upsample_edge_aware, EdgeAware, EdgeWeights,
};
use realmaster::reference::reproject::reproject;
use realmaster::reference::temporal::{accumulated_look, residual, temporal, TemporalInputs};

/// Float tolerance of GPU vs CPU reference (absolute, values of order 1).
const TOL: f32 = 1e-4;

fn gpu() -> GpuContext {
    GpuContext::new(AdapterPreference::default())
        .expect("creating the GPU context failed: install a Vulkan driver (lavapipe)")
}

/// Deterministic xorshift generator.
struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f()
    }
    /// Roughly Gaussian (sum of uniforms), unit variance.
    fn gauss(&mut self) -> f32 {
        (0..12).map(|_| self.f()).sum::<f32>() - 6.0
    }
}

fn image(w: u32, h: u32, c: u32, data: Vec<f32>) -> ImageF32 {
    assert_eq!(data.len(), (w * h * c) as usize);
    ImageF32 {
        width: w,
        height: h,
        channels: c,
        data,
    }
}

fn upload(ctx: &GpuContext, img: &ImageF32) -> GpuImage {
    GpuImage::from_data(
        &ctx.device,
        "test",
        img.width,
        img.height,
        img.channels,
        &img.data,
    )
}

fn download(ctx: &GpuContext, img: &GpuImage) -> ImageF32 {
    image(
        img.width,
        img.height,
        img.channels,
        read_image(&ctx.device, &ctx.queue, img).unwrap(),
    )
}

fn frame(
    ctx: &GpuContext,
    color: &ImageF32,
    depth: Option<&ImageF32>,
    motion: Option<&ImageF32>,
) -> FrameImages {
    FrameImages {
        width: color.width,
        height: color.height,
        color: upload(ctx, color),
        depth: depth.map(|d| upload(ctx, d)),
        normals: None,
        motion: motion.map(|m| upload(ctx, m)),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn submit(ctx: &GpuContext, enc: wgpu::CommandEncoder) {
    ctx.queue.submit([enc.finish()]);
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
}

fn encoder(ctx: &GpuContext) -> wgpu::CommandEncoder {
    ctx.device.create_command_encoder(&Default::default())
}

fn random_rgba(rng: &mut Rng, w: u32, h: u32, hi: f32) -> ImageF32 {
    let data = (0..w * h)
        .flat_map(|_| {
            [
                rng.range(0.0, hi),
                rng.range(0.0, hi),
                rng.range(0.0, hi),
                1.0,
            ]
        })
        .collect::<Vec<_>>();
    image(w, h, 4, data)
}

fn constant_motion(w: u32, h: u32, mx: f32, my: f32) -> ImageF32 {
    image(
        w,
        h,
        4,
        (0..w * h).flat_map(|_| [mx, my, 0.0, 0.0]).collect(),
    )
}

/// The model's look for the compositor; where the model images have the frame's size (the tests'
/// full-resolution models), the frame's own motion and depth are the model-size ones.
fn look<'a>(f: &'a FrameImages, out_lr: &'a GpuImage, in_lr: &'a GpuImage) -> LookImages<'a> {
    let same = out_lr.width == f.width && out_lr.height == f.height;
    LookImages {
        out: out_lr,
        input: in_lr,
        motion: f.motion.as_ref().filter(|_| same),
        depth: f.depth.as_ref().filter(|_| same),
        edges: None,
    }
}

/// Run one composite (no encode) and read this frame's full-resolution residual back.
fn composite(
    ctx: &GpuContext,
    comp: &mut Compositor,
    f: &FrameImages,
    out_lr: &GpuImage,
    in_lr: &GpuImage,
    p: &CompositeParams,
    reset: bool,
) -> ImageF32 {
    let mut enc = encoder(ctx);
    comp.record_composite(ctx, &mut enc, f, &look(f, out_lr, in_lr), p, reset)
        .unwrap();
    submit(ctx, enc);
    download(ctx, comp.residual())
}

/// The guided upsample alone (no temporal pass), read back: the full-resolution residual.
fn upsample(
    ctx: &GpuContext,
    f: &FrameImages,
    out_lr: &GpuImage,
    in_lr: &GpuImage,
    edges: Option<&GpuImage>,
    p: &CompositeParams,
) -> ImageF32 {
    let mut comp = Compositor::new(ctx);
    let mut enc = encoder(ctx);
    comp.record_upsample(ctx, &mut enc, f, out_lr, in_lr, edges, p)
        .unwrap();
    submit(ctx, enc);
    download(ctx, comp.residual())
}

fn run_reproject(ctx: &GpuContext, src: &ImageF32, motion: &ImageF32) -> ImageF32 {
    let mut comp = Compositor::new(ctx);
    let (s, m) = (upload(ctx, src), upload(ctx, motion));
    let dst = GpuImage::new(&ctx.device, "dst", motion.width, motion.height, 4);
    let mut enc = encoder(ctx);
    comp.record_reproject(ctx, &mut enc, &s, &m, &dst).unwrap();
    submit(ctx, enc);
    download(ctx, &dst)
}

#[test]
fn reproject_matches_reference() {
    let ctx = gpu();
    let mut rng = Rng(0x1234_5678_9abc);
    for (sw, sh, w, h) in [(37, 23, 37, 23), (20, 12, 37, 23)] {
        let src = random_rgba(&mut rng, sw, sh, 2.0);
        let motion = image(
            w,
            h,
            4,
            (0..w * h)
                .flat_map(|_| [rng.range(-6.0, 6.0), rng.range(-6.0, 6.0), 0.0, 0.0])
                .collect(),
        );
        let gpu_out = run_reproject(&ctx, &src, &motion);
        let cpu_out = reproject(&src, &motion);
        let d = max_diff(&gpu_out.data, &cpu_out.data);
        assert!(d <= TOL, "{sw}x{sh} -> {w}x{h}: max |gpu - cpu| = {d}");
        let invalid = cpu_out.data.chunks_exact(4).filter(|p| p[3] == 0.0).count();
        assert!(
            invalid > 0,
            "the random motion should push some samples off-screen"
        );
    }
}

#[test]
fn reproject_constant_motion_shifts_and_flags_offscreen() {
    let ctx = gpu();
    let mut rng = Rng(99);
    let (w, h) = (32u32, 24u32);
    let src = random_rgba(&mut rng, w, h, 1.0);
    let out = run_reproject(&ctx, &src, &constant_motion(w, h, 3.0, -2.0));
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let (sx, sy) = (x + 3, y - 2);
            let i = (y as u32 * w + x as u32) as usize * 4;
            if (0..w as i32).contains(&sx) && (0..h as i32).contains(&sy) {
                let j = (sy as u32 * w + sx as u32) as usize * 4;
                assert_eq!(&out.data[i..i + 4], &src.data[j..j + 4], "pixel ({x}, {y})");
            } else {
                assert_eq!(
                    out.data[i + 3],
                    0.0,
                    "pixel ({x}, {y}) samples off-screen and must be flagged"
                );
            }
        }
    }
}

/// A guide with smooth shading and some hard edges; model images derived from its box downsample.
fn guided_inputs(
    rng: &mut Rng,
    w: u32,
    h: u32,
    lw: u32,
    lh: u32,
) -> (ImageF32, ImageF32, ImageF32) {
    let mut guide = ImageF32::new(w, h, 4);
    for y in 0..h {
        for x in 0..w {
            let base = if (x * 3 + y) % 29 < 14 { 0.15 } else { 1.6 };
            for c in 0..3 {
                guide.set(x, y, c, base + 0.1 * rng.f());
            }
            guide.set(x, y, 3, 0.5 + 0.5 * rng.f());
        }
    }
    let in_lr = random_rgba(rng, lw, lh, 1.5);
    let mut out_lr = random_rgba(rng, lw, lh, 1.5);
    // A few invalid model pixels (alpha 0), as unpack_output writes for NaN.
    for k in [3usize, 17, 40] {
        out_lr.data[k * 4 + 3] = 0.0;
    }
    (guide, out_lr, in_lr)
}

#[test]
fn guided_upsample_matches_reference() {
    let ctx = gpu();
    let mut rng = Rng(7);
    let (w, h, lw, lh) = (61u32, 47u32, 16u32, 12u32);
    let (guide, out_lr, in_lr) = guided_inputs(&mut rng, w, h, lw, lh);
    let f = frame(&ctx, &guide, None, None);
    let (o, i) = (upload(&ctx, &out_lr), upload(&ctx, &in_lr));
    // (Far smaller regularisers leave the fit ill-conditioned on this random input: f32 rounding on
    // the two sides then differs by more than TOL.)
    for eps in [1e-3f32, 1e-2, 0.2] {
        let p = CompositeParams {
            upsample_eps: eps,
            ..Default::default()
        };
        let g = upsample(&ctx, &f, &o, &i, None, &p);
        let c = guided_upsample(&guide, &out_lr, &in_lr, eps);
        let d = max_diff(&g.data, &c.data);
        assert!(d <= TOL, "upsample_eps {eps}: max |gpu - cpu| = {d}");
    }
}

/// The edge-aware fit (a model-size edge plane, the ridge 3x on it and pulled toward the look's
/// gain off it) on both backends; and a wrongly sized edge plane is refused.
#[test]
fn edge_aware_upsample_matches_reference() {
    let ctx = gpu();
    let mut rng = Rng(11);
    let (w, h, lw, lh) = (61u32, 47u32, 16u32, 12u32);
    let (guide, out_lr, in_lr) = guided_inputs(&mut rng, w, h, lw, lh);
    let mut edges = ImageF32::new(lw, lh, 1);
    for y in 0..lh {
        edges.data[(y * lw + 5) as usize] = 1.0;
    }
    edges.data[(7 * lw + 12) as usize] = 1.0;
    let f = frame(&ctx, &guide, None, None);
    let (o, i, e) = (
        upload(&ctx, &out_lr),
        upload(&ctx, &in_lr),
        upload(&ctx, &edges),
    );
    for (eps, edge_ridge, pull) in [
        (1e-3f32, 3.0f32, 1.0f32),
        (1e-2, 10.0, 1.0),
        (1e-3, 2.0, 0.4),
    ] {
        let weights = EdgeWeights { edge_ridge, pull };
        let p = CompositeParams {
            upsample_eps: eps,
            upsample_edges: weights,
            ..Default::default()
        };
        let g = upsample(&ctx, &f, &o, &i, Some(&e), &p);
        let edge = EdgeAware {
            edges: &edges,
            weights,
        };
        let c = guided_upsample_edge_aware(&guide, &out_lr, &in_lr, eps, edge);
        let d = max_diff(&g.data, &c.data);
        assert!(d <= TOL, "eps {eps}, {weights:?}: max |gpu - cpu| = {d}");
        // The plane changes the picture: without it the fit is not edge-aware.
        let plain = guided_upsample(&guide, &out_lr, &in_lr, eps);
        assert!(max_diff(&plain.data, &c.data) > 10.0 * TOL);
    }
    let wrong = upload(&ctx, &ImageF32::new(lw + 1, lh, 1));
    let mut comp = Compositor::new(&ctx);
    let mut enc = encoder(&ctx);
    let err = comp
        .record_upsample(
            &ctx,
            &mut enc,
            &f,
            &o,
            &i,
            Some(&wrong),
            &CompositeParams::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("edge plane"), "{err}");
}

/// Plain bilinear upsample of a 1-channel low-res row profile to full res (the baseline).
fn bilinear_residual(res_lr: &[f32], lw: u32, lh: u32, w: u32, h: u32, x: u32, y: u32) -> f32 {
    let ux = ((x as f32 + 0.5) * lw as f32 / w as f32 - 0.5).clamp(0.0, lw as f32 - 1.0);
    let uy = ((y as f32 + 0.5) * lh as f32 / h as f32 - 0.5).clamp(0.0, lh as f32 - 1.0);
    let (x0, y0) = (ux.floor() as u32, uy.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(lw - 1), (y0 + 1).min(lh - 1));
    let (fx, fy) = (ux - x0 as f32, uy - y0 as f32);
    let at = |x: u32, y: u32| res_lr[(y * lw + x) as usize];
    (at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx) * (1.0 - fy)
        + (at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx) * fy
}

/// Pixels strictly between the 10% and 90% levels of a monotone step from `lo` to `hi`.
fn transition_width(profile: &[f32], lo: f32, hi: f32) -> usize {
    let (a, b) = (lo + 0.1 * (hi - lo), lo + 0.9 * (hi - lo));
    let (mn, mx) = (a.min(b), a.max(b));
    profile.iter().filter(|&&v| v > mn && v < mx).count()
}

#[test]
fn guided_upsample_keeps_a_step_edge_sharp() {
    let ctx = gpu();
    // 128x32 full res, 16x4 model res (8x): vertical edge at x = 37, inside low-res column 4.
    let (w, h, lw, lh, edge) = (128u32, 32u32, 16u32, 4u32, 37u32);
    let (left, right) = (0.2f32, 0.8f32);
    let (res_left, res_right) = (0.25f32, -0.15f32);
    let mut guide = ImageF32::new(w, h, 4);
    for y in 0..h {
        for x in 0..w {
            let v = if x < edge { left } else { right };
            for c in 0..3 {
                guide.set(x, y, c, v);
            }
            guide.set(x, y, 3, 1.0);
        }
    }
    // Model input = exact box downsample of the guide; the model's change differs on the two sides
    // (mixed by coverage in the straddling column), so the residual itself has the edge.
    let mut in_lr = ImageF32::new(lw, lh, 4);
    let mut out_lr = ImageF32::new(lw, lh, 4);
    let mut res_lr = vec![0.0f32; (lw * lh) as usize];
    for y in 0..lh {
        for x in 0..lw {
            let cover_left = ((edge as f32 - x as f32 * 8.0) / 8.0).clamp(0.0, 1.0);
            let v = left * cover_left + right * (1.0 - cover_left);
            let r = res_left * cover_left + res_right * (1.0 - cover_left);
            res_lr[(y * lw + x) as usize] = r;
            for c in 0..3 {
                in_lr.set(x, y, c, v);
                out_lr.set(x, y, c, v + r);
            }
            in_lr.set(x, y, 3, 1.0);
            out_lr.set(x, y, 3, 1.0);
        }
    }
    let f = frame(&ctx, &guide, None, None);
    let mut comp = Compositor::new(&ctx);
    let p = CompositeParams::default();
    let g = composite(
        &ctx,
        &mut comp,
        &f,
        &upload(&ctx, &out_lr),
        &upload(&ctx, &in_lr),
        &p,
        true,
    );
    // With a reset the accumulated look is the model's own: the composite is the upsample.
    let up = guided_upsample(&guide, &out_lr, &in_lr, p.upsample_eps);
    assert!(max_diff(&g.data, &up.data) <= TOL);

    let y = h / 2;
    let guided: Vec<f32> = (0..w).map(|x| g.at(x, y, 0)).collect();
    let bilinear: Vec<f32> = (0..w)
        .map(|x| bilinear_residual(&res_lr, lw, lh, w, h, x, y))
        .collect();
    let (wg, wb) = (
        transition_width(&guided, res_left, res_right),
        transition_width(&bilinear, res_left, res_right),
    );
    eprintln!("10-90% residual transition width: guided {wg} px, bilinear {wb} px");
    assert!(
        wg < wb,
        "guided upsample ({wg} px) must be sharper than bilinear ({wb} px)"
    );
    assert!(
        wg <= 2,
        "guided transition {wg} px: the residual edge should follow the 1-px guide edge"
    );
    // The residual levels themselves are reproduced away from the edge.
    assert!(
        (guided[5] - res_left).abs() < 0.02 && (guided[120] - res_right).abs() < 0.02,
        "{} {}",
        guided[5],
        guided[120]
    );
}

#[test]
fn guided_upsample_is_seam_free_on_a_ramp() {
    // Flat guide, residual rising linearly along x at model size: the full-res residual must rise
    // smoothly, with no jump where the interpolation moves on by one model pixel.
    let ctx = gpu();
    let (w, h, lw, lh) = (120u32, 8u32, 16u32, 2u32);
    let mut guide = ImageF32::new(w, h, 4);
    guide
        .data
        .chunks_exact_mut(4)
        .for_each(|p| p.copy_from_slice(&[0.5, 0.5, 0.5, 1.0]));
    let in_lr = image(
        lw,
        lh,
        4,
        (0..lw * lh).flat_map(|_| [0.5, 0.5, 0.5, 1.0]).collect(),
    );
    let out_lr = image(
        lw,
        lh,
        4,
        (0..lw * lh)
            .flat_map(|i| {
                let v = 0.5 + 0.02 * (i % lw) as f32;
                [v, v, v, 1.0]
            })
            .collect(),
    );
    let f = frame(&ctx, &guide, None, None);
    let g = composite(
        &ctx,
        &mut Compositor::new(&ctx),
        &f,
        &upload(&ctx, &out_lr),
        &upload(&ctx, &in_lr),
        &CompositeParams::default(),
        true,
    );
    // The residual (flat guide: the picture is 0.5 + this).
    let row: Vec<f32> = (0..w).map(|x| g.at(x, h / 2, 0)).collect();
    // Away from the image borders (where the clamped taps flatten the ramp).
    let steps: Vec<f32> = row[20..100].windows(2).map(|p| p[1] - p[0]).collect();
    let mean = steps.iter().sum::<f32>() / steps.len() as f32;
    let worst = steps.iter().cloned().fold(0.0, f32::max);
    eprintln!("ramp: mean step {mean:.5}, largest step {worst:.5}");
    assert!(
        steps.iter().all(|&s| s >= -1e-6),
        "the upsampled ramp must not go backwards"
    );
    assert!(
        worst < 1.5 * mean,
        "a step of {worst} vs a mean of {mean}: seam in the upsample"
    );
}

#[test]
fn temporal_matches_reference() {
    // The temporal pass at model size against the CPU's, then the accumulated look's upsample.
    let ctx = gpu();
    let mut rng = Rng(4242);
    let (w, h, lw, lh) = (45u32, 33u32, 24u32, 18u32);
    let p = CompositeParams {
        temporal_alpha: 0.2,
        ..Default::default()
    };
    let mut comp = Compositor::new(&ctx);
    let mut history: Option<ImageF32> = None;
    let mut prev_depth: Option<ImageF32> = None;
    for frame_no in 0..3 {
        let color = random_rgba(&mut rng, w, h, 1.2);
        // Model-size depth: two layers, with a few pixels changing layer from frame to frame.
        let depth = image(
            lw,
            lh,
            1,
            (0..lw * lh)
                .map(|i| {
                    if (i + frame_no * 7) % 11 < 4 {
                        2.0
                    } else {
                        10.0 + rng.f() * 0.5
                    }
                })
                .collect(),
        );
        let motion = image(
            lw,
            lh,
            4,
            (0..lw * lh)
                .flat_map(|_| [rng.range(-2.0, 2.0), rng.range(-2.0, 2.0), 0.0, 0.0])
                .collect(),
        );
        let (out_lr, in_lr) = (
            random_rgba(&mut rng, lw, lh, 1.0),
            random_rgba(&mut rng, lw, lh, 1.0),
        );
        let f = frame(&ctx, &color, None, None);
        let (o, i, m, d) = (
            upload(&ctx, &out_lr),
            upload(&ctx, &in_lr),
            upload(&ctx, &motion),
            upload(&ctx, &depth),
        );
        let look = LookImages {
            out: &o,
            input: &i,
            motion: Some(&m),
            depth: Some(&d),
            edges: None,
        };
        let mut enc = encoder(&ctx);
        comp.record_composite(&ctx, &mut enc, &f, &look, &p, frame_no == 0)
            .unwrap();
        submit(&ctx, enc);
        let g_hist = download(&ctx, comp.history());
        let g_res = download(&ctx, comp.residual());

        let inputs = TemporalInputs {
            current: &out_lr,
            input: &in_lr,
            history: history.as_ref(),
            motion: Some(&motion),
            depth: prev_depth.as_ref().map(|pd| (&depth, pd)),
        };
        let c = temporal(&inputs, &p);
        let diff = max_diff(&g_hist.data, &c.data);
        assert!(
            diff <= TOL,
            "frame {frame_no}: history max |gpu - cpu| = {diff}"
        );
        let mut acc = ImageF32::new(0, 0, 4);
        accumulated_look(&in_lr, &c, &out_lr, &mut acc);
        let up = guided_upsample(&color, &acc, &in_lr, p.upsample_eps);
        let diff = max_diff(&g_res.data, &up.data);
        assert!(
            diff <= TOL,
            "frame {frame_no}: residual max |gpu - cpu| = {diff}"
        );
        if frame_no > 0 {
            let accumulated = c
                .data
                .iter()
                .zip(&residual(&out_lr, &in_lr).data)
                .filter(|(a, b)| (*a - *b).abs() > 1e-3)
                .count();
            assert!(
                accumulated > 100,
                "frame {frame_no}: history should be used somewhere ({accumulated} px)"
            );
        }
        history = Some(c);
        prev_depth = Some(depth);
    }
}

/// Model images at full resolution whose residual is `res(x, y)`: (out_lr, in_lr = `color`). With
/// `sharp_params` the guided upsample is then (almost) the identity, so the residual stays per pixel.
fn full_res_model(color: &ImageF32, res: impl Fn(u32, u32) -> f32) -> (ImageF32, ImageF32) {
    let mut out = color.clone();
    for y in 0..color.height {
        for x in 0..color.width {
            let r = res(x, y);
            for c in 0..3 {
                out.set(x, y, c, color.at(x, y, c) + r);
            }
        }
    }
    (out, color.clone())
}

/// Smallest regulariser: the upsample's fit follows the model-size input as closely as it can.
fn sharp_params() -> CompositeParams {
    CompositeParams {
        upsample_eps: 1e-6,
        ..Default::default()
    }
}

#[test]
fn temporal_static_noise_in_the_residual_converges() {
    // A static picture and a model whose look (a smooth residual) flickers with per-pixel noise from
    // frame to frame: accumulation must cut the residual's noise.
    let ctx = gpu();
    let mut rng = Rng(31337);
    let (w, h) = (64u32, 48u32);
    let look = |x: u32, y: u32| 0.1 - 0.15 * x as f32 / w as f32 + 0.05 * y as f32 / h as f32;
    let sigma = 0.05f32;
    let mut color = ImageF32::new(w, h, 4);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                color.set(
                    x,
                    y,
                    c,
                    0.3 + 0.4 * x as f32 / w as f32 + 0.1 * y as f32 / h as f32,
                );
            }
            color.set(x, y, 3, 1.0);
        }
    }
    let depth = image(w, h, 1, vec![5.0; (w * h) as usize]);
    let motion = constant_motion(w, h, 0.0, 0.0);
    let f = frame(&ctx, &color, Some(&depth), Some(&motion));
    let p = CompositeParams {
        temporal_alpha: 0.15,
        ..sharp_params()
    };
    let mut comp = Compositor::new(&ctx);
    let (mut err_in, mut err_out) = (0.0f64, 0.0f64);
    let frames = 30;
    for n in 0..frames {
        let noise: Vec<f32> = (0..w * h).map(|_| sigma * rng.gauss()).collect();
        let (out_lr, in_lr) =
            full_res_model(&color, |x, y| look(x, y) + noise[(y * w + x) as usize]);
        let (o, i) = (upload(&ctx, &out_lr), upload(&ctx, &in_lr));
        let out = composite(&ctx, &mut comp, &f, &o, &i, &p, n == 0);
        if n == frames - 1 {
            for y in 0..h {
                for x in 0..w {
                    err_in += (noise[(y * w + x) as usize] as f64).powi(2) * 3.0;
                    for c in 0..3 {
                        err_out += ((out.at(x, y, c) - look(x, y)) as f64).powi(2);
                    }
                }
            }
        }
    }
    let ratio = err_out / err_in;
    eprintln!("static residual noise: error variance with accumulation / without = {ratio:.3}");
    assert!(
        ratio < 0.35,
        "accumulation should cut the residual's noise variance (ratio {ratio:.3})"
    );
}

/// 64x32 grey checkerboard background (0.45 / 0.55, depth 10) and an 8x8 box (0.3, depth 2) at
/// x = `ox` moving right by `speed` px per frame. The model's look is one affine map of the
/// perceptual colour (-0.2 on dark squares, +0.2 on light ones, about -1 on the box, clamped to
/// black), which the upsample's per-neighbourhood fit reproduces per pixel. Returns (colour, depth,
/// motion, model output at full res); the model input is the colour.
fn moving_box_scene(ox: u32, speed: u32) -> (ImageF32, ImageF32, ImageF32, ImageF32) {
    let (w, h) = (64u32, 32u32);
    let mut color = ImageF32::new(w, h, 4);
    let mut depth = ImageF32::new(w, h, 1);
    let mut motion = ImageF32::new(w, h, 4);
    let in_box = |x: u32, y: u32| (ox..ox + 8).contains(&x) && (12..20).contains(&y);
    let colour = |x: u32, y: u32| {
        if in_box(x, y) {
            0.3
        } else if (x + y).is_multiple_of(2) {
            0.55
        } else {
            0.45
        }
    };
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                color.set(x, y, c, colour(x, y));
            }
            color.set(x, y, 3, 1.0);
            depth.set(x, y, 0, if in_box(x, y) { 2.0 } else { 10.0 });
            if in_box(x, y) {
                motion.set(x, y, 0, -(speed as f32));
            }
        }
    }
    let p = |c: f32| (c / (1.0 + c)).sqrt();
    let (lo, hi) = (p(0.45), p(0.55));
    let (out_lr, _) = full_res_model(&color, |x, y| {
        -0.2 + 0.4 * (p(colour(x, y)) - lo) / (hi - lo)
    });
    (color, depth, motion, out_lr)
}

/// Largest |residual - this frame's own residual| over pixels the box covered in earlier frames but
/// not now (this frame's own residual: the same frame composited without history).
fn trail_error(ctx: &GpuContext, use_depth: bool) -> f32 {
    let (speed, frames) = (3u32, 6u32);
    let mut comp = Compositor::new(ctx);
    let p = sharp_params();
    let mut worst = 0.0f32;
    for n in 0..frames {
        let ox = 4 + n * speed;
        let (color, depth, motion, out_lr) = moving_box_scene(ox, speed);
        let f = frame(ctx, &color, use_depth.then_some(&depth), Some(&motion));
        let (o, i) = (upload(ctx, &out_lr), upload(ctx, &color));
        let out = composite(ctx, &mut comp, &f, &o, &i, &p, n == 0);
        if n == frames - 1 {
            let own = composite(ctx, &mut Compositor::new(ctx), &f, &o, &i, &p, true);
            for y in 12..20 {
                for x in 4..ox {
                    for c in 0..3 {
                        worst = worst.max((out.at(x, y, c) - own.at(x, y, c)).abs());
                    }
                }
            }
        }
    }
    worst
}

#[test]
fn temporal_moving_object_leaves_no_ghost_trail() {
    let ctx = gpu();
    let with_depth = trail_error(&ctx, true);
    let without_depth = trail_error(&ctx, false);
    eprintln!(
        "ghost trail error: with depth rejection {with_depth:.4}, without {without_depth:.4}"
    );
    assert!(
        with_depth < 1e-5,
        "disoccluded pixels must show the current frame's residual (error {with_depth})"
    );
    // The textured look's wide clamp boxes let the box's residual through without depth: the scene
    // is a real test.
    assert!(
        without_depth > 0.1,
        "expected a ghost without depth rejection (error {without_depth})"
    );
}

/// Largest |encoded RGBA32F output - `color`| after compositing `color` as a frame that follows
/// `first` (no motion vectors, no depth), with the identity model on the second frame.
fn second_frame_error(
    ctx: &GpuContext,
    first: (&ImageF32, &ImageF32, &ImageF32),
    color: &ImageF32,
) -> f32 {
    let mut comp = Compositor::new(ctx);
    let p = CompositeParams::default();
    let (c0, o0, i0) = first;
    let mut enc = encoder(ctx);
    let f0 = frame(ctx, c0, None, None);
    let (o0, i0) = (upload(ctx, o0), upload(ctx, i0));
    comp.record_composite(ctx, &mut enc, &f0, &look(&f0, &o0, &i0), &p, true)
        .unwrap();
    comp.record_encode(ctx, &mut enc, &f0, ColorFormat::Rgba32Float, 1.0)
        .unwrap();
    submit(ctx, enc);
    // Identity model: out_lr == in_lr.
    let lr = upload(ctx, &random_rgba(&mut Rng(17), 12, 9, 1.0));
    let f1 = frame(ctx, color, None, None);
    let mut enc = encoder(ctx);
    comp.record_composite(ctx, &mut enc, &f1, &look(&f1, &lr, &lr), &p, false)
        .unwrap();
    comp.record_encode(ctx, &mut enc, &f1, ColorFormat::Rgba32Float, 1.0)
        .unwrap();
    submit(ctx, enc);
    let len = comp.output_len_bytes();
    let out = f32s(&read_buffer(&ctx.device, &ctx.queue, comp.output_buffer(), 0, len).unwrap());
    max_diff(&out, &color.data)
}

#[test]
fn identity_model_gives_exactly_the_input_when_the_picture_changes() {
    let ctx = gpu();
    let mut rng = Rng(2024);
    let (w, h) = (40u32, 30u32);
    let a = random_rgba(&mut rng, w, h, 1.5);
    let b = random_rgba(&mut rng, w, h, 1.5);
    let lr = random_rgba(&mut rng, 12, 9, 1.0);
    // Identity on both frames: the first frame's content must not linger in the second.
    let d = second_frame_error(&ctx, (&a, &lr, &lr), &b);
    assert!(
        d <= 1e-6,
        "identity model, changed picture: max |output - input| = {d}"
    );
    // A look on the first frame, identity on the second: the old look must not linger either.
    let look = random_rgba(&mut rng, 12, 9, 1.0);
    let d = second_frame_error(&ctx, (&a, &look, &lr), &b);
    assert!(d <= 1e-6, "look then identity: max |output - input| = {d}");
}

/// A frame with HDR values and a composited residual that is not zero.
fn blend_setup(ctx: &GpuContext) -> (ImageF32, FrameImages, Compositor) {
    let mut rng = Rng(8080);
    let (w, h) = (19u32, 13u32);
    let mut color = random_rgba(&mut rng, w, h, 1.0);
    color.data[0] = 3.5; // HDR
    color.data[4] = 70000.0; // beyond f16
    color.data[7] = 0.25; // alpha
    let f = frame(ctx, &color, None, None);
    let mut comp = Compositor::new(ctx);
    let (o, i) = (
        upload(ctx, &random_rgba(&mut rng, 6, 5, 1.0)),
        upload(ctx, &random_rgba(&mut rng, 6, 5, 1.0)),
    );
    let mut enc = encoder(ctx);
    let p = CompositeParams::default();
    comp.record_composite(ctx, &mut enc, &f, &look(&f, &o, &i), &p, true)
        .unwrap();
    submit(ctx, enc);
    (color, f, comp)
}

fn encode_gpu(
    ctx: &GpuContext,
    comp: &mut Compositor,
    f: &FrameImages,
    format: ColorFormat,
    strength: f32,
) -> Vec<u8> {
    let mut enc = encoder(ctx);
    comp.record_encode(ctx, &mut enc, f, format, strength)
        .unwrap();
    submit(ctx, enc);
    let len = comp.output_len_bytes();
    assert_eq!(
        len,
        (f.width * f.height) as u64 * format.bytes_per_pixel() as u64
    );
    read_buffer(&ctx.device, &ctx.queue, comp.output_buffer(), 0, len).unwrap()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn blend_strength_end_points_are_exact() {
    let ctx = gpu();
    let (color, f, mut comp) = blend_setup(&ctx);
    let res = download(&ctx, comp.residual());
    assert!(
        res.data
            .chunks_exact(4)
            .any(|p| p[..3].iter().any(|v| v.abs() > 0.01)),
        "the test needs a residual that is not zero"
    );

    let zero = encode_gpu(&ctx, &mut comp, &f, ColorFormat::Rgba32Float, 0.0);
    let input_bytes: Vec<u8> = color.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        zero, input_bytes,
        "strength 0 must reproduce the input bit for bit"
    );

    let one = f32s(&encode_gpu(
        &ctx,
        &mut comp,
        &f,
        ColorFormat::Rgba32Float,
        1.0,
    ));
    for (k, (o, (r, c))) in one.iter().zip(res.data.iter().zip(&color.data)).enumerate() {
        let expect = if k % 4 == 3 { *c } else { c + r };
        assert_eq!(
            o.to_bits(),
            expect.to_bits(),
            "strength 1, float {k}: input + residual rgb, input alpha"
        );
    }

    for s in [0.3f32, 0.75] {
        let half = f32s(&encode_gpu(
            &ctx,
            &mut comp,
            &f,
            ColorFormat::Rgba32Float,
            s,
        ));
        let cpu = blend(&color, &res, s);
        let d = half
            .iter()
            .zip(&cpu.data)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0, f32::max);
        assert!(d <= 1e-6, "strength {s}: max relative |gpu - cpu| = {d}");
    }
}

#[test]
fn encode_rgba8_bgra8_f16_match_reference() {
    let ctx = gpu();
    let (color, f, mut comp) = blend_setup(&ctx);
    let res = download(&ctx, comp.residual());
    let s = 0.6;
    let rgba = encode_gpu(&ctx, &mut comp, &f, ColorFormat::Rgba8Srgb, s);
    let bgra = encode_gpu(&ctx, &mut comp, &f, ColorFormat::Bgra8Srgb, s);
    let cpu_rgba = blend_encode(&color, &res, s, ColorFormat::Rgba8Srgb);
    let cpu_bgra = blend_encode(&color, &res, s, ColorFormat::Bgra8Srgb);
    // +-1 code: GPU pow() may round a value sitting on a .5 boundary the other way.
    let d8 = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap()
    };
    assert!(d8(&rgba, &cpu_rgba) <= 1 && d8(&bgra, &cpu_bgra) <= 1);
    for (p, q) in rgba.chunks_exact(4).zip(bgra.chunks_exact(4)) {
        assert_eq!(
            [p[2], p[1], p[0], p[3]],
            [q[0], q[1], q[2], q[3]],
            "BGRA must be RGBA with r and b swapped"
        );
    }
    // Pixel 0 is HDR red 3.5 -> 255; pixel 1 alpha 0.25 -> 64 (alpha stays linear).
    assert_eq!(rgba[0], 255);
    assert_eq!(bgra[2], 255);
    assert_eq!(rgba[7], 64);

    let h16 = encode_gpu(&ctx, &mut comp, &f, ColorFormat::Rgba16Float, s);
    let cpu16 = blend_encode(&color, &res, s, ColorFormat::Rgba16Float);
    let halves = |b: &[u8]| {
        b.chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect::<Vec<f32>>()
    };
    let (g16, c16) = (halves(&h16), halves(&cpu16));
    assert!(
        g16.iter().all(|v| v.is_finite()),
        "f16 output must stay finite (70000 clamps to 65504)"
    );
    let d = g16
        .iter()
        .zip(&c16)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-3))
        .fold(0.0, f32::max);
    assert!(d <= 1e-3, "f16: max relative |gpu - cpu| = {d}");
    assert!(
        g16[4] > 30000.0,
        "the 70000 input is clamped, not wrapped: {}",
        g16[4]
    );
}

#[test]
fn bad_shapes_are_errors_that_record_nothing() {
    let ctx = gpu();
    let mut rng = Rng(3);
    let color = random_rgba(&mut rng, 20, 10, 1.0);
    let f = frame(&ctx, &color, None, None);
    let mut comp = Compositor::new(&ctx);
    // Encode before any composite: an error, and no output.
    let mut enc = encoder(&ctx);
    let err = comp
        .record_encode(&ctx, &mut enc, &f, ColorFormat::Rgba32Float, 1.0)
        .unwrap_err();
    assert!(err.to_string().contains("without a composite"), "{err}");
    assert_eq!(comp.output_len_bytes(), 0);
    // A good composite and encode, then model images of different sizes: an error that drops
    // the history, so the next encode cannot show a stale result either.
    let lr = upload(&ctx, &random_rgba(&mut rng, 5, 5, 1.0));
    let p = CompositeParams::default();
    comp.record_composite(&ctx, &mut enc, &f, &look(&f, &lr, &lr), &p, true)
        .unwrap();
    comp.record_encode(&ctx, &mut enc, &f, ColorFormat::Rgba32Float, 1.0)
        .unwrap();
    submit(&ctx, enc);
    assert_eq!(comp.output_len_bytes(), 20 * 10 * 16);
    let (o, i) = (
        upload(&ctx, &random_rgba(&mut rng, 8, 4, 1.0)),
        upload(&ctx, &random_rgba(&mut rng, 4, 8, 1.0)),
    );
    let mut enc = encoder(&ctx);
    let err = comp
        .record_composite(&ctx, &mut enc, &f, &look(&f, &o, &i), &p, false)
        .unwrap_err();
    assert!(err.to_string().contains("same size"), "{err}");
    assert!(comp
        .record_encode(&ctx, &mut enc, &f, ColorFormat::Rgba32Float, 1.0)
        .is_err());
    // Reproject with a motion field of the wrong size records nothing.
    let dst = upload(&ctx, &ImageF32::new(20, 10, 4));
    let err = comp
        .record_reproject(
            &ctx,
            &mut enc,
            &f.color,
            &upload(&ctx, &constant_motion(5, 5, 1.0, 1.0)),
            &dst,
        )
        .unwrap_err();
    assert!(err.to_string().contains("motion is 5x5"), "{err}");
    submit(&ctx, enc);
    assert!(download(&ctx, &dst).data.iter().all(|&v| v == 0.0));
}
