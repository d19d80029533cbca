//! Checking an ONNX graph's real inputs/outputs against what the manifest declares, and running a
//! graph on borrowed f32 buffers.

use std::borrow::Cow;
use std::path::Path;

use ort::session::{Session, SessionInputValue};
use ort::value::{Outlet, TensorElementType, TensorRef, ValueType};

use super::manifest::{InputRole, Manifest, Resolution};
use crate::error::{Error, Result};

/// One expected dimension of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    /// Batch: 1 or dynamic.
    Batch,
    /// Exactly this many (or dynamic).
    Exact(i64),
    /// Height/width: `Some(n)` = the manifest fixes it (graph: n or dynamic); `None` = the manifest
    /// says dynamic, so the graph must be dynamic too.
    Spatial(Option<i64>),
    /// Anything.
    Any,
}

/// Expected tensor: name, what it is (for messages), dims.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub name: String,
    pub what: String,
    pub dims: Vec<Dim>,
}

/// Expected dims of a role's tensor: `[1, C, H, W]` or `[1, D]` for the prompt.
pub(crate) fn role_dims(manifest: &Manifest, role: InputRole) -> Vec<Dim> {
    let (h, w) = spatial(manifest);
    match role.channels(manifest.window) {
        Some(c) => vec![Dim::Batch, Dim::Exact(c as i64), h, w],
        None => vec![
            Dim::Batch,
            Dim::Exact(manifest.vector_len(role).unwrap_or(0) as i64),
        ],
    }
}

/// Expected H and W dims.
pub(crate) fn spatial(manifest: &Manifest) -> (Dim, Dim) {
    match &manifest.resolution {
        Resolution::Fixed { size } => (
            Dim::Spatial(Some(size[1] as i64)),
            Dim::Spatial(Some(size[0] as i64)),
        ),
        Resolution::Dynamic { .. } => (Dim::Spatial(None), Dim::Spatial(None)),
    }
}

pub(crate) fn rgb_dims(manifest: &Manifest) -> Vec<Dim> {
    let (h, w) = spatial(manifest);
    vec![Dim::Batch, Dim::Exact(3), h, w]
}

/// Appends a problem for every way `outlet` differs from `exp`.
pub(crate) fn check_outlet(outlet: &Outlet, exp: &Expect, problems: &mut Vec<String>) {
    let (ty, shape) = match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => (*ty, shape),
        other => {
            problems.push(format!(
                "{} is {other} in the graph, expected a float32 tensor",
                exp.what
            ));
            return;
        }
    };
    if ty != TensorElementType::Float32 {
        problems.push(format!(
            "{} is {ty} in the graph, expected float32",
            exp.what
        ));
    }
    if shape.len() != exp.dims.len() {
        problems.push(format!(
            "{} has rank {} in the graph (shape {}), expected rank {}",
            exp.what,
            shape.len(),
            fmt_dims(shape),
            exp.dims.len()
        ));
        return;
    }
    for (axis, (&got, want)) in shape.iter().zip(&exp.dims).enumerate() {
        let bad = match *want {
            Dim::Batch => got != 1 && got >= 0,
            Dim::Exact(n) => got != n && got >= 0,
            Dim::Spatial(Some(n)) => got != n && got >= 0,
            Dim::Spatial(None) => got >= 0,
            Dim::Any => false,
        };
        if bad {
            let expected = match *want {
                Dim::Batch => "1".to_string(),
                Dim::Exact(n) | Dim::Spatial(Some(n)) => n.to_string(),
                Dim::Spatial(None) => {
                    "dynamic (the manifest declares a dynamic resolution)".to_string()
                }
                Dim::Any => "anything".into(),
            };
            problems.push(format!(
                "{} dim {axis} is {got} in the graph (shape {}), expected {expected}",
                exp.what,
                fmt_dims(shape)
            ));
        }
    }
}

fn fmt_dims(shape: &[i64]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| if *d < 0 { "?".into() } else { d.to_string() })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Checks every expected input exists (and no others), and every expected output exists.
pub(crate) fn check_io(
    session: &Session,
    inputs: &[Expect],
    outputs: &[Expect],
    problems: &mut Vec<String>,
) {
    for exp in inputs {
        match session.inputs().iter().find(|o| o.name() == exp.name) {
            Some(outlet) => check_outlet(outlet, exp, problems),
            None => problems.push(format!(
                "{} is not in the graph (graph inputs: {})",
                exp.what,
                names(session.inputs())
            )),
        }
    }
    for outlet in session.inputs() {
        if !inputs.iter().any(|e| e.name == outlet.name()) {
            problems.push(format!(
                "graph input '{}' is not declared in the manifest",
                outlet.name()
            ));
        }
    }
    for exp in outputs {
        match session.outputs().iter().find(|o| o.name() == exp.name) {
            Some(outlet) => check_outlet(outlet, exp, problems),
            None => problems.push(format!(
                "{} is not in the graph (graph outputs: {})",
                exp.what,
                names(session.outputs())
            )),
        }
    }
}

pub(crate) fn names(outlets: &[Outlet]) -> String {
    let n: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

pub(crate) fn mismatch(path: &Path, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::ModelMismatch {
            path: path.to_path_buf(),
            problem: problems.join("; "),
        })
    }
}

/// A borrowed f32 tensor fed to a graph.
pub(crate) struct Feed<'a> {
    pub name: &'a str,
    pub data: &'a [f32],
    pub shape: &'a [usize],
}

