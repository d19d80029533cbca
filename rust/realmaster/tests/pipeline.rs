//! End-to-end sessions on tiny, exactly-known ONNX graphs (tests/python/make_test_models.py):
//! cinematic and realtime modes, determinism, prompts, strength, cuts, resolution changes, and
//! failures that must show the untouched frame.

use realmaster::frame::{srgb_to_linear, ColorFormat, FrameRef, PlaneRef};
use realmaster::{Backend, Error, Health, Mode, OutputFrame, Session, SessionConfig};

mod model_support;
use model_support::{copy_pkg, edit_manifest, models};

fn config(model: &str, mode: Mode) -> SessionConfig {
    config_on(Backend::Auto, model, mode)
}

/// Both backends of the full-resolution passes, named explicitly: `auto` picks the CPU on a
/// machine whose only adapter is a software rasteriser, and the GPU path must stay tested there.
const BACKENDS: [Backend; 2] = [Backend::Gpu, Backend::Cpu];

fn config_on(backend: Backend, model: &str, mode: Mode) -> SessionConfig {
    SessionConfig {
        model_dir: Some(models().join(model)),
        execution_provider: "cpu".into(),
        mode,
        prompt_blend_frames: 0,
        backend,
        ..Default::default()
    }
}

/// A deterministic RGBA8 test picture: gradients, a disc and some texture.
fn picture(w: u32, h: u32, shift: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let xs = x + shift;
            let dx = xs as f32 - w as f32 / 2.0;
            let dy = y as f32 - h as f32 / 2.0;
            let disc = (dx * dx + dy * dy).sqrt() < h as f32 / 4.0;
            let r = ((xs * 255) / w.max(1)) as u8;
            let g = ((y * 255) / h.max(1)) as u8;
            let b = if disc {
                220
            } else {
                ((xs * 7 + y * 13) % 64) as u8
            };
            v.extend_from_slice(&[r, g, b, 255]);
        }
    }
    v
}

fn run_one(s: &Session, f: &FrameRef<'_>) -> OutputFrame {
    s.submit(f).unwrap();
    s.flush();
    let mut o = OutputFrame::default();
    assert!(s.latest_output(&mut o));
    o
}

fn max_diff_u8(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn identity_model_returns_the_input() {
    for backend in BACKENDS {
        identity_model_returns_the_input_on(backend);
    }
}

fn identity_model_returns_the_input_on(backend: Backend) {
    let s = Session::new(config_on(backend, "identity", Mode::Cinematic)).unwrap();
    assert_eq!(s.execution_provider(), "cpu");
    let (w, h) = (64, 40);
    for i in 0..4 {
        let px = picture(w, h, i);
        let o = run_one(&s, &FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px));
        assert!(o.enhanced, "frame {i} enhanced");
        assert_eq!(o.data.len(), px.len());
        // Identity model: residual 0 everywhere, so only decode/encode rounding remains.
        assert!(
            max_diff_u8(&o.data, &px) <= 1,
            "frame {i}: identity differs by {}",
            max_diff_u8(&o.data, &px)
        );
    }
    assert_eq!(s.health(), Health::Ok);
}

#[test]
fn colormap_model_grades_the_full_resolution_frame() {
    for backend in BACKENDS {
        colormap_model_grades_the_full_resolution_frame_on(backend);
    }
}

fn colormap_model_grades_the_full_resolution_frame_on(backend: Backend) {
    let s = Session::new(config_on(backend, "colormap", Mode::Cinematic)).unwrap();
    let (w, h) = (96, 64);
    let px = picture(w, h, 0);
    let o = run_one(&s, &FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px));
    // The graded look is applied as a low-res residual, guided-upsampled: compare with the exact grade
    // of the full-res input (sRGB space, as the model works in sRGB).
    let m = [[1.10, 0.05, 0.00], [0.02, 1.00, 0.00], [0.00, 0.05, 0.85]];
    let bias = [0.03, 0.01, -0.02];
    let mut err = 0.0f64;
    for p in 0..(w * h) as usize {
        let c: Vec<f32> = (0..3).map(|k| px[p * 4 + k] as f32 / 255.0).collect();
        for k in 0..3 {
            let want = (m[k][0] * c[0] + m[k][1] * c[1] + m[k][2] * c[2] + bias[k]).clamp(0.0, 1.0);
            err += ((o.data[p * 4 + k] as f32 / 255.0) - want).abs() as f64;
        }
    }
    let mean = err / (w * h * 3) as f64;
    let untouched: f64 = px
        .iter()
        .zip(&o.data)
        .map(|(a, b)| a.abs_diff(*b) as f64)
        .sum::<f64>()
        / px.len() as f64
        / 255.0;
    assert!(mean < 0.02, "mean abs error vs the exact grade {mean}");
    assert!(
        untouched > 0.01,
        "output must differ from the input ({untouched})"
    );
}

