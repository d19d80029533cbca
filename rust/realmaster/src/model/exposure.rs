//! The exposure lock: the teacher's exposure rule applied to a student's output.
//!
//! The path tracer exposes every target so that its scene-linear log-average luminance is the
//! weather's key times the engine frames' log-average over a reference, then maps it to display
//! with a filmic curve (models/pathtrace/postprocess.py: `clip_exposure`, `aces_fit`). How bright
//! a target is, relative to its engine frame, is therefore a rule, not something to learn; a
//! student that gets it wrong on a renderer it never saw (docs/photoreal.md, stage 60) is put
//! back on it here, per frame at model resolution, before anything downstream reads its output:
//! the output's scene-linear log-average (the curve undone) is measured, and every value is
//! re-exposed by the one gain that brings it to the rule's, clamped to `max_stops` either way.
//! Colours and local contrast are the model's: only the exposure under the curve changes.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::reference::srgb;

use super::manifest::{ExposureSpec, ToneCurve};
use super::preset_blend::PresetBlend;

/// Entries of the value tables (model value 0..1 on a uniform grid, linearly interpolated).
const TABLE: usize = 4096;
/// Luminance below this counts as this in a log-average (the teacher's floor).
const LUM_FLOOR: f32 = 1e-4;
/// A correction smaller than this (in stops) is not applied.
const NEGLIGIBLE_STOPS: f32 = 1e-4;

/// Rec. 709 luminance, as the teacher measures it.
fn luminance(r: f32, g: f32, b: f32) -> f32 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// Narkowicz's ACES fit, scene-linear -> display-linear 0..1.
pub fn aces_fit(x: f32) -> f32 {
    let x = x.max(0.0);
    ((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)).clamp(0.0, 1.0)
}

/// [`aces_fit`] undone on 0..1 (1 maps to the curve's value there, about 7.2).
pub fn aces_fit_inverse(y: f32) -> f32 {
    let y = f64::from(y.clamp(0.0, 1.0));
    // y (2.43 x^2 + 0.59 x + 0.14) = 2.51 x^2 + 0.03 x: the quadratic's non-negative root
    let (a, b, c) = (2.43 * y - 2.51, 0.59 * y - 0.03, 0.14 * y);
    ((-b - (b * b - 4.0 * a * c).max(0.0).sqrt()) / (2.0 * a)) as f32
}

/// Linear interpolation in a table over 0..1; values outside are clamped.
fn lookup(table: &[f32], v: f32) -> f32 {
    let pos = v.clamp(0.0, 1.0) * (table.len() - 1) as f32;
    let i = (pos as usize).min(table.len() - 2);
    let t = pos - i as f32;
    table[i] + (table[i + 1] - table[i]) * t
}

/// The lock of one model package: its presets' keys and the tables of its colour space.
pub struct ExposureLock {
    engine_ref: f32,
    max_stops: f32,
    srgb: bool,
    /// The keyed presets' keys, blended for any prompt.
    keys: PresetBlend,
    /// Model value -> scene-linear light (the curve undone).
    to_scene: Vec<f32>,
    /// Model value -> the same value re-exposed by `remap_stops` (rebuilt when the gain changes).
    remap: Vec<f32>,
    remap_stops: f32,
    /// The last prompt and its key (the prompt changes far less often than frames come; the
    /// buffer is reused, so a prompt transition does not allocate).
    cached_prompt: Vec<f32>,
    cached_key: Option<f32>,
}

