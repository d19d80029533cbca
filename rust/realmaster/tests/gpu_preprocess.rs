//! GPU preprocessing (decode, resample, edges, pack) against the CPU references in
//! `realmaster::reference`, on small deterministic synthetic frames, plus properties of the
//! references themselves (area-filter mass conservation, edge placement and thinness).
//! Tolerances: float passes max |gpu - cpu| <= 1e-4 (x max(1, |cpu|) for HDR-sized values);
//! edge maps >= 99.5 % agreement (exact where noted); pack is a copy, so bit-exact.
//! A GPU context that cannot be created FAILS these tests (the test command installs lavapipe).

use std::sync::OnceLock;

use realmaster::frame::{
    linear_to_srgb, srgb_to_linear, ColorFormat, FrameRef, ImageF32, PlaneRef,
};
use realmaster::gpu::kernel::read_image;
use realmaster::gpu::preprocess::{
    EdgeParams, InputRole, ModelColorSpace, ModelResImages, Packer, PreprocessConfig, Preprocessor,
    TensorLayout,
};
use realmaster::gpu::{AdapterPreference, GpuContext, GpuImage};
use realmaster::reference::{self, resample::ModelResRef};

fn ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        GpuContext::new(AdapterPreference::default())
            .unwrap_or_else(|e| panic!("these tests need a GPU context (lavapipe is fine): {e}"))
    })
}

// ---------- synthetic frames ----------

/// Owned planes of a test frame, with row pitches (padding bytes are filled with 0xAB so that a
/// pass reading padding shows up as garbage).
struct TestFrame {
    width: u32,
    height: u32,
    format: ColorFormat,
    color: (Vec<u8>, usize),
    depth: Option<(Vec<u8>, usize)>,
    normals: Option<(Vec<u8>, usize)>,
    motion: Option<(Vec<u8>, usize)>,
}

impl TestFrame {
    fn frame(&self) -> FrameRef<'_> {
        fn p(pl: &(Vec<u8>, usize)) -> PlaneRef<'_> {
            PlaneRef {
                data: &pl.0,
                row_pitch: pl.1,
            }
        }
        FrameRef {
            width: self.width,
            height: self.height,
            format: self.format,
            color: p(&self.color),
            depth: self.depth.as_ref().map(p),
            normals: self.normals.as_ref().map(p),
            motion: self.motion.as_ref().map(p),
            camera_cut: false,
            light: None,
        }
    }
}