#[test]
fn cinematic_is_bit_identical_across_sessions() {
    for backend in BACKENDS {
        cinematic_is_bit_identical_across_sessions_on(backend);
    }
}

fn cinematic_is_bit_identical_across_sessions_on(backend: Backend) {
    let (w, h) = (50, 30);
    let frames: Vec<Vec<u8>> = (0..5).map(|i| picture(w, h, i * 2)).collect();
    let render = || -> Vec<Vec<u8>> {
        let s = Session::new(config_on(backend, "blur", Mode::Cinematic)).unwrap();
        frames
            .iter()
            .map(|f| run_one(&s, &FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, f)).data)
            .collect()
    };
    let a = render();
    let b = render();
    assert_eq!(a, b);
}

#[test]
fn strength_zero_is_the_untouched_input() {
    for backend in BACKENDS {
        strength_zero_is_the_untouched_input_on(backend);
    }
}

fn strength_zero_is_the_untouched_input_on(backend: Backend) {
    let mut c = config_on(backend, "colormap", Mode::Cinematic);
    c.strength = 0.0;
    let s = Session::new(c).unwrap();
    let (w, h) = (40, 24);
    let px = picture(w, h, 3);
    let o = run_one(&s, &FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px));
    assert!(o.enhanced);
    assert_eq!(o.data, px);
    assert!(s.set_strength(1.5).is_err());
    assert!(s.set_strength(f32::NAN).is_err());
}

/// The guided upsample's ridge is the session's to set: it reaches the compositor on both backends
/// (the backends agree for each value), and a value outside its range is refused at creation.
#[test]
fn upsample_eps_reaches_the_compositor_and_is_checked() {
    let (w, h) = (40, 24);
    let px = picture(w, h, 3);
    let render = |backend: Backend, eps: f32| {
        let mut c = config_on(backend, "colormap", Mode::Cinematic);
        c.upsample_eps = eps;
        c.model_size = Some((16, 16));
        let s = Session::new(c).unwrap();
        let o = run_one(&s, &FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px));
        assert!(o.enhanced);
        o.data
    };
    let mut per_eps = Vec::new();
    for eps in [1e-6, 1.0] {
        let [gpu, cpu] = BACKENDS.map(|b| render(b, eps));
        let d = max_diff_u8(&gpu, &cpu);
        assert!(d <= 2, "eps {eps}: the backends differ by {d} levels");
        per_eps.push(cpu);
    }
    // Ridge 1 flattens every fit to its neighbourhood's mean change; 1e-6 follows the colour map
    // into the picture's texture: different pictures.
    let d = max_diff_u8(&per_eps[0], &per_eps[1]);
    assert!(
        d >= 8,
        "eps 1e-6 and 1 give nearly the same picture (max difference {d})"
    );
    for bad in [0.0, 2.0, f32::NAN] {
        let mut c = config("colormap", Mode::Cinematic);
        c.upsample_eps = bad;
        match Session::new(c) {
            Err(e @ Error::Config { .. }) => {
                assert!(e.to_string().contains("upsample_eps"), "{e}")
            }
            Err(e) => panic!("eps {bad}: expected a configuration error, got {e}"),
            Ok(_) => panic!("eps {bad} was accepted"),
        }
    }
}

