//! The wgpu raster renderer: shadow maps, a G-buffer pass (at the output size for the sim and the
//! auxiliary planes, and supersampled for the targets), ambient occlusion, the sim shading pass
//! and one target shading pass per weather, all read back in one submission per frame.

use crate::camera;
use crate::math::{Mat4, Vec3};
use crate::mesh::Vertex;
use crate::scene::{PointLight, Scene, SceneKind};
use crate::weather::{self, Lighting, Weather};
use anyhow::{anyhow, Context, Result};
use realmaster::gpu::context::request_adapter;
use realmaster::gpu::kernel::{bind_group, in_order, map_and_read};
use realmaster::gpu::AdapterPreference;
use wgpu::util::DeviceExt;

/// Supersampling factor of the target passes (the CPU box-filters them down).
pub const SS: u32 = 2;
pub const SHADOW_SIZE: u32 = 2048;
/// Must match SHADOW_DEPTH_RANGE in shaders/common.wgsl.
pub const SHADOW_DEPTH_RANGE: f32 = 1500.0;
/// Depth written for sky pixels (metres; beyond the far plane).
pub const SKY_DEPTH: f32 = 10000.0;
pub const MAX_LIGHTS: usize = 32;

const GBUF_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;
const AO_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;

fn shader(name: &str) -> String {
    let common = include_str!("../shaders/common.wgsl");
    let body = match name {
        "shadow" => include_str!("../shaders/shadow.wgsl"),
        "gbuffer" => include_str!("../shaders/gbuffer.wgsl"),
        "ao" => include_str!("../shaders/ao.wgsl"),
        "sim" => include_str!("../shaders/sim.wgsl"),
        _ => include_str!("../shaders/target.wgsl"),
    };
    format!("{common}\n{body}")
}

/// WGSL sources of every pass (for validation tests and tools).
pub fn shader_sources() -> Vec<(&'static str, String)> {
    ["shadow", "gbuffer", "ao", "sim", "target"]
        .iter()
        .map(|n| (*n, shader(n)))
        .collect()
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Globals {
    view_proj: [[f32; 4]; 4],
    prev_view_proj: [[f32; 4]; 4],
    view: [[f32; 4]; 4],
    inv_view_proj: [[f32; 4]; 4],
    light_view_proj: [[f32; 4]; 4],
    cam_pos: [f32; 4],
    viewport: [f32; 4],
    sun_dir: [f32; 4],
    sun_color: [f32; 4],
    sky_zenith: [f32; 4],
    sky_horizon: [f32; 4],
    fog_color: [f32; 4],
    ambient: [f32; 4],
    params: [f32; 4],
    params2: [f32; 4],
    params3: [f32; 4],
}

fn v4(v: Vec3, w: f32) -> [f32; 4] {
    [v.x, v.y, v.z, w]
}

/// The wgpu device (one per process is plenty).
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: String,
}

impl Gpu {
    pub fn new() -> Result<Gpu> {
        // The core's adapter search (native APIs first, then GL; WGPU_BACKEND pins one).
        let adapter = request_adapter(AdapterPreference::HighPerformance)?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        // Four Rgba32Float G-buffer targets need 64 bytes per sample.
        if limits.max_color_attachment_bytes_per_sample < 64 || limits.max_color_attachments < 4 {
            return Err(anyhow!("GPU {} cannot render to four RGBA32F targets at once; use a Vulkan/Metal/DX12 driver", info.name));
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("realmaster-samples"),
            required_features: wgpu::Features::empty(),
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| {
            anyhow!(
                "cannot open the GPU device {} ({e}); update the GPU driver",
                info.name
            )
        })?;
        Ok(Gpu {
            device,
            queue,
            adapter: format!("{} ({:?})", info.name, info.backend),
        })
    }
}

/// Everything that changes per frame.
pub struct FrameSetup<'a> {
    pub view: Mat4,
    pub prev_view: Mat4,
    pub cam_pos: Vec3,
    pub time: f32,
    /// True at frame 0 and at cuts: motion is zero by contract.
    pub shot_start: bool,
    /// Centre and half extent of the shadow maps (fixed per shot so shadows do not swim).
    pub shadow_center: Vec3,
    pub shadow_half: f32,
    pub dynamic: &'a [Vertex],
    pub weathers: &'a [Weather],
}