/// Rows of `w` pixels from `px(x, y)` (already encoded bytes) with `pitch` bytes between rows.
fn rows(
    w: u32,
    h: u32,
    bpp: usize,
    pitch: usize,
    px: impl Fn(u32, u32) -> Vec<u8>,
) -> (Vec<u8>, usize) {
    assert!(pitch >= w as usize * bpp);
    let mut out = vec![0xABu8; pitch * (h as usize - 1) + w as usize * bpp];
    for y in 0..h {
        for x in 0..w {
            let b = px(x, y);
            assert_eq!(b.len(), bpp);
            out[y as usize * pitch + x as usize * bpp..][..bpp].copy_from_slice(&b);
        }
    }
    (out, pitch)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Encode a linear RGBA value in `format` (8-bit formats: sRGB-encoded and rounded).
fn encode_px(format: ColorFormat, c: [f32; 4]) -> Vec<u8> {
    let u8s = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    match format {
        ColorFormat::Rgba8Srgb => vec![
            u8s(linear_to_srgb(c[0])),
            u8s(linear_to_srgb(c[1])),
            u8s(linear_to_srgb(c[2])),
            u8s(c[3]),
        ],
        ColorFormat::Bgra8Srgb => vec![
            u8s(linear_to_srgb(c[2])),
            u8s(linear_to_srgb(c[1])),
            u8s(linear_to_srgb(c[0])),
            u8s(c[3]),
        ],
        ColorFormat::Rgba16Float => c
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
            .collect(),
        ColorFormat::Rgba32Float => f32_bytes(&c),
    }
}

/// A smooth-plus-texture deterministic colour (values up to ~1.6 for HDR formats).
fn pattern(x: u32, y: u32) -> [f32; 4] {
    let (fx, fy) = (x as f32, y as f32);
    let h = ((x * 7919 + y * 104729) % 97) as f32 / 97.0;
    [
        (0.5 + 0.5 * (fx * 0.37).sin()) * 0.9 + 0.1 * h,
        (fy * 0.05 + h * 0.3).fract(),
        (0.3 + 0.3 * ((fx + fy) * 0.21).cos()) * 1.0 + 0.6 * h * h,
        0.25 + 0.5 * h,
    ]
}

/// A frame with every plane and padded pitches (`extra` bytes per row; 0 = tight).
fn full_frame(w: u32, h: u32, format: ColorFormat, extra: usize) -> TestFrame {
    let bpp = format.bytes_per_pixel();
    let color = rows(w, h, bpp, w as usize * bpp + extra, |x, y| {
        encode_px(format, pattern(x, y))
    });
    let depth = rows(w, h, 4, w as usize * 4 + 8, |x, y| {
        f32_bytes(&[2.0 + 0.3 * x as f32 + 0.1 * ((y * 13) % 7) as f32])
    });
    let normals = rows(w, h, 12, w as usize * 12 + 4, |x, y| {
        let (a, b) = (x as f32 * 0.2, y as f32 * 0.15);
        let n = [a.sin() * 0.6, b.cos() * 0.5, 0.8 + 0.1 * (a + b).sin()];
        let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        f32_bytes(&[n[0] / l, n[1] / l, n[2] / l])
    });
    let motion = rows(w, h, 8, w as usize * 8 + 16, |x, y| {
        f32_bytes(&[x as f32 * 0.5 - 3.0, (y as f32 - 4.0) * 1.25])
    });
    TestFrame {
        width: w,
        height: h,
        format,
        color,
        depth: Some(depth),
        normals: Some(normals),
        motion: Some(motion),
    }
}

/// A 32-bit float frame whose colour is given in *perceptual* units (so luma steps are exact).
fn perceptual_frame(w: u32, h: u32, v: impl Fn(u32, u32) -> f32) -> TestFrame {
    let color = rows(w, h, 16, w as usize * 16, |x, y| {
        let l = srgb_to_linear(v(x, y));
        f32_bytes(&[l, l, l, 1.0])
    });
    TestFrame {
        width: w,
        height: h,
        format: ColorFormat::Rgba32Float,
        color,
        depth: None,
        normals: None,
        motion: None,
    }
}

fn cfg(mw: u32, mh: u32) -> PreprocessConfig {
    PreprocessConfig {
        model_width: mw,
        model_height: mh,
        color_space: ModelColorSpace::Srgb,
        depth_scale: 10.0,
        edges: EdgeParams::default(),
    }
}

// ---------- GPU helpers ----------

fn read(img: &GpuImage) -> ImageF32 {
    let c = ctx();
    ImageF32 {
        width: img.width,
        height: img.height,
        channels: img.channels,
        data: read_image(&c.device, &c.queue, img).unwrap(),
    }
}

/// Upload + record into fresh model images, submit, and read every plane back.
fn run_gpu(pre: &mut Preprocessor, f: &TestFrame) -> ModelResRef {
    let c = ctx();
    pre.upload(c, &f.frame()).unwrap();
    let dst = ModelResImages::new(&c.device, pre.config());
    let mut enc = c.device.create_command_encoder(&Default::default());
    pre.record(c, &mut enc, &dst).unwrap();
    c.queue.submit([enc.finish()]);
    ModelResRef {
        color: read(&dst.color),
        color_linear: read(&dst.color_linear),
        edges: read(&dst.edges),
        depth: read(&dst.depth),
        depth_z: ImageF32::new(0, 0, 1),
        normals: read(&dst.normals),
        motion: read(&dst.motion),
        has_depth: f.depth.is_some(),
        has_normals: f.normals.is_some(),
    }
}

fn cpu(f: &TestFrame, cfg: &PreprocessConfig) -> ModelResRef {
    reference::edges::model_inputs(&reference::decode::decode_frame(&f.frame()), cfg)
}

/// Max of |a - b| / max(1, |b|) over all samples.
fn max_rel_diff(a: &ImageF32, b: &ImageF32) -> f32 {
    assert_eq!(
        (a.width, a.height, a.channels),
        (b.width, b.height, b.channels)
    );
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

fn assert_close(name: &str, gpu: &ImageF32, cpu: &ImageF32) {
    let d = max_rel_diff(gpu, cpu);
    assert!(d <= 1e-4, "{name}: GPU and CPU differ by {d} (> 1e-4)");
}

/// Fraction of equal samples.
fn agreement(a: &ImageF32, b: &ImageF32) -> f64 {
    let same = a.data.iter().zip(&b.data).filter(|(x, y)| x == y).count();
    same as f64 / a.data.len() as f64
}

fn edge_pixels(e: &ImageF32) -> Vec<(u32, u32)> {
    (0..e.height)
        .flat_map(|y| (0..e.width).map(move |x| (x, y)))
        .filter(|&(x, y)| e.at(x, y, 0) == 1.0)
        .collect()
}

fn mean_channel(img: &ImageF32, c: u32) -> f64 {
    let n = (img.width * img.height) as f64;
    (0..img.height)
        .flat_map(|y| (0..img.width).map(move |x| (x, y)))
        .map(|(x, y)| img.at(x, y, c) as f64)
        .sum::<f64>()
        / n
}

// ---------- decode ----------

#[test]
fn decode_all_formats_with_padded_and_unaligned_pitches() {
    let c = ctx();
    let mut pre = Preprocessor::new(c, cfg(8, 8)).unwrap();
    // (format, extra bytes per row): 12 keeps 4-byte alignment, 2 and 6 force the CPU repack path.
    let cases = [
        (ColorFormat::Rgba8Srgb, 12),
        (ColorFormat::Rgba8Srgb, 2),
        (ColorFormat::Bgra8Srgb, 12),
        (ColorFormat::Rgba16Float, 8),
        (ColorFormat::Rgba16Float, 6),
        (ColorFormat::Rgba32Float, 16),
        (ColorFormat::Rgba32Float, 0),
    ];
    for (format, extra) in cases {
        let f = full_frame(13, 7, format, extra);
        pre.upload(c, &f.frame()).unwrap();
        let images = pre.frame().unwrap();
        let want = reference::decode::decode_frame(&f.frame());
        let tag = format!("{format:?} pitch +{extra}");
        assert_close(&format!("{tag} color"), &read(&images.color), &want.color);
        // Depth, normals and motion cross at model size (resampled on the CPU at upload): no
        // full-resolution image of them is kept for a CPU frame.
        assert!(
            images.depth.is_none() && images.normals.is_none() && images.motion.is_none(),
            "{tag}: full-resolution aux images after a CPU-frame upload"
        );
        // The reference itself: the decoded colour is the pattern up to the format's precision.
        let tol: f32 = if format.is_hdr() { 2e-3 } else { 1.5e-2 };
        for y in 0..7 {
            for x in 0..13 {
                let mut p = pattern(x, y);
                if !format.is_hdr() {
                    p.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
                }
                for ch in 0..4 {
                    let v = want.color.at(x, y, ch);
                    assert!(
                        (v - p[ch as usize]).abs() <= tol.max(p[ch as usize].abs() * 1e-3),
                        "{tag}: ({x},{y},{ch}) {v} vs {}",
                        p[ch as usize]
                    );
                }
            }
        }
    }
}

#[test]
fn decode_bgra_channel_order_and_srgb_values() {
    let c = ctx();
    let mut pre = Preprocessor::new(c, cfg(4, 4)).unwrap();
    // Pixel 0: bytes B=255 G=0 R=0 A=128 (pure blue); pixel 1: B=0 G=0 R=188 A=255 (sRGB 188 ≈ 0.5 linear).
    let bytes = [255u8, 0, 0, 128, 0, 0, 188, 255];
    pre.upload(
        c,
        &FrameRef::color_only(2, 1, ColorFormat::Bgra8Srgb, &bytes),
    )
    .unwrap();
    let got = read(&pre.frame().unwrap().color);
    let want = [
        0.0,
        0.0,
        1.0,
        128.0 / 255.0,
        srgb_to_linear(188.0 / 255.0),
        0.0,
        0.0,
        1.0,
    ];
    for (i, (g, w)) in got.data.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-5, "element {i}: {g} vs {w}");
    }
    assert!((got.data[4] - 0.5029).abs() < 1e-3);
    assert!(pre.frame().unwrap().depth.is_none());
}