/// A package may state a ridge per prompt preset (manifest `upsample`): a look made with that
/// preset is composited with the user's ridge scaled by the preset's over the default (1e-3), so
/// the default gives the package's own ridge, a preset it does not name keeps the user's, and the
/// frames are those of a package without the section at the scaled ridge.
#[test]
fn a_packages_ridge_per_prompt_scales_the_users_ridge() {
    let (w, h) = (40, 24);
    let px = picture(w, h, 3);
    let f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px);
    let ridged = copy_pkg("colormap");
    edit_manifest(&ridged, |m| {
        m["upsample"] =
            serde_json::json!({"eps": {"rain": 0.1, "night": 1e-5}, "default_eps": 1e-3});
    });
    let run = |dir: std::path::PathBuf, prompt: &str, eps: f32| {
        let mut c = config_on(Backend::Cpu, "colormap", Mode::Cinematic);
        c.model_dir = Some(dir);
        c.prompt = prompt.into();
        c.upsample_eps = eps;
        c.model_size = Some((16, 16));
        let s = Session::new(c).unwrap();
        let o = run_one(&s, &f);
        assert!(o.enhanced, "{:?}", s.health());
        (o.data, s.stats().last_upsample_eps)
    };
    let plain = models().join("colormap");
    let close = |a: f32, b: f32| (a / b - 1.0).abs() < 1e-4;
    for (prompt, user, want) in [
        ("rain", 1e-3, 0.1),
        ("rain", 1e-5, 1e-3),
        ("night", 1e-3, 1e-5),
        ("clear", 1e-3, 1e-3),
        ("clear", 0.5, 0.5),
        // Scaled past the range: clamped to it.
        ("rain", 0.5, 1.0),
    ] {
        let (got, eps) = run(ridged.clone(), prompt, user);
        assert!(
            close(eps, want),
            "{prompt} at {user}: ridge {eps}, expected {want}"
        );
        let (same, plain_eps) = run(plain.clone(), prompt, want);
        assert!(close(plain_eps, want));
        let d = max_diff_u8(&got, &same);
        assert!(
            d <= 1,
            "{prompt} at {user}: {d} levels from the plain package at {want}"
        );
    }
    // The section changes the picture where it names a preset.
    let (rain, _) = run(ridged.clone(), "rain", 1e-3);
    let (rain_plain, _) = run(plain.clone(), "rain", 1e-3);
    assert!(
        max_diff_u8(&rain, &rain_plain) >= 8,
        "the rain ridge changed nothing"
    );
}

#[test]
fn upsample_eps_set_live_gives_the_picture_of_a_session_created_with_it() {
    let (w, h) = (40, 24);
    let px = picture(w, h, 3);
    let f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px);
    let session = |eps: f32| {
        let mut c = config_on(Backend::Cpu, "colormap", Mode::Cinematic);
        c.upsample_eps = eps;
        c.model_size = Some((16, 16));
        c.temporal_alpha = 1.0;
        Session::new(c).unwrap()
    };
    let fine = run_one(&session(1e-6), &f).data;
    let s = session(1.0);
    let coarse = run_one(&s, &f).data;
    s.set_upsample_eps(1e-6).unwrap();
    assert_eq!(s.upsample_eps(), 1e-6);
    let live = run_one(&s, &f).data;
    assert!(
        max_diff_u8(&fine, &coarse) >= 8,
        "the two ridges give nearly the same picture"
    );
    assert_eq!(live, fine, "the next frame uses the new ridge");
    // Out of range is refused with the value kept.
    for bad in [0.0, 2.0, f32::NAN] {
        match s.set_upsample_eps(bad) {
            Err(e @ Error::Config { .. }) => assert!(e.to_string().contains("upsample_eps"), "{e}"),
            other => panic!("eps {bad}: expected a configuration error, got {other:?}"),
        }
    }
    assert_eq!(s.upsample_eps(), 1e-6);
    assert_eq!(run_one(&s, &f).data, fine);
}

#[test]
fn prompt_changes_take_effect_and_blend() {
    let mut c = config("prompt_tint", Mode::Cinematic);
    c.prompt = "clear".into();
    c.prompt_blend_frames = 4;
    // No temporal smoothing: this test looks at the prompt blend alone.
    c.temporal_alpha = 1.0;
    let s = Session::new(c).unwrap();
    let (w, h) = (32, 32);
    let px = picture(w, h, 0);
    let f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px);
    let mean =
        |o: &OutputFrame| o.data.chunks_exact(4).map(|p| p[0] as f64).sum::<f64>() / (w * h) as f64;
    let clear = mean(&run_one(&s, &f));
    s.set_prompt("night").unwrap();
    let steps: Vec<f64> = (0..5).map(|_| mean(&run_one(&s, &f))).collect();
    // night's first component is negative, clear's positive: red falls over the blend, then settles.
    assert!(
        steps[0] < clear && steps[1] < steps[0] && steps[3] <= steps[2],
        "blend {clear} -> {steps:?}"
    );
    assert!(
        (steps[4] - steps[3]).abs() < 1.0,
        "settled after 4 frames: {steps:?}"
    );
    // Free text goes through this package's text encoder.
    s.set_prompt("rain at night in the city").unwrap();
    // A package without a text encoder: unknown free text → a clear error listing presets.
    let s = Session::new(config("colormap", Mode::Cinematic)).unwrap();
    match s.set_prompt("a completely unknown phrase") {
        Err(Error::Prompt { problem, .. }) => assert!(
            problem.contains("clear") || problem.contains("preset"),
            "{problem}"
        ),
        other => panic!("expected a prompt error, got {other:?}"),
    }
}

