//! RealMaster as a Bevy post-process: the runtime runs on Bevy's own wgpu device, reads the view's
//! colour and its depth, normal and motion-vector prepasses where they lie on the GPU, and writes
//! the enhanced frame into the view's post-process target. No full-resolution data crosses to the
//! CPU; only the model's tensors do (counted in [`RealMasterStats`]).
//!
//! ```no_run
//! use bevy::prelude::*;
//! use realmaster_bevy::{RealMaster, RealMasterPlugin};
//!
//! fn setup(mut commands: Commands) {
//!     commands.spawn((Camera3d::default(), RealMaster::new("heavy rain at dusk")));
//! }
//! App::new()
//!     .add_plugins((DefaultPlugins, RealMasterPlugin::new("models/realmaster-student")))
//!     .add_systems(Startup, setup)
//!     .run();
//! ```
//!
//! The camera needs `Hdr` (the post-process target must be storage-writable; Rgba8UnormSrgb is
//! not), `Msaa::Off` (prepass textures must be single-sampled) and the three prepasses;
//! [`RealMaster`] requires the prepasses and `Hdr`, and the plugin adds `STORAGE_BINDING` to the
//! camera's main texture usages. A camera that cannot be served shows Bevy's frame untouched and
//! the reason is logged once and kept in [`RealMasterStats`].
//!
//! Frames are submitted by Bevy's render graph, so the session runs deferred: the model's look
//! arrives one frame late, carried to the current frame along the motion vectors.
//!
//! Models that read the scene light get each camera's sun every frame, in that camera's view
//! space: a `DirectionalLight` that lights the view, the one marked [`RealMasterSun`] first, then
//! a shadow-casting one, then the brightest; none without a directional light.

mod convert;
pub mod demo;
mod light;
mod render;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bevy::camera::{CameraMainTextureUsages, Hdr};
use bevy::core_pipeline::prepass::{DepthPrepass, MotionVectorPrepass, NormalPrepass};
use bevy::core_pipeline::tonemapping::tonemapping;
use bevy::core_pipeline::{Core3d, Core3dSystems};
use bevy::prelude::*;
use bevy::render::render_resource::TextureUsages;
use bevy::render::{ExtractSchedule, RenderApp};
use parking_lot::Mutex;

pub use convert::{view_conventions, ViewConventions};
pub use light::{scene_light, RealMasterSun};
pub use realmaster::{Health, Mode, SceneLight};

/// Enhance this camera's frames. Changing a field takes effect on the next frame (a realtime
/// prompt change once it is encoded, off the render thread); nothing is re-created.
#[derive(Component, Clone, Debug, PartialEq)]
#[require(Hdr, DepthPrepass, NormalPrepass, MotionVectorPrepass)]
pub struct RealMaster {
    /// A preset name or free text ("" = the model's default look).
    pub prompt: String,
    /// 0 = Bevy's frame untouched, 1 = the model's full look.
    pub strength: f32,
    /// `Realtime` never waits for inference; `Cinematic` infers every frame and is deterministic.
    pub mode: Mode,
    /// Off: Bevy's frame is shown as it is; the session is kept for when it is turned back on.
    pub enabled: bool,
    /// Change it (e.g. increment) on the frame a new shot starts: the temporal history is dropped.
    pub shot: u32,
    /// The guided upsample's ridge, 1e-6..=1 (`realmaster::SessionConfig::upsample_eps`): smaller
    /// follows the model's look into finer detail, larger keeps more of Bevy's edges. Outside the
    /// range when the session starts, the camera shows Bevy's frame with the reason; changed to
    /// such a value later, the session keeps its ridge and the refusal is logged once.
    pub upsample_eps: f32,
}

impl RealMaster {
    pub fn new(prompt: impl Into<String>) -> Self {
        RealMaster {
            prompt: prompt.into(),
            ..Default::default()
        }
    }
}

impl Default for RealMaster {
    fn default() -> Self {
        RealMaster {
            prompt: String::new(),
            strength: 1.0,
            mode: Mode::Realtime,
            enabled: true,
            shot: 0,
            upsample_eps: realmaster::SessionConfig::default().upsample_eps,
        }
    }
}

/// Session settings shared by every enhanced camera.
#[derive(Clone, Debug)]
pub struct RealMasterPlugin {
    /// The model package folder (e.g. `models/realmaster-student`).
    pub model_dir: PathBuf,
    /// ONNX Runtime execution provider: auto, tensorrt, cuda, directml, coreml, cpu.
    pub execution_provider: String,
    /// libonnxruntime; otherwise found as the runtime documents (REALMASTER_ORT_LIB, ...).
    pub ort_library: Option<PathBuf>,
    /// Model input size for dynamic-resolution models (else the package's default).
    pub model_size: Option<(u32, u32)>,
    /// Hold the output to the model's teacher's exposure rule
    /// (`realmaster::SessionConfig::exposure_lock`; off by default).
    pub exposure_lock: bool,
}

