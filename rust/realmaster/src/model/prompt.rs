//! Prompt text → L2-normalised embedding `[D]`: a preset name, or the package's text encoder
//! (BERT WordPiece tokens → ONNX → mean-pool over the attention mask → normalise).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::ep::ExecutionProvider;
use super::manifest::TextEncoderSpec;
use super::package::ModelPackage;
use super::session::{open_graph, SessionOptions};
use super::tokenizer::WordPieceTokenizer;
use crate::error::{Error, Result};

const TOKEN_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

/// L2-normalises `v` in place; false (and `v` unchanged) if it has no length.
pub fn l2_normalise(v: &mut [f32]) -> bool {
    let norm = v
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    for x in v.iter_mut() {
        *x = (*x as f64 / norm) as f32;
    }
    true
}

/// `(1 − t)·a + t·b`, L2-normalised (t clamped to 0..1). If the blend has no length (a = −b at
/// t = 0.5) the nearer end is returned; if the lengths differ, `b`.
pub fn lerp_normalised(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    if a.len() != b.len() {
        return b.to_vec();
    }
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let mut out: Vec<f32> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (1.0 - t) * x + t * y)
        .collect();
    if l2_normalise(&mut out) {
        out
    } else if t < 0.5 {
        a.to_vec()
    } else {
        b.to_vec()
    }
}

struct TextEncoder {
    session: Session,
    path: PathBuf,
    tokenizer: WordPieceTokenizer,
    inputs: Vec<&'static str>,
    output: String,
}

/// Turns prompt text into the model's prompt embedding.
pub struct PromptEncoder {
    model: String,
    dim: usize,
    presets: BTreeMap<String, Vec<f32>>,
    default: Option<String>,
    text: Option<TextEncoder>,
    /// Why there is no text encoder, when the manifest names one (e.g. "run `make text-encoder`").
    text_missing: Option<String>,
}

impl std::fmt::Debug for PromptEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptEncoder")
            .field("model", &self.model)
            .field("dim", &self.dim)
            .field("presets", &self.presets.keys().collect::<Vec<_>>())
            .field("text_encoder", &self.text.as_ref().map(|t| &t.path))
            .finish()
    }
}