// ---------- resample ----------

#[test]
fn resample_37x23_to_16x16_matches_reference() {
    let c = ctx();
    let config = cfg(16, 16);
    let mut pre = Preprocessor::new(c, config).unwrap();
    let f = full_frame(37, 23, ColorFormat::Rgba32Float, 0);
    let gpu = run_gpu(&mut pre, &f);
    let want = cpu(&f, &config);
    assert_close("color", &gpu.color, &want.color);
    assert_close("color_linear", &gpu.color_linear, &want.color_linear);
    assert_close("depth", &gpu.depth, &want.depth);
    assert_close("normals", &gpu.normals, &want.normals);
    assert_close("motion", &gpu.motion, &want.motion);
    // Model-space colour is sRGB-encoded and clamped.
    assert!(gpu
        .color
        .data
        .chunks_exact(4)
        .all(|p| p[..3].iter().all(|v| (0.0..=1.0).contains(v))));
    // Normals are unit length.
    for p in gpu.normals.data.chunks_exact(4) {
        let l = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        assert!((l - 1.0).abs() < 1e-5 && p[3] == 0.0, "normal length {l}");
    }
}

#[test]
fn area_filter_weights_are_exact_for_non_integer_ratios() {
    // Independent f64 check of the reference: output pixel o of a 37 -> 16 ramp f(x) = x averages
    // the overlap of [o * 37/16, (o + 1) * 37/16) with each source pixel.
    let (sw, dw) = (37u32, 16u32);
    let mut src = ImageF32::new(sw, 3, 1);
    for y in 0..3 {
        for x in 0..sw {
            src.set(x, y, 0, x as f32);
        }
    }
    let out = reference::resample::area_resample(&src, dw, 3);
    let s = sw as f64 / dw as f64;
    for o in 0..dw {
        let (lo, hi) = (o as f64 * s, (o + 1) as f64 * s);
        let mut acc = 0.0;
        for x in 0..sw {
            let w = (hi.min(x as f64 + 1.0) - lo.max(x as f64)).max(0.0);
            acc += w * x as f64;
        }
        let want = acc / s;
        assert!(
            (out.at(o, 1, 0) as f64 - want).abs() < 1e-4,
            "o={o}: {} vs {want}",
            out.at(o, 1, 0)
        );
    }
    // First output: weights 1, 1, 0.3125 over 2.3125 px.
    assert!((out.at(0, 0, 0) - 1.625 / 2.3125).abs() < 1e-5);
}

