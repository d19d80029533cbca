//! Sequence folder I/O: write → read round trips and the errors a broken folder must produce.

use realmaster::frame::{ColorFormat, FrameRef, PlaneRef};
use realmaster::sequence::{Channel, ColorEncoding, Sequence, SequenceSpec, SequenceWriter};
use realmaster::Error;
use std::path::{Path, PathBuf};

/// A fresh, empty scratch folder per test (no tempfile crate in the workspace).
struct Scratch(PathBuf);
impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("realmaster-seq-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const W: u32 = 5;
const H: u32 = 3;
const N: u32 = 3;

fn color(i: u32) -> Vec<u8> {
    (0..W * H)
        .flat_map(|p| {
            [
                (p * 13 + i * 40) as u8,
                (p * 7) as u8,
                (255 - p * 3) as u8,
                255,
            ]
        })
        .collect()
}
fn depth(i: u32) -> Vec<f32> {
    (0..W * H)
        .map(|p| 0.5 + p as f32 * 1.25 + i as f32 * 0.1)
        .collect()
}
fn normals(i: u32) -> Vec<f32> {
    (0..W * H)
        .flat_map(|p| {
            let a = p as f32 * 0.3 + i as f32;
            [a.cos() * 0.6, a.sin() * 0.6, 0.8]
        })
        .collect()
}
fn motion(i: u32) -> Vec<f32> {
    (0..W * H)
        .flat_map(|p| [p as f32 * -0.25 + i as f32, 1.0 / 3.0])
        .collect()
}
fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn spec_all() -> SequenceSpec {
    let mut meta = serde_json::Map::new();
    meta.insert("scene".into(), "synthetic".into());
    meta.insert("split".into(), "train".into());
    SequenceSpec {
        width: W,
        height: H,
        fps: 24.0,
        frame_count: N,
        color: ColorEncoding::PngSrgb,
        depth: true,
        normals: true,
        motion: true,
        targets: vec!["clear".into(), "golden_hour".into()],
        cuts: vec![2],
        meta,
    }
}

/// Write the full synthetic sequence through `write_frame` and the target writer.
fn write_all(dir: &Path) -> Sequence {
    let mut w = SequenceWriter::create(dir, spec_all()).unwrap();
    for i in 0..N {
        let (c, d, n, m) = (
            color(i),
            bytes(&depth(i)),
            bytes(&normals(i)),
            bytes(&motion(i)),
        );
        let mut f = FrameRef::color_only(W, H, ColorFormat::Rgba8Srgb, &c);
        f.depth = Some(PlaneRef::tight(&d, W, 4));
        f.normals = Some(PlaneRef::tight(&n, W, 12));
        f.motion = Some(PlaneRef::tight(&m, W, 8));
        w.write_frame(i, &f).unwrap();
        let t: Vec<u8> = color(i).iter().map(|v| v.wrapping_add(1)).collect();
        let t: Vec<u8> = t.chunks(4).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        w.write_target_rgba8("clear", i, &t).unwrap();
        w.write_target_rgba8("golden_hour", i, &color(i)).unwrap();
    }
    w.finish().unwrap()
}

fn rewrite_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("sequence.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn open_err(dir: &Path) -> String {
    let e = Sequence::open(dir).unwrap_err();
    assert!(
        matches!(e, Error::Sequence { .. }),
        "expected a sequence error, got {e:?}"
    );
    e.to_string()
}

#[test]
fn round_trip_all_channels() {
    let s = Scratch::new("roundtrip");
    write_all(s.path());
    let seq = Sequence::open(s.path()).unwrap();
    assert_eq!((seq.width(), seq.height(), seq.frame_count()), (W, H, N));
    assert!(seq.has_depth() && seq.has_normals() && seq.has_motion());
    assert_eq!(seq.target_prompts(), ["clear", "golden_hour"]);
    assert_eq!(seq.split(), Some("train"));
    assert!(
        s.path().join("color/0000.png").is_file()
            && s.path().join("targets/golden_hour/0002.png").is_file()
    );

    for i in 0..N {
        let f = seq.load_frame(i).unwrap();
        assert_eq!(f.index, i);
        let o = &f.frame;
        assert_eq!(
            (o.width, o.height, o.format),
            (W, H, ColorFormat::Rgba8Srgb)
        );
        assert_eq!(o.color, color(i), "color frame {i}");
        assert!(o.has_depth && o.has_normals && o.has_motion);
        // f32 EXR planes are lossless: bit-exact.
        assert_eq!(o.depth, bytes(&depth(i)), "depth frame {i}");
        assert_eq!(o.normals, bytes(&normals(i)), "normals frame {i}");
        assert_eq!(o.motion, bytes(&motion(i)), "motion frame {i}");
        assert_eq!(o.camera_cut, i == 2);
        o.as_frame_ref().validate().unwrap();

        let t = seq.load_target("golden_hour", i).unwrap();
        assert_eq!((t.width, t.height, t.channels), (W, H, 3));
        let c = color(i);
        for p in 0..(W * H) as usize {
            for ch in 0..3 {
                assert_eq!(t.data[p * 3 + ch], c[p * 4 + ch] as f32 / 255.0);
            }
        }
        let t = seq.load_target("clear", i).unwrap();
        assert_eq!(t.data[0], c[0].wrapping_add(1) as f32 / 255.0);
    }
    let json = std::fs::read_to_string(s.path().join("sequence.json")).unwrap();
    assert!(
        json.contains("\"pixels_to_previous\"")
            && json.contains("\"view_z\"")
            && json.contains("\"cuts\""),
        "{json}"
    );
}

#[test]
fn alpha_and_exr_color_round_trip() {
    let s = Scratch::new("exrcolor");
    let mut spec = SequenceSpec::color_only(W, H, 30.0, 1);
    spec.color = ColorEncoding::ExrLinear;
    let mut w = SequenceWriter::create(s.path(), spec).unwrap();
    let lin: Vec<f32> = (0..W * H)
        .flat_map(|p| [p as f32 * 0.5, 2.0, 0.001, 0.25])
        .collect();
    w.write_color_linear(0, &lin).unwrap();
    let seq = w.finish().unwrap();
    let f = seq.load_frame(0).unwrap().frame;
    assert_eq!(f.format, ColorFormat::Rgba32Float);
    assert_eq!(f.color, bytes(&lin));
    assert!(!f.has_depth && !f.has_normals && !f.has_motion);

    // PNG keeps a non-opaque alpha channel.
    let s2 = Scratch::new("alpha");
    let mut w = SequenceWriter::create(s2.path(), SequenceSpec::color_only(W, H, 24.0, 1)).unwrap();
    let mut c = color(0);
    c[3] = 7;
    w.write_color_rgba8(0, &c).unwrap();
    assert_eq!(w.finish().unwrap().load_frame(0).unwrap().frame.color, c);
}

#[test]
fn missing_frame_files_are_named_and_counted() {
    let s = Scratch::new("missing");
    write_all(s.path());
    std::fs::remove_file(s.path().join("depth/0001.exr")).unwrap();
    std::fs::remove_file(s.path().join("targets/clear/0002.png")).unwrap();
    let e = open_err(s.path());
    assert!(e.contains("depth/0001.exr"), "{e}");
    assert!(e.contains("2 of 18 frame files are missing"), "{e}");
    assert!(e.contains("fix:"), "{e}");
}

#[test]
fn missing_sequence_json_and_bad_json() {
    let s = Scratch::new("badjson");
    let e = open_err(s.path());
    assert!(e.contains("no sequence.json"), "{e}");
    std::fs::write(
        s.path().join("sequence.json"),
        "{ \"format\": \"realmaster-sequence\", ",
    )
    .unwrap();
    let e = open_err(s.path());
    assert!(e.contains("not valid sequence JSON"), "{e}");
    std::fs::write(
        s.path().join("sequence.json"),
        r#"{"format": "realmaster-sequence", "version": 1}"#,
    )
    .unwrap();
    let e = open_err(s.path());
    assert!(e.contains("missing field"), "{e}");
}

#[test]
fn wrong_format_version_and_conventions() {
    let s = Scratch::new("version");
    write_all(s.path());
    rewrite_json(s.path(), |v| v["version"] = 2.into());
    let e = open_err(s.path());
    assert!(e.contains("version 2 is not supported"), "{e}");

    rewrite_json(s.path(), |v| {
        v["version"] = 1.into();
        v["format"] = "something-else".into();
    });
    assert!(open_err(s.path()).contains("\"format\" is \"something-else\""));

    rewrite_json(s.path(), |v| {
        v["format"] = "realmaster-sequence".into();
        v["motion"]["convention"] = "pixels_to_next".into();
    });
    assert!(open_err(s.path()).contains("motion convention \"pixels_to_next\" is not supported"));

    rewrite_json(s.path(), |v| {
        v["motion"]["convention"] = "pixels_to_previous".into();
        v["depth"]["pattern"] = "../depth/{frame:04}.exr".into();
    });
    assert!(open_err(s.path()).contains("points outside the sequence folder"));

    rewrite_json(s.path(), |v| {
        v["depth"]["pattern"] = "depth/{frame:04}.exr".into();
        v["cuts"] = serde_json::json!([3]);
    });
    assert!(open_err(s.path()).contains("cut at frame 3 is beyond"));

    rewrite_json(s.path(), |v| v["cuts"] = serde_json::json!([1]));
    let seq = Sequence::open(s.path()).unwrap();
    assert!(seq.is_cut(1) && !seq.is_cut(2));
}

#[test]
fn zero_sizes_and_frame_count() {
    let s = Scratch::new("zero");
    write_all(s.path());
    rewrite_json(s.path(), |v| v["frame_count"] = 0.into());
    assert!(open_err(s.path()).contains("frame_count 0"));
    rewrite_json(s.path(), |v| {
        v["frame_count"] = 3.into();
        v["width"] = 0.into();
    });
    assert!(open_err(s.path()).contains("size 0x3"));
    // The writer refuses the same mistakes up front.
    let e = SequenceWriter::create(s.path().join("w"), SequenceSpec::color_only(4, 4, 24.0, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("frame_count 0"), "{e}");
}

#[test]
fn image_size_mismatch_is_an_error() {
    let s = Scratch::new("size");
    write_all(s.path());
    // Swap in a 4x3 color frame and a 5x2 depth frame.
    let other = Scratch::new("size-other");
    let mut w = SequenceWriter::create(
        other.path(),
        SequenceSpec {
            width: 4,
            height: 3,
            ..spec_all()
        },
    )
    .unwrap();
    w.write_color_rgba8(0, &[9u8; 4 * 3 * 4]).unwrap();
    std::fs::copy(
        other.path().join("color/0000.png"),
        s.path().join("color/0001.png"),
    )
    .unwrap();
    realmaster::sequence::write_exr_channels(
        &s.path().join("depth/0002.exr"),
        5,
        2,
        &["Z"],
        &[1.0; 10],
    )
    .unwrap();

    let seq = Sequence::open(s.path()).unwrap(); // files exist; sizes are checked on load
    seq.load_frame(0).unwrap();
    let e = seq.load_frame(1).unwrap_err().to_string();
    assert!(
        e.contains("color/0001.png") && e.contains("image is 4x3 but sequence.json says 5x3"),
        "{e}"
    );
    let e = seq.load_frame(2).unwrap_err().to_string();
    assert!(e.contains("depth/0002.exr") && e.contains("5x2"), "{e}");
}

#[test]
fn wrong_exr_channels_and_bad_requests() {
    let s = Scratch::new("channels");
    write_all(s.path());
    realmaster::sequence::write_exr_channels(
        &s.path().join("depth/0000.exr"),
        W,
        H,
        &["Y"],
        &[1.0; (W * H) as usize],
    )
    .unwrap();
    let seq = Sequence::open(s.path()).unwrap();
    let e = seq.load_frame(0).unwrap_err().to_string();
    assert!(
        e.contains("no channel \"Z\"") && e.contains("it has: Y"),
        "{e}"
    );
    let e = seq.load_frame(3).unwrap_err().to_string();
    assert!(
        e.contains("frame 3 requested but the sequence has 3 frames"),
        "{e}"
    );
    let e = seq.load_target("snow", 0).unwrap_err().to_string();
    assert!(
        e.contains("no target 'snow' channel") && e.contains("clear, golden_hour"),
        "{e}"
    );
    assert!(seq
        .frame_path(Channel::Motion, 1)
        .unwrap()
        .ends_with("motion/0001.exr"));
}

#[test]
fn writer_refuses_unwritten_frames_and_bad_input() {
    let s = Scratch::new("writer");
    let mut w = SequenceWriter::create(s.path(), spec_all()).unwrap();
    let e = w.write_depth(0, &[1.0; 3]).unwrap_err().to_string();
    assert!(e.contains("depth has 3 values"), "{e}");
    let e = w
        .write_target_rgba8("fog", 0, &color(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("without a target 'fog' channel"), "{e}");
    let e = w.write_color_rgba8(5, &color(0)).unwrap_err().to_string();
    assert!(e.contains("frame 5 is beyond"), "{e}");
    w.write_color_rgba8(0, &color(0)).unwrap();
    let e = w.finish().unwrap_err().to_string();
    assert!(
        e.contains("never written") && e.contains("color frame 1"),
        "{e}"
    );
    assert!(!s.path().join("sequence.json").exists());
    let bad = SequenceSpec {
        targets: vec!["../up".into()],
        ..spec_all()
    };
    assert!(SequenceWriter::create(s.path(), bad).is_err());
}

#[test]
fn light_per_frame_is_read_and_checked() {
    let s = Scratch::new("light");
    let seq = write_all(s.path());
    assert_eq!(seq.light(0), None, "a folder without light gives none");
    assert_eq!(seq.load_frame(0).unwrap().frame.light, None);
    let sun = |i: u32| [i as f32, 1.0, 1.0];
    rewrite_json(s.path(), |v| {
        v["light"] = serde_json::json!({
            "space": "view",
            "sun": (0..N).map(sun).collect::<Vec<_>>(),
            "up": (0..N).map(|_| [0.0, 2.0, 0.0]).collect::<Vec<_>>(),
        });
    });
    let seq = Sequence::open(s.path()).unwrap();
    for i in 0..N {
        let want = realmaster::SceneLight::new(sun(i), [0.0, 1.0, 0.0]).unwrap();
        assert_eq!(
            seq.load_frame(i).unwrap().frame.light,
            Some(want),
            "frame {i}"
        );
    }
    // One direction short, another space, a zero vector: each refused, naming the light.
    rewrite_json(s.path(), |v| {
        v["light"]["up"].as_array_mut().unwrap().pop();
    });
    let e = open_err(s.path());
    assert!(
        e.contains("light lists 3 sun and 2 up directions for 3 frames"),
        "{e}"
    );
    rewrite_json(s.path(), |v| {
        v["light"]["up"] = serde_json::json!([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    });
    let e = open_err(s.path());
    assert!(
        e.contains("light of frame 1") && e.contains("up direction"),
        "{e}"
    );
    rewrite_json(s.path(), |v| v["light"]["space"] = "world".into());
    let e = open_err(s.path());
    assert!(e.contains("light space \"world\""), "{e}");
}
