//! A headless Bevy app with a small street scene, shared by the example and the tests: Bevy's own
//! renderer (PBR, shadows, prepasses) on whatever adapter the machine has (lavapipe in CI), a
//! camera moving down the street by frame number (not wall time, so runs are repeatable), and a
//! capture of the textures the plugin read and wrote, for checking it against the CPU-frame API.

use bevy::app::{PluginsState, ScheduleRunnerPlugin};
use bevy::camera::RenderTarget;
use bevy::core_pipeline::prepass::{
    DepthPrepass, MotionVectorPrepass, NormalPrepass, ViewPrepassTextures,
};
use bevy::core_pipeline::tonemapping::{tonemapping, Tonemapping};
use bevy::core_pipeline::{Core3d, Core3dSystems};
use bevy::image::Image;
use bevy::light::{light_consts, GlobalAmbientLight};
use bevy::prelude::*;
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::render::render_resource::{Extent3d, TextureFormat};
use bevy::render::renderer::{RenderAdapterInfo, RenderDevice, RenderQueue, ViewQuery};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::render::view::{ExtractedView, ViewTarget};
use bevy::render::{RenderApp, RenderPlugin};
use bevy::window::ExitCondition;
use parking_lot::Mutex;
use realmaster::gpu::GpuContext;
use std::sync::Arc;

use crate::convert::view_conventions;
use crate::{RealMaster, RealMasterPass, RealMasterPlugin};

/// The frame being rendered (drives the camera path).
#[derive(Resource, Default, Clone, Copy)]
pub struct FrameNumber(pub u32);

/// The scene's camera.
#[derive(Component)]
pub struct StreetCamera;

/// Build a headless app rendering the street scene at `size` into an image. With `realmaster`,
/// the plugin is added and the camera carries the settings. Call [`finish`] before updating.
pub fn headless_app(size: UVec2, realmaster: Option<(RealMasterPlugin, RealMaster)>) -> App {
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                ..default()
            })
            // Pipelines compiled when first needed, not in the background: which frame first
            // shows the scene does not depend on thread timing, so runs repeat exactly.
            .set(RenderPlugin {
                synchronous_pipeline_compilation: true,
                ..default()
            })
            // Render each update before it returns: frames in order, the capture readable after.
            .disable::<PipelinedRenderingPlugin>()
            // Several apps may run in one process (tests); the host sets up logging.
            .disable::<bevy::log::LogPlugin>(),
    )
    .add_plugins(ScheduleRunnerPlugin::run_once())
    .init_resource::<FrameNumber>()
    .insert_resource(Street { size })
    .insert_resource(ClearColor(Color::srgb(0.55, 0.68, 0.85)))
    .insert_resource(GlobalAmbientLight {
        color: Color::srgb(0.75, 0.82, 1.0),
        brightness: 1500.0,
        affects_lightmapped_meshes: true,
    })
    .add_systems(Startup, street_scene)
    .add_systems(Update, move_camera);
    let settings = realmaster.as_ref().map(|(_, s)| s.clone());
    app.insert_resource(Settings(settings));
    if let Some((plugin, _)) = realmaster {
        app.add_plugins(plugin);
    }
    if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
        render_app.add_systems(
            Core3d,
            capture_view
                .in_set(Core3dSystems::PostProcess)
                .after(tonemapping)
                .after(RealMasterPass),
        );
    }
    app
}

/// Keep the textures of every rendered frame for [`CapturedView::read`] (off unless asked for:
/// the example measures the plugin's cost without it).
pub fn enable_capture(app: &mut App) -> Capture {
    let capture = Capture::default();
    if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
        render_app.insert_resource(capture.clone());
    }
    capture
}

/// Wait for the renderer to initialise and finish the plugins (what `App::run` does first).
pub fn finish(app: &mut App) {
    while app.plugins_state() == PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
}

/// Render one frame.
pub fn step(app: &mut App) {
    app.update();
    app.world_mut().resource_mut::<FrameNumber>().0 += 1;
}

#[derive(Resource)]
struct Street {
    size: UVec2,
}

#[derive(Resource)]
struct Settings(Option<RealMaster>);

