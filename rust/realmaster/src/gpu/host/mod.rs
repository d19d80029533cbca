//! The device path's two ends: a host engine's own textures in, its own texture out, on the host's
//! wgpu device. `import` (import.wgsl) turns the host's colour and G-buffer textures into the
//! full-resolution images the passes read, converting the host's conventions to docs/formats.md;
//! `export` (export.wgsl) writes the composited frame into the host's storage texture. No
//! full-resolution data crosses to the CPU: only the model-size tensors do (see `DeviceSession`).

use crate::error::{Error, Result};
use crate::frame::{MAX_DEPTH, MAX_DIMENSION};
use crate::gpu::context::GpuContext;
use crate::gpu::frame_images::FrameImages;
use crate::gpu::kernel::{params_buffer, BindCache, GpuImage, Kernel};

const IMPORT: &str = include_str!("import.wgsl");
const EXPORT: &str = include_str!("export.wgsl");

/// How the host's depth texture encodes depth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum DepthEncoding {
    /// Distance along the camera axis in world units (docs/formats.md).
    #[default]
    ViewDistance,
    /// Reverse Z with an infinite far plane: texel = near / distance, 0 = background (Bevy, Unreal).
    ReverseZ { near: f32 },
}

/// How the host's motion texture encodes motion.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum MotionEncoding {
    /// Pixels from the current pixel to where it was in the previous frame (docs/formats.md).
    #[default]
    PixelsToPrevious,
    /// Current UV minus previous UV, UV units (full screen = 1), +y down (Bevy).
    UvCurrentMinusPrevious,
}

/// How the host's normal texture encodes normals.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum NormalEncoding {
    /// View-space unit normals in [-1, 1] (x right, y up, z towards the camera; docs/formats.md).
    #[default]
    View,
    /// World-space normals stored as `n * 0.5 + 0.5`, turned into view space with the rotation
    /// `world_to_view` (rows; the view matrix's upper 3x3). Bevy's normal prepass.
    UnormWorld { world_to_view: [[f32; 3]; 3] },
}

