//! Prompt changes blend over a number of inferences by interpolating embeddings, so a new look
//! fades in instead of popping.

/// The embedding fed to the model and where it is heading.
#[derive(Debug, Clone)]
pub struct PromptBlend {
    from: Vec<f32>,
    to: Vec<f32>,
    /// Inferences since the change.
    step: u32,
    /// Inferences a change takes (0 = immediate).
    frames: u32,
    current: Vec<f32>,
    /// Bumped whenever `current` changes, so a consumer can skip copying an unchanged embedding.
    revision: u64,
}

fn normalised(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 1e-12 {
        v.into_iter().map(|x| x / n).collect()
    } else {
        v
    }
}

impl PromptBlend {
    pub fn new(initial: Vec<f32>, frames: u32) -> Self {
        let initial = normalised(initial);
        PromptBlend {
            from: initial.clone(),
            to: initial.clone(),
            step: frames,
            frames,
            current: initial,
            revision: 0,
        }
    }

    /// Start blending from what is shown now towards `target`.
    pub fn set_target(&mut self, target: Vec<f32>) {
        self.from = self.current.clone();
        self.to = normalised(target);
        self.step = 0;
        self.revision += 1;
        if self.frames == 0 {
            self.current = self.to.clone();
            self.step = self.frames;
        }
    }

    pub fn set_frames(&mut self, frames: u32) {
        self.frames = frames;
        self.step = self.step.min(frames);
    }

    /// The embedding for the next inference; advances the blend by one step.
    pub fn advance(&mut self) -> &[f32] {
        if self.step < self.frames {
            self.step += 1;
            self.revision += 1;
            let t = self.step as f32 / self.frames as f32;
            // Smoothstep eases in and out; lerp then renormalise (a cheap slerp for close vectors).
            let t = t * t * (3.0 - 2.0 * t);
            self.current = normalised(
                self.from
                    .iter()
                    .zip(&self.to)
                    .map(|(a, b)| a + (b - a) * t)
                    .collect(),
            );
        }
        &self.current
    }

    pub fn current(&self) -> &[f32] {
        &self.current
    }

    /// Changes whenever the embedding `current()` / `advance()` return may have changed.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn is_settled(&self) -> bool {
        self.step >= self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blends_over_the_configured_frames() {
        let mut p = PromptBlend::new(vec![1.0, 0.0], 4);
        p.set_target(vec![0.0, 2.0]);
        let mut xs = vec![];
        for _ in 0..4 {
            xs.push(p.advance().to_vec());
        }
        assert!(
            xs[0][0] > xs[1][0] && xs[1][0] > xs[2][0],
            "moves monotonically: {xs:?}"
        );
        assert!(
            (xs[3][0]).abs() < 1e-6 && (xs[3][1] - 1.0).abs() < 1e-6,
            "ends on the normalised target"
        );
        assert!(p.is_settled());
        for x in &xs {
            let n: f32 = x.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn zero_frames_is_immediate_and_retarget_starts_from_current() {
        let mut p = PromptBlend::new(vec![1.0, 0.0, 0.0], 0);
        p.set_target(vec![0.0, 1.0, 0.0]);
        assert_eq!(p.advance(), &[0.0, 1.0, 0.0]);
        let mut p = PromptBlend::new(vec![1.0, 0.0], 10);
        p.set_target(vec![0.0, 1.0]);
        p.advance();
        let mid = p.current().to_vec();
        p.set_target(vec![1.0, 0.0]);
        p.advance();
        assert!(
            p.current()[0] > mid[0],
            "retarget continues from the shown embedding"
        );
    }

    #[test]
    fn revision_moves_exactly_when_the_embedding_can_change() {
        let mut p = PromptBlend::new(vec![1.0, 0.0], 2);
        let r0 = p.revision();
        p.advance();
        assert_eq!(p.revision(), r0, "settled: advancing changes nothing");
        p.set_target(vec![0.0, 1.0]);
        let r1 = p.revision();
        assert_ne!(r1, r0);
        p.advance();
        assert_ne!(p.revision(), r1, "blending step");
        p.advance();
        let r2 = p.revision();
        p.advance();
        assert_eq!(p.revision(), r2, "settled again");
        let mut immediate = PromptBlend::new(vec![1.0, 0.0], 0);
        let r = immediate.revision();
        immediate.set_target(vec![0.0, 1.0]);
        assert_ne!(immediate.revision(), r, "a zero-frame change still counts");
    }
}