#[test]
fn area_filter_conserves_the_mean_down_and_up() {
    let c = ctx();
    for (sw, sh, mw, mh) in [(37, 23, 16, 16), (7, 5, 16, 16), (16, 16, 11, 21)] {
        let mut config = cfg(mw, mh);
        config.color_space = ModelColorSpace::Linear;
        let mut pre = Preprocessor::new(c, config).unwrap();
        let f = full_frame(sw, sh, ColorFormat::Rgba32Float, 0);
        let gpu = run_gpu(&mut pre, &f);
        let input = reference::decode::decode_color(&f.frame());
        for ch in 0..4 {
            let (a, b) = (
                mean_channel(&gpu.color_linear, ch),
                mean_channel(&input, ch),
            );
            assert!(
                (a - b).abs() < 1e-5,
                "{sw}x{sh} -> {mw}x{mh} channel {ch}: mean {a} vs {b}"
            );
        }
        // Linear model space passes HDR values through unchanged.
        assert_eq!(gpu.color.data, gpu.color_linear.data);
    }
}

#[test]
fn resample_upsampling_7x5_to_16x16_matches_reference() {
    let c = ctx();
    let mut config = cfg(16, 16);
    config.color_space = ModelColorSpace::Linear;
    let mut pre = Preprocessor::new(c, config).unwrap();
    let f = full_frame(7, 5, ColorFormat::Rgba16Float, 0);
    let gpu = run_gpu(&mut pre, &f);
    let want = cpu(&f, &config);
    for (name, g, w) in [
        ("color", &gpu.color, &want.color),
        ("depth", &gpu.depth, &want.depth),
        ("normals", &gpu.normals, &want.normals),
        ("motion", &gpu.motion, &want.motion),
    ] {
        assert_close(name, g, w);
    }
    // Output pixel 0 lies inside source pixel 0 in both axes: it is that pixel exactly.
    let input = reference::decode::decode_color(&f.frame());
    for ch in 0..4 {
        assert!((gpu.color_linear.at(0, 0, ch) - input.at(0, 0, ch)).abs() < 1e-6);
    }
    // Motion is scaled to model pixels: a constant x-motion of m px becomes m * 16 / 7.
    let m = reference::decode::decode_frame(&f.frame()).motion.unwrap();
    assert!((gpu.motion.at(0, 0, 0) - m.at(0, 0, 0) * 16.0 / 7.0).abs() < 1e-4);
    assert!((gpu.motion.at(0, 0, 1) - m.at(0, 0, 1) * 16.0 / 5.0).abs() < 1e-4);
}

