//! The Vulkan device path for C++ hosts: raw handles in, the core's `DeviceSession` on the host's
//! device (realmaster::gpu::vulkan_host holds the contract). Handles from C++ are not trusted
//! further than Vulkan allows: zero handles, unknown enum values, unknown image ids and bad sizes
//! are `Status` errors; a panic is caught at the boundary.

use ash::vk;
use ash::vk::Handle;
use realmaster as rm;
use rm::gpu::vulkan_host::{VulkanDevice, VulkanImage as RmImage, VulkanInstance};
use rm::gpu::GpuContext;

use crate::convert;
use crate::ffi::{
    ImageFormat, Mode, Settings, Stats, Status, StatusCode, VulkanFrame, VulkanFrameResult,
    VulkanHandles, VulkanImage,
};
use crate::guard::{guarded, ok_status, status};

/// The opaque Vulkan session C++ holds in a `rust::Box`.
pub struct VulkanSession {
    inner: Option<Inner>,
    fault: Option<Status>,
}

struct Inner {
    session: rm::DeviceSession,
    ctx: GpuContext,
    /// Registered images by id - 1 (None once released).
    images: Vec<Option<wgpu::Texture>>,
}

fn config_error(message: String) -> Status {
    status(StatusCode::Config, message)
}

fn load_entry() -> Result<ash::Entry, Status> {
    unsafe { ash::Entry::load() }.map_err(|e| {
        status(
            StatusCode::Gpu,
            format!("GPU: cannot load the Vulkan loader ({e}) (fix: install the Vulkan runtime the host uses)"),
        )
    })
}

fn device_of(h: &VulkanHandles, entry: ash::Entry) -> Result<VulkanDevice, Status> {
    if h.instance == 0 || h.physical_device == 0 {
        return Err(config_error(
            "configuration: the Vulkan instance or physical device handle is 0 (fix: pass the host's VkInstance and VkPhysicalDevice)".into(),
        ));
    }
    Ok(VulkanDevice {
        entry,
        instance: vk::Instance::from_raw(h.instance),
        api_version: h.api_version,
        instance_extensions: h.instance_extensions.clone(),
        physical_device: vk::PhysicalDevice::from_raw(h.physical_device),
        device: vk::Device::from_raw(h.device),
        device_extensions: h.device_extensions.clone(),
        queue_family: h.queue_family,
        queue_index: h.queue_index,
    })
}

pub fn vulkan_required_device_extensions(h: &VulkanHandles, st: &mut Status) -> Vec<String> {
    let r = guarded(|| {
        let dev = device_of(h, load_entry()?)?;
        let req = unsafe {
            rm::gpu::vulkan_host::device_requirements(&VulkanInstance {
                entry: &dev.entry,
                instance: dev.instance,
                api_version: dev.api_version,
                instance_extensions: &dev.instance_extensions,
                physical_device: dev.physical_device,
            })
        }?;
        Ok(req
            .extension_names()
            .into_iter()
            .filter(|e| !h.device_extensions.contains(e))
            .collect())
    });
    match r {
        Ok(v) => {
            *st = ok_status();
            v
        }
        Err(e) => {
            *st = e;
            Vec::new()
        }
    }
}

pub fn create_vulkan_session(
    h: &VulkanHandles,
    settings: &Settings,
    st: &mut Status,
) -> Box<VulkanSession> {
    let made = guarded(|| {
        let config = convert::config_from_settings(settings)?;
        let dev = device_of(h, load_entry()?)?;
        if h.device == 0 {
            return Err(config_error(
                "configuration: the VkDevice handle is 0 (fix: create the device first)".into(),
            ));
        }
        let ctx = unsafe { GpuContext::from_vulkan(&dev) }?;
        let session = rm::DeviceSession::new(ctx.clone(), config)?;
        Ok(Inner {
            session,
            ctx,
            images: Vec::new(),
        })
    });
    match made {
        Ok(inner) => {
            *st = ok_status();
            Box::new(VulkanSession {
                inner: Some(inner),
                fault: None,
            })
        }
        Err(e) => {
            *st = e.clone();
            Box::new(VulkanSession {
                inner: None,
                fault: Some(e),
            })
        }
    }
}

