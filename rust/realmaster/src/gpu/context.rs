//! The wgpu instance/adapter/device, created headless.

use crate::error::{Error, Result};

/// Which adapter to prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdapterPreference {
    #[default]
    HighPerformance,
    LowPower,
}

/// What the adapter is, for logs, `realmaster info` and `doctor`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: wgpu::Adapter,
    pub summary: AdapterSummary,
}

impl GpuContext {
    /// Create a headless device. Tries Vulkan/Metal/DX12 first, then GL (llvmpipe).
    pub fn new(pref: AdapterPreference) -> Result<Self> {
        // WGPU_BACKEND etc. from the environment let users pin a backend (e.g. `gl`).
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: match pref {
                AdapterPreference::HighPerformance => wgpu::PowerPreference::HighPerformance,
                AdapterPreference::LowPower => wgpu::PowerPreference::LowPower,
            },
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|e| {
            Error::gpu(
                format!("no GPU adapter found ({e})"),
                "install a Vulkan driver; on a machine without a GPU install Debian's mesa-vulkan-drivers (software Vulkan)",
            )
        })?;
        let info = adapter.get_info();
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info),
        };
        let mut limits = wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits());
        limits.max_storage_buffer_binding_size = adapter.limits().max_storage_buffer_binding_size;
        limits.max_buffer_size = adapter.limits().max_buffer_size;
        limits.max_storage_buffers_per_shader_stage = adapter.limits().max_storage_buffers_per_shader_stage.min(16);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("realmaster"),
            required_features: wgpu::Features::empty(),
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| Error::gpu(format!("cannot open the GPU device {} ({e})", summary.name), "update the GPU driver"))?;
        log::info!("GPU: {} ({}, {})", summary.name, summary.backend, summary.device_type);
        Ok(GpuContext { device, queue, adapter, summary })
    }
}
