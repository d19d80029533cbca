//! Pack stage: model-resolution images → the model's NCHW f32 tensors, all in one storage buffer
//! (the tensor arena) so the caller reads every input back with one copy (pack.wgsl).

use std::collections::HashMap;

use super::util::{bind_at, check_storage_size, dispatch_many, storage_buffer, uniform_buffer};
use super::{ModelResImages, PreprocessConfig};
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{GpuImage, Kernel};
use crate::model::InputRole as ModelRole;

const SHADER: &str = include_str!("pack.wgsl");

/// A model input that the packer fills (the prompt embedding is CPU-side and not packed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputRole {
    /// [1, 3T, H, W]: the window's colour, oldest first.
    Frames,
    /// [1, T, H, W]: the window's edge maps, oldest first.
    Edges,
    /// [1, 1, H, W]: the current frame's encoded depth.
    Depth,
    /// [1, 3, H, W]: the current frame's normals.
    Normals,
    /// [1, 3, H, W]: the reprojected previous output.
    PreviousOutput,
}

impl InputRole {
    /// The packed role for a manifest role; `None` for the prompt embedding and the light (vectors
    /// fed beside the packed tensors).
    pub fn from_model(role: ModelRole) -> Option<Self> {
        Some(match role {
            ModelRole::Frames => InputRole::Frames,
            ModelRole::Edges => InputRole::Edges,
            ModelRole::Depth => InputRole::Depth,
            ModelRole::Normals => InputRole::Normals,
            ModelRole::PreviousOutput => InputRole::PreviousOutput,
            ModelRole::PromptEmbedding | ModelRole::Light => return None,
        })
    }

    /// The same role in the manifest's terms (names and channel counts live there).
    pub fn model_role(self) -> ModelRole {
        match self {
            InputRole::Frames => ModelRole::Frames,
            InputRole::Edges => ModelRole::Edges,
            InputRole::Depth => ModelRole::Depth,
            InputRole::Normals => ModelRole::Normals,
            InputRole::PreviousOutput => ModelRole::PreviousOutput,
        }
    }

    /// The role's name in manifest.json.
    pub fn name(self) -> &'static str {
        self.model_role().as_str()
    }

    /// Parse a manifest role name; `None` for unknown roles and roles that are not packed.
    pub fn from_name(name: &str) -> Option<Self> {
        ModelRole::try_from(name.to_string())
            .ok()
            .and_then(Self::from_model)
    }

    /// Channel count (the C of NCHW) for a window of `window` frames.
    pub fn channels(self, window: u32) -> u32 {
        // Every packed role has a channel count in the manifest's table.
        self.model_role().channels(window as usize).unwrap_or(0) as u32
    }
}

/// Where one input tensor lives in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// Which input this is.
    pub role: InputRole,
    /// NCHW.
    pub shape: [usize; 4],
    /// Byte offset in the arena (a multiple of [`TensorLayout::ALIGN`]).
    pub offset_bytes: u64,
    /// Number of f32 elements.
    pub len: usize,
}

impl TensorEntry {
    /// Offset in f32 elements.
    pub fn offset_elements(&self) -> usize {
        (self.offset_bytes / 4) as usize
    }
    /// The shape as ONNX Runtime takes it.
    pub fn shape_i64(&self) -> [i64; 4] {
        self.shape.map(|d| d as i64)
    }
}

/// Offsets and shapes of every packed input, in the order the roles were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLayout {
    /// W of every tensor.
    pub width: u32,
    /// H of every tensor.
    pub height: u32,
    /// T: frames in the temporal window.
    pub window: u32,
    /// One entry per packed role, in the order given.
    pub entries: Vec<TensorEntry>,
    /// Arena size in bytes.
    pub total_bytes: u64,
}

impl TensorLayout {
    /// Tensor starts are aligned to this many bytes (GPU storage-offset alignment).
    pub const ALIGN: u64 = 256;