fn format_of(f: ImageFormat) -> Result<wgpu::TextureFormat, Status> {
    use wgpu::TextureFormat as T;
    Ok(match f {
        ImageFormat::Rgba8Unorm => T::Rgba8Unorm,
        ImageFormat::Rgba8UnormSrgb => T::Rgba8UnormSrgb,
        ImageFormat::Bgra8Unorm => T::Bgra8Unorm,
        ImageFormat::Bgra8UnormSrgb => T::Bgra8UnormSrgb,
        ImageFormat::Rgba16Float => T::Rgba16Float,
        ImageFormat::Rgba32Float => T::Rgba32Float,
        ImageFormat::R32Float => T::R32Float,
        ImageFormat::Depth32Float => T::Depth32Float,
        ImageFormat::Rgb10a2Unorm => T::Rgb10a2Unorm,
        ImageFormat::Rg16Float => T::Rg16Float,
        ImageFormat::Rg32Float => T::Rg32Float,
        other => {
            return Err(config_error(format!(
                "configuration: unknown image format value {} (fix: use a realmaster ImageFormat constant)",
                other.repr
            )))
        }
    })
}

impl VulkanSession {
    fn with<T>(&mut self, f: impl FnOnce(&mut Inner) -> Result<T, Status>) -> Result<T, Status> {
        let Some(inner) = self.inner.as_mut() else {
            let why = self
                .fault
                .as_ref()
                .map_or("unknown reason", |s| s.message.as_str());
            return Err(status(
                StatusCode::Shutdown,
                format!("this Vulkan session was never created: {why} (fix: create a new session with valid handles and settings)"),
            ));
        };
        guarded(|| f(inner))
    }

    pub fn register_image(&mut self, image: &VulkanImage, st: &mut Status) -> u32 {
        let r = self.with(|inner| {
            if image.image == 0 || image.width == 0 || image.height == 0 {
                return Err(config_error(format!(
                    "configuration: image handle {:#x} of {}x{} (fix: pass the VkImage and its size)",
                    image.image, image.width, image.height
                )));
            }
            let mut usage = if image.output {
                wgpu::TextureUsages::STORAGE_BINDING
            } else {
                wgpu::TextureUsages::TEXTURE_BINDING
            };
            if image.transfer_src {
                usage |= wgpu::TextureUsages::COPY_SRC;
            }
            if image.transfer_dst {
                usage |= wgpu::TextureUsages::COPY_DST;
            }
            let texture = unsafe {
                inner.ctx.wrap_vulkan_image(&RmImage {
                    image: vk::Image::from_raw(image.image),
                    width: image.width,
                    height: image.height,
                    format: format_of(image.format)?,
                    usage,
                })
            }?;
            inner.images.push(Some(texture));
            Ok(inner.images.len() as u32)
        });
        match r {
            Ok(id) => {
                *st = ok_status();
                id
            }
            Err(e) => {
                *st = e;
                0
            }
        }
    }

    pub fn release_image(&mut self, id: u32) -> Status {
        self.with(|inner| {
            match inner.images.get_mut((id as usize).wrapping_sub(1)) {
                Some(slot @ Some(_)) => *slot = None,
                _ => {
                    return Err(config_error(format!(
                    "configuration: no registered image {id} (fix: pass an id from register_image)"
                )))
                }
            }
            Ok(())
        })
        .err()
        .unwrap_or_else(ok_status)
    }

