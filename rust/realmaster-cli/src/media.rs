//! Writing what `render` produces: PNG frames, the before/after contact sheet, an mp4 via ffmpeg,
//! and reading a video file through ffmpeg.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{anyhow, bail, Context, Result};
use realmaster::frame::{linear_to_srgb, ColorFormat, OwnedFrame};
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

/// What ffprobe reports about a video's first video stream.
#[derive(Debug, Clone, Copy)]
pub struct VideoInfo {
    pub fps: f64,
    /// Packets counted by demuxing the whole file (no decoding): one per frame for video codecs.
    pub frames: usize,
}

fn needs_ffmpeg(video: &Path) -> anyhow::Error {
    anyhow!(
        "{} is a video file, and reading video needs ffmpeg and ffprobe (fix: install them, e.g. `apt-get install ffmpeg`, or pass a sequence folder)",
        video.display()
    )
}

/// Ctrl-C in a terminal signals the whole foreground process group. ffmpeg and ffprobe get a
/// group of their own, so they do not die under `render` while it finishes the frame in hand;
/// `render` ends them itself (see `VideoStream`'s drop).
fn own_process_group(cmd: &mut Command) -> &mut Command {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.trim().to_string()
}

/// Frame rate and frame count of `video`'s first video stream, with clear errors for a missing
/// ffmpeg, a file that is not a video and a file without a video stream.
pub fn probe_video(video: &Path) -> Result<VideoInfo> {
    if !ffmpeg_available() {
        return Err(needs_ffmpeg(video));
    }
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-count_packets",
        "-show_entries",
        "stream=r_frame_rate,nb_read_packets",
        "-of",
        "json",
    ])
    .arg(video)
    .stdin(Stdio::null());
    let out = match own_process_group(&mut cmd).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(needs_ffmpeg(video)),
        Err(e) => return Err(e).context("running ffprobe"),
    };
    if !out.status.success() {
        bail!(
            "{} is not a video that ffmpeg can read ({}) (fix: pass a video file, or a sequence folder with sequence.json)",
            video.display(),
            first_line(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("reading what ffprobe says about {}", video.display()))?;
    let Some(stream) = v["streams"].get(0) else {
        bail!(
            "{} has no video stream (fix: pass a video file, or a sequence folder with sequence.json)",
            video.display()
        );
    };
    let rate = stream["r_frame_rate"].as_str().unwrap_or("");
    let fps = match rate.split_once('/') {
        Some((n, d)) => n.parse::<f64>().unwrap_or(0.0) / d.parse::<f64>().unwrap_or(0.0),
        None => rate.parse().unwrap_or(0.0),
    };
    // Still images and some streams report 0/0.
    let fps = if fps.is_finite() && fps > 0.0 {
        fps
    } else {
        24.0
    };
    let frames = stream["nb_read_packets"]
        .as_str()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    if frames == 0 {
        bail!("{} has a video stream without frames", video.display());
    }
    Ok(VideoInfo { fps, frames })
}

/// Bytes of ffmpeg's error output kept for messages (it may log a line per damaged frame).
const STDERR_TAIL: usize = 4096;

/// A video decoded by ffmpeg as it is read: ffmpeg writes one PPM picture (8-bit RGB, its own
/// size in its header) per frame into a pipe, and blocks while the pipe is full. Nothing goes
/// to disk and memory holds about one frame, however long the video. Dropping the stream ends
/// ffmpeg, so every exit path (errors, Ctrl-C/SIGTERM) leaves no process and no file behind.
pub struct VideoStream {
    video: PathBuf,
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    rgb: Vec<u8>,
    read: usize,
}

impl VideoStream {
    /// Start decoding the first video stream of `video`, at most `limit` frames. One output
    /// frame per decoded frame (`-vsync passthrough`: no frames duplicated or dropped to a
    /// constant rate), in decode order.
    pub fn open(video: &Path, limit: usize) -> Result<VideoStream> {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-loglevel", "error", "-i"])
            .arg(video)
            .args(["-map", "0:v:0", "-vsync", "passthrough", "-frames:v"])
            .arg(limit.to_string())
            .args([
                "-f",
                "image2pipe",
                "-c:v",
                "ppm",
                "-pix_fmt",
                "rgb24",
                "pipe:1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match own_process_group(&mut cmd).spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(needs_ffmpeg(video)),
            Err(e) => return Err(e).context("running ffmpeg"),
        };
        let stdout = match child.stdout.take() {
            Some(s) => BufReader::with_capacity(1 << 20, s),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("internal error: ffmpeg's output pipe is missing (please report this)");
            }
        };
        // Read stderr on a thread: a full stderr pipe would stall ffmpeg and with it the frames.
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let stderr_thread = child.stderr.take().map(|mut err| {
            let tail = stderr_tail.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail.lock() {
                        t.extend_from_slice(&buf[..n]);
                        let excess = t.len().saturating_sub(STDERR_TAIL);
                        t.drain(..excess);
                    }
                }
            })
        });
        Ok(VideoStream {
            video: video.to_path_buf(),
            child,
            stdout,
            stderr_tail,
            stderr_thread,
            rgb: Vec::new(),
            read: 0,
        })
    }

    /// Frames decoded so far (the index of the next one).
    pub fn frames_read(&self) -> usize {
        self.read
    }

    /// ffmpeg's last error line, once it has exited.
    fn stderr_line(&mut self) -> String {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        self.stderr_tail
            .lock()
            .map(|t| first_line(&t))
            .unwrap_or_default()
    }

    /// Decode the next frame into `dst` (RGBA8 sRGB, colour only). Ok(false) when the video
    /// has ended (or `limit` frames were read); an error when ffmpeg failed.
    pub fn next_frame(&mut self, dst: &mut OwnedFrame) -> Result<bool> {
        let header = read_ppm(&mut self.stdout, &mut self.rgb);
        let (w, h) = match header {
            Ok(Some(size)) => size,
            Ok(None) => {
                let status = self.child.wait().context("waiting for ffmpeg")?;
                if !status.success() {
                    let line = self.stderr_line();
                    bail!(
                        "ffmpeg could not decode {} after {} frame(s) ({status}): {line}",
                        self.video.display(),
                        self.read
                    );
                }
                return Ok(false);
            }
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let line = self.stderr_line();
                return Err(e).with_context(|| {
                    format!(
                        "reading frame {} of {} from ffmpeg{}",
                        self.read,
                        self.video.display(),
                        if line.is_empty() {
                            String::new()
                        } else {
                            format!(" (ffmpeg: {line})")
                        }
                    )
                });
            }
        };
        dst.width = w;
        dst.height = h;
        dst.format = ColorFormat::Rgba8Srgb;
        dst.color.clear();
        dst.color.reserve(self.rgb.len() / 3 * 4);
        for p in self.rgb.chunks_exact(3) {
            dst.color.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
        for plane in [&mut dst.depth, &mut dst.normals, &mut dst.motion] {
            plane.clear();
        }
        dst.has_depth = false;
        dst.has_normals = false;
        dst.has_motion = false;
        dst.camera_cut = false;
        self.read += 1;
        Ok(true)
    }
}

