//! Render-world side: one `DeviceSession` per enhanced camera, made lazily on Bevy's device, and
//! the per-view pass that hands it the view's textures.

use std::collections::HashMap;
use std::time::Instant;

use bevy::core_pipeline::prepass::ViewPrepassTextures;
use bevy::prelude::*;
use bevy::render::renderer::{
    RenderAdapterInfo, RenderContext, RenderDevice, RenderQueue, ViewQuery,
};
use bevy::render::sync_world::{MainEntity, RenderEntity};
use bevy::render::view::{ExtractedView, ViewTarget};
use bevy::render::Extract;
use bevy::tasks::{block_on, poll_once, AsyncComputeTaskPool, Task};
use parking_lot::Mutex;
use realmaster::gpu::GpuContext;
use realmaster::{DeviceFrame, DeviceSession, EncodedPrompt, Health, Mode};

use crate::convert::{view_conventions, ViewConventions};
use crate::light::{scene_light, ExtractedSun};
use crate::{RealMaster, RealMasterPlugin, RealMasterStats};
use realmaster::gpu::host::OUTPUT_FORMATS;

enum ViewState {
    /// The model is loading off the render thread (realtime mode); Bevy's frames show meanwhile.
    Starting {
        task: Task<Result<DeviceSession, String>>,
        /// The settings the session is being made with (later changes apply once it runs).
        settings: RealMaster,
    },
    Running {
        session: Box<DeviceSession>,
        settings: RealMaster,
        /// Why the view was last refused (logged once per reason).
        refused: Option<String>,
        /// A prompt being encoded off the render thread (realtime mode).
        encoding: Option<Task<realmaster::Result<EncodedPrompt>>>,
    },
    /// The session could not be made (no model, no ONNX Runtime, ...): Bevy's frame is shown.
    Failed(String),
}

/// The sessions, by main-world camera entity.
#[derive(Resource)]
pub(crate) struct Sessions {
    plugin: RealMasterPlugin,
    views: Mutex<HashMap<Entity, ViewState>>,
}

impl Sessions {
    pub(crate) fn new(plugin: RealMasterPlugin) -> Self {
        Sessions {
            plugin,
            views: Mutex::new(HashMap::new()),
        }
    }
}

