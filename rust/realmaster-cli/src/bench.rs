//! `realmaster bench`: per-stage timings and fps (median, p95), and realtime submit latency.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use realmaster::frame::{AuxKind, OwnedFrame};
use realmaster::{Mode, OutputFrame, Session};

use crate::render::{session_config, Source};
use crate::stats::{summarize, Summary};
use crate::ModelArgs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sequence folder (or video) to take frames from; frames repeat if it is shorter than --frames.
    pub sequence: PathBuf,
    /// Frames measured (after --warmup).
    #[arg(long, default_value_t = 60)]
    pub frames: usize,
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Resize the input frames to WxH first (e.g. 1920x1080) to measure at an engine's resolution.
    #[arg(long, value_parser = crate::parse_size)]
    pub input_size: Option<(u32, u32)>,
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub look: crate::LookArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(serde::Serialize)]
struct Report {
    input: (u32, u32),
    model_input: (u32, u32),
    execution_provider: String,
    /// Where the full-resolution passes ran: "gpu" or "cpu".
    backend: String,
    gpu: String,
    frames: usize,
    /// Cinematic mode, GPU waited on after each stage: per-stage milliseconds.
    stages: Vec<(String, Summary)>,
    /// GPU time per stage from timestamp queries (GPU backend on a device that has them).
    gpu_stages: Option<Vec<(String, Summary)>>,
    fps_cinematic: f64,
    /// (total - inference) / inference, at the median.
    runtime_overhead_ratio: f64,
    /// Realtime mode: how long `submit` (copies the frame) blocks the caller, milliseconds.
    realtime_submit: Summary,
    /// The same for `submit_owned` (swaps buffers with the caller, no copy).
    realtime_submit_owned: Summary,
    realtime_frames_output: u64,
    realtime_frames_dropped: u64,
    realtime_output_fps: f64,
    /// Diffusion packages only (null for a student): the graphs inside `inference`, milliseconds.
    diffusion: Option<DiffusionReport>,
    /// Bytes per frame the CPU-frame API moves: the copy `submit` makes (0 with `submit_owned`)
    /// and the transfers between CPU memory and the GPU (planes up, tensors, frame back).
    cpu_frame_path: TransferReport,
    /// The device path on a GPU (the frames as textures on the device, written to a texture);
    /// null without a GPU adapter.
    device_path: Option<DevicePathReport>,
}

#[derive(serde::Serialize)]
struct TransferReport {
    submit_copy_bytes: u64,
    transfer_bytes: u64,
}

#[derive(serde::Serialize)]
struct DevicePathReport {
    gpu: String,
    /// Wall time of `DeviceSession::process` plus the wait for the GPU, milliseconds.
    frame_ms: Summary,
    /// The same without the forward pass: the runtime's own cost per frame.
    runtime_ms: Summary,
    /// Bytes between CPU memory and the GPU per frame: the model's tensors only.
    transfer_bytes: u64,
}

#[derive(serde::Serialize)]
struct DiffusionReport {
    /// Denoiser steps per frame (K).
    steps: u32,
    /// One denoiser step (the frame's denoiser time / K).
    denoiser_step: Summary,
    /// All K steps of a frame.
    denoiser_total: Summary,
    vae_encoder: Summary,
    vae_decoder: Summary,
}

/// Per-frame diffusion timings gathered over the measured frames.
#[derive(Default)]
struct DiffusionSamples {
    steps: u32,
    step: Vec<f64>,
    total: Vec<f64>,
    encoder: Vec<f64>,
    decoder: Vec<f64>,
}

impl DiffusionSamples {
    fn push(&mut self, t: &realmaster::model::DiffusionTimings) {
        self.steps = self.steps.max(t.denoiser_steps);
        self.step.push(t.denoiser_step_ms());
        self.total.push(t.denoiser_ms);
        self.encoder.push(t.vae_encoder_ms);
        self.decoder.push(t.vae_decoder_ms);
    }

    fn report(&self) -> Option<DiffusionReport> {
        (!self.total.is_empty()).then(|| DiffusionReport {
            steps: self.steps,
            denoiser_step: summarize(&self.step),
            denoiser_total: summarize(&self.total),
            vae_encoder: summarize(&self.encoder),
            vae_decoder: summarize(&self.decoder),
        })
    }
}

