//! The flow-matching sampler on tiny hand-built graphs.

mod model_support;

use model_support::*;
use realmaster::model::{
    flow_sigmas, gaussian_noise, shift_sigma, ModelPackage, ModelSession, SessionOptions,
};

fn load(name: &str, seed: u64) -> ModelSession {
    let opts = SessionOptions {
        seed,
        deterministic: true,
        ..cpu()
    };
    ModelSession::load(&ModelPackage::open(pkg(name)).unwrap(), &opts).unwrap()
}

#[test]
fn shifted_schedule_numbers() {
    let m = ModelPackage::open(pkg("diffusion_ideal")).unwrap();
    let s = flow_sigmas(m.manifest().diffusion.as_ref().unwrap());
    // shift 3: s' = 3s / (1 + 2s)
    let want = [1.0, 2.25 / 2.5, 1.5 / 2.0, 0.75 / 1.5, 0.0];
    assert_eq!(s.len(), want.len());
    for (a, b) in s.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{s:?}");
    }
    let m = ModelPackage::open(pkg("diffusion_drift")).unwrap();
    let s = flow_sigmas(m.manifest().diffusion.as_ref().unwrap());
    // timesteps 1000, 600, 300 → 1, .6, .3; shift 2: 2s / (1 + s)
    let want = [1.0, 1.2 / 1.6, 0.6 / 1.3, 0.0];
    for (a, b) in s.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{s:?}");
    }
    assert_eq!(shift_sigma(0.5, 1.0), 0.5);
}

#[test]
fn noise_is_seeded_and_standard_normal() {
    let a = gaussian_noise(7, 20001);
    assert_eq!(a, gaussian_noise(7, 20001));
    assert_ne!(a, gaussian_noise(8, 20001));
    let mean = a.iter().map(|x| *x as f64).sum::<f64>() / a.len() as f64;
    let var = a.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "mean {mean} var {var}"
    );
}

#[test]
fn ideal_denoiser_lands_on_the_condition() {
    // v = (x - cond) / sigma: the last Euler step to sigma 0 reaches cond exactly, so the output
    // is decode(encode(frames)) = the current frame, whatever the noise.
    let mut s = load("diffusion_ideal", 3);
    assert_eq!(s.input_roles().len(), 2);
    let inp = Inputs::new(8, 8, 11);
    let out = s.run(&inp.all()).unwrap();
    let d = max_abs_diff(&out, inp.current());
    assert!(d < 1e-5, "differs by {d}");
}

#[test]
fn drift_denoiser_matches_the_reference_sampler() {
    // v = x - cond: x_N = cond + (x_0 - cond) · Π(1 + σ_{k+1} - σ_k), x_0 = noise · σ_0.
    let seed = 42;
    let mut s = load("diffusion_drift", seed);
    let inp = Inputs::new(4, 8, 12);
    let out = s.run(&inp.all()).unwrap();

    let m = ModelPackage::open(pkg("diffusion_drift")).unwrap();
    let sig = flow_sigmas(m.manifest().diffusion.as_ref().unwrap());
    let cond: Vec<f32> = inp.current().iter().map(|c| 2.0 * c - 1.0).collect();
    let mut x: Vec<f32> = gaussian_noise(seed, cond.len())
        .iter()
        .map(|z| z * sig[0])
        .collect();
    for k in 0..sig.len() - 1 {
        for (xi, ci) in x.iter_mut().zip(&cond) {
            *xi += (sig[k + 1] - sig[k]) * (*xi - ci);
        }
    }
    let want: Vec<f32> = x.iter().map(|l| (l + 1.0) * 0.5).collect();
    let d = max_abs_diff(&out, &want);
    assert!(d < 1e-5, "differs by {d}");
    // The noise matters here, so a different seed gives a different frame...
    let other = load("diffusion_drift", seed + 1).run(&inp.all()).unwrap();
    assert!(max_abs_diff(&out, &other) > 1e-3);
    // ...and the same seed the same bits, frame after frame.
    let again = s.run(&inp.all()).unwrap();
    assert!(out
        .iter()
        .zip(&again)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn diffusion_graph_mismatch_is_named() {
    // The manifest declares depth, which neither the encoder nor the denoiser takes.
    let dir = copy_pkg("diffusion_ideal");
    edit_manifest(&dir, |m| {
        m["inputs"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "depth", "role": "depth"}))
    });
    let err = ModelSession::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap_err();
    assert!(matches!(err, realmaster::Error::ModelMismatch { .. }));
    assert!(
        err.to_string()
            .contains("manifest inputs depth are taken by neither"),
        "{err}"
    );
    // The prompt is renamed in the manifest: the denoiser's "prompt" input is now undeclared.
    let dir = copy_pkg("diffusion_ideal");
    edit_manifest(&dir, |m| m["inputs"][1]["name"] = serde_json::json!("text"));
    let err = ModelSession::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap_err();
    assert!(
        err.to_string()
            .contains("graph input 'prompt' is not declared in the manifest"),
        "{err}"
    );
}

#[test]
fn last_frame_timings_cover_the_three_graphs() {
    let mut s = load("diffusion_ideal", 3);
    // Before any frame: a diffusion model reports zeros, not nothing.
    let t0 = s.last_diffusion_timings().expect("diffusion model");
    assert_eq!(t0, realmaster::model::DiffusionTimings::default());
    let inp = Inputs::new(8, 8, 11);
    s.run(&inp.all()).unwrap();
    let t = s.last_diffusion_timings().unwrap();
    // diffusion_ideal has 4 base sigmas: 4 denoiser steps per frame.
    assert_eq!(t.denoiser_steps, 4);
    assert!(
        t.vae_encoder_ms > 0.0 && t.denoiser_ms > 0.0 && t.vae_decoder_ms > 0.0,
        "{t:?}"
    );
    assert!((t.denoiser_step_ms() * 4.0 - t.denoiser_ms).abs() < 1e-9);
    // A student has no diffusion timings.
    let student =
        ModelSession::load(&ModelPackage::open(pkg("identity")).unwrap(), &cpu()).unwrap();
    assert!(student.last_diffusion_timings().is_none());
}
