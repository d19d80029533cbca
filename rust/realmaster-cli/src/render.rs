//! `realmaster render`: a sequence folder or a video through the runtime, to PNG frames, an mp4 and
//! a before/after contact sheet.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use realmaster::frame::OwnedFrame;
use realmaster::sequence::Sequence;
use realmaster::{Health, Mode, OutputFrame, Session};

use crate::media;
use crate::{LookArgs, ModelArgs};

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
    /// Continue an interrupted cinematic render in --out from its first missing frame (the
    /// temporal history is rebuilt by re-running the frames before it, without writing them).
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Start over in an --out folder that holds another render (its frames, mp4, contact sheet
    /// and run record are deleted first).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub look: LookArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Frames from a sequence folder or a video.
pub enum Source {
    Sequence(Box<Sequence>),
    Video(Box<VideoSource>),
}

/// A video decoded as it is rendered (`media::VideoStream`): no decoded frames on disk and one
/// frame in memory, whatever its length.
pub struct VideoSource {
    path: PathBuf,
    info: media::VideoInfo,
    /// Frames to decode: the video's, or fewer with --frames.
    limit: usize,
    stream: media::VideoStream,
    /// The frame decoded last, and its index: the render reads frame 0 once more after sizing
    /// the model with it.
    current: OwnedFrame,
    current_index: Option<usize>,
}

impl VideoSource {
    fn load(&mut self, i: usize, dst: &mut OwnedFrame) -> Result<bool> {
        if self.current_index != Some(i) {
            if self.stream.frames_read() > i {
                // Going back (not done by render or bench today): decode again from the start.
                self.stream = media::VideoStream::open(&self.path, self.limit)?;
            }
            self.current_index = None;
            while self.stream.frames_read() <= i {
                if !self.stream.next_frame(&mut self.current)? {
                    return Ok(false);
                }
            }
            self.current_index = Some(i);
        }
        let c = &self.current;
        dst.width = c.width;
        dst.height = c.height;
        dst.format = c.format;
        dst.color.clear();
        dst.color.extend_from_slice(&c.color);
        for plane in [&mut dst.depth, &mut dst.normals, &mut dst.motion] {
            plane.clear();
        }
        dst.has_depth = false;
        dst.has_normals = false;
        dst.has_motion = false;
        dst.camera_cut = false;
        Ok(true)
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
        let info = media::probe_video(path)?;
        let limit = max_frames.map_or(info.frames, |m| m.min(info.frames));
        let stream = media::VideoStream::open(path, limit)?;
        Ok(Source::Video(Box::new(VideoSource {
            path: path.to_path_buf(),
            info,
            limit,
            stream,
            current: OwnedFrame::default(),
            current_index: None,
        })))
    }

    /// Frames in the source. For a video, the frames ffprobe counted: decoding can end earlier
    /// on a damaged file (`load` says so).
    pub fn len(&self) -> usize {
        match self {
            Source::Sequence(s) => s.frame_count() as usize,
            Source::Video(v) => v.limit,
        }
    }

    pub fn fps(&self) -> f64 {
        match self {
            Source::Sequence(s) => s.fps(),
            Source::Video(v) => v.info.fps,
        }
    }

    /// Load frame `i` into `dst`; false when a video ended before frame `i`. A video is read
    /// forwards: loading frames in order (or the same frame again) decodes each frame once.
    pub fn load(&mut self, i: usize, dst: &mut OwnedFrame) -> Result<bool> {
        match self {
            Source::Sequence(s) => {
                s.load_frame_into(i as u32, dst)?;
                Ok(true)
            }
            Source::Video(v) => v.load(i, dst),
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
    look: &LookArgs,
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
        upsample_eps: look.upsample_eps,
        temporal_alpha: look.temporal_alpha,
        exposure_lock: look.exposure_lock,
        prompt: prompt.to_string(),
        model_size: model.model_size,
        backend: model.backend,
        ..Default::default()
    })
}

/// What a render in an output folder was made from (`run.json`): a resume must match it, and a
/// different render may not mix its frames with it.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub input: String,
    pub model: String,
    /// sha256 of the model's manifest.json (which holds the sha256 of every model file).
    pub model_sha256: String,
    pub model_size: Option<(u32, u32)>,
    pub prompt: String,
    pub strength: f32,
    /// Records written before the setting existed ran at its default.
    #[serde(default = "default_upsample_eps")]
    pub upsample_eps: f32,
    #[serde(default = "default_temporal_alpha")]
    pub temporal_alpha: f32,
    /// Records written before the exposure lock existed ran without it.
    #[serde(default)]
    pub exposure_lock: bool,
    pub mode: String,
    pub frames: usize,
    /// Frames written so far (all of them once `complete`).
    pub frames_done: usize,
    pub complete: bool,
}