#[test]
fn missing_aux_planes_give_zeros_and_come_back() {
    let c = ctx();
    let config = cfg(8, 8);
    let mut pre = Preprocessor::new(c, config).unwrap();
    let full = full_frame(19, 11, ColorFormat::Rgba8Srgb, 0);
    let mut bare = full_frame(19, 11, ColorFormat::Rgba8Srgb, 0);
    bare.depth = None;
    bare.normals = None;
    bare.motion = None;

    let a = run_gpu(&mut pre, &full);
    assert!(a.depth.data.iter().all(|&v| v > 0.0));
    let b = run_gpu(&mut pre, &bare);
    assert!(pre.frame().unwrap().depth.is_none() && pre.frame().unwrap().motion.is_none());
    for (name, img) in [
        ("depth", &b.depth),
        ("normals", &b.normals),
        ("motion", &b.motion),
    ] {
        assert!(
            img.data.iter().all(|&v| v == 0.0),
            "{name} should be all zero without the plane"
        );
    }
    assert_close("bare color", &b.color, &cpu(&bare, &config).color);
    let again = run_gpu(&mut pre, &full);
    assert_close("depth after re-adding", &again.depth, &a.depth);
    assert_close("normals after re-adding", &again.normals, &a.normals);
    // Resolution change reallocates and still matches.
    let other = full_frame(10, 30, ColorFormat::Rgba32Float, 4);
    let g = run_gpu(&mut pre, &other);
    assert_eq!(
        (pre.frame().unwrap().width, pre.frame().unwrap().height),
        (10, 30)
    );
    assert_close("after resize", &g.color, &cpu(&other, &config).color);
}

// ---------- edges ----------

/// Edge maps at frame resolution (resample is then the identity), GPU and CPU.
fn edges_both(f: &TestFrame, params: EdgeParams) -> (ImageF32, ImageF32) {
    let mut config = cfg(f.width, f.height);
    config.edges = params;
    let mut pre = Preprocessor::new(ctx(), config).unwrap();
    let gpu = run_gpu(&mut pre, f);
    (gpu.edges, cpu(f, &config).edges)
}

#[test]
fn step_edge_is_one_pixel_wide_on_the_boundary() {
    let f = perceptual_frame(32, 24, |x, _| if x < 16 { 0.2 } else { 0.7 });
    let (gpu, want) = edges_both(&f, EdgeParams::default());
    assert_eq!(gpu.data, want.data, "GPU and CPU edge maps differ");
    let px = edge_pixels(&gpu);
    assert_eq!(px.len(), 24, "expected one edge pixel per row, got {px:?}");
    assert!(
        px.iter().all(|&(x, _)| x == 16),
        "edge off the boundary: {px:?}"
    );
}

#[test]
fn circle_edge_follows_the_boundary_and_is_thin() {
    let (cx, cy, r) = (20.3f32, 19.6f32, 11.0f32);
    let f = perceptual_frame(40, 40, |x, y| {
        let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
        if d < r {
            0.8
        } else {
            0.25
        }
    });
    let (gpu, want) = edges_both(&f, EdgeParams::default());
    let agree = agreement(&gpu, &want);
    assert!(agree >= 0.995, "GPU/CPU agreement {agree}");
    let px = edge_pixels(&gpu);
    // On the boundary: every edge pixel centre within 1.5 px of the circle.
    for &(x, y) in &px {
        let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
        assert!(
            (d - r).abs() <= 1.5,
            "edge pixel ({x},{y}) is {d} from the centre (r = {r})"
        );
    }
    // Closed: every point of the circle has an edge pixel within 1.5 px.
    for k in 0..360 {
        let t = k as f32 * std::f32::consts::PI / 180.0;
        let (qx, qy) = (cx + r * t.cos(), cy + r * t.sin());
        let near = px.iter().any(|&(x, y)| {
            ((x as f32 + 0.5 - qx).powi(2) + (y as f32 + 0.5 - qy).powi(2)).sqrt() <= 1.5
        });
        assert!(near, "no edge near the circle at {k} degrees");
    }
    // Thin: no 2x2 block fully on, and about one pixel per unit of 8-connected perimeter.
    let on = |x: u32, y: u32| gpu.at(x, y, 0) == 1.0;
    for y in 0..39 {
        for x in 0..39 {
            assert!(
                !(on(x, y) && on(x + 1, y) && on(x, y + 1) && on(x + 1, y + 1)),
                "2x2 edge block at ({x},{y})"
            );
        }
    }
    // An 8-connected digital circle of radius r has about 4 r sqrt(2) = 62 pixels.
    assert!(
        (50..=80).contains(&px.len()),
        "{} edge pixels for a circle of radius {r}",
        px.len()
    );
}