/// A few blocks of street: asphalt, pavements, buildings, parked cars, lamp posts and trees, lit by
/// a low sun with shadows and a blue sky's ambient light. Sizes and colours come from a fixed
/// sequence, so every run builds the same scene.
fn street_scene(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut images: ResMut<Assets<Image>>,
    street: Res<Street>,
    settings: Res<Settings>,
) {
    let mut rng = 0x2545_f491_u32;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        (rng % 10_000) as f32 / 10_000.0
    };
    let mut mat = |c: Color, rough: f32, metal: f32| {
        materials.add(StandardMaterial {
            base_color: c,
            perceptual_roughness: rough,
            metallic: metal,
            ..default()
        })
    };
    let asphalt = mat(Color::srgb(0.16, 0.16, 0.17), 0.9, 0.0);
    let pavement = mat(Color::srgb(0.52, 0.50, 0.47), 0.8, 0.0);
    let glass = mat(Color::srgb(0.10, 0.13, 0.17), 0.15, 0.6);
    let tyre = mat(Color::srgb(0.03, 0.03, 0.03), 0.7, 0.0);
    let steel = mat(Color::srgb(0.35, 0.36, 0.38), 0.4, 0.8);
    let bark = mat(Color::srgb(0.30, 0.21, 0.14), 0.95, 0.0);
    let leaves = mat(Color::srgb(0.20, 0.38, 0.16), 0.85, 0.0);
    let facades = [
        Color::srgb(0.72, 0.62, 0.50),
        Color::srgb(0.55, 0.32, 0.25),
        Color::srgb(0.80, 0.78, 0.72),
        Color::srgb(0.45, 0.47, 0.50),
        Color::srgb(0.66, 0.55, 0.38),
    ]
    .map(|c| mat(c, 0.85, 0.0));
    let paints = [
        Color::srgb(0.60, 0.05, 0.05),
        Color::srgb(0.08, 0.18, 0.45),
        Color::srgb(0.85, 0.85, 0.82),
        Color::srgb(0.12, 0.12, 0.12),
    ]
    .map(|c| mat(c, 0.3, 0.5));

    let cuboid =
        |meshes: &mut Assets<Mesh>, x: f32, y: f32, z: f32| meshes.add(Cuboid::new(x, y, z));
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(14.0, 120.0))),
        MeshMaterial3d(asphalt),
        Transform::from_xyz(0.0, 0.0, -40.0),
    ));
    for side in [-1.0f32, 1.0] {
        commands.spawn((
            Mesh3d(cuboid(&mut meshes, 4.0, 0.15, 120.0)),
            MeshMaterial3d(pavement.clone()),
            Transform::from_xyz(side * 9.0, 0.075, -40.0),
        ));
        // Buildings along the pavement, with a band of windows on each storey.
        let mut z = 18.0;
        while z > -100.0 {
            let depth = 6.0 + 6.0 * next();
            let height = 6.0 + 18.0 * next();
            let width = 8.0 + 4.0 * next();
            let facade = facades[(next() * facades.len() as f32) as usize % facades.len()].clone();
            let x = side * (11.0 + width / 2.0);
            let zc = z - depth / 2.0;
            commands.spawn((
                Mesh3d(cuboid(&mut meshes, width, height, depth - 0.4)),
                MeshMaterial3d(facade),
                Transform::from_xyz(x, height / 2.0, zc),
            ));
            let storeys = (height / 3.0) as i32;
            for s in 0..storeys {
                commands.spawn((
                    Mesh3d(cuboid(&mut meshes, 0.1, 1.2, depth - 2.0)),
                    MeshMaterial3d(glass.clone()),
                    Transform::from_xyz(x - side * (width / 2.0 + 0.02), 1.8 + 3.0 * s as f32, zc),
                ));
            }
            z -= depth;
        }
        // Parked cars: body, cabin, four wheels.
        for k in 0..3 {
            let zc = 6.0 - 14.0 * k as f32 - 5.0 * next() + if side > 0.0 { 7.0 } else { 0.0 };
            let paint = paints[(next() * paints.len() as f32) as usize % paints.len()].clone();
            let x = side * 5.6;
            commands.spawn((
                Mesh3d(cuboid(&mut meshes, 1.8, 0.7, 4.2)),
                MeshMaterial3d(paint.clone()),
                Transform::from_xyz(x, 0.65, zc),
            ));
            commands.spawn((
                Mesh3d(cuboid(&mut meshes, 1.6, 0.6, 2.2)),
                MeshMaterial3d(glass.clone()),
                Transform::from_xyz(x, 1.3, zc + 0.2),
            ));
            for (dx, dz) in [(-0.9, -1.4), (0.9, -1.4), (-0.9, 1.4), (0.9, 1.4)] {
                commands.spawn((
                    Mesh3d(meshes.add(Cylinder::new(0.33, 0.25))),
                    MeshMaterial3d(tyre.clone()),
                    Transform::from_xyz(x + dx, 0.33, zc + dz)
                        .with_rotation(Quat::from_rotation_z(std::f32::consts::FRAC_PI_2)),
                ));
            }
        }
        // Lamp posts and trees on the pavement's kerb side.
        for k in 0..5 {
            let zc = 10.0 - 16.0 * k as f32;
            commands.spawn((
                Mesh3d(meshes.add(Cylinder::new(0.08, 5.0))),
                MeshMaterial3d(steel.clone()),
                Transform::from_xyz(side * 7.4, 2.5, zc),
            ));
            let zt = zc - 8.0;
            commands.spawn((
                Mesh3d(meshes.add(Cylinder::new(0.15, 3.0))),
                MeshMaterial3d(bark.clone()),
                Transform::from_xyz(side * 8.2, 1.5, zt),
            ));
            commands.spawn((
                Mesh3d(meshes.add(Sphere::new(1.4 + 0.4 * next()))),
                MeshMaterial3d(leaves.clone()),
                Transform::from_xyz(side * 8.2, 3.8, zt),
            ));
        }
    }
    commands.spawn((
        DirectionalLight {
            illuminance: light_consts::lux::AMBIENT_DAYLIGHT,
            shadow_maps_enabled: true,
            ..default()
        },
        sun_transform(),
    ));

    let size = Extent3d {
        width: street.size.x,
        height: street.size.y,
        depth_or_array_layers: 1,
    };
    let target = images.add(Image::new_target_texture(
        size.width,
        size.height,
        TextureFormat::Rgba8UnormSrgb,
        None,
    ));
    commands.insert_resource(RenderImage(target.clone()));
    let mut camera = commands.spawn((
        StreetCamera,
        Camera3d::default(),
        // The same view with and without the plugin: HDR target and the three prepasses (which
        // RealMaster requires) in both.
        bevy::camera::Hdr,
        DepthPrepass,
        NormalPrepass,
        MotionVectorPrepass,
        Msaa::Off,
        Tonemapping::AcesFitted,
        RenderTarget::Image(target.into()),
        camera_transform(0),
    ));
    if let Some(s) = &settings.0 {
        camera.insert(s.clone());
    }
}