    pub fn process(&mut self, frame: &VulkanFrame) -> VulkanFrameResult {
        let r = self.with(|inner| {
            let get = |id: u32, what: &str| -> Result<Option<&wgpu::Texture>, Status> {
                if id == 0 {
                    return Ok(None);
                }
                match inner.images.get(id as usize - 1) {
                    Some(Some(t)) => Ok(Some(t)),
                    _ => Err(status(
                        StatusCode::InvalidFrame,
                        format!("invalid frame: the {what} image id {id} is not registered (fix: register_image it first)"),
                    )),
                }
            };
            let missing = |what: &str| {
                status(
                    StatusCode::InvalidFrame,
                    format!("invalid frame: no {what} image (fix: pass its id from register_image)"),
                )
            };
            let color = get(frame.color, "colour")?.ok_or_else(|| missing("colour"))?;
            let output = get(frame.output, "output")?.ok_or_else(|| missing("output"))?;
            let depth_enc = if frame.depth_reverse_z_near > 0.0 {
                rm::DepthEncoding::ReverseZ {
                    near: frame.depth_reverse_z_near,
                }
            } else {
                rm::DepthEncoding::ViewDistance
            };
            let normal_enc = if frame.normals_unorm_world {
                let m = frame.world_to_view;
                rm::NormalEncoding::UnormWorld {
                    world_to_view: [[m[0], m[1], m[2]], [m[3], m[4], m[5]], [m[6], m[7], m[8]]],
                }
            } else {
                rm::NormalEncoding::View
            };
            let motion_enc = if frame.motion_uv {
                rm::MotionEncoding::UvCurrentMinusPrevious
            } else {
                rm::MotionEncoding::PixelsToPrevious
            };
            let df = rm::DeviceFrame {
                color,
                depth: get(frame.depth, "depth")?.map(|t| (t, depth_enc)),
                normals: get(frame.normals, "normals")?.map(|t| (t, normal_enc)),
                motion: get(frame.motion, "motion")?.map(|t| (t, motion_enc)),
                camera_cut: frame.camera_cut,
                light: crate::convert::light_from_ffi(&frame.light)?,
            };
            let output = output.clone();
            let report = inner.session.process(&df, &output);
            Ok(VulkanFrameResult {
                status: report
                    .error
                    .map(|message| Status {
                        code: report.error_code,
                        message,
                    })
                    .unwrap_or_else(ok_status),
                enhanced: report.enhanced,
                transfer_bytes: report.transfer_bytes,
            })
        });
        r.unwrap_or_else(|e| VulkanFrameResult {
            status: e,
            enhanced: false,
            transfer_bytes: 0,
        })
    }

    pub fn set_prompt(&mut self, text: &[u8]) -> Status {
        self.with(|inner| {
            let text = std::str::from_utf8(text).map_err(|e| {
                status(
                    StatusCode::Prompt,
                    format!("prompt: the text is not valid UTF-8 ({e}) (fix: pass UTF-8 text)"),
                )
            })?;
            inner.session.set_prompt(text).map_err(Into::into)
        })
        .err()
        .unwrap_or_else(ok_status)
    }

    pub fn set_strength(&mut self, strength: f32) -> Status {
        self.with(|inner| inner.session.set_strength(strength).map_err(Into::into))
            .err()
            .unwrap_or_else(ok_status)
    }

    pub fn set_upsample_eps(&mut self, eps: f32) -> Status {
        self.with(|inner| inner.session.set_upsample_eps(eps).map_err(Into::into))
            .err()
            .unwrap_or_else(ok_status)
    }

    pub fn set_mode(&mut self, mode: Mode) -> Status {
        self.with(|inner| {
            inner.session.set_mode(convert::mode_from_ffi(mode)?);
            Ok(())
        })
        .err()
        .unwrap_or_else(ok_status)
    }

    pub fn stats(&self) -> Stats {
        self.inner
            .as_ref()
            .map(|i| convert::stats_to_ffi(&i.session.stats()))
            .unwrap_or_default()
    }

    pub fn health(&self) -> Status {
        match &self.inner {
            Some(i) => convert::health_to_status(&i.session.health()),
            None => self.fault.clone().unwrap_or_else(ok_status),
        }
    }
}

impl Drop for VulkanSession {
    fn drop(&mut self) {
        // The session (and its inference thread) before the textures and the device wrapper.
        if let Some(inner) = self.inner.take() {
            let Inner {
                session,
                ctx,
                images,
            } = inner;
            if guarded(move || {
                drop(session);
                drop(images);
                drop(ctx);
                Ok(())
            })
            .is_err()
            {
                log::error!("RealMaster: a panic occurred while shutting a Vulkan session down");
            }
        }
    }
}
