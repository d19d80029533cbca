//! `realmaster`: render sequences and videos through the runtime, inspect models, benchmark, diagnose.

mod bench;
mod doctor;
mod eval;
mod locate;
mod media;
mod render;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "realmaster",
    version,
    about = "RealMaster Live: photoreal frames from game renders, in real time"
)]
struct Cli {
    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that runs a model.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model package folder (default: the installed reference student model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Execution provider: auto, tensorrt, cuda, directml, coreml, cpu.
    #[arg(long, default_value = "auto")]
    pub ep: String,
    /// Fall back to CPU if the requested execution provider fails (reported, never silent).
    #[arg(long)]
    pub allow_fallback: bool,
    /// Path to libonnxruntime (else REALMASTER_ORT_LIB, ORT_DYLIB_PATH, beside the binary, .venv).
    #[arg(long)]
    pub ort_lib: Option<PathBuf>,
    /// Model input size WxH for dynamic-resolution models (default: the manifest's).
    #[arg(long, value_parser = parse_size)]
    pub model_size: Option<(u32, u32)>,
    /// Where the full-resolution passes run: auto (the GPU when the adapter is a hardware one,
    /// the CPU when the only adapter is a software rasteriser such as lavapipe, or none), gpu, cpu.
    #[arg(long, default_value = "auto", value_parser = parse_backend)]
    pub backend: realmaster::Backend,
}

/// How the model's look is composited (render, eval and bench).
#[derive(Args, Clone, Debug)]
pub struct LookArgs {
    /// The guided upsample's ridge, 1e-6..1: smaller follows the model's look into finer detail
    /// (less grain and fewer dark rims under night), larger keeps more of the engine's edges. A
    /// package with a ridge per prompt (manifest `upsample`) scales it per prompt: the default
    /// gives the package's own (the shipped student: rain 1e-2, snow 3e-3, others 1e-3).
    #[arg(long, default_value_t = realmaster::SessionConfig::default().upsample_eps)]
    pub upsample_eps: f32,
    /// The weight of each new frame's look in the temporal accumulation, 0.01..1: smaller is
    /// steadier (less flicker of the look) and slower to follow a change; 1 accumulates nothing.
    #[arg(long, default_value_t = realmaster::SessionConfig::default().temporal_alpha, value_parser = parse_temporal_alpha)]
    pub temporal_alpha: f32,
    /// Hold the model's output to its teacher's exposure rule (the package's manifest
    /// `exposure`; docs/formats.md): its brightness follows the engine frame's as the path-traced
    /// targets' did. Helps on renderers whose brightness the model misjudges; darkens frames the
    /// engine renders darker than its scene (docs/photoreal.md, stage 60).
    #[arg(long)]
    pub exposure_lock: bool,
}

pub fn parse_temporal_alpha(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number (e.g. 0.2)"))?;
    let range = realmaster::SessionConfig::TEMPORAL_ALPHA_RANGE;
    if !range.contains(&v) {
        return Err(format!(
            "{v} is outside {}..{} (the weight of each new frame in the accumulation; 1 = none)",
            range.start(),
            range.end()
        ));
    }
    Ok(v)
}

pub fn parse_backend(s: &str) -> Result<realmaster::Backend, String> {
    s.parse().map_err(|e: realmaster::Error| e.to_string())
}

pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{s}' is not WIDTHxHEIGHT (e.g. 1920x1080)"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in '{s}'"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in '{s}'"))?;
    if w == 0 || h == 0 {
        return Err(format!("'{s}' has a zero side"));
    }
    Ok((w, h))
}

#[derive(Subcommand)]
enum Command {
    /// Render a sequence folder (or a video file, with ffmpeg) through the model.
    Render(render::RenderArgs),
    /// Show the model's manifest, the execution providers this machine has and the one that would run.
    Info {
        #[command(flatten)]
        model: ModelArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per-stage timings and fps over N frames (median and p95).
    Bench(bench::BenchArgs),
    /// Score the model against a sequence's target frames (PSNR, SSIM, warping error, edge F-score).
    Eval(eval::EvalArgs),
    /// Check ONNX Runtime, the GPU adapter and the model files, and say how to fix each problem.
    Doctor {
        #[command(flatten)]
        model: ModelArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(format!(
        "realmaster={level},realmaster_cli={level},wgpu=error,naga=error"
    )))
    .format_timestamp(None)
    .init();
    let result = match cli.command {
        Command::Render(a) => render::run(a),
        Command::Info { model, json } => doctor::info(&model, json),
        Command::Bench(a) => bench::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Doctor { model } => doctor::doctor(&model),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
