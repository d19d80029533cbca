//! The shipped student over a long camera path from this renderer (one the model never trained on):
//! a 200-frame orbit (over half a full loop) through a cinematic session. A game runs for hours,
//! so the output must not drift: its mean colour tracks the input's, its per-frame error to the target
//! does not trend upward, and it invents no ghost edges (doubled or smeared copies along the motion)
//! beyond the target's own new structure.
//!
//! The shipped student has no feedback of its own output (the first one did, and drifted on frames of
//! a renderer it never saw); this holds whatever student is shipped to the same bar.

mod common;

use common::{gpu, spec, Scratch};
use realmaster::metrics::{evaluate_sequence, WeatherScores};
use realmaster::sequence::Sequence;
use realmaster::{Mode, SessionConfig};
use realmaster_samples::camera::CameraPath;
use realmaster_samples::clip::write_clip;
use realmaster_samples::scene::SceneKind;
use realmaster_samples::weather::Weather;
use std::path::{Path, PathBuf};

const FRAMES: u32 = 200;

fn package() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/realmaster-student")
        .canonicalize()
        .expect("models/realmaster-student is part of the repository")
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn check(s: &WeatherScores) -> Vec<String> {
    let n = s.per_frame.len();
    let k = n / 6;
    // Output mean against the target's: the scene's own brightness changes along the path (and with
    // it how much a look darkens or brightens) cancel out; a feedback drift does not.
    let gap = |r: std::ops::Range<usize>| {
        mean(s.per_frame[r].iter().map(|f| f.mean_output - f.mean_target))
    };
    let (early, late) = (gap(0..k), gap(n - k..n));
    let psnr_early = mean(s.per_frame[..k].iter().map(|f| f.psnr));
    let psnr_late = mean(s.per_frame[n - k..].iter().map(|f| f.psnr));
    let base_early = mean(s.per_frame[..k].iter().map(|f| f.psnr_passthrough));
    let base_late = mean(s.per_frame[n - k..].iter().map(|f| f.psnr_passthrough));
    eprintln!(
        "{}: output-minus-target mean {early:+.4} (first {k} frames) -> {late:+.4} (last {k}); \
         PSNR {psnr_early:.2} -> {psnr_late:.2} dB (pass-through {base_early:.2} -> {base_late:.2}), \
         slope {:+.4} dB/frame; brightness slope {:+.6}/frame; ghost edges {:.3}, new edges {:.3} \
         (target {:.3})",
        s.weather,
        s.psnr_slope,
        s.brightness_drift_slope,
        s.ghost_edges,
        s.new_edges,
        s.new_edges_target
    );
    let mut bad = Vec::new();
    // The look may sit above or below the target; what it may not do is keep moving away from it.
    if (late - early).abs() > 0.02 {
        bad.push(format!(
            "{}: mean colour drifts away from the target's: {early:+.4} -> {late:+.4}",
            s.weather
        ));
    }
    // The error may follow the scene (the pass-through error changes too), but must not fall away
    // from it: compare the model's change with the pass-through's change over the same frames.
    if (psnr_late - psnr_early) < (base_late - base_early) - 1.0 {
        bad.push(format!(
            "{}: PSNR falls over the clip ({psnr_early:.2} -> {psnr_late:.2} dB) more than the \
             pass-through's ({base_early:.2} -> {base_late:.2})",
            s.weather
        ));
    }
    if s.ghost_edges > 0.05 + s.new_edges_target {
        bad.push(format!(
            "{}: {:.3} of the output's edges are in neither the input nor the target (target's own new \
             edges: {:.3})",
            s.weather, s.ghost_edges, s.new_edges_target
        ));
    }
    bad
}

#[test]
fn long_orbit_does_not_drift_or_ghost() {
    let dir = Scratch::new("drift");
    let weathers = [Weather::Clear, Weather::Fog];
    let mut s = spec(
        SceneKind::City,
        CameraPath::Orbit,
        FRAMES,
        160,
        96,
        5,
        &weathers,
    );
    s.variant = "downtown".into();
    let out = dir.join("orbit");
    write_clip(gpu(), &s, &out, &mut None, |_, _| {}).expect("render the orbit");
    let seq = Sequence::open(&out).expect("open the orbit");
    let cfg = SessionConfig {
        model_dir: Some(package()),
        execution_provider: "cpu".into(),
        mode: Mode::Cinematic,
        model_size: Some((160, 96)),
        ..Default::default()
    };
    let names: Vec<String> = weathers.iter().map(|w| w.name().to_string()).collect();
    let scores = evaluate_sequence(&cfg, &seq, &names).expect("evaluate the orbit");
    let bad: Vec<String> = scores.iter().flat_map(check).collect();
    assert!(bad.is_empty(), "{bad:#?}");
}