type CameraSettings = (RenderEntity, Option<&'static RealMaster>);

/// Copy each camera's settings to its render entity (and remove them where the camera lost them).
pub(crate) fn extract_settings(
    mut commands: Commands,
    cameras: Extract<Query<CameraSettings, With<Camera>>>,
) {
    for (e, settings) in &cameras {
        let Ok(mut entity) = commands.get_entity(e) else {
            continue;
        };
        match settings {
            Some(s) => {
                entity.insert(s.clone());
            }
            None => {
                entity.remove::<(RealMaster, ExtractedSun)>();
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn realmaster_pass(
    view: ViewQuery<(
        &MainEntity,
        &ViewTarget,
        &ViewPrepassTextures,
        &ExtractedView,
        &RealMaster,
        Option<&ExtractedSun>,
    )>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
    adapter: Res<RenderAdapterInfo>,
    sessions: Res<Sessions>,
    stats: Res<RealMasterStats>,
    mut ctx: RenderContext,
) {
    let start = Instant::now();
    let (main, target, prepass, extracted, settings, sun) = view.into_inner();
    let camera = main.id();
    if !settings.enabled {
        return;
    }
    let mut views = sessions.views.lock();
    let state = views.entry(camera).or_insert_with(|| {
        let (plugin, config) = (sessions.plugin.clone(), settings.clone());
        let host = GpuContext::from_host(device.wgpu_device().clone(), (**queue).clone(), &adapter);
        let make = move || -> Result<DeviceSession, String> {
            let host = host.map_err(|e| e.to_string())?;
            DeviceSession::new(host, plugin.session_config(&config)).map_err(|e| e.to_string())
        };
        if settings.mode == Mode::Cinematic {
            // Every frame of a cinematic render is enhanced, so the first waits for the model.
            finish_start(camera, make(), settings)
        } else {
            // Loading the model takes longer than a frame: Bevy's frames show until it is ready.
            ViewState::Starting {
                task: AsyncComputeTaskPool::get().spawn(async move { make() }),
                settings: settings.clone(),
            }
        }
    });
    if let ViewState::Starting {
        task,
        settings: made_with,
    } = state
    {
        match block_on(poll_once(task)) {
            Some(result) => *state = finish_start(camera, result, &made_with.clone()),
            None => return,
        }
    }
    let (session, refused) = match state {
        ViewState::Running {
            session,
            settings: applied,
            refused,
            encoding,
        } => {
            apply_settings(session, applied, settings, encoding);
            (session, refused)
        }
        ViewState::Failed(message) => {
            let health = Health::PassThrough {
                code: 0,
                message: message.clone(),
            };
            stats.update(camera, |s| s.health = health);
            return;
        }
        ViewState::Starting { .. } => return,
    };
    // Views this pass cannot read are refused before anything is written: no swap, Bevy's frame.
    let conv = match servable(target, prepass, extracted) {
        Ok(conv) => conv,
        Err(message) => {
            if refused.as_deref() != Some(message.as_str()) {
                log::error!("RealMaster: camera {camera}: showing Bevy's frame: {message}");
                *refused = Some(message.clone());
            }
            let health = Health::PassThrough {
                code: realmaster::ErrorCode::InvalidFrame as u32,
                message,
            };
            stats.update(camera, |s| {
                s.failed += 1;
                s.health = health;
            });
            return;
        }
    };
    *refused = None;
    // The sun chosen at extraction (world space), into the view space of this view's normals.
    let world_from_view = extracted.world_from_view.to_matrix();
    let light = sun
        .and_then(|s| s.0)
        .and_then(|towards| scene_light(towards, &world_from_view));
    let post = target.post_process_write();
    let frame = DeviceFrame {
        color: post.source_texture,
        depth: prepass
            .depth
            .as_ref()
            .map(|d| (&*d.texture.texture, conv.depth)),
        normals: prepass
            .normal
            .as_ref()
            .map(|n| (&*n.texture.texture, conv.normals)),
        motion: prepass
            .motion_vectors
            .as_ref()
            .map(|m| (&*m.texture.texture, conv.motion)),
        camera_cut: false,
        light,
    };
    // Errors come back as a report with the input written to the destination: the buffers are
    // submitted either way, so the swapped target always holds a frame.
    let (report, buffers) = session.process_deferred(&frame, post.destination_texture);
    for b in buffers {
        ctx.add_command_buffer(b);
    }
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let health = session.health();
    stats.update(camera, |s| {
        s.frames += 1;
        s.enhanced += u64::from(report.enhanced);
        s.failed += u64::from(report.error.is_some());
        s.last_transfer_bytes = report.transfer_bytes;
        s.max_transfer_bytes = s.max_transfer_bytes.max(report.transfer_bytes);
        s.last_cpu_ms = ms;
        s.total_cpu_ms += ms;
        s.light = light;
        // Strings only when they change: no per-frame allocation for the stats.
        if s.prompt != session.prompt() {
            s.prompt = session.prompt().to_string();
        }
        if s.execution_provider.is_empty() {
            s.execution_provider = session.stats().execution_provider;
        }
        s.health = health;
    });
}

/// A made (or failed) session becomes the view's state; a failure is logged once, here.
fn finish_start(
    camera: Entity,
    result: Result<DeviceSession, String>,
    settings: &RealMaster,
) -> ViewState {
    match result {
        Ok(session) => ViewState::Running {
            session: Box::new(session),
            settings: settings.clone(),
            refused: None,
            encoding: None,
        },
        Err(message) => {
            log::error!("RealMaster: camera {camera}: showing Bevy's frame: {message}");
            ViewState::Failed(message)
        }
    }
}

/// Apply what changed since the last frame: strength, ridge, mode and a new shot at once; the prompt
/// encoded once per change: in realtime mode on Bevy's async compute pool (free text runs the text
/// encoder, longer than a frame; the previous look stays until it is ready), in cinematic mode here
/// (the new look starts on the very frame that asked for it, every run).
fn apply_settings(
    session: &mut DeviceSession,
    applied: &mut RealMaster,
    want: &RealMaster,
    encoding: &mut Option<Task<realmaster::Result<EncodedPrompt>>>,
) {
    if let Some(task) = encoding.as_mut() {
        if let Some(result) = block_on(poll_once(task)) {
            *encoding = None;
            match result {
                Ok(p) => session.set_encoded_prompt(p),
                Err(e) => log::error!("RealMaster: the prompt kept the previous look: {e}"),
            }
        }
    }
    if applied == want {
        return;
    }
    if applied.prompt != want.prompt {
        let text = want.prompt.clone();
        if want.mode == Mode::Cinematic {
            *encoding = None;
            if let Err(e) = session.set_prompt(&text) {
                log::error!("RealMaster: prompt {text:?} kept the previous look: {e}");
            }
        } else {
            // A newer prompt replaces one still being encoded (the old task is dropped).
            let encoder = session.prompt_encoder();
            *encoding =
                Some(AsyncComputeTaskPool::get().spawn(async move { encoder.encode(&text) }));
        }
    }
    if applied.strength != want.strength {
        if let Err(e) = session.set_strength(want.strength) {
            log::error!("RealMaster: {e}");
        }
    }
    if applied.upsample_eps != want.upsample_eps {
        if let Err(e) = session.set_upsample_eps(want.upsample_eps) {
            log::error!("RealMaster: the ridge kept {}: {e}", session.upsample_eps());
        }
    }
    if applied.mode != want.mode {
        session.set_mode(want.mode);
    }
    if applied.shot != want.shot {
        session.reset();
    }
    *applied = want.clone();
}

/// The view's prepass conventions when this pass can serve it, else why not, with the fix.
fn servable(
    target: &ViewTarget,
    prepass: &ViewPrepassTextures,
    view: &ExtractedView,
) -> Result<ViewConventions, String> {
    // Hdr gives Rgba16Float: readable and storage-writable (Rgba8UnormSrgb is not writable).
    if !OUTPUT_FORMATS.contains(&target.main_texture_format()) {
        return Err(format!(
            "the camera's main texture is {:?}, which a compute pass cannot write: add `Hdr` to the camera",
            target.main_texture_format()
        ));
    }
    if target.sampled_main_texture().is_some()
        || prepass
            .depth
            .as_ref()
            .is_some_and(|d| d.texture.texture.sample_count() > 1)
    {
        return Err("the camera renders with MSAA: add `Msaa::Off` to the camera".into());
    }
    if !target
        .main_texture()
        .usage()
        .contains(wgpu::TextureUsages::STORAGE_BINDING)
    {
        return Err(
            "the main texture lacks STORAGE_BINDING: keep RealMasterPlugin's PostUpdate system or add it to CameraMainTextureUsages".into(),
        );
    }
    view_conventions(&view.clip_from_view, &view.world_from_view.to_matrix()).ok_or_else(|| {
        "the camera is not a perspective one with Bevy's reverse-Z projection: use a PerspectiveProjection".into()
    })
}
