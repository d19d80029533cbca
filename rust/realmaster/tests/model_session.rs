//! ModelSession on the generated test packages: outputs vs Rust references, determinism, EP
//! selection and every graph/manifest mismatch.

mod model_support;

use model_support::*;
use realmaster::model::{
    available_eps, EpOptions, ExecutionProvider, InputRole, ModelInput, ModelPackage, ModelSession,
    SessionOptions,
};
use realmaster::Error;

fn load(name: &str, opts: &SessionOptions) -> realmaster::Result<ModelSession> {
    ModelSession::load(&ModelPackage::open(pkg(name))?, opts)
}

fn box_blur_clamped(img: &[f32], h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; img.len()];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0f64;
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let yy = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
                        let xx = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
                        s += img[c * h * w + yy * w + xx] as f64;
                    }
                }
                out[c * h * w + y * w + x] = (s / 9.0) as f32;
            }
        }
    }
    out
}

const M: [[f32; 3]; 3] = [[1.10, 0.05, 0.00], [0.02, 1.00, 0.00], [0.00, 0.05, 0.85]];
const B: [f32; 3] = [0.03, 0.01, -0.02];

fn colormap_ref(img: &[f32], px: usize) -> Vec<f32> {
    let mut out = vec![0.0; img.len()];
    for i in 0..px {
        let rgb = [img[i], img[px + i], img[2 * px + i]];
        for c in 0..3 {
            let v = M[c][0] * rgb[0] + M[c][1] * rgb[1] + M[c][2] * rgb[2] + B[c];
            out[c * px + i] = v.clamp(0.0, 1.0);
        }
    }
    out
}

#[test]
fn identity_returns_the_current_frame_on_cpu() {
    let mut s = load("identity", &cpu()).unwrap();
    assert_eq!(s.ep_in_use(), ExecutionProvider::Cpu);
    assert!(!s.ep_selection().fell_back);
    assert_eq!(s.input_roles().len(), 6);
    let inp = Inputs::new(8, 12, 1);
    let mut out = Vec::new();
    let shape = s.run_into(&inp.all(), &mut out).unwrap();
    assert_eq!(shape, [1, 3, 8, 12]);
    assert_eq!(out, inp.current(), "identity must be exact");
    // Buffer reuse: a second frame of another size into the same Vec.
    let inp2 = Inputs::new(16, 4, 2);
    assert_eq!(s.run_into(&inp2.all(), &mut out).unwrap(), [1, 3, 16, 4]);
    assert_eq!(out, inp2.current());
}

#[test]
fn blur_matches_the_rust_reference() {
    let mut s = load("blur", &cpu()).unwrap();
    let inp = Inputs::new(12, 8, 3);
    let out = s.run(&inp.all()).unwrap();
    let want = box_blur_clamped(inp.current(), 12, 8);
    let d = max_abs_diff(&out, &want);
    assert!(d < 1e-6, "blur differs by {d}");
    // Not the identity: the blur really changed the image.
    assert!(max_abs_diff(&out, inp.current()) > 0.05);
}

#[test]
fn colormap_matches_the_rust_reference() {
    let mut s = load("colormap", &cpu()).unwrap();
    let inp = Inputs::new(8, 8, 4);
    let out = s.run(&inp.all()).unwrap();
    let want = colormap_ref(inp.current(), 64);
    let d = max_abs_diff(&out, &want);
    assert!(d < 1e-6, "colormap differs by {d}");
    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
}

/// prompt_tint's output: the current frame plus half the prompt's first three values.
fn assert_tinted(out: &[f32], inp: &Inputs) {
    let (cur, hw) = (inp.current(), inp.h * inp.w);
    for c in 0..3 {
        for i in 0..hw {
            let want = cur[c * hw + i] + 0.5 * inp.prompt[c];
            assert!(
                (out[c * hw + i] - want).abs() < 1e-6,
                "channel {c} pixel {i}"
            );
        }
    }
}