/// One rendered frame, all linear f32, tightly packed.
pub struct FrameOutput {
    pub width: u32,
    pub height: u32,
    /// Sim color, RGBA linear, output size.
    pub sim: Vec<f32>,
    /// View depth (metres), SKY_DEPTH where there is no geometry.
    pub depth: Vec<f32>,
    /// View-space unit normals (x right, y up, z towards the camera); (0,0,1) for sky.
    pub normals: Vec<f32>,
    /// Pixels to the previous frame (x right, y down).
    pub motion: Vec<f32>,
    /// Per weather: RGBA linear HDR at SS times the output size.
    pub targets: Vec<Vec<f32>>,
    /// World-space material id per output pixel (-1 for sky); used by tests.
    pub material: Vec<f32>,
}

struct Target {
    color: Vec<wgpu::TextureView>,
    textures: Vec<wgpu::Texture>,
    depth: wgpu::TextureView,
}

fn texture(
    device: &wgpu::Device,
    label: &str,
    w: u32,
    h: u32,
    format: wgpu::TextureFormat,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT
            | wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    })
}

fn gbuffer(device: &wgpu::Device, w: u32, h: u32) -> Target {
    let textures: Vec<wgpu::Texture> = (0..4)
        .map(|i| texture(device, &format!("gbuffer{i}"), w, h, GBUF_FORMAT))
        .collect();
    let color = textures
        .iter()
        .map(|t| t.create_view(&Default::default()))
        .collect();
    let depth =
        texture(device, "gbuffer depth", w, h, DEPTH_FORMAT).create_view(&Default::default());
    Target {
        color,
        textures,
        depth,
    }
}

fn fullscreen_pipeline(
    device: &wgpu::Device,
    name: &str,
    entry: &str,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(shader(name).into()),
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(name),
        layout: None,
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_fullscreen"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            targets: &[Some(format.into())],
        }),
        multiview_mask: None,
        cache: None,
    })
}

const VERTEX_ATTRS: [wgpu::VertexAttribute; 5] = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x3, 3 => Float32x3, 4 => Float32x2];
const POSITION_ATTR: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32x3];