#[test]
fn submit_owned_swaps_buffers_and_matches_submit() {
    let (w, h) = (50, 30);
    let frames: Vec<Vec<u8>> = (0..4).map(|i| picture(w, h, i * 3)).collect();
    let copied = Session::new(config("blur", Mode::Cinematic)).unwrap();
    let owned = Session::new(config("blur", Mode::Cinematic)).unwrap();
    let mut mine = realmaster::OwnedFrame::default();
    for f in &frames {
        let a = run_one(
            &copied,
            &FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, f),
        );
        FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, f).copy_into(&mut mine);
        let ptr = mine.color.as_ptr();
        owned.submit_owned(&mut mine).unwrap();
        // The session kept our buffer and gave us another one back: nothing was copied.
        assert_ne!(mine.color.as_ptr(), ptr);
        let mut b = OutputFrame::default();
        assert!(owned.latest_output(&mut b));
        assert_eq!(
            a.data, b.data,
            "same frames give the same output either way"
        );
    }
    // A bad layout is refused before anything is swapped.
    let mut bad = realmaster::OwnedFrame {
        width: w,
        height: h,
        color: vec![0; 10],
        ..Default::default()
    };
    assert!(owned.submit_owned(&mut bad).is_err());
    assert_eq!(bad.color.len(), 10);
}

#[test]
fn realtime_submit_never_waits_and_counts_drops() {
    let s = Session::new(config("blur", Mode::Realtime)).unwrap();
    let (w, h) = (320, 180);
    let frames: Vec<Vec<u8>> = (0..30).map(|i| picture(w, h, i)).collect();
    // Submits after which a frame was still waiting or being processed: a submit that waited for
    // the pipeline never leaves one (counters, not a time bound, so a loaded machine cannot fail it).
    let mut returned_unfinished = 0;
    for f in &frames {
        s.submit(&FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, f))
            .unwrap();
        let st = s.stats();
        returned_unfinished +=
            usize::from(st.frames_submitted > st.frames_output + st.frames_dropped);
    }
    s.flush();
    let st = s.stats();
    assert_eq!(st.frames_submitted, 30);
    assert_eq!(st.frames_output + st.frames_dropped, 30, "{st:?}");
    assert!(
        st.frames_dropped > 0,
        "submitting back to back must replace unprocessed frames: {st:?}"
    );
    // A frame still waiting is overwritten in place: at most two buffers are ever made (the first
    // submit's and one while the frame thread holds it), not one per replaced frame.
    assert!(st.submit_allocations <= 2, "{st:?}");
    assert!(
        returned_unfinished > 0,
        "every realtime submit returned only after its frame was processed: {st:?}"
    );
    let mut o = OutputFrame::default();
    assert!(s.latest_output(&mut o));
    assert_eq!(o.frame_index, 29, "the newest frame wins");
}

#[test]
fn camera_cuts_and_resolution_changes_reset_the_window() {
    for backend in BACKENDS {
        camera_cuts_and_resolution_changes_reset_the_window_on(backend);
    }
}

