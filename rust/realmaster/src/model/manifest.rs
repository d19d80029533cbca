//! `manifest.json` of a model package (docs/formats.md, "Model package (version 1)"): serde types
//! plus the checks that the manifest is consistent with itself. Checks against the files on disk
//! live in `package.rs`, checks against the ONNX graphs in `session.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const MANIFEST_FORMAT: &str = "realmaster-model";
pub const MANIFEST_VERSION: u32 = 1;

const FIX_MANIFEST: &str =
    "correct manifest.json (see docs/formats.md, \"Model package\") or re-install the package";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// One network call per frame.
    Student,
    /// VAE encoder, denoiser called K times on a flow-matching schedule, VAE decoder.
    Diffusion,
}

/// Model input size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Resolution {
    /// Exactly `size = [w, h]`.
    Fixed { size: [u32; 2] },
    /// Any size whose sides are multiples of `multiple_of`; `default = [w, h]` when the caller has no preference.
    Dynamic { multiple_of: u32, default: [u32; 2] },
}

impl Resolution {
    /// The size to use when the caller has no preference, `(w, h)`.
    pub fn default_size(&self) -> (u32, u32) {
        match self {
            Resolution::Fixed { size } | Resolution::Dynamic { default: size, .. } => {
                (size[0], size[1])
            }
        }
    }

    /// The input size for frames of `frame = (w, h)`: fixed models give their size; dynamic ones the
    /// frame's aspect ratio with at most the default's pixel count and never more than the frame
    /// itself (no upsampling into the model), rounded to `multiple_of`. Keeping the aspect matters:
    /// the student was trained on undistorted crops.
    pub fn size_for_frame(&self, frame: (u32, u32)) -> (u32, u32) {
        match self {
            Resolution::Fixed { size } => (size[0], size[1]),
            Resolution::Dynamic {
                multiple_of,
                default,
            } => {
                let m = (*multiple_of).max(1) as f64;
                let (fw, fh) = (frame.0.max(1) as f64, frame.1.max(1) as f64);
                let budget = default[0] as f64 * default[1] as f64;
                let scale = (budget / (fw * fh)).sqrt().min(1.0);
                let side = |v: f64| (((v * scale) / m).round().max(1.0) * m) as u32;
                (side(fw), side(fh))
            }
        }
    }

    /// Whether the model accepts an input of `w × h`.
    pub fn accepts(&self, w: u32, h: u32) -> bool {
        match self {
            Resolution::Fixed { size } => size[0] == w && size[1] == h,
            Resolution::Dynamic { multiple_of, .. } => {
                let m = (*multiple_of).max(1);
                w > 0 && h > 0 && w.is_multiple_of(m) && h.is_multiple_of(m)
            }
        }
    }