/// One frame as textures on the host's device: what `DeviceSession::process` reads. Every texture
/// needs `TEXTURE_BINDING` usage, one sample and the colour texture's size.
#[derive(Debug, Clone, Copy)]
pub struct DeviceFrame<'a> {
    /// Rgba8Unorm(Srgb), Bgra8Unorm(Srgb), Rgba16Float or Rgba32Float. Plain *Unorm textures are
    /// taken as sRGB-encoded, like the CPU API's 8-bit formats; float formats as linear.
    pub color: &'a wgpu::Texture,
    /// R32Float or Depth32Float.
    pub depth: Option<(&'a wgpu::Texture, DepthEncoding)>,
    /// Rgba8Unorm, Rgb10a2Unorm, Rgba16Float or Rgba32Float.
    pub normals: Option<(&'a wgpu::Texture, NormalEncoding)>,
    /// Rg16Float, Rg32Float, Rgba16Float or Rgba32Float.
    pub motion: Option<(&'a wgpu::Texture, MotionEncoding)>,
    /// The host knows the camera cut here: the temporal history is dropped.
    pub camera_cut: bool,
    /// See [`FrameRef::light`](crate::FrameRef::light).
    pub light: Option<crate::light::SceneLight>,
}

impl<'a> DeviceFrame<'a> {
    /// A frame with colour only.
    pub fn new(color: &'a wgpu::Texture) -> Self {
        DeviceFrame {
            color,
            depth: None,
            normals: None,
            motion: None,
            camera_cut: false,
            light: None,
        }
    }

    pub fn width(&self) -> u32 {
        self.color.width()
    }

    pub fn height(&self) -> u32 {
        self.color.height()
    }

    /// Check formats, usages and sizes, naming the texture and the fix.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = (self.width(), self.height());
        if w == 0 || h == 0 || w > MAX_DIMENSION || h > MAX_DIMENSION {
            return Err(bad(
                format!("the colour texture is {w}x{h}, outside 1..={MAX_DIMENSION}"),
                "pass the view's colour texture",
            ));
        }
        check_texture("colour", self.color, (w, h), COLOR_FORMATS)?;
        if let Some((t, e)) = self.depth {
            check_texture("depth", t, (w, h), DEPTH_FORMATS)?;
            if let DepthEncoding::ReverseZ { near } = e {
                if !(near.is_finite() && near > 0.0) {
                    return Err(bad(
                        format!("reverse-Z depth with near plane {near}"),
                        "pass the camera's near-plane distance (world units, > 0)",
                    ));
                }
            }
        }
        if let Some((t, e)) = self.normals {
            check_texture("normals", t, (w, h), NORMAL_FORMATS)?;
            if let NormalEncoding::UnormWorld { world_to_view } = e {
                if world_to_view.iter().flatten().any(|v| !v.is_finite()) {
                    return Err(bad(
                        "the world-to-view rotation has a non-finite value".into(),
                        "pass the upper 3x3 of the camera's view matrix",
                    ));
                }
            }
        }
        if let Some((t, _)) = self.motion {
            check_texture("motion", t, (w, h), MOTION_FORMATS)?;
        }
        Ok(())
    }
}

const COLOR_FORMATS: &[wgpu::TextureFormat] = &[
    wgpu::TextureFormat::Rgba8Unorm,
    wgpu::TextureFormat::Rgba8UnormSrgb,
    wgpu::TextureFormat::Bgra8Unorm,
    wgpu::TextureFormat::Bgra8UnormSrgb,
    wgpu::TextureFormat::Rgba16Float,
    wgpu::TextureFormat::Rgba32Float,
];
const DEPTH_FORMATS: &[wgpu::TextureFormat] = &[
    wgpu::TextureFormat::R32Float,
    wgpu::TextureFormat::Depth32Float,
];
const NORMAL_FORMATS: &[wgpu::TextureFormat] = &[
    wgpu::TextureFormat::Rgba8Unorm,
    wgpu::TextureFormat::Rgb10a2Unorm,
    wgpu::TextureFormat::Rgba16Float,
    wgpu::TextureFormat::Rgba32Float,
];
const MOTION_FORMATS: &[wgpu::TextureFormat] = &[
    wgpu::TextureFormat::Rg16Float,
    wgpu::TextureFormat::Rg32Float,
    wgpu::TextureFormat::Rgba16Float,
    wgpu::TextureFormat::Rgba32Float,
];
/// Output formats: storage-writable everywhere wgpu runs.
pub const OUTPUT_FORMATS: &[wgpu::TextureFormat] = &[
    wgpu::TextureFormat::Rgba8Unorm,
    wgpu::TextureFormat::Rgba16Float,
    wgpu::TextureFormat::Rgba32Float,
];

fn bad(problem: String, fix: &str) -> Error {
    Error::InvalidFrame {
        problem,
        fix: fix.into(),
    }
}

fn check_texture(
    what: &str,
    t: &wgpu::Texture,
    size: (u32, u32),
    formats: &[wgpu::TextureFormat],
) -> Result<()> {
    if (t.width(), t.height()) != size {
        return Err(bad(
            format!(
                "the {what} texture is {}x{} but the colour texture is {}x{}",
                t.width(),
                t.height(),
                size.0,
                size.1
            ),
            "pass G-buffer textures of the view's size",
        ));
    }
    if !formats.contains(&t.format()) {
        return Err(bad(
            format!(
                "the {what} texture's format {:?} is not supported",
                t.format()
            ),
            &format!("use one of {formats:?}"),
        ));
    }
    if !t.usage().contains(wgpu::TextureUsages::TEXTURE_BINDING) {
        return Err(bad(
            format!("the {what} texture was made without TEXTURE_BINDING usage"),
            "add wgpu::TextureUsages::TEXTURE_BINDING when creating it",
        ));
    }
    if t.sample_count() != 1 || t.dimension() != wgpu::TextureDimension::D2 {
        return Err(bad(
            format!(
                "the {what} texture has {} samples, dimension {:?}",
                t.sample_count(),
                t.dimension()
            ),
            "pass a resolved (single-sample) 2D texture",
        ));
    }
    Ok(())
}

/// Check the output texture against the frame.
pub fn check_output(output: &wgpu::Texture, size: (u32, u32)) -> Result<()> {
    if (output.width(), output.height()) != size {
        return Err(bad(
            format!(
                "the output texture is {}x{} but the frame is {}x{}",
                output.width(),
                output.height(),
                size.0,
                size.1
            ),
            "pass an output texture of the view's size",
        ));
    }
    if !OUTPUT_FORMATS.contains(&output.format()) {
        return Err(bad(
            format!("the output texture's format {:?} cannot be written by a compute pass", output.format()),
            "use Rgba8Unorm (sRGB-encoded values; view it as Rgba8UnormSrgb), Rgba16Float or Rgba32Float",
        ));
    }
    if !output
        .usage()
        .contains(wgpu::TextureUsages::STORAGE_BINDING)
    {
        return Err(bad(
            "the output texture was made without STORAGE_BINDING usage".into(),
            "add wgpu::TextureUsages::STORAGE_BINDING when creating it",
        ));
    }
    Ok(())
}

/// Plain unorm colour textures hold sRGB-encoded values; textureLoad decodes *Srgb formats itself.
fn srgb_encoded_texels(f: wgpu::TextureFormat) -> bool {
    matches!(
        f,
        wgpu::TextureFormat::Rgba8Unorm | wgpu::TextureFormat::Bgra8Unorm
    )
}

/// Mirrors `Params` in import.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ImportParams {
    width: u32,
    height: u32,
    mode: u32,
    unorm: u32,
    m0: [f32; 4],
    m1: [f32; 4],
    m2: [f32; 4],
    depth_mode: u32,
    near: f32,
    max_depth: f32,
    _pad: u32,
}

