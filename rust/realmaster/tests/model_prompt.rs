//! Prompt encoding: presets, the text encoder path (token states and pooled), errors, blending.

mod model_support;

use model_support::*;
use realmaster::model::{lerp_normalised, ModelPackage, PromptEncoder};
use realmaster::Error;

fn encoder(name: &str) -> PromptEncoder {
    PromptEncoder::load(&ModelPackage::open(pkg(name)).unwrap(), &cpu()).unwrap()
}

/// Mean of the embedding rows of `ids`, L2-normalised (what the text path must produce).
fn reference(ids: &[usize]) -> Vec<f32> {
    let mut sum = [0f64; DIM];
    for id in ids {
        for (s, x) in sum.iter_mut().zip(embedding_row(*id)) {
            *s += x as f64;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    sum.iter().map(|x| (x / norm) as f32).collect()
}

#[test]
fn presets_are_case_insensitive_and_empty_means_default() {
    let mut e = encoder("identity");
    let pkg_presets = ModelPackage::open(pkg("identity"))
        .unwrap()
        .presets()
        .clone();
    assert_eq!(e.encode("  RAIN ").unwrap(), pkg_presets["rain"]);
    assert_eq!(e.encode("").unwrap(), pkg_presets["clear"]);
    assert_eq!(e.encode("   ").unwrap(), pkg_presets["clear"]);
    assert!(!e.has_text_encoder());
    assert_eq!(e.dim(), DIM);
}

#[test]
fn free_text_without_text_encoder_lists_the_presets() {
    let mut e = encoder("identity");
    match e.encode("foggy harbour").unwrap_err() {
        Error::Prompt { problem, fix } => {
            assert!(
                problem.contains("'foggy harbour' is not a preset"),
                "{problem}"
            );
            assert!(fix.contains("clear, night, rain"), "{fix}");
        }
        other => panic!("expected Prompt, got {other}"),
    }
}

#[test]
fn text_encoder_token_states_are_mean_pooled_over_the_mask() {
    let mut e = encoder("prompt_tint");
    assert!(e.has_text_encoder());
    // [CLS] rain ##y city street at night ! [SEP]; the 7 [PAD]s must not count.
    let got = e.encode("Rainy city street at night!").unwrap();
    let want = reference(&[2, 12, 23, 7, 8, 9, 13, 28, 3]);
    let d = max_abs_diff(&got, &want);
    assert!(d < 1e-5, "differs by {d}: {got:?} vs {want:?}");
    // Accents are stripped: "Café" is the token "cafe" (19).
    let d = max_abs_diff(&e.encode("Café").unwrap(), &reference(&[2, 19, 3]));
    assert!(d < 1e-5);
    // A preset name still wins over the encoder.
    assert_eq!(
        e.encode("night").unwrap(),
        ModelPackage::open(pkg("prompt_tint")).unwrap().presets()["night"]
    );
}

#[test]
fn pooled_text_encoder_gives_the_same_embedding() {
    let mut a = encoder("prompt_tint");
    let mut b = encoder("prompt_pooled");
    for text in [
        "wet street at night",
        "sunny day in the city, photo",
        "snowy foggy streets",
    ] {
        let (x, y) = (a.encode(text).unwrap(), b.encode(text).unwrap());
        assert!(max_abs_diff(&x, &y) < 1e-5, "{text}");
        let norm: f32 = y.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}

#[test]
fn missing_generated_text_encoder_says_how_to_make_it() {
    let dir = copy_pkg("prompt_tint");
    std::fs::remove_file(dir.join("text_encoder.onnx")).unwrap();
    let mut e = PromptEncoder::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap();
    assert!(!e.has_text_encoder());
    assert!(e.encode("rain").is_ok());
    let err = e.encode("rainy street").unwrap_err();
    assert!(matches!(err, Error::Prompt { .. }));
    assert!(err.to_string().contains("make text-encoder"), "{err}");
}

#[test]
fn model_without_prompt_has_no_prompt_encoder() {
    let dir = copy_pkg("identity");
    edit_manifest(&dir, |m| {
        m["inputs"]
            .as_array_mut()
            .unwrap()
            .retain(|i| i["role"] != "prompt_embedding");
        m.as_object_mut().unwrap().remove("prompt");
    });
    let err = PromptEncoder::load(&ModelPackage::open(&dir).unwrap(), &cpu()).unwrap_err();
    assert!(
        matches!(err, Error::Prompt { .. }) && err.to_string().contains("takes no prompt"),
        "{err}"
    );
}

#[test]
fn lerp_normalised_blends_and_stays_unit_length() {
    let a = vec![1.0, 0.0, 0.0];
    let b = vec![0.0, 1.0, 0.0];
    assert_eq!(lerp_normalised(&a, &b, 0.0), a);
    assert_eq!(lerp_normalised(&a, &b, 1.0), b);
    let mid = lerp_normalised(&a, &b, 0.5);
    let s = std::f32::consts::FRAC_1_SQRT_2;
    assert!((mid[0] - s).abs() < 1e-6 && (mid[1] - s).abs() < 1e-6 && mid[2] == 0.0);
    assert_eq!(lerp_normalised(&a, &b, 7.0), b, "t is clamped");
    let neg: Vec<f32> = a.iter().map(|x| -x).collect();
    assert_eq!(
        lerp_normalised(&a, &neg, 0.5),
        neg,
        "zero blend falls back to an end"
    );
}
