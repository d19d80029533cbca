//! Native Vulkan hosts (Unreal's Vulkan RHI, a C++ engine): the host's own instance, device, queue
//! and images, wrapped through wgpu's Vulkan HAL so the device path runs on them with no copy.
//!
//! The contract with the host:
//! - **Ownership**: the host keeps ownership of every handle; RealMaster never destroys the
//!   instance, device or images (its wrappers have no-op drop callbacks). Drop the session and
//!   the wrapped textures before destroying them.
//! - **Extensions**: [`device_requirements`] lists the extensions and features wgpu would enable
//!   on a device of its own and adds the features to a `VkDeviceCreateInfo`; a host that can,
//!   enables them. A host that cannot (an engine's RHI made the device) passes its enabled lists:
//!   wgpu then uses only those (the absent ones are logged).
//! - **Destruction**: dropping the session waits for the queue to go idle, so drop it on the
//!   thread that submits to the queue, like `process`.
//! - **Queue**: RealMaster submits to the `(queue_family, queue_index)` queue the host names.
//!   `VkQueue` is externally synchronised: call `DeviceSession::process` on the thread that
//!   submits to that queue, between the host's own submissions.
//! - **Layouts**: the input images are in `SHADER_READ_ONLY_OPTIMAL` and the output image in
//!   `GENERAL` when `process` is called, and are left so when it returns. The host's rendering
//!   into the inputs is submitted before on the same queue with a barrier that makes it visible
//!   to compute-shader reads; commands that read the output are submitted after with a barrier
//!   from compute-shader writes.
//! - **Usage**: inputs need `SAMPLED`, the output `STORAGE` (plus `TRANSFER_SRC` to read it back).

pub mod sample_host;

use std::ffi::CStr;

use ash::vk;
use wgpu::hal;
use wgpu::hal::api::Vulkan;

use crate::error::{Error, Result};
use crate::gpu::context::{AdapterSummary, GpuContext};

/// The host's Vulkan objects (raw handles, as any engine has them).
pub struct VulkanDevice {
    /// The Vulkan loader the host uses (`ash::Entry::load()` finds the system's).
    pub entry: ash::Entry,
    pub instance: vk::Instance,
    /// The API version the instance was created with (`VK_MAKE_API_VERSION`).
    pub api_version: u32,
    /// Extensions the host enabled on the instance.
    pub instance_extensions: Vec<String>,
    pub physical_device: vk::PhysicalDevice,
    pub device: vk::Device,
    /// Extensions the host enabled on the device.
    pub device_extensions: Vec<String>,
    pub queue_family: u32,
    pub queue_index: u32,
}

/// One of the host's images: handle, size, format and the usages it was created with.
pub struct VulkanImage {
    pub image: vk::Image,
    pub width: u32,
    pub height: u32,
    pub format: wgpu::TextureFormat,
    /// What RealMaster does with it: `TEXTURE_BINDING` (an input) or `STORAGE_BINDING` (the output),
    /// plus `COPY_SRC`/`COPY_DST` where the host created it with TRANSFER_SRC/DST.
    pub usage: wgpu::TextureUsages,
}

fn vk_error(problem: String, fix: &str) -> Error {
    Error::gpu(problem, fix)
}

/// The static names among `wanted` that the host enabled (`enabled`).
fn enabled_of(wanted: &[&'static CStr], enabled: &[String]) -> Vec<&'static CStr> {
    wanted
        .iter()
        .copied()
        .filter(|w| enabled.iter().any(|e| w.to_str().is_ok_and(|w| w == e)))
        .collect()
}

/// Features the device path needs beyond the baseline (none today).
const FEATURES: wgpu::Features = wgpu::Features::empty();

/// What a host enables when it creates its device for RealMaster: the device extensions and the
/// physical-device features wgpu relies on.
pub struct DeviceRequirements {
    pub extensions: Vec<&'static CStr>,
    features: hal::vulkan::PhysicalDeviceFeatures,
}

impl DeviceRequirements {
    /// The extension names as strings (for a host's own list).
    pub fn extension_names(&self) -> Vec<String> {
        self.extensions
            .iter()
            .map(|e| e.to_string_lossy().into_owned())
            .collect()
    }

    /// Add the features (and their `p_next` chain) to the host's `VkDeviceCreateInfo`.
    pub fn add_to_device_create<'a>(
        &'a mut self,
        info: vk::DeviceCreateInfo<'a>,
    ) -> vk::DeviceCreateInfo<'a> {
        self.features.add_to_device_create(info)
    }
}

