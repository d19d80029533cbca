//! The public session: what an engine (or the CLI, or the C++ bridge) drives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::frame::{FrameRef, OwnedFrame, Sanitized};

use super::backend::{open_backend, Backend};
use super::config::{Health, Mode, SessionConfig, Stats};
use super::engine::{Engine, FrameSettings, PassDevice};
use super::inference::{load_model, PromptSource};
use super::output::{FrameTimings, OutputFrame};
use super::worker::{spawn_inference, ThreadLink};

/// Settings that may change from any thread; read once per frame.
#[derive(Debug, Clone)]
struct Live {
    strength: f32,
    mode: Mode,
    temporal_alpha: f32,
    upsample_eps: f32,
    cut_threshold: f32,
    reset_requested: bool,
    prompt_target: Option<Vec<f32>>,
    prompt_text: String,
    profile: bool,
}

#[derive(Default)]
struct Mailbox {
    pending: Option<(OwnedFrame, u64)>,
    free: Vec<OwnedFrame>,
    next_index: u64,
    /// Index of the last frame the frame thread finished.
    done: Option<u64>,
}

struct Shared {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
    done: Condvar,
    live: Mutex<Live>,
    output: Mutex<Option<OutputFrame>>,
    stats: Mutex<Stats>,
    health: Mutex<Health>,
    timings: Mutex<FrameTimings>,
    shutdown: AtomicBool,
}

impl Shared {
    /// Record a failure: the frame passes through; the message is logged once, not every frame.
    fn report(&self, err: &Error) {
        let msg = err.to_string();
        let mut h = self.health.lock();
        let new = !matches!(&*h, Health::PassThrough { message, .. } if *message == msg);
        if new {
            log::error!("RealMaster: showing the untouched frame: {msg}");
            *h = Health::PassThrough {
                code: err.code() as u32,
                message: msg,
            };
        }
    }
}

/// The largest full-resolution image (16 bytes per pixel) the CPU backend accepts: 1 GiB, i.e.
/// about 67 Mpx (8K is 33 Mpx). The CPU backend holds about eight such images per frame.
const CPU_MAX_IMAGE_BYTES: u64 = 1 << 30;

/// A running RealMaster session. `Send + Sync`: share it between the engine's threads.
pub struct Session {
    shared: Arc<Shared>,
    frame_thread: Option<JoinHandle<()>>,
    prompts: Option<Arc<Mutex<PromptSource>>>,
    ep: String,
    model_size: Option<(u32, u32)>,
    gpu: Option<String>,
    backend: Option<Backend>,
    /// The largest full-resolution image the backend allows (GPU: storage binding and buffer
    /// size; CPU: a memory bound), checked per frame before anything is copied or allocated.
    gpu_max_buffer: Option<u64>,
}

