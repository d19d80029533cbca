//! The `diffusion` kind: VAE encoder → flow-matching Euler sampler over the denoiser → VAE decoder.
//!
//! Graph contracts (checked at load):
//! - vae_encoder: inputs are manifest inputs (by name, e.g. `frames`); its first output is the
//!   condition latents `[1, C, h, w]`.
//! - denoiser: inputs `x` `[1, C, h, w]`, `sigma` `[1]`, `cond` `[1, C, h, w]`, plus any manifest
//!   inputs (e.g. `prompt`); its first output is the velocity v, same shape as `x`.
//! - vae_decoder: one input (latents); output named as the manifest's rgb output.
//!
//! Sampler: x = noise·σ₀ (seeded, the same every frame); for each step k:
//! x ← x + (σₖ₊₁ − σₖ)·denoiser(x, σₖ, cond, …), with σ shifted as σ' = shift·σ / (1 + (shift − 1)·σ)
//! and a final σ = 0.

use std::path::PathBuf;
use std::time::Instant;

use ort::session::Session;

use super::ep::EpSelection;
use super::graph::{self, Dim, Expect, Feed};
use super::manifest::{DiffusionSpec, Manifest};
use super::package::ModelPackage;
use super::session::{any_dims, open_graph, SessionOptions};
use crate::error::{Error, Result};

/// The shifted noise levels, ending with 0. `sigmas` or `timesteps / num_train_timesteps`.
pub fn flow_sigmas(spec: &DiffusionSpec) -> Vec<f32> {
    let base: Vec<f32> = match (&spec.sigmas, &spec.timesteps) {
        (Some(s), _) => s.clone(),
        (None, Some(t)) => t.iter().map(|t| t / spec.num_train_timesteps).collect(),
        (None, None) => Vec::new(),
    };
    let mut out: Vec<f32> = base
        .into_iter()
        .filter(|s| *s > 0.0)
        .map(|s| shift_sigma(s, spec.shift))
        .collect();
    out.push(0.0);
    out
}

/// Flow-matching time shift: larger shift spends more steps at high noise.
pub fn shift_sigma(s: f32, shift: f32) -> f32 {
    shift * s / (1.0 + (shift - 1.0) * s)
}

