//! The device path: RealMaster on a host engine's own wgpu device, reading the host's textures and
//! writing its output texture in place. Only the model-size tensors cross to the CPU (ONNX Runtime
//! runs there or on its own device); no full-resolution frame does.
//!
//! Contract with the host (one queue, the host's):
//! - call [`DeviceSession::process`] after the host has submitted the commands that render the
//!   frame's textures, and before it submits commands that read `output`: the session records its
//!   passes into its own command buffers and submits them on the host's queue in between;
//! - the textures need `TEXTURE_BINDING` (inputs) and `STORAGE_BINDING` (output) usage; formats
//!   and conventions are in [`DeviceFrame`] (the host's own conventions can be named there);
//! - realtime mode never waits for inference; cinematic mode waits for the frame's own inference
//!   (the model-size tensors are read back, so the queue is waited on once per frame);
//! - hosts whose render graph submits once per frame use `process_deferred`: the session returns
//!   its command buffers for the host to submit in order, and the look arrives one frame late.

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::gpu::host::{check_output, DeviceFrame};
use crate::gpu::GpuContext;

use super::config::{Health, Mode, SessionConfig, Stats};
use super::engine::{Engine, FrameSettings, PassDevice};
use super::inference::{load_model, PromptSource};
use super::output::FrameTimings;
use super::prompt_blend::PromptBlend;
use super::worker::{spawn_inference, ThreadLink};

/// Encodes prompt text for a [`DeviceSession`] on any thread (cloning shares the encoder).
#[derive(Clone)]
pub struct PromptEncoderHandle(Arc<Mutex<PromptSource>>);

impl PromptEncoderHandle {
    /// A preset name or free text ("" = the model's default preset) → its embedding.
    pub fn encode(&self, text: &str) -> Result<EncodedPrompt> {
        let embedding = self.0.lock().encode(text)?;
        Ok(EncodedPrompt {
            text: text.to_string(),
            embedding,
        })
    }
}

/// A prompt and its embedding, made by [`PromptEncoderHandle::encode`] for the session it came from.
#[derive(Debug, Clone)]
pub struct EncodedPrompt {
    text: String,
    embedding: Vec<f32>,
}

impl EncodedPrompt {
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What one [`DeviceSession::process`] call did.
#[derive(Debug, Clone, Default)]
pub struct DeviceFrameReport {
    pub frame_index: u64,
    /// The output shows the model's look; false: the host's colour unchanged (no model output
    /// for this shot yet, or an error: see `error`).
    pub enhanced: bool,
    /// The error that made this frame show the input, if any (also in `health()`, logged once).
    pub error: Option<String>,
    /// `ErrorCode` of `error` as a number (0 without an error).
    pub error_code: u32,
    pub timings: FrameTimings,
    /// Bytes this frame moved between CPU memory and the GPU: the model's tensors only.
    pub transfer_bytes: u64,
}

/// A session on the host's device. Not `Sync`: the host calls it from its render thread.
pub struct DeviceSession {
    engine: Engine,
    link: Option<ThreadLink>,
    inference: Option<JoinHandle<()>>,
    prompts: Arc<Mutex<PromptSource>>,
    prompt_text: String,
    mode: Mode,
    strength: f32,
    temporal_alpha: f32,
    upsample_eps: f32,
    cut_threshold: f32,
    reset_requested: bool,
    next_index: u64,
    stats: Stats,
    health: Health,
}

impl DeviceSession {
    /// Load the model and run on `ctx`, the host's device (`GpuContext::from_host`).
    pub fn new(ctx: GpuContext, config: SessionConfig) -> Result<Self> {
        config.check_look()?;
        let Some(dir) = &config.model_dir else {
            return Err(Error::config(
                "the device path needs a model",
                "set SessionConfig::model_dir to a model package folder",
            ));
        };
        let loaded = load_model(dir, &config)?;
        let initial = loaded.prompts.lock().encode(&config.prompt)?;
        let gpu = format!("{} ({})", ctx.summary.name, ctx.summary.backend);
        let engine = Engine::new(PassDevice::Gpu(ctx), loaded.spec)?;
        let blend = PromptBlend::new(initial, config.prompt_blend_frames);
        let (link, handle) = spawn_inference(loaded.infer, engine.layout().clone(), blend)
            .map_err(|e| Error::Internal(format!("cannot start the inference thread: {e}")))?;
        log::info!("RealMaster: device path on the host's GPU {gpu}");
        let stats = Stats {
            execution_provider: loaded.ep,
            backend: engine.backend().to_string(),
            model_reads_light: engine.spec().reads_light,
            ..Default::default()
        };
        Ok(DeviceSession {
            engine,
            link: Some(link),
            inference: Some(handle),
            prompts: loaded.prompts,
            prompt_text: config.prompt.clone(),
            mode: config.mode,
            strength: config.strength,
            temporal_alpha: config.clamped_temporal_alpha(),
            upsample_eps: config.upsample_eps,
            cut_threshold: config.cut_threshold,
            reset_requested: false,
            next_index: 0,
            stats,
            health: Health::Ok,
        })
    }