    /// Lay out `roles` back to back for a `width` x `height` model with a window of `window` frames.
    pub fn new(width: u32, height: u32, window: u32, roles: &[InputRole]) -> Result<Self> {
        if width == 0 || height == 0 || window == 0 {
            return Err(Error::config(
                format!("tensor layout {width}x{height} with window {window} has a zero dimension"),
                "use the manifest's resolution and a window of at least 1",
            ));
        }
        let mut entries: Vec<TensorEntry> = Vec::with_capacity(roles.len());
        let mut offset = 0u64;
        for &role in roles {
            if entries.iter().any(|e| e.role == role) {
                return Err(Error::config(
                    format!("input role '{}' is listed twice", role.name()),
                    "list each model input role once",
                ));
            }
            let c = role.channels(window) as usize;
            let shape = [1, c, height as usize, width as usize];
            let len = c * height as usize * width as usize;
            entries.push(TensorEntry {
                role,
                shape,
                offset_bytes: offset,
                len,
            });
            offset = (offset + len as u64 * 4).next_multiple_of(Self::ALIGN);
        }
        Ok(TensorLayout {
            width,
            height,
            window,
            entries,
            total_bytes: offset,
        })
    }

    /// The entry for `role`, if the model has that input.
    pub fn get(&self, role: InputRole) -> Option<&TensorEntry> {
        self.entries.iter().find(|e| e.role == role)
    }

    /// The elements of `role` inside an arena read back as f32.
    pub fn view<'a>(&self, arena: &'a [f32], role: InputRole) -> Option<&'a [f32]> {
        let e = self.get(role)?;
        arena.get(e.offset_elements()..e.offset_elements() + e.len)
    }
}

/// Mirrors `Params` in pack.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    offset: u32,
    _pad: u32,
}

/// Writes a window of [`ModelResImages`] into the tensor arena.
///
/// Bind groups are cached per (dispatch position, source buffer): a window that rotates a fixed set
/// of images reuses them. The cache is dropped wholesale when it outgrows a few windows' worth,
/// which bounds how long it keeps dropped images' buffers alive. Per call, `record` only builds two
/// short lists (at most 2T + 3 dispatches).
pub struct Packer {
    layout: TensorLayout,
    arena: wgpu::Buffer,
    rgb: Kernel,
    one: Kernel,
    /// One uniform per dispatch position (see `position`), `None` for roles the model lacks.
    params: Vec<Option<wgpu::Buffer>>,
    cache: parking_lot::Mutex<HashMap<(usize, wgpu::Buffer), wgpu::BindGroup>>,
}

