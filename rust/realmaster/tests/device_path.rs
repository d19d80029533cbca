//! The device path: a host that owns its wgpu device hands RealMaster its textures and an output
//! texture. Checked here on whatever adapter the machine has (lavapipe in CI):
//! - the import pass converts the host's conventions exactly as its CPU reference does;
//! - a DeviceSession on the bundled city_pan (cinematic) gives the CPU-frame API's output (the
//!   same passes after the import) within one 8-bit step, bit-identically run to run;
//! - per frame only the model's tensors cross to the CPU, counted, against the CPU-frame path's
//!   full-resolution planes;
//! - bad textures are refused with the texture named, counted, and show the input where possible;
//! - each frame's light reaches a model that reads it, and the frames without one are counted.

mod model_support;
mod shipped;
use shipped::{read_rgba8, root, student_config};

use realmaster::gpu::host::{reference, Import};
use realmaster::gpu::kernel::read_image;
use realmaster::gpu::preprocess::{PreprocessConfig, Preprocessor};
use realmaster::gpu::{AdapterPreference, GpuContext};
use realmaster::sequence::Sequence;
use realmaster::{
    Backend, DepthEncoding, DeviceFrame, DeviceSession, Health, MotionEncoding, NormalEncoding,
    OutputFrame, Session,
};

const FRAMES: u32 = 4;

/// A "host": a device of its own, as an engine has.
fn host() -> GpuContext {
    let own = GpuContext::new(AdapterPreference::HighPerformance).expect("a GPU adapter");
    let info = own.adapter.as_ref().expect("adapter").get_info();
    GpuContext::from_host(own.device, own.queue, &info).expect("host device")
}

fn texture(
    ctx: &GpuContext,
    (w, h): (u32, u32),
    format: wgpu::TextureFormat,
    data: &[u8],
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    let t = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("host texture"),
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
    });
    if !data.is_empty() {
        let bpp = data.len() as u32 / (w * h);
        ctx.queue.write_texture(
            t.as_image_copy(),
            data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * bpp),
                rows_per_image: Some(h),
            },
            t.size(),
        );
    }
    t
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

const SAMPLED: wgpu::TextureUsages = wgpu::TextureUsages::TEXTURE_BINDING;

#[test]
fn import_converts_host_conventions_like_its_cpu_reference() {
    let ctx = host();
    let (w, h) = (8u32, 4u32);
    let n = (w * h) as usize;
    let depth: Vec<f32> = (0..n)
        .map(|i| match i {
            0 => 0.0,      // background
            1 => f32::NAN, // bad value
            _ => 0.01 + i as f32 * 0.02,
        })
        .collect();
    let normals: Vec<f32> = (0..n)
        .flat_map(|i| {
            let a = i as f32 * 0.3;
            [0.5 + 0.4 * a.cos(), 0.5 + 0.4 * a.sin(), 0.8, 1.0]
        })
        .collect();
    let motion: Vec<f32> = (0..n)
        .flat_map(|i| [0.01 * (i % 5) as f32 - 0.02, -0.005 * (i % 3) as f32])
        .collect();
    let color: Vec<u8> = (0..n * 4).map(|i| (i * 37 % 256) as u8).collect();
    let rot = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]];
    let (de, ne, me) = (
        DepthEncoding::ReverseZ { near: 0.1 },
        NormalEncoding::UnormWorld { world_to_view: rot },
        MotionEncoding::UvCurrentMinusPrevious,
    );
    let ct = texture(
        &ctx,
        (w, h),
        wgpu::TextureFormat::Rgba8Unorm,
        &color,
        SAMPLED,
    );
    let dt = texture(
        &ctx,
        (w, h),
        wgpu::TextureFormat::R32Float,
        &f32_bytes(&depth),
        SAMPLED,
    );
    let nt = texture(
        &ctx,
        (w, h),
        wgpu::TextureFormat::Rgba32Float,
        &f32_bytes(&normals),
        SAMPLED,
    );
    let mt = texture(
        &ctx,
        (w, h),
        wgpu::TextureFormat::Rg32Float,
        &f32_bytes(&motion),
        SAMPLED,
    );
    let frame = DeviceFrame {
        color: &ct,
        depth: Some((&dt, de)),
        normals: Some((&nt, ne)),
        motion: Some((&mt, me)),
        camera_cut: false,
        light: None,
    };
    let cfg = PreprocessConfig {
        model_width: 4,
        model_height: 2,
        color_space: Default::default(),
        depth_scale: 10.0,
        edges: Default::default(),
    };
    let mut pre = Preprocessor::new(&ctx, cfg).unwrap();
    let mut import = Import::new(&ctx.device);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    pre.import(&ctx, &mut enc, &mut import, &frame).unwrap();
    ctx.queue.submit([enc.finish()]);
    let images = pre.frame().unwrap();
    let read = |img| read_image(&ctx.device, &ctx.queue, img).unwrap();
    let (gd, gn, gm, gc) = (
        read(images.depth.as_ref().unwrap()),
        read(images.normals.as_ref().unwrap()),
        read(images.motion.as_ref().unwrap()),
        read(&images.color),
    );
    for i in 0..n {
        let want = reference::depth(depth[i], de);
        assert!(
            (gd[i] - want).abs() <= 1e-5 * want.abs().max(1.0),
            "depth {i}: {} vs {want}",
            gd[i]
        );
        let nw = reference::normal([normals[i * 4], normals[i * 4 + 1], normals[i * 4 + 2]], ne);
        let mw = reference::motion([motion[i * 2], motion[i * 2 + 1]], me, (w, h));
        for c in 0..4 {
            assert!((gn[i * 4 + c] - nw[c]).abs() < 1e-5, "normal {i}.{c}");
            assert!((gm[i * 4 + c] - mw[c]).abs() < 1e-4, "motion {i}.{c}");
        }
        // Colour: plain unorm texels are sRGB-encoded, decoded like the CPU API's RGBA8 sRGB.
        for c in 0..3 {
            let v = color[i * 4 + c] as f32 / 255.0;
            let want = realmaster::frame::srgb_to_linear(v);
            assert!((gc[i * 4 + c] - want).abs() < 1e-5, "colour {i}.{c}");
        }
    }
    assert_eq!(gd[0], realmaster::frame::MAX_DEPTH, "background depth");
    assert_eq!(gd[1], realmaster::frame::MAX_DEPTH, "NaN depth");
    // Sanity of the conventions themselves: UV current-previous (+y down) becomes pixels to the
    // previous frame; unorm world normals become unit view normals.
    assert_eq!(
        reference::motion([0.5, -0.25], me, (w, h)),
        [-4.0, 1.0, 0.0, 0.0]
    );
    let nv = reference::normal([1.0, 0.5, 0.5], ne);
    assert_eq!(nv, [0.0, 0.0, -1.0, 0.0]);
}