fn default_upsample_eps() -> f32 {
    realmaster::SessionConfig::default().upsample_eps
}

fn default_temporal_alpha() -> f32 {
    realmaster::SessionConfig::default().temporal_alpha
}

impl RunRecord {
    /// Differences that make `other` a different render.
    fn differences(&self, other: &RunRecord) -> Vec<String> {
        let mut d = Vec::new();
        let mut cmp = |name: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{name} '{a}' (this run) vs '{b}' (in the folder)"));
            }
        };
        cmp("input", self.input.clone(), other.input.clone());
        cmp(
            "model",
            self.model_sha256.clone(),
            other.model_sha256.clone(),
        );
        cmp(
            "model size",
            format!("{:?}", self.model_size),
            format!("{:?}", other.model_size),
        );
        cmp("prompt", self.prompt.clone(), other.prompt.clone());
        cmp(
            "strength",
            self.strength.to_string(),
            other.strength.to_string(),
        );
        cmp(
            "upsample eps",
            self.upsample_eps.to_string(),
            other.upsample_eps.to_string(),
        );
        cmp(
            "temporal alpha",
            self.temporal_alpha.to_string(),
            other.temporal_alpha.to_string(),
        );
        cmp(
            "exposure lock",
            self.exposure_lock.to_string(),
            other.exposure_lock.to_string(),
        );
        cmp("mode", self.mode.clone(), other.mode.clone());
        cmp(
            "frame count",
            self.frames.to_string(),
            other.frames.to_string(),
        );
        d
    }
}

const RUN_RECORD: &str = "run.json";

/// Names this command writes into an output folder (frames are `frames/NNNN.png`).
fn is_our_output(name: &str) -> bool {
    matches!(name, RUN_RECORD | "out.mp4" | "contact_sheet.png")
}

/// Frame file name: at least 4 digits, more past 9,999 (ffmpeg's %04d reads them the same way).
pub fn frame_name(i: usize) -> String {
    format!("{i:04}.png")
}

/// Write `bytes` to `path` atomically: a temporary file beside it, synced, then renamed over it.
/// A crash or a full disk leaves either the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_png_atomic(path: &Path, img: &media::Rgb8) -> Result<()> {
    write_atomic(path, |tmp| media::write_png_as(tmp, img))
}

fn write_record(out: &Path, rec: &RunRecord) -> Result<()> {
    let json = serde_json::to_string_pretty(rec)?;
    write_atomic(&out.join(RUN_RECORD), |tmp| {
        std::fs::write(tmp, json.as_bytes()).with_context(|| format!("writing {}", tmp.display()))
    })
}

/// PNG frames in `frames_dir` and leftovers of interrupted atomic writes.
fn scan_frames(frames_dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut pngs = Vec::new();
    let mut temps = Vec::new();
    if let Ok(rd) = std::fs::read_dir(frames_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                temps.push(e.path());
            } else if name.ends_with(".png") {
                pngs.push(e.path());
            }
        }
    }
    (pngs, temps)
}

/// Set by SIGINT/SIGTERM: the render finishes the frame in hand, says where it stopped and how
/// to resume, and exits cleanly (temporary folders removed). A second signal ends it at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional shutdown sees the flag the first signal set.
        if let Err(e) = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())
            .and_then(|_| signal_hook::flag::register(sig, flag.clone()))
        {
            log::warn!("cannot install the Ctrl-C handler ({e}); an interrupt stops at once");
        }
    }
    flag
}