#[test]
fn prompt_embedding_reaches_the_graph() {
    let mut s = load("prompt_tint", &cpu()).unwrap();
    let mut inp = Inputs::new(4, 4, 5);
    inp.prompt = vec![0.2, -0.4, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0];
    let out = s.run(&inp.all()).unwrap();
    assert_tinted(&out, &inp);
}

/// I/O binding: the prompt is bound once per change, not per frame; the bound output is reused and
/// every frame's inputs still reach the graph (a new frame, a new size, a new prompt).
#[test]
fn the_prompt_is_bound_once_per_change_and_frames_still_flow() {
    let mut s = load("prompt_tint", &cpu()).unwrap();
    let mut inp = Inputs::new(4, 4, 5);
    inp.prompt = vec![0.2, -0.4, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0];
    for frame in 0..4u32 {
        let mut next = Inputs::new(4, 4, 5 + frame);
        next.prompt = inp.prompt.clone();
        let out = s.run(&next.all()).unwrap();
        assert_tinted(&out, &next);
    }
    assert_eq!(
        s.prompt_bindings(),
        Some(1),
        "one prompt, bound once over 4 frames"
    );
    inp.prompt[0] = -0.3;
    let out = s.run(&inp.all()).unwrap();
    assert_tinted(&out, &inp);
    assert_eq!(
        s.prompt_bindings(),
        Some(2),
        "a new prompt is bound once more"
    );
    // Another size: the output tensor is re-allocated once, the values still right.
    let mut big = Inputs::new(8, 16, 9);
    big.prompt = inp.prompt.clone();
    let out = s.run(&big.all()).unwrap();
    assert_eq!(out.len(), 3 * 8 * 16);
    assert_tinted(&out, &big);
}