/// The host's instance-level objects, before it has a device.
pub struct VulkanInstance<'a> {
    pub entry: &'a ash::Entry,
    pub instance: vk::Instance,
    pub api_version: u32,
    pub instance_extensions: &'a [String],
    pub physical_device: vk::PhysicalDevice,
}

/// What the host's device must be created with (call before `vkCreateDevice`).
///
/// # Safety
/// The handles must be valid and from `entry`.
pub unsafe fn device_requirements(host: &VulkanInstance<'_>) -> Result<DeviceRequirements> {
    let (_instance, exposed) = unsafe { expose(host)? };
    let extensions = exposed.adapter.required_device_extensions(FEATURES);
    let features = exposed
        .adapter
        .physical_device_features(&extensions, FEATURES);
    Ok(DeviceRequirements {
        extensions,
        features,
    })
}

unsafe fn expose(
    host: &VulkanInstance<'_>,
) -> Result<(hal::vulkan::Instance, hal::ExposedAdapter<Vulkan>)> {
    let raw = unsafe { ash::Instance::load(host.entry.static_fn(), host.instance) };
    let flags = wgpu::InstanceFlags::empty();
    let desired = hal::vulkan::Instance::desired_extensions(host.entry, host.api_version, flags)
        .map_err(|e| {
            vk_error(
                format!("cannot list the instance's extensions ({e})"),
                "check the Vulkan loader",
            )
        })?;
    let extensions = enabled_of(&desired, host.instance_extensions);
    // Some(no-op): the host owns the instance; wgpu-hal must not destroy it.
    let hal_instance = unsafe {
        hal::vulkan::Instance::from_raw(
            host.entry.clone(),
            raw,
            host.api_version,
            0,
            None,
            extensions,
            flags,
            Default::default(),
            false,
            Some(Box::new(|| {})),
        )
    }
    .map_err(|e| {
        vk_error(
            format!("cannot use the host's Vulkan instance ({e})"),
            "create the instance with Vulkan 1.1 or newer",
        )
    })?;
    let exposed = hal_instance
        .expose_adapter(host.physical_device)
        .ok_or_else(|| {
            vk_error(
                "wgpu cannot use the host's physical device".into(),
                "use a Vulkan 1.1+ device with compute support",
            )
        })?;
    Ok((hal_instance, exposed))
}