/// Mirrors `Params` in export.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ExportParams {
    width: u32,
    height: u32,
    srgb_out: u32,
    srgb_in: u32,
    strength: f32,
    _pad: [u32; 3],
}

fn params_entry() -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only: true },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn texture_entry(binding: u32, sample_type: wgpu::TextureSampleType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Texture {
            // Read with textureLoad only, so unfilterable formats (R32Float) bind too.
            sample_type,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    }
}

const FLOAT: wgpu::TextureSampleType = wgpu::TextureSampleType::Float { filterable: false };

/// One entry point of import.wgsl with the bindings it reads the texture from and writes to.
struct ImportKernel {
    kernel: Kernel,
    texture_binding: u32,
    output_binding: u32,
}

impl ImportKernel {
    fn new(
        device: &wgpu::Device,
        entry: &'static str,
        sample_type: wgpu::TextureSampleType,
        texture_binding: u32,
        output_binding: u32,
    ) -> Self {
        let layout = [
            params_entry(),
            texture_entry(texture_binding, sample_type),
            storage_entry(output_binding, false),
        ];
        ImportKernel {
            kernel: Kernel::with_layout(device, entry, IMPORT, entry, &layout),
            texture_binding,
            output_binding,
        }
    }

    /// Convert `texture` into `dst` with `p`; the bind group is remembered in `memo`.
    fn dispatch(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        memo: &mut BindCache,
        texture: &wgpu::Texture,
        dst: &GpuImage,
        p: &ImportParams,
    ) {
        let bytes = bytemuck::bytes_of(p);
        let group = memo.get_with(bytes, &[&dst.buffer], &[texture], || {
            let params = params_buffer(&ctx.device, "import params", bytes);
            let view = texture.create_view(&Default::default());
            self.kernel.bind_at(
                &ctx.device,
                &[
                    (0, params.as_entire_binding()),
                    (
                        self.texture_binding,
                        wgpu::BindingResource::TextureView(&view),
                    ),
                    (self.output_binding, dst.buffer.as_entire_binding()),
                ],
            )
        });
        self.kernel.dispatch_2d(enc, &group, p.width, p.height);
    }
}

/// The import pass: host textures → [`FrameImages`].
pub struct Import {
    color: ImportKernel,
    vec: ImportKernel,
    depth: ImportKernel,
    depth_attachment: ImportKernel,
    /// Bind groups per plane (colour, depth, normals, motion), remembered with the host's
    /// textures: hosts alternate between a few (ping-pong targets), so a steady loop makes none.
    memo: [BindCache; 4],
}

impl Import {
    pub fn new(device: &wgpu::Device) -> Self {
        let depth = wgpu::TextureSampleType::Depth;
        Import {
            color: ImportKernel::new(device, "import_color", FLOAT, 1, 2),
            vec: ImportKernel::new(device, "import_vec", FLOAT, 1, 2),
            depth: ImportKernel::new(device, "import_depth", FLOAT, 1, 3),
            depth_attachment: ImportKernel::new(device, "import_depth_attachment", depth, 4, 3),
            memo: Default::default(),
        }
    }

