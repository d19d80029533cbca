//! Loading a model package for a session, and running it on packed tensors.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::gpu::preprocess::{self as pre, ModelColorSpace, TensorLayout};
use crate::light::SceneLight;
use crate::model::{self, InputRole, ModelInput, ModelPackage, ModelSession, LIGHT_DIM};
use crate::reference::guided_upsample::EdgeWeights;

use super::config::SessionConfig;
use super::engine::ModelSpec;
use super::worker::Infer;

/// Turns prompt text into embeddings (presets and, when the model has one, the text encoder).
pub type PromptSource = model::PromptEncoder;

pub struct LoadedModel {
    pub infer: Box<dyn Infer>,
    pub spec: ModelSpec,
    pub prompts: Arc<Mutex<PromptSource>>,
    pub ep: String,
}

struct StudentInfer {
    session: ModelSession,
    /// Tensor roles in layout order (the prompt embedding is added last when the model takes one).
    roles: Vec<(InputRole, pre::InputRole)>,
    takes_prompt: bool,
    takes_light: bool,
    /// A frame without light was met (warned once; such frames use `SceneLight::FALLBACK`).
    warned_no_light: bool,
    shapes: Vec<Vec<usize>>,
    /// The teacher's exposure rule on the output (None: off, or the package states none).
    exposure: Option<model::ExposureLock>,
    /// The package's ridge per prompt (None: one ridge for every prompt).
    ridges: Option<model::UpsampleRidges>,
}

impl Infer for StudentInfer {
    fn run(
        &mut self,
        arena: &[f32],
        layout: &TensorLayout,
        prompt: &[f32],
        light: Option<&SceneLight>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let prompt_shape = [1, prompt.len()];
        let light_shape = [1, LIGHT_DIM];
        let light_values = match light {
            Some(l) => l.to_input(),
            None => {
                if self.takes_light && !self.warned_no_light {
                    log::warn!(
                        "RealMaster: the model reads the scene's light (sun and up) but frames give none; using a sun 45 degrees up behind the camera (fix: set the frame's light from the scene's directional light: FrameRef::light or DeviceFrame::light; FrameView::light or OwnedFrame::setLight in C++; a directional light in the Unreal or Bevy scene)"
                    );
                    self.warned_no_light = true;
                }
                SceneLight::FALLBACK.to_input()
            }
        };
        let mut feeds: Vec<ModelInput<'_>> = Vec::with_capacity(self.roles.len() + 2);
        for (k, (role, packed)) in self.roles.iter().enumerate() {
            let data = layout
                .view(arena, *packed)
                .ok_or_else(|| Error::Internal(format!("tensor layout has no {packed:?}")))?;
            feeds.push(ModelInput::new(*role, data, &self.shapes[k]));
        }
        if self.takes_prompt {
            feeds.push(ModelInput::new(
                InputRole::PromptEmbedding,
                prompt,
                &prompt_shape,
            ));
        }
        if self.takes_light {
            feeds.push(ModelInput::new(
                InputRole::Light,
                &light_values,
                &light_shape,
            ));
        }
        self.session.run_into(&feeds, out)?;
        if let Some(lock) = &mut self.exposure {
            // The current frame is the last of the window's colour planes.
            let frames = layout
                .view(arena, pre::InputRole::Frames)
                .ok_or_else(|| Error::Internal("tensor layout has no frames".into()))?;
            let current = &frames[frames.len().saturating_sub(out.len())..];
            let stops = lock.apply(out, current, prompt);
            log::trace!("exposure lock: {stops:+.3} stops");
        }
        Ok(())
    }

    fn diffusion_timings(&self) -> Option<model::DiffusionTimings> {
        self.session.last_diffusion_timings()
    }

    fn ridge_scale(&self, prompt: &[f32]) -> f32 {
        self.ridges.as_ref().map_or(1.0, |r| r.scale_for(prompt))
    }

    fn upsample_edges(&self, prompt: &[f32]) -> EdgeWeights {
        self.ridges
            .as_ref()
            .map_or(EdgeWeights::OFF, |r| r.edges_for(prompt))
    }
}

/// Open, verify and load a model package for a session.
pub fn load_model(dir: &Path, config: &SessionConfig) -> Result<LoadedModel> {
    let package = ModelPackage::open(dir)?;
    let m = package.manifest();
    let (width, height) = match config.model_size {
        Some((w, h)) if m.resolution.accepts(w, h) => (w, h),
        Some((w, h)) => {
            return Err(Error::config(
                format!(
                    "model input size {w}x{h} is not accepted by {} ({})",
                    m.name,
                    m.resolution.describe()
                ),
                "pick a size the manifest allows, or leave the size unset to use its default",
            ))
        }
        None => m.resolution.default_size(),
    };
    let color_space = match m.color.space {
        model::ColorSpace::Srgb => ModelColorSpace::Srgb,
        model::ColorSpace::Linear => ModelColorSpace::Linear,
    };
    let mut roles = Vec::new();
    let mut takes_prompt = false;
    let mut takes_light = false;
    for i in &m.inputs {
        match (pre::InputRole::from_model(i.role), i.role) {
            (Some(p), _) => roles.push((i.role, p)),
            (None, InputRole::Light) => takes_light = true,
            (None, _) => takes_prompt = true,
        }
    }
    let opts = model::SessionOptions {
        ort_library: config.ort_library.clone(),
        ep: config.execution_provider.parse()?,
        ep_options: model::EpOptions {
            fallback: config.allow_ep_fallback,
            trt_fp16: true,
            trt_engine_cache: config.tensorrt_cache_dir.clone(),
            trt_timing_cache: config.tensorrt_cache_dir.clone(),
            ..Default::default()
        },
        // Cinematic renders must be bit-identical; the cost in realtime is small for a student.
        deterministic: true,
        ..Default::default()
    };
    let session = ModelSession::load(&package, &opts)?;
    let ep = session.ep_in_use().as_str().to_string();
    log::info!(
        "model {} {} on {ep} at {width}x{height}",
        m.name,
        m.model_version
    );
    let prompts = PromptSource::load(&package, &opts)?;
    let exposure = match (&m.exposure, config.exposure_lock) {
        (Some(spec), true) => Some(model::ExposureLock::new(
            spec,
            package.presets(),
            color_space == ModelColorSpace::Srgb,
        )?),
        _ => None,
    };
    let ridges = m
        .upsample
        .as_ref()
        .map(|spec| model::UpsampleRidges::new(spec, package.presets()))
        .transpose()?;
    if let Some(summary) = ridges.as_ref().and_then(|r| r.edges_summary()) {
        log::info!("guided upsample: edge-aware for some prompts ({summary})");
    }
    let t = m.window;
    let (w, h) = (width as usize, height as usize);
    let shapes = roles
        .iter()
        .map(|(r, _)| vec![1, r.channels(t).unwrap_or(1), h, w])
        .collect();
    let spec = ModelSpec {
        width,
        height,
        window: t as u32,
        color_space,
        depth_scale: m.depth_scale,
        range: m.color.range,
        roles: roles.iter().map(|(_, p)| *p).collect(),
        reads_light: takes_light,
    };
    Ok(LoadedModel {
        infer: Box::new(StudentInfer {
            session,
            roles,
            takes_prompt,
            takes_light,
            warned_no_light: false,
            shapes,
            exposure,
            ridges,
        }),
        spec,
        prompts: Arc::new(Mutex::new(prompts)),
        ep,
    })
}
