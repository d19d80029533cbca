//! Writing what `render` produces: PNG frames, the before/after contact sheet, an mp4 via ffmpeg,
//! and reading a video file through ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use realmaster::frame::{linear_to_srgb, ColorFormat};
use realmaster::OutputFrame;

/// An 8-bit RGB picture for previews.
#[derive(Clone)]
pub struct Rgb8 {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Convert any engine-format buffer (tight) to 8-bit sRGB RGB for previews.
pub fn to_rgb8(width: u32, height: u32, format: ColorFormat, data: &[u8]) -> Rgb8 {
    let n = (width * height) as usize;
    let mut out = Vec::with_capacity(n * 3);
    let enc = |v: f32| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    for i in 0..n {
        match format {
            ColorFormat::Rgba8Srgb => out.extend_from_slice(&data[i * 4..i * 4 + 3]),
            ColorFormat::Bgra8Srgb => {
                out.extend_from_slice(&[data[i * 4 + 2], data[i * 4 + 1], data[i * 4]])
            }
            ColorFormat::Rgba16Float => {
                let c = |k: usize| {
                    half_to_f32(u16::from_le_bytes([
                        data[i * 8 + k * 2],
                        data[i * 8 + k * 2 + 1],
                    ]))
                };
                out.extend_from_slice(&[enc(c(0)), enc(c(1)), enc(c(2))]);
            }
            ColorFormat::Rgba32Float => {
                let c = |k: usize| {
                    f32::from_le_bytes(
                        data[i * 16 + k * 4..i * 16 + k * 4 + 4]
                            .try_into()
                            .unwrap_or([0; 4]),
                    )
                };
                out.extend_from_slice(&[enc(c(0)), enc(c(1)), enc(c(2))]);
            }
        }
    }
    Rgb8 {
        width,
        height,
        data: out,
    }
}

fn half_to_f32(h: u16) -> f32 {
    // IEEE 754 binary16 → f32 (kept local so the CLI needs no extra dependency).
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 => f32::INFINITY,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

pub fn output_rgb8(o: &OutputFrame) -> Rgb8 {
    to_rgb8(o.width, o.height, o.format, &o.data)
}

/// Write `img` as a PNG, whatever the file name says (render writes to temporary names).
pub fn write_png_as(path: &Path, img: &Rgb8) -> Result<()> {
    image::save_buffer_with_format(
        path,
        &img.data,
        img.width,
        img.height,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// Nearest-neighbour downscale to fit `max_w`, for the contact sheet.
fn fit(img: &Rgb8, max_w: u32) -> Rgb8 {
    if img.width <= max_w {
        return img.clone();
    }
    let w = max_w;
    let h = ((img.height as u64 * w as u64) / img.width as u64).max(1) as u32;
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let sy = (y as u64 * img.height as u64 / h as u64) as u32;
        for x in 0..w {
            let sx = (x as u64 * img.width as u64 / w as u64) as u32;
            let i = ((sy * img.width + sx) * 3) as usize;
            data.extend_from_slice(&img.data[i..i + 3]);
        }
    }
    Rgb8 {
        width: w,
        height: h,
        data,
    }
}

/// Two rows (before on top, after below) of up to `pairs.len()` frames, 4 px gutters.
pub fn contact_sheet(pairs: &[(Rgb8, Rgb8)], max_tile_w: u32) -> Option<Rgb8> {
    let tiles: Vec<(Rgb8, Rgb8)> = pairs
        .iter()
        .map(|(a, b)| (fit(a, max_tile_w), fit(b, max_tile_w)))
        .collect();
    let first = tiles.first()?;
    let (tw, th) = (first.0.width, first.0.height);
    let gap = 4;
    let w = tiles.len() as u32 * (tw + gap) + gap;
    let h = 2 * (th + gap) + gap;
    let mut data = vec![24u8; (w * h * 3) as usize];
    for (i, (a, b)) in tiles.iter().enumerate() {
        for (row, img) in [a, b].into_iter().enumerate() {
            let ox = gap + i as u32 * (tw + gap);
            let oy = gap + row as u32 * (th + gap);
            for y in 0..img.height.min(th) {
                let src =
                    &img.data[(y * img.width * 3) as usize..][..(img.width.min(tw) * 3) as usize];
                let dst = (((oy + y) * w + ox) * 3) as usize;
                data[dst..dst + src.len()].copy_from_slice(src);
            }
        }
    }
    Some(Rgb8 {
        width: w,
        height: h,
        data,
    })
}

pub fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Encode `dir/%04d.png` at `fps` into an H.264 mp4.
pub fn encode_mp4(frames_dir: &Path, fps: f64, out: &Path) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-framerate"])
        .arg(format!("{fps}"))
        .arg("-i")
        .arg(frames_dir.join("%04d.png"))
        .args([
            "-f",
            "mp4",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        ])
        .arg(out)
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg failed to encode {} ({status})", out.display());
    }
    Ok(())
}

/// Decode a video into PNG frames under `dir` and return (fps, frame paths).
pub fn decode_video(
    video: &Path,
    dir: &Path,
    max_frames: Option<usize>,
) -> Result<(f64, Vec<PathBuf>)> {
    if !ffmpeg_available() {
        bail!(
            "{} is a video file, and reading video needs ffmpeg (fix: install it, e.g. `apt-get install ffmpeg`, or pass a sequence folder)",
            video.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=r_frame_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(video)
        .output()
        .context("running ffprobe")?;
    let rate = String::from_utf8_lossy(&probe.stdout).trim().to_string();
    let fps = match rate.split_once('/') {
        Some((n, d)) => {
            n.parse::<f64>().unwrap_or(24.0) / d.parse::<f64>().unwrap_or(1.0).max(1e-9)
        }
        None => rate.parse().unwrap_or(24.0),
    };
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-y", "-loglevel", "error", "-i"]).arg(video);
    if let Some(n) = max_frames {
        cmd.args(["-frames:v", &n.to_string()]);
    }
    // Eight digits, and a numeric sort below: past 9,999 frames %04d names sort out of order.
    let status = cmd
        .arg(dir.join("%08d.png"))
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!(
            "ffmpeg could not decode {} ({status}); is it a video file?",
            video.display()
        );
    }
    let mut frames: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    sort_numerically(&mut frames);
    if frames.is_empty() {
        bail!("ffmpeg decoded no frames from {}", video.display());
    }
    Ok((fps, frames))
}

/// Sort frame files by the number in their name (10000.png after 9999.png), then by name.
pub fn sort_numerically(frames: &mut [PathBuf]) {
    frames.sort_by_key(|p| {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (stem.parse::<u64>().unwrap_or(u64::MAX), stem)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_past_9999_stay_in_order() {
        let mut v: Vec<PathBuf> = ["10000.png", "9999.png", "0001.png", "10001.png", "1000.png"]
            .iter()
            .map(PathBuf::from)
            .collect();
        sort_numerically(&mut v);
        let names: Vec<_> = v.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            ["0001.png", "1000.png", "9999.png", "10000.png", "10001.png"]
        );
        assert_eq!(crate::render::frame_name(12345), "12345.png");
        assert_eq!(crate::render::frame_name(7), "0007.png");
    }
}