impl ExposureLock {
    /// The lock for a package whose manifest has `spec`, whose presets are `presets`, and whose
    /// model colour space is sRGB (`srgb`) or linear. Every key must name a preset.
    pub fn new(
        spec: &ExposureSpec,
        presets: &BTreeMap<String, Vec<f32>>,
        srgb: bool,
    ) -> Result<Self> {
        let ToneCurve::AcesFit = spec.tone_curve;
        let mut keyed = Vec::new();
        for (name, key) in &spec.keys {
            let Some(e) = presets.get(name) else {
                return Err(Error::config(
                    format!(
                        "the model's exposure.keys names '{name}', which is not one of its presets ({})",
                        presets.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    "re-export the package (export.py writes keys for its presets only), or run with the exposure lock off",
                ));
            };
            keyed.push((e.as_slice(), *key));
        }
        let keys = PresetBlend::new(&keyed, spec.default_key).ok_or_else(|| {
            Error::config(
                "the model's keyed presets are linearly dependent, so a prompt's blend of them is not defined",
                "give each key a distinct preset embedding, or run with the exposure lock off",
            )
        })?;
        let mut lock = ExposureLock {
            engine_ref: spec.engine_ref,
            max_stops: spec.max_stops,
            srgb,
            keys,
            to_scene: vec![0.0; TABLE],
            remap: (0..TABLE).map(|i| i as f32 / (TABLE - 1) as f32).collect(),
            remap_stops: 0.0,
            cached_prompt: Vec::new(),
            cached_key: None,
        };
        for i in 0..TABLE {
            lock.to_scene[i] = aces_fit_inverse(lock.decode(i as f32 / (TABLE - 1) as f32));
        }
        Ok(lock)
    }

    /// A model value (clamped to 0..1) as display-linear light.
    fn decode(&self, v: f32) -> f32 {
        if self.srgb {
            srgb::decode(v)
        } else {
            v.clamp(0.0, 1.0)
        }
    }

    /// The key of a prompt embedding: the keys of the presets it is a blend of (least squares
    /// over the keyed presets, negative weights dropped), blended geometrically. A preset gives
    /// its own key and a transition between two presets moves between theirs; a prompt with no
    /// positive weight on any preset gets the default key.
    pub fn key_for(&self, prompt: &[f32]) -> f32 {
        self.keys.value_for(prompt)
    }

    /// Re-expose a planar `[3, H, W]` model output in place so that its scene-linear
    /// log-average is the rule's for `prompt` and the engine frame `engine` (the current frame's
    /// planar `[3, H, W]` colour in the model's colour space, as the model read it). Values that
    /// are not finite are left as they are (the caller's fault check sees them) and measured by
    /// neither side. Returns the correction applied, in stops.
    pub fn apply(&mut self, rgb: &mut [f32], engine: &[f32], prompt: &[f32]) -> f32 {
        if rgb.len() != engine.len() || rgb.is_empty() || !rgb.len().is_multiple_of(3) {
            return 0.0;
        }
        let key = match self.cached_key {
            Some(k) if self.cached_prompt == prompt => k,
            _ => {
                let k = self.key_for(prompt);
                self.cached_prompt.clear();
                self.cached_prompt.extend_from_slice(prompt);
                self.cached_key = Some(k);
                k
            }
        };
        let to_scene = &self.to_scene;
        let (Some(ln_engine), Some(ln_output)) = (
            log_average(engine, |v| self.decode(v)),
            log_average(rgb, |v| lookup(to_scene, v)),
        ) else {
            return 0.0;
        };
        let ln_gain = f64::from(key / self.engine_ref).ln() + ln_engine - ln_output;
        let stops =
            ((ln_gain / std::f64::consts::LN_2) as f32).clamp(-self.max_stops, self.max_stops);
        if stops.abs() < NEGLIGIBLE_STOPS {
            return 0.0;
        }
        if stops != self.remap_stops {
            self.rebuild_remap(stops);
        }
        for v in rgb.iter_mut().filter(|v| v.is_finite()) {
            *v = lookup(&self.remap, *v);
        }
        stops
    }

    fn rebuild_remap(&mut self, stops: f32) {
        let gain = stops.exp2();
        for i in 0..TABLE {
            let display = aces_fit(self.to_scene[i] * gain);
            self.remap[i] = if self.srgb {
                srgb::encode(display)
            } else {
                display
            };
        }
        self.remap_stops = stops;
    }
}

/// Natural log of the log-average luminance of a planar `[3, H, W]` image, each value taken to
/// linear light by `to_linear` (None when no pixel is finite).
fn log_average(planar: &[f32], to_linear: impl Fn(f32) -> f32) -> Option<f64> {
    let n = planar.len() / 3;
    let (r, rest) = planar.split_at(n);
    let (g, b) = rest.split_at(n);
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for i in 0..n {
        let (pr, pg, pb) = (r[i], g[i], b[i]);
        if !(pr.is_finite() && pg.is_finite() && pb.is_finite()) {
            continue;
        }
        let lum = luminance(to_linear(pr), to_linear(pg), to_linear(pb));
        sum += f64::from(lum.max(LUM_FLOOR).ln());
        count += 1;
    }
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(keys: &[(&str, f32)]) -> ExposureSpec {
        ExposureSpec {
            tone_curve: ToneCurve::AcesFit,
            engine_ref: 0.3,
            keys: keys.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            default_key: 0.2,
            max_stops: 2.0,
        }
    }

    /// Three unit embeddings that are not orthogonal (as real presets are not).
    fn presets() -> BTreeMap<String, Vec<f32>> {
        let norm = |v: Vec<f32>| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        [
            ("clear", vec![1.0, 0.3, 0.1, 0.0]),
            ("night", vec![0.2, 1.0, 0.0, 0.4]),
            ("rain", vec![0.3, 0.1, 1.0, 0.2]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), norm(v)))
        .collect()
    }

    fn lock() -> ExposureLock {
        ExposureLock::new(
            &spec(&[("clear", 0.2), ("night", 0.035), ("rain", 0.15)]),
            &presets(),
            true,
        )
        .expect("valid lock")
    }

    /// A planar image whose every pixel is the grey `v` (model values).
    fn grey(v: f32, n: usize) -> Vec<f32> {
        vec![v; 3 * n]
    }