/// Nearest-neighbour resize of every plane; motion vectors are rescaled with the image.
fn resize(src: &OwnedFrame, w: u32, h: u32) -> OwnedFrame {
    let mut dst = src.clone();
    dst.width = w;
    dst.height = h;
    let map = |data: &[u8], bpp: usize| -> Vec<u8> {
        let mut out = Vec::with_capacity((w * h) as usize * bpp);
        for y in 0..h {
            let sy = (y as u64 * src.height as u64 / h as u64) as usize;
            for x in 0..w {
                let sx = (x as u64 * src.width as u64 / w as u64) as usize;
                let i = (sy * src.width as usize + sx) * bpp;
                out.extend_from_slice(&data[i..i + bpp]);
            }
        }
        out
    };
    dst.color = map(&src.color, src.format.bytes_per_pixel());
    if src.has_depth {
        dst.depth = map(&src.depth, AuxKind::Depth.bytes_per_pixel());
    }
    if src.has_normals {
        dst.normals = map(&src.normals, AuxKind::Normals.bytes_per_pixel());
    }
    if src.has_motion {
        let m = map(&src.motion, AuxKind::Motion.bytes_per_pixel());
        let (sx, sy) = (w as f32 / src.width as f32, h as f32 / src.height as f32);
        dst.motion = m
            .chunks_exact(8)
            .flat_map(|c| {
                let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * sx;
                let y = f32::from_le_bytes([c[4], c[5], c[6], c[7]]) * sy;
                x.to_le_bytes().into_iter().chain(y.to_le_bytes())
            })
            .collect();
    }
    dst
}

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    if a.frames == 0 {
        bail!("--frames must be at least 1");
    }
    // Only the frames the bench uses are decoded from a video.
    let mut source = Source::open(&a.sequence, Some(a.frames.saturating_add(a.warmup)))?;
    let mut first = OwnedFrame::default();
    if !source.load(0, &mut first)? {
        bail!("{} has no frames", a.sequence.display());
    }
    let size = a.input_size.unwrap_or((first.width, first.height));
    let mut config = match session_config(&a.model, &a.look, Mode::Cinematic, &a.prompt, 1.0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    crate::render::fit_model_size(&mut config, size);
    let session = Session::new(config)?;
    // Before any frame is resized: an input size the GPU cannot hold is refused without
    // allocating it (a 16384x16384 frame with G-buffers is ~10 GB in memory).
    session.check_frame_size(size.0, size.1)?;
    let mut frames = Vec::new();
    for i in 0..source.len().min(a.frames + a.warmup) {
        let mut f = OwnedFrame::default();
        if !source.load(i, &mut f)? {
            break;
        }
        if let Some((w, h)) = a.input_size {
            f = resize(&f, w, h);
        }
        frames.push(f);
    }
    session.set_profiling(true);
    let frame = |i: usize| &frames[i % frames.len()];

    // Cinematic, profiled: every stage timed.
    let mut per_stage: Vec<Vec<f64>> = vec![Vec::new(); 8];
    let mut diffusion = DiffusionSamples::default();
    let mut gpu_samples: Vec<realmaster::gpu::timestamps::GpuStageTimes> = Vec::new();
    for i in 0..a.warmup + a.frames {
        session.submit(&frame(i).as_frame_ref())?;
        let t = session.last_timings();
        if i >= a.warmup {
            // The input checks run before the pipeline's own clock starts: added to the total.
            for (k, v) in [
                t.validate_ms,
                t.upload_ms,
                t.preprocess_ms,
                t.pack_ms,
                t.inference_ms,
                t.composite_ms,
                t.readback_ms,
                t.validate_ms + t.total_ms,
            ]
            .into_iter()
            .enumerate()
            {
                per_stage[k].push(v);
            }
            if let Some(d) = &t.diffusion {
                diffusion.push(d);
            }
            if let Some(g) = t.gpu {
                gpu_samples.push(g);
            }
        }
    }
    if let realmaster::Health::PassThrough { message, .. } = session.health() {
        bail!("the benchmark frames were not enhanced: {message}");
    }
    let names = [
        "input checks",
        "upload",
        "preprocess",
        "pack+tensor readback",
        "inference",
        "composite",
        "readback",
        "total",
    ];
    let stages: Vec<(String, Summary)> = names
        .iter()
        .zip(&per_stage)
        .map(|(n, v)| (n.to_string(), summarize(v)))
        .collect();
    let gpu_stages = (!gpu_samples.is_empty()).then(|| {
        (0..6)
            .map(|k| {
                let name = gpu_samples[0].named()[k].0.to_string();
                let v: Vec<f64> = gpu_samples.iter().map(|g| g.named()[k].1).collect();
                (name, summarize(&v))
            })
            .collect::<Vec<_>>()
    });
    let total = stages[7].1.median;
    let inference = stages[4].1.median;
    let overhead: Vec<f64> = per_stage[7]
        .iter()
        .zip(&per_stage[4])
        .map(|(t, i)| t - i)
        .collect();
    let overhead_ratio = summarize(&overhead).median / inference.max(1e-9);

    // Realtime: submit as an engine would, one frame per tick, never waiting for inference.
    session.set_profiling(false);
    session.set_mode(Mode::Realtime);
    session.reset_history();
    let before = session.stats();
    let mut submit_ms = Vec::new();
    let mut out = OutputFrame::default();
    let t0 = Instant::now();
    for i in 0..a.frames {
        let f = frame(i);
        let s = Instant::now();
        session.submit(&f.as_frame_ref())?;
        submit_ms.push(s.elapsed().as_secs_f64() * 1e3);
        // The engine's other work for the frame; here: read the latest output like a viewport would.
        session.latest_output(&mut out);
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    session.flush();
    let rt_secs = t0.elapsed().as_secs_f64();
    let after = session.stats();

    // Realtime again through submit_owned: the caller owns its frames (a readback ring), the
    // session swaps buffers instead of copying. Refilling the frame is the caller's work, untimed.
    let mut owned_ms = Vec::new();
    let mut mine = OwnedFrame::default();
    for i in 0..a.frames {
        frame(i).as_frame_ref().copy_into(&mut mine);
        let s = Instant::now();
        session.submit_owned(&mut mine)?;
        owned_ms.push(s.elapsed().as_secs_f64() * 1e3);
        session.latest_output(&mut out);
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    session.flush();

    let cpu_frame_path = TransferReport {
        submit_copy_bytes: frames[0].as_frame_ref().plane_bytes(),
        transfer_bytes: before.last_frame_transfer_bytes,
    };
    let device_path = match device_path(&a, &frames) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("bench: device path not measured: {e:#}");
            None
        }
    };

    let (w, h) = (frames[0].width, frames[0].height);
    let report = Report {
        input: (w, h),
        model_input: session.model_size().unwrap_or((0, 0)),
        execution_provider: session.execution_provider(),
        backend: session.stats().backend,
        gpu: session.gpu().unwrap_or("none").to_string(),
        frames: a.frames,
        fps_cinematic: 1000.0 / total.max(1e-9),
        runtime_overhead_ratio: overhead_ratio,
        stages,
        gpu_stages,
        realtime_submit: summarize(&submit_ms),
        realtime_submit_owned: summarize(&owned_ms),
        realtime_frames_output: after.frames_output - before.frames_output,
        realtime_frames_dropped: after.frames_dropped - before.frames_dropped,
        realtime_output_fps: (after.frames_output - before.frames_output) as f64 / rt_secs,
        diffusion: diffusion.report(),
        cpu_frame_path,
        device_path,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "input {}x{}  model {}x{}  EP {}  backend {}  GPU {}  frames {}",
            w,
            h,
            report.model_input.0,
            report.model_input.1,
            report.execution_provider,
            report.backend,
            report.gpu,
            report.frames
        );
        println!(
            "{:<24} {:>10} {:>10}",
            "stage (cinematic, ms)", "median", "p95"
        );
        for (n, s) in &report.stages {
            println!("{n:<24} {:>10.2} {:>10.2}", s.median, s.p95);
        }
        if let Some(g) = &report.gpu_stages {
            println!("GPU time per stage (timestamp queries, ms):");
            for (n, s) in g {
                println!("  {n:<22} {:>10.2} {:>10.2}", s.median, s.p95);
            }
        }
        if let Some(d) = &report.diffusion {
            println!("diffusion graphs (inside inference, ms, K = {}):", d.steps);
            for (n, s) in [
                ("  vae encoder", &d.vae_encoder),
                ("  denoiser, per step", &d.denoiser_step),
                ("  denoiser, all steps", &d.denoiser_total),
                ("  vae decoder", &d.vae_decoder),
            ] {
                println!("{n:<24} {:>10.2} {:>10.2}", s.median, s.p95);
            }
        }
        println!(
            "fps (cinematic, every frame inferred): {:.1}",
            report.fps_cinematic
        );
        println!(
            "runtime overhead / forward pass (median): {:.1}%",
            100.0 * report.runtime_overhead_ratio
        );
        println!(
            "realtime submit: median {:.3} ms, p95 {:.3} ms; {} frames shown, {} dropped, {:.1} output fps at a 16 ms tick",
            report.realtime_submit.median, report.realtime_submit.p95, report.realtime_frames_output, report.realtime_frames_dropped, report.realtime_output_fps
        );
        println!(
            "realtime submit_owned (buffer swap, no copy): median {:.3} ms, p95 {:.3} ms",
            report.realtime_submit_owned.median, report.realtime_submit_owned.p95
        );
        println!(
            "CPU-frame path per frame: submit copies {:.1} MB; {:.1} MB between CPU and GPU",
            report.cpu_frame_path.submit_copy_bytes as f64 / 1e6,
            report.cpu_frame_path.transfer_bytes as f64 / 1e6
        );
        if let Some(d) = &report.device_path {
            println!(
                "device path on {}: {:.2} ms per frame (median, GPU waited on), runtime without the forward pass {:.2} ms; {:.2} MB between CPU and GPU (model tensors only)",
                d.gpu,
                d.frame_ms.median,
                d.runtime_ms.median,
                d.transfer_bytes as f64 / 1e6
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The frames as textures on a GPU device (the host's), through a `DeviceSession`, cinematic.
fn device_path(a: &BenchArgs, frames: &[OwnedFrame]) -> Result<DevicePathReport> {
    use realmaster::gpu::{AdapterPreference, GpuContext};
    use realmaster::{DepthEncoding, DeviceFrame, DeviceSession, MotionEncoding, NormalEncoding};

    let own = GpuContext::new(AdapterPreference::HighPerformance)?;
    let info = own
        .adapter
        .as_ref()
        .map(|a| a.get_info())
        .ok_or_else(|| anyhow::anyhow!("no adapter"))?;
    let host = GpuContext::from_host(own.device, own.queue, &info)?;
    let (device, queue) = (host.device.clone(), host.queue.clone());
    let f0 = &frames[0];
    let (w, h) = (f0.width, f0.height);
    let texture = |format: wgpu::TextureFormat, usage: wgpu::TextureUsages| {
        device.create_texture(&wgpu::TextureDescriptor {
            label: Some("bench host texture"),
            size: wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: usage | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        })
    };
    let sampled = wgpu::TextureUsages::TEXTURE_BINDING;
    let color_format = match f0.format {
        realmaster::ColorFormat::Rgba8Srgb => wgpu::TextureFormat::Rgba8Unorm,
        realmaster::ColorFormat::Bgra8Srgb => wgpu::TextureFormat::Bgra8Unorm,
        realmaster::ColorFormat::Rgba16Float => wgpu::TextureFormat::Rgba16Float,
        realmaster::ColorFormat::Rgba32Float => wgpu::TextureFormat::Rgba32Float,
    };
    let write = |t: &wgpu::Texture, data: &[u8], bpp: u32| {
        queue.write_texture(
            t.as_image_copy(),
            data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * bpp),
                rows_per_image: Some(h),
            },
            t.size(),
        );
    };
    // The "engine's" textures, written once: the engine renders them on the GPU, so their upload
    // is not the runtime's cost.
    let color = texture(color_format, sampled);
    write(&color, &f0.color, f0.format.bytes_per_pixel() as u32);
    let depth = f0.has_depth.then(|| {
        let t = texture(wgpu::TextureFormat::R32Float, sampled);
        write(&t, &f0.depth, 4);
        t
    });
    let normals = f0.has_normals.then(|| {
        let t = texture(wgpu::TextureFormat::Rgba32Float, sampled);
        let padded: Vec<u8> = f0
            .normals
            .chunks_exact(12)
            .flat_map(|n| n.iter().copied().chain(0f32.to_le_bytes()))
            .collect();
        write(&t, &padded, 16);
        t
    });
    let motion = f0.has_motion.then(|| {
        let t = texture(wgpu::TextureFormat::Rg32Float, sampled);
        write(&t, &f0.motion, 8);
        t
    });
    let output = texture(
        wgpu::TextureFormat::Rgba8Unorm,
        wgpu::TextureUsages::STORAGE_BINDING,
    );
    let mut config = session_config(&a.model, &a.look, Mode::Cinematic, &a.prompt, 1.0)?;
    crate::render::fit_model_size(&mut config, (w, h));
    let gpu = format!("{} ({})", host.summary.name, host.summary.backend);
    let mut session = DeviceSession::new(host, config)?;
    let frame = DeviceFrame {
        color: &color,
        depth: depth.as_ref().map(|t| (t, DepthEncoding::ViewDistance)),
        normals: normals.as_ref().map(|t| (t, NormalEncoding::View)),
        motion: motion
            .as_ref()
            .map(|t| (t, MotionEncoding::PixelsToPrevious)),
        camera_cut: false,
        light: None,
    };
    let (mut frame_ms, mut runtime_ms) = (Vec::new(), Vec::new());
    let mut transfer = 0;
    for i in 0..a.warmup + a.frames {
        let t = Instant::now();
        let r = session.process(&frame, &output);
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| anyhow::anyhow!("GPU wait: {e}"))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if let Some(e) = r.error {
            bail!("device path frame {i}: {e}");
        }
        if i >= a.warmup {
            frame_ms.push(ms);
            runtime_ms.push(ms - r.timings.inference_ms);
            transfer = r.transfer_bytes;
        }
    }
    Ok(DevicePathReport {
        gpu,
        frame_ms: summarize(&frame_ms),
        runtime_ms: summarize(&runtime_ms),
        transfer_bytes: transfer,
    })
}