impl Packer {
    /// Lay out `roles` for the configured model size and a window of `window` frames, and allocate
    /// the arena (STORAGE | COPY_SRC | COPY_DST).
    pub fn new(
        ctx: &GpuContext,
        cfg: &PreprocessConfig,
        window: u32,
        roles: &[InputRole],
    ) -> Result<Self> {
        cfg.validate()?;
        let layout = TensorLayout::new(cfg.model_width, cfg.model_height, window, roles)?;
        let device = &ctx.device;
        check_storage_size(device, "the tensor arena", layout.total_bytes)?;
        if layout.total_bytes / 4 > u32::MAX as u64 {
            return Err(Error::config(
                "the tensor arena exceeds 2^32 elements",
                "lower the model resolution or window",
            ));
        }
        let arena = storage_buffer(
            device,
            "tensor arena",
            layout.total_bytes,
            wgpu::BufferUsages::COPY_SRC,
        );
        let t = window as usize;
        let mut params: Vec<Option<wgpu::Buffer>> = (0..2 * t + 3).map(|_| None).collect();
        let hw = cfg.model_width as usize * cfg.model_height as usize;
        for e in &layout.entries {
            let planes: Vec<(usize, usize)> = match e.role {
                // (position, first element)
                InputRole::Frames => (0..t)
                    .map(|i| (i, e.offset_elements() + 3 * i * hw))
                    .collect(),
                InputRole::Edges => (0..t)
                    .map(|i| (t + i, e.offset_elements() + i * hw))
                    .collect(),
                InputRole::Depth => vec![(2 * t, e.offset_elements())],
                InputRole::Normals => vec![(2 * t + 1, e.offset_elements())],
                InputRole::PreviousOutput => vec![(2 * t + 2, e.offset_elements())],
            };
            for (pos, first) in planes {
                let p = Params {
                    width: cfg.model_width,
                    height: cfg.model_height,
                    offset: first as u32,
                    _pad: 0,
                };
                let buf =
                    uniform_buffer(device, "pack params", std::mem::size_of::<Params>() as u64);
                ctx.queue.write_buffer(&buf, 0, bytemuck::bytes_of(&p));
                params[pos] = Some(buf);
            }
        }
        Ok(Packer {
            layout,
            arena,
            rgb: Kernel::new(device, "pack_rgb", SHADER, "pack_rgb"),
            one: Kernel::new(device, "pack_one", SHADER, "pack_one"),
            params,
            cache: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Offsets and shapes of the packed tensors.
    pub fn layout(&self) -> &TensorLayout {
        &self.layout
    }

    /// The arena holding every packed tensor (`layout().total_bytes` bytes are meaningful).
    pub fn arena(&self) -> &wgpu::Buffer {
        &self.arena
    }

    /// Record the packing of one model call. `slots_oldest_first` must hold exactly `window` images
    /// (repeat the oldest while the window fills); `current` gives depth and normals;
    /// `prev_output` is a 4-channel model-resolution image whose xyz become `previous_output`.
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        slots_oldest_first: &[&ModelResImages],
        current: &ModelResImages,
        prev_output: &GpuImage,
    ) -> Result<()> {
        let (w, h, t) = (
            self.layout.width,
            self.layout.height,
            self.layout.window as usize,
        );
        let shape_cfg = PreprocessConfig {
            model_width: w,
            model_height: h,
            color_space: Default::default(),
            depth_scale: 1.0,
            edges: Default::default(),
        };
        let needs_window = self.layout.get(InputRole::Frames).is_some()
            || self.layout.get(InputRole::Edges).is_some();
        if needs_window && slots_oldest_first.len() != t {
            return Err(Error::config(
                format!(
                    "{} window slots given but the model's window is {t}",
                    slots_oldest_first.len()
                ),
                "pass exactly `window` slots, repeating the oldest frame until the window is full",
            ));
        }
        for s in slots_oldest_first {
            s.check_shape(&shape_cfg)?;
        }
        current.check_shape(&shape_cfg)?;
        if self.layout.get(InputRole::PreviousOutput).is_some() && !prev_output.same_shape(w, h, 4)
        {
            return Err(Error::config(
                format!(
                    "previous output image is {}x{}x{} but the model needs {w}x{h}x4",
                    prev_output.width, prev_output.height, prev_output.channels
                ),
                "pass the reprojected previous output at model resolution with 4 channels",
            ));
        }

        // (position, 4-channel?, source) for every dispatch this model needs.
        let mut jobs: Vec<(usize, bool, &wgpu::Buffer)> = Vec::with_capacity(2 * t + 3);
        for e in &self.layout.entries {
            match e.role {
                InputRole::Frames => jobs.extend(
                    slots_oldest_first
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (i, true, &s.color.buffer)),
                ),
                InputRole::Edges => jobs.extend(
                    slots_oldest_first
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (t + i, false, &s.edges.buffer)),
                ),
                InputRole::Depth => jobs.push((2 * t, false, &current.depth.buffer)),
                InputRole::Normals => jobs.push((2 * t + 1, true, &current.normals.buffer)),
                InputRole::PreviousOutput => jobs.push((2 * t + 2, true, &prev_output.buffer)),
            }
        }

        let mut cache = self.cache.lock();
        if cache.len() + jobs.len() > 4 * self.params.len() {
            cache.clear();
        }
        for &(pos, rgb, src) in &jobs {
            let key = (pos, src.clone());
            if cache.contains_key(&key) {
                continue;
            }
            let Some(params) = self.params[pos].as_ref() else {
                return Err(Error::Internal(format!(
                    "pack position {pos} has no parameters"
                )));
            };
            let bg = if rgb {
                bind_at(
                    &ctx.device,
                    &self.rgb,
                    &[
                        (0, params.as_entire_binding()),
                        (1, self.arena.as_entire_binding()),
                        (2, src.as_entire_binding()),
                    ],
                )
            } else {
                bind_at(
                    &ctx.device,
                    &self.one,
                    &[
                        (0, params.as_entire_binding()),
                        (1, self.arena.as_entire_binding()),
                        (3, src.as_entire_binding()),
                    ],
                )
            };
            cache.insert(key, bg);
        }
        let mut steps = Vec::with_capacity(jobs.len());
        for &(pos, rgb, src) in &jobs {
            let Some(bg) = cache.get(&(pos, src.clone())) else {
                return Err(Error::Internal(
                    "pack bind group missing from its cache".into(),
                ));
            };
            steps.push((if rgb { &self.rgb } else { &self.one }, bg));
        }
        dispatch_many(enc, "pack", steps, w, h);
        Ok(())
    }
}