impl Drop for VideoStream {
    fn drop(&mut self) {
        // ffmpeg may still be decoding ahead (blocked on the pipe): end it and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

/// One byte, retrying reads interrupted by a signal (Ctrl-C is handled, not fatal).
fn read_byte(r: &mut impl Read) -> std::io::Result<Option<u8>> {
    let mut b = [0u8];
    loop {
        match r.read(&mut b) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The next header field of a PPM picture ('#' comments skipped), and the one whitespace byte
/// after it (after the last field, the pixels start right behind that byte).
fn ppm_field(r: &mut impl Read) -> Result<String> {
    let mut field = Vec::new();
    let mut comment = false;
    loop {
        let Some(c) = read_byte(r)? else {
            bail!("ffmpeg's output ended inside a picture header");
        };
        if comment {
            comment = c != b'\n';
        } else if c == b'#' && field.is_empty() {
            comment = true;
        } else if c.is_ascii_whitespace() {
            if !field.is_empty() {
                break;
            }
        } else if field.len() < 16 {
            field.push(c);
        } else {
            bail!("ffmpeg's output is not a PPM picture (header field too long)");
        }
    }
    Ok(String::from_utf8_lossy(&field).into_owned())
}

/// Read one binary PPM picture (P6, 8 bits per channel) into `rgb`: its size, or None where the
/// stream ends cleanly before a picture.
fn read_ppm(r: &mut impl BufRead, rgb: &mut Vec<u8>) -> Result<Option<(u32, u32)>> {
    loop {
        match r.fill_buf() {
            Ok([]) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let magic = ppm_field(r)?;
    if magic != "P6" {
        bail!("ffmpeg's output is not a PPM picture (starts with '{magic}')");
    }
    let mut number = |what: &str| -> Result<u32> {
        let f = ppm_field(r)?;
        f.parse::<u32>()
            .ok()
            .filter(|v| *v > 0)
            .with_context(|| format!("ffmpeg's picture header has a bad {what} '{f}'"))
    };
    let (w, h, max) = (number("width")?, number("height")?, number("maximum")?);
    if max != 255 {
        bail!("ffmpeg sent {max}-valued pixels where 8-bit RGB (255) was asked for");
    }
    let len = (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
        .with_context(|| format!("a {w}x{h} frame is too large"))?;
    rgb.resize(len, 0);
    r.read_exact(rgb)
        .context("ffmpeg's output ended in the middle of a frame")?;
    Ok(Some((w, h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_keep_numeric_order_past_9999() {
        assert_eq!(crate::render::frame_name(12345), "12345.png");
        assert_eq!(crate::render::frame_name(7), "0007.png");
        // The names ffmpeg's %04d pattern reads back for the mp4, in order.
        assert_eq!(crate::render::frame_name(9999), format!("{:04}.png", 9999));
        assert_eq!(
            crate::render::frame_name(10000),
            format!("{:04}.png", 10000)
        );
    }

    #[test]
    fn ppm_pictures_parse_and_truncation_is_an_error() {
        let mut bytes = b"P6\n2 1\n255\n".to_vec();
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        bytes.extend_from_slice(b"P6 # a comment\n1 1 255\n");
        bytes.extend_from_slice(&[7, 8, 9]);
        let mut r = std::io::Cursor::new(bytes);
        let mut rgb = Vec::new();
        assert_eq!(read_ppm(&mut r, &mut rgb).unwrap(), Some((2, 1)));
        assert_eq!(rgb, [1, 2, 3, 4, 5, 6]);
        assert_eq!(read_ppm(&mut r, &mut rgb).unwrap(), Some((1, 1)));
        assert_eq!(rgb, [7, 8, 9]);
        assert_eq!(read_ppm(&mut r, &mut rgb).unwrap(), None);

        let mut cut = std::io::Cursor::new(b"P6\n4 4\n255\n\x01\x02".to_vec());
        let e = read_ppm(&mut cut, &mut rgb).unwrap_err();
        assert!(format!("{e:#}").contains("middle of a frame"), "{e:#}");
        let mut wrong = std::io::Cursor::new(b"P5\n1 1\n255\n\x00".to_vec());
        assert!(read_ppm(&mut wrong, &mut rgb).is_err());
        let mut deep = std::io::Cursor::new(b"P6\n1 1\n65535\n\x00\x00".to_vec());
        assert!(read_ppm(&mut deep, &mut rgb).is_err());
    }

    /// Frame index encoded in 16 vertical stripes of 4 pixels, bit k in stripe k (white = 1).
    fn stripe_index(f: &OwnedFrame) -> usize {
        (0..16)
            .filter(|k| f.color[(k * 4 + 2) * 4] > 128)
            .map(|k| 1usize << k)
            .sum()
    }

    /// A video of 10,050 frames (past the 9,999 where `%04d` names used to sort out of order),
    /// each frame showing its own index, streams back in order, frame by frame, and leaves
    /// nothing on disk.
    #[test]
    fn video_streams_in_order_past_9999_frames() {
        if !ffmpeg_available() {
            eprintln!("skipped: ffmpeg is not installed (setup installs it; CI runs this test)");
            return;
        }
        let dir =
            std::env::temp_dir().join(format!("realmaster-stream-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let video = dir.join("count.mp4");
        let frames = 10_050;
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!(
                "color=c=black:s=64x8:r=25:d={},format=gray,geq=lum='255*mod(floor(N/pow(2,floor(X/4))),2)'",
                frames / 25
            ))
            .args(["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"])
            .arg(&video)
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg could not make the test video");
        let before: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();

        let info = probe_video(&video).unwrap();
        assert_eq!(info.frames, frames);
        assert!((info.fps - 25.0).abs() < 1e-9);
        let mut stream = VideoStream::open(&video, info.frames).unwrap();
        let mut f = OwnedFrame::default();
        let mut n = 0;
        while stream.next_frame(&mut f).unwrap() {
            assert_eq!((f.width, f.height), (64, 8));
            assert_eq!(stripe_index(&f), n, "frame {n} out of order");
            n += 1;
        }
        assert_eq!(n, frames);
        // A limit stops ffmpeg early; dropping a stream mid-video ends ffmpeg.
        let mut short = VideoStream::open(&video, 3).unwrap();
        for _ in 0..3 {
            assert!(short.next_frame(&mut f).unwrap());
        }
        assert!(!short.next_frame(&mut f).unwrap());
        let mut partial = VideoStream::open(&video, frames).unwrap();
        assert!(partial.next_frame(&mut f).unwrap());
        let pid = partial.child.id();
        drop(partial);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || cfg!(not(target_os = "linux")),
            "ffmpeg still running after the stream was dropped"
        );
        let after: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(before, after, "decoding wrote files");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn not_a_video_is_a_clear_error() {
        if !ffmpeg_available() {
            eprintln!("skipped: ffmpeg is not installed (setup installs it; CI runs this test)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("realmaster-notvideo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("notes.mp4");
        std::fs::write(&text, "not a video").unwrap();
        let e = format!("{:#}", probe_video(&text).unwrap_err());
        assert!(e.contains("is not a video that ffmpeg can read"), "{e}");
        assert!(e.contains("fix:"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