pub(crate) fn inference_err(graph: &Path, e: impl std::fmt::Display) -> Error {
    Error::Inference(format!(
        "{}: {e} (fix: check the input sizes against the manifest; if it persists, try --ep cpu)",
        graph.display()
    ))
}

/// Runs `session` on `feeds`, copies output `output` into `out` (reusing its allocation) and returns
/// its shape. The inputs are zero-copy views of the caller's buffers.
pub(crate) fn run_f32(
    session: &mut Session,
    graph: &Path,
    feeds: &[Feed<'_>],
    output: &str,
    out: &mut Vec<f32>,
) -> Result<Vec<usize>> {
    let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(feeds.len());
    for feed in feeds {
        let view = TensorRef::from_array_view((feed.shape, feed.data))
            .map_err(|e| inference_err(graph, e))?;
        values.push((Cow::Borrowed(feed.name), SessionInputValue::from(view)));
    }
    let outputs = session.run(values).map_err(|e| inference_err(graph, e))?;
    let value = outputs.get(output).ok_or_else(|| {
        inference_err(
            graph,
            format!("the graph produced no output named '{output}'"),
        )
    })?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| inference_err(graph, e))?;
    out.clear();
    out.extend_from_slice(data);
    Ok(shape.iter().map(|&d| d.max(0) as usize).collect())
}

/// A graph run through ONNX Runtime's I/O binding, for the per-frame student. The output tensor is
/// allocated once per shape and bound once (ONNX Runtime writes into it every run, with no
/// per-run allocation); an input named in `bound_once` (the prompt embedding) is bound once per
/// change of its values, so an EP on another device receives it once, not every frame; the other
/// inputs (this frame's tensors) are copied into tensors kept from frame to frame and re-bound.
pub(crate) struct BoundGraph {
    binding: ort::session::IoBinding,
    output: String,
    /// Shape of the output tensor bound now (empty before the first run).
    output_shape: Vec<usize>,
    inputs: Vec<BoundInput>,
    bound_once: Vec<String>,
    /// Times an input marked `bound_once` was (re)bound: tests read it.
    pub once_bindings: u64,
}

struct BoundInput {
    name: String,
    tensor: ort::value::Tensor<f32>,
    shape: Vec<usize>,
}

impl BoundGraph {
    pub fn new(session: &Session, graph: &Path, output: &str, bound_once: &[&str]) -> Result<Self> {
        Ok(BoundGraph {
            binding: session
                .create_binding()
                .map_err(|e| inference_err(graph, e))?,
            output: output.to_string(),
            output_shape: Vec::new(),
            inputs: Vec::new(),
            bound_once: bound_once.iter().map(|s| s.to_string()).collect(),
            once_bindings: 0,
        })
    }

    /// Run on `feeds`; the output (of `output_shape`, known from the inputs) is copied into `out`.
    pub fn run(
        &mut self,
        session: &mut Session,
        graph: &Path,
        feeds: &[Feed<'_>],
        output_shape: &[usize],
        out: &mut Vec<f32>,
    ) -> Result<Vec<usize>> {
        let err = |e: ort::Error| inference_err(graph, e);
        for feed in feeds {
            let once = self.bound_once.iter().any(|n| n == feed.name);
            let slot = match self.inputs.iter().position(|i| i.name == feed.name) {
                Some(k) if self.inputs[k].shape == feed.shape => {
                    if once && self.inputs[k].tensor.extract_tensor().1 == feed.data {
                        continue; // unchanged since it was bound
                    }
                    k
                }
                found => {
                    let tensor = ort::value::Tensor::<f32>::new(
                        &ort::memory::Allocator::default(),
                        feed.shape.to_vec(),
                    )
                    .map_err(err)?;
                    let input = BoundInput {
                        name: feed.name.to_string(),
                        tensor,
                        shape: feed.shape.to_vec(),
                    };
                    match found {
                        Some(k) => {
                            self.inputs[k] = input;
                            k
                        }
                        None => {
                            self.inputs.push(input);
                            self.inputs.len() - 1
                        }
                    }
                }
            };
            let input = &mut self.inputs[slot];
            let data = input.tensor.extract_tensor_mut().1;
            if data.len() != feed.data.len() {
                return Err(inference_err(
                    graph,
                    format!(
                        "input '{}' has {} values for shape {:?}",
                        feed.name,
                        feed.data.len(),
                        feed.shape
                    ),
                ));
            }
            data.copy_from_slice(feed.data);
            self.binding
                .bind_input(feed.name, &input.tensor)
                .map_err(err)?;
            if once {
                self.once_bindings += 1;
            }
        }
        if self.output_shape != output_shape {
            let t = ort::value::Tensor::<f32>::new(
                &ort::memory::Allocator::default(),
                output_shape.to_vec(),
            )
            .map_err(err)?;
            self.binding
                .bind_output(self.output.as_str(), t)
                .map_err(err)?;
            self.output_shape = output_shape.to_vec();
        }
        let outputs = session.run_binding(&self.binding).map_err(err)?;
        let value = outputs.get(self.output.as_str()).ok_or_else(|| {
            inference_err(
                graph,
                format!("the graph produced no output named '{}'", self.output),
            )
        })?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(err)?;
        out.clear();
        out.extend_from_slice(data);
        Ok(shape.iter().map(|&d| d.max(0) as usize).collect())
    }
}
