//! A minimal native Vulkan host, written with ash the way an engine's RHI creates its objects:
//! an instance, a device with RealMaster's requirements ([`device_requirements`]), device-local
//! images put in the layouts of the contract. For tests, the C++ bridge's tests and as a worked
//! example of what a host does; not needed by real engines.

use ash::vk;

use super::{device_requirements, VulkanDevice, VulkanInstance};
use crate::error::{Error, Result};

fn fail(what: &str, e: impl std::fmt::Display) -> Error {
    Error::gpu(
        format!("sample Vulkan host: {what} failed ({e})"),
        "install a Vulkan driver (mesa-vulkan-drivers for software Vulkan)",
    )
}

/// The host's own Vulkan objects (destroyed on drop).
pub struct SampleHost {
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

impl SampleHost {
    /// Instance, physical device 0, a compute queue and a device with RealMaster's requirements.
    pub fn new() -> Result<SampleHost> {
        let entry = unsafe { ash::Entry::load() }.map_err(|e| fail("load the Vulkan loader", e))?;
        let app = vk::ApplicationInfo::default().api_version(API);
        let instance = unsafe {
            entry.create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
        }
        .map_err(|e| fail("vkCreateInstance", e))?;
        let phd = *unsafe { instance.enumerate_physical_devices() }
            .map_err(|e| fail("vkEnumeratePhysicalDevices", e))?
            .first()
            .ok_or_else(|| fail("find a Vulkan device", "none"))?;
        let family = unsafe { instance.get_physical_device_queue_family_properties(phd) }
            .iter()
            .position(|q| q.queue_flags.contains(vk::QueueFlags::COMPUTE))
            .ok_or_else(|| fail("find a compute queue", "none"))? as u32;
        // What RealMaster asks of the device, added to the host's own create info.
        let mut req = unsafe {
            device_requirements(&VulkanInstance {
                entry: &entry,
                instance: instance.handle(),
                api_version: API,
                instance_extensions: &[],
                physical_device: phd,
            })
        }?;
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
        let device = unsafe { instance.create_device(phd, &info, None) }
            .map_err(|e| fail("vkCreateDevice", e))?;
        let queue = unsafe { device.get_device_queue(family, 0) };
        Ok(SampleHost {
            entry,
            instance,
            phd,
            device,
            family,
            queue,
            extensions,
            images: Vec::new(),
        })
    }

    /// A device-local RGBA8 image in `layout` (transitioned with a one-shot command buffer).
    pub fn image(
        &mut self,
        w: u32,
        h: u32,
        usage: vk::ImageUsageFlags,
        layout: vk::ImageLayout,
    ) -> Result<vk::Image> {
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
        .map_err(|e| fail("vkCreateImage", e))?;
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
            .ok_or_else(|| fail("find device-local memory", "none"))?;
        let memory = unsafe {
            d.allocate_memory(
                &vk::MemoryAllocateInfo::default()
                    .allocation_size(req.size)
                    .memory_type_index(type_index),
                None,
            )
        }
        .map_err(|e| fail("vkAllocateMemory", e))?;
        unsafe { d.bind_image_memory(image, memory, 0) }
            .map_err(|e| fail("vkBindImageMemory", e))?;
        self.images.push((image, memory));
        // UNDEFINED -> the contract's layout, made visible to compute shaders.
        let pool = unsafe {
            d.create_command_pool(
                &vk::CommandPoolCreateInfo::default().queue_family_index(self.family),
                None,
            )
        }
        .map_err(|e| fail("vkCreateCommandPool", e))?;
        let cb = unsafe {
            d.allocate_command_buffers(
                &vk::CommandBufferAllocateInfo::default()
                    .command_pool(pool)
                    .command_buffer_count(1),
            )
        }
        .map_err(|e| fail("vkAllocateCommandBuffers", e))?[0];
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
                .map_err(|e| fail("recording the layout transition", e))?;
            d.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TOP_OF_PIPE,
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[barrier],
            );
            d.end_command_buffer(cb)
                .map_err(|e| fail("recording the layout transition", e))?;
            let cbs = [cb];
            d.queue_submit(
                self.queue,
                &[vk::SubmitInfo::default().command_buffers(&cbs)],
                vk::Fence::null(),
            )
            .map_err(|e| fail("recording the layout transition", e))?;
            d.queue_wait_idle(self.queue)
                .map_err(|e| fail("recording the layout transition", e))?;
            d.destroy_command_pool(pool, None);
        }
        Ok(image)
    }

    /// The handles RealMaster takes.
    pub fn device(&self) -> VulkanDevice {
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

impl Drop for SampleHost {
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