#[test]
fn depth_only_discontinuity_is_detected() {
    let mut f = perceptual_frame(24, 16, |_, _| 0.5);
    f.depth = Some(rows(24, 16, 4, 96, |x, _| {
        f32_bytes(&[if x < 12 { 5.0 } else { 10.0 }])
    }));
    let (gpu, want) = edges_both(&f, EdgeParams::default());
    assert_eq!(gpu.data, want.data);
    let px = edge_pixels(&gpu);
    assert_eq!(px.len(), 16, "{px:?}");
    assert!(px.iter().all(|&(x, _)| x == 12), "{px:?}");
    // Without depth the flat colour has no edges at all.
    f.depth = None;
    let (gpu, _) = edges_both(&f, EdgeParams::default());
    assert!(edge_pixels(&gpu).is_empty());
}

#[test]
fn normal_crease_is_detected() {
    let mut f = perceptual_frame(16, 24, |_, _| 0.5);
    let s = std::f32::consts::FRAC_1_SQRT_2;
    f.normals = Some(rows(16, 24, 12, 16 * 12, |_, y| {
        f32_bytes(&if y < 10 { [0.0, 0.0, 1.0] } else { [0.0, s, s] })
    }));
    let (gpu, want) = edges_both(&f, EdgeParams::default());
    assert!(agreement(&gpu, &want) >= 0.995);
    let px = edge_pixels(&gpu);
    assert_eq!(px.len(), 16, "{px:?}");
    assert!(px.iter().all(|&(_, y)| y == 10), "{px:?}");
}

/// Column 16: a strong step in rows 0..8 continuing as a weak step below; columns >= 26 from row
/// 16 down: an isolated weak step.
fn hysteresis_frame() -> TestFrame {
    perceptual_frame(40, 32, |x, y| {
        let mut v = 0.2;
        if x >= 16 {
            v += if y < 8 { 0.5 } else { 0.12 };
        }
        if x >= 26 && y >= 16 {
            v += 0.12;
        }
        v
    })
}

#[test]
fn hysteresis_keeps_weak_edges_only_when_connected() {
    let f = hysteresis_frame();
    let (gpu, want) = edges_both(&f, EdgeParams::default());
    assert!(agreement(&gpu, &want) >= 0.995);
    let has = |x0: u32, x1: u32, y: u32| (x0..=x1).any(|x| gpu.at(x, y, 0) == 1.0);
    for y in 0..32 {
        assert!(has(15, 17, y), "connected weak edge missing in row {y}");
    }
    for y in 12..32 {
        assert!(!has(24, 28, y), "isolated weak edge kept in row {y}");
    }
    // No strong seed at all: nothing survives.
    let (none, _) = edges_both(
        &f,
        EdgeParams {
            high: 0.9,
            ..EdgeParams::default()
        },
    );
    assert!(edge_pixels(&none).is_empty());
}

#[test]
fn bounded_hysteresis_matches_the_reference_step_for_step() {
    let f = hysteresis_frame();
    for n in [1, 3, 7] {
        let (gpu, want) = edges_both(
            &f,
            EdgeParams {
                max_iterations: n,
                ..EdgeParams::default()
            },
        );
        assert_eq!(
            gpu.data, want.data,
            "max_iterations {n}: GPU and CPU differ"
        );
        // Growth is one pixel per step: rows far below the strong part stay off.
        let col = |y: u32| (15..=17).any(|x| gpu.at(x, y, 0) == 1.0);
        assert!(
            !col(8 + n + 3),
            "max_iterations {n}: edge grew past {} rows",
            n + 3
        );
    }
}

// ---------- pack ----------

#[test]
fn tensor_layout_offsets_shapes_and_errors() {
    use InputRole::*;
    let all = [Frames, Edges, Depth, Normals, PreviousOutput];
    let l = TensorLayout::new(16, 8, 2, &all).unwrap();
    let offs: Vec<u64> = l.entries.iter().map(|e| e.offset_bytes).collect();
    assert_eq!(offs, [0, 3072, 4096, 4608, 6144]);
    assert_eq!(l.total_bytes, 7680);
    assert_eq!(l.get(Frames).unwrap().shape, [1, 6, 8, 16]);
    assert_eq!(l.get(Edges).unwrap().shape, [1, 2, 8, 16]);
    assert_eq!(l.get(Depth).unwrap().shape_i64(), [1, 1, 8, 16]);
    // Odd sizes get padded to the 256-byte alignment, in the order given.
    let l = TensorLayout::new(5, 3, 3, &[PreviousOutput, Frames]).unwrap();
    assert_eq!(l.entries[0].role, PreviousOutput);
    assert_eq!(l.entries[0].len, 45);
    assert_eq!(l.entries[1].offset_bytes, 256);
    assert_eq!(l.entries[1].len, 135);
    assert_eq!(l.total_bytes, 256 + 768);
    assert!(TensorLayout::new(5, 3, 2, &[Frames, Frames]).is_err());
    assert!(TensorLayout::new(5, 3, 0, &[Frames]).is_err());
    assert_eq!(
        InputRole::from_name("previous_output"),
        Some(PreviousOutput)
    );
    assert_eq!(InputRole::from_name("prompt_embedding"), None);
}

