//! `ModelSession`: a verified package loaded into ONNX Runtime on a chosen execution provider,
//! checked against its manifest, run on borrowed f32 buffers once per frame.

use std::path::{Path, PathBuf};

use ort::session::builder::SessionBuilder;
use ort::session::Session;

use super::diffusion::{DiffusionRunner, DiffusionTimings};
use super::ep::{self, EpOptions, EpSelection, ExecutionProvider};
use super::graph::{self, Dim, Expect, Feed};
use super::manifest::{InputRole, Manifest, ModelKind, Resolution};
use super::ort_lib;
use super::package::ModelPackage;
use crate::error::{Error, Result};

/// How to create the session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionOptions {
    pub ep: ExecutionProvider,
    pub ep_options: EpOptions,
    /// Same input → bit-identical output: sequential execution, fixed intra-op thread count,
    /// ONNX Runtime's deterministic compute flag.
    pub deterministic: bool,
    /// Intra-op threads; None = ONNX Runtime's default (deterministic mode: the machine's core count).
    pub intra_threads: Option<usize>,
    /// Noise seed of the diffusion sampler (the same noise every frame keeps video stable).
    pub seed: u64,
    /// libonnxruntime to load if it is not loaded yet (see `ort_lib`).
    pub ort_library: Option<PathBuf>,
}

/// One input tensor, borrowed from the caller: `[1, C, H, W]` (`[1, D]` for the prompt and the light).
#[derive(Debug, Clone, Copy)]
pub struct ModelInput<'a> {
    pub role: InputRole,
    pub data: &'a [f32],
    pub shape: &'a [usize],
}

impl<'a> ModelInput<'a> {
    pub fn new(role: InputRole, data: &'a [f32], shape: &'a [usize]) -> Self {
        ModelInput { role, data, shape }
    }
}

enum Runner {
    Student {
        session: Session,
        graph: PathBuf,
        /// I/O binding: output allocated once per size, the prompt bound once per change.
        bound: Box<graph::BoundGraph>,
    },
    Diffusion(Box<DiffusionRunner>),
}

/// A loaded model. `run` takes `&mut self`: ONNX Runtime sessions are used from one thread at a time.
pub struct ModelSession {
    manifest: Manifest,
    dir: PathBuf,
    runner: Runner,
    selection: EpSelection,
    /// Graph input names per role, in manifest order.
    inputs: Vec<(InputRole, String)>,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession")
            .field("model", &self.manifest.name)
            .field("dir", &self.dir)
            .field("ep", &self.selection)
            .finish_non_exhaustive()
    }
}

/// A function that makes a fresh, configured session builder.
pub(crate) fn builder_factory(opts: &SessionOptions) -> impl Fn() -> Result<SessionBuilder> + '_ {
    move || {
        let env = ort_lib::environment(opts.ort_library.as_deref())?;
        let cfg = |e: ort::Error<SessionBuilder>| {
            Error::Internal(format!("configuring the ONNX Runtime session failed: {e}"))
        };
        let b = Session::builder(env).map_err(|e| {
            Error::Internal(format!(
                "creating an ONNX Runtime session builder failed: {e}"
            ))
        })?;
        // Spinning worker threads would take CPU from the game between frames.
        let mut b = b.with_intra_op_spinning(false).map_err(cfg)?;
        if opts.deterministic {
            let threads = opts
                .intra_threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            b = b
                .with_parallel_execution(false)
                .map_err(cfg)?
                .with_intra_threads(threads)
                .map_err(cfg)?
                .with_inter_threads(1)
                .map_err(cfg)?
                .with_deterministic_compute(true)
                .map_err(cfg)?;
        } else if let Some(n) = opts.intra_threads {
            b = b.with_intra_threads(n).map_err(cfg)?;
        }
        Ok(b)
    }
}

/// Creates a session for one graph of the package on the requested EP.
pub(crate) fn open_graph(path: &Path, opts: &SessionOptions) -> Result<(Session, EpSelection)> {
    // First, so that a configured library path wins over the default search.
    ort_lib::init(opts.ort_library.as_deref())?;
    let factory = builder_factory(opts);
    ep::commit_session(path, opts.ep, &opts.ep_options, &factory)
}