fn camera_cuts_and_resolution_changes_reset_the_window_on(backend: Backend) {
    let s = Session::new(config_on(backend, "identity", Mode::Cinematic)).unwrap();
    let a = picture(48, 32, 0);
    run_one(
        &s,
        &FrameRef::color_only(48, 32, ColorFormat::Rgba8Srgb, &a),
    );
    run_one(
        &s,
        &FrameRef::color_only(48, 32, ColorFormat::Rgba8Srgb, &a),
    );
    assert_eq!(s.stats().window_resets, 1, "only the start");
    let mut f = FrameRef::color_only(48, 32, ColorFormat::Rgba8Srgb, &a);
    f.camera_cut = true;
    run_one(&s, &f);
    assert_eq!(s.stats().window_resets, 2, "caller cut");
    let inverted: Vec<u8> = a
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 4 == 3 { *v } else { 255 - v })
        .collect();
    run_one(
        &s,
        &FrameRef::color_only(48, 32, ColorFormat::Rgba8Srgb, &inverted),
    );
    assert_eq!(s.stats().window_resets, 3, "automatic cut");
    let b = picture(80, 60, 0);
    let o = run_one(
        &s,
        &FrameRef::color_only(80, 60, ColorFormat::Rgba8Srgb, &b),
    );
    assert_eq!((o.width, o.height), (80, 60));
    assert!(o.enhanced);
    assert_eq!(s.stats().window_resets, 4, "resolution change");
    assert!(max_diff_u8(&o.data, &b) <= 1);
}

#[test]
fn bgra_pitch_and_hdr_inputs_come_back_in_their_own_format() {
    for backend in BACKENDS {
        bgra_pitch_and_hdr_inputs_come_back_in_their_own_format_on(backend);
    }
}

fn bgra_pitch_and_hdr_inputs_come_back_in_their_own_format_on(backend: Backend) {
    let s = Session::new(config_on(backend, "identity", Mode::Cinematic)).unwrap();
    let (w, h) = (30, 20);
    let rgba = picture(w, h, 1);
    // BGRA with 16 bytes of row padding.
    let pitch = w as usize * 4 + 16;
    let mut bgra = vec![0u8; pitch * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let s = &rgba[(y * w as usize + x) * 4..][..4];
            bgra[y * pitch + x * 4..][..4].copy_from_slice(&[s[2], s[1], s[0], s[3]]);
        }
    }
    let mut f = FrameRef::color_only(w, h, ColorFormat::Bgra8Srgb, &bgra);
    f.color = PlaneRef {
        data: &bgra,
        row_pitch: pitch,
    };
    let o = run_one(&s, &f);
    assert_eq!(o.format, ColorFormat::Bgra8Srgb);
    assert_eq!(
        o.data.len(),
        (w * h * 4) as usize,
        "output is tightly packed"
    );
    let tight: Vec<u8> = (0..h as usize)
        .flat_map(|y| bgra[y * pitch..y * pitch + w as usize * 4].to_vec())
        .collect();
    assert!(max_diff_u8(&o.data, &tight) <= 1);

    // Linear HDR f32 input with values above 1: the identity model must keep the highlights.
    let hdr: Vec<f32> = rgba
        .chunks_exact(4)
        .flat_map(|p| {
            [
                srgb_to_linear(p[0] as f32 / 255.0) * 4.0,
                srgb_to_linear(p[1] as f32 / 255.0),
                srgb_to_linear(p[2] as f32 / 255.0),
                1.0,
            ]
        })
        .collect();
    let bytes: Vec<u8> = hdr.iter().flat_map(|v| v.to_le_bytes()).collect();
    let o = run_one(
        &s,
        &FrameRef::color_only(w, h, ColorFormat::Rgba32Float, &bytes),
    );
    assert_eq!(o.format, ColorFormat::Rgba32Float);
    let out: Vec<f32> = o
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let max_rel = out
        .iter()
        .zip(&hdr)
        .map(|(a, b)| (a - b).abs() / b.abs().max(0.05))
        .fold(0.0f32, f32::max);
    assert!(max_rel < 0.02, "HDR identity relative error {max_rel}");
    assert!(out.iter().any(|v| *v > 1.5), "highlights above 1 survive");
}