fn binary(mut img: ImageF32) -> ImageF32 {
    img.data
        .iter_mut()
        .for_each(|v| *v = if *v > 0.5 { 1.0 } else { 0.0 });
    img
}

fn random_images(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    config: &PreprocessConfig,
    seed: u32,
) -> (ModelResImages, ModelResRef) {
    let (w, h) = (config.model_width, config.model_height);
    let gen = |ch: u32, salt: u32| {
        let mut img = ImageF32::new(w, h, ch);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i as u32)
                .wrapping_mul(2654435761u32)
                .wrapping_add(seed * 97 + salt * 13)
                % 1000) as f32
                / 1000.0;
        }
        img
    };
    let r = ModelResRef {
        color: gen(4, 1),
        color_linear: gen(4, 2),
        edges: binary(gen(1, 3)),
        depth: gen(1, 4),
        depth_z: gen(1, 5),
        normals: gen(4, 6),
        motion: gen(4, 7),
        has_depth: true,
        has_normals: true,
    };
    let g = ModelResImages::new(device, config);
    for (img, src) in [
        (&g.color, &r.color),
        (&g.color_linear, &r.color_linear),
        (&g.edges, &r.edges),
        (&g.depth, &r.depth),
        (&g.normals, &r.normals),
        (&g.motion, &r.motion),
    ] {
        queue.write_buffer(&img.buffer, 0, bytemuck::cast_slice(&src.data));
    }
    (g, r)
}

fn read_arena(packer: &Packer) -> Vec<f32> {
    let c = ctx();
    let bytes = realmaster::gpu::kernel::read_buffer(
        &c.device,
        &c.queue,
        packer.arena(),
        0,
        packer.layout().total_bytes,
    )
    .unwrap();
    bytemuck::cast_slice(&bytes).to_vec()
}

#[test]
fn pack_writes_every_role_at_its_offset() {
    use InputRole::*;
    let c = ctx();
    let config = cfg(12, 7);
    let (a, ar) = random_images(&c.device, &c.queue, &config, 1);
    let (b, br) = random_images(&c.device, &c.queue, &config, 2);
    let mut prev = ImageF32::new(12, 7, 4);
    prev.data
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = i as f32 * 0.25 - 7.0);
    let prev_gpu = GpuImage::from_data(&c.device, "prev", 12, 7, 4, &prev.data);

    for roles in [
        vec![Frames, Edges, Depth, Normals, PreviousOutput],
        vec![PreviousOutput, Frames],
        vec![Edges, Depth],
    ] {
        let packer = Packer::new(c, &config, 3, &roles).unwrap();
        // Window not full yet: the oldest (a) is repeated.
        for _ in 0..2 {
            // Twice: the second run reuses cached bind groups.
            let mut enc = c.device.create_command_encoder(&Default::default());
            packer
                .record(c, &mut enc, &[&a, &a, &b], &b, &prev_gpu)
                .unwrap();
            c.queue.submit([enc.finish()]);
            let got = read_arena(&packer);
            let want = reference::pack::pack(packer.layout(), &[&ar, &ar, &br], &br, &prev);
            assert_eq!(got, want, "roles {roles:?}");
        }
        let l = packer.layout();
        let got = read_arena(&packer);
        let hw = 12 * 7;
        if let Some(f) = l.view(&got, Frames) {
            // frames[0, 3*2 + 2, y=3, x=5] is slot 2's (b) blue at (5, 3).
            assert_eq!(f[(3 * 2 + 2) * hw + 3 * 12 + 5], br.color.at(5, 3, 2));
            assert_eq!(f[hw + 6 * 12 + 11], ar.color.at(11, 6, 1));
        }
        if let Some(e) = l.view(&got, Edges) {
            assert_eq!(e[2 * hw + 4 * 12 + 2], br.edges.at(2, 4, 0));
        }
        if let Some(p) = l.view(&got, PreviousOutput) {
            assert_eq!(p[2 * hw + 5], prev.at(5, 0, 2));
        }
    }
    // Wrong window length and wrong image sizes are errors, not panics.
    let packer = Packer::new(c, &config, 2, &[Frames]).unwrap();
    let mut enc = c.device.create_command_encoder(&Default::default());
    assert!(packer.record(c, &mut enc, &[&a], &a, &prev_gpu).is_err());
    let small = ModelResImages::new(&c.device, &cfg(4, 4));
    assert!(packer
        .record(c, &mut enc, &[&a, &small], &a, &prev_gpu)
        .is_err());
}