/// city_pan's frames as host textures; the output texture.
struct HostFrames {
    color: wgpu::Texture,
    depth: wgpu::Texture,
    normals: wgpu::Texture,
    motion: wgpu::Texture,
    /// The frame's sun as the sequence gives it, passed as a host passes its scene's light.
    light: Option<realmaster::SceneLight>,
}

fn host_frames(ctx: &GpuContext, f: &realmaster::OwnedFrame) -> HostFrames {
    let size = (f.width, f.height);
    let normals: Vec<u8> = f
        .normals
        .chunks_exact(12)
        .flat_map(|n| n.iter().copied().chain(0f32.to_le_bytes()))
        .collect();
    HostFrames {
        color: texture(
            ctx,
            size,
            wgpu::TextureFormat::Rgba8Unorm,
            &f.color,
            SAMPLED,
        ),
        depth: texture(ctx, size, wgpu::TextureFormat::R32Float, &f.depth, SAMPLED),
        normals: texture(
            ctx,
            size,
            wgpu::TextureFormat::Rgba32Float,
            &normals,
            SAMPLED,
        ),
        motion: texture(
            ctx,
            size,
            wgpu::TextureFormat::Rg32Float,
            &f.motion,
            SAMPLED,
        ),
        light: f.light,
    }
}

fn output_texture(ctx: &GpuContext, w: u32, h: u32) -> wgpu::Texture {
    texture(
        ctx,
        (w, h),
        wgpu::TextureFormat::Rgba8Unorm,
        &[],
        wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
    )
}

/// Every frame's output bytes and transfer bytes through the device path (`deferred`: the host
/// submits the session's command buffers itself, as a render graph does).
fn run_device(seq: &Sequence) -> (Vec<Vec<u8>>, Vec<u64>) {
    run_device_mode(seq, false)
}