#[test]
fn deterministic_mode_is_bit_identical_across_sessions() {
    let opts = SessionOptions {
        deterministic: true,
        ..cpu()
    };
    let inp = Inputs::new(16, 16, 6);
    let a = load("blur", &opts).unwrap().run(&inp.all()).unwrap();
    let mut s2 = load("blur", &opts).unwrap();
    let b = s2.run(&inp.all()).unwrap();
    let c = s2.run(&inp.all()).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(b.iter().zip(&c).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn auto_picks_cpu_here_and_records_why_gpus_were_skipped() {
    let s = load(
        "identity",
        &SessionOptions {
            ep: ExecutionProvider::Auto,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.ep_in_use(), ExecutionProvider::Cpu);
    assert!(!s.ep_selection().fell_back);
    let skipped: Vec<ExecutionProvider> = s.ep_selection().failures.iter().map(|f| f.0).collect();
    assert!(
        skipped.contains(&ExecutionProvider::TensorRt),
        "{skipped:?}"
    );
    assert!(skipped.contains(&ExecutionProvider::Cuda), "{skipped:?}");
}

#[test]
fn available_eps_lists_cpu_only_on_this_build() {
    let eps = available_eps().unwrap();
    assert!(eps.contains(&ExecutionProvider::Cpu));
    assert!(!eps.contains(&ExecutionProvider::TensorRt));
}

#[test]
fn explicit_gpu_ep_without_fallback_is_a_clear_error() {
    for ep in [
        ExecutionProvider::TensorRt,
        ExecutionProvider::Cuda,
        ExecutionProvider::DirectMl,
        ExecutionProvider::CoreMl,
    ] {
        let err = load(
            "identity",
            &SessionOptions {
                ep,
                ..Default::default()
            },
        )
        .unwrap_err();
        match &err {
            Error::ExecutionProvider {
                ep: name,
                problem,
                fix,
            } => {
                assert_eq!(name, &ep.to_string());
                assert!(problem.contains("does not include"), "{problem}");
                assert!(fix.contains("--ep"), "{fix}");
            }
            other => panic!("expected ExecutionProvider error for {ep}, got {other}"),
        }
    }
}

#[test]
fn explicit_gpu_ep_with_fallback_uses_cpu_and_says_so() {
    let opts = SessionOptions {
        ep: ExecutionProvider::TensorRt,
        ep_options: EpOptions {
            fallback: true,
            trt_fp16: true,
            trt_engine_cache: Some(models().join("trt-cache")),
            trt_timing_cache: Some(models().join("trt-timing")),
            device_id: 0,
        },
        ..Default::default()
    };
    let mut s = load("identity", &opts).unwrap();
    let sel = s.ep_selection().clone();
    assert_eq!(sel.requested, ExecutionProvider::TensorRt);
    assert_eq!(sel.used, ExecutionProvider::Cpu);
    assert!(sel.fell_back);
    assert_eq!(sel.failures.len(), 1);
    let inp = Inputs::new(4, 4, 7);
    assert_eq!(s.run(&inp.all()).unwrap(), inp.current());
}

#[test]
fn ep_names_parse_and_print() {
    for name in ["auto", "tensorrt", "cuda", "directml", "coreml", "cpu"] {
        let ep: ExecutionProvider = name.parse().unwrap();
        assert_eq!(ep.to_string(), name);
    }
    assert_eq!(
        " TRT ".parse::<ExecutionProvider>().unwrap(),
        ExecutionProvider::TensorRt
    );
    let err = "vulkan".parse::<ExecutionProvider>().unwrap_err();
    assert!(
        matches!(err, Error::Config { .. }) && err.to_string().contains("auto, tensorrt"),
        "{err}"
    );
}

fn mismatch(name: &str) -> String {
    match load(name, &cpu()).unwrap_err() {
        Error::ModelMismatch { problem, .. } => problem,
        other => panic!("{name}: expected ModelMismatch, got {other}"),
    }
}

#[test]
fn graph_missing_a_manifest_input_is_rejected() {
    let p = mismatch("bad/missing_input");
    assert!(
        p.contains("input 'normals' (role normals) is not in the graph"),
        "{p}"
    );
}

#[test]
fn graph_with_an_undeclared_input_is_rejected() {
    let p = mismatch("bad/extra_input");
    assert!(
        p.contains("graph input 'albedo' is not declared in the manifest"),
        "{p}"
    );
}

#[test]
fn graph_with_wrong_frame_channels_is_rejected() {
    let p = mismatch("bad/wrong_dims");
    assert!(
        p.contains("input 'frames' (role frames) dim 1 is 9 in the graph"),
        "{p}"
    );
    assert!(p.contains("expected 6"), "{p}");
}

#[test]
fn fixed_resolution_manifest_vs_graph_dims() {
    // Manifest fixed 8x8: a dynamic graph is accepted and the size is enforced at run time.
    let dir = copy_pkg("identity");
    edit_manifest(&dir, |m| {
        m["resolution"] = serde_json::json!({"mode": "fixed", "size": [8, 8]})
    });
    let mut s = ModelSession::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap();
    assert!(s.run(&Inputs::new(8, 8, 1).all()).is_ok());
    let err = s.run(&Inputs::new(12, 8, 1).all()).unwrap_err();
    assert!(
        matches!(err, Error::Inference(_)) && err.to_string().contains("exactly 8x8"),
        "{err}"
    );
    // Window 3 in the manifest: frames must have 9 channels but the graph has 6.
    let dir = copy_pkg("identity");
    edit_manifest(&dir, |m| m["window"] = serde_json::json!(3));
    let err = ModelSession::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap_err();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("dim 1 is 6 in the graph") && err.to_string().contains("edges"),
        "{err}"
    );
    // Prompt dim 4 in manifest + presets: the graph's prompt input is [1, 8].
    let dir = copy_pkg("identity");
    edit_manifest(
        &dir,
        |m| m["prompt"] = serde_json::json!({"dim": 4, "presets": null, "text_encoder": {"graph": "model.onnx", "vocab": "presets.json"}}),
    );
    let err = ModelSession::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap_err();
    assert!(
        err.to_string()
            .contains("input 'prompt' (role prompt_embedding) dim 1 is 8 in the graph"),
        "{err}"
    );
}

#[test]
fn truncated_graph_with_regenerated_sha_gives_a_load_error() {
    let p = mismatch("bad/truncated");
    assert!(p.contains("cannot load the graph"), "{p}");
}

#[test]
fn run_rejects_bad_inputs_with_specific_messages() {
    let mut s = load("identity", &cpu()).unwrap();
    let inp = Inputs::new(8, 8, 1);
    // Missing role.
    let mut all = inp.all();
    all.retain(|i| i.role != InputRole::Depth);
    let err = s.run(&all).unwrap_err();
    assert!(err.to_string().contains("needs a depth input"), "{err}");
    // Duplicate role.
    let mut all = inp.all();
    all.push(ModelInput::new(InputRole::Depth, &inp.depth, &inp.shape_1));
    assert!(s
        .run(&all)
        .unwrap_err()
        .to_string()
        .contains("depth input given 2 times"));
    // Wrong channel count.
    let mut all = inp.all();
    all[1] = ModelInput::new(InputRole::Edges, &inp.normals, &inp.shape_3);
    assert!(s
        .run(&all)
        .unwrap_err()
        .to_string()
        .contains("edges input has shape [1, 3, 8, 8], expected [1, 2, 8, 8]"));
    // Data shorter than its shape.
    let mut all = inp.all();
    all[2] = ModelInput::new(InputRole::Depth, &inp.depth[..10], &inp.shape_1);
    assert!(s
        .run(&all)
        .unwrap_err()
        .to_string()
        .contains("depth input has 10 values"));
    // Size not a multiple of 4.
    let odd = Inputs::new(6, 8, 1);
    assert!(s
        .run(&odd.all())
        .unwrap_err()
        .to_string()
        .contains("multiples of 4"));
}

#[test]
fn sessions_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<ModelSession>();
    assert_send::<realmaster::model::PromptEncoder>();
    let mut s = load("identity", &cpu()).unwrap();
    let inp = Inputs::new(4, 4, 9);
    let want = inp.current().to_vec();
    let out = std::thread::spawn(move || s.run(&inp.all()).unwrap())
        .join()
        .unwrap();
    assert_eq!(out, want);
}

#[test]
fn the_light_input_reaches_the_graph_and_its_shape_is_checked() {
    let mut s = load("light_tint", &cpu()).unwrap();
    assert!(s.input_roles().contains(&InputRole::Light));
    let inp = Inputs::new(4, 4, 7);
    let light = [0.0f32, 0.6, 0.8, 0.0, 1.0, 0.0];
    let shape = [1usize, 6];
    let mut feeds: Vec<ModelInput<'_>> = inp
        .all()
        .into_iter()
        .filter(|i| i.role != InputRole::PreviousOutput)
        .collect();
    feeds.push(ModelInput::new(InputRole::Light, &light, &shape));
    let out = s.run(&feeds).unwrap();
    let (cur, hw) = (inp.current(), inp.h * inp.w);
    for c in 0..3 {
        for i in 0..hw {
            let want = cur[c * hw + i] + 0.5 * light[c] + 0.25 * light[3 + c];
            assert!(
                (out[c * hw + i] - want).abs() < 1e-6,
                "channel {c} pixel {i}"
            );
        }
    }
    // Missing or misshapen light: a clear error, not a crash.
    feeds.pop();
    let e = s.run(&feeds).unwrap_err().to_string();
    assert!(e.contains("light") && e.contains("none was given"), "{e}");
    let short = [0.0f32; 3];
    let short_shape = [1usize, 3];
    feeds.push(ModelInput::new(InputRole::Light, &short, &short_shape));
    let e = s.run(&feeds).unwrap_err().to_string();
    assert!(
        e.contains("light input has shape [1, 3], expected [1, 6]"),
        "{e}"
    );
}
