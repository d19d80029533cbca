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
    let io = ModelIo::new(&ctx);
    let img = GpuImage::new(&ctx.device, "unpacked", w, h, 4);
    let lin = GpuImage::new(&ctx.device, "linear", w, h, 4);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    io.record_unpack(&ctx, &mut enc, &buf, 5, &img);
    io.record_to_linear(&ctx, &mut enc, &img, &lin, true);
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