/// `n` standard-normal samples from `seed` (SplitMix64 + Box–Muller), reproducible on every platform.
pub fn gaussian_noise(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    // Uniform in (0, 1]: never 0, so ln is finite.
    let mut uniform = move || ((next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (uniform(), uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Wall-clock milliseconds of the three graphs on the last frame a diffusion model ran
/// (what `realmaster bench` reports per step and per VAE half).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct DiffusionTimings {
    pub vae_encoder_ms: f64,
    /// All denoiser steps of the frame together.
    pub denoiser_ms: f64,
    pub denoiser_steps: u32,
    pub vae_decoder_ms: f64,
}

impl DiffusionTimings {
    /// Mean milliseconds of one denoiser step on this frame (0 with no steps).
    pub fn denoiser_step_ms(&self) -> f64 {
        if self.denoiser_steps == 0 {
            0.0
        } else {
            self.denoiser_ms / f64::from(self.denoiser_steps)
        }
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

pub(crate) struct DiffusionRunner {
    encoder: Session,
    denoiser: Session,
    decoder: Session,
    paths: [PathBuf; 3],
    encoder_inputs: Vec<String>,
    denoiser_inputs: Vec<String>,
    encoder_output: String,
    denoiser_output: String,
    decoder_input: String,
    rgb_output: String,
    sigmas: Vec<f32>,
    seed: u64,
    // Buffers reused across frames.
    cond: Vec<f32>,
    x: Vec<f32>,
    v: Vec<f32>,
    noise: Vec<f32>,
    last: DiffusionTimings,
}

const X: &str = "x";
const SIGMA: &str = "sigma";
const COND: &str = "cond";

impl DiffusionRunner {
    pub(crate) fn load(
        package: &ModelPackage,
        opts: &SessionOptions,
    ) -> Result<(DiffusionRunner, EpSelection)> {
        let manifest = package.manifest();
        let spec = manifest.diffusion.as_ref().ok_or_else(|| Error::Manifest {
            path: package.file("manifest.json"),
            problem: "kind is diffusion but the diffusion section is missing".into(),
            fix: "add the diffusion section (see docs/formats.md)".into(),
        })?;
        let paths = [
            package.file(&spec.vae_encoder),
            package.file(&spec.denoiser),
            package.file(&spec.vae_decoder),
        ];
        let (encoder, sel_e) = open_graph(&paths[0], opts)?;
        let (denoiser, sel_d) = open_graph(&paths[1], opts)?;
        let (decoder, sel_v) = open_graph(&paths[2], opts)?;

        let encoder_inputs = check_encoder(&encoder, manifest, &paths[0])?;
        let denoiser_inputs = check_denoiser(&denoiser, manifest, &paths[1])?;
        check_decoder(&decoder, manifest, &paths[2])?;
        let unused: Vec<&str> = manifest
            .inputs
            .iter()
            .map(|i| i.name.as_str())
            .filter(|n| {
                !encoder_inputs
                    .iter()
                    .chain(&denoiser_inputs)
                    .any(|u| u == n)
            })
            .collect();
        if !unused.is_empty() {
            return Err(Error::ModelMismatch {
                path: paths[0].clone(),
                problem: format!(
                    "manifest inputs {} are taken by neither the vae_encoder nor the denoiser",
                    unused.join(", ")
                ),
            });
        }

        // The denoiser runs K times per frame, so its EP is the one that matters; report any fallback.
        let mut selection = sel_d;
        for other in [sel_e, sel_v] {
            if other.used != selection.used {
                log::warn!(
                    "diffusion graphs run on different execution providers ({} and {})",
                    other.used,
                    selection.used
                );
            }
            selection.fell_back |= other.fell_back;
            selection.failures.extend(other.failures);
        }
        let first_output = |s: &Session| {
            s.outputs()
                .first()
                .map(|o| o.name().to_string())
                .unwrap_or_default()
        };
        let runner = DiffusionRunner {
            encoder_output: first_output(&encoder),
            denoiser_output: first_output(&denoiser),
            decoder_input: decoder
                .inputs()
                .first()
                .map(|o| o.name().to_string())
                .unwrap_or_default(),
            rgb_output: manifest.rgb_output().to_string(),
            encoder,
            denoiser,
            decoder,
            paths,
            encoder_inputs,
            denoiser_inputs,
            sigmas: flow_sigmas(spec),
            seed: opts.seed,
            cond: Vec::new(),
            x: Vec::new(),
            v: Vec::new(),
            noise: Vec::new(),
            last: DiffusionTimings::default(),
        };
        Ok((runner, selection))
    }

    /// The graphs' timings on the last frame that ran to the end.
    pub(crate) fn last_timings(&self) -> DiffusionTimings {
        self.last
    }

    /// One frame: encode, sample, decode into `out`; returns the rgb shape.
    pub(crate) fn run(&mut self, feeds: &[Feed<'_>], out: &mut Vec<f32>) -> Result<Vec<usize>> {
        let mut timings = DiffusionTimings::default();
        let enc_feeds: Vec<Feed<'_>> = pick(feeds, &self.encoder_inputs);
        let t = Instant::now();
        let cond_shape = graph::run_f32(
            &mut self.encoder,
            &self.paths[0],
            &enc_feeds,
            &self.encoder_output,
            &mut self.cond,
        )?;
        timings.vae_encoder_ms = ms_since(t);
        let n = self.cond.len();
        if self.noise.len() != n {
            self.noise = gaussian_noise(self.seed, n);
        }
        let sigma0 = self.sigmas.first().copied().unwrap_or(0.0);
        self.x.clear();
        self.x.extend(self.noise.iter().map(|z| z * sigma0));

        let extra: Vec<Feed<'_>> = pick(feeds, &self.denoiser_inputs);
        let t = Instant::now();
        for k in 0..self.sigmas.len().saturating_sub(1) {
            let sigma = [self.sigmas[k]];
            let mut den_feeds = vec![
                Feed {
                    name: X,
                    data: &self.x,
                    shape: &cond_shape,
                },
                Feed {
                    name: SIGMA,
                    data: &sigma,
                    shape: &[1],
                },
                Feed {
                    name: COND,
                    data: &self.cond,
                    shape: &cond_shape,
                },
            ];
            den_feeds.extend(extra.iter().map(|f| Feed {
                name: f.name,
                data: f.data,
                shape: f.shape,
            }));
            let v_shape = graph::run_f32(
                &mut self.denoiser,
                &self.paths[1],
                &den_feeds,
                &self.denoiser_output,
                &mut self.v,
            )?;
            if v_shape != cond_shape {
                return Err(graph::inference_err(
                    &self.paths[1],
                    format!("denoiser returned shape {v_shape:?}, expected the latent shape {cond_shape:?}"),
                ));
            }
            let dt = self.sigmas[k + 1] - self.sigmas[k];
            for (x, v) in self.x.iter_mut().zip(&self.v) {
                *x += dt * v;
            }
            timings.denoiser_steps += 1;
        }
        timings.denoiser_ms = ms_since(t);
        let dec = [Feed {
            name: &self.decoder_input,
            data: &self.x,
            shape: &cond_shape,
        }];
        let t = Instant::now();
        let shape = graph::run_f32(
            &mut self.decoder,
            &self.paths[2],
            &dec,
            &self.rgb_output,
            out,
        )?;
        timings.vae_decoder_ms = ms_since(t);
        self.last = timings;
        Ok(shape)
    }
}

fn pick<'a>(feeds: &[Feed<'a>], names: &[String]) -> Vec<Feed<'a>> {
    feeds
        .iter()
        .filter(|f| names.iter().any(|n| n == f.name))
        .map(|f| Feed {
            name: f.name,
            data: f.data,
            shape: f.shape,
        })
        .collect()
}

/// Manifest inputs among the graph's inputs, checked against their roles; anything else is a problem
/// unless it is one of `own` (the graph's own inputs, checked by the caller).
fn manifest_inputs(
    session: &Session,
    manifest: &Manifest,
    own: &[&str],
    problems: &mut Vec<String>,
) -> Vec<String> {
    let mut used = Vec::new();
    for outlet in session.inputs() {
        if own.contains(&outlet.name()) {
            continue;
        }
        match manifest.inputs.iter().find(|i| i.name == outlet.name()) {
            Some(spec) => {
                let exp = Expect {
                    name: spec.name.clone(),
                    what: format!("input '{}' (role {})", spec.name, spec.role),
                    dims: graph::role_dims(manifest, spec.role),
                };
                graph::check_outlet(outlet, &exp, problems);
                used.push(spec.name.clone());
            }
            None => problems.push(format!(
                "graph input '{}' is not declared in the manifest",
                outlet.name()
            )),
        }
    }
    used
}

fn latent_expect(name: &str, what: &str) -> Expect {
    let mut dims = any_dims(4);
    dims[0] = Dim::Batch;
    Expect {
        name: name.to_string(),
        what: what.to_string(),
        dims,
    }
}

fn check_encoder(
    session: &Session,
    manifest: &Manifest,
    path: &std::path::Path,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let used = manifest_inputs(session, manifest, &[], &mut problems);
    match session.outputs().first() {
        Some(out) => graph::check_outlet(
            out,
            &latent_expect(out.name(), &format!("latents output '{}'", out.name())),
            &mut problems,
        ),
        None => problems.push("the vae_encoder has no outputs".into()),
    }
    graph::mismatch(path, problems)?;
    Ok(used)
}

fn check_denoiser(
    session: &Session,
    manifest: &Manifest,
    path: &std::path::Path,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let own = [X, SIGMA, COND];
    let expected = [
        latent_expect(X, "denoiser input 'x'"),
        Expect {
            name: SIGMA.into(),
            what: "denoiser input 'sigma'".into(),
            dims: vec![Dim::Exact(1)],
        },
        latent_expect(COND, "denoiser input 'cond'"),
    ];
    for exp in &expected {
        match session.inputs().iter().find(|o| o.name() == exp.name) {
            Some(outlet) => graph::check_outlet(outlet, exp, &mut problems),
            None => problems.push(format!(
                "{} is missing (graph inputs: {})",
                exp.what,
                graph::names(session.inputs())
            )),
        }
    }
    let used = manifest_inputs(session, manifest, &own, &mut problems);
    match session.outputs().first() {
        Some(out) => graph::check_outlet(
            out,
            &latent_expect(out.name(), &format!("velocity output '{}'", out.name())),
            &mut problems,
        ),
        None => problems.push("the denoiser has no outputs".into()),
    }
    graph::mismatch(path, problems)?;
    Ok(used)
}

fn check_decoder(session: &Session, manifest: &Manifest, path: &std::path::Path) -> Result<()> {
    let mut problems = Vec::new();
    match session.inputs() {
        [one] => graph::check_outlet(
            one,
            &latent_expect(one.name(), &format!("vae_decoder input '{}'", one.name())),
            &mut problems,
        ),
        other => problems.push(format!(
            "the vae_decoder must take exactly one input (latents), it takes {}",
            other.len()
        )),
    }
    let rgb = manifest.rgb_output();
    let exp = Expect {
        name: rgb.into(),
        what: format!("output '{rgb}' (role rgb)"),
        dims: graph::rgb_dims(manifest),
    };
    match session.outputs().iter().find(|o| o.name() == rgb) {
        Some(out) => graph::check_outlet(out, &exp, &mut problems),
        None => problems.push(format!(
            "{} is not in the graph (graph outputs: {})",
            exp.what,
            graph::names(session.outputs())
        )),
    }
    graph::mismatch(path, problems)
}
