//! What write_clip puts on disk: byte-identical for a given spec and seed (also when a renderer is
//! reused across clips), different for another seed, and a sequence folder that the core crate's
//! `Sequence` opens with the spec's size, frame count, targets and cuts.

mod common;

use common::{f32s, gpu, snapshot, spec, Scratch};
use realmaster::sequence::Sequence;
use realmaster_samples::camera::CameraPath;
use realmaster_samples::clip::{write_clip, ClipSpec};
use realmaster_samples::scene::SceneKind;
use realmaster_samples::weather::Weather;

fn assert_same_files(a: &std::path::Path, b: &std::path::Path) {
    let (sa, sb) = (snapshot(a), snapshot(b));
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "different file lists"
    );
    for (k, v) in &sa {
        assert!(
            v == &sb[k],
            "{k} differs between two renders of the same spec"
        );
    }
}

#[test]
fn same_spec_gives_identical_files_and_another_seed_differs() {
    let s = Scratch::new("determinism");
    let a = spec(
        SceneKind::City,
        CameraPath::Pan,
        3,
        64,
        36,
        7,
        &[Weather::Clear, Weather::Rain, Weather::Snow],
    );
    write_clip(gpu(), &a, &s.join("a"), &mut None, |_, _| {}).unwrap();

    // Another seed through a renderer that is then reused: nothing of that clip may leak into the next.
    let mut cache = None;
    let b = ClipSpec {
        seed: 8,
        ..a.clone()
    };
    write_clip(gpu(), &b, &s.join("b"), &mut cache, |_, _| {}).unwrap();
    write_clip(gpu(), &a, &s.join("a2"), &mut cache, |_, _| {}).unwrap();

    let files = snapshot(&s.join("a"));
    // sequence.json + 3 frames x (color, depth, normals, motion, 3 targets).
    assert_eq!(
        files.len(),
        1 + 3 * 7,
        "{:?}",
        files.keys().collect::<Vec<_>>()
    );
    assert_same_files(&s.join("a"), &s.join("a2"));

    let other = snapshot(&s.join("b"));
    for i in 0..3 {
        for part in ["color/{i}.png", "depth/{i}.exr", "targets/rain/{i}.png"] {
            let k = part.replace("{i}", &format!("{i:04}"));
            assert_ne!(
                files[&k], other[&k],
                "{k} is the same for seeds 7 and 8: the seed does not change the scene"
            );
        }
    }

    // Writing only some targets keeps every written target identical to a full render.
    let subset = ClipSpec {
        write_targets: Some(vec![Weather::Rain]),
        ..a.clone()
    };
    write_clip(gpu(), &subset, &s.join("subset"), &mut cache, |_, _| {}).unwrap();
    let sub = snapshot(&s.join("subset"));
    assert!(sub
        .keys()
        .all(|k| !k.starts_with("targets/clear") && !k.starts_with("targets/snow")));
    for (k, v) in sub.iter().filter(|(k, _)| k.as_str() != "sequence.json") {
        assert!(v == &files[k], "{k} changes when fewer targets are written");
    }
    assert_eq!(
        Sequence::open(s.join("subset")).unwrap().target_prompts(),
        vec!["rain"]
    );
}

#[test]
fn landscape_is_deterministic_too() {
    let s = Scratch::new("determinism-landscape");
    let a = spec(
        SceneKind::Landscape,
        CameraPath::Dolly,
        2,
        64,
        36,
        11,
        &[Weather::Fog],
    );
    write_clip(gpu(), &a, &s.join("a"), &mut None, |_, _| {}).unwrap();
    write_clip(gpu(), &a, &s.join("b"), &mut None, |_, _| {}).unwrap();
    assert_same_files(&s.join("a"), &s.join("b"));
}

#[test]
fn cut_clip_opens_as_a_sequence_matching_its_spec() {
    let s = Scratch::new("sequence-cut");
    let dir = s.join("clip");
    let mut sp = spec(
        SceneKind::City,
        CameraPath::Cut,
        4,
        64,
        36,
        3,
        &[Weather::Night, Weather::Clear],
    );
    sp.fps = 12.0;
    sp.split = Some("heldout".into());
    write_clip(gpu(), &sp, &dir, &mut None, |_, _| {}).unwrap();

    let seq = Sequence::open(&dir).unwrap();
    assert_eq!((seq.width(), seq.height(), seq.frame_count()), (64, 36, 4));
    assert_eq!(seq.fps(), 12.0);
    assert!(seq.has_depth() && seq.has_normals() && seq.has_motion());
    assert_eq!(seq.target_prompts(), vec!["clear", "night"]);
    assert_eq!(
        seq.desc().cuts,
        vec![2],
        "the cut camera starts its second shot at frames / 2"
    );
    assert_eq!(seq.split(), Some("heldout"));
    let meta = &seq.desc().meta;
    assert_eq!(meta["scene"], "city");
    assert_eq!(meta["variant"], "street");
    assert_eq!(meta["camera"], "cut");
    assert_eq!(meta["seed"], 3);

    for i in 0..4 {
        let f = seq.load_frame(i).unwrap().frame;
        assert_eq!(f.camera_cut, i == 2, "frame {i}");
        assert_eq!(f.color.len(), 64 * 36 * 4);
        let motion = f32s(&f.motion);
        assert_eq!(motion.len(), 64 * 36 * 2);
        let peak = motion.iter().fold(0f32, |m, v| m.max(v.abs()));
        if i == 0 || i == 2 {
            assert_eq!(peak, 0.0, "motion must be zero at a shot start (frame {i})");
        } else {
            assert!(
                peak > 0.1,
                "frame {i} of a moving camera has no motion (peak {peak})"
            );
        }
        for p in ["clear", "night"] {
            let t = seq.load_target(p, i).unwrap();
            assert_eq!((t.width, t.height, t.channels), (64, 36, 3));
        }
    }

    // A folder with a frame file missing is rejected, naming the file and the fix.
    std::fs::remove_file(dir.join("motion/0003.exr")).unwrap();
    let e = Sequence::open(&dir).unwrap_err().to_string();
    assert!(
        e.contains("missing") && e.contains("0003.exr") && e.contains("re-render"),
        "{e}"
    );
}
