//! unpack_output.wgsl and to_linear.wgsl against their CPU references.

use realmaster::gpu::kernel::{read_image, GpuImage};
use realmaster::gpu::model_io::{reference, ModelIo};
use realmaster::gpu::{AdapterPreference, GpuContext};
use wgpu::util::DeviceExt;

fn ctx() -> GpuContext {
    GpuContext::new(AdapterPreference::HighPerformance)
        .expect("a GPU adapter (lavapipe is installed by `make setup`)")
}

#[test]
fn unpack_and_to_linear_match_reference() {
    let ctx = ctx();
    let (w, h) = (13u32, 7u32);
    let plane = (w * h) as usize;
    // 5 leading floats exercise the offset; one NaN pixel must be rejected (alpha 0).
    let mut tensor: Vec<f32> = (0..5 + 3 * plane)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    tensor[5 + plane + 3] = f32::NAN;
    let buf = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&tensor),
            usage: wgpu::BufferUsages::STORAGE,
        });
    let mut io = ModelIo::new(&ctx);
    let img = GpuImage::new(&ctx.device, "unpacked", w, h, 4);
    let lin = GpuImage::new(&ctx.device, "linear", w, h, 4);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    io.record_unpack(&ctx, &mut enc, &buf, 5, &img).unwrap();
    io.record_to_linear(&ctx, &mut enc, &img, &lin, true)
        .unwrap();
    ctx.queue.submit([enc.finish()]);

    let want = reference::unpack(&tensor[5..], w, h);
    let got = read_image(&ctx.device, &ctx.queue, &img).unwrap();
    assert_eq!(got, want, "unpack is a pure copy: exact");
    assert_eq!(got[3 * 4 + 3], 0.0, "non-finite pixel flagged");

    let want_lin = reference::to_linear(&want, true);
    let got_lin = read_image(&ctx.device, &ctx.queue, &lin).unwrap();
    let max = got_lin
        .iter()
        .zip(&want_lin)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // pow() on the GPU vs powf on the CPU: a few ulps.
    assert!(max <= 1e-5, "to_linear max abs diff {max}");
}

/// Two to_linear calls with different parameters recorded into ONE encoder each keep their own
/// (a shared uniform written with `queue.write_buffer` would give both the last values).
#[test]
fn calls_in_one_encoder_keep_their_own_parameters() {
    let ctx = ctx();
    let mut io = ModelIo::new(&ctx);
    let (w, h) = (9u32, 5u32);
    let data: Vec<f32> = (0..w * h * 4).map(|i| (i % 17) as f32 / 16.0).collect();
    let src = GpuImage::from_data(&ctx.device, "src", w, h, 4, &data);
    let (small_w, small_h) = (4u32, 3u32);
    let small = GpuImage::from_data(
        &ctx.device,
        "small",
        small_w,
        small_h,
        4,
        &data[..(small_w * small_h * 4) as usize],
    );
    let srgb_out = GpuImage::new(&ctx.device, "srgb out", w, h, 4);
    let linear_out = GpuImage::new(&ctx.device, "linear out", small_w, small_h, 4);
    for _ in 0..3 {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        io.record_to_linear(&ctx, &mut enc, &src, &srgb_out, true)
            .unwrap();
        io.record_to_linear(&ctx, &mut enc, &small, &linear_out, false)
            .unwrap();
        ctx.queue.submit([enc.finish()]);
    }
    let got = read_image(&ctx.device, &ctx.queue, &srgb_out).unwrap();
    let want = reference::to_linear(&data, true);
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "sRGB call max abs diff {max}");
    let got = read_image(&ctx.device, &ctx.queue, &linear_out).unwrap();
    assert_eq!(
        got,
        reference::to_linear(&data[..(small_w * small_h * 4) as usize], false),
        "the linear call (other size, other flag) is a plain copy"
    );
}

#[test]
fn bind_cache_reuses_and_evicts() {
    use realmaster::gpu::kernel::{BindCache, Kernel};
    let ctx = ctx();
    let k = Kernel::new(
        &ctx.device,
        "to_linear",
        include_str!("../src/gpu/to_linear.wgsl"),
        "main",
    );
    let img = |n| GpuImage::new(&ctx.device, "img", 4, 4, n);
    let (a, b) = (img(4), img(4));
    let u = |x: u32| [4u32, 4, x, 0];
    let mut cache = BindCache::default();
    let first = cache.get(
        &ctx.device,
        &k,
        bytemuck::cast_slice(&u(0)),
        &[&a.buffer, &b.buffer],
    );
    let again = cache.get(
        &ctx.device,
        &k,
        bytemuck::cast_slice(&u(0)),
        &[&a.buffer, &b.buffer],
    );
    assert_eq!(
        first, again,
        "same uniform and buffers: the same bind group"
    );
    let other_uniform = cache.get(
        &ctx.device,
        &k,
        bytemuck::cast_slice(&u(1)),
        &[&a.buffer, &b.buffer],
    );
    assert_ne!(
        first, other_uniform,
        "another uniform value: another bind group"
    );
    let swapped = cache.get(
        &ctx.device,
        &k,
        bytemuck::cast_slice(&u(0)),
        &[&b.buffer, &a.buffer],
    );
    assert_ne!(first, swapped, "other buffers: another bind group");
    // Four more distinct sets push the first one out (capacity 4).
    let extra: Vec<GpuImage> = (0..4).map(|_| img(4)).collect();
    for e in &extra {
        cache.get(
            &ctx.device,
            &k,
            bytemuck::cast_slice(&u(0)),
            &[&e.buffer, &a.buffer],
        );
    }
    let after = cache.get(
        &ctx.device,
        &k,
        bytemuck::cast_slice(&u(0)),
        &[&a.buffer, &b.buffer],
    );
    assert_ne!(first, after, "evicted entries are made anew");
    cache.clear();
    let cleared = cache.get(
        &ctx.device,
        &k,
        bytemuck::cast_slice(&u(0)),
        &[&a.buffer, &b.buffer],
    );
    assert_ne!(after, cleared, "clear forgets everything");
}
