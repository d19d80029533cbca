//! A Bevy street scene rendered headless, with and without RealMaster, and the plugin's cost per
//! frame as a ratio to Bevy's own frame.
//!
//! cargo run --ignore-rust-version --example street -- [--frames 40] [--size 320x180]
//!     [--prompt "heavy rain at dusk"] [--strength 1] [--mode realtime|cinematic]
//!     [--model ../../models/realmaster-student] [--model-size 256x144] [--ep auto]
//!     [--out ../../out/bevy]
//!
//! Needs a Vulkan adapter (lavapipe from mesa-vulkan-drivers where there is no GPU) and ONNX
//! Runtime (`make setup`; REALMASTER_ORT_LIB names it).

use std::path::PathBuf;
use std::time::Instant;

use bevy::prelude::*;
use realmaster_bevy::demo::{camera_stats, finish, headless_app, save_frame, step};
use realmaster_bevy::{Mode, RealMaster, RealMasterPlugin};

struct Args {
    frames: u32,
    size: UVec2,
    prompt: String,
    strength: f32,
    mode: Mode,
    model: PathBuf,
    ep: String,
    model_size: (u32, u32),
    out: PathBuf,
}

fn size_arg(flag: &str, v: &str) -> Result<(u32, u32), String> {
    let (w, h) = v
        .split_once('x')
        .ok_or(format!("{flag} {v}: write WIDTHxHEIGHT, e.g. 320x180"))?;
    Ok((
        w.parse().map_err(|e| format!("{flag} width: {e}"))?,
        h.parse().map_err(|e| format!("{flag} height: {e}"))?,
    ))
}

fn parse() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut a = Args {
        frames: 40,
        size: UVec2::new(320, 180),
        prompt: "clear".into(),
        strength: 1.0,
        mode: Mode::Realtime,
        model: root.join("models/realmaster-student"),
        ep: "auto".into(),
        model_size: (256, 144),
        out: root.join("out/bevy"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--frames" => a.frames = value()?.parse().map_err(|e| format!("--frames: {e}"))?,
            "--size" => {
                let (w, h) = size_arg("--size", &value()?)?;
                a.size = UVec2::new(w, h);
            }
            "--model-size" => a.model_size = size_arg("--model-size", &value()?)?,
            "--prompt" => a.prompt = value()?,
            "--strength" => {
                a.strength = value()?.parse().map_err(|e| format!("--strength: {e}"))?
            }
            "--mode" => {
                a.mode = match value()?.as_str() {
                    "realtime" => Mode::Realtime,
                    "cinematic" => Mode::Cinematic,
                    m => return Err(format!("--mode {m}: use realtime or cinematic")),
                }
            }
            "--model" => a.model = value()?.into(),
            "--ep" => a.ep = value()?,
            "--out" => a.out = value()?.into(),
            f => {
                return Err(format!(
                    "unknown flag {f} (see the comment at the top of examples/street.rs)"
                ))
            }
        }
    }
    if a.frames < 12 {
        return Err("--frames: at least 12 (the first 10 warm Bevy's pipelines up)".into());
    }
    Ok(a)
}

/// Render `frames` frames; the mean wall time of an update over the frames after warm-up.
fn run(app: &mut App, frames: u32, last_png: PathBuf) -> f64 {
    let _ = std::fs::remove_file(&last_png);
    finish(app);
    let warm = 10;
    let mut total = 0.0;
    for i in 0..frames {
        if i == frames - 1 {
            save_frame(app, &last_png);
        }
        let t = Instant::now();
        step(app);
        if i >= warm {
            total += t.elapsed().as_secs_f64() * 1e3;
        }
    }
    // The screenshot is read back asynchronously and written within a few updates.
    for _ in 0..20 {
        if last_png.exists() {
            break;
        }
        step(app);
    }
    total / f64::from(frames - warm)
}

fn main() {
    env_logger_init();
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("error: cannot create {}: {e}", a.out.display());
        std::process::exit(1);
    }
    let bevy_png = a.out.join("bevy.png");
    let rm_png = a.out.join("realmaster.png");
    let mut plain = headless_app(a.size, None);
    let bevy_ms = run(&mut plain, a.frames, bevy_png.clone());
    drop(plain);

    let plugin = RealMasterPlugin {
        execution_provider: a.ep.clone(),
        model_size: Some(a.model_size),
        ..RealMasterPlugin::new(&a.model)
    };
    let settings = RealMaster {
        prompt: a.prompt.clone(),
        strength: a.strength,
        mode: a.mode,
        ..Default::default()
    };
    let mut app = headless_app(a.size, Some((plugin, settings)));
    let with_ms = run(&mut app, a.frames, rm_png.clone());
    let stats = camera_stats(&mut app);
    let pass_ms = stats.total_cpu_ms / stats.frames.max(1) as f64;
    println!(
        "{}x{} {:?} prompt {:?}: {} frames, {} enhanced, {} failed, EP {}, health {:?}",
        a.size.x,
        a.size.y,
        a.mode,
        a.prompt,
        stats.frames,
        stats.enhanced,
        stats.failed,
        stats.execution_provider,
        stats.health
    );
    println!(
        "Bevy's frame {bevy_ms:.2} ms; with RealMaster {with_ms:.2} ms: cost {:.2} ms per frame = {:.2}x Bevy's frame (the plugin's render system alone: {pass_ms:.2} ms)",
        with_ms - bevy_ms,
        (with_ms - bevy_ms) / bevy_ms
    );
    println!(
        "bytes between CPU and GPU per frame: {} (model tensors; the frame's planes at float precision would be {})",
        stats.max_transfer_bytes,
        u64::from(a.size.x * a.size.y) * (16 + 4 + 16 + 16)
    );
    println!("pictures: {} and {}", bevy_png.display(), rm_png.display());
}

fn env_logger_init() {
    // Bevy's LogPlugin is off in the headless app (tests run several apps per process); errors
    // still reach stderr through `log`.
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn || m.target().starts_with("realmaster")
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let _ = log::set_logger(&LOGGER).map(|_| log::set_max_level(log::LevelFilter::Info));
}
