//! The guided upsample's ridge per prompt, as a model package states it (manifest `upsample`).
//! Rain and snow looks are lower in contrast than the engine frame, so their fits need a larger
//! ridge to keep the engine's edges (docs/photoreal.md, stages 64-65).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::reference::guided_upsample::DEFAULT_EPS;

use super::manifest::UpsampleSpec;
use super::preset_blend::PresetBlend;

/// A package's ridges, read for any prompt embedding.
#[derive(Debug, Clone)]
pub struct UpsampleRidges {
    ridges: PresetBlend,
}

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
        Ok(UpsampleRidges { ridges })
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