    /// A readable statement of what is accepted, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Resolution::Fixed { size } => format!("exactly {}x{}", size[0], size[1]),
            Resolution::Dynamic { multiple_of, .. } => {
                format!("width and height multiples of {multiple_of}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorSpace {
    Srgb,
    Linear,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorSpec {
    pub space: ColorSpace,
    pub range: [f32; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Fp16,
}

/// What an input tensor means (docs/formats.md, "Tensor layouts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub enum InputRole {
    Frames,
    Edges,
    Depth,
    Normals,
    PreviousOutput,
    PromptEmbedding,
    /// The scene's sun and up in view space, `[1, 6]` (crate::SceneLight), per frame.
    Light,
}

/// Values in the `light` tensor: the sun's direction, then the world's up.
pub const LIGHT_DIM: usize = 6;

impl InputRole {
    pub const ALL: [InputRole; 7] = [
        InputRole::Frames,
        InputRole::Edges,
        InputRole::Depth,
        InputRole::Normals,
        InputRole::PreviousOutput,
        InputRole::PromptEmbedding,
        InputRole::Light,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InputRole::Frames => "frames",
            InputRole::Edges => "edges",
            InputRole::Depth => "depth",
            InputRole::Normals => "normals",
            InputRole::PreviousOutput => "previous_output",
            InputRole::PromptEmbedding => "prompt_embedding",
            InputRole::Light => "light",
        }
    }

    /// Channel count of the role's tensor: `[1, C, H, W]`; None for the vectors `[1, D]` (the
    /// prompt, the light).
    pub fn channels(self, window: usize) -> Option<usize> {
        match self {
            InputRole::Frames => Some(3 * window),
            InputRole::Edges => Some(window),
            InputRole::Depth => Some(1),
            InputRole::Normals | InputRole::PreviousOutput => Some(3),
            InputRole::PromptEmbedding | InputRole::Light => None,
        }
    }
}

impl fmt::Display for InputRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for InputRole {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        InputRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = InputRole::ALL.iter().map(|r| r.as_str()).collect();
                format!(
                    "unknown role '{s}' (known input roles: {})",
                    known.join(", ")
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum OutputRole {
    Rgb,
}

impl TryFrom<String> for OutputRole {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.as_str() {
            "rgb" => Ok(OutputRole::Rgb),
            _ => Err(format!(
                "unknown output role '{s}' (known output roles: rgb)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub role: InputRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub role: OutputRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextEncoderSpec {
    pub graph: String,
    pub vocab: String,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// The command that generates the encoder (shown in errors when it is missing).
    #[serde(default)]
    pub generated_by: Option<String>,
}

fn default_max_tokens() -> usize {
    32
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    pub dim: usize,
    #[serde(default)]
    pub presets: Option<String>,
    /// Preset used for an empty prompt.
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub text_encoder: Option<TextEncoderSpec>,
}

/// The sampler settings of a `diffusion` package. Graph contracts (see `session.rs`):
/// vae_encoder takes manifest inputs and returns latents; denoiser takes `x`, `sigma` [1], `cond`
/// plus manifest inputs and returns the velocity; vae_decoder takes latents and returns rgb.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionSpec {
    pub vae_encoder: String,
    pub denoiser: String,
    pub vae_decoder: String,
    /// Noise levels in (0, 1], strictly decreasing; a final 0 is implied.
    #[serde(default)]
    pub sigmas: Option<Vec<f32>>,
    /// Alternative to `sigmas`: timesteps in (0, num_train_timesteps], sigma = t / num_train_timesteps.
    #[serde(default)]
    pub timesteps: Option<Vec<f32>>,
    #[serde(default = "default_train_timesteps")]
    pub num_train_timesteps: f32,
    /// Flow-matching shift: sigma' = shift·s / (1 + (shift − 1)·s).
    #[serde(default = "default_shift")]
    pub shift: f32,
}

fn default_train_timesteps() -> f32 {
    1000.0
}
fn default_shift() -> f32 {
    1.0
}

/// `generated` accepts a list of names or a map name → the command that generates it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum GeneratedList {
    Names(Vec<String>),
    Commands(BTreeMap<String, String>),
}

fn de_generated<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, Option<String>>, D::Error> {
    Ok(match GeneratedList::deserialize(d)? {
        GeneratedList::Names(names) => names.into_iter().map(|n| (n, None)).collect(),
        GeneratedList::Commands(map) => map.into_iter().map(|(k, v)| (k, Some(v))).collect(),
    })
}

/// The tone curve a student's targets were made with (display-linear = curve(scene-linear)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToneCurve {
    /// Narkowicz's ACES filmic fit, clipped to 0..1 (models/pathtrace/postprocess.py: aces_fit).
    AcesFit,
}

/// How the teacher exposed its targets (models/pathtrace/postprocess.py: clip_exposure): each
/// target's scene-linear log-average luminance is `keys[weather] x the engine frames' log-average
/// / engine_ref`, then `tone_curve` maps it to display. The runtime's exposure lock
/// (model/exposure.rs) holds the student's output to the same rule (docs/formats.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureSpec {
    pub tone_curve: ToneCurve,
    /// The engine log-average at which a target's log-average is its weather's key.
    pub engine_ref: f32,
    /// Per prompt preset (names as in the presets file): the key, a scene-linear log-average.
    pub keys: BTreeMap<String, f32>,
    /// The key of a prompt that no preset explains (the teacher's own fallback).
    pub default_key: f32,
    /// The largest correction the lock applies, in stops either way.
    #[serde(default = "default_max_stops")]
    pub max_stops: f32,
}

/// The guided upsample's ridge per prompt preset (docs/formats.md): what each prompt's look
/// keeps of the engine frame's own detail. The user's ridge scales every prompt's alike
/// (model/upsample_ridges.rs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsampleSpec {
    /// Per prompt preset (names as in the presets file): its ridge, 1e-6..=1.
    pub eps: BTreeMap<String, f32>,
    /// The ridge of presets not named and of a prompt that no preset explains.
    #[serde(default = "default_upsample_eps")]
    pub default_eps: f32,
    /// The edge-aware fit's ridge factor on the model input's edges, 1..=1000 (absent: the fit
    /// is not edge-aware; `CompositeParams::upsample_edges`, docs/photoreal.md stages 66-67).
    #[serde(default)]
    pub edge_ridge: Option<f32>,
    /// Per prompt preset: how edge-aware its looks' fit is, 0..=1 (the pull's weight; the ridge
    /// on the edges is `1 + weight (edge_ridge - 1)` times the prompt's). Presets not named: 0.
    /// Absent with `edge_ridge` set: every preset 1.
    #[serde(default)]
    pub edge_aware: Option<BTreeMap<String, f32>>,
}

fn default_upsample_eps() -> f32 {
    crate::reference::guided_upsample::DEFAULT_EPS
}

fn default_max_stops() -> f32 {
    2.0
}

fn default_depth_scale() -> f32 {
    10.0
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub name: String,
    pub model_version: String,
    pub license: String,
    #[serde(default)]
    pub description: String,
    pub kind: ModelKind,
    /// Every file the runtime loads → its sha256 (hex).
    pub files: BTreeMap<String, String>,
    /// Files made by a setup command; checked against `generated.lock.json`. Name → generator command.
    #[serde(default, deserialize_with = "de_generated")]
    pub generated: BTreeMap<String, Option<String>>,
    /// The student graph (kind = student).
    #[serde(default)]
    pub graph: Option<String>,
    pub resolution: Resolution,
    pub window: usize,
    pub color: ColorSpec,
    #[serde(default = "default_depth_scale")]
    pub depth_scale: f32,
    #[serde(default)]
    pub precision: Precision,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<OutputSpec>,
    #[serde(default)]
    pub prompt: Option<PromptSpec>,
    #[serde(default)]
    pub diffusion: Option<DiffusionSpec>,
    /// The teacher's exposure rule, which the runtime's exposure lock holds the output to.
    #[serde(default)]
    pub exposure: Option<ExposureSpec>,
    /// The guided upsample's ridge per prompt (absent: the runtime's one ridge for every prompt).
    #[serde(default)]
    pub upsample: Option<UpsampleSpec>,
    /// Top-level keys this runtime does not know; kept so they can be reported, never used.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    /// Reads and checks `path` (a manifest.json).
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Manifest::parse(&text, path)
    }

    /// Parses and checks manifest text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            problem: format!("cannot parse: {e}"),
            fix: FIX_MANIFEST.into(),
        })?;
        manifest.validate(path)?;
        for key in manifest.unknown.keys() {
            log::warn!(
                "model manifest {}: ignoring unknown key '{key}'",
                path.display()
            );
        }
        Ok(manifest)
    }

    /// The graph name that carries `role`, if the model takes it.
    pub fn input_name(&self, role: InputRole) -> Option<&str> {
        self.inputs
            .iter()
            .find(|i| i.role == role)
            .map(|i| i.name.as_str())
    }

    pub fn has_input(&self, role: InputRole) -> bool {
        self.input_name(role).is_some()
    }

    /// Length D of a vector role's `[1, D]` tensor (the prompt's dim, the light's 6); None for
    /// the image roles.
    pub fn vector_len(&self, role: InputRole) -> Option<usize> {
        match role {
            InputRole::PromptEmbedding => Some(self.prompt.as_ref().map_or(0, |p| p.dim)),
            InputRole::Light => Some(LIGHT_DIM),
            _ => None,
        }
    }

    /// The rgb output's name (validation guarantees there is exactly one).
    pub fn rgb_output(&self) -> &str {
        self.outputs
            .first()
            .map(|o| o.name.as_str())
            .unwrap_or("rgb")
    }

    /// Every file the manifest refers to, with the field that refers to it.
    pub fn referenced_files(&self) -> Vec<(&'static str, &str)> {
        let mut refs = Vec::new();
        if let Some(g) = &self.graph {
            refs.push(("graph", g.as_str()));
        }
        if let Some(p) = &self.prompt {
            if let Some(presets) = &p.presets {
                refs.push(("prompt.presets", presets.as_str()));
            }
            if let Some(te) = &p.text_encoder {
                refs.push(("prompt.text_encoder.graph", te.graph.as_str()));
                refs.push(("prompt.text_encoder.vocab", te.vocab.as_str()));
            }
        }
        if let Some(d) = &self.diffusion {
            refs.push(("diffusion.vae_encoder", d.vae_encoder.as_str()));
            refs.push(("diffusion.denoiser", d.denoiser.as_str()));
            refs.push(("diffusion.vae_decoder", d.vae_decoder.as_str()));
        }
        refs
    }

    /// Checks the manifest against itself; the first problem found is returned.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let problems = self.problems();
        match problems.into_iter().next() {
            None => Ok(()),
            Some(problem) => Err(Error::Manifest {
                path: path.to_path_buf(),
                problem,
                fix: FIX_MANIFEST.into(),
            }),
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.format != MANIFEST_FORMAT {
            p.push(format!(
                "format is '{}', expected '{MANIFEST_FORMAT}'",
                self.format
            ));
        }
        if self.version != MANIFEST_VERSION {
            p.push(format!(
                "manifest version {} is not supported (this runtime reads version {MANIFEST_VERSION})",
                self.version
            ));
        }
        if self.name.trim().is_empty() {
            p.push("name is empty".into());
        }
        if self.window == 0 {
            p.push(
                "window is 0; it must be at least 1 (the number of frames the model sees)".into(),
            );
        } else if self.window > 64 {
            p.push(format!(
                "window is {}; at most 64 frames are supported",
                self.window
            ));
        }
        self.check_resolution(&mut p);
        let [lo, hi] = self.color.range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            p.push(format!(
                "color.range [{lo}, {hi}] must be two finite numbers with low < high"
            ));
        }
        if !(self.depth_scale.is_finite() && self.depth_scale > 0.0) {
            p.push(format!(
                "depth_scale is {}; it must be a positive number (metres)",
                self.depth_scale
            ));
        }
        self.check_io(&mut p);
        self.check_prompt(&mut p);
        self.check_exposure(&mut p);
        self.check_upsample(&mut p);
        self.check_kind(&mut p);
        self.check_files(&mut p);
        p
    }

    fn check_resolution(&self, p: &mut Vec<String>) {
        match &self.resolution {
            Resolution::Fixed { size } => {
                if size[0] == 0 || size[1] == 0 {
                    p.push(format!(
                        "resolution.size {}x{} has a zero side",
                        size[0], size[1]
                    ));
                }
            }
            Resolution::Dynamic {
                multiple_of,
                default,
            } => {
                if *multiple_of == 0 {
                    p.push("resolution.multiple_of is 0; it must be at least 1".into());
                } else if default[0] == 0
                    || default[1] == 0
                    || default[0] % multiple_of != 0
                    || default[1] % multiple_of != 0
                {
                    p.push(format!(
                        "resolution.default {}x{} is not a non-zero multiple of multiple_of {multiple_of}",
                        default[0], default[1]
                    ));
                }
            }
        }
    }

    fn check_io(&self, p: &mut Vec<String>) {
        let mut names = BTreeSet::new();
        let mut roles = BTreeSet::new();
        for input in &self.inputs {
            if input.name.trim().is_empty() {
                p.push(format!("the {} input has an empty name", input.role));
            }
            if !names.insert(input.name.as_str()) {
                p.push(format!("input name '{}' is used twice", input.name));
            }
            if !roles.insert(input.role) {
                p.push(format!(
                    "role {} is given to more than one input",
                    input.role
                ));
            }
        }
        if !roles.contains(&InputRole::Frames) {
            p.push("missing frames input: one input must have role \"frames\"".into());
        }
        match self.outputs.as_slice() {
            [] => p.push("no outputs: one output with role \"rgb\" is required".into()),
            [out] => {
                if out.name.trim().is_empty() {
                    p.push("the rgb output has an empty name".into());
                }
                if names.contains(out.name.as_str()) {
                    p.push(format!("output name '{}' is also an input name", out.name));
                }
            }
            _ => p.push(format!(
                "{} outputs declared; exactly one (role \"rgb\") is supported",
                self.outputs.len()
            )),
        }
    }

    fn check_prompt(&self, p: &mut Vec<String>) {
        let takes_prompt = self.has_input(InputRole::PromptEmbedding);
        match (&self.prompt, takes_prompt) {
            (None, true) => p.push(
                "the model takes a prompt_embedding input but the manifest has no prompt section"
                    .into(),
            ),
            (Some(_), false) => p.push(
                "the manifest has a prompt section but no input with role prompt_embedding".into(),
            ),
            (None, false) => {}
            (Some(prompt), true) => {
                if prompt.dim == 0 {
                    p.push("prompt.dim is 0".into());
                }
                if prompt.presets.is_none() && prompt.text_encoder.is_none() {
                    p.push("prompt section has neither presets nor a text_encoder".into());
                }
                if prompt.default.is_some() && prompt.presets.is_none() {
                    p.push("prompt.default names a preset but prompt.presets is not set".into());
                }
                if let Some(te) = &prompt.text_encoder {
                    if te.max_tokens < 2 || te.max_tokens > 512 {
                        p.push(format!(
                            "prompt.text_encoder.max_tokens is {}; it must be 2..=512 ([CLS] and [SEP] take two)",
                            te.max_tokens
                        ));
                    }
                }
            }
        }
    }

    fn check_exposure(&self, p: &mut Vec<String>) {
        let Some(e) = &self.exposure else { return };
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !positive(e.engine_ref) {
            p.push(format!(
                "exposure.engine_ref is {}; it must be a positive number",
                e.engine_ref
            ));
        }
        if !positive(e.default_key) {
            p.push(format!(
                "exposure.default_key is {}; it must be a positive number",
                e.default_key
            ));
        }
        if !(e.max_stops.is_finite() && e.max_stops > 0.0 && e.max_stops <= 8.0) {
            p.push(format!(
                "exposure.max_stops is {}; it must be in (0, 8]",
                e.max_stops
            ));
        }
        if e.keys.is_empty() {
            p.push("exposure.keys is empty; give each prompt preset's key".into());
        }
        for (name, k) in &e.keys {
            if !positive(*k) {
                p.push(format!(
                    "exposure.keys.{name} is {k}; a key must be a positive number"
                ));
            }
        }
        self.check_names_presets("an exposure section", "keys", p);
    }

    /// A section whose entries name prompt presets needs the manifest to have presets.
    fn check_names_presets(&self, section: &str, entries: &str, p: &mut Vec<String>) {
        if self
            .prompt
            .as_ref()
            .and_then(|pr| pr.presets.as_ref())
            .is_none()
        {
            p.push(format!(
                "the manifest has {section} but no prompt presets for its {entries} to name"
            ));
        }
    }

    fn check_upsample(&self, p: &mut Vec<String>) {
        use crate::reference::guided_upsample::{MAX_EPS, MIN_EPS};
        let Some(u) = &self.upsample else { return };
        let in_range = |v: f32| (MIN_EPS..=MAX_EPS).contains(&v);
        if !in_range(u.default_eps) {
            p.push(format!(
                "upsample.default_eps is {}; a ridge must be in {MIN_EPS:e}..={MAX_EPS}",
                u.default_eps
            ));
        }
        for (name, e) in &u.eps {
            if !in_range(*e) {
                p.push(format!(
                    "upsample.eps.{name} is {e}; a ridge must be in {MIN_EPS:e}..={MAX_EPS}"
                ));
            }
        }
        if let Some(m) = u.edge_ridge {
            use crate::reference::guided_upsample::{MAX_EDGE_RIDGE, MIN_EDGE_RIDGE};
            if !(MIN_EDGE_RIDGE..=MAX_EDGE_RIDGE).contains(&m) {
                p.push(format!(
                    "upsample.edge_ridge is {m}; the edge ridge factor must be in {MIN_EDGE_RIDGE}..={MAX_EDGE_RIDGE} (or absent: not edge-aware)"
                ));
            }
        }
        for (name, w) in u.edge_aware.iter().flatten() {
            if !(0.0..=1.0).contains(w) {
                p.push(format!(
                    "upsample.edge_aware.{name} is {w}; a preset's edge-aware weight must be in 0..=1"
                ));
            }
        }
        if u.edge_aware.is_some() && u.edge_ridge.is_none() {
            p.push(
                "upsample.edge_aware is set without upsample.edge_ridge (the ridge's factor on the edges it weights)"
                    .to_string(),
            );
        }
        self.check_names_presets("an upsample section", "ridges", p);
    }

    fn check_kind(&self, p: &mut Vec<String>) {
        match self.kind {
            ModelKind::Student => {
                if self.graph.is_none() {
                    p.push("kind is student but \"graph\" (the ONNX file) is not set".into());
                }
                if self.diffusion.is_some() {
                    p.push("kind is student but a diffusion section is present".into());
                }
            }
            ModelKind::Diffusion => match &self.diffusion {
                None => p.push("kind is diffusion but the diffusion section is missing".into()),
                Some(d) => {
                    if self.graph.is_some() {
                        p.push("kind is diffusion but \"graph\" is set; name the graphs in the diffusion section".into());
                    }
                    check_schedule(d, p);
                }
            },
        }
    }

    fn check_files(&self, p: &mut Vec<String>) {
        for (name, sha) in &self.files {
            if let Some(why) = unsafe_relative_path(name) {
                p.push(format!("files entry '{name}' {why}"));
            }
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                p.push(format!(
                    "files entry '{name}' has sha256 '{sha}', which is not 64 hex digits"
                ));
            }
        }
        for name in self.generated.keys() {
            if let Some(why) = unsafe_relative_path(name) {
                p.push(format!("generated entry '{name}' {why}"));
            }
            if self.files.contains_key(name) {
                p.push(format!("'{name}' is listed both in files and in generated"));
            }
        }
        for (field, name) in self.referenced_files() {
            let is_text_encoder = field.starts_with("prompt.text_encoder");
            let listed = self.files.contains_key(name)
                || (is_text_encoder && self.generated.contains_key(name));
            if !listed {
                let where_ = if is_text_encoder {
                    "files or generated"
                } else {
                    "files"
                };
                p.push(format!("{field} is '{name}' but that file is not listed in {where_} (every loaded file needs its sha256)"));
            }
        }
    }
}

