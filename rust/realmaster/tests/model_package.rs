//! Manifest and package checks: every bad case gives its specific error.

mod model_support;

use std::path::Path;

use model_support::*;
use realmaster::model::{sha256_file, InputRole, Manifest, ModelKind, ModelPackage, Resolution};
use realmaster::Error;
use serde_json::json;

fn manifest_problem(dir: &Path) -> String {
    match ModelPackage::open(dir).unwrap_err() {
        Error::Manifest { problem, .. } => problem,
        other => panic!("expected a Manifest error, got {other}"),
    }
}

fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let dir = copy_pkg("identity");
    edit_manifest(&dir, edit);
    manifest_problem(&dir)
}

#[test]
fn good_package_opens_with_normalised_presets() {
    let p = ModelPackage::open(pkg("identity")).unwrap();
    let m = p.manifest();
    assert_eq!(m.kind, ModelKind::Student);
    assert_eq!(m.window, 2);
    assert_eq!(
        m.resolution,
        Resolution::Dynamic {
            multiple_of: 4,
            default: [16, 16]
        }
    );
    assert_eq!(m.input_name(InputRole::PreviousOutput), Some("prev"));
    assert_eq!(m.rgb_output(), "rgb");
    assert_eq!(p.preset_names(), vec!["clear", "night", "rain"]);
    for v in p.presets().values() {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
    }
    // clear = [1, .8, .2, .1, 0, 0, 0, .5] / |.|
    let n = (1.0f32 + 0.64 + 0.04 + 0.01 + 0.25).sqrt();
    assert!((p.presets()["clear"][1] - 0.8 / n).abs() < 1e-6);
    assert!(p.missing_generated().is_empty());
}

#[test]
fn missing_folder_and_manifest_name_the_path_and_the_fix() {
    let err = ModelPackage::open("/nonexistent/realmaster-model").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Manifest { .. }));
    assert!(
        text.contains("/nonexistent/realmaster-model") && text.contains("does not exist"),
        "{text}"
    );
    assert!(
        text.contains("make demo") && text.contains("--model"),
        "{text}"
    );

    let dir = copy_pkg("identity");
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let text = ModelPackage::open(&dir).unwrap_err().to_string();
    assert!(
        text.contains("manifest.json") && text.contains("no manifest.json"),
        "{text}"
    );
}

#[test]
fn wrong_sha_is_an_integrity_error_naming_the_file() {
    match ModelPackage::open(pkg("bad/bad_sha")).unwrap_err() {
        Error::Integrity {
            path,
            expected,
            actual,
        } => {
            assert!(path.ends_with("model.onnx"), "{}", path.display());
            assert_ne!(expected, actual);
            assert_eq!(actual, sha256_file(&path).unwrap());
        }
        other => panic!("expected Integrity, got {other}"),
    }
}

#[test]
fn modified_file_is_an_integrity_error() {
    let dir = copy_pkg("identity");
    let mut text = std::fs::read_to_string(dir.join("presets.json")).unwrap();
    text.push(' ');
    std::fs::write(dir.join("presets.json"), text).unwrap();
    assert!(
        matches!(ModelPackage::open(&dir).unwrap_err(), Error::Integrity { path, .. } if path.ends_with("presets.json"))
    );
}

#[test]
fn listed_file_missing_is_named() {
    let dir = copy_pkg("identity");
    std::fs::remove_file(dir.join("model.onnx")).unwrap();
    let p = manifest_problem(&dir);
    assert!(
        p.contains("lists 'model.onnx' in files but") && p.contains("missing"),
        "{p}"
    );
}

#[test]
fn unknown_role_is_named() {
    let p = manifest_problem(&pkg("bad/unknown_role"));
    assert!(
        p.contains("unknown role 'albedo'") && p.contains("previous_output"),
        "{p}"
    );
}