    #[test]
    fn the_curve_and_its_inverse_agree() {
        for i in 0..=100 {
            let y = i as f32 / 100.0;
            assert!((aces_fit(aces_fit_inverse(y)) - y).abs() < 1e-5, "y {y}");
        }
        assert!((aces_fit_inverse(1.0) - 7.24).abs() < 0.01);
    }

    #[test]
    fn a_preset_gets_its_own_key_and_a_blend_moves_between_keys() {
        let l = lock();
        let p = presets();
        for (name, key) in [("clear", 0.2f32), ("night", 0.035), ("rain", 0.15)] {
            assert!((l.key_for(&p[name]) / key - 1.0).abs() < 1e-4, "{name}");
        }
        // halfway from clear to night: the geometric mean of their keys
        let mid: Vec<f32> = p["clear"]
            .iter()
            .zip(&p["night"])
            .map(|(a, b)| 0.5 * (a + b))
            .collect();
        let want = (0.2f32 * 0.035).sqrt();
        assert!((l.key_for(&mid) / want - 1.0).abs() < 1e-3);
        // nothing like any preset: the default key
        let against: Vec<f32> = p["clear"].iter().map(|x| -x).collect();
        assert_eq!(l.key_for(&against), 0.2);
        // a prompt of another length (a package mix-up) is not blended
        assert_eq!(l.key_for(&[1.0]), 0.2);
    }

    #[test]
    fn the_output_is_brought_to_the_rule() {
        let mut l = lock();
        let prompt = presets()["rain"].clone();
        let n = 64;
        // an engine frame and an output, both with some structure
        let engine: Vec<f32> = (0..3 * n)
            .map(|i| 0.2 + 0.6 * ((i * 37 % 101) as f32 / 100.0))
            .collect();
        let mut rgb: Vec<f32> = (0..3 * n)
            .map(|i| 0.1 + 0.8 * ((i * 53 % 97) as f32 / 96.0))
            .collect();
        let before = rgb.clone();
        let stops = l.apply(&mut rgb, &engine, &prompt);
        let ln_e = log_average(&engine, |v| l.decode(v)).expect("finite");
        let ln_o = log_average(&rgb, |v| lookup(&l.to_scene, v)).expect("finite");
        let want = (0.15f64 / 0.3).ln() + ln_e;
        assert!(stops.abs() > 0.1 && stops.abs() < 2.0, "stops {stops}");
        assert!(
            (ln_o - want).abs() < 0.01,
            "log-average {ln_o} against the rule's {want}"
        );
        // monotone per value: the order of values (the picture's structure) is kept
        for i in 0..rgb.len() {
            for j in 0..rgb.len() {
                if before[i] < before[j] {
                    assert!(rgb[i] <= rgb[j]);
                }
            }
        }
        // a second pass finds nothing left to correct
        assert!(l.apply(&mut rgb, &engine, &prompt).abs() < 0.02);
    }

    #[test]
    fn a_brighter_engine_asks_for_a_brighter_output_and_the_gain_is_clamped() {
        let prompt = presets()["clear"].clone();
        let n = 16;
        let out = grey(0.5, n);
        let (mut dim, mut bright) = (out.clone(), out.clone());
        lock().apply(&mut dim, &grey(0.3, n), &prompt);
        lock().apply(&mut bright, &grey(0.6, n), &prompt);
        assert!(bright[0] > dim[0], "{} vs {}", bright[0], dim[0]);
        // an engine frame far darker than any output: at most max_stops
        let mut dark = out.clone();
        assert_eq!(lock().apply(&mut dark, &grey(0.0, n), &prompt), -2.0);
    }

    #[test]
    fn non_finite_values_are_left_for_the_fault_check() {
        let mut l = lock();
        let prompt = presets()["clear"].clone();
        let mut rgb = grey(0.5, 4);
        rgb[1] = f32::NAN;
        rgb[5] = f32::INFINITY;
        l.apply(&mut rgb, &grey(0.8, 4), &prompt);
        assert!(rgb[1].is_nan() && rgb[5].is_infinite());
        assert!(rgb[0].is_finite() && rgb[0] != 0.5);
        // nothing finite to measure: untouched
        let mut all_nan = vec![f32::NAN; 12];
        assert_eq!(l.apply(&mut all_nan, &grey(0.8, 4), &prompt), 0.0);
        // mismatched sizes: untouched
        let mut small = grey(0.5, 2);
        assert_eq!(l.apply(&mut small, &grey(0.8, 4), &prompt), 0.0);
        assert_eq!(small, grey(0.5, 2));
    }

    #[test]
    fn a_key_for_an_unknown_preset_is_refused_with_the_fix() {
        let err = ExposureLock::new(&spec(&[("sandstorm", 0.3)]), &presets(), true)
            .err()
            .expect("refused");
        let msg = err.to_string();
        assert!(msg.contains("sandstorm") && msg.contains("clear"), "{msg}");
        assert!(msg.contains("exposure lock off"), "{msg}");
    }
}
