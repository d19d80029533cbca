//! `realmaster render clip.mp4`: video is decoded as it is rendered (nothing in the temp folder),
//! frames come out in order, Ctrl-C/SIGTERM/kill -9 leave no temporary folder and no ffmpeg
//! behind, and a missing ffmpeg or a file that is not a video is a clear error.
//!
//! The videos are generated with ffmpeg (installed by setup). Without ffmpeg these tests print why
//! and pass: there is nothing to decode with.

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let d = common::scratch("video-cli", name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn have_ffmpeg(test: &str) -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "{test}: skipped, ffmpeg is not installed (setup installs it; CI runs this test)"
        );
    }
    ok
}

/// A 128x72 H.264 video (lossless luma) whose frame i shows i in binary: 16 stripes of 8
/// pixels, stripe k white when bit k is set.
fn make_video(path: &Path, frames: usize) {
    let fps = 24;
    assert_eq!(frames % fps, 0);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "color=c=black:s=128x72:r={fps}:d={},format=gray,geq=lum='255*mod(floor(N/pow(2,floor(X/8))),2)'",
            frames / fps
        ))
        .args(["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

fn stripe_index(png: &Path) -> usize {
    let img = image::open(png).unwrap().to_rgb8();
    (0..16)
        .filter(|k| img.get_pixel(k * 8 + 4, 36)[0] > 128)
        .map(|k| 1usize << k)
        .sum()
}

/// `realmaster render` with its own empty TMPDIR, so "nothing left in the temp folder" is exact.
fn render_cmd(video: &Path, out: &Path, tmp: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_realmaster"));
    c.current_dir(repo())
        .env("TMPDIR", tmp)
        .arg("render")
        .arg(video)
        .arg("--out")
        .arg(out)
        // Strength 0 shows the input as it came in: the frame's own index is readable.
        .args(["--ep", "cpu", "--strength", "0"])
        .args(extra);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What a render left in its private TMPDIR. ONNX Runtime itself keeps one small `.ses` file
/// there (a timestamp and an id, rewritten by every run): not ours, not per run, so not counted.
fn left_in_tmp(tmp: &Path) -> Vec<String> {
    entries(tmp).into_iter().filter(|n| n != ".ses").collect()
}

fn pngs(out: &Path) -> usize {
    entries(&out.join("frames"))
        .iter()
        .filter(|n| n.ends_with(".png"))
        .count()
}

/// Processes whose command line names `path` (Linux /proc; elsewhere none are seen).
fn processes_using(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) && !cmd.contains("realmaster render") {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn video_renders_in_order_and_leaves_nothing_in_tmp() {
    if !have_ffmpeg("video_renders_in_order_and_leaves_nothing_in_tmp") {
        return;
    }
    let dir = scratch("order");
    let (video, out, tmp) = (dir.join("clip.mp4"), dir.join("out"), dir.join("tmp"));
    std::fs::create_dir_all(&tmp).unwrap();
    make_video(&video, 24);
    let o = render_cmd(&video, &out, &tmp, &[]).output().unwrap();
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("colour only"), "no colour-only warning: {e}");
    assert!(e.contains("wrote 24 frames"), "{e}");
    assert_eq!(pngs(&out), 24);
    for i in 0..24 {
        let f = out.join("frames").join(format!("{i:04}.png"));
        assert_eq!(stripe_index(&f), i, "output {i} is another input frame");
    }
    assert!(out.join("out.mp4").is_file(), "no mp4: {e}");
    assert_eq!(left_in_tmp(&tmp), Vec::<String>::new(), "left in TMPDIR");
    assert_eq!(processes_using(&video), Vec::<String>::new());

    // --frames decodes only what it renders.
    let out5 = dir.join("out5");
    let o = render_cmd(&video, &out5, &tmp, &["--frames", "5", "--no-video"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(pngs(&out5), 5);
    assert_eq!(stripe_index(&out5.join("frames/0004.png")), 4);
    assert_eq!(left_in_tmp(&tmp), Vec::<String>::new(), "left in TMPDIR");
}

#[test]
fn signals_mid_video_render_stop_cleanly_and_leave_nothing_behind() {
    if !have_ffmpeg("signals_mid_video_render_stop_cleanly_and_leave_nothing_behind") {
        return;
    }
    let dir = scratch("signals");
    let video = dir.join("long.mp4");
    // Long enough that no render below finishes before its signal.
    make_video(&video, 480);
    for how in ["SIGTERM", "SIGINT to the process group (Ctrl-C)", "kill -9"] {
        let name: String = how.chars().filter(char::is_ascii_alphanumeric).collect();
        let (out, tmp) = (
            dir.join(format!("out-{name}")),
            dir.join(format!("tmp-{name}")),
        );
        std::fs::create_dir_all(&tmp).unwrap();
        let mut cmd = render_cmd(&video, &out, &tmp, &["--no-video"]);
        // Its own process group, as a shell gives a foreground job, so a group signal is Ctrl-C.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while pngs(&out) < 3 && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(pngs(&out) >= 3, "{how}: the render did not start");
        if cfg!(target_os = "linux") {
            assert!(
                !processes_using(&video).is_empty(),
                "{how}: ffmpeg not seen while decoding (the check below would prove nothing)"
            );
        }
        let pid = child.id().to_string();
        let group = format!("-{pid}");
        let args = match how {
            "SIGTERM" => ["-TERM", "--", &pid],
            "kill -9" => ["-KILL", "--", &pid],
            _ => ["-INT", "--", &group],
        };
        assert!(Command::new("kill").args(args).status().unwrap().success());
        let t = Instant::now();
        let o = child.wait_with_output().unwrap();
        let e = stderr(&o);
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{how}: took {:?} to stop",
            t.elapsed()
        );
        let done = pngs(&out);
        assert!(done < 480, "{how}: finished before the signal");
        if how != "kill -9" {
            assert_eq!(o.status.code(), Some(130), "{how}: {e}");
            assert!(
                e.contains(&format!("interrupted; frames 0..{done} are complete")),
                "{how}: {e}"
            );
            assert!(e.contains("--resume"), "{how}: {e}");
        }
        assert_eq!(
            left_in_tmp(&tmp),
            Vec::<String>::new(),
            "{how}: left in TMPDIR"
        );
        // ffmpeg ends with the render: at once when the render stops cleanly, and on the broken
        // pipe after kill -9.
        let t = Instant::now();
        while !processes_using(&video).is_empty() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            processes_using(&video),
            Vec::<String>::new(),
            "{how}: ffmpeg left running"
        );
        eprintln!("{how}: stopped after {done} frames, TMPDIR empty, no ffmpeg left");
    }
}

#[test]
fn missing_ffmpeg_and_files_that_are_not_video_are_clear_errors() {
    if !have_ffmpeg("missing_ffmpeg_and_files_that_are_not_video_are_clear_errors") {
        return;
    }
    let dir = scratch("errors");
    let (out, tmp) = (dir.join("out"), dir.join("tmp"));
    std::fs::create_dir_all(&tmp).unwrap();

    let text = dir.join("notes.mp4");
    std::fs::write(&text, "not a video").unwrap();
    let o = render_cmd(&text, &out, &tmp, &[]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("is not a video that ffmpeg can read"), "{e}");
    assert!(e.contains("fix:"), "{e}");

    let audio = dir.join("tone.m4a");
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:duration=0.5")
        .arg(&audio)
        .status()
        .unwrap();
    assert!(ok.success());
    let o = render_cmd(&audio, &out, &tmp, &[]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("has no video stream"), "{e}");

    let video = dir.join("clip.mp4");
    make_video(&video, 24);
    let no_path = dir.join("empty-path");
    std::fs::create_dir_all(&no_path).unwrap();
    let o = render_cmd(&video, &out, &tmp, &[])
        .env("PATH", &no_path)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("reading video needs ffmpeg"), "{e}");
    assert!(e.contains("apt-get install ffmpeg"), "{e}");
    assert_eq!(left_in_tmp(&tmp), Vec::<String>::new(), "left in TMPDIR");
    assert!(!out.join("frames").exists(), "an error wrote frames");
}