#[test]
fn no_model_and_bad_frames_pass_the_input_through() {
    let s = Session::new(SessionConfig::default()).unwrap();
    assert!(matches!(s.health(), Health::PassThrough { .. }));
    let px = picture(16, 8, 0);
    let o = run_one(
        &s,
        &FrameRef::color_only(16, 8, ColorFormat::Rgba8Srgb, &px),
    );
    assert!(!o.enhanced);
    assert_eq!(o.data, px);

    // Realtime: a NaN HDR frame is caught on the worker, shown untouched, reported once.
    let s = Session::new(config("identity", Mode::Realtime)).unwrap();
    let mut hdr = vec![0.5f32; 16 * 8 * 4];
    hdr[10] = f32::NAN;
    let bytes: Vec<u8> = hdr.iter().flat_map(|v| v.to_le_bytes()).collect();
    let o = run_one(
        &s,
        &FrameRef::color_only(16, 8, ColorFormat::Rgba32Float, &bytes),
    );
    assert!(!o.enhanced);
    assert_eq!(o.data, bytes, "untouched, never black");
    match s.health() {
        Health::PassThrough { message, .. } => assert!(message.contains("NaN"), "{message}"),
        h => panic!("expected pass-through, got {h:?}"),
    }
    // A wrong buffer size is refused at submit with a clear error.
    let short = vec![0u8; 10];
    let e = s
        .submit(&FrameRef::color_only(16, 8, ColorFormat::Rgba8Srgb, &short))
        .unwrap_err();
    assert!(e.to_string().contains("needs"), "{e}");
}

#[test]
fn unavailable_execution_provider_is_an_error_unless_fallback_is_allowed() {
    let mut c = config("identity", Mode::Cinematic);
    c.execution_provider = "tensorrt".into();
    match Session::new(c.clone()) {
        Err(Error::ExecutionProvider { .. }) => {}
        Err(e) => panic!("expected an execution provider error, got {e}"),
        Ok(_) => panic!("tensorrt cannot run here; the session must not silently use the CPU"),
    }
    c.allow_ep_fallback = true;
    let s = Session::new(c).unwrap();
    assert_eq!(s.execution_provider(), "cpu");
}

/// A model with a `light` input reads each frame's own light (light_tint: rgb = current + 0.5 sun
/// + 0.25 up); a frame without one gets `SceneLight::FALLBACK`, on both backends.
#[test]
fn each_frame_light_reaches_a_model_that_reads_it() {
    use realmaster::SceneLight;
    for backend in BACKENDS {
        let mut c = config_on(backend, "light_tint", Mode::Cinematic);
        c.temporal_alpha = 1.0;
        let s = Session::new(c).unwrap();
        let (w, h) = (32, 32);
        let px = vec![128u8; (w * h * 4) as usize];
        let mean = |light: Option<SceneLight>| {
            let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &px);
            f.light = light;
            // A cut per frame: each output is this frame's look alone.
            f.camera_cut = true;
            let o = run_one(&s, &f);
            let n = (w * h) as f64;
            let m: Vec<f64> = (0..3)
                .map(|c| o.data.chunks_exact(4).map(|p| p[c] as f64).sum::<f64>() / n)
                .collect();
            m
        };
        let grey = mean(Some(
            SceneLight::new([0.0, 0.0, 1.0], [0.0, 1.0, 0.0]).unwrap(),
        ));
        // The sun swings from behind the camera to the right: red rises by 0.5 in the model's
        // sRGB values and blue falls by 0.5, as much as the 0..1 range allows.
        let right = mean(Some(
            SceneLight::new([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]).unwrap(),
        ));
        assert!(
            right[0] > grey[0] + 60.0,
            "{backend:?}: {grey:?} -> {right:?}"
        );
        assert!(
            right[2] < grey[2] - 60.0,
            "{backend:?}: {grey:?} -> {right:?}"
        );
        assert!(
            (right[1] - grey[1]).abs() < 2.0,
            "{backend:?}: {grey:?} -> {right:?}"
        );
        // No light: the documented fallback, exactly as if it had been passed.
        let none = mean(None);
        let fallback = mean(Some(SceneLight::FALLBACK));
        assert_eq!(none, fallback, "{backend:?}");
        assert_ne!(none, grey, "{backend:?}");
        // Stats say the model reads the light and count the one frame that gave none.
        let st = s.stats();
        assert!(st.model_reads_light);
        assert_eq!(st.frames_without_light, 1, "{backend:?}");
    }
    // A model without a light input: nothing to count.
    let s = Session::new(config("identity", Mode::Cinematic)).unwrap();
    let px = picture(16, 16, 0);
    run_one(
        &s,
        &FrameRef::color_only(16, 16, ColorFormat::Rgba8Srgb, &px),
    );
    assert!(!s.stats().model_reads_light);
    assert_eq!(s.stats().frames_without_light, 0);
}