    /// Record the import of `frame` into `images` (allocated for its size and planes).
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &DeviceFrame<'_>,
        images: &FrameImages,
    ) -> Result<()> {
        let (w, h) = (frame.width(), frame.height());
        let base = ImportParams {
            width: w,
            height: h,
            mode: 0,
            unorm: 0,
            m0: [1.0, 0.0, 0.0, 0.0],
            m1: [0.0, 1.0, 0.0, 0.0],
            m2: [0.0, 0.0, 1.0, 0.0],
            depth_mode: 0,
            near: 1.0,
            max_depth: MAX_DEPTH,
            _pad: 0,
        };
        let missing = |what: &str| {
            Error::Internal(format!("frame images have no {what} plane for the import"))
        };
        let [color_memo, depth_memo, normals_memo, motion_memo] = &mut self.memo;
        let color = ImportParams {
            mode: u32::from(srgb_encoded_texels(frame.color.format())),
            ..base
        };
        self.color
            .dispatch(ctx, enc, color_memo, frame.color, &images.color, &color);
        if let Some((t, e)) = frame.depth {
            let dst = images.depth.as_ref().ok_or_else(|| missing("depth"))?;
            let p = match e {
                DepthEncoding::ViewDistance => base,
                DepthEncoding::ReverseZ { near } => ImportParams {
                    depth_mode: 1,
                    near,
                    ..base
                },
            };
            let k = if t.format() == wgpu::TextureFormat::Depth32Float {
                &self.depth_attachment
            } else {
                &self.depth
            };
            k.dispatch(ctx, enc, depth_memo, t, dst, &p);
        }
        if let Some((t, e)) = frame.normals {
            let dst = images.normals.as_ref().ok_or_else(|| missing("normals"))?;
            let p = match e {
                NormalEncoding::View => ImportParams { mode: 3, ..base },
                NormalEncoding::UnormWorld { world_to_view: r } => ImportParams {
                    mode: 3,
                    unorm: 1,
                    // Columns of the rotation (rows given): out = R v.
                    m0: [r[0][0], r[1][0], r[2][0], 0.0],
                    m1: [r[0][1], r[1][1], r[2][1], 0.0],
                    m2: [r[0][2], r[1][2], r[2][2], 0.0],
                    ..base
                },
            };
            self.vec.dispatch(ctx, enc, normals_memo, t, dst, &p);
        }
        if let Some((t, e)) = frame.motion {
            let dst = images.motion.as_ref().ok_or_else(|| missing("motion"))?;
            let (sx, sy) = match e {
                MotionEncoding::PixelsToPrevious => (1.0, 1.0),
                MotionEncoding::UvCurrentMinusPrevious => (-(w as f32), -(h as f32)),
            };
            let p = ImportParams {
                mode: 2,
                m0: [sx, 0.0, 0.0, 0.0],
                m1: [0.0, sy, 0.0, 0.0],
                m2: [0.0; 4],
                ..base
            };
            self.vec.dispatch(ctx, enc, motion_memo, t, dst, &p);
        }
        Ok(())
    }
}

/// The export pass: composited frame → the host's storage texture, or the host's colour texture
/// unchanged (a frame shown untouched).
pub struct Export {
    /// (format, blend kernel, passthrough kernel), made on first use of a format.
    kernels: Vec<(wgpu::TextureFormat, Kernel, Kernel)>,
    blend_memo: BindCache,
    pass_memo: BindCache,
}

fn wgsl_format(f: wgpu::TextureFormat) -> &'static str {
    match f {
        wgpu::TextureFormat::Rgba8Unorm => "rgba8unorm",
        wgpu::TextureFormat::Rgba16Float => "rgba16float",
        _ => "rgba32float",
    }
}

impl Default for Export {
    fn default() -> Self {
        Self::new()
    }
}

impl Export {
    pub fn new() -> Self {
        Export {
            kernels: Vec::new(),
            blend_memo: BindCache::default(),
            pass_memo: BindCache::default(),
        }
    }

