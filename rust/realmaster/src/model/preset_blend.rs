//! A value per prompt preset, read for any prompt embedding as a blend of the presets it is
//! made of: the exposure lock's keys and the guided upsample's ridges both vary this way, so a
//! prompt transition moves smoothly between the two presets' values.

/// Per-preset positive values and the least-squares blend of presets that explains a prompt.
#[derive(Debug, Clone)]
pub struct PresetBlend {
    /// Per preset, the row of the presets' pseudo-inverse ((P P^T)^-1 P): its dot product with a
    /// prompt is that preset's least-squares blend weight.
    rows: Vec<Vec<f64>>,
    /// Each preset's value, as its logarithm (values blend geometrically).
    ln_values: Vec<f64>,
    /// The value of a prompt with no positive weight on any preset.
    default: f32,
}

impl PresetBlend {
    /// `presets`: each preset's embedding and value (positive). None when the embeddings are
    /// linearly dependent (no blend is defined), are of different lengths or there are none.
    pub fn new(presets: &[(&[f32], f32)], default: f32) -> Option<Self> {
        let dim = presets.first()?.0.len();
        if dim == 0
            || presets
                .iter()
                .any(|(e, v)| e.len() != dim || !v.is_finite() || *v <= 0.0)
        {
            return None;
        }
        let embeddings: Vec<&[f32]> = presets.iter().map(|(e, _)| *e).collect();
        let gram_inv = invert(&gram(&embeddings))?;
        let n = embeddings.len();
        let rows = (0..n)
            .map(|i| {
                (0..dim)
                    .map(|d| {
                        (0..n)
                            .map(|j| gram_inv[i * n + j] * f64::from(embeddings[j][d]))
                            .sum()
                    })
                    .collect()
            })
            .collect();
        Some(PresetBlend {
            rows,
            ln_values: presets.iter().map(|(_, v)| f64::from(*v).ln()).collect(),
            default,
        })
    }

    /// The value for a prompt embedding: the values of the presets it is a blend of (least
    /// squares, negative weights dropped), blended geometrically. A preset gives its own value, a
    /// transition between two presets moves between theirs; a prompt of another length or with
    /// no positive weight on any preset gets the default.
    pub fn value_for(&self, prompt: &[f32]) -> f32 {
        if prompt.len() != self.rows.first().map_or(0, Vec::len) {
            return self.default;
        }
        let (mut total, mut ln_sum) = (0.0f64, 0.0f64);
        for (row, ln_value) in self.rows.iter().zip(&self.ln_values) {
            let w = row
                .iter()
                .zip(prompt)
                .map(|(r, p)| r * f64::from(*p))
                .sum::<f64>()
                .max(0.0);
            total += w;
            ln_sum += w * ln_value;
        }
        // NaN weights fall back too.
        if total.is_nan() || total <= 1e-6 {
            return self.default;
        }
        (ln_sum / total).exp() as f32
    }
}

fn gram(vectors: &[&[f32]]) -> Vec<f64> {
    let n = vectors.len();
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            g[i * n + j] = vectors[i]
                .iter()
                .zip(vectors[j])
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
        }
    }
    g
}

/// Gauss-Jordan inverse with partial pivoting; None for a (near) singular matrix.
fn invert(m: &[f64]) -> Option<Vec<f64>> {
    let n = (m.len() as f64).sqrt() as usize;
    if n == 0 || n * n != m.len() {
        return None;
    }
    let scale = m.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut a = m.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&x, &y| a[x * n + col].abs().total_cmp(&a[y * n + col].abs()))?;
        let p = a[pivot * n + col].abs();
        // A NaN pivot (or scale) is singular too.
        if p.is_nan() || scale.is_nan() || p <= 1e-9 * scale {
            return None;
        }
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let d = a[col * n + col];
        for k in 0..n {
            a[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for row in 0..n {
            if row != col {
                let f = a[row * n + col];
                for k in 0..n {
                    a[row * n + k] -= f * a[col * n + k];
                    inv[row * n + k] -= f * inv[col * n + k];
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dim: usize, i: usize, j: usize) -> Vec<f32> {
        // Two-hot, so the presets overlap and the blend has real work to do.
        let mut v = vec![0.0; dim];
        v[i] = 1.0;
        v[j] = 0.5;
        v
    }

    #[test]
    fn presets_get_their_own_values_and_blends_move_geometrically() {
        let (a, b, c) = (unit(6, 0, 1), unit(6, 2, 3), unit(6, 4, 0));
        let blend = PresetBlend::new(&[(&a, 1e-3), (&b, 3e-2), (&c, 1e-2)], 2e-3).unwrap();
        for (e, v) in [(&a, 1e-3f32), (&b, 3e-2), (&c, 1e-2)] {
            assert!(
                (blend.value_for(e) / v - 1.0).abs() < 1e-5,
                "{}",
                blend.value_for(e)
            );
        }
        let half: Vec<f32> = a.iter().zip(&b).map(|(x, y)| 0.5 * (x + y)).collect();
        let want = (1e-3f64 * 3e-2).sqrt() as f32;
        assert!((blend.value_for(&half) / want - 1.0).abs() < 1e-4);
        // Scaling the prompt (a stronger embedding of the same blend) keeps the value.
        let strong: Vec<f32> = half.iter().map(|x| 3.0 * x).collect();
        assert!((blend.value_for(&strong) / want - 1.0).abs() < 1e-4);
    }

    #[test]
    fn unexplained_prompts_get_the_default() {
        let (a, b) = (unit(6, 0, 1), unit(6, 2, 3));
        let blend = PresetBlend::new(&[(&a, 1e-3), (&b, 3e-2)], 2e-3).unwrap();
        let neg: Vec<f32> = a.iter().map(|x| -x).collect();
        assert_eq!(blend.value_for(&neg), 2e-3);
        assert_eq!(blend.value_for(&[1.0, 2.0]), 2e-3);
        assert_eq!(blend.value_for(&[0.0; 6]), 2e-3);
    }

    #[test]
    fn dependent_or_malformed_presets_have_no_blend() {
        let a = unit(6, 0, 1);
        let twice: Vec<f32> = a.iter().map(|x| 2.0 * x).collect();
        assert!(PresetBlend::new(&[(&a, 1.0), (&twice, 2.0)], 1.0).is_none());
        assert!(PresetBlend::new(&[(&a, 1.0), (&[1.0, 0.0], 2.0)], 1.0).is_none());
        assert!(PresetBlend::new(&[(&a, 0.0)], 1.0).is_none());
        assert!(PresetBlend::new(&[], 1.0).is_none());
    }
}