impl ModelSession {
    /// Loads the package's graph(s) and checks them against the manifest.
    pub fn load(package: &ModelPackage, opts: &SessionOptions) -> Result<ModelSession> {
        let manifest = package.manifest().clone();
        let inputs: Vec<(InputRole, String)> = manifest
            .inputs
            .iter()
            .map(|i| (i.role, i.name.clone()))
            .collect();
        let (runner, selection) = match manifest.kind {
            ModelKind::Student => {
                let name = manifest.graph.as_deref().unwrap_or_default();
                let path = package.file(name);
                let (session, selection) = open_graph(&path, opts)?;
                check_student(&session, &manifest, &path)?;
                let once: Vec<&str> = manifest
                    .inputs
                    .iter()
                    .filter(|i| i.role == InputRole::PromptEmbedding)
                    .map(|i| i.name.as_str())
                    .collect();
                let bound = Box::new(graph::BoundGraph::new(
                    &session,
                    &path,
                    manifest.rgb_output(),
                    &once,
                )?);
                (
                    Runner::Student {
                        session,
                        graph: path,
                        bound,
                    },
                    selection,
                )
            }
            ModelKind::Diffusion => {
                let (runner, selection) = DiffusionRunner::load(package, opts)?;
                (Runner::Diffusion(Box::new(runner)), selection)
            }
        };
        log::info!(
            "model '{}' {} loaded on {}{}",
            manifest.name,
            manifest.model_version,
            selection.used,
            if selection.fell_back {
                " (fallback)"
            } else {
                ""
            }
        );
        Ok(ModelSession {
            manifest,
            dir: package.dir().to_path_buf(),
            runner,
            selection,
            inputs,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The execution provider the model runs on.
    pub fn ep_in_use(&self) -> ExecutionProvider {
        self.selection.used
    }

    /// Requested EP, used EP, whether it fell back, and every failure on the way.
    pub fn ep_selection(&self) -> &EpSelection {
        &self.selection
    }

    /// The roles `run` needs, in manifest order.
    pub fn input_roles(&self) -> Vec<InputRole> {
        self.inputs.iter().map(|(r, _)| *r).collect()
    }

    /// How many times the prompt embedding was bound to the student's graph (once per change, not
    /// per frame); None for a diffusion model.
    pub fn prompt_bindings(&self) -> Option<u64> {
        match &self.runner {
            Runner::Student { bound, .. } => Some(bound.once_bindings),
            Runner::Diffusion(_) => None,
        }
    }

    /// For a diffusion model, the encoder / per-step denoiser / decoder timings of the last frame
    /// that ran to the end; `None` for a student.
    pub fn last_diffusion_timings(&self) -> Option<DiffusionTimings> {
        match &self.runner {
            Runner::Student { .. } => None,
            Runner::Diffusion(runner) => Some(runner.last_timings()),
        }
    }

    /// Runs one frame and returns the rgb output `[1, 3, H, W]`.
    pub fn run(&mut self, inputs: &[ModelInput<'_>]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.run_into(inputs, &mut out)?;
        Ok(out)
    }

    /// Runs one frame into `out` (its allocation is reused across frames) and returns `[1, 3, H, W]`.
    /// Inputs whose role the model does not take are ignored; every role it takes must be given once.
    pub fn run_into(
        &mut self,
        inputs: &[ModelInput<'_>],
        out: &mut Vec<f32>,
    ) -> Result<[usize; 4]> {
        let (h, w) = self.check_inputs(inputs)?;
        let mut feeds: Vec<Feed<'_>> = Vec::with_capacity(self.inputs.len());
        for (role, name) in &self.inputs {
            if let Some(input) = inputs.iter().find(|i| i.role == *role) {
                feeds.push(Feed {
                    name,
                    data: input.data,
                    shape: input.shape,
                });
            }
        }
        let shape = match &mut self.runner {
            Runner::Student {
                session,
                graph,
                bound,
            } => bound.run(session, graph, &feeds, &[1, 3, h, w], out)?,
            Runner::Diffusion(runner) => runner.run(&feeds, out)?,
        };
        if shape != [1, 3, h, w] {
            return Err(Error::Inference(format!(
                "model '{}' returned rgb of shape {shape:?}, expected [1, 3, {h}, {w}] (fix: re-export the model so that rgb has the input's size)",
                self.manifest.name
            )));
        }
        Ok([1, 3, h, w])
    }

    /// Checks that every role is given once with the layout of docs/formats.md; returns (H, W).
    fn check_inputs(&self, inputs: &[ModelInput<'_>]) -> Result<(usize, usize)> {
        let bad = |msg: String| {
            Err(Error::Inference(format!(
                "{msg} (fix: pack the inputs as docs/formats.md \"Tensor layouts\" describes)"
            )))
        };
        let frames = inputs.iter().find(|i| i.role == InputRole::Frames);
        let Some(frames) = frames else {
            return bad(format!(
                "no frames input given to model '{}'",
                self.manifest.name
            ));
        };
        let (h, w) = match frames.shape {
            [_, _, h, w] => (*h, *w),
            other => {
                return bad(format!(
                    "frames has shape {other:?}, expected [1, {}, H, W]",
                    3 * self.manifest.window
                ))
            }
        };
        if !self.manifest.resolution.accepts(w as u32, h as u32) {
            return bad(format!(
                "input size {w}x{h} is not accepted by model '{}' ({})",
                self.manifest.name,
                self.manifest.resolution.describe()
            ));
        }
        for (role, _) in &self.inputs {
            let given: Vec<&ModelInput<'_>> = inputs.iter().filter(|i| i.role == *role).collect();
            let input = match given.as_slice() {
                [one] => *one,
                [] => {
                    return bad(format!(
                        "model '{}' needs a {role} input but none was given",
                        self.manifest.name
                    ))
                }
                _ => return bad(format!("{role} input given {} times", given.len())),
            };
            let expected: Vec<usize> = match role.channels(self.manifest.window) {
                Some(c) => vec![1, c, h, w],
                None => vec![1, self.manifest.vector_len(*role).unwrap_or(0)],
            };
            if input.shape != expected.as_slice() {
                return bad(format!(
                    "{role} input has shape {:?}, expected {expected:?}",
                    input.shape
                ));
            }
            let len: usize = expected.iter().product();
            if input.data.len() != len {
                return bad(format!(
                    "{role} input has {} values, its shape {expected:?} needs {len}",
                    input.data.len()
                ));
            }
        }
        Ok((h, w))
    }
}

fn check_student(session: &Session, manifest: &Manifest, path: &Path) -> Result<()> {
    let inputs: Vec<Expect> = manifest
        .inputs
        .iter()
        .map(|i| Expect {
            name: i.name.clone(),
            what: format!("input '{}' (role {})", i.name, i.role),
            dims: graph::role_dims(manifest, i.role),
        })
        .collect();
    let outputs = vec![Expect {
        name: manifest.rgb_output().to_string(),
        what: format!("output '{}' (role rgb)", manifest.rgb_output()),
        dims: graph::rgb_dims(manifest),
    }];
    let mut problems = Vec::new();
    graph::check_io(session, &inputs, &outputs, &mut problems);
    for extra in session
        .outputs()
        .iter()
        .filter(|o| o.name() != manifest.rgb_output())
    {
        log::warn!(
            "model {}: graph output '{}' is not in the manifest and is ignored",
            path.display(),
            extra.name()
        );
    }
    graph::mismatch(path, problems)
}

/// Dims used when the manifest fixes nothing (diffusion latents).
pub(crate) fn any_dims(rank: usize) -> Vec<Dim> {
    vec![Dim::Any; rank]
}

/// The model's input size for a requested output size: the default for fixed models, otherwise the
/// size rounded to the nearest accepted multiple (at least one multiple).
pub fn model_input_size(resolution: &Resolution, want: (u32, u32)) -> (u32, u32) {
    match resolution {
        Resolution::Fixed { size } => (size[0], size[1]),
        Resolution::Dynamic { multiple_of, .. } => {
            let m = (*multiple_of).max(1);
            let round = |v: u32| (((v + m / 2) / m).max(1)) * m;
            (round(want.0), round(want.1))
        }
    }
}