    fn kernels(&mut self, device: &wgpu::Device, f: wgpu::TextureFormat) -> usize {
        if let Some(i) = self.kernels.iter().position(|k| k.0 == f) {
            return i;
        }
        let source = EXPORT.replace("OUTPUT_FORMAT", wgsl_format(f));
        let storage = wgpu::BindGroupLayoutEntry {
            binding: 3,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format: f,
                view_dimension: wgpu::TextureViewDimension::D2,
            },
            count: None,
        };
        let blend = Kernel::with_layout(
            device,
            "export_blend",
            &source,
            "export_blend",
            &[
                params_entry(),
                storage_entry(1, true),
                storage_entry(2, true),
                storage,
            ],
        );
        let pass = Kernel::with_layout(
            device,
            "export_passthrough",
            &source,
            "export_passthrough",
            &[params_entry(), storage, texture_entry(4, FLOAT)],
        );
        self.kernels.push((f, blend, pass));
        self.kernels.len() - 1
    }

    /// Record `output = input + strength * residual` (both full-resolution linear images).
    pub fn record_blend(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        input: &GpuImage,
        residual: &GpuImage,
        strength: f32,
        output: &wgpu::Texture,
    ) -> Result<()> {
        check_output(output, (input.width, input.height))?;
        if !residual.same_shape(input.width, input.height, 4) || input.channels != 4 {
            return Err(Error::Internal(format!(
                "export: residual {}x{}x{} for a {}x{} frame",
                residual.width, residual.height, residual.channels, input.width, input.height
            )));
        }
        let i = self.kernels(&ctx.device, output.format());
        let p = ExportParams {
            width: input.width,
            height: input.height,
            srgb_out: u32::from(output.format() == wgpu::TextureFormat::Rgba8Unorm),
            srgb_in: 0,
            strength: if strength.is_finite() {
                strength.clamp(0.0, 1.0)
            } else {
                0.0
            },
            _pad: [0; 3],
        };
        let kernel = &self.kernels[i].1;
        let bytes = bytemuck::bytes_of(&p);
        let buffers = [&input.buffer, &residual.buffer];
        let group = self.blend_memo.get_with(bytes, &buffers, &[output], || {
            let params = params_buffer(&ctx.device, "export params", bytes);
            let view = output.create_view(&Default::default());
            kernel.bind_at(
                &ctx.device,
                &[
                    (0, params.as_entire_binding()),
                    (1, input.buffer.as_entire_binding()),
                    (2, residual.buffer.as_entire_binding()),
                    (3, wgpu::BindingResource::TextureView(&view)),
                ],
            )
        });
        kernel.dispatch_2d(enc, &group, input.width, input.height);
        Ok(())
    }

    /// Record `output = color` (the host's colour texture, re-encoded for the output format).
    pub fn record_passthrough(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        color: &wgpu::Texture,
        output: &wgpu::Texture,
    ) -> Result<()> {
        check_output(output, (color.width(), color.height()))?;
        check_texture(
            "colour",
            color,
            (color.width(), color.height()),
            COLOR_FORMATS,
        )?;
        let i = self.kernels(&ctx.device, output.format());
        let p = ExportParams {
            width: color.width(),
            height: color.height(),
            srgb_out: u32::from(output.format() == wgpu::TextureFormat::Rgba8Unorm),
            srgb_in: u32::from(srgb_encoded_texels(color.format())),
            strength: 0.0,
            _pad: [0; 3],
        };
        let kernel = &self.kernels[i].2;
        let bytes = bytemuck::bytes_of(&p);
        let group = self.pass_memo.get_with(bytes, &[], &[output, color], || {
            let params = params_buffer(&ctx.device, "passthrough params", bytes);
            let out_view = output.create_view(&Default::default());
            let in_view = color.create_view(&Default::default());
            kernel.bind_at(
                &ctx.device,
                &[
                    (0, params.as_entire_binding()),
                    (3, wgpu::BindingResource::TextureView(&out_view)),
                    (4, wgpu::BindingResource::TextureView(&in_view)),
                ],
            )
        });
        kernel.dispatch_2d(enc, &group, color.width(), color.height());
        Ok(())
    }
}

/// The CPU implementations of the import conversions (tests compare import.wgsl against them;
/// the CPU-frame API's decode covers the colour formats).
pub mod reference {
    use super::{DepthEncoding, MotionEncoding, NormalEncoding};
    use crate::frame::MAX_DEPTH;

    /// A depth texel → view-axis distance (background and bad values → `MAX_DEPTH`).
    pub fn depth(texel: f32, e: DepthEncoding) -> f32 {
        let z = match e {
            DepthEncoding::ViewDistance => texel,
            DepthEncoding::ReverseZ { near } if texel > 0.0 => near / texel,
            DepthEncoding::ReverseZ { .. } => MAX_DEPTH,
        };
        if z.is_finite() && z.abs() <= MAX_DEPTH {
            z
        } else {
            MAX_DEPTH
        }
    }

    /// A normal texel → view-space normal (xyz, w = 0; zero when not finite).
    pub fn normal(texel: [f32; 3], e: NormalEncoding) -> [f32; 4] {
        let o = match e {
            NormalEncoding::View => texel,
            NormalEncoding::UnormWorld { world_to_view: r } => {
                let v = texel.map(|c| c * 2.0 - 1.0);
                [0, 1, 2].map(|i| r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2])
            }
        };
        if o.iter().all(|c| c.is_finite()) {
            [o[0], o[1], o[2], 0.0]
        } else {
            [0.0; 4]
        }
    }

    /// A motion texel → pixels to the previous frame (zero when not finite).
    pub fn motion(texel: [f32; 2], e: MotionEncoding, size: (u32, u32)) -> [f32; 4] {
        let o = match e {
            MotionEncoding::PixelsToPrevious => texel,
            MotionEncoding::UvCurrentMinusPrevious => {
                [-texel[0] * size.0 as f32, -texel[1] * size.1 as f32]
            }
        };
        if o.iter().all(|c| c.is_finite()) {
            [o[0], o[1], 0.0, 0.0]
        } else {
            [0.0; 4]
        }
    }
}