pub fn run(a: RenderArgs) -> Result<ExitCode> {
    let interrupted = interrupt_flag();
    let mode: Mode = a.mode.parse()?;
    if !(0.0..=1.0).contains(&a.strength) {
        bail!(
            "--strength {} is outside 0..1 (fix: pass a value between 0 and 1)",
            a.strength
        );
    }
    if a.resume && mode != Mode::Cinematic {
        eprintln!("error: --resume needs --mode cinematic (realtime output depends on timing, so a resumed run could not match; fix: re-render with --force)");
        return Ok(ExitCode::from(2));
    }
    let mut config = match session_config(&a.model, &a.look, mode, &a.prompt, a.strength) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut source = Source::open(&a.sequence, a.frames)?;
    let n = a.frames.map_or(source.len(), |f| f.min(source.len()));
    let mut first = OwnedFrame::default();
    if n == 0 || !source.load(0, &mut first)? {
        bail!("{} has no frames to render", a.sequence.display());
    }
    fit_model_size(&mut config, (first.width, first.height));
    if let Source::Video(_) = source {
        eprintln!("warning: {} is colour only (no depth, normals or motion): expect a softer, washed-out look with some ghosting (about 12-15 dB PSNR to the input vs 19-24 dB with G-buffers); render the engine's sequence folder with its G-buffers for the real result", a.sequence.display());
    }

    let model_dir = config.model_dir.clone().unwrap_or_default();
    let record = RunRecord {
        input: std::fs::canonicalize(&a.sequence)
            .unwrap_or_else(|_| a.sequence.clone())
            .display()
            .to_string(),
        model: model_dir.display().to_string(),
        model_sha256: realmaster::model::sha256_file(&model_dir.join("manifest.json"))
            .unwrap_or_else(|_| "unknown".into()),
        model_size: config.model_size,
        prompt: a.prompt.clone(),
        strength: a.strength,
        upsample_eps: a.look.upsample_eps,
        temporal_alpha: a.look.temporal_alpha,
        exposure_lock: config.exposure_lock,
        mode: mode.to_string(),
        frames: n,
        frames_done: 0,
        complete: false,
    };

    // One render per output folder: refuse to mix, unless asked to resume it or start over.
    let frames_dir = a.out.join("frames");
    let (pngs, temps) = scan_frames(&frames_dir);
    let existing_record: Option<RunRecord> = std::fs::read_to_string(a.out.join(RUN_RECORD))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let has_outputs = !pngs.is_empty()
        || std::fs::read_dir(&a.out)
            .map(|rd| {
                rd.flatten()
                    .any(|e| is_our_output(&e.file_name().to_string_lossy()))
            })
            .unwrap_or(false);
    let mut start = 0usize;
    if a.force {
        for p in pngs.iter().chain(&temps) {
            std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
        }
        for name in [RUN_RECORD, "out.mp4", "contact_sheet.png"] {
            let _ = std::fs::remove_file(a.out.join(name));
        }
    } else if a.resume {
        match &existing_record {
            None if has_outputs => {
                eprintln!("error: {} holds frames but no run record ({RUN_RECORD}), so they cannot be matched to this render (fix: --force to start over, or another --out)", a.out.display());
                return Ok(ExitCode::from(2));
            }
            None => {}
            Some(old) => {
                let diff = record.differences(old);
                if !diff.is_empty() {
                    eprintln!("error: {} holds a different render: {} (fix: resume with the same options, --force to start over, or another --out)", a.out.display(), diff.join("; "));
                    return Ok(ExitCode::from(2));
                }
            }
        }
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        while start < n && frames_dir.join(frame_name(start)).is_file() {
            start += 1;
        }
    } else if has_outputs {
        let what = match &existing_record {
            Some(r) => format!(
                "a render of {} with prompt '{}' ({} of {} frames{})",
                r.input,
                r.prompt,
                r.frames_done,
                r.frames,
                if r.complete { "" } else { ", interrupted" }
            ),
            None => format!("{} frames of another render", pngs.len()),
        };
        eprintln!("error: {} already holds {what} (fix: --resume to continue it, --force to start over, or another --out)", a.out.display());
        return Ok(ExitCode::from(2));
    }

    let session = Session::new(config)?;
    eprintln!(
        "realmaster: {} frames, model input {:?}, execution provider {}, passes on {} (GPU {}), mode {mode}, prompt '{}'",
        n,
        session.model_size().unwrap_or((0, 0)),
        session.execution_provider(),
        session.backend().map_or_else(|| "none".to_string(), |b| b.to_string()),
        session.gpu().unwrap_or("none"),
        if a.prompt.is_empty() { "(default)" } else { &a.prompt }
    );
    if start > 0 {
        eprintln!(
            "realmaster: resuming at frame {start} of {n}; re-running frames 0..{start} first to rebuild the temporal history (not written)"
        );
    }

    std::fs::create_dir_all(&frames_dir)
        .with_context(|| format!("creating {}", frames_dir.display()))?;
    let mut rec = record.clone();
    rec.frames_done = start;
    write_record(&a.out, &rec)?;
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
    let mut first_failure: Option<(usize, String)> = None;
    let mut failed_before = 0u64;
    let mut stopped_at = None;
    let mut rendered = n;
    for i in 0..n {
        if interrupted.load(Ordering::Relaxed) {
            stopped_at = Some(i);
            break;
        }
        if !source.load(i, &mut input)? {
            // Packets counted by ffprobe but not decoded: a truncated or damaged video.
            eprintln!("warning: ffprobe counted {n} frames in {} but ffmpeg decoded only {i}; rendered those (is the file truncated or damaged?)", a.sequence.display());
            rendered = i;
            break;
        }
        session.submit(&input.as_frame_ref())?;
        session.flush();
        if !session.latest_output(&mut output) || output.frame_index != i as u64 {
            bail!(
                "internal error: the session returned no output for frame {i} (please report this)"
            );
        }
        let failed_now = session.stats().frames_failed;
        if failed_now > failed_before && first_failure.is_none() {
            let msg = match session.health() {
                Health::PassThrough { message, .. } => message,
                Health::Ok => "unknown error".into(),
            };
            first_failure = Some((i, msg));
        }
        failed_before = failed_now;
        let rgb = media::output_rgb8(&output);
        if i >= start {
            write_png_atomic(&frames_dir.join(frame_name(i)), &rgb)?;
            rec.frames_done = i + 1;
            if (i + 1) % 16 == 0 {
                write_record(&a.out, &rec)?;
            }
        }
        if sheet_picks.contains(&i) {
            pairs.push((
                media::to_rgb8(input.width, input.height, input.format, &input.color),
                rgb,
            ));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_record(&a.out, &rec)?;
    if let Some(i) = stopped_at {
        eprintln!(
            "realmaster: interrupted; frames 0..{} are complete in {} (frame {i} was not started). {}",
            i,
            frames_dir.display(),
            if mode == Mode::Cinematic {
                "Resume with the same command plus --resume."
            } else {
                "Realtime renders cannot be resumed; render again with --force."
            }
        );
        return Ok(ExitCode::from(130));
    }
    rec.complete = true;

    if let Some(sheet) = media::contact_sheet(&pairs, 480) {
        write_png_atomic(&a.out.join("contact_sheet.png"), &sheet)?;
    }
    if !a.no_video && media::ffmpeg_available() {
        write_atomic(&a.out.join("out.mp4"), |tmp| {
            media::encode_mp4(&frames_dir, source.fps(), tmp)
        })?;
    }
    write_record(&a.out, &rec)?;
    let stats = session.stats();
    let untouched = (rendered as u64)
        .saturating_sub(stats.frames_enhanced)
        .saturating_sub(stats.frames_failed);
    eprintln!(
        "realmaster: wrote {} frames to {}: {} enhanced ({} of them the reprojected output of an earlier frame: inference had not caught up), {} untouched while the first inference ran, {} failed; {} with G-buffer values replaced; last inference {:.1} ms on {}",
        rendered.saturating_sub(start),
        a.out.display(),
        stats.frames_enhanced,
        stats.frames_reprojected,
        untouched,
        stats.frames_failed,
        stats.frames_sanitized,
        stats.last_inference_ms,
        stats.execution_provider
    );
    // One rule, wherever the frame is in the sequence: any frame shown untouched because of an
    // error (refused frame, model fault, GPU error) makes the render fail.
    if let Some((i, message)) = first_failure {
        eprintln!(
            "error: {} frame(s) were passed through untouched because of errors ({} model fault(s)); first at frame {i}: {message}",
            stats.frames_failed, stats.model_faults
        );
        return Ok(ExitCode::from(1));
    }
    if let Health::PassThrough { message, .. } = session.health() {
        eprintln!("error: frames were passed through untouched: {message}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that fails part-way (a full disk) leaves the previous file as it was and no
    /// temporary file; a write that succeeds replaces it whole.
    #[test]
    fn atomic_write_failing_midway_keeps_the_old_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("realmaster-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("0000.png");
        std::fs::write(&path, b"previous complete frame").unwrap();
        let e = write_atomic(&path, |tmp| {
            std::fs::write(tmp, b"half a fr")?;
            bail!("No space left on device (os error 28)")
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("No space left"), "{e:#}");
        assert_eq!(std::fs::read(&path).unwrap(), b"previous complete frame");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["0000.png"], "a temporary file was left");

        write_atomic(&path, |tmp| Ok(std::fs::write(tmp, b"new frame")?)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new frame");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