fn uniform_buffer(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn bind(
    device: &wgpu::Device,
    pipeline: &wgpu::RenderPipeline,
    resources: &[wgpu::BindingResource<'_>],
) -> wgpu::BindGroup {
    bind_group(
        device,
        &pipeline.get_bind_group_layout(0),
        None,
        in_order(resources),
    )
}

/// Which shadow map a lighting setup uses: 0 day sun, 1 moon, 2 low golden-hour sun.
fn shadow_slot(w: Option<Weather>) -> usize {
    match w {
        Some(Weather::Night) => 1,
        Some(Weather::GoldenHour) => 2,
        _ => 0,
    }
}

/// Row pitch of a texture-to-buffer copy (256-byte aligned).
fn padded_row(width: u32, bpp: u32) -> u64 {
    (width as u64 * bpp as u64).div_ceil(256) * 256
}

pub struct Renderer {
    pub width: u32,
    pub height: u32,
    scene_kind: SceneKind,
    static_vb: wgpu::Buffer,
    static_count: u32,
    dynamic_vb: Option<(wgpu::Buffer, u64)>,
    shadow_pipeline: wgpu::RenderPipeline,
    gbuffer_pipeline: wgpu::RenderPipeline,
    ao_pipeline: wgpu::RenderPipeline,
    sim_pipeline: wgpu::RenderPipeline,
    target_pipeline: wgpu::RenderPipeline,
    shadow_views: Vec<wgpu::TextureView>,
    gb1: Target,
    gbs: Target,
    ao_view: wgpu::TextureView,
    sim_tex: wgpu::Texture,
    sim_view: wgpu::TextureView,
    target_tex: wgpu::Texture,
    target_view: wgpu::TextureView,
    lights_buf: wgpu::Buffer,
    scene_lights: Vec<PointLight>,
    u_shadow: Vec<wgpu::Buffer>,
    u_1x: wgpu::Buffer,
    u_ss: wgpu::Buffer,
    u_target: Vec<wgpu::Buffer>,
    bg_shadow: Vec<wgpu::BindGroup>,
    bg_gb1: wgpu::BindGroup,
    bg_gbs: wgpu::BindGroup,
    bg_ao: wgpu::BindGroup,
    bg_sim: wgpu::BindGroup,
    bg_target: Vec<wgpu::BindGroup>,
}

impl Renderer {
    /// Build pipelines and targets for `width` x `height` output and upload the scene's static mesh.
    /// (Software drivers compile the shaders on first use, which takes a while: reuse renderers
    /// across clips of the same size with `set_scene`.)
    pub fn new(gpu: &Gpu, scene: &Scene, width: u32, height: u32) -> Result<Renderer> {
        let device = &gpu.device;
        // Catch validation errors (e.g. a shader that does not compile) as errors, not panics.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let globals_size = std::mem::size_of::<Globals>() as u64;
        let layout = |attrs: &'static [wgpu::VertexAttribute]| wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<Vertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: attrs,
        };
        let shadow_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("shadow"),
            source: wgpu::ShaderSource::Wgsl(shader("shadow").into()),
        });
        let shadow_pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("shadow"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &shadow_module,
                entry_point: Some("vs_shadow"),
                compilation_options: Default::default(),
                buffers: &[Some(layout(&POSITION_ATTR))],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: Some(wgpu::DepthStencilState {
                format: DEPTH_FORMAT,
                depth_write_enabled: Some(true),
                depth_compare: Some(wgpu::CompareFunction::Less),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: Default::default(),
            fragment: None,
            multiview_mask: None,
            cache: None,
        });
        let gb_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("gbuffer"),
            source: wgpu::ShaderSource::Wgsl(shader("gbuffer").into()),
        });
        let gb_targets: Vec<Option<wgpu::ColorTargetState>> =
            (0..4).map(|_| Some(GBUF_FORMAT.into())).collect();
        let gbuffer_pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("gbuffer"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &gb_module,
                entry_point: Some("vs_gbuffer"),
                compilation_options: Default::default(),
                buffers: &[Some(layout(&VERTEX_ATTRS))],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: Some(wgpu::DepthStencilState {
                format: DEPTH_FORMAT,
                depth_write_enabled: Some(true),
                depth_compare: Some(wgpu::CompareFunction::Greater),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &gb_module,
                entry_point: Some("fs_gbuffer"),
                compilation_options: Default::default(),
                targets: &gb_targets,
            }),
            multiview_mask: None,
            cache: None,
        });
        let ao_pipeline = fullscreen_pipeline(device, "ao", "fs_ao", AO_FORMAT);
        let sim_pipeline = fullscreen_pipeline(device, "sim", "fs_sim", COLOR_FORMAT);
        let target_pipeline = fullscreen_pipeline(device, "target", "fs_target", COLOR_FORMAT);

        fn tv(v: &wgpu::TextureView) -> wgpu::BindingResource<'_> {
            wgpu::BindingResource::TextureView(v)
        }
        let shadow_views: Vec<wgpu::TextureView> = (0..3)
            .map(|i| {
                texture(
                    device,
                    &format!("shadow{i}"),
                    SHADOW_SIZE,
                    SHADOW_SIZE,
                    DEPTH_FORMAT,
                )
                .create_view(&Default::default())
            })
            .collect();
        let gb1 = gbuffer(device, width, height);
        let gbs = gbuffer(device, width * SS, height * SS);
        let ao_view = texture(device, "ao", width * SS, height * SS, AO_FORMAT)
            .create_view(&Default::default());
        let sim_tex = texture(device, "sim", width, height, COLOR_FORMAT);
        let sim_view = sim_tex.create_view(&Default::default());
        let target_tex = texture(device, "target", width * SS, height * SS, COLOR_FORMAT);
        let target_view = target_tex.create_view(&Default::default());
        let lights_buf = uniform_buffer(device, "lights", (MAX_LIGHTS * 32) as u64);

        let u_shadow: Vec<wgpu::Buffer> = (0..3)
            .map(|_| uniform_buffer(device, "u_shadow", globals_size))
            .collect();
        let u_1x = uniform_buffer(device, "u_1x", globals_size);
        let u_ss = uniform_buffer(device, "u_ss", globals_size);
        let u_target: Vec<wgpu::Buffer> = (0..weather::WEATHERS.len())
            .map(|_| uniform_buffer(device, "u_target", globals_size))
            .collect();

        let bg_shadow = u_shadow
            .iter()
            .map(|u| bind(device, &shadow_pipeline, &[u.as_entire_binding()]))
            .collect();
        let bg_gb1 = bind(device, &gbuffer_pipeline, &[u_1x.as_entire_binding()]);
        let bg_gbs = bind(device, &gbuffer_pipeline, &[u_ss.as_entire_binding()]);
        let bg_ao = bind(
            device,
            &ao_pipeline,
            &[
                u_ss.as_entire_binding(),
                tv(&gbs.color[0]),
                tv(&gbs.color[1]),
            ],
        );
        let bg_sim = bind(
            device,
            &sim_pipeline,
            &[
                u_1x.as_entire_binding(),
                tv(&gb1.color[0]),
                tv(&gb1.color[1]),
                tv(&gb1.color[2]),
                tv(&shadow_views[0]),
            ],
        );
        let bg_target = u_target
            .iter()
            .enumerate()
            .map(|(k, u)| {
                let slot = shadow_slot(Weather::parse(weather::WEATHERS[k]));
                bind(
                    device,
                    &target_pipeline,
                    &[
                        u.as_entire_binding(),
                        tv(&gbs.color[0]),
                        tv(&gbs.color[1]),
                        tv(&gbs.color[2]),
                        tv(&ao_view),
                        tv(&shadow_views[slot]),
                        lights_buf.as_entire_binding(),
                    ],
                )
            })
            .collect();

        let static_vb = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("static vertices"),
            contents: bytemuck::cast_slice(&scene.static_verts),
            usage: wgpu::BufferUsages::VERTEX,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(anyhow!(
                "creating the sample renderer's GPU pipelines failed: {e}"
            ));
        }
        Ok(Renderer {
            width,
            height,
            scene_kind: scene.kind,
            static_vb,
            static_count: scene.static_verts.len() as u32,
            dynamic_vb: None,
            shadow_pipeline,
            gbuffer_pipeline,
            ao_pipeline,
            sim_pipeline,
            target_pipeline,
            shadow_views,
            gb1,
            gbs,
            ao_view,
            sim_tex,
            sim_view,
            target_tex,
            target_view,
            lights_buf,
            scene_lights: scene.lights.clone(),
            u_shadow,
            u_1x,
            u_ss,
            u_target,
            bg_shadow,
            bg_gb1,
            bg_gbs,
            bg_ao,
            bg_sim,
            bg_target,
        })
    }

    /// Swap in another scene (same output size, pipelines kept).
    pub fn set_scene(&mut self, gpu: &Gpu, scene: &Scene) {
        self.static_vb = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("static vertices"),
                contents: bytemuck::cast_slice(&scene.static_verts),
                usage: wgpu::BufferUsages::VERTEX,
            });
        self.static_count = scene.static_verts.len() as u32;
        self.scene_kind = scene.kind;
        self.scene_lights = scene.lights.clone();
    }

    fn light_view_proj(dir: Vec3, center: Vec3, half: f32) -> Mat4 {
        let eye = center + dir * (SHADOW_DEPTH_RANGE * 0.5);
        let up = if dir.y.abs() > 0.95 {
            Vec3 {
                x: 1.0,
                y: 0.0,
                z: 0.0,
            }
        } else {
            Vec3::Y
        };
        Mat4::orthographic(half, half, 1.0, 1.0 + SHADOW_DEPTH_RANGE)
            * Mat4::look_at(eye, center, up)
    }

    #[allow(clippy::too_many_arguments)]
    fn globals(
        &self,
        f: &FrameSetup<'_>,
        l: &Lighting,
        w: u32,
        h: u32,
        light_vp: &Mat4,
        light_count: usize,
        frame_seed: f32,
    ) -> Result<Globals> {
        let proj = camera::projection(self.width, self.height);
        let vp = proj * f.view;
        let prev_vp = if f.shot_start { vp } else { proj * f.prev_view };
        let inv = vp
            .inverse()
            .ok_or_else(|| anyhow!("camera matrix is singular"))?;
        Ok(Globals {
            view_proj: vp.c,
            prev_view_proj: prev_vp.c,
            view: f.view.c,
            inv_view_proj: inv.c,
            light_view_proj: light_vp.c,
            cam_pos: v4(f.cam_pos, f.time),
            viewport: [w as f32, h as f32, 1.0 / w as f32, 1.0 / h as f32],
            sun_dir: v4(l.sun_dir, l.sun_angle),
            sun_color: v4(l.sun_color, SHADOW_SIZE as f32),
            sky_zenith: v4(l.sky_zenith, l.id as f32),
            sky_horizon: v4(l.sky_horizon, l.fog_density),
            fog_color: v4(l.fog_color, l.wetness),
            ambient: v4(l.ambient, l.snow),
            params: [
                if l.night { 1.0 } else { 0.0 },
                frame_seed,
                light_count as f32,
                l.cloudiness,
            ],
            params2: [
                if self.scene_kind == SceneKind::City {
                    0.0
                } else {
                    1.0
                },
                f.shadow_half,
                l.streaks,
                l.snowfall,
            ],
            params3: [
                2.0 * (camera::FOVY * 0.5).tan() / h as f32,
                l.sun_disk,
                l.haze,
                0.0,
            ],
        })
    }

    /// Render one frame: sim, auxiliary planes and one target per weather in `f.weathers`.
    pub fn render(&mut self, gpu: &Gpu, f: &FrameSetup<'_>) -> Result<FrameOutput> {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = self.render_inner(gpu, f);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(anyhow!("rendering a frame failed on the GPU: {e}"));
        }
        out
    }

    fn render_inner(&mut self, gpu: &Gpu, f: &FrameSetup<'_>) -> Result<FrameOutput> {
        let (device, queue) = (&gpu.device, &gpu.queue);
        let (w, h) = (self.width, self.height);
        let (ws, hs) = (w * SS, h * SS);

        // Uniforms.
        let sim_l = weather::sim();
        let mut light_vps = [Mat4::IDENTITY; 3];
        let mut needed = [true, false, false];
        for wth in f.weathers {
            needed[shadow_slot(Some(*wth))] = true;
        }
        let slot_dirs = [
            weather::day_sun(),
            weather::lighting(Weather::Night).sun_dir,
            weather::lighting(Weather::GoldenHour).sun_dir,
        ];
        for s in 0..3 {
            light_vps[s] = Self::light_view_proj(slot_dirs[s], f.shadow_center, f.shadow_half);
            let g = self.globals(f, &sim_l, SHADOW_SIZE, SHADOW_SIZE, &light_vps[s], 0, 0.0)?;
            queue.write_buffer(&self.u_shadow[s], 0, bytemuck::bytes_of(&g));
        }
        // Nearest street lights first (the shader takes up to MAX_LIGHTS).
        let mut lights = self.scene_lights.clone();
        lights.sort_by(|a, b| {
            (a.pos - f.cam_pos)
                .length()
                .total_cmp(&(b.pos - f.cam_pos).length())
        });
        lights.truncate(MAX_LIGHTS);
        let mut light_data = vec![0f32; MAX_LIGHTS * 8];
        for (i, l) in lights.iter().enumerate() {
            light_data[i * 8..i * 8 + 8].copy_from_slice(&[
                l.pos.x, l.pos.y, l.pos.z, l.radius, l.color.x, l.color.y, l.color.z, 0.0,
            ]);
        }
        queue.write_buffer(&self.lights_buf, 0, bytemuck::cast_slice(&light_data));
        let g1 = self.globals(f, &sim_l, w, h, &light_vps[0], 0, 0.0)?;
        queue.write_buffer(&self.u_1x, 0, bytemuck::bytes_of(&g1));
        let gs = self.globals(f, &sim_l, ws, hs, &light_vps[0], 0, 0.0)?;
        queue.write_buffer(&self.u_ss, 0, bytemuck::bytes_of(&gs));
        let mut target_slots = Vec::new();
        for wth in f.weathers {
            let k = weather::WEATHERS
                .iter()
                .position(|n| *n == wth.name())
                .ok_or_else(|| anyhow!("unknown weather"))?;
            let l = weather::lighting(*wth);
            let seed = (f.time * 1000.0).fract() + k as f32;
            let g = self.globals(
                f,
                &l,
                ws,
                hs,
                &light_vps[shadow_slot(Some(*wth))],
                if l.night { lights.len() } else { 0 },
                seed,
            )?;
            queue.write_buffer(&self.u_target[k], 0, bytemuck::bytes_of(&g));
            target_slots.push(k);
        }

        // Dynamic geometry.
        let dyn_bytes: &[u8] = bytemuck::cast_slice(f.dynamic);
        let dyn_count = f.dynamic.len() as u32;
        if !dyn_bytes.is_empty() {
            let need = dyn_bytes.len() as u64;
            if self.dynamic_vb.as_ref().is_none_or(|(_, cap)| *cap < need) {
                let buf = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("dynamic vertices"),
                    size: need.next_power_of_two(),
                    usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.dynamic_vb = Some((buf, need.next_power_of_two()));
            }
            if let Some((buf, _)) = &self.dynamic_vb {
                queue.write_buffer(buf, 0, dyn_bytes);
            }
        }

        // Readback layout: sim, gbuffer planes 0, 1, 3 at 1x, then the targets.
        let row1 = padded_row(w, 16);
        let rows = padded_row(ws, 16);
        let size1 = row1 * h as u64;
        let sizes = rows * hs as u64;
        let total = size1 * 4 + sizes * f.weathers.len() as u64;
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let copy = |enc: &mut wgpu::CommandEncoder,
                    tex: &wgpu::Texture,
                    offset: u64,
                    row: u64,
                    tw: u32,
                    th: u32| {
            enc.copy_texture_to_buffer(
                tex.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &staging,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset,
                        bytes_per_row: Some(row as u32),
                        rows_per_image: Some(th),
                    },
                },
                wgpu::Extent3d {
                    width: tw,
                    height: th,
                    depth_or_array_layers: 1,
                },
            );
        };

        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("frame"),
        });
        let draw_scene = |pass: &mut wgpu::RenderPass<'_>| {
            pass.set_vertex_buffer(0, self.static_vb.slice(..));
            pass.draw(0..self.static_count, 0..1);
            if dyn_count > 0 {
                if let Some((buf, _)) = &self.dynamic_vb {
                    pass.set_vertex_buffer(0, buf.slice(..));
                    pass.draw(0..dyn_count, 0..1);
                }
            }
        };
        for (s, _) in needed.iter().enumerate().filter(|(_, &n)| n) {
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("shadow"),
                color_attachments: &[],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.shadow_views[s],
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Store,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.shadow_pipeline);
            pass.set_bind_group(0, &self.bg_shadow[s], &[]);
            draw_scene(&mut pass);
        }
        for (target, bg) in [(&self.gb1, &self.bg_gb1), (&self.gbs, &self.bg_gbs)] {
            let attachments: Vec<Option<wgpu::RenderPassColorAttachment<'_>>> = target
                .color
                .iter()
                .map(|v| {
                    Some(wgpu::RenderPassColorAttachment {
                        view: v,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                            store: wgpu::StoreOp::Store,
                        },
                    })
                })
                .collect();
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("gbuffer"),
                color_attachments: &attachments,
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &target.depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(0.0),
                        store: wgpu::StoreOp::Store,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.gbuffer_pipeline);
            pass.set_bind_group(0, bg, &[]);
            draw_scene(&mut pass);
        }
        let fullscreen = |enc: &mut wgpu::CommandEncoder,
                          view: &wgpu::TextureView,
                          pipeline: &wgpu::RenderPipeline,
                          bg: &wgpu::BindGroup| {
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("fullscreen"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bg, &[]);
            pass.draw(0..3, 0..1);
        };
        fullscreen(&mut enc, &self.ao_view, &self.ao_pipeline, &self.bg_ao);
        fullscreen(&mut enc, &self.sim_view, &self.sim_pipeline, &self.bg_sim);
        copy(&mut enc, &self.sim_tex, 0, row1, w, h);
        for (i, plane) in [0usize, 1, 3].iter().enumerate() {
            copy(
                &mut enc,
                &self.gb1.textures[*plane],
                size1 * (i as u64 + 1),
                row1,
                w,
                h,
            );
        }
        for (i, k) in target_slots.iter().enumerate() {
            fullscreen(
                &mut enc,
                &self.target_view,
                &self.target_pipeline,
                &self.bg_target[*k],
            );
            copy(
                &mut enc,
                &self.target_tex,
                size1 * 4 + sizes * i as u64,
                rows,
                ws,
                hs,
            );
        }
        queue.submit([enc.finish()]);

        let bytes =
            map_and_read(device, &staging, total).context("reading the rendered planes back")?;
        let plane = |offset: u64, row: u64, tw: u32, th: u32| -> Vec<f32> {
            let mut out = Vec::with_capacity((tw * th * 4) as usize);
            for y in 0..th as u64 {
                let start = (offset + y * row) as usize;
                out.extend_from_slice(bytemuck::cast_slice(
                    &bytes[start..start + tw as usize * 16],
                ));
            }
            out
        };
        let sim = plane(0, row1, w, h);
        let g0 = plane(size1, row1, w, h);
        let g1 = plane(size1 * 2, row1, w, h);
        let g3 = plane(size1 * 3, row1, w, h);
        let targets = (0..f.weathers.len())
            .map(|i| plane(size1 * 4 + sizes * i as u64, rows, ws, hs))
            .collect();

        let n = (w * h) as usize;
        let mut depth = vec![0f32; n];
        let mut normals = vec![0f32; n * 3];
        let mut motion = vec![0f32; n * 2];
        let mut material = vec![-1f32; n];
        let proj = camera::projection(w, h);
        let vp = proj * f.view;
        let inv_vp = vp
            .inverse()
            .ok_or_else(|| anyhow!("camera matrix is singular"))?;
        let prev_vp = proj * f.prev_view;
        for i in 0..n {
            let geometry = g3[i * 4 + 3] > 0.5;
            if geometry {
                depth[i] = g0[i * 4 + 3];
                let nw = Vec3 {
                    x: g1[i * 4],
                    y: g1[i * 4 + 1],
                    z: g1[i * 4 + 2],
                };
                let nv = f.view.transform_dir(nw).normalize();
                normals[i * 3..i * 3 + 3].copy_from_slice(&nv.to_array());
                material[i] = g1[i * 4 + 3];
                if !f.shot_start {
                    motion[i * 2] = g3[i * 4];
                    motion[i * 2 + 1] = g3[i * 4 + 1];
                }
            } else {
                depth[i] = SKY_DEPTH;
                normals[i * 3 + 2] = 1.0;
                if !f.shot_start {
                    // Sky is at infinity: only the camera rotation moves it.
                    let (x, y) = ((i as u32 % w) as f32 + 0.5, (i as u32 / w) as f32 + 0.5);
                    let ndc = [x / w as f32 * 2.0 - 1.0, 1.0 - y / h as f32 * 2.0];
                    let p = inv_vp.mul_vec4([ndc[0], ndc[1], 1.0, 1.0]);
                    let d = Vec3 {
                        x: p[0] / p[3],
                        y: p[1] / p[3],
                        z: p[2] / p[3],
                    } - f.cam_pos;
                    let c = prev_vp.mul_vec4([d.x, d.y, d.z, 0.0]);
                    if c[3] > 1e-6 {
                        let px = (c[0] / c[3] * 0.5 + 0.5) * w as f32;
                        let py = (0.5 - c[1] / c[3] * 0.5) * h as f32;
                        motion[i * 2] = px - x;
                        motion[i * 2 + 1] = py - y;
                    }
                }
            }
        }
        Ok(FrameOutput {
            width: w,
            height: h,
            sim,
            depth,
            normals,
            motion,
            targets,
            material,
        })
    }
}
