//! `realmaster render`: a sequence folder or a video through the runtime, to PNG frames, an mp4 and
//! a before/after contact sheet.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use realmaster::frame::{ColorFormat, OwnedFrame};
use realmaster::sequence::Sequence;
use realmaster::{Health, Mode, OutputFrame, Session};

use crate::media;
use crate::ModelArgs;

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// A sequence folder (with sequence.json) or a video file (needs ffmpeg; edges then come from color only).
    pub sequence: PathBuf,
    /// Output folder: frames/NNNN.png, out.mp4 (with ffmpeg), contact_sheet.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Prompt: a preset name (clear, rain, fog, snow, night, golden_hour) or free text.
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Blend strength 0..1.
    #[arg(long, default_value_t = 1.0)]
    pub strength: f32,
    /// realtime or cinematic (deterministic, every frame inferred).
    #[arg(long, default_value = "cinematic")]
    pub mode: String,
    /// Render at most this many frames.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Skip the mp4 even when ffmpeg is available.
    #[arg(long)]
    pub no_video: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Frames from a sequence folder or a decoded video.
pub enum Source {
    Sequence(Box<Sequence>),
    Video {
        fps: f64,
        frames: Vec<PathBuf>,
        _tmp: TempDir,
    },
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Source {
    pub fn open(path: &Path, max_frames: Option<usize>) -> Result<Source> {
        if path.is_dir() {
            return Ok(Source::Sequence(Box::new(Sequence::open(path)?)));
        }
        if !path.exists() {
            bail!("{} does not exist (fix: pass a sequence folder containing sequence.json, or a video file)", path.display());
        }
        let tmp =
            TempDir(std::env::temp_dir().join(format!("realmaster-video-{}", std::process::id())));
        let (fps, frames) = media::decode_video(path, &tmp.0, max_frames)?;
        Ok(Source::Video {
            fps,
            frames,
            _tmp: tmp,
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Source::Sequence(s) => s.frame_count() as usize,
            Source::Video { frames, .. } => frames.len(),
        }
    }

    pub fn fps(&self) -> f64 {
        match self {
            Source::Sequence(s) => s.fps(),
            Source::Video { fps, .. } => *fps,
        }
    }

    pub fn load(&self, i: usize, dst: &mut OwnedFrame) -> Result<()> {
        match self {
            Source::Sequence(s) => Ok(s.load_frame_into(i as u32, dst)?),
            Source::Video { frames, .. } => {
                let img = image::open(&frames[i])
                    .with_context(|| format!("reading {}", frames[i].display()))?
                    .to_rgba8();
                *dst = OwnedFrame::default();
                dst.width = img.width();
                dst.height = img.height();
                dst.format = ColorFormat::Rgba8Srgb;
                dst.color = img.into_raw();
                Ok(())
            }
        }
    }
}

/// With no --model-size, a dynamic model runs at the input's aspect ratio within its default pixel
/// budget (see `Resolution::size_for_frame`). A manifest that cannot be read is left for
/// `Session::new` to report properly.
pub fn fit_model_size(config: &mut realmaster::SessionConfig, frame: (u32, u32)) {
    if config.model_size.is_some() {
        return;
    }
    let Some(dir) = &config.model_dir else { return };
    if let Ok(m) = realmaster::model::Manifest::load(&dir.join("manifest.json")) {
        config.model_size = Some(m.resolution.size_for_frame(frame));
    }
}

pub fn session_config(
    model: &ModelArgs,
    mode: Mode,
    prompt: &str,
    strength: f32,
) -> Result<realmaster::SessionConfig> {
    let dir = crate::locate::model_dir(model.model.as_deref()).map_err(anyhow::Error::msg)?;
    Ok(realmaster::SessionConfig {
        model_dir: Some(dir),
        ort_library: model.ort_lib.clone(),
        execution_provider: model.ep.clone(),
        allow_ep_fallback: model.allow_fallback,
        tensorrt_cache_dir: None,
        mode,
        strength,
        prompt: prompt.to_string(),
        model_size: model.model_size,
        ..Default::default()
    })
}

pub fn run(a: RenderArgs) -> Result<ExitCode> {
    let mode: Mode = a.mode.parse()?;
    if !(0.0..=1.0).contains(&a.strength) {
        bail!(
            "--strength {} is outside 0..1 (fix: pass a value between 0 and 1)",
            a.strength
        );
    }
    let mut config = match session_config(&a.model, mode, &a.prompt, a.strength) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let source = Source::open(&a.sequence, a.frames)?;
    let n = a.frames.map_or(source.len(), |f| f.min(source.len()));
    if n == 0 {
        bail!("{} has no frames to render", a.sequence.display());
    }
    let mut first = OwnedFrame::default();
    source.load(0, &mut first)?;
    fit_model_size(&mut config, (first.width, first.height));
    let session = Session::new(config)?;
    eprintln!(
        "realmaster: {} frames, model input {:?}, execution provider {}, GPU {}, mode {mode}, prompt '{}'",
        n,
        session.model_size().unwrap_or((0, 0)),
        session.execution_provider(),
        session.gpu().unwrap_or("none"),
        if a.prompt.is_empty() { "(default)" } else { &a.prompt }
    );

    let frames_dir = a.out.join("frames");
    std::fs::create_dir_all(&frames_dir)
        .with_context(|| format!("creating {}", frames_dir.display()))?;
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    // First, two middle and last frame for the contact sheet.
    let sheet_picks: Vec<usize> = if n <= 4 {
        (0..n).collect()
    } else {
        vec![0, n / 3, 2 * n / 3, n - 1]
    };
    let mut pairs = Vec::new();
    let mut input = OwnedFrame::default();
    let mut output = OutputFrame::default();
    let mut enhanced = 0usize;
    for i in 0..n {
        source.load(i, &mut input)?;
        session.submit(&input.as_frame_ref())?;
        session.flush();
        if !session.latest_output(&mut output) {
            bail!("the session produced no output for frame {i}");
        }
        enhanced += usize::from(output.enhanced);
        let rgb = media::output_rgb8(&output);
        media::write_png(&frames_dir.join(format!("{i:04}.png")), &rgb)?;
        if sheet_picks.contains(&i) {
            pairs.push((
                media::to_rgb8(input.width, input.height, input.format, &input.color),
                rgb,
            ));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    if let Some(sheet) = media::contact_sheet(&pairs, 480) {
        media::write_png(&a.out.join("contact_sheet.png"), &sheet)?;
    }
    if !a.no_video && media::ffmpeg_available() {
        media::encode_mp4(&frames_dir, source.fps(), &a.out.join("out.mp4"))?;
    }
    let stats = session.stats();
    eprintln!(
        "realmaster: wrote {} frames ({} enhanced) to {}; last inference {:.1} ms on {}",
        n,
        enhanced,
        a.out.display(),
        stats.last_inference_ms,
        stats.execution_provider
    );
    if let Health::PassThrough { message, .. } = session.health() {
        eprintln!("error: frames were passed through untouched: {message}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