/// The image the camera renders into.
#[derive(Resource, Clone)]
pub struct RenderImage(pub Handle<Image>);

/// The street's sun: low, to the right of the camera and behind it (it shines along its forward,
/// -Z; the direction towards it is its back).
pub fn sun_transform() -> Transform {
    Transform::from_xyz(30.0, 25.0, 10.0).looking_at(Vec3::ZERO, Vec3::Y)
}

/// Down the street at walking height, turning slowly towards the right-hand buildings.
pub fn camera_transform(frame: u32) -> Transform {
    let t = frame as f32;
    let eye = Vec3::new(-1.5 + 0.02 * t, 1.7, 14.0 - 0.35 * t);
    let look = eye + Vec3::new(0.12 + 0.006 * t, -0.06, -1.0);
    Transform::from_translation(eye).looking_at(look, Vec3::Y)
}

fn move_camera(frame: Res<FrameNumber>, mut q: Query<&mut Transform, With<StreetCamera>>) {
    for mut t in &mut q {
        *t = camera_transform(frame.0);
    }
}

/// The street camera's RealMaster statistics (default before it is rendered or without the plugin).
pub fn camera_stats(app: &mut App) -> crate::ViewStats {
    let Ok(camera) = app
        .world_mut()
        .query_filtered::<Entity, With<StreetCamera>>()
        .single(app.world())
    else {
        return Default::default();
    };
    app.world()
        .get_resource::<crate::RealMasterStats>()
        .and_then(|s| s.get(camera))
        .unwrap_or_default()
}

/// Save the rendered image of the next frame to `path` (PNG); written once the frame is read back.
pub fn save_frame(app: &mut App, path: impl Into<std::path::PathBuf>) {
    let handle = app.world().resource::<RenderImage>().0.clone();
    let path = path.into();
    app.world_mut().spawn(Screenshot::image(handle)).observe(
        move |captured: On<ScreenshotCaptured>| {
            let img = captured.image.clone();
            match img.try_into_dynamic() {
                Ok(d) => {
                    if let Err(e) = d.to_rgb8().save(&path) {
                        log::error!("cannot write {}: {e}", path.display());
                    }
                }
                Err(e) => log::error!("cannot convert the screenshot: {e}"),
            }
        },
    );
}

/// The textures of the last rendered frame: what the plugin read and wrote, kept for readback.
#[derive(Resource, Clone, Default)]
pub struct Capture(Arc<Mutex<Option<CapturedView>>>);

#[derive(Clone)]
pub struct CapturedView {
    /// Bevy's tonemapped frame (the plugin's input).
    pub source: wgpu::Texture,
    /// The plugin's output (None without the plugin).
    pub output: Option<wgpu::Texture>,
    pub depth: wgpu::Texture,
    pub normals: wgpu::Texture,
    pub motion: wgpu::Texture,
    pub conventions: crate::ViewConventions,
    pub host: GpuContext,
}

