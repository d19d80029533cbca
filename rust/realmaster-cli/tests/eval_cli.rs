//! `realmaster eval --json` on a bundled held-out clip: the report names the ridge it ran with, and
//! the ridge asked for is the one that ran (its scores differ from the default's).

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