fn check_schedule(d: &DiffusionSpec, p: &mut Vec<String>) {
    if !(d.shift.is_finite() && d.shift > 0.0) {
        p.push(format!(
            "diffusion.shift is {}; it must be a positive number",
            d.shift
        ));
    }
    let (values, what, max) = match (&d.sigmas, &d.timesteps) {
        (Some(_), Some(_)) => {
            p.push("diffusion has both sigmas and timesteps; give exactly one".into());
            return;
        }
        (None, None) => {
            p.push("diffusion has neither sigmas nor timesteps; give exactly one".into());
            return;
        }
        (Some(s), None) => (s, "sigmas", 1.0),
        (None, Some(t)) => {
            if !(d.num_train_timesteps.is_finite() && d.num_train_timesteps > 0.0) {
                p.push("diffusion.num_train_timesteps must be a positive number".into());
                return;
            }
            (t, "timesteps", d.num_train_timesteps)
        }
    };
    // A trailing 0 is allowed (it is the implied end of the schedule anyway).
    let body: &[f32] = match values.split_last() {
        Some((last, rest)) if *last == 0.0 => rest,
        _ => values,
    };
    if body.is_empty() {
        p.push(format!(
            "diffusion.{what} is empty; at least one step is needed"
        ));
        return;
    }
    if body
        .iter()
        .any(|v| !(v.is_finite() && *v > 0.0 && *v <= max))
    {
        p.push(format!("diffusion.{what} values must be in (0, {max}]"));
    }
    if body.windows(2).any(|w| w[1] >= w[0]) {
        p.push(format!("diffusion.{what} must be strictly decreasing"));
    }
}