impl Capture {
    pub fn take(&self) -> Option<CapturedView> {
        self.0.lock().take()
    }
}

#[allow(clippy::type_complexity)]
fn capture_view(
    view: ViewQuery<(
        &ViewTarget,
        &ViewPrepassTextures,
        &ExtractedView,
        Option<&RealMaster>,
    )>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
    adapter: Res<RenderAdapterInfo>,
    capture: Option<Res<Capture>>,
    mut host: Local<Option<GpuContext>>,
) {
    let Some(capture) = capture else {
        return;
    };
    let (target, prepass, extracted, settings) = view.into_inner();
    let (Some(depth), Some(normals), Some(motion)) =
        (&prepass.depth, &prepass.normal, &prepass.motion_vectors)
    else {
        return;
    };
    let Some(conventions) = view_conventions(
        &extracted.clip_from_view,
        &extracted.world_from_view.to_matrix(),
    ) else {
        return;
    };
    if host.is_none() {
        *host =
            GpuContext::from_host(device.wgpu_device().clone(), (**queue).clone(), &adapter).ok();
    }
    let Some(host) = host.clone() else {
        return;
    };
    // After the plugin's pass the main texture is its output and the other one its input.
    let enhanced = settings.is_some_and(|s| s.enabled);
    let (source, output) = if enhanced {
        (
            (**target.main_texture_other()).clone(),
            Some((**target.main_texture()).clone()),
        )
    } else {
        ((**target.main_texture()).clone(), None)
    };
    *capture.0.lock() = Some(CapturedView {
        source,
        output,
        depth: (*depth.texture.texture).clone(),
        normals: (*normals.texture.texture).clone(),
        motion: (*motion.texture.texture).clone(),
        conventions,
        host,
    });
}

/// A captured view read back to the CPU (test and debugging aid; the plugin itself reads nothing
/// back), converted to docs/formats.md conventions by the runtime's own import pass.
pub struct CapturedFrame {
    pub width: u32,
    pub height: u32,
    /// Linear RGBA.
    pub color: Vec<f32>,
    /// Linear RGBA (None without the plugin).
    pub output: Option<Vec<f32>>,
    /// View-axis distance.
    pub depth: Vec<f32>,
    /// View-space normal xyz, w = 0.
    pub normals: Vec<f32>,
    /// Pixels to the previous frame xy, zw = 0.
    pub motion: Vec<f32>,
}

impl CapturedView {
    /// Read the captured textures back (waits for the GPU).
    pub fn read(&self) -> realmaster::Result<CapturedFrame> {
        use realmaster::gpu::host::Import;
        use realmaster::gpu::kernel::read_image;
        use realmaster::gpu::preprocess::{PreprocessConfig, Preprocessor};
        let ctx = &self.host;
        let cfg = PreprocessConfig {
            model_width: 4,
            model_height: 2,
            color_space: Default::default(),
            depth_scale: 10.0,
            edges: Default::default(),
        };
        let mut import = Import::new(&ctx.device);
        let mut read_frame = |frame: &realmaster::DeviceFrame<'_>| {
            let mut pre = Preprocessor::new(ctx, cfg)?;
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            pre.import(ctx, &mut enc, &mut import, frame)?;
            ctx.queue.submit([enc.finish()]);
            let images = pre
                .frame()
                .ok_or_else(|| realmaster::Error::Internal("no imported frame".into()))?;
            let plane = |img: Option<&realmaster::gpu::kernel::GpuImage>| match img {
                Some(i) => read_image(&ctx.device, &ctx.queue, i),
                None => Ok(Vec::new()),
            };
            Ok::<_, realmaster::Error>((
                read_image(&ctx.device, &ctx.queue, &images.color)?,
                plane(images.depth.as_ref())?,
                plane(images.normals.as_ref())?,
                plane(images.motion.as_ref())?,
            ))
        };
        let c = self.conventions;
        let (color, depth, normals, motion) = read_frame(&realmaster::DeviceFrame {
            color: &self.source,
            depth: Some((&self.depth, c.depth)),
            normals: Some((&self.normals, c.normals)),
            motion: Some((&self.motion, c.motion)),
            camera_cut: false,
            light: None,
        })?;
        let output = match &self.output {
            Some(t) => Some(read_frame(&realmaster::DeviceFrame::new(t))?.0),
            None => None,
        };
        Ok(CapturedFrame {
            width: self.source.width(),
            height: self.source.height(),
            color,
            output,
            depth,
            normals,
            motion,
        })
    }
}
