//! The guided upsample's ridge per prompt, as a model package states it (manifest `upsample`).
//! Rain and snow looks are lower in contrast than the engine frame, so their fits need a larger
//! ridge to keep the engine's edges (docs/photoreal.md, stages 64-65). And how edge-aware each
//! prompt's fit is (`edge_ridge`, `edge_aware`): night's darkened look carries the engine's
//! texture as grain unless the fit scales it by the look's gain (stages 66-67).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::reference::guided_upsample::{EdgeWeights, DEFAULT_EPS};

use super::manifest::UpsampleSpec;
use super::preset_blend::PresetBlend;

/// A package's ridges, read for any prompt embedding.
#[derive(Debug, Clone)]
pub struct UpsampleRidges {
    ridges: PresetBlend,
    /// The edge-aware fit: the ridge's factor on the edges (`UpsampleSpec::edge_ridge`) and each
    /// preset's weight, blended as `1 + weight` (None: no prompt is edge-aware).
    edges: Option<(f32, PresetBlend)>,
}

/// Blend weights this close to 0 or 1 are those values: a preset prompt's own weight comes out of
/// the least-squares blend a rounding error away from its exact value.
const WEIGHT_SNAP: f32 = 1e-4;

impl UpsampleRidges {
    /// The ridges of a package whose manifest has `spec` and whose presets are `presets`. Every
    /// ridge must name a preset; presets not named get `spec.default_eps`.
    pub fn new(spec: &UpsampleSpec, presets: &BTreeMap<String, Vec<f32>>) -> Result<Self> {
        if let Some(name) = spec.eps.keys().find(|n| !presets.contains_key(*n)) {
            return Err(Error::config(
                format!(
                    "the model's upsample.eps names '{name}', which is not one of its presets ({})",
                    presets.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                "re-export the package (export.py writes ridges for its presets only)",
            ));
        }
        let entries: Vec<(&[f32], f32)> = presets
            .iter()
            .map(|(name, e)| {
                (
                    e.as_slice(),
                    spec.eps.get(name).copied().unwrap_or(spec.default_eps),
                )
            })
            .collect();
        let ridges = PresetBlend::new(&entries, spec.default_eps).ok_or_else(|| {
            Error::config(
                "the model's prompt presets are linearly dependent (or of different lengths), so a prompt's blend of their ridges is not defined",
                "re-export the package with distinct preset embeddings, or remove its upsample section",
            )
        })?;
        let edges = match spec.edge_ridge {
            None => None,
            Some(m) => {
                let weights = spec.edge_aware.as_ref();
                if let Some(name) = weights
                    .into_iter()
                    .flatten()
                    .map(|(n, _)| n)
                    .find(|n| !presets.contains_key(*n))
                {
                    return Err(Error::config(
                        format!("the model's upsample.edge_aware names '{name}', which is not one of its presets"),
                        "re-export the package (export.py weights its presets only)",
                    ));
                }
                // Absent: every preset edge-aware.
                let weight =
                    |name: &str| weights.map_or(1.0, |w| w.get(name).copied().unwrap_or(0.0));
                let entries: Vec<(&[f32], f32)> = presets
                    .iter()
                    .map(|(name, e)| (e.as_slice(), 1.0 + weight(name).clamp(0.0, 1.0)))
                    .collect();
                let blend = PresetBlend::new(&entries, 1.0).ok_or_else(|| {
                    Error::config(
                        "the model's prompt presets are linearly dependent (or of different lengths), so a prompt's blend of their edge-aware weights is not defined",
                        "re-export the package with distinct preset embeddings, or remove its upsample section",
                    )
                })?;
                Some((m, blend))
            }
        };
        Ok(UpsampleRidges { ridges, edges })
    }

    /// How edge-aware the fit is for a prompt embedding: its blend weight `w` on the edge-aware
    /// presets (a preset gives its own) pulls by `w` and makes the ridge on the edges
    /// `1 + w (edge_ridge - 1)` times the prompt's.
    pub fn edges_for(&self, prompt: &[f32]) -> EdgeWeights {
        let Some((m, blend)) = &self.edges else {
            return EdgeWeights::OFF;
        };
        let w = (blend.value_for(prompt) - 1.0).clamp(0.0, 1.0);
        let w = if w < WEIGHT_SNAP {
            0.0
        } else if w > 1.0 - WEIGHT_SNAP {
            1.0
        } else {
            w
        };
        EdgeWeights {
            edge_ridge: 1.0 + w * (m - 1.0),
            pull: w,
        }
    }

    /// The edge-aware setting in words, for the log (None: no prompt is edge-aware).
    pub fn edges_summary(&self) -> Option<String> {
        self.edges
            .as_ref()
            .map(|(m, _)| format!("the ridge {m}x on the model input's edges, by preset weight"))
    }

    /// The package's ridge for a prompt embedding (a blend of presets gets the geometric blend
    /// of their ridges).
    pub fn eps_for(&self, prompt: &[f32]) -> f32 {
        self.ridges.value_for(prompt)
    }

    /// What the user's ridge is multiplied by for this prompt: the package's ridge over the
    /// runtime's default, so the default ridge gives the package's own and a user's smaller or
    /// larger ridge moves every prompt's alike.
    pub fn scale_for(&self, prompt: &[f32]) -> f32 {
        self.eps_for(prompt) / DEFAULT_EPS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presets() -> BTreeMap<String, Vec<f32>> {
        let mut p = BTreeMap::new();
        p.insert("clear".to_string(), vec![1.0, 0.2, 0.0, 0.0]);
        p.insert("fog".to_string(), vec![0.0, 1.0, 0.3, 0.0]);
        p.insert("night".to_string(), vec![0.1, 0.0, 1.0, 0.2]);
        p
    }

    fn spec(eps: &[(&str, f32)]) -> UpsampleSpec {
        UpsampleSpec {
            eps: eps.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            default_eps: 1e-3,
            edge_ridge: None,
            edge_aware: None,
        }
    }

    #[test]
    fn each_preset_scales_the_users_ridge_by_its_own() {
        let p = presets();
        let r = UpsampleRidges::new(&spec(&[("fog", 3e-2)]), &p).unwrap();
        assert!((r.scale_for(&p["fog"]) - 30.0).abs() < 1e-3);
        // A preset the manifest does not name keeps the default ridge.
        assert!((r.scale_for(&p["clear"]) - 1.0).abs() < 1e-5);
        assert!((r.scale_for(&p["night"]) - 1.0).abs() < 1e-5);
        // Halfway from clear to fog: the geometric mean of their ridges.
        let half: Vec<f32> = p["clear"]
            .iter()
            .zip(&p["fog"])
            .map(|(a, b)| 0.5 * (a + b))
            .collect();
        assert!((r.eps_for(&half) / (3e-5f32).sqrt() - 1.0).abs() < 1e-4);
    }

    /// The edge-aware fit per preset (stage 67: night only): a preset gives its own weight, a
    /// transition moves between them, and a package without `edge_ridge` is never edge-aware.
    #[test]
    fn each_preset_is_as_edge_aware_as_its_weight() {
        let p = presets();
        let plain = UpsampleRidges::new(&spec(&[]), &p).unwrap();
        assert_eq!(plain.edges_for(&p["night"]), EdgeWeights::OFF);
        assert!(plain.edges_summary().is_none());
        let mut s = spec(&[]);
        s.edge_ridge = Some(2.0);
        s.edge_aware = Some([("night".to_string(), 1.0)].into_iter().collect());
        let r = UpsampleRidges::new(&s, &p).unwrap();
        assert_eq!(
            r.edges_for(&p["night"]),
            EdgeWeights {
                edge_ridge: 2.0,
                pull: 1.0
            }
        );
        assert_eq!(r.edges_for(&p["clear"]), EdgeWeights::OFF);
        let half: Vec<f32> = p["clear"]
            .iter()
            .zip(&p["night"])
            .map(|(a, b)| 0.5 * (a + b))
            .collect();
        let e = r.edges_for(&half);
        // Weights blend as 1 + w, geometrically: halfway is sqrt(2) - 1.
        assert!((e.pull - (2f32.sqrt() - 1.0)).abs() < 1e-4, "{e:?}");
        assert!((e.edge_ridge - (1.0 + e.pull)).abs() < 1e-6, "{e:?}");
        // No weights named: every preset edge-aware.
        s.edge_aware = None;
        let all = UpsampleRidges::new(&s, &p).unwrap();
        assert_eq!(all.edges_for(&p["clear"]).pull, 1.0);
        // A weight for a preset the package lacks is refused.
        s.edge_aware = Some([("sleet".to_string(), 1.0)].into_iter().collect());
        let err = UpsampleRidges::new(&s, &p).unwrap_err().to_string();
        assert!(
            err.contains("'sleet'") && err.contains("re-export"),
            "{err}"
        );
    }

    #[test]
    fn a_ridge_for_an_unknown_preset_is_refused_with_the_fix() {
        let err = UpsampleRidges::new(&spec(&[("sleet", 1e-2)]), &presets()).unwrap_err();
        let s = err.to_string();
        assert!(
            s.contains("'sleet'") && s.contains("clear, fog, night"),
            "{s}"
        );
        assert!(s.contains("re-export"), "{s}");
    }
}
