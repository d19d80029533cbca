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
use parking_lot::Mutex;
use realmaster::gpu::GpuContext;
use realmaster::{DeviceFrame, DeviceSession, Health};

use crate::convert::view_conventions;
use crate::{RealMaster, RealMasterPlugin, RealMasterStats};

enum ViewState {
    Running {
        session: Box<DeviceSession>,
        settings: RealMaster,
        /// Why the view was last refused (logged once per reason).
        refused: Option<String>,
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

/// Copy each camera's settings to its render entity (and remove them where the camera lost them).
pub(crate) fn extract_settings(
    mut commands: Commands,
    cameras: Extract<Query<(RenderEntity, Option<&RealMaster>), With<Camera>>>,
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
                entity.remove::<RealMaster>();
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
    )>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
    adapter: Res<RenderAdapterInfo>,
    sessions: Res<Sessions>,
    stats: Res<RealMasterStats>,
    mut ctx: RenderContext,
) {
    let start = Instant::now();
    let (main, target, prepass, extracted, settings) = view.into_inner();
    let camera = main.id();
    if !settings.enabled {
        return;
    }
    let mut views = sessions.views.lock();
    let state = views.entry(camera).or_insert_with(|| {
        match start_session(&sessions.plugin, settings, &device, &queue, &adapter) {
            Ok(session) => ViewState::Running {
                session: Box::new(session),
                settings: settings.clone(),
                refused: None,
            },
            Err(message) => {
                log::error!("RealMaster: camera {camera}: showing Bevy's frame: {message}");
                ViewState::Failed(message)
            }
        }
    });
    let (session, refused) = match state {
        ViewState::Running {
            session,
            settings: applied,
            refused,
        } => {
            apply_settings(session, applied, settings);
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
    };
    // Views this pass cannot read are refused before anything is written: no swap, Bevy's frame.
    if let Err(message) = servable(target, prepass, extracted) {
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
    *refused = None;
    let conv = view_conventions(
        &extracted.clip_from_view,
        &extracted.world_from_view.to_matrix(),
    )
    .expect("checked by servable");
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
    };
    // Errors come back as a report with the input written to the destination: the buffers are
    // submitted either way, so the swapped target always holds a frame.
    let (report, buffers) = session.process_deferred(&frame, post.destination_texture);
    for b in buffers {
        ctx.add_command_buffer(b);
    }
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let (health, ep) = (session.health(), session.stats().execution_provider);
    stats.update(camera, |s| {
        s.frames += 1;
        s.enhanced += u64::from(report.enhanced);
        s.failed += u64::from(report.error.is_some());
        s.last_transfer_bytes = report.transfer_bytes;
        s.max_transfer_bytes = s.max_transfer_bytes.max(report.transfer_bytes);
        s.last_cpu_ms = ms;
        s.total_cpu_ms += ms;
        s.execution_provider = ep;
        s.health = health;
    });
}

fn start_session(
    plugin: &RealMasterPlugin,
    settings: &RealMaster,
    device: &RenderDevice,
    queue: &RenderQueue,
    adapter: &RenderAdapterInfo,
) -> Result<DeviceSession, String> {
    let host = GpuContext::from_host(device.wgpu_device().clone(), (**queue).clone(), adapter)
        .map_err(|e| e.to_string())?;
    DeviceSession::new(host, plugin.session_config(settings)).map_err(|e| e.to_string())
}

/// Apply what changed since the last frame: the prompt (encoded once per change), strength, mode
/// and a new shot.
fn apply_settings(session: &mut DeviceSession, applied: &mut RealMaster, want: &RealMaster) {
    if applied == want {
        return;
    }
    if applied.prompt != want.prompt {
        if let Err(e) = session.set_prompt(&want.prompt) {
            log::error!(
                "RealMaster: prompt {:?} kept the previous look: {e}",
                want.prompt
            );
        }
    }
    if applied.strength != want.strength {
        if let Err(e) = session.set_strength(want.strength) {
            log::error!("RealMaster: {e}");
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

/// Why this view cannot be enhanced, with the fix (None: it can).
fn servable(
    target: &ViewTarget,
    prepass: &ViewPrepassTextures,
    view: &ExtractedView,
) -> Result<(), String> {
    // Hdr gives Rgba16Float: readable and storage-writable (Rgba8UnormSrgb is not writable).
    let writable = [
        wgpu::TextureFormat::Rgba16Float,
        wgpu::TextureFormat::Rgba32Float,
        wgpu::TextureFormat::Rgba8Unorm,
    ];
    if !writable.contains(&target.main_texture_format()) {
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
    if view_conventions(&view.clip_from_view, &view.world_from_view.to_matrix()).is_none() {
        return Err(
            "the camera is not a perspective one with Bevy's reverse-Z projection: use a PerspectiveProjection".into(),
        );
    }
    Ok(())
}
