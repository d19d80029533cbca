//! Small building blocks every compute pass shares: GPU images held in storage buffers, a compiled
//! WGSL kernel with an auto-derived bind group layout, and blocking readback for tests and CLI.
//!
//! Images are `array<vec4<f32>>` (4 channels) or `array<f32>` (1 channel), row-major, tightly packed.
//! Storage buffers rather than textures keep every pass's addressing explicit and identical to its CPU
//! reference, and avoid format-support differences between software and hardware drivers.

use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

/// A 2D image in a storage buffer.
pub struct GpuImage {
    pub buffer: wgpu::Buffer,
    pub width: u32,
    pub height: u32,
    /// 1 or 4.
    pub channels: u32,
}

impl GpuImage {
    pub fn new(device: &wgpu::Device, label: &str, width: u32, height: u32, channels: u32) -> Self {
        debug_assert!(channels == 1 || channels == 4);
        let size = (width as u64 * height as u64 * channels as u64 * 4).max(16);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        GpuImage {
            buffer,
            width,
            height,
            channels,
        }
    }

    pub fn from_data(
        device: &wgpu::Device,
        label: &str,
        width: u32,
        height: u32,
        channels: u32,
        data: &[f32],
    ) -> Self {
        assert_eq!(data.len(), (width * height * channels) as usize);
        let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        });
        GpuImage {
            buffer,
            width,
            height,
            channels,
        }
    }

    pub fn len_floats(&self) -> usize {
        (self.width * self.height * self.channels) as usize
    }

    pub fn size_bytes(&self) -> u64 {
        self.len_floats() as u64 * 4
    }

    pub fn same_shape(&self, w: u32, h: u32, c: u32) -> bool {
        self.width == w && self.height == h && self.channels == c
    }
}

/// Usage of every pass's parameter block. The shaders read their parameters as
/// `var<storage, read>`, not `var<uniform>`: lavapipe (Mesa 22.3's software Vulkan) inlines the
/// values of uniform buffers into the shader and JIT-compiles a new variant for them on every
/// dispatch, keeping each variant until the device is destroyed. That was the Vulkan-only memory
/// growth of ~1 MB per frame (flat on GL, where llvmpipe does no such inlining); a storage buffer is
/// never inlined. Costs nothing measurable on a GPU: the blocks are a few words.
pub const PARAMS_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE;

/// Bind groups made through [`Kernel::bind`] (every pass's per-dispatch bindings) since the process
/// started. A steady frame loop must make none: on lavapipe (Mesa 22.3, software Vulkan) every bind
/// group and uniform buffer made and dropped per frame kept ~100 KB of driver memory until the device
/// was destroyed (see [`BindCache`]); the leak test checks this count.
static BIND_GROUPS_MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many bind groups the passes have made so far (all devices of this process).
pub fn bind_groups_made() -> u64 {
    BIND_GROUPS_MADE.load(std::sync::atomic::Ordering::Relaxed)
}

/// A compute pipeline compiled from one WGSL file.
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub label: &'static str,
}

/// Threads per workgroup side; every shader declares `@workgroup_size(8, 8, 1)` for 2D passes.
pub const WG: u32 = 8;

impl Kernel {
    /// Compile `source` (the pass's WGSL file beside its module, via `include_str!`) at `entry`.
    pub fn new(device: &wgpu::Device, label: &'static str, source: &str, entry: &str) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        Kernel {
            pipeline,
            layout,
            label,
        }
    }

    /// Compile `source` at `entry` with an explicit bind group layout. Needed where the derived
    /// layout would be wrong for what the host binds, e.g. a `texture_2d<f32>` read only with
    /// `textureLoad` must accept unfilterable formats (R32Float), which a derived layout refuses.
    pub fn with_layout(
        device: &wgpu::Device,
        label: &'static str,
        source: &str,
        entry: &str,
        entries: &[wgpu::BindGroupLayoutEntry],
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Kernel {
            pipeline,
            layout,
            label,
        }
    }

    /// Bind `resources` at bindings 0..n of group 0.
    pub fn bind(
        &self,
        device: &wgpu::Device,
        resources: &[wgpu::BindingResource<'_>],
    ) -> wgpu::BindGroup {
        self.bind_at(device, &in_order(resources).collect::<Vec<_>>())
    }

    /// Bind (binding number, resource) pairs in group 0 (entry points that use some bindings).
    pub fn bind_at(
        &self,
        device: &wgpu::Device,
        entries: &[(u32, wgpu::BindingResource<'_>)],
    ) -> wgpu::BindGroup {
        BIND_GROUPS_MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bind_group(
            device,
            &self.layout,
            Some(self.label),
            entries.iter().cloned(),
        )
    }

    /// Record a 2D dispatch covering `width` x `height` threads.
    pub fn dispatch_2d(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        bind_group: &wgpu::BindGroup,
        width: u32,
        height: u32,
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(self.label),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(width.div_ceil(WG), height.div_ceil(WG), 1);
    }
}

/// A bind group on `layout` from (binding number, resource) pairs.
pub fn bind_group<'a>(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: Option<&str>,
    entries: impl IntoIterator<Item = (u32, wgpu::BindingResource<'a>)>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'a>> = entries
        .into_iter()
        .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label,
        layout,
        entries: &entries,
    })
}