impl PromptEncoder {
    /// Builds the encoder from a package. The text encoder (if the package has one and it is
    /// generated) runs on the CPU: prompts change rarely and the GPU belongs to the frame model.
    pub fn load(package: &ModelPackage, opts: &SessionOptions) -> Result<PromptEncoder> {
        let manifest = package.manifest();
        let prompt = manifest.prompt.as_ref().ok_or_else(|| Error::Prompt {
            problem: format!("model '{}' takes no prompt", manifest.name),
            fix: "use a model whose manifest has a prompt section, or do not set a prompt".into(),
        })?;
        let mut encoder = PromptEncoder {
            model: manifest.name.clone(),
            dim: prompt.dim,
            presets: package.presets().clone(),
            default: prompt.default.clone(),
            text: None,
            text_missing: None,
        };
        if let Some(spec) = &prompt.text_encoder {
            let missing: Vec<&String> = package
                .missing_generated()
                .iter()
                .filter(|m| **m == spec.graph || **m == spec.vocab)
                .collect();
            if missing.is_empty() {
                encoder.text = Some(load_text_encoder(package, spec, prompt.dim, opts)?);
            } else {
                let how = package
                    .generator_for(&spec.graph)
                    .unwrap_or("the text encoder generator");
                encoder.text_missing = Some(format!(
                    "the text encoder is not generated yet; run `{how}`"
                ));
            }
        }
        Ok(encoder)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn has_text_encoder(&self) -> bool {
        self.text.is_some()
    }

    pub fn preset_names(&self) -> Vec<&str> {
        self.presets.keys().map(String::as_str).collect()
    }

    /// A preset by name (case-insensitive, trimmed).
    pub fn preset(&self, name: &str) -> Option<&[f32]> {
        let name = name.trim();
        self.presets
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The preset whose embedding is closest (cosine) to `text`'s, with the similarity: tells an
    /// artist what a free-text prompt will look most like.
    pub fn nearest_preset(&mut self, text: &str) -> Result<(String, f32)> {
        let e = self.encode(text)?;
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        self.presets
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    e.iter().zip(v).map(|(a, b)| a * b).sum::<f32>() / (norm(&e) * norm(v)),
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| Error::Prompt {
                problem: format!("model '{}' has no presets", self.model),
                fix: "use a model package with presets.json".into(),
            })
    }

    /// The embedding for `text`: empty → the default preset; a preset name → that preset;
    /// otherwise the text encoder.
    pub fn encode(&mut self, text: &str) -> Result<Vec<f32>> {
        let text = text.trim();
        if text.is_empty() {
            return match self.default.as_deref().and_then(|d| self.preset(d)) {
                Some(v) => Ok(v.to_vec()),
                None => Err(Error::Prompt {
                    problem: format!(
                        "the prompt is empty and model '{}' has no default preset",
                        self.model
                    ),
                    fix: self.choices_fix(),
                }),
            };
        }
        if let Some(v) = self.preset(text) {
            return Ok(v.to_vec());
        }
        let fix = self.choices_fix();
        match self.text.as_mut() {
            Some(te) => te.embed(text, self.dim),
            None => Err(Error::Prompt {
                problem: format!(
                    "'{text}' is not a preset and model '{}' has no text encoder{}",
                    self.model,
                    self.text_missing
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
                fix,
            }),
        }
    }

    fn choices_fix(&self) -> String {
        let names = self.preset_names().join(", ");
        let mut fix = if names.is_empty() {
            "set a prompt".to_string()
        } else {
            format!("use one of the presets: {names}")
        };
        if let Some(m) = &self.text_missing {
            fix.push_str(&format!(", or for free text {m}"));
        }
        fix
    }
}

fn load_text_encoder(
    package: &ModelPackage,
    spec: &TextEncoderSpec,
    dim: usize,
    opts: &SessionOptions,
) -> Result<TextEncoder> {
    let path = package.file(&spec.graph);
    let tokenizer = WordPieceTokenizer::from_file(&package.file(&spec.vocab), spec.max_tokens)?;
    let cpu = SessionOptions {
        ep: ExecutionProvider::Cpu,
        deterministic: true,
        intra_threads: Some(1),
        ..opts.clone()
    };
    let (session, _) = open_graph(&path, &cpu)?;

    let mut problems = Vec::new();
    let mut inputs = Vec::new();
    for outlet in session.inputs() {
        match TOKEN_INPUTS.iter().find(|n| **n == outlet.name()) {
            Some(name) => {
                inputs.push(*name);
                match outlet.dtype() {
                    ValueType::Tensor {
                        ty: TensorElementType::Int64,
                        shape,
                        ..
                    } if shape.len() == 2 => {}
                    other => problems.push(format!(
                        "text encoder input '{name}' is {other}, expected int64 [1, L]"
                    )),
                }
            }
            None => problems.push(format!(
                "text encoder input '{}' is not one of {}",
                outlet.name(),
                TOKEN_INPUTS.join(", ")
            )),
        }
    }
    if !inputs.contains(&"input_ids") {
        problems.push("the text encoder has no input_ids input".into());
    }
    let output = match session.outputs().first() {
        Some(out) => {
            match out.dtype() {
                ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 2 || shape.len() == 3 => {
                    let d = shape[shape.len() - 1];
                    if d >= 0 && d as usize != dim {
                        problems.push(format!("text encoder output '{}' has dim {d}, but prompt.dim is {dim}", out.name()));
                    }
                }
                other => problems.push(format!(
                    "text encoder output '{}' is {other}, expected float32 [1, D] (pooled) or [1, L, D] (token states)",
                    out.name()
                )),
            }
            out.name().to_string()
        }
        None => {
            problems.push("the text encoder has no outputs".into());
            String::new()
        }
    };
    if !problems.is_empty() {
        return Err(Error::ModelMismatch {
            path,
            problem: problems.join("; "),
        });
    }
    Ok(TextEncoder {
        session,
        path,
        tokenizer,
        inputs,
        output,
    })
}

impl TextEncoder {
    fn embed(&mut self, text: &str, dim: usize) -> Result<Vec<f32>> {
        let enc = self.tokenizer.encode(text);
        let len = enc.input_ids.len();
        let err = |e: String| Error::Prompt {
            problem: format!(
                "the text encoder {} failed on '{text}': {e}",
                self.path.display()
            ),
            fix: "check the text encoder files (re-run its generator) or use a preset".into(),
        };
        let shape = [1usize, len];
        let mut values: Vec<(std::borrow::Cow<'_, str>, SessionInputValue<'_>)> = Vec::new();
        for name in &self.inputs {
            let data: &[i64] = match *name {
                "input_ids" => &enc.input_ids,
                "attention_mask" => &enc.attention_mask,
                _ => &enc.token_type_ids,
            };
            let view = TensorRef::from_array_view((shape, data)).map_err(|e| err(e.to_string()))?;
            values.push(((*name).into(), view.into()));
        }
        let outputs = self.session.run(values).map_err(|e| err(e.to_string()))?;
        let value = outputs
            .get(&self.output)
            .ok_or_else(|| err(format!("no output '{}'", self.output)))?;
        let (out_shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| err(e.to_string()))?;
        let mut pooled = match **out_shape {
            [1, d] if d as usize == dim => data.to_vec(),
            [1, l, d] if d as usize == dim && l as usize == len => {
                mean_pool(data, &enc.attention_mask, dim)
            }
            _ => {
                return Err(err(format!(
                    "output shape {out_shape} is neither [1, {dim}] nor [1, {len}, {dim}]"
                )))
            }
        };
        if !l2_normalise(&mut pooled) {
            return Err(err("the embedding is zero or not finite".into()));
        }
        Ok(pooled)
    }
}

/// Mean of the token states whose mask is 1.
pub fn mean_pool(states: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    let mut count = 0usize;
    for (t, m) in mask.iter().enumerate() {
        if *m != 0 {
            count += 1;
            for (s, x) in sum.iter_mut().zip(&states[t * dim..(t + 1) * dim]) {
                *s += *x as f64;
            }
        }
    }
    let n = count.max(1) as f64;
    sum.into_iter().map(|s| (s / n) as f32).collect()
}
