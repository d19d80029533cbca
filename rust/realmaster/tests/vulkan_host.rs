//! A native Vulkan host (written here with ash, as an engine's RHI would be) creates its own
//! instance, device, queue and images, puts them in the layouts of the contract
//! (gpu/vulkan_host.rs) and hands the raw handles to RealMaster's device path. The output must
//! match the CPU-frame API on the same frames within two 8-bit steps, and only model tensors may
//! cross to the CPU. Runs on whatever Vulkan driver the machine has (lavapipe in CI).

use std::path::{Path, PathBuf};

use ash::vk;
use realmaster::gpu::vulkan_host::{
    device_requirements, VulkanDevice, VulkanImage, VulkanInstance,
};
use realmaster::gpu::GpuContext;
use realmaster::sequence::Sequence;
use realmaster::{Backend, DeviceFrame, DeviceSession, Mode, OutputFrame, Session, SessionConfig};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn config() -> SessionConfig {
    SessionConfig {
        model_dir: Some(root().join("models/realmaster-student")),
        execution_provider: "cpu".into(),
        mode: Mode::Cinematic,
        model_size: Some((128, 64)),
        backend: Backend::Gpu,
        ..Default::default()
    }
}

/// The host's own Vulkan objects.
struct Host {
    entry: ash::Entry,
    instance: ash::Instance,
    phd: vk::PhysicalDevice,
    device: ash::Device,
    family: u32,
    queue: vk::Queue,
    extensions: Vec<String>,
    images: Vec<(vk::Image, vk::DeviceMemory)>,
}

const API: u32 = vk::API_VERSION_1_1;

impl Host {
    fn new() -> Host {
        let entry = unsafe { ash::Entry::load() }.expect("a Vulkan loader (mesa-vulkan-drivers)");
        let app = vk::ApplicationInfo::default().api_version(API);
        let instance = unsafe {
            entry.create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
        }
        .expect("vkCreateInstance");
        let phd = unsafe { instance.enumerate_physical_devices() }.expect("devices")[0];
        let family = unsafe { instance.get_physical_device_queue_family_properties(phd) }
            .iter()
            .position(|q| q.queue_flags.contains(vk::QueueFlags::COMPUTE))
            .expect("a compute queue") as u32;
        // What RealMaster asks of the device, added to the host's own create info.
        let mut req = unsafe {
            device_requirements(&VulkanInstance {
                entry: &entry,
                instance: instance.handle(),
                api_version: API,
                instance_extensions: &[],
                physical_device: phd,
            })
        }
        .expect("device requirements");
        let extensions = req.extension_names();
        let ext_ptrs: Vec<*const std::ffi::c_char> =
            req.extensions.iter().map(|e| e.as_ptr()).collect();
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(family)
            .queue_priorities(&priorities)];
        let info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&ext_ptrs);
        let info = req.add_to_device_create(info);
        let device = unsafe { instance.create_device(phd, &info, None) }.expect("vkCreateDevice");
        let queue = unsafe { device.get_device_queue(family, 0) };
        Host {
            entry,
            instance,
            phd,
            device,
            family,
            queue,
            extensions,
            images: Vec::new(),
        }
    }

    /// A device-local RGBA8 image in `layout` (transitioned with a one-shot command buffer).
    fn image(
        &mut self,
        w: u32,
        h: u32,
        usage: vk::ImageUsageFlags,
        layout: vk::ImageLayout,
    ) -> vk::Image {
        let d = &self.device;
        let image = unsafe {
            d.create_image(
                &vk::ImageCreateInfo::default()
                    .image_type(vk::ImageType::TYPE_2D)
                    .format(vk::Format::R8G8B8A8_UNORM)
                    .extent(vk::Extent3D {
                        width: w,
                        height: h,
                        depth: 1,
                    })
                    .mip_levels(1)
                    .array_layers(1)
                    .samples(vk::SampleCountFlags::TYPE_1)
                    .tiling(vk::ImageTiling::OPTIMAL)
                    .usage(usage)
                    .initial_layout(vk::ImageLayout::UNDEFINED),
                None,
            )
        }
        .expect("vkCreateImage");
        let req = unsafe { d.get_image_memory_requirements(image) };
        let props = unsafe {
            self.instance
                .get_physical_device_memory_properties(self.phd)
        };
        let type_index = (0..props.memory_type_count)
            .find(|&i| {
                req.memory_type_bits & (1 << i) != 0
                    && props.memory_types[i as usize]
                        .property_flags
                        .contains(vk::MemoryPropertyFlags::DEVICE_LOCAL)
            })
            .expect("device-local memory");
        let memory = unsafe {
            d.allocate_memory(
                &vk::MemoryAllocateInfo::default()
                    .allocation_size(req.size)
                    .memory_type_index(type_index),
                None,
            )
        }
        .expect("vkAllocateMemory");
        unsafe { d.bind_image_memory(image, memory, 0) }.expect("bind");
        self.images.push((image, memory));
        // UNDEFINED -> the contract's layout, made visible to compute shaders.
        let pool = unsafe {
            d.create_command_pool(
                &vk::CommandPoolCreateInfo::default().queue_family_index(self.family),
                None,
            )
        }
        .expect("pool");
        let cb = unsafe {
            d.allocate_command_buffers(
                &vk::CommandBufferAllocateInfo::default()
                    .command_pool(pool)
                    .command_buffer_count(1),
            )
        }
        .expect("command buffer")[0];
        let barrier = vk::ImageMemoryBarrier::default()
            .old_layout(vk::ImageLayout::UNDEFINED)
            .new_layout(layout)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(vk::ImageSubresourceRange {
                aspect_mask: vk::ImageAspectFlags::COLOR,
                base_mip_level: 0,
                level_count: 1,
                base_array_layer: 0,
                layer_count: 1,
            })
            .dst_access_mask(vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE);
        unsafe {
            d.begin_command_buffer(cb, &vk::CommandBufferBeginInfo::default())
                .unwrap();
            d.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TOP_OF_PIPE,
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[barrier],
            );
            d.end_command_buffer(cb).unwrap();
            let cbs = [cb];
            d.queue_submit(
                self.queue,
                &[vk::SubmitInfo::default().command_buffers(&cbs)],
                vk::Fence::null(),
            )
            .unwrap();
            d.queue_wait_idle(self.queue).unwrap();
            d.destroy_command_pool(pool, None);
        }
        image
    }

    fn device(&self) -> VulkanDevice {
        VulkanDevice {
            entry: self.entry.clone(),
            instance: self.instance.handle(),
            api_version: API,
            instance_extensions: Vec::new(),
            physical_device: self.phd,
            device: self.device.handle(),
            device_extensions: self.extensions.clone(),
            queue_family: self.family,
            queue_index: 0,
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        unsafe {
            let _ = self.device.device_wait_idle();
            for (image, memory) in self.images.drain(..) {
                self.device.destroy_image(image, None);
                self.device.free_memory(memory, None);
            }
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

fn read_rgba8(ctx: &GpuContext, t: &wgpu::Texture) -> Vec<u8> {
    let (w, h) = (t.width(), t.height());
    let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: (w * h * 4) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_texture_to_buffer(
        t.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buf,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * 4),
                rows_per_image: Some(h),
            },
        },
        t.size(),
    );
    ctx.queue.submit([enc.finish()]);
    realmaster::gpu::kernel::read_buffer(&ctx.device, &ctx.queue, &buf, 0, (w * h * 4) as u64)
        .expect("readback")
}