    /// Enhance `frame` into `output` (same size; see the module's contract). Never fails: on an
    /// error the host's colour is written to `output` unchanged where the textures allow it,
    /// the error is reported once (log, `health()`) and counted in `Stats::frames_failed`.
    pub fn process(
        &mut self,
        frame: &DeviceFrame<'_>,
        output: &wgpu::Texture,
    ) -> DeviceFrameReport {
        let (report, buffers) = self.run(frame, output, false);
        debug_assert!(buffers.is_empty());
        report
    }

    /// For hosts whose render graph submits its command buffers itself (Bevy, Unreal's RDG):
    /// records this frame and returns the command buffers instead of submitting them. Submit them
    /// in order after the commands that render `frame` and before those that read `output`.
    /// The model's look arrives one frame late, carried forward with the motion vectors (the
    /// tensors packed now are read back on the next call, after the host has submitted them).
    /// Errors are handled as in [`process`](Self::process); the buffers must be submitted anyway.
    pub fn process_deferred(
        &mut self,
        frame: &DeviceFrame<'_>,
        output: &wgpu::Texture,
    ) -> (DeviceFrameReport, Vec<wgpu::CommandBuffer>) {
        self.run(frame, output, true)
    }

    fn run(
        &mut self,
        frame: &DeviceFrame<'_>,
        output: &wgpu::Texture,
        deferred: bool,
    ) -> (DeviceFrameReport, Vec<wgpu::CommandBuffer>) {
        let index = self.next_index;
        self.next_index += 1;
        let settings = FrameSettings {
            strength: self.strength,
            temporal_alpha: self.temporal_alpha,
            upsample_eps: self.upsample_eps,
            cut_threshold: self.cut_threshold,
            synchronous: self.mode == Mode::Cinematic,
            profile: false,
            caller_reset: std::mem::take(&mut self.reset_requested),
        };
        let before = self.engine.cpu_transfer_bytes();
        let mut t = FrameTimings::default();
        let mut buffers = Vec::new();
        let (engine, link) = (&mut self.engine, &mut self.link);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            frame.validate()?;
            check_output(output, (frame.width(), frame.height()))?;
            let link = link
                .as_mut()
                .ok_or_else(|| Error::Internal("the inference link is gone".into()))?;
            if deferred {
                let (r, b) =
                    engine.process_device_deferred(frame, output, index, &settings, link, &mut t);
                buffers = b;
                r
            } else {
                engine.process_device(frame, output, index, &settings, link, &mut t)
            }
        }))
        .unwrap_or_else(|_| Err(Error::Internal("the device pipeline panicked".into())));
        let mut report = DeviceFrameReport {
            frame_index: index,
            timings: t,
            ..Default::default()
        };
        match result {
            Ok(enhanced) => {
                report.enhanced = enhanced;
                if enhanced && matches!(self.health, Health::PassThrough { .. }) {
                    log::info!("RealMaster: enhancement restored");
                    self.health = Health::Ok;
                }
            }
            Err(e) => {
                let message = e.to_string();
                if !matches!(&self.health, Health::PassThrough { message: m, .. } if *m == message)
                {
                    log::error!("RealMaster: showing the untouched frame: {message}");
                    self.health = Health::PassThrough {
                        code: e.code() as u32,
                        message: message.clone(),
                    };
                }
                let shown = if deferred {
                    let (r, b) = self.engine.passthrough_device_deferred(frame.color, output);
                    buffers.extend(b);
                    r
                } else {
                    self.engine.passthrough_device(frame.color, output)
                };
                if let Err(e2) = shown {
                    log::debug!("RealMaster: pass-through copy not possible either: {e2}");
                }
                report.error = Some(message);
                report.error_code = e.code() as u32;
            }
        }
        report.transfer_bytes = self.engine.cpu_transfer_bytes() - before;
        let st = &mut self.stats;
        st.frames_submitted += 1;
        if frame.light.is_none() && st.model_reads_light {
            st.frames_without_light += 1;
        }
        st.frames_output += 1;
        if report.error.is_some() {
            st.frames_failed += 1;
        } else if report.enhanced {
            st.frames_enhanced += 1;
            if self.engine.shown_frame != Some(index) {
                st.frames_reprojected += 1;
            }
        }
        if report.timings.inference_ms > 0.0 {
            st.inferences += 1;
            st.last_inference_ms = report.timings.inference_ms;
        }
        st.last_preprocess_ms = report.timings.upload_ms + report.timings.preprocess_ms;
        st.last_composite_ms = report.timings.composite_ms + report.timings.readback_ms;
        st.window_resets = self.engine.resets;
        st.model_faults = self.engine.model_faults;
        st.last_upsample_eps = self.engine.last_upsample_eps;
        st.last_upsample_edge_ridge = self.engine.last_upsample_edges.edge_ridge;
        st.last_upsample_edge_pull = self.engine.last_upsample_edges.pull;
        st.output_latency_frames = self
            .engine
            .shown_frame
            .map_or(0, |f| index.saturating_sub(f));
        st.last_frame_transfer_bytes = report.transfer_bytes;
        (report, buffers)
    }

    /// A preset name or free text, encoded here, then bound to the model once and blended over
    /// the configured frames. Free text runs the text encoder, which can take longer than a frame:
    /// on a render thread, encode with [`prompt_encoder`](Self::prompt_encoder) elsewhere and
    /// hand the result to [`set_encoded_prompt`](Self::set_encoded_prompt).
    pub fn set_prompt(&mut self, text: &str) -> Result<()> {
        let encoded = self.prompt_encoder().encode(text)?;
        self.set_encoded_prompt(encoded);
        Ok(())
    }

    /// A handle that encodes prompts on any thread (it shares this session's encoder).
    pub fn prompt_encoder(&self) -> PromptEncoderHandle {
        PromptEncoderHandle(self.prompts.clone())
    }

    /// Apply a prompt encoded by [`prompt_encoder`](Self::prompt_encoder): cheap, no model runs.
    pub fn set_encoded_prompt(&mut self, prompt: EncodedPrompt) {
        if let Some(l) = self.link.as_mut() {
            l.prompt.set_target(prompt.embedding);
        }
        self.prompt_text = prompt.text;
    }

    pub fn prompt(&self) -> &str {
        &self.prompt_text
    }

    pub fn set_strength(&mut self, strength: f32) -> Result<()> {
        if !(0.0..=1.0).contains(&strength) {
            return Err(Error::config(
                format!("strength {strength} is outside 0..1"),
                "pass a strength between 0 and 1",
            ));
        }
        self.strength = strength;
        Ok(())
    }

    /// The guided upsample's ridge, from the next frame on; out of range is refused (value kept).
    pub fn set_upsample_eps(&mut self, eps: f32) -> Result<()> {
        super::config::check_upsample_eps(eps)?;
        self.upsample_eps = eps;
        Ok(())
    }

    /// The ridge the next frame uses.
    pub fn upsample_eps(&self) -> f32 {
        self.upsample_eps
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The next frame starts a new shot (history and window dropped).
    pub fn reset(&mut self) {
        self.reset_requested = true;
    }

    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }
}

impl Drop for DeviceSession {
    fn drop(&mut self) {
        // Dropping the link ends the inference thread once its current run finishes.
        self.link = None;
        if let Some(h) = self.inference.take() {
            let _ = h.join();
        }
    }
}
