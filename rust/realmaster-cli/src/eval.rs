//! `realmaster eval`: score a model through the runtime against a sequence's paired targets.

use crate::render::{fit_model_size, session_config};
use crate::{LookArgs, ModelArgs};
use anyhow::{bail, Result};
use clap::Args;
use realmaster::metrics::{evaluate_sequence_exposed, Exposure, WeatherScores};
use realmaster::sequence::Sequence;
use realmaster::{Mode, OwnedFrame};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct EvalArgs {
    /// Sequence folder with target frames (sequence.json "targets").
    pub sequence: PathBuf,
    /// Comma-separated weathers to score (default: every target the sequence has).
    #[arg(long)]
    pub weathers: Option<String>,
    #[command(flatten)]
    pub look: LookArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Re-expose the engine frames and the targets alike by this many stops of linear light
    /// (-3: an engine that renders 8x darker, as Bevy's street is against the training renders).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub exposure: f32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let seq = Sequence::open(&a.sequence)?;
    let weathers: Vec<String> = match &a.weathers {
        Some(w) => w
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => seq.target_prompts().iter().map(|s| s.to_string()).collect(),
    };
    if weathers.is_empty() {
        bail!("{} has no target frames to score against (fix: pass a sequence whose sequence.json lists \"targets\")", a.sequence.display());
    }
    let exposure = match Exposure::stops(a.exposure) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: --exposure: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut config = match session_config(&a.model, &a.look, Mode::Cinematic, "", 1.0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut first = OwnedFrame::default();
    seq.load_frame_into(0, &mut first)?;
    fit_model_size(&mut config, (first.width, first.height));
    let scores = evaluate_sequence_exposed(&config, &seq, &weathers, exposure)?;
    if a.json {
        let doc = serde_json::json!({
            "sequence": a.sequence.display().to_string(),
            "model_size": config.model_size,
            "upsample_eps": config.upsample_eps,
            "temporal_alpha": config.temporal_alpha,
            "exposure_lock": config.exposure_lock,
            "exposure_ev": exposure.ev(),
            "weathers": scores,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&scores);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(scores: &[WeatherScores]) {
    println!(
        "{:<12} {:>6} {:>13} {:>13} {:>13} {:>13} {:>9}",
        "weather", "frames", "PSNR dB", "(input)", "SSIM", "(input)", "edge F"
    );
    for s in scores {
        println!(
            "{:<12} {:>6} {:>13.2} {:>13.2} {:>13.4} {:>13.4} {:>9.3}",
            s.weather, s.frames, s.psnr, s.psnr_passthrough, s.ssim, s.ssim_passthrough, s.edge_f
        );
    }
    println!("temporal warping error (mean |I_t - warp(I_t-1)|, non-disoccluded pixels):");
    for s in scores {
        println!(
            "  {:<12} output {:.4}  target {:.4}  input {:.4}",
            s.weather, s.warp_error, s.warp_error_target, s.warp_error_input
        );
    }
    println!("sharpness (mean |Laplacian| of luma; output / target ratio) and edges:");
    for s in scores {
        println!(
            "  {:<12} output {:.4}  target {:.4}  input {:.4}  ratio {:.2}   ghost edges {:.3}  new edges {:.3} (target {:.3})",
            s.weather,
            s.sharpness,
            s.sharpness_target,
            s.sharpness_input,
            s.sharpness / s.sharpness_target.max(1e-12),
            s.ghost_edges,
            s.new_edges,
            s.new_edges_target
        );
    }
    println!("drift over the clip (least-squares slope per frame):");
    for s in scores {
        println!(
            "  {:<12} PSNR {:+.3} dB/frame  output-minus-input brightness {:+.5}/frame",
            s.weather, s.psnr_slope, s.brightness_drift_slope
        );
    }
}