#[test]
fn a_vulkan_host_runs_the_device_path_on_its_own_device_and_images() {
    let seq = Sequence::open(root().join("samples/city_pan")).expect("samples/city_pan");
    let first = seq.load_frame(0).unwrap().frame;
    let (w, h) = (first.width, first.height);
    assert_eq!((w * 4) % 256, 0, "readback rows");
    let mut host = Host::new();
    let color_img = host.image(
        w,
        h,
        vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::TRANSFER_DST,
        vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
    );
    let out_img = host.image(
        w,
        h,
        vk::ImageUsageFlags::STORAGE | vk::ImageUsageFlags::TRANSFER_SRC,
        vk::ImageLayout::GENERAL,
    );
    let ctx = unsafe { GpuContext::from_vulkan(&host.device()) }.expect("the host's device");
    let wrap = |image, usage| {
        unsafe {
            ctx.wrap_vulkan_image(&VulkanImage {
                image,
                width: w,
                height: h,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage,
            })
        }
        .expect("wrap")
    };
    let color = wrap(
        color_img,
        wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
    );
    let output = wrap(
        out_img,
        wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
    );
    let shared = GpuContext {
        device: ctx.device.clone(),
        queue: ctx.queue.clone(),
        adapter: None,
        summary: ctx.summary.clone(),
    };
    let mut session = DeviceSession::new(shared, config()).expect("device session");
    let reference = Session::new(config()).expect("CPU-frame session");
    let mut o = OutputFrame::default();
    for i in 0..3 {
        let f = seq.load_frame(i).unwrap().frame;
        // The host "renders" the frame: here, an upload through the wrapped texture.
        ctx.queue.write_texture(
            color.as_image_copy(),
            &f.color,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * 4),
                rows_per_image: Some(h),
            },
            color.size(),
        );
        let r = session.process(&DeviceFrame::new(&color), &output);
        assert!(r.enhanced, "frame {i}: {:?}", r.error);
        let got = read_rgba8(&ctx, &output);
        let colour_only = realmaster::FrameRef::color_only(w, h, f.format, &f.color);
        reference.submit(&colour_only).unwrap();
        assert!(reference.latest_output(&mut o) && o.enhanced);
        let diffs: Vec<u8> = got
            .iter()
            .zip(&o.data)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
        println!(
            "frame {i}: |vulkan host - CPU-frame API| max {max} mean {mean:.4} steps, {} bytes through the CPU (CPU-frame path {})",
            r.transfer_bytes,
            reference.stats().last_frame_transfer_bytes
        );
        // The two paths run the same passes; only the final store's unorm rounding differs
        // (textureStore vs pack4x8unorm), which temporal accumulation can carry one step further.
        assert!(max <= 2 && mean < 0.05, "frame {i}: max {max}, mean {mean}");
        assert_eq!(
            reference.stats().last_frame_transfer_bytes,
            r.transfer_bytes + (w * h * 4 * 2) as u64,
            "the device path moves the CPU-frame path's bytes minus the colour up and the frame back"
        );
    }
    assert_eq!(session.stats().frames_failed, 0);
    drop(session);
    drop((color, output, ctx));
}
