//! The C++ bridge's Vulkan device path, driven as a C++ host drives it: raw handles as integers
//! from a host that made its own instance, device and images (realmaster's SampleHost, an ash
//! host), images registered once, frames processed into the host's output image.

use std::path::Path;

use ash::vk::{self, Handle};
use realmaster::gpu::vulkan_host::sample_host::SampleHost;
use realmaster_ffi::ffi::{
    ImageFormat, Mode, Status, StatusCode, VulkanFrame, VulkanHandles, VulkanImage,
};
use realmaster_ffi::{
    create_vulkan_session, default_settings, vulkan_required_device_extensions, VulkanSession,
};

fn handles(host: &SampleHost) -> VulkanHandles {
    let d = host.device();
    VulkanHandles {
        instance: d.instance.as_raw(),
        api_version: d.api_version,
        instance_extensions: d.instance_extensions.clone(),
        physical_device: d.physical_device.as_raw(),
        device: d.device.as_raw(),
        device_extensions: d.device_extensions.clone(),
        queue_family: d.queue_family,
        queue_index: d.queue_index,
    }
}

fn frame(color: u32, output: u32) -> VulkanFrame {
    VulkanFrame {
        color,
        depth: 0,
        depth_reverse_z_near: 0.0,
        normals: 0,
        normals_unorm_world: false,
        world_to_view: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        motion: 0,
        motion_uv: false,
        output,
        camera_cut: false,
        light: Default::default(),
    }
}

fn unset() -> Status {
    Status {
        code: 99,
        message: String::new(),
    }
}

#[test]
fn a_cpp_style_vulkan_host_runs_frames_through_the_bridge() {
    let mut host = SampleHost::new().expect("a Vulkan host (mesa-vulkan-drivers)");
    let (w, h) = (64u32, 32u32);
    let color = host
        .image(
            w,
            h,
            vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::TRANSFER_DST,
            vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
        )
        .unwrap();
    let output = host
        .image(
            w,
            h,
            vk::ImageUsageFlags::STORAGE | vk::ImageUsageFlags::TRANSFER_SRC,
            vk::ImageLayout::GENERAL,
        )
        .unwrap();
    let handles = handles(&host);
    let mut st = unset();
    // The host enabled what RealMaster asked for: nothing is missing.
    let missing = vulkan_required_device_extensions(&handles, &mut st);
    assert_eq!(st.code, 0, "{}", st.message);
    assert!(missing.is_empty(), "{missing:?}");

    let mut settings = default_settings();
    settings.model_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/realmaster-student")
        .to_string_lossy()
        .into_owned();
    settings.execution_provider = "cpu".into();
    settings.mode = Mode::Cinematic;
    settings.model_width = 128;
    settings.model_height = 64;
    let mut s = create_vulkan_session(&handles, &settings, &mut st);
    assert_eq!(st.code, 0, "{}", st.message);
    let register = |s: &mut VulkanSession, image: vk::Image, out: bool| {
        let mut st = unset();
        let id = s.register_image(
            &VulkanImage {
                image: image.as_raw(),
                width: w,
                height: h,
                format: ImageFormat::Rgba8Unorm,
                output: out,
                transfer_src: out,
                transfer_dst: !out,
            },
            &mut st,
        );
        assert_eq!(st.code, 0, "{}", st.message);
        id
    };
    let (cid, oid) = (
        register(&mut s, color, false),
        register(&mut s, output, true),
    );
    assert!(cid > 0 && oid > 0 && cid != oid);
    for i in 0..2 {
        let r = s.process(&frame(cid, oid));
        assert_eq!(r.status.code, 0, "frame {i}: {}", r.status.message);
        assert!(r.enhanced, "frame {i}");
        // The model's tensors only (128x64 model): well under 40 floats per model pixel.
        assert!(r.transfer_bytes > 0 && r.transfer_bytes < 128 * 64 * 4 * 40);
    }
    assert_eq!(s.stats().frames_enhanced, 2);
    // Strength, the ridge and mode change without recreating the session; bad values are refused.
    assert_eq!(s.set_strength(0.5).code, 0);
    assert_eq!(s.set_strength(f32::NAN).code, StatusCode::Config.repr);
    assert_eq!(s.set_upsample_eps(1e-5).code, 0);
    assert_eq!(s.set_upsample_eps(0.0).code, StatusCode::Config.repr);
    assert_eq!(s.set_mode(Mode::Realtime).code, 0);
    assert_eq!(s.set_mode(Mode::Cinematic).code, 0);
    // Bad ids are refused with the id named; an absent output is named too.
    let r = s.process(&frame(cid, 77));
    assert_eq!(r.status.code, StatusCode::InvalidFrame.repr);
    assert!(
        r.status.message.contains("output image id 77"),
        "{}",
        r.status.message
    );
    let r = s.process(&frame(cid, 0));
    assert!(
        r.status.message.contains("no output image"),
        "{}",
        r.status.message
    );
    // Released images are gone.
    assert_eq!(s.release_image(cid).code, 0);
    assert_ne!(s.release_image(cid).code, 0);
    assert!(s
        .process(&frame(cid, oid))
        .status
        .message
        .contains("not registered"));
    drop(s);

    // Zero handles: a status, no panic; the session refuses every call with the reason.
    let bad = VulkanHandles {
        instance: 0,
        ..handles
    };
    let mut s = create_vulkan_session(&bad, &settings, &mut st);
    assert_eq!(st.code, StatusCode::Config.repr, "{}", st.message);
    assert!(st.message.contains("handle is 0"), "{}", st.message);
    let r = s.process(&frame(1, 2));
    assert!(
        r.status.message.contains("never created"),
        "{}",
        r.status.message
    );
}
