//! Threads of a session: the frame thread (owns the GPU engine) and the inference thread (owns the
//! ONNX Runtime session). The engine talks to inference through `ThreadLink`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::gpu::preprocess::TensorLayout;
use crate::light::SceneLight;
use crate::model::DiffusionTimings;
use crate::reference::guided_upsample::EdgeWeights;

use super::engine::{InferenceJob, InferenceLink, InferenceResult};
use super::prompt_blend::PromptBlend;

/// A model that turns packed tensors (+ prompt embedding, + the frame's light) into `[1,3,H,W]` RGB.
pub trait Infer: Send {
    /// Run on the packed `arena`; the output goes into `out` (reused between calls). `light` is
    /// the frame's, if it gave one; models that read none ignore it.
    fn run(
        &mut self,
        arena: &[f32],
        layout: &TensorLayout,
        prompt: &[f32],
        light: Option<&SceneLight>,
        out: &mut Vec<f32>,
    ) -> Result<()>;

    /// Per-graph timings of the last run, for diffusion models (`None`: not a diffusion model).
    fn diffusion_timings(&self) -> Option<DiffusionTimings> {
        None
    }

    /// What the compositor multiplies the user's upsample ridge by for looks made with `prompt`
    /// (the package's ridge for it over the default; 1 for a package that states none).
    fn ridge_scale(&self, _prompt: &[f32]) -> f32 {
        1.0
    }

    /// How edge-aware the guided upsample is for looks made with `prompt` (the package's
    /// `upsample.edge_ridge` and `edge_aware`; off for a package that states none).
    fn upsample_edges(&self, _prompt: &[f32]) -> EdgeWeights {
        EdgeWeights::OFF
    }
}

pub struct Job {
    job: InferenceJob,
    /// The embedding, only when it changed since the last job (the thread keeps the last one).
    prompt: Option<Vec<f32>>,
}

/// The frame thread's end of the link to the inference thread.
pub struct ThreadLink {
    jobs: Sender<Job>,
    results: Receiver<InferenceResult>,
    busy: Arc<AtomicBool>,
    pub prompt: PromptBlend,
    /// `prompt.revision()` of the embedding the inference thread holds; None before the first job.
    sent_revision: Option<u64>,
}

impl InferenceLink for ThreadLink {
    fn idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    fn send(&mut self, job: InferenceJob) -> Result<()> {
        self.busy.store(true, Ordering::Release);
        self.prompt.advance();
        let revision = self.prompt.revision();
        let prompt = (self.sent_revision != Some(revision)).then(|| self.prompt.current().to_vec());
        self.sent_revision = Some(revision);
        self.jobs
            .send(Job { job, prompt })
            .map_err(|_| Error::Inference("the inference thread has stopped".into()))
    }

    fn receive(&mut self, wait: bool) -> Option<InferenceResult> {
        if wait && !self.idle() {
            self.results.recv().ok()
        } else {
            // Several may be queued only if the frame thread was slow; keep the newest.
            let mut last = None;
            while let Ok(r) = self.results.try_recv() {
                last = Some(r);
            }
            last
        }
    }
}

/// Start the inference thread; it exits when the link is dropped.
pub fn spawn_inference(
    mut model: Box<dyn Infer>,
    layout: TensorLayout,
    prompt: PromptBlend,
) -> std::io::Result<(ThreadLink, std::thread::JoinHandle<()>)> {
    let (job_tx, job_rx) = crossbeam_channel::bounded::<Job>(1);
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<InferenceResult>();
    let busy = Arc::new(AtomicBool::new(false));
    let busy2 = busy.clone();
    let handle = std::thread::Builder::new()
        .name("realmaster-inference".into())
        .spawn(move || {
            let mut prompt = Vec::new();
            let mut ridge_scale = 1.0;
            let mut upsample_edges = EdgeWeights::OFF;
            while let Ok(Job {
                job,
                prompt: changed,
            }) = job_rx.recv()
            {
                if let Some(p) = changed {
                    prompt = p;
                    ridge_scale = model.ridge_scale(&prompt);
                    upsample_edges = model.upsample_edges(&prompt);
                }
                let t = Instant::now();
                let InferenceJob {
                    frame_index,
                    light,
                    arena,
                    mut rgb,
                } = job;
                // A panic inside ONNX Runtime bindings must not take the engine down: report it as an error.
                let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    model.run(&arena, &layout, &prompt, light.as_ref(), &mut rgb)
                }))
                .unwrap_or_else(|_| {
                    Err(Error::Inference(
                        "the model panicked during inference".into(),
                    ))
                });
                let diffusion = if status.is_ok() {
                    model.diffusion_timings()
                } else {
                    None
                };
                let result = InferenceResult {
                    frame_index,
                    ridge_scale,
                    upsample_edges,
                    diffusion,
                    status,
                    rgb,
                    arena,
                    ms: t.elapsed().as_secs_f64() * 1e3,
                };
                // Send before clearing busy so a waiting receiver always finds it.
                let gone = res_tx.send(result).is_err();
                busy2.store(false, Ordering::Release);
                if gone {
                    break;
                }
            }
        })?;
    Ok((
        ThreadLink {
            jobs: job_tx,
            results: res_rx,
            busy,
            prompt,
            sent_revision: None,
        },
        handle,
    ))
}