fn run_device_mode(seq: &Sequence, deferred: bool) -> (Vec<Vec<u8>>, Vec<u64>) {
    let ctx = host();
    let mut outs = Vec::new();
    let mut bytes = Vec::new();
    let first = seq.load_frame(0).unwrap().frame;
    let out = output_texture(&ctx, first.width, first.height);
    let frames: Vec<HostFrames> = (0..FRAMES)
        .map(|i| host_frames(&ctx, &seq.load_frame(i).unwrap().frame))
        .collect();
    // The session shares the host's device and queue.
    let mut s =
        DeviceSession::new(ctx.clone(), student_config(Backend::Gpu)).expect("device session");
    for (i, hf) in frames.iter().enumerate() {
        let frame = DeviceFrame {
            color: &hf.color,
            depth: Some((&hf.depth, DepthEncoding::ViewDistance)),
            normals: Some((&hf.normals, NormalEncoding::View)),
            motion: Some((&hf.motion, MotionEncoding::PixelsToPrevious)),
            camera_cut: false,
            light: hf.light,
        };
        let r = if deferred {
            let (r, buffers) = s.process_deferred(&frame, &out);
            assert!(
                !buffers.is_empty(),
                "frame {i}: the work comes back to the host"
            );
            ctx.queue.submit(buffers);
            r
        } else {
            s.process(&frame, &out)
        };
        assert!(r.error.is_none(), "frame {i}: {:?}", r.error);
        // Deferred: the first frame has no model output yet and shows the input.
        assert_eq!(
            r.enhanced,
            !deferred || i > 0,
            "frame {i}: {:?}",
            s.health()
        );
        outs.push(read_rgba8(&ctx, &out));
        bytes.push(r.transfer_bytes);
    }
    assert_eq!(s.stats().frames_failed, 0);
    assert_eq!(s.stats().backend, "gpu");
    (outs, bytes)
}

#[test]
fn device_path_matches_the_cpu_frame_api_and_moves_only_model_tensors() {
    let seq = Sequence::open(root().join("samples/city_pan")).expect("samples/city_pan");
    let (dev, dev_bytes) = run_device(&seq);
    let (dev2, _) = run_device(&seq);
    assert_eq!(
        dev, dev2,
        "cinematic device path is deterministic run to run"
    );

    let s = Session::new(student_config(Backend::Gpu)).expect("session");
    let mut o = OutputFrame::default();
    for (i, want) in dev.iter().enumerate() {
        let f = seq.load_frame(i as u32).unwrap();
        s.submit(&f.frame.as_frame_ref()).unwrap();
        assert!(s.latest_output(&mut o) && o.enhanced);
        let max = o
            .data
            .iter()
            .zip(want)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let cpu_bytes = s.stats().last_frame_transfer_bytes;
        println!(
            "frame {i}: max |device - cpu-frame API| = {max} steps; bytes through the CPU: device path {}, CPU-frame path {cpu_bytes}",
            dev_bytes[i]
        );
        assert!(max <= 1, "frame {i}: device path differs by {max} steps");
        // Model tensors only: the packed inputs (128x64, window + aux planes) and the 3-channel output.
        let (w, h) = (o.width as u64, o.height as u64);
        assert!(
            dev_bytes[i] > 0 && dev_bytes[i] < 128 * 64 * 4 * 40,
            "frame {i}: {}",
            dev_bytes[i]
        );
        // The CPU-frame path also moves the full-resolution colour up, the depth, normals and
        // motion at model size (resampled on the CPU: encoded depth, depth z, normals and motion
        // as 1, 1, 4 and 4 floats a pixel), and the frame back.
        let (mw, mh) = (128u64, 64u64);
        let planes = w * h * 4 + mw * mh * (1 + 1 + 4 + 4) * 4 + w * h * 4;
        assert_eq!(cpu_bytes, dev_bytes[i] + planes, "frame {i}");
    }
}

#[test]
fn deferred_submission_shows_the_look_one_frame_late_deterministically() {
    let seq = Sequence::open(root().join("samples/city_pan")).expect("samples/city_pan");
    let (deferred, bytes) = run_device_mode(&seq, true);
    let (again, _) = run_device_mode(&seq, true);
    assert_eq!(
        deferred, again,
        "cinematic deferred path is deterministic run to run"
    );
    let (immediate, _) = run_device(&seq);
    // Frame 0 is the input itself (sRGB bytes, as the host's texture holds them).
    let f0 = seq.load_frame(0).unwrap().frame;
    assert_eq!(deferred[0], f0.color, "frame 0 shows the untouched input");
    for i in 1..deferred.len() {
        let mean = |a: &[u8], b: &[u8]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.abs_diff(*y) as f64)
                .sum::<f64>()
                / a.len() as f64
        };
        let fi = seq.load_frame(i as u32).unwrap().frame;
        let (to_immediate, to_input) = (
            mean(&deferred[i], &immediate[i]),
            mean(&deferred[i], &fi.color),
        );
        println!(
            "frame {i}: deferred vs immediate {to_immediate:.2} steps, vs input {to_input:.2}; {} bytes through the CPU",
            bytes[i]
        );
        // The look of frame i-1 carried to frame i: near the immediate output, and a real change
        // of the input.
        assert!(to_immediate < to_input, "frame {i}");
        assert!(to_input > 1.0, "frame {i}: the look is applied");
    }
}

