//! GPU pass timings at an engine's resolution: a 1920x1080 RGBA8 frame with depth, normals and motion,
//! preprocessed for a 256x256 model and composited back. Each measurement submits the pass and waits for
//! the device, so it is the pass's wall time on this adapter (lavapipe on machines without a GPU).
//!
//!     cargo bench -p realmaster --bench passes
//!
//! `realmaster bench` measures the whole pipeline with a model; this splits the runtime's own stages.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use realmaster::gpu::composite::{CompositeParams, Compositor};
use realmaster::gpu::preprocess::{
    EdgeParams, ModelColorSpace, ModelResImages, PreprocessConfig, Preprocessor,
};
use realmaster::gpu::{AdapterPreference, GpuContext, GpuImage};
use realmaster::{ColorFormat, FrameRef, PlaneRef};

const W: u32 = 1920;
const H: u32 = 1080;
const MODEL: u32 = 256;

/// Engine-like planes: a lit checkerboard of "buildings" over a sky gradient, depth per block,
/// normals facing three ways, a steady pan (motion 3 px left, 1 px up).
struct Planes {
    color: Vec<u8>,
    depth: Vec<u8>,
    normals: Vec<u8>,
    motion: Vec<u8>,
}

impl Planes {
    fn new() -> Self {
        let n = (W * H) as usize;
        let mut p = Planes {
            color: Vec::with_capacity(n * 4),
            depth: Vec::with_capacity(n * 4),
            normals: Vec::with_capacity(n * 12),
            motion: Vec::with_capacity(n * 8),
        };
        for y in 0..H {
            for x in 0..W {
                let (bx, by) = (x / 96, y / 72);
                let building = y > H / 3 && (bx + by) % 3 != 0;
                let rgb = if building {
                    let v = 60 + ((bx * 37 + by * 11) % 120) as u8;
                    [v, v.saturating_sub(10), v.saturating_sub(25)]
                } else {
                    [110 + (y * 80 / H) as u8, 150 + (y * 60 / H) as u8, 230]
                };
                p.color.extend_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
                let z: f32 = if building {
                    5.0 + (bx % 7) as f32
                } else {
                    1000.0
                };
                p.depth.extend_from_slice(&z.to_le_bytes());
                let face = (bx % 3) as usize;
                let mut nrm = [0.0f32; 3];
                nrm[face] = 1.0;
                for c in nrm {
                    p.normals.extend_from_slice(&c.to_le_bytes());
                }
                for m in [-3.0f32, -1.0] {
                    p.motion.extend_from_slice(&m.to_le_bytes());
                }
            }
        }
        p
    }

    fn frame(&self) -> FrameRef<'_> {
        let mut f = FrameRef::color_only(W, H, ColorFormat::Rgba8Srgb, &self.color);
        f.depth = Some(PlaneRef::tight(&self.depth, W, 4));
        f.normals = Some(PlaneRef::tight(&self.normals, W, 12));
        f.motion = Some(PlaneRef::tight(&self.motion, W, 8));
        f
    }
}

fn wait(ctx: &GpuContext) {
    // A lost device shows up as absurd timings; the bench has nothing better to do with the error.
    let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
}

fn submit(ctx: &GpuContext, record: impl FnOnce(&mut wgpu::CommandEncoder)) {
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("bench"),
        });
    record(&mut enc);
    ctx.queue.submit([enc.finish()]);
    wait(ctx);
}

fn passes(c: &mut Criterion) {
    let ctx = match GpuContext::new(AdapterPreference::HighPerformance) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!(
                "passes bench: no GPU adapter ({e}); install mesa-vulkan-drivers (make setup)"
            );
            return;
        }
    };
    let planes = Planes::new();
    let frame = planes.frame();
    let cfg = PreprocessConfig {
        model_width: MODEL,
        model_height: MODEL,
        color_space: ModelColorSpace::Srgb,
        depth_scale: 10.0,
        edges: EdgeParams::default(),
    };
    let mut pre = match Preprocessor::new(&ctx, cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("passes bench: preprocessor: {e}");
            return;
        }
    };
    let model_res = ModelResImages::new(&ctx.device, &cfg);
    // A stand-in model output: the input at model size, so the residual is 0 but every pass runs.
    let out_lr = GpuImage::new(&ctx.device, "bench model output", MODEL, MODEL, 4);
    let no_model = GpuImage::new(&ctx.device, "bench no model", 1, 1, 4);
    let mut comp = Compositor::new(&ctx);
    let params = CompositeParams::default();

    let mut g = c.benchmark_group(format!(
        "{}x{} gbuffers -> {}x{} [{}]",
        W, H, MODEL, MODEL, ctx.summary.name
    ));
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    g.bench_function("upload+decode (56 MB)", |b| {
        b.iter(|| {
            if let Err(e) = pre.upload(&ctx, &frame) {
                eprintln!("upload: {e}");
            }
            wait(&ctx);
        })
    });
    let preprocess = |enc: &mut wgpu::CommandEncoder| {
        if let Err(e) = pre.record(&ctx, enc, &model_res) {
            eprintln!("record: {e}");
        }
    };
    g.bench_function("resample+edges", |b| b.iter(|| submit(&ctx, preprocess)));
    submit(&ctx, |enc| {
        preprocess(enc);
        enc.copy_buffer_to_buffer(
            &model_res.color_linear.buffer,
            0,
            &out_lr.buffer,
            0,
            out_lr.size_bytes(),
        );
    });
    let Some(images) = pre.frame() else {
        eprintln!("passes bench: no frame after upload");
        return;
    };
    // A model image of the wrong shape makes the compositor copy the input instead of upsampling
    // (it logs that once): what is left is the temporal pass.
    for (name, model_out) in [
        ("guided upsample+temporal", &out_lr),
        ("temporal only", &no_model),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                submit(&ctx, |enc| {
                    let lr_in = &model_res.color_linear;
                    comp.record_composite(&ctx, enc, images, model_out, lr_in, &params, false)
                })
            })
        });
    }
    g.bench_function("blend+encode rgba8", |b| {
        b.iter(|| {
            submit(&ctx, |enc| {
                comp.record_encode(&ctx, enc, images, ColorFormat::Rgba8Srgb, 1.0)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, passes);
criterion_main!(benches);