/// Why `name` is not a plain relative path inside the package, if it is not.
fn unsafe_relative_path(name: &str) -> Option<&'static str> {
    let path = PathBuf::from(name);
    if name.is_empty() {
        return Some("is empty");
    }
    if path.is_absolute() || name.starts_with('/') || name.starts_with('\\') {
        return Some("is an absolute path; files must be inside the package folder");
    }
    if path
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Some("leaves the package folder or is not a plain relative path");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Resolution;

    #[test]
    fn size_for_frame_keeps_aspect_within_the_default_budget() {
        let r = Resolution::Dynamic {
            multiple_of: 16,
            default: [512, 288],
        };
        // 16:9 at 1080p shrinks to the default's budget with the same aspect.
        assert_eq!(r.size_for_frame((1920, 1080)), (512, 288));
        // A frame smaller than the budget is used as is (rounded), never upsampled.
        assert_eq!(r.size_for_frame((256, 144)), (256, 144));
        // 4:3 and portrait keep their shape.
        let (w, h) = r.size_for_frame((1024, 768));
        assert!(
            w % 16 == 0 && h % 16 == 0 && w > h && (w as f64 / h as f64 - 4.0 / 3.0).abs() < 0.1,
            "{w}x{h}"
        );
        let (w, h) = r.size_for_frame((720, 1280));
        assert!(h > w && w * h <= 512 * 288 + 16 * 512, "{w}x{h}");
        // Tiny frames still give at least one multiple per side.
        assert_eq!(r.size_for_frame((3, 2)), (16, 16));
        let f = Resolution::Fixed { size: [256, 256] };
        assert_eq!(f.size_for_frame((1920, 1080)), (256, 256));
    }
}