impl RealMasterPlugin {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        RealMasterPlugin {
            model_dir: model_dir.into(),
            execution_provider: "auto".into(),
            ort_library: None,
            model_size: None,
            exposure_lock: false,
        }
    }

    fn session_config(&self, settings: &RealMaster) -> realmaster::SessionConfig {
        realmaster::SessionConfig {
            model_dir: Some(self.model_dir.clone()),
            ort_library: self.ort_library.clone(),
            execution_provider: self.execution_provider.clone(),
            allow_ep_fallback: true,
            mode: settings.mode,
            strength: settings.strength.clamp(0.0, 1.0),
            upsample_eps: settings.upsample_eps,
            prompt: settings.prompt.clone(),
            model_size: self.model_size,
            exposure_lock: self.exposure_lock,
            ..Default::default()
        }
    }
}

/// What the plugin did for one camera (main-world entity), updated every rendered frame.
#[derive(Clone, Debug, Default)]
pub struct ViewStats {
    /// Frames the post-process ran on (enabled and served).
    pub frames: u64,
    /// Frames that show the model's look.
    pub enhanced: u64,
    /// Frames that show Bevy's frame untouched because of an error.
    pub failed: u64,
    /// Bytes the last frame moved between CPU memory and the GPU (the model's tensors only).
    pub last_transfer_bytes: u64,
    /// The most bytes any frame moved.
    pub max_transfer_bytes: u64,
    /// CPU time of the plugin's render system on the last frame (recording, plus in cinematic
    /// mode the wait for the previous frame's inference), milliseconds.
    pub last_cpu_ms: f64,
    /// Sum of `last_cpu_ms` over all frames (for a mean cost per frame).
    pub total_cpu_ms: f64,
    /// The ONNX Runtime execution provider in use.
    pub execution_provider: String,
    /// The prompt the look is blending towards (a realtime prompt change shows here once encoded).
    pub prompt: String,
    /// Ok, or why frames show Bevy's frame untouched and how to fix it.
    pub health: Health,
    /// The scene light the last frame handed the session (the sun and the world's up in the
    /// camera's view space; see [`RealMasterSun`]), or None when no directional light lights the
    /// camera's view (a model that reads the light then uses `SceneLight::FALLBACK`).
    pub light: Option<SceneLight>,
}

/// Per-camera statistics, readable from the main world (the render world writes them).
#[derive(Resource, Clone, Default)]
pub struct RealMasterStats(Arc<Mutex<HashMap<Entity, ViewStats>>>);

impl RealMasterStats {
    /// The statistics of `camera` (a main-world entity), once it has been rendered.
    pub fn get(&self, camera: Entity) -> Option<ViewStats> {
        self.0.lock().get(&camera).cloned()
    }

    /// Every enhanced camera's statistics.
    pub fn all(&self) -> HashMap<Entity, ViewStats> {
        self.0.lock().clone()
    }

    fn update(&self, camera: Entity, f: impl FnOnce(&mut ViewStats)) {
        f(self.0.lock().entry(camera).or_default());
    }
}

/// The pass runs in `Core3dSystems::PostProcess` after tonemapping, so it sees the frame as it
/// will be displayed (linear, tonemapped) and its output goes on to the remaining post-processes
/// and the final upscale.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct RealMasterPass;

impl Plugin for RealMasterPlugin {
    fn build(&self, app: &mut App) {
        let stats = RealMasterStats::default();
        app.insert_resource(stats.clone())
            .add_systems(PostUpdate, widen_main_texture_usages);
        let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
            log::warn!(
                "RealMaster: no render app (headless without rendering): nothing to enhance"
            );
            return;
        };
        render_app
            .insert_resource(stats)
            .insert_resource(render::Sessions::new(self.clone()))
            .add_systems(
                ExtractSchedule,
                (render::extract_settings, light::extract_sun),
            )
            .add_systems(
                Core3d,
                render::realmaster_pass
                    .in_set(Core3dSystems::PostProcess)
                    .in_set(RealMasterPass)
                    .after(tonemapping),
            );
    }
}

/// The output is written by a compute pass: the main textures need `STORAGE_BINDING`.
fn widen_main_texture_usages(
    mut commands: Commands,
    mut cameras: Query<(Entity, Option<&mut CameraMainTextureUsages>), With<RealMaster>>,
) {
    for (e, usages) in &mut cameras {
        match usages {
            Some(mut u) if !u.0.contains(TextureUsages::STORAGE_BINDING) => {
                u.0 |= TextureUsages::STORAGE_BINDING;
            }
            Some(_) => {}
            None => {
                commands.entity(e).insert(
                    CameraMainTextureUsages::default().with(TextureUsages::STORAGE_BINDING),
                );
            }
        }
    }
}