impl GpuContext {
    /// Run on a native Vulkan host's device and queue (see the module's contract).
    ///
    /// # Safety
    /// Every handle in `dev` must be valid, from `dev.entry`, and outlive the returned context and
    /// everything made from it; the device must have been created with `dev.device_extensions`
    /// and a queue at `(queue_family, queue_index)`.
    pub unsafe fn from_vulkan(dev: &VulkanDevice) -> Result<GpuContext> {
        let (hal_instance, exposed) = unsafe {
            expose(&VulkanInstance {
                entry: &dev.entry,
                instance: dev.instance,
                api_version: dev.api_version,
                instance_extensions: &dev.instance_extensions,
                physical_device: dev.physical_device,
            })?
        };
        // wgpu-hal lists the extensions it would enable on a device of its own, optional ones
        // included; a host's device (an engine's RHI) may lack some. wgpu-hal decides what to use
        // from the list it is given, so it gets the ones the host enabled, and the rest are named.
        let wanted = exposed.adapter.required_device_extensions(FEATURES);
        let enabled = enabled_of(&wanted, &dev.device_extensions);
        if enabled.len() != wanted.len() {
            let absent: Vec<_> = wanted
                .iter()
                .filter(|r| !enabled.contains(r))
                .map(|r| r.to_string_lossy().into_owned())
                .collect();
            log::warn!(
                "RealMaster: the host's Vulkan device lacks {absent:?}, which wgpu would enable on its own device; continuing without them"
            );
        }
        let adapter_limits = exposed.capabilities.limits.clone();
        let mut limits =
            wgpu::Limits::downlevel_defaults().using_resolution(adapter_limits.clone());
        limits.max_storage_buffer_binding_size = adapter_limits.max_storage_buffer_binding_size;
        limits.max_buffer_size = adapter_limits.max_buffer_size;
        limits.max_storage_buffers_per_shader_stage =
            adapter_limits.max_storage_buffers_per_shader_stage.min(16);
        let raw_instance = hal_instance.shared_instance().raw_instance().clone();
        let raw_device = unsafe { ash::Device::load(raw_instance.fp_v1_0(), dev.device) };
        let open = unsafe {
            exposed.adapter.device_from_raw(
                raw_device,
                Some(Box::new(|| {})),
                &enabled,
                FEATURES,
                &limits,
                &wgpu::MemoryHints::Performance,
                dev.queue_family,
                dev.queue_index,
            )
        }
        .map_err(|e| {
            vk_error(
                format!("cannot use the host's Vulkan device ({e})"),
                "pass the device and queue family/index the host created",
            )
        })?;
        let info = exposed.info.clone();
        let instance = unsafe { wgpu::Instance::from_hal::<Vulkan>(hal_instance) };
        let adapter = unsafe { instance.create_adapter_from_hal(exposed) };
        let (device, queue) = unsafe {
            adapter.create_device_from_hal(
                open,
                &wgpu::DeviceDescriptor {
                    label: Some("realmaster on the host's Vulkan device"),
                    required_features: FEATURES,
                    required_limits: limits,
                    ..Default::default()
                },
            )
        }
        .map_err(|e| {
            vk_error(
                format!("cannot open the host's Vulkan device in wgpu ({e})"),
                "check the device's limits and extensions",
            )
        })?;
        log::info!("RealMaster: on the host's Vulkan device {}", info.name);
        Ok(GpuContext {
            device,
            queue,
            adapter: Some(adapter),
            summary: AdapterSummary::from_info(&info),
        })
    }

    /// Wrap one of the host's images as a texture for a `DeviceFrame` or as the output. Wrap each
    /// image once and keep the texture (see the module's contract for its layout).
    ///
    /// # Safety
    /// `img.image` must be a valid 2D, single-mip, single-sample image of this context's device
    /// (`from_vulkan`), created with `img.format`, size and usages, and outlive the texture.
    pub unsafe fn wrap_vulkan_image(&self, img: &VulkanImage) -> Result<wgpu::Texture> {
        let hal_device = unsafe { self.device.as_hal::<Vulkan>() }.ok_or_else(|| {
            vk_error(
                "this context is not on a Vulkan device".into(),
                "make it with GpuContext::from_vulkan",
            )
        })?;
        let size = wgpu::Extent3d {
            width: img.width,
            height: img.height,
            depth_or_array_layers: 1,
        };
        // The state the image is in at every call (SHADER_READ_ONLY / GENERAL), which is where
        // wgpu's first barrier starts from.
        let state = if img.usage.contains(wgpu::TextureUsages::STORAGE_BINDING) {
            wgpu::TextureUses::STORAGE_WRITE_ONLY
        } else {
            wgpu::TextureUses::RESOURCE
        };
        let hal_desc = hal::TextureDescriptor {
            label: Some("host image"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: img.format,
            usage: state,
            memory_flags: hal::MemoryFlags::empty(),
            view_formats: Vec::new(),
        };
        let hal_texture = unsafe {
            hal_device.texture_from_raw(
                img.image,
                &hal_desc,
                Some(Box::new(|| {})),
                hal::vulkan::TextureMemory::External,
            )
        };
        drop(hal_device);
        let desc = wgpu::TextureDescriptor {
            label: Some("host image"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: img.format,
            usage: img.usage,
            view_formats: &[],
        };
        Ok(unsafe {
            self.device
                .create_texture_from_hal::<Vulkan>(hal_texture, &desc, state)
        })
    }
}
