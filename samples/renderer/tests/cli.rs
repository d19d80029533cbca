//! The `realmaster-samples` command line: bad arguments and folders that are not ours exit with
//! code 2 and a message that names the fix, before anything is rendered or removed.

mod common;

use common::Scratch;
use std::path::Path;
use std::process::{Command, Output};

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_realmaster-samples"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `args`, expects exit code 2 and every one of `needles` in stderr.
fn rejects<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], needles: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} should exit 2; stderr: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: stderr lacks {n:?}: {err}");
    }
    // Argument errors come before the GPU is opened.
    assert!(
        !err.contains("GPU:"),
        "{args:?} opened the GPU before rejecting: {err}"
    );
}

/// `render` with tiny defaults; `extra` flags replace a default of the same name (clap refuses a
/// flag given twice), a bare flag such as `--force` is appended.
fn render_args(out: &str, extra: &[&str]) -> Vec<String> {
    let mut pairs: Vec<(String, Option<String>)> = [
        ("--scene", "city"),
        ("--frames", "2"),
        ("--width", "64"),
        ("--height", "36"),
        ("--weathers", "clear"),
        ("--out", out),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), Some(v.to_string())))
    .collect();
    let mut i = 0;
    while i < extra.len() {
        let flag = extra[i].to_string();
        let value = extra
            .get(i + 1)
            .filter(|v| !v.starts_with("--"))
            .map(|v| v.to_string());
        i += if value.is_some() { 2 } else { 1 };
        match pairs.iter_mut().find(|(k, _)| *k == flag) {
            Some(p) => p.1 = value,
            None => pairs.push((flag, value)),
        }
    }
    let mut v = vec!["render".to_string()];
    for (k, val) in pairs {
        v.push(k);
        v.extend(val);
    }
    v
}

#[test]
fn bad_render_arguments_exit_2_naming_the_fix() {
    let s = Scratch::new("cli-args");
    let out = s.join("never");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &[&str]); 10] = [
        (
            &["--scene", "moon"],
            &["unknown scene 'moon'", "choose city or landscape"],
        ),
        (
            &["--camera", "zoom"],
            &["unknown camera 'zoom'", "pan, dolly, turn, cut, orbit"],
        ),
        (
            &["--weathers", "clear,hail"],
            &[
                "unknown weather 'hail'",
                "clear, rain, fog, snow, night, golden_hour",
            ],
        ),
        (
            &["--weathers", "fog,fog"],
            &["listed twice", "list each weather once"],
        ),
        (
            &["--variant", "alpine"],
            &["unknown city variant 'alpine'", "street, avenue, downtown"],
        ),
        (
            &["--width", "63"],
            &["width 63 is odd", "pass an even width"],
        ),
        (
            &["--height", "0"],
            &["height 0 is out of range", "between 16 and 2048"],
        ),
        (&["--frames", "0"], &["--frames 0", "pass 1 to"]),
        (&["--fps", "0"], &["--fps 0", "(0, 240]"]),
        (&["--frames", "many"], &["invalid value 'many'"]),
    ];
    for (extra, needles) in cases {
        rejects(&render_args(o, extra), needles);
    }
    rejects(
        &[
            "render", "--scene", "city", "--camera", "cut", "--frames", "1", "--out", o,
        ],
        &["at least 2 frames", "--frames 2"],
    );
    rejects(&["render", "--scene", "city"], &["--out"]);
    assert!(!out.exists(), "a rejected render created its output folder");
}

#[test]
fn foreign_output_folders_are_left_alone() {
    let s = Scratch::new("cli-folders");
    // A non-empty folder that is not a sequence: refused without --force, untouched.
    let foreign = s.join("notes");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("todo.txt"), "keep me").unwrap();
    rejects(
        &render_args(foreign.to_str().unwrap(), &[]),
        &[
            "exists and is not empty",
            "pass --force",
            "choose another folder",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("todo.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // A file where the folder should go.
    let file = s.join("file.txt");
    std::fs::write(&file, "x").unwrap();
    rejects(
        &render_args(file.to_str().unwrap(), &["--force"]),
        &["is not a folder", "pass a folder path"],
    );

    // bundled: a sample folder that is not a sequence blocks it before anything renders.
    let samples = s.join("samples");
    std::fs::create_dir_all(samples.join("city_pan")).unwrap();
    std::fs::write(samples.join("city_pan/mine.txt"), "x").unwrap();
    rejects(
        &["bundled", "--out", samples.to_str().unwrap()],
        &["city_pan", "pass --force"],
    );
    assert!(!samples.join("preview.png").exists() && !samples.join("landscape_dolly").exists());

    // training: a non-empty folder, an empty set, a bad size.
    rejects(
        &["training", "--out", foreign.to_str().unwrap()],
        &["exists and is not empty", "pass --force"],
    );
    let data = s.join("data");
    rejects(
        &["training", "--out", data.to_str().unwrap(), "--clips", "0"],
        &["--clips 0", "pass --clips 1 or more"],
    );
    rejects(
        &[
            "training",
            "--out",
            data.to_str().unwrap(),
            "--width",
            "100",
            "--height",
            "57",
        ],
        &["height 57 is odd"],
    );
    assert!(!data.exists() || std::fs::read_dir(&data).unwrap().next().is_none());
}

#[test]
fn render_writes_a_sequence_and_force_replaces_only_its_parts() {
    let s = Scratch::new("cli-render");
    let out = s.join("clip");
    let o = out.to_str().unwrap();
    let ok = run(&render_args(
        o,
        &["--camera", "dolly", "--weathers", "rain,night"],
    ));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let seq = realmaster::sequence::Sequence::open(&out).unwrap();
    assert_eq!(
        (seq.frame_count(), seq.target_prompts()),
        (2, vec!["night", "rain"])
    );

    // Rendering into it again needs --force; with it, a stale target from the old render goes and
    // an unrelated file stays.
    rejects(&render_args(o, &[]), &["pass --force"]);
    std::fs::write(out.join("README.txt"), "mine").unwrap();
    let again = run(&render_args(o, &["--force", "--weathers", "clear"]));
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let seq = realmaster::sequence::Sequence::open(&out).unwrap();
    assert_eq!(seq.target_prompts(), vec!["clear"]);
    assert!(
        !Path::new(&out.join("targets/rain")).exists(),
        "old targets survived --force"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("README.txt")).unwrap(),
        "mine"
    );
}
