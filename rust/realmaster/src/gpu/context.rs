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

/// Handles to one device: cloning shares the device (a host and a session on the same GPU).
#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The adapter, when this context opened the device itself (a host's device comes without).
    pub adapter: Option<wgpu::Adapter>,
    pub summary: AdapterSummary,
}

/// Storage buffers the largest pass binds (temporal.wgsl: parameters + 7 images).
const STORAGE_BUFFERS_NEEDED: u32 = 8;

impl AdapterSummary {
    /// What `adapter` is.
    pub fn of(adapter: &wgpu::Adapter) -> Self {
        Self::from_info(&adapter.get_info())
    }

    /// What the adapter described by `info` is.
    pub fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info),
        }
    }

    /// A software rasteriser (lavapipe, llvmpipe, ...): see `pipeline::backend`.
    pub fn is_software(&self) -> bool {
        crate::pipeline::backend::is_software_adapter(&self.device_type, &self.name)
    }
}

impl GpuContext {
    /// Create a headless device on [`request_adapter`]'s adapter.
    pub fn new(pref: AdapterPreference) -> Result<Self> {
        Self::from_adapter(request_adapter(pref)?)
    }

    /// Run on a host's device and queue (a wgpu engine such as Bevy): no device of our own, the
    /// host's textures are read and written in place. `info` describes the host's adapter
    /// (`wgpu::Adapter::get_info`). Errors when the device's limits are below what the passes bind.
    pub fn from_host(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: &wgpu::AdapterInfo,
    ) -> Result<Self> {
        let limits = device.limits();
        if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_NEEDED {
            return Err(Error::gpu(
                format!(
                    "the host's device allows {} storage buffers per shader stage; the passes need {STORAGE_BUFFERS_NEEDED}",
                    limits.max_storage_buffers_per_shader_stage
                ),
                "request the device with wgpu::Limits::default() or the adapter's limits (not downlevel limits)",
            ));
        }
        Ok(GpuContext {
            device,
            queue,
            adapter: None,
            summary: AdapterSummary::from_info(info),
        })
    }

    /// Create a headless device on `adapter`.
    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        let summary = AdapterSummary::of(&adapter);
        let mut limits = wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits());
        limits.max_storage_buffer_binding_size = adapter.limits().max_storage_buffer_binding_size;
        limits.max_buffer_size = adapter.limits().max_buffer_size;
        limits.max_storage_buffers_per_shader_stage = adapter
            .limits()
            .max_storage_buffers_per_shader_stage
            .min(16);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("realmaster"),
            // Per-stage GPU times for `realmaster bench` where the adapter can (optional).
            required_features: adapter.features()
                & (wgpu::Features::TIMESTAMP_QUERY
                    | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS),
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| {
            Error::gpu(
                format!("cannot open the GPU device {} ({e})", summary.name),
                "update the GPU driver",
            )
        })?;
        log::info!(
            "GPU: {} ({}, {})",
            summary.name,
            summary.backend,
            summary.device_type
        );
        Ok(GpuContext {
            device,
            queue,
            adapter: Some(adapter),
            summary,
        })
    }
}

/// Find a headless adapter: Vulkan/Metal/DX12 first, then GL (llvmpipe). Shared with the sample
/// renderer, which opens its own device on it.
pub fn request_adapter(pref: AdapterPreference) -> Result<wgpu::Adapter> {
    // WGPU_BACKEND etc. from the environment pin a backend (e.g. `gl`). Otherwise try the native
    // APIs first and probe GL only when none answers: probing GL on a headless machine prints
    // driver noise, and llvmpipe GL is slower than lavapipe Vulkan.
    let from_env = wgpu::Backends::from_env();
    let attempts = match from_env {
        Some(b) => vec![b],
        None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::GL],
    };
    let mut last_err = String::from("no backend tried");
    let mut found = None;
    for backends in attempts {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        match pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: match pref {
                AdapterPreference::HighPerformance => wgpu::PowerPreference::HighPerformance,
                AdapterPreference::LowPower => wgpu::PowerPreference::LowPower,
            },
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        })) {
            Ok(a) => {
                found = Some(a);
                break;
            }
            Err(e) => last_err = e.to_string(),
        }
    }
    found.ok_or_else(|| {
        Error::gpu(
            format!("no GPU adapter found ({last_err})"),
            "install a Vulkan driver; on a machine without a GPU install Debian's mesa-vulkan-drivers (software Vulkan)",
        )
    })
}