/// A change to a valid manifest and the words the resulting error must contain.
type ManifestCase = (Box<dyn FnOnce(&mut serde_json::Value)>, &'static str);

#[test]
fn self_consistency_problems_are_specific() {
    let cases: Vec<ManifestCase> = vec![
        (Box::new(|m| m["window"] = json!(0)), "window is 0"),
        (
            Box::new(|m| {
                m["inputs"].as_array_mut().unwrap().remove(0);
            }),
            "missing frames input",
        ),
        (
            Box::new(|m| m["format"] = json!("onnx")),
            "format is 'onnx'",
        ),
        (
            Box::new(|m| m["version"] = json!(2)),
            "manifest version 2 is not supported",
        ),
        (
            Box::new(|m| {
                m["files"].as_object_mut().unwrap().remove("presets.json");
            }),
            "prompt.presets is 'presets.json' but that file is not listed in files",
        ),
        (
            Box::new(|m| m["graph"] = json!("other.onnx")),
            "graph is 'other.onnx' but that file is not listed",
        ),
        (
            Box::new(|m| m["inputs"][1]["role"] = json!("frames")),
            "role frames is given to more than one input",
        ),
        (
            Box::new(|m| m["inputs"][1]["name"] = json!("frames")),
            "input name 'frames' is used twice",
        ),
        (Box::new(|m| m["outputs"] = json!([])), "no outputs"),
        (
            Box::new(|m| m["outputs"][0]["role"] = json!("depth")),
            "unknown output role 'depth'",
        ),
        (
            Box::new(|m| {
                m["resolution"] = json!({"mode": "dynamic", "multiple_of": 8, "default": [12, 16]})
            }),
            "not a non-zero multiple",
        ),
        (
            Box::new(|m| m["resolution"] = json!({"mode": "fixed", "size": [0, 16]})),
            "zero side",
        ),
        (
            Box::new(|m| m["color"]["range"] = json!([1.0, 0.0])),
            "color.range",
        ),
        (Box::new(|m| m["depth_scale"] = json!(-1.0)), "depth_scale"),
        (Box::new(|m| m["prompt"] = json!(null)), "no prompt section"),
        (
            Box::new(|m| m["prompt"]["dim"] = json!(0)),
            "prompt.dim is 0",
        ),
        (
            Box::new(|m| m["prompt"]["default"] = json!("fog")),
            "prompt.default is 'fog' but presets.json has no such preset",
        ),
        (
            Box::new(|m| m["files"]["../x.onnx"] = json!("00".repeat(32))),
            "leaves the package folder",
        ),
        (
            Box::new(|m| m["files"]["model.onnx"] = json!("abc")),
            "not 64 hex digits",
        ),
        (
            Box::new(|m| m["kind"] = json!("diffusion")),
            "diffusion section is missing",
        ),
        (
            Box::new(|m| m["inputs"][0]["extra"] = json!(1)),
            "unknown field `extra`",
        ),
        (
            Box::new(|m| m["upsample"] = json!({"eps": {"rain": 2.0}})),
            "upsample.eps.rain is 2; a ridge must be in 1e-6..=1",
        ),
        (
            Box::new(|m| m["upsample"] = json!({"eps": {"rain": 1e-2}, "default_eps": 0.0})),
            "upsample.default_eps is 0",
        ),
        (
            Box::new(|m| m["upsample"] = json!({"eps": {"fog": 1e-2}})),
            "upsample.eps names 'fog' but presets.json has no such preset (presets: clear, night, rain)",
        ),
        (
            Box::new(|m| m["upsample"] = json!({"eps": {}, "ridge": 1})),
            "unknown field `ridge`",
        ),
        (
            Box::new(|m| m["upsample"] = json!({"eps": {}, "edge_ridge": 0.5})),
            "upsample.edge_ridge is 0.5; the edge ridge factor must be in 1..=1000",
        ),
    ];
    for (edit, want) in cases {
        let p = edited(edit);
        assert!(p.contains(want), "expected '{want}' in: {p}");
    }
}

#[test]
fn presets_dim_mismatch_is_named() {
    let dir = copy_pkg("identity");
    std::fs::write(
        dir.join("presets.json"),
        r#"{"dim": 4, "presets": {"clear": [1, 0, 0, 0]}}"#,
    )
    .unwrap();
    let sha = sha256_file(&dir.join("presets.json")).unwrap();
    edit_manifest(&dir, |m| m["files"]["presets.json"] = json!(sha));
    let p = manifest_problem(&dir);
    assert!(
        p.contains("dim mismatch: presets have dim 4 but the manifest's prompt.dim is 8"),
        "{p}"
    );

    std::fs::write(dir.join("presets.json"), r#"{"dim": 8, "presets": {"clear": [1, 0, 0, 0, 0, 0, 0, 0], "zero": [0, 0, 0, 0, 0, 0, 0, 0]}}"#).unwrap();
    let sha = sha256_file(&dir.join("presets.json")).unwrap();
    edit_manifest(&dir, |m| m["files"]["presets.json"] = json!(sha));
    assert!(manifest_problem(&dir).contains("preset 'zero' is all zeros"));
}

#[test]
fn generated_files_are_checked_against_the_lock() {
    // Tampered after generation.
    match ModelPackage::open(pkg("bad/generated_tampered")).unwrap_err() {
        Error::Integrity { path, .. } => assert!(path.ends_with("vocab.txt")),
        other => panic!("expected Integrity, got {other}"),
    }
    // Not generated yet: the package opens and reports what is missing.
    let dir = copy_pkg("prompt_tint");
    std::fs::remove_file(dir.join("text_encoder.onnx")).unwrap();
    let p = ModelPackage::open(&dir).unwrap();
    assert_eq!(p.missing_generated(), ["text_encoder.onnx".to_string()]);
    assert_eq!(
        p.generator_for("text_encoder.onnx"),
        Some("make text-encoder")
    );
    // Present but the lock is gone.
    let dir = copy_pkg("prompt_tint");
    std::fs::remove_file(dir.join("generated.lock.json")).unwrap();
    let p = manifest_problem(&dir);
    assert!(p.contains("lock file is missing"), "{p}");
    // Text encoder listed nowhere.
    let dir = copy_pkg("prompt_tint");
    edit_manifest(&dir, |m| {
        m["generated"] = json!({"vocab.txt": "make text-encoder"})
    });
    let p = manifest_problem(&dir);
    assert!(p.contains("prompt.text_encoder.graph is 'text_encoder.onnx' but that file is not listed in files or generated"), "{p}");
}

#[test]
fn diffusion_schedule_checks() {
    let base = std::fs::read_to_string(pkg("diffusion_ideal").join("manifest.json")).unwrap();
    let m = Manifest::parse(&base, Path::new("m.json")).unwrap();
    assert_eq!(m.kind, ModelKind::Diffusion);
    let cases = [
        (json!({"sigmas": [0.5, 0.75]}), "strictly decreasing"),
        (json!({"sigmas": [1.5, 0.5]}), "values must be in (0, 1]"),
        (json!({"sigmas": []}), "is empty"),
        (
            json!({"sigmas": [1.0], "timesteps": [1000.0]}),
            "both sigmas and timesteps",
        ),
        (json!({"sigmas": null}), "neither sigmas nor timesteps"),
        (json!({"shift": 0.0}), "diffusion.shift is 0"),
    ];
    for (patch, want) in cases {
        let mut v: serde_json::Value = serde_json::from_str(&base).unwrap();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v["diffusion"].as_object_mut().unwrap().remove(k);
            } else {
                v["diffusion"][k] = val.clone();
            }
        }
        let err = Manifest::parse(&v.to_string(), Path::new("m.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "expected '{want}' in: {err}");
    }
    // A trailing zero is fine.
    let mut v: serde_json::Value = serde_json::from_str(&base).unwrap();
    v["diffusion"]["sigmas"] = json!([1.0, 0.5, 0.0]);
    assert!(Manifest::parse(&v.to_string(), Path::new("m.json")).is_ok());
}

#[test]
fn generated_may_be_a_list_and_unknown_top_level_keys_are_tolerated() {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(pkg("prompt_tint").join("manifest.json")).unwrap(),
    )
    .unwrap();
    v["generated"] = json!(["text_encoder.onnx", "vocab.txt"]);
    v["model_card"] = json!("README.md");
    let m = Manifest::parse(&v.to_string(), Path::new("m.json")).unwrap();
    assert_eq!(m.generated.len(), 2);
    assert!(m.unknown.contains_key("model_card"));
}
