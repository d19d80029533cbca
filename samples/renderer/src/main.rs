//! `realmaster-samples`: render sample sequences, regenerate the bundled samples, or generate a
//! training set. See samples/README.md.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use realmaster_samples::camera::{CameraPath, CAMERAS};
use realmaster_samples::clip::{folder_bytes, training_plan, write_clip, ClipSpec, PlaneQuant};
use realmaster_samples::export::export_scene;
use realmaster_samples::post::downsample_rgba8;
use realmaster_samples::scene::SceneKind;
use realmaster_samples::weather::{Weather, WEATHERS};
use realmaster_samples::Gpu;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "realmaster-samples",
    version,
    about = "Render procedural sample scenes as RealMaster sequence folders (sim frames, G-buffers, paired photoreal targets)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// One clip: scene, camera path, size and timing (shared by `render` and `export-scene`).
#[derive(clap::Args)]
struct ClipArgs {
    /// city or landscape
    #[arg(long)]
    scene: String,
    /// Scene variant (city: street, avenue, downtown; landscape: hills, lakeside, alpine)
    #[arg(long)]
    variant: Option<String>,
    /// pan, dolly, turn, cut or orbit
    #[arg(long, default_value = "pan")]
    camera: String,
    #[arg(long, default_value_t = 24)]
    frames: u32,
    #[arg(long, default_value_t = 256)]
    width: u32,
    #[arg(long, default_value_t = 144)]
    height: u32,
    #[arg(long, default_value_t = 24.0)]
    fps: f32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

impl ClipArgs {
    /// The clip as a spec (weathers: all; the caller narrows them).
    fn spec(&self) -> Result<ClipSpec> {
        let mut spec = ClipSpec::new(
            parse_scene(&self.scene)?,
            parse_camera(&self.camera)?,
            self.frames,
            self.width,
            self.height,
            self.seed,
        );
        if let Some(v) = &self.variant {
            spec.variant = v.clone();
        }
        spec.fps = self.fps;
        Ok(spec)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Render one clip into a sequence folder.
    Render {
        #[command(flatten)]
        clip: ClipArgs,
        /// Comma-separated weather prompts for the targets, "all" or "none"
        #[arg(long, default_value = "all")]
        weathers: String,
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing sequence folder
        #[arg(long)]
        force: bool,
    },
    /// Write one clip's scene (triangles, moving objects per frame, lights, sun, cameras) as plain
    /// data for another renderer (models/pathtrace/sample_targets.py path-traces its targets).
    ExportScene {
        #[command(flatten)]
        clip: ClipArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// (Re)generate the bundled samples and preview.png under OUT (normally samples/).
    Bundled {
        #[arg(long, default_value = "samples")]
        out: PathBuf,
        /// Replace sample folders even if they do not look like sequence folders
        #[arg(long)]
        force: bool,
    },
    /// Generate a training set: OUT/train_NNNN and OUT/heldout_NNNN clips plus OUT/index.json.
    Training {
        #[arg(long)]
        out: PathBuf,
        /// Number of training clips
        #[arg(long, default_value_t = 16)]
        clips: u32,
        /// Number of held-out clips (a scene variant and camera path never used in training); default clips/8, at least 1
        #[arg(long)]
        heldout: Option<u32>,
        #[arg(long, default_value_t = 16)]
        frames: u32,
        #[arg(long, default_value_t = 256)]
        width: u32,
        #[arg(long, default_value_t = 144)]
        height: u32,
        #[arg(long, default_value_t = 1000)]
        seed: u64,
        #[arg(long, default_value = "all")]
        weathers: String,
        #[arg(long)]
        force: bool,
    },
}

fn parse_weathers(s: &str) -> Result<Vec<Weather>> {
    match s.trim() {
        "all" => return Ok(Weather::all()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    s.split(',')
        .map(|w| {
            Weather::parse(w.trim()).ok_or_else(|| {
                anyhow!(
                    "unknown weather '{}'; choose from: {} (or all / none)",
                    w.trim(),
                    WEATHERS.join(", ")
                )
            })
        })
        .collect()
}

fn parse_scene(s: &str) -> Result<SceneKind> {
    SceneKind::parse(s).ok_or_else(|| anyhow!("unknown scene '{s}'; choose city or landscape"))
}

fn parse_camera(s: &str) -> Result<CameraPath> {
    CameraPath::parse(s).ok_or_else(|| {
        anyhow!(
            "unknown camera '{s}'; choose one of: {}",
            CAMERAS.join(", ")
        )
    })
}

/// Sub-paths a sequence folder written by this tool consists of.
const SEQUENCE_PARTS: [&str; 6] = [
    "sequence.json",
    "color",
    "depth",
    "normals",
    "motion",
    "targets",
];

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// Refuse a path that exists but is not a folder (is_empty_dir cannot tell it from an empty one).
fn ensure_not_file(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} exists and is not a folder; pass a folder path",
            out.display()
        );
    }
    Ok(())
}

/// Make `out` ready for a new sequence: absent, empty, or (with `force`, or when `replace_own` and it
/// holds a sequence.json) cleared of the parts a sequence folder consists of.
fn prepare_sequence_dir(out: &Path, force: bool, replace_own: bool) -> Result<()> {
    ensure_not_file(out)?;
    if !out.exists() || is_empty_dir(out) {
        return Ok(());
    }
    let own = out.join("sequence.json").is_file();
    if !(force || (replace_own && own)) {
        bail!("--out {} exists and is not empty; pass --force to replace it, or choose another folder", out.display());
    }
    for part in SEQUENCE_PARTS {
        let p = out.join(part);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        } else if p.is_file() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

fn report(name: &str, frames: u32, secs: f64, bytes: u64) {
    eprintln!(
        "{name}: {frames} frames in {secs:.1} s ({:.2} s/frame), {:.2} MB",
        secs / frames.max(1) as f64,
        bytes as f64 / 1e6
    );
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Render {
            clip,
            weathers,
            out,
            force,
        } => {
            let frames = clip.frames;
            let mut spec = clip.spec()?;
            spec.weathers = parse_weathers(&weathers)?;
            spec.validate().map_err(|e| anyhow!(e))?;
            prepare_sequence_dir(&out, force, false)?;
            let gpu = Gpu::new()?;
            eprintln!("GPU: {}", gpu.adapter);
            let stats = write_clip(&gpu, &spec, &out, &mut None, |i, _| {
                eprint!("\rframe {}/{}", i + 1, frames)
            })?;
            eprintln!();
            report(
                &out.display().to_string(),
                stats.frames,
                stats.seconds,
                stats.bytes,
            );
        }
        Cmd::ExportScene { clip, out } => {
            let spec = clip.spec()?;
            ensure_not_file(&out)?;
            let s = export_scene(&spec, &out)?;
            eprintln!(
                "exported {} static and up to {} moving triangles, {} lights, {} cameras to {}",
                s.static_triangles,
                s.dynamic_triangles,
                s.lights,
                spec.frames,
                out.display()
            );
        }
        Cmd::Bundled { out, force } => bundled(&out, force)?,
        Cmd::Training {
            out,
            clips,
            heldout,
            frames,
            width,
            height,
            seed,
            weathers,
            force,
        } => training(
            &out,
            clips,
            heldout.unwrap_or((clips / 8).max(1)),
            frames,
            width,
            height,
            seed,
            &parse_weathers(&weathers)?,
            force,
        )?,
    }
    Ok(())
}

/// The committed samples: (folder, scene, variant, camera, frames, seed, target weathers).
/// Targets carry film grain and compress poorly, so each clip keeps only the targets it is used
/// for; `heldout_downtown_orbit` (a variant and camera path training never sees) keeps all of them
/// for the model-card check in tests.
type Bundled = (
    &'static str,
    SceneKind,
    &'static str,
    CameraPath,
    u32,
    u64,
    &'static str,
);
const BUNDLED: [Bundled; 4] = [
    (
        "city_pan",
        SceneKind::City,
        "street",
        CameraPath::Pan,
        24,
        7,
        "clear,rain",
    ),
    (
        "landscape_dolly",
        SceneKind::Landscape,
        "hills",
        CameraPath::Dolly,
        16,
        11,
        "fog,snow",
    ),
    (
        "city_turn_cut",
        SceneKind::City,
        "street",
        CameraPath::Cut,
        24,
        3,
        "none",
    ),
    (
        "heldout_downtown_orbit",
        SceneKind::City,
        "downtown",
        CameraPath::Orbit,
        8,
        5,
        "all",
    ),
];
/// Rounding of the committed G-buffer planes: depth to 2^-10 relative (1 cm at 10 m), normals to
/// 1/1024, motion to 1/32 px. Keeps samples/ small; the files stay f32 as docs/formats.md says.
const BUNDLED_QUANT: PlaneQuant = PlaneQuant {
    depth_bits: 10,
    normal_step: 1.0 / 1024.0,
    motion_step: 1.0 / 32.0,
};

fn bundled(out: &Path, force: bool) -> Result<()> {
    ensure_not_file(out)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, ..) in BUNDLED {
        prepare_sequence_dir(&out.join(name), force, true)?;
    }
    let gpu = Gpu::new()?;
    eprintln!("GPU: {}", gpu.adapter);
    let t0 = Instant::now();
    let mut cache = None;
    // Contact sheet: one frame per clip, sim then every weather, at half size.
    let (tw, th) = (128usize, 72usize);
    let cols = 1 + WEATHERS.len();
    let gap = 2usize;
    let (sheet_w, sheet_h) = (
        cols * tw + (cols - 1) * gap,
        BUNDLED.len() * th + (BUNDLED.len() - 1) * gap,
    );
    let mut sheet = vec![255u8; sheet_w * sheet_h * 4];
    for (row, (name, scene, variant, camera, frames, seed, weathers)) in BUNDLED.iter().enumerate()
    {
        let mut spec = ClipSpec::new(*scene, *camera, *frames, 256, 144, *seed);
        spec.variant = variant.to_string();
        // The contact sheet shows every weather, so render all and keep only the listed ones.
        spec.weathers = Weather::all();
        spec.write_targets = Some(parse_weathers(weathers)?);
        spec.plane_quant = Some(BUNDLED_QUANT);
        let pick = frames * 2 / 3;
        let dir = out.join(name);
        let stats = write_clip(&gpu, &spec, &dir, &mut cache, |i, e| {
            if i != pick {
                return;
            }
            let tiles = std::iter::once(&e.sim_rgba8).chain(e.targets_rgba8.iter());
            for (col, img) in tiles.enumerate() {
                let small = downsample_rgba8(img, 256, 144);
                for y in 0..th {
                    let dst = ((row * (th + gap) + y) * sheet_w + col * (tw + gap)) * 4;
                    sheet[dst..dst + tw * 4].copy_from_slice(&small[y * tw * 4..(y + 1) * tw * 4]);
                }
            }
        })?;
        report(
            &dir.display().to_string(),
            stats.frames,
            stats.seconds,
            stats.bytes,
        );
    }
    realmaster::sequence::write_png_rgba8(
        &out.join("preview.png"),
        sheet_w as u32,
        sheet_h as u32,
        &sheet,
    )?;
    let total: u64 = BUNDLED
        .iter()
        .map(|b| folder_bytes(&out.join(b.0)))
        .sum::<u64>()
        + folder_bytes(&out.join("preview.png"));
    eprintln!(
        "bundled samples: {:.1} s in total, {:.2} MB (sequences + preview.png)",
        t0.elapsed().as_secs_f64(),
        total as f64 / 1e6
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn training(
    out: &Path,
    clips: u32,
    heldout: u32,
    frames: u32,
    width: u32,
    height: u32,
    seed: u64,
    weathers: &[Weather],
    force: bool,
) -> Result<()> {
    if clips == 0 {
        bail!("--clips 0 makes an empty training set; pass --clips 1 or more");
    }
    ensure_not_file(out)?;
    if out.exists() && !is_empty_dir(out) {
        if !force {
            bail!("--out {} exists and is not empty; pass --force to replace the clips in it, or choose another folder", out.display());
        }
        // Remove only what this command writes.
        for e in std::fs::read_dir(out)?.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if (n.starts_with("train_") || n.starts_with("heldout_"))
                && e.path().join("sequence.json").is_file()
            {
                std::fs::remove_dir_all(e.path())?;
            } else if n == "index.json" {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    let mut specs = training_plan(clips, heldout, frames, width, height, seed);
    for (_, s) in &mut specs {
        s.weathers = weathers.to_vec();
        s.validate().map_err(|e| anyhow!(e))?;
    }
    std::fs::create_dir_all(out)?;
    let gpu = Gpu::new()?;
    eprintln!("GPU: {}", gpu.adapter);
    let t0 = Instant::now();
    let mut index = Vec::new();
    let mut cache = None;
    for (name, s) in &specs {
        let dir = out.join(name);
        let stats = write_clip(&gpu, s, &dir, &mut cache, |_, _| {})?;
        report(name, stats.frames, stats.seconds, stats.bytes);
        index.push(serde_json::json!({
            "dir": name, "split": s.split, "scene": s.scene.name(), "variant": s.variant,
            "camera": s.camera.name(), "seed": s.seed, "frames": s.frames
        }));
    }
    let index =
        serde_json::json!({"format": "realmaster-training-index", "version": 1, "clips": index});
    std::fs::write(
        out.join("index.json"),
        serde_json::to_string_pretty(&index)? + "\n",
    )?;
    eprintln!(
        "training set: {} clips in {:.1} s",
        specs.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
