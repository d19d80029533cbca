//! The exit status of `realmaster render` follows one rule wherever a bad frame sits in the
//! sequence (README, "exit status"): 1 when any frame was shown untouched because of an error (a
//! refused frame, a model fault), 0 otherwise. Bad G-buffer values are replaced per pixel and
//! counted, so a frame with NaN depth is enhanced: exit 0 in the middle and as the last frame. A
//! frame with NaN colour is refused (shown untouched): exit 1 in the middle and as the last frame.

mod common;

use common::repo;
use std::path::Path;
use std::process::{Command, Output};

use realmaster::sequence::{ColorEncoding, SequenceSpec, SequenceWriter};

const W: u32 = 128;
const H: u32 = 72;
const FRAMES: u32 = 4;

#[derive(Clone, Copy, Debug)]
enum Bad {
    NanDepth,
    NanColour,
}

/// An HDR sequence with depth, frame `at` carrying `bad`.
fn sequence(dir: &Path, bad: Bad, at: u32) {
    let _ = std::fs::remove_dir_all(dir);
    let spec = SequenceSpec {
        color: ColorEncoding::ExrLinear,
        depth: true,
        ..SequenceSpec::color_only(W, H, 24.0, FRAMES)
    };
    let mut w = SequenceWriter::create(dir, spec).unwrap();
    let n = (W * H) as usize;
    for i in 0..FRAMES {
        let mut color: Vec<f32> = (0..n)
            .flat_map(|p| {
                let (x, y) = (
                    (p as u32 % W) as f32 / W as f32,
                    (p as u32 / W) as f32 / H as f32,
                );
                [0.2 + 0.6 * x, 0.3 + 0.1 * i as f32, 0.2 + 0.6 * y, 1.0]
            })
            .collect();
        let mut depth: Vec<f32> = (0..n).map(|p| 5.0 + (p as u32 % W) as f32 * 0.05).collect();
        if i == at {
            match bad {
                Bad::NanDepth => depth.iter_mut().step_by(3).for_each(|d| *d = f32::NAN),
                Bad::NanColour => color[7] = f32::NAN,
            }
        }
        w.write_color_linear(i, &color).unwrap();
        w.write_depth(i, &depth).unwrap();
    }
    w.finish().unwrap();
}

fn render(name: &str, bad: Bad, at: u32) -> Output {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exit-status-{name}"));
    let seq = dir.join("seq");
    sequence(&seq, bad, at);
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_realmaster"))
        .current_dir(repo())
        .arg("render")
        .arg(&seq)
        .arg("--out")
        .arg(&out)
        .args(["--ep", "cpu", "--no-video"])
        .output()
        .unwrap();
    // Every frame is written either way: a bad frame never stops the render.
    for i in 0..FRAMES {
        assert!(
            out.join("frames").join(format!("{i:04}.png")).is_file(),
            "{name}: frame {i} missing: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn nan_depth_frame_mid_sequence_and_last_both_exit_0() {
    let middle = render("nan-depth-middle", Bad::NanDepth, 1);
    let last = render("nan-depth-last", Bad::NanDepth, FRAMES - 1);
    for (o, at) in [(&middle, 1), (&last, FRAMES - 1)] {
        let e = stderr(o);
        assert_eq!(o.status.code(), Some(0), "NaN depth at frame {at}: {e}");
        assert!(e.contains("4 enhanced"), "NaN depth at frame {at}: {e}");
        assert!(
            e.contains("1 with G-buffer values replaced"),
            "NaN depth at frame {at}: {e}"
        );
    }
    assert_eq!(middle.status.code(), last.status.code());
}

#[test]
fn refused_nan_colour_frame_mid_sequence_and_last_both_exit_1() {
    let middle = render("nan-colour-middle", Bad::NanColour, 1);
    let last = render("nan-colour-last", Bad::NanColour, FRAMES - 1);
    for (o, at) in [(&middle, 1), (&last, FRAMES - 1)] {
        let e = stderr(o);
        assert_eq!(o.status.code(), Some(1), "NaN colour at frame {at}: {e}");
        assert!(e.contains("1 failed"), "NaN colour at frame {at}: {e}");
        assert!(
            e.contains(&format!(
                "1 frame(s) were passed through untouched because of errors (0 model fault(s)); first at frame {at}"
            )),
            "NaN colour at frame {at}: {e}"
        );
    }
    assert_eq!(middle.status.code(), last.status.code());
}