/// `resources` numbered 0..n, for [`bind_group`].
pub fn in_order<'r, 'a: 'r>(
    resources: &'r [wgpu::BindingResource<'a>],
) -> impl Iterator<Item = (u32, wgpu::BindingResource<'a>)> + 'r {
    (0u32..).zip(resources.iter().cloned())
}

/// Bind groups of one kernel, each with its own uniform buffer, remembered by what they bind
/// (uniform contents + the buffers at bindings 1..n). A steady frame loop creates none: ping-pong
/// buffers only alternate between a couple of sets. Every entry's uniform is immutable, so several
/// dispatches recorded into one encoder each see their own values. Entries keep their buffers
/// alive: `clear` when the images they bind are reallocated.
#[derive(Default)]
pub struct BindCache {
    /// Most recently used last.
    entries: Vec<CachedBind>,
}

struct CachedBind {
    params: Vec<u8>,
    buffers: Vec<wgpu::Buffer>,
    textures: Vec<wgpu::Texture>,
    bind_group: wgpu::BindGroup,
}

impl BindCache {
    /// Enough for the ping-pong sets of one pass plus a resolution or model-size change.
    const CAPACITY: usize = 4;

    /// The bind group for `kernel` with a uniform holding `uniform` at binding 0 and `buffers`
    /// (whole) at bindings 1..=n; made and remembered on a miss.
    pub fn get(
        &mut self,
        device: &wgpu::Device,
        kernel: &Kernel,
        uniform: &[u8],
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        self.get_with(uniform, buffers, &[], || {
            let ub = params_buffer(device, kernel.label, uniform);
            let mut resources = vec![ub.as_entire_binding()];
            resources.extend(buffers.iter().map(|b| b.as_entire_binding()));
            kernel.bind(device, &resources)
        })
    }

    /// The bind group remembered for (`params`, `buffers`, `textures`), or `make`'s on a miss.
    /// For passes whose bindings are not "uniform + buffers", e.g. a host's textures.
    pub fn get_with(
        &mut self,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
        textures: &[&wgpu::Texture],
        make: impl FnOnce() -> wgpu::BindGroup,
    ) -> wgpu::BindGroup {
        let hit = self.entries.iter().position(|e| {
            e.params == params
                && e.buffers.len() == buffers.len()
                && e.buffers.iter().zip(buffers).all(|(a, b)| a == *b)
                && e.textures.len() == textures.len()
                && e.textures.iter().zip(textures).all(|(a, t)| a == *t)
        });
        let entry = match hit {
            Some(i) => self.entries.remove(i),
            None => {
                if self.entries.len() >= Self::CAPACITY {
                    self.entries.remove(0);
                }
                CachedBind {
                    params: params.to_vec(),
                    buffers: buffers.iter().map(|b| (*b).clone()).collect(),
                    textures: textures.iter().map(|t| (*t).clone()).collect(),
                    bind_group: make(),
                }
            }
        };
        let bind_group = entry.bind_group.clone();
        self.entries.push(entry);
        bind_group
    }

    /// Forget every bind group (and release the buffers they hold).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// An immutable parameter block holding `bytes` (read-only storage: see [`PARAMS_USAGE`]).
pub fn params_buffer(device: &wgpu::Device, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytes,
        usage: PARAMS_USAGE,
    })
}

/// Copy a buffer region back to the CPU through a new staging buffer, blocking until the GPU is
/// done. For tests and tools; the session's passes keep their staging buffers (gpu_passes.rs).
pub fn read_buffer(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    src: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>> {
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("readback"),
    });
    enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
    queue.submit([enc.finish()]);
    map_and_read(device, &staging, size)
}

/// Map an already-filled MAP_READ buffer and copy its bytes out.
pub fn map_and_read(device: &wgpu::Device, staging: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    map_and_read_into(device, staging, size, &mut out)?;
    Ok(out)
}

/// Like [`map_and_read`], into a reused vector (replacing its contents).
pub fn map_and_read_into(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    size: u64,
    dst: &mut Vec<u8>,
) -> Result<()> {
    map_then(device, staging, size, |bytes| {
        dst.clear();
        dst.extend_from_slice(bytes);
    })
}

/// Like [`map_and_read`] for f32 data, into a reused vector (no allocation once it is large enough).
pub fn map_and_read_f32_into(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    size: u64,
    dst: &mut Vec<f32>,
) -> Result<()> {
    map_then(device, staging, size, |bytes| {
        dst.clear();
        match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(f) => dst.extend_from_slice(f),
            // Mapped ranges are aligned in practice; fall back rather than assume it.
            Err(_) => dst.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
        }
    })
}

/// Map `staging[..size]` for reading, wait for the GPU, hand the bytes to `read`, unmap.
fn map_then(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    size: u64,
    read: impl FnOnce(&[u8]),
) -> Result<()> {
    let slice = staging.slice(..size);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| {
            Error::gpu(
                format!("waiting for the GPU failed ({e})"),
                "the device was lost; restart the session",
            )
        })?;
    rx.recv()
        .map_err(|_| {
            Error::gpu(
                "readback callback never ran",
                "the device was lost; restart the session",
            )
        })?
        .map_err(|e| {
            Error::gpu(
                format!("mapping the readback buffer failed ({e})"),
                "the device was lost; restart the session",
            )
        })?;
    {
        let range = slice.get_mapped_range().map_err(|e| {
            Error::gpu(
                format!("reading the mapped buffer failed ({e})"),
                "the device was lost; restart the session",
            )
        })?;
        read(&range);
    }
    staging.unmap();
    Ok(())
}

/// Read a whole image back as f32.
pub fn read_image(device: &wgpu::Device, queue: &wgpu::Queue, img: &GpuImage) -> Result<Vec<f32>> {
    let bytes = read_buffer(device, queue, &img.buffer, 0, img.size_bytes())?;
    Ok(bytemuck::cast_slice(&bytes).to_vec())
}
