//! `realmaster eval --json` on a bundled held-out clip: the report names the ridge, the temporal
//! weight and the exposure it ran with, and the values asked for are the ones that ran (their scores
//! differ from the defaults'); a temporal weight or exposure outside its range is refused.

mod common;

use common::repo;
use std::process::Command;

fn eval_json(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_realmaster"))
        .current_dir(repo())
        .args([
            "eval",
            "samples/heldout_pathtrace_harbor_loop",
            "--weathers",
            "night",
            "--ep",
            "cpu",
            "--json",
        ])
        .args(extra)
        .output()
        .expect("realmaster runs");
    assert!(
        out.status.success(),
        "eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("eval --json prints JSON")
}

#[test]
fn the_report_names_the_ridge_that_ran() {
    let default = eval_json(&[]);
    let fine = eval_json(&["--upsample-eps", "1e-5"]);
    let eps = |d: &serde_json::Value| d["upsample_eps"].as_f64().map(|v| v as f32);
    assert_eq!(eps(&default), Some(1e-3), "the runtime's default ridge");
    assert_eq!(eps(&fine), Some(1e-5));
    let psnr = |d: &serde_json::Value| d["weathers"][0]["psnr"].as_f64().expect("psnr");
    assert_ne!(
        psnr(&default),
        psnr(&fine),
        "a different ridge gives a different frame"
    );
}

#[test]
fn the_report_names_the_temporal_weight_that_ran() {
    let default = eval_json(&[]);
    let none = eval_json(&["--temporal-alpha", "1"]);
    let alpha = |d: &serde_json::Value| d["temporal_alpha"].as_f64().map(|v| v as f32);
    assert_eq!(alpha(&default), Some(0.2), "the session's default weight");
    assert_eq!(alpha(&none), Some(1.0));
    let warp = |d: &serde_json::Value| d["weathers"][0]["warp_error"].as_f64().expect("warp");
    assert_ne!(
        warp(&default),
        warp(&none),
        "no accumulation gives different frames after the first"
    );
}

/// `realmaster eval` on the clip with `flag value`: it must exit 2; returns what it printed.
fn refused(flag: &str, value: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_realmaster"))
        .current_dir(repo())
        .args(["eval", "samples/heldout_pathtrace_harbor_loop"])
        .args([flag, value])
        .output()
        .expect("realmaster runs");
    assert_eq!(out.status.code(), Some(2), "{flag} {value}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_temporal_weight_outside_its_range_is_refused_with_the_range() {
    for bad in ["0", "1.5", "nan"] {
        let err = refused("--temporal-alpha", bad);
        assert!(
            err.contains("0.01..1") || err.contains("not a number"),
            "--temporal-alpha {bad}: {err}"
        );
    }
}

#[test]
fn an_exposure_darkens_the_engine_frames_and_the_targets_alike() {
    let default = eval_json(&[]);
    let dark = eval_json(&["--exposure", "-3"]);
    let ev = |d: &serde_json::Value| d["exposure_ev"].as_f64();
    assert_eq!(ev(&default), Some(0.0));
    assert_eq!(ev(&dark), Some(-3.0));
    let frame0 = |d: &serde_json::Value, k: &str| {
        d["weathers"][0]["per_frame"][0][k]
            .as_f64()
            .expect("per-frame mean")
    };
    // -3 stops is 1/8 of the linear light: in sRGB a mid grey drops to about half, so both means
    // must fall well below their undarkened values, by a similar factor.
    for k in ["mean_input", "mean_target"] {
        let ratio = frame0(&dark, k) / frame0(&default, k);
        assert!((0.25..0.7).contains(&ratio), "{k}: ratio {ratio}");
    }
    let pass = |d: &serde_json::Value| d["weathers"][0]["psnr_passthrough"].as_f64().expect("psnr");
    assert_ne!(
        pass(&default),
        pass(&dark),
        "the pass-through is scored on the darkened pair"
    );
}

#[test]
fn an_exposure_outside_its_range_is_refused_with_the_range() {
    for bad in ["11", "-20", "nan"] {
        let err = refused("--exposure", bad);
        assert!(
            err.contains("between -10 and 10"),
            "--exposure {bad}: {err}"
        );
    }
}