impl Session {
    /// Create a session: loads and checks the model, opens the GPU, starts the worker threads.
    /// Without a model (`model_dir: None`) frames pass through untouched and `health()` says why.
    pub fn new(config: SessionConfig) -> Result<Session> {
        config.check_look()?;
        let live = Live {
            strength: config.strength,
            mode: config.mode,
            temporal_alpha: config.clamped_temporal_alpha(),
            upsample_eps: config.upsample_eps,
            cut_threshold: config.cut_threshold,
            reset_requested: false,
            prompt_target: None,
            prompt_text: config.prompt.clone(),
            profile: false,
        };
        let shared = Arc::new(Shared {
            mailbox: Mutex::new(Mailbox::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            live: Mutex::new(live),
            output: Mutex::new(None),
            stats: Mutex::new(Stats::default()),
            health: Mutex::new(Health::Ok),
            timings: Mutex::new(FrameTimings::default()),
            shutdown: AtomicBool::new(false),
        });

        let (engine, link, prompts, ep, model_size, gpu, inference_thread, gpu_max_buffer) =
            match &config.model_dir {
                None => {
                    *shared.health.lock() = Health::PassThrough {
                    code: crate::ErrorCode::Config as u32,
                    message: "no model loaded: frames pass through untouched (fix: set a model package folder)".into(),
                };
                    (None, None, None, "none".to_string(), None, None, None, None)
                }
                Some(dir) => {
                    let loaded = load_model(dir, &config)?;
                    let initial = loaded.prompts.lock().encode(&config.prompt)?;
                    let opened = open_backend(config.backend)?;
                    let size = (loaded.spec.width, loaded.spec.height);
                    let (device, gpu, max_buffer) = match opened.gpu {
                        Some(ctx) => {
                            let gpu = format!("{} ({})", ctx.summary.name, ctx.summary.backend);
                            let limits = ctx.device.limits();
                            let max_buffer = limits
                                .max_storage_buffer_binding_size
                                .min(limits.max_buffer_size);
                            (PassDevice::Gpu(ctx), Some(gpu), Some(max_buffer))
                        }
                        None => (PassDevice::Cpu, None, Some(CPU_MAX_IMAGE_BYTES)),
                    };
                    log::info!(
                        "RealMaster: full-resolution passes on the {} backend ({}{})",
                        opened.backend,
                        opened.reason,
                        if opened.backend == Backend::Cpu {
                            format!(", {} threads", rayon::current_num_threads())
                        } else {
                            String::new()
                        }
                    );
                    let engine = Engine::new(device, loaded.spec)?;
                    let blend =
                        super::prompt_blend::PromptBlend::new(initial, config.prompt_blend_frames);
                    let (link, handle) =
                        spawn_inference(loaded.infer, engine.layout().clone(), blend).map_err(
                            |e| Error::Internal(format!("cannot start the inference thread: {e}")),
                        )?;
                    (
                        Some(engine),
                        Some(link),
                        Some(loaded.prompts),
                        loaded.ep,
                        Some(size),
                        gpu,
                        Some(handle),
                        max_buffer,
                    )
                }
            };
        let backend = engine.as_ref().map(Engine::backend);
        {
            let mut st = shared.stats.lock();
            st.execution_provider = ep.clone();
            st.backend = backend.map_or_else(|| "none".to_string(), |b| b.to_string());
            st.model_reads_light = engine.as_ref().is_some_and(|e| e.spec().reads_light);
        }

        let s2 = shared.clone();
        let frame_thread = std::thread::Builder::new()
            .name("realmaster-frames".into())
            .spawn(move || frame_loop(s2, engine, link, inference_thread))
            .map_err(|e| Error::Internal(format!("cannot start the frame thread: {e}")))?;
        Ok(Session {
            shared,
            frame_thread: Some(frame_thread),
            prompts,
            ep,
            model_size,
            gpu,
            backend,
            gpu_max_buffer,
        })
    }

    /// Whether a `width` x `height` frame fits this session's backend (the full-resolution colour
    /// image is 16 bytes per pixel; the GPU's buffer limits, or the CPU backend's memory bound).
    /// `submit` checks this before copying anything, so an oversized frame costs no memory;
    /// callers may check before allocating their own frames.
    pub fn check_frame_size(&self, width: u32, height: u32) -> Result<()> {
        let Some(max) = self.gpu_max_buffer else {
            return Ok(());
        };
        let need = width as u64 * height as u64 * 16;
        if need > max {
            let (what, fix) = if self.backend == Some(Backend::Cpu) {
                (
                    "the CPU backend allows at most",
                    "downscale the frame before submitting it",
                )
            } else {
                (
                    "this GPU allows at most",
                    "downscale the frame before submitting it (or use a GPU with larger buffer limits)",
                )
            };
            return Err(Error::gpu(
                format!(
                    "a {width}x{height} frame needs {} MB per full-resolution image, but {what} {} MB per buffer",
                    need >> 20,
                    max >> 20
                ),
                fix,
            ));
        }
        Ok(())
    }

    /// Hand over a frame. Realtime: checks the layout, copies, returns at once (a frame not yet
    /// processed is replaced and counted as dropped). Cinematic: returns when the frame's output is ready.
    pub fn submit(&self, frame: &FrameRef<'_>) -> Result<()> {
        frame.validate_layout()?;
        self.check_frame_size(frame.width, frame.height)?;
        self.enqueue(|buf| frame.copy_into(buf))
    }

    /// Like [`submit`](Self::submit), but without the copy: the session takes `frame`'s buffers and
    /// leaves a recycled frame in their place (its contents are unspecified; refill it before the
    /// next call). For callers that own their CPU frames, e.g. a ring of readback buffers: at 1080p
    /// with depth, normals and motion a copy moves 56 MB, the swap moves none.
    pub fn submit_owned(&self, frame: &mut OwnedFrame) -> Result<()> {
        frame.as_frame_ref().validate_layout()?;
        self.check_frame_size(frame.width, frame.height)?;
        self.enqueue(|buf| std::mem::swap(buf, frame))
    }

    fn enqueue(&self, fill: impl FnOnce(&mut OwnedFrame)) -> Result<()> {
        if self.shared.shutdown.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let mode = self.shared.live.lock().mode;
        let mut mb = self.shared.mailbox.lock();
        if mode == Mode::Cinematic {
            // Every frame is processed: wait for a free mailbox rather than replacing.
            while mb.pending.is_some() {
                self.shared.done.wait(&mut mb);
            }
        }
        let index = mb.next_index;
        mb.next_index += 1;
        // A frame still waiting (realtime) is replaced: its buffer takes the new frame in place.
        // Otherwise a buffer from the pool; an empty pool means a new one, and the copy then
        // touches fresh memory (slow on first touch: ~0.5 s for 58 MB on a VM here), so the frame
        // thread keeps a spare in the pool from the first realtime frame on.
        let mut fresh = false;
        if let Some((buf, waiting)) = mb.pending.as_mut() {
            fill(buf);
            *waiting = index;
            self.shared.stats.lock().frames_dropped += 1;
        } else {
            fresh = mb.free.is_empty();
            let mut buf = mb.free.pop().unwrap_or_default();
            fill(&mut buf);
            mb.pending = Some((buf, index));
        }
        {
            let mut st = self.shared.stats.lock();
            st.frames_submitted += 1;
            st.submit_allocations += u64::from(fresh);
        }
        self.shared.wake.notify_one();
        if mode == Mode::Cinematic {
            while mb.done.is_none_or(|d| d < index) {
                if self.shared.shutdown.load(Ordering::Acquire) {
                    return Err(Error::Shutdown);
                }
                self.shared.done.wait(&mut mb);
            }
        }
        Ok(())
    }

    /// Copy the newest finished frame into `dst`; false until there is one.
    pub fn latest_output(&self, dst: &mut OutputFrame) -> bool {
        match &*self.shared.output.lock() {
            Some(o) => {
                o.copy_to(dst);
                true
            }
            None => false,
        }
    }

    /// Wait until every submitted frame is processed (realtime: the newest one; frames it replaced
    /// were dropped). Returns when the frame's output is ready, not when it is picked up.
    pub fn flush(&self) {
        let mut mb = self.shared.mailbox.lock();
        while (mb.pending.is_some()
            || mb.next_index > 0 && mb.done.is_none_or(|d| d + 1 < mb.next_index))
            && !self.shared.shutdown.load(Ordering::Acquire)
        {
            self.shared.done.wait(&mut mb);
        }
    }

    /// A preset name or free text; effective from the next inference, blended over the configured frames.
    pub fn set_prompt(&self, text: &str) -> Result<()> {
        let Some(p) = &self.prompts else {
            self.shared.live.lock().prompt_text = text.to_string();
            return Ok(());
        };
        let emb = p.lock().encode(text)?;
        let mut live = self.shared.live.lock();
        live.prompt_target = Some(emb);
        live.prompt_text = text.to_string();
        Ok(())
    }

    pub fn prompt(&self) -> String {
        self.shared.live.lock().prompt_text.clone()
    }

    /// Preset names the model offers.
    pub fn presets(&self) -> Vec<String> {
        self.prompts
            .as_ref()
            .map(|p| {
                p.lock()
                    .preset_names()
                    .into_iter()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn set_strength(&self, strength: f32) -> Result<()> {
        if !strength.is_finite() || !(0.0..=1.0).contains(&strength) {
            return Err(Error::config(
                format!("strength {strength} is outside 0..1"),
                "pass a strength between 0 and 1",
            ));
        }
        self.shared.live.lock().strength = strength;
        Ok(())
    }

    pub fn strength(&self) -> f32 {
        self.shared.live.lock().strength
    }

    /// The guided upsample's ridge ([`SessionConfig::upsample_eps`]), from the next frame on; a
    /// value outside its range is refused and the current one kept.
    pub fn set_upsample_eps(&self, eps: f32) -> Result<()> {
        super::config::check_upsample_eps(eps)?;
        self.shared.live.lock().upsample_eps = eps;
        Ok(())
    }

    pub fn upsample_eps(&self) -> f32 {
        self.shared.live.lock().upsample_eps
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.live.lock().mode = mode;
    }

    pub fn mode(&self) -> Mode {
        self.shared.live.lock().mode
    }

    /// The caller signals a camera cut: the window and history restart with the next frame.
    pub fn reset_history(&self) {
        self.shared.live.lock().reset_requested = true;
    }

    /// Wait for the GPU after every stage so `last_timings` are per stage (benchmarks only).
    pub fn set_profiling(&self, on: bool) {
        self.shared.live.lock().profile = on;
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().clone()
    }

    pub fn last_timings(&self) -> FrameTimings {
        *self.shared.timings.lock()
    }

    pub fn health(&self) -> Health {
        self.shared.health.lock().clone()
    }

    pub fn execution_provider(&self) -> String {
        self.ep.clone()
    }

    /// The model's input size, if a model is loaded.
    pub fn model_size(&self) -> Option<(u32, u32)> {
        self.model_size
    }

    /// The GPU adapter in use, if any (None on the CPU backend).
    pub fn gpu(&self) -> Option<&str> {
        self.gpu.as_deref()
    }

    /// Where the full-resolution passes run (`Gpu` or `Cpu`), if a model is loaded.
    pub fn backend(&self) -> Option<Backend> {
        self.backend
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        {
            let _mb = self.shared.mailbox.lock();
            self.shared.wake.notify_all();
            self.shared.done.notify_all();
        }
        if let Some(t) = self.frame_thread.take() {
            if t.join().is_err() {
                log::error!("RealMaster frame thread ended with a panic");
            }
        }
    }
}

fn frame_loop(
    shared: Arc<Shared>,
    mut engine: Option<Engine>,
    mut link: Option<ThreadLink>,
    inference: Option<JoinHandle<()>>,
) {
    let mut out = OutputFrame::default();
    let mut warned_sanitized = false;
    loop {
        let (mut frame, index) = {
            let mut mb = shared.mailbox.lock();
            loop {
                if shared.shutdown.load(Ordering::Acquire) {
                    drop(mb);
                    // Dropping the link ends the inference thread once its current run finishes.
                    drop(link);
                    if let Some(h) = inference {
                        let _ = h.join();
                    }
                    return;
                }
                if let Some(p) = mb.pending.take() {
                    break p;
                }
                shared.wake.wait(&mut mb);
            }
        };

        let (settings, prompt_target) = {
            let mut live = shared.live.lock();
            let s = FrameSettings {
                strength: live.strength,
                temporal_alpha: live.temporal_alpha,
                upsample_eps: live.upsample_eps,
                cut_threshold: live.cut_threshold,
                synchronous: live.mode == Mode::Cinematic,
                profile: live.profile,
                caller_reset: std::mem::take(&mut live.reset_requested),
            };
            (s, live.prompt_target.take())
        };
        if let (Some(l), Some(p)) = (link.as_mut(), prompt_target) {
            l.prompt.set_target(p);
        }

        // Bad G-buffer values are contained per pixel, so the frame is still enhanced and the
        // history of the frames after it is not disturbed. Both backends apply the same rules
        // while they resample the planes on the CPU (no separate pass over ~50 MB at 1080p).
        let checks = std::time::Instant::now();
        let engine_sanitizes = engine.as_ref().is_some_and(Engine::sanitizes_gbuffers);
        let mut sanitized = if engine_sanitizes {
            Sanitized::default()
        } else {
            frame.sanitize_gbuffers()
        };
        let fref = frame.as_frame_ref();
        if fref.light.is_none() && engine.as_ref().is_some_and(|e| e.spec().reads_light) {
            shared.stats.lock().frames_without_light += 1;
        }
        let mut t = FrameTimings::default();
        let transfer_before = engine.as_ref().map_or(0, Engine::cpu_transfer_bytes);
        // The G-buffers are sanitized (or will be, as the CPU backend reads them): only the
        // colour plane is left to scan.
        let result = fref.validate_color().and_then(|_| {
            t.validate_ms = checks.elapsed().as_secs_f64() * 1e3;
            match (engine.as_mut(), link.as_mut()) {
                (Some(e), Some(l)) => {
                    // No panic may escape into the engine's thread: treat one as an error.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        e.process(&fref, index, &settings, l, &mut out, &mut t)
                    }))
                    .unwrap_or_else(|_| Err(Error::Internal("the frame pipeline panicked".into())))
                }
                _ => {
                    out.set_passthrough(&fref, index);
                    Ok(())
                }
            }
        });
        if engine_sanitizes {
            if let Some(e) = engine.as_mut() {
                sanitized = e.take_sanitized();
            }
        }
        if sanitized.any() {
            shared.stats.lock().frames_sanitized += 1;
            if !warned_sanitized {
                log::warn!(
                    "RealMaster: frame {index}: replaced {sanitized} (NaN, infinite or far out of range) with neutral values; further frames with bad G-buffer values are counted in Stats::frames_sanitized (fix: write finite depth, unit normals and in-frame motion; zero motion where unknown)"
                );
                warned_sanitized = true;
            }
        }
        let failed = result.is_err();
        match result {
            Ok(()) => {
                if out.enhanced {
                    let mut h = shared.health.lock();
                    if matches!(*h, Health::PassThrough { .. }) && engine.is_some() {
                        log::info!("RealMaster: enhancement restored");
                        *h = Health::Ok;
                    }
                }
            }
            Err(e) => {
                shared.report(&e);
                out.set_passthrough(&fref, index);
            }
        }

        {
            let mut st = shared.stats.lock();
            st.frames_output += 1;
            if failed {
                st.frames_failed += 1;
            } else if out.enhanced {
                st.frames_enhanced += 1;
                if engine
                    .as_ref()
                    .is_some_and(|e| e.shown_frame != Some(index))
                {
                    st.frames_reprojected += 1;
                }
            }
            if t.inferred || t.inference_ms > 0.0 {
                st.inferences += u64::from(t.inference_ms > 0.0);
            }
            if t.inference_ms > 0.0 {
                st.last_inference_ms = t.inference_ms;
            }
            st.last_preprocess_ms = t.upload_ms + t.preprocess_ms;
            st.last_composite_ms = t.composite_ms + t.readback_ms;
            if let Some(e) = &engine {
                st.last_frame_transfer_bytes = e.cpu_transfer_bytes() - transfer_before;
                st.window_resets = e.resets;
                st.model_faults = e.model_faults;
                st.last_upsample_eps = e.last_upsample_eps;
                st.last_upsample_edge_ridge = e.last_upsample_edges.edge_ridge;
                st.last_upsample_edge_pull = e.last_upsample_edges.pull;
                st.output_latency_frames =
                    e.shown_frame.map(|f| index.saturating_sub(f)).unwrap_or(0);
            }
        }
        *shared.timings.lock() = t;
        {
            let mut o = shared.output.lock();
            let slot = o.get_or_insert_with(OutputFrame::default);
            std::mem::swap(slot, &mut out);
        }
        // Realtime needs two buffers (one here, one for the caller's next submit). When no other
        // exists (none pooled, none waiting), the second is made here (a copy of this frame,
        // touching fresh memory on this thread) rather than inside the caller's submit.
        let spare_needed = !settings.synchronous && {
            let mb = shared.mailbox.lock();
            mb.free.is_empty() && mb.pending.is_none()
        };
        let spare = spare_needed.then(|| frame.clone());
        let mut mb = shared.mailbox.lock();
        mb.free.push(frame);
        mb.free.extend(spare);
        mb.done = Some(index);
        shared.done.notify_all();
    }
}