// ---------- whole chain and API errors ----------

#[test]
fn upload_record_pack_matches_the_cpu_chain() {
    use InputRole::*;
    let c = ctx();
    let config = cfg(24, 16);
    let mut pre = Preprocessor::new(c, config).unwrap();
    let packer = Packer::new(
        c,
        &config,
        2,
        &[Frames, Edges, Depth, Normals, PreviousOutput],
    )
    .unwrap();
    let f0 = full_frame(50, 31, ColorFormat::Rgba8Srgb, 8);
    let mut f1 = full_frame(50, 31, ColorFormat::Bgra8Srgb, 0);
    f1.motion = None;
    let (s0, s1) = (
        ModelResImages::new(&c.device, &config),
        ModelResImages::new(&c.device, &config),
    );
    for (f, s) in [(&f0, &s0), (&f1, &s1)] {
        pre.upload(c, &f.frame()).unwrap();
        let mut enc = c.device.create_command_encoder(&Default::default());
        pre.record(c, &mut enc, s).unwrap();
        c.queue.submit([enc.finish()]);
    }
    let mut enc = c.device.create_command_encoder(&Default::default());
    packer
        .record(c, &mut enc, &[&s0, &s1], &s1, &s0.color_linear)
        .unwrap();
    c.queue.submit([enc.finish()]);
    let got = read_arena(&packer);

    let (r0, r1) = (cpu(&f0, &config), cpu(&f1, &config));
    let want = reference::pack::pack(packer.layout(), &[&r0, &r1], &r1, &r0.color_linear);
    let l = packer.layout();
    for role in [Frames, Depth, Normals, PreviousOutput] {
        let (g, w) = (l.view(&got, role).unwrap(), l.view(&want, role).unwrap());
        let d = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d <= 1e-4, "{role:?}: max diff {d}");
    }
    let (g, w) = (l.view(&got, Edges).unwrap(), l.view(&want, Edges).unwrap());
    let same = g.iter().zip(w).filter(|(a, b)| a == b).count() as f64 / g.len() as f64;
    assert!(same >= 0.995, "edge agreement {same}");
    assert!(
        g.contains(&1.0),
        "the textured frames should have some edges"
    );
}

#[test]
fn api_errors_instead_of_panics() {
    let c = ctx();
    assert!(Preprocessor::new(c, cfg(0, 16)).is_err());
    assert!(Preprocessor::new(
        c,
        PreprocessConfig {
            depth_scale: 0.0,
            ..cfg(8, 8)
        }
    )
    .is_err());
    let bad_edges = EdgeParams {
        low: 0.5,
        high: 0.1,
        ..EdgeParams::default()
    };
    assert!(Preprocessor::new(
        c,
        PreprocessConfig {
            edges: bad_edges,
            ..cfg(8, 8)
        }
    )
    .is_err());
    let pre = Preprocessor::new(c, cfg(8, 8)).unwrap();
    let dst = ModelResImages::new(&c.device, &cfg(8, 8));
    let mut enc = c.device.create_command_encoder(&Default::default());
    let e = pre.record(c, &mut enc, &dst).unwrap_err().to_string();
    assert!(e.contains("upload"), "{e}");
    let mut pre = Preprocessor::new(c, cfg(8, 8)).unwrap();
    let short = vec![0u8; 10];
    assert!(pre
        .upload(
            c,
            &FrameRef::color_only(4, 4, ColorFormat::Rgba8Srgb, &short)
        )
        .is_err());
    pre.upload(c, &full_frame(9, 9, ColorFormat::Rgba8Srgb, 0).frame())
        .unwrap();
    let wrong = ModelResImages::new(&c.device, &cfg(9, 8));
    assert!(pre.record(c, &mut enc, &wrong).is_err());
}
