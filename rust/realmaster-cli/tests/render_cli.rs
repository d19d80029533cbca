//! `realmaster render` end to end on the bundled sample with the shipped model: realtime mode,
//! one render per output folder (--force, --resume), kill -9 and SIGTERM at random points followed
//! by --resume (0 torn and 0 differing frames vs an uninterrupted render).

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FRAMES: usize = 8;

fn scratch(name: &str) -> PathBuf {
    common::scratch("render-cli", name)
}

fn render_cmd(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_realmaster"));
    c.current_dir(repo())
        .arg("render")
        .arg("samples/city_pan")
        .arg("--out")
        .arg(out)
        .args([
            "--frames",
            &FRAMES.to_string(),
            "--ep",
            "cpu",
            "--no-video",
            "--prompt",
            "rain",
        ])
        .args(extra);
    c
}

fn run(out: &Path, extra: &[&str]) -> Output {
    render_cmd(out, extra).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn frame_bytes(out: &Path) -> Vec<Vec<u8>> {
    (0..FRAMES)
        .map(|i| std::fs::read(out.join("frames").join(format!("{i:04}.png"))).unwrap_or_default())
        .collect()
}

fn pngs(out: &Path) -> usize {
    std::fs::read_dir(out.join("frames"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn realtime_render_works_every_time() {
    for trial in 0..3 {
        let out = scratch(&format!("realtime-{trial}"));
        let o = run(&out, &["--mode", "realtime"]);
        let e = stderr(&o);
        assert!(o.status.success(), "trial {trial}: {e}");
        assert_eq!(pngs(&out), FRAMES, "trial {trial}");
        assert!(e.contains("enhanced") && e.contains("reprojected"), "{e}");
        // Distinct frames: each file is its own frame's output, not a repeat of the previous one.
        let f = frame_bytes(&out);
        assert!(
            f.windows(2).all(|w| w[0] != w[1]),
            "trial {trial}: duplicated frames"
        );
    }
}

#[test]
fn one_render_per_folder_kill_and_resume_is_bit_identical() {
    let reference = scratch("reference");
    let o = run(&reference, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = frame_bytes(&reference);
    assert!(want.iter().all(|f| !f.is_empty()));
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference.join("run.json")).unwrap())
            .unwrap();
    assert_eq!(rec["complete"], true);
    assert_eq!(rec["frames_done"], FRAMES);
    assert_eq!(rec["prompt"], "rain");
    assert_eq!(rec["model_sha256"].as_str().unwrap().len(), 64);

    // The folder holds a render: another one is refused, a different resume too; --force starts over.
    let o = run(&reference, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let o = render_cmd(&reference, &["--resume", "--strength", "0.5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("strength"), "{}", stderr(&o));
    assert_eq!(rec["upsample_eps"].as_f64().map(|v| v as f32), Some(1e-3));
    let o = render_cmd(&reference, &["--resume", "--upsample-eps", "1e-5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("upsample eps"), "{}", stderr(&o));
    assert_eq!(rec["temporal_alpha"].as_f64().map(|v| v as f32), Some(0.2));
    let o = render_cmd(&reference, &["--resume", "--temporal-alpha", "0.5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("temporal alpha"), "{}", stderr(&o));
    // A record written before the settings existed ran at their defaults: it resumes as before.
    let mut old = rec.clone();
    old.as_object_mut().unwrap().remove("upsample_eps");
    old.as_object_mut().unwrap().remove("temporal_alpha");
    std::fs::write(reference.join("run.json"), old.to_string()).unwrap();
    let o = run(&reference, &["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(frame_bytes(&reference), want);
    let forced = scratch("forced");
    std::fs::create_dir_all(forced.join("frames")).unwrap();
    for i in 0..12 {
        std::fs::write(
            forced.join("frames").join(format!("{i:04}.png")),
            b"old run",
        )
        .unwrap();
    }
    let o = run(&forced, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        pngs(&forced),
        FRAMES,
        "--force must remove the earlier run's frames"
    );
    assert_eq!(frame_bytes(&forced), want);

    // Kill at random points (kill -9 and SIGTERM), resume, compare.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        | 1;
    let mut rand = move |n: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed % n
    };
    let (mut torn, mut differing, mut trials) = (0, 0, 0);
    for trial in 0..4 {
        let out = scratch(&format!("killed-{trial}"));
        let after = 1 + rand(FRAMES as u32 - 2) as usize;
        let delay = rand(300);
        let term = trial % 2 == 1;
        let mut child = render_cmd(&out, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while pngs(&out) < after && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay as u64));
        if term {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
        } else {
            child.kill().unwrap();
        }
        let o = child.wait_with_output().unwrap();
        let had = pngs(&out);
        if term && had < FRAMES {
            assert_eq!(o.status.code(), Some(130), "SIGTERM: {}", stderr(&o));
            assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
        }
        // Nothing torn: every frame on disk is complete and equal to the reference.
        for (i, f) in frame_bytes(&out).iter().enumerate() {
            if !f.is_empty() && *f != want[i] {
                torn += 1;
            }
        }
        let o = run(&out, &["--resume"]);
        assert!(
            o.status.success(),
            "trial {trial}: resume failed: {}",
            stderr(&o)
        );
        let got = frame_bytes(&out);
        differing += got.iter().zip(&want).filter(|(a, b)| a != b).count();
        trials += 1;
        eprintln!(
            "trial {trial}: {} after {after} frames + {delay} ms; {had} frames on disk; resumed",
            if term { "SIGTERM" } else { "kill -9" }
        );
    }
    eprintln!("kill-and-resume: {trials} trials, {torn} torn, {differing} differing frames");
    assert_eq!((torn, differing), (0, 0));
}
