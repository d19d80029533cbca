//! The committed samples under samples/: each opens as a sequence with the frames, targets and
//! cuts samples/README.md describes, and is what the current renderer draws for the spec in its
//! sequence.json (re-rendering one frame per sample reproduces the files). A failure here after a
//! renderer change means: run `make samples` and commit the result.

mod common;

use common::{f32s, gpu};
use realmaster::sequence::Sequence;
use realmaster_samples::camera::CameraPath;
use realmaster_samples::clip::{ClipRenderer, ClipSpec};
use realmaster_samples::export::sequence_light;
use realmaster_samples::scene::SceneKind;
use realmaster_samples::weather::Weather;
use std::path::PathBuf;

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (folder, frame count, targets kept, cuts).
const SAMPLES: [(&str, u32, &[&str], &[u32]); 4] = [
    ("city_pan", 24, &["clear", "rain"], &[]),
    ("landscape_dolly", 16, &["fog", "snow"], &[]),
    ("city_turn_cut", 24, &[], &[12]),
    (
        "heldout_downtown_orbit",
        8,
        &["clear", "fog", "golden_hour", "night", "rain", "snow"],
        &[],
    ),
];

#[test]
fn samples_open_with_the_documented_contents() {
    for (name, frames, targets, cuts) in SAMPLES {
        let seq =
            Sequence::open(samples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (seq.width(), seq.height(), seq.frame_count()),
            (256, 144, frames),
            "{name}"
        );
        assert_eq!(seq.target_prompts(), targets.to_vec(), "{name}");
        assert_eq!(seq.desc().cuts, cuts.to_vec(), "{name}");
        assert!(
            seq.has_depth() && seq.has_normals() && seq.has_motion(),
            "{name}"
        );
    }
    let preview = image::open(samples_dir().join("preview.png")).unwrap();
    // Four rows (one per sample) of sim + six weathers at 128x72 with 2-pixel gaps.
    assert_eq!(
        (preview.width(), preview.height()),
        (7 * 128 + 6 * 2, 4 * 72 + 3 * 2)
    );
}

/// Largest |a - b| over 8-bit images, and the share of channels that differ at all.
fn png_diff(a: &[u8], b: &[u8]) -> (u8, f32) {
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    let differ = a.iter().zip(b).filter(|(x, y)| x != y).count() as f32 / a.len() as f32;
    (max, differ)
}

#[test]
fn samples_are_what_the_renderer_draws_now() {
    let mut stale = Vec::new();
    for (name, ..) in SAMPLES {
        let seq = Sequence::open(samples_dir().join(name)).unwrap();
        let meta = &seq.desc().meta;
        let scene = SceneKind::parse(meta["scene"].as_str().unwrap()).unwrap();
        let camera = CameraPath::parse(meta["camera"].as_str().unwrap()).unwrap();
        let mut spec = ClipSpec::new(
            scene,
            camera,
            seq.frame_count(),
            seq.width(),
            seq.height(),
            meta["seed"].as_u64().unwrap(),
        );
        spec.variant = meta["variant"].as_str().unwrap().to_string();
        spec.fps = seq.fps() as f32;
        spec.weathers = seq
            .target_prompts()
            .iter()
            .map(|p| Weather::parse(p).unwrap())
            .collect();
        let mut clip = ClipRenderer::new(gpu(), spec.clone()).unwrap();
        // The light a model reads: the sim's sun and up in each frame's view space.
        let want = sequence_light(&spec, &clip.scene).unwrap();
        match &seq.desc().light {
            None => stale.push(format!("{name}: sequence.json has no light")),
            Some(got) => {
                let worst = got
                    .sun
                    .iter()
                    .chain(&got.up)
                    .zip(want.sun.iter().chain(&want.up))
                    .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                    .fold(0.0f32, f32::max);
                if worst > 1e-5 || got.sun.len() != want.sun.len() {
                    stale.push(format!("{name} light: differs by {worst}"));
                }
            }
        }
        // Frame 1: the camera has moved, so the motion plane is not trivially zero.
        let out = clip.frame(1).unwrap();
        let enc = clip.encode(&out, 1);
        let file = seq.load_frame(1).unwrap().frame;

        let (max, differ) = png_diff(&enc.sim_rgba8, &file.color);
        if max > 2 || differ > 0.01 {
            stale.push(format!(
                "{name} color: max diff {max}, {:.2}% differ",
                differ * 100.0
            ));
        }
        // The committed planes are rounded (depth to 2^-10 relative, normals to 1/1024, motion to
        // 1/32 px; see main.rs BUNDLED_QUANT): allow that rounding and a little more.
        // Tolerance per plane: relative + absolute.
        let planes = [
            ("depth", &out.depth, f32s(&file.depth), 1.0 / 1024.0, 1e-4),
            (
                "normals",
                &out.normals,
                f32s(&file.normals),
                0.0,
                1.0 / 1024.0 + 1e-4,
            ),
            (
                "motion",
                &out.motion,
                f32s(&file.motion),
                0.0,
                1.0 / 32.0 + 1e-3,
            ),
        ];
        for (plane, now, committed, rel, abs) in planes {
            let bad = now
                .iter()
                .zip(&committed)
                .filter(|(a, b)| (*a - *b).abs() > rel * a.abs() + abs)
                .count();
            if bad * 1000 > now.len() {
                stale.push(format!(
                    "{name} {plane}: {bad} of {} values differ beyond the rounding",
                    now.len()
                ));
            }
        }
        for (w, t) in spec.weathers.iter().zip(&enc.targets_rgba8) {
            let committed = image::open(
                seq.frame_path(realmaster::sequence::Channel::Target(w.name()), 1)
                    .unwrap(),
            )
            .unwrap()
            .to_rgba8()
            .into_raw();
            let (max, differ) = png_diff(t, &committed);
            if max > 2 || differ > 0.01 {
                stale.push(format!(
                    "{name} target {}: max diff {max}, {:.2}% differ",
                    w.name(),
                    differ * 100.0
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "samples/ no longer match the renderer; run `make samples`:\n{}",
        stale.join("\n")
    );
}