#[test]
fn bad_textures_are_refused_named_and_show_the_input() {
    let ctx = host();
    let (w, h) = (64u32, 32u32);
    let color: Vec<u8> = (0..w * h * 4).map(|i| (i % 251) as u8).collect();
    let ct = texture(
        &ctx,
        (w, h),
        wgpu::TextureFormat::Rgba8Unorm,
        &color,
        SAMPLED,
    );
    let small_depth = texture(
        &ctx,
        (w / 2, h),
        wgpu::TextureFormat::R32Float,
        &[],
        SAMPLED,
    );
    let out = output_texture(&ctx, w, h);
    let mut s =
        DeviceSession::new(ctx.clone(), student_config(Backend::Gpu)).expect("device session");
    let frame = DeviceFrame {
        depth: Some((&small_depth, DepthEncoding::ViewDistance)),
        ..DeviceFrame::new(&ct)
    };
    let r = s.process(&frame, &out);
    let e = r.error.expect("a depth texture of another size is refused");
    assert!(e.contains("depth texture is 32x32"), "{e}");
    assert!(!r.enhanced);
    assert!(matches!(s.health(), Health::PassThrough { .. }));
    // The input is shown: the colour, unchanged.
    assert_eq!(read_rgba8(&ctx, &out), color);
    // An output without storage usage: refused (nothing can be written), named.
    let no_storage = texture(&ctx, (w, h), wgpu::TextureFormat::Rgba8Unorm, &[], SAMPLED);
    let e = s
        .process(&DeviceFrame::new(&ct), &no_storage)
        .error
        .unwrap();
    assert!(e.contains("STORAGE_BINDING"), "{e}");
    assert_eq!(s.stats().frames_failed, 2);
    // A good frame afterwards is enhanced again.
    let r = s.process(&DeviceFrame::new(&ct), &out);
    assert!(r.enhanced && r.error.is_none(), "{:?}", r.error);
    assert_eq!(s.health(), Health::Ok);
}

/// The device path hands each frame's light to a model that reads it (light_tint: rgb = current +
/// 0.5 sun + 0.25 up, in the model's sRGB values), the documented fallback to a frame without one,
/// and counts those frames in `Stats` as the CPU-frame session does.
#[test]
fn each_frame_light_reaches_the_model_and_frames_without_one_are_counted() {
    use realmaster::{Mode, SceneLight, SessionConfig};
    let ctx = host();
    let (w, h) = (64u32, 16u32);
    let grey = vec![128u8; (w * h * 4) as usize];
    let color = texture(
        &ctx,
        (w, h),
        wgpu::TextureFormat::Rgba8Unorm,
        &grey,
        SAMPLED,
    );
    let out = output_texture(&ctx, w, h);
    let config = SessionConfig {
        model_dir: Some(model_support::models().join("light_tint")),
        execution_provider: "cpu".into(),
        mode: Mode::Cinematic,
        prompt_blend_frames: 0,
        temporal_alpha: 1.0,
        backend: Backend::Gpu,
        ..Default::default()
    };
    let mut s = DeviceSession::new(ctx.clone(), config).expect("device session");
    assert!(s.stats().model_reads_light);
    let mut mean = |light: Option<SceneLight>| {
        let frame = DeviceFrame {
            color: &color,
            depth: None,
            normals: None,
            motion: None,
            // A cut per frame: each output is this frame's look alone.
            camera_cut: true,
            light,
        };
        let r = s.process(&frame, &out);
        assert!(r.error.is_none() && r.enhanced, "{:?}", r.error);
        let px = read_rgba8(&ctx, &out);
        let n = (w * h) as f64;
        (0..3)
            .map(|c| px.chunks_exact(4).map(|p| p[c] as f64).sum::<f64>() / n)
            .collect::<Vec<f64>>()
    };
    let behind = mean(Some(
        SceneLight::new([0.0, 0.0, 1.0], [0.0, 1.0, 0.0]).unwrap(),
    ));
    let right = mean(Some(
        SceneLight::new([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]).unwrap(),
    ));
    // The sun swings from behind the camera to the right: red up, blue down, green as it was.
    assert!(right[0] > behind[0] + 60.0, "{behind:?} -> {right:?}");
    assert!(right[2] < behind[2] - 60.0, "{behind:?} -> {right:?}");
    assert!(
        (right[1] - behind[1]).abs() < 2.0,
        "{behind:?} -> {right:?}"
    );
    let none = mean(None);
    assert_eq!(none, mean(Some(SceneLight::FALLBACK)));
    assert_ne!(none, behind);
    let st = s.stats();
    assert_eq!((st.frames_submitted, st.frames_without_light), (4, 1));
    assert_eq!(st.frames_failed, 0);
}
