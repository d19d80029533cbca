//! The sliding temporal window's bookkeeping: which GPU slot holds which frame, when it resets.
//! The slot images themselves live on the GPU (the session owns them); this type only decides
//! indices, so it is tested without a GPU.

/// Why the window was emptied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// First frame of the session.
    Start,
    /// The caller signalled a camera cut.
    CallerCut,
    /// Consecutive frames differed too much (an unsignalled cut).
    AutoCut,
    /// Frame or model resolution changed.
    Resolution,
}

/// Ring of `len` slots holding the last frames, oldest first on read.
#[derive(Debug, Clone)]
pub struct Window {
    slots: usize,
    /// Slot the next push writes.
    next: usize,
    /// Frames held (<= slots).
    filled: usize,
}

impl Window {
    /// A window of `t` frames (`t` >= 1, from the model manifest).
    pub fn new(t: usize) -> Self {
        Window {
            slots: t.max(1),
            next: 0,
            filled: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots
    }

    pub fn filled(&self) -> usize {
        self.filled
    }

    pub fn reset(&mut self) {
        self.next = 0;
        self.filled = 0;
    }

    /// Reserve the slot for a new frame and return its index.
    pub fn push(&mut self) -> usize {
        let slot = self.next;
        self.next = (self.next + 1) % self.slots;
        self.filled = (self.filled + 1).min(self.slots);
        slot
    }

    /// Slot indices of the last `slots` frames, oldest first. Before the window is full the oldest
    /// available frame is repeated, so the model always sees `t` frames of the current shot.
    /// Empty if nothing was pushed since the last reset.
    pub fn ordered(&self) -> Vec<usize> {
        if self.filled == 0 {
            return Vec::new();
        }
        let newest = (self.next + self.slots - 1) % self.slots;
        let oldest_age = self.filled - 1;
        (0..self.slots)
            .map(|i| {
                // age 0 = newest; the first entries are the oldest.
                let age = (self.slots - 1 - i).min(oldest_age);
                (newest + self.slots - age) % self.slots
            })
            .collect()
    }
}

/// Side of the luminance thumbnail used for cut detection.
pub const THUMB_W: usize = 32;
pub const THUMB_H: usize = 18;

/// A tiny luminance thumbnail (point samples, sRGB-ish 0..1) to detect cuts cheaply on the CPU.
pub fn thumbnail(frame: &crate::frame::FrameRef<'_>) -> [f32; THUMB_W * THUMB_H] {
    use crate::frame::{linear_to_srgb, ColorFormat};
    let mut out = [0.0f32; THUMB_W * THUMB_H];
    let bpp = frame.format.bytes_per_pixel();
    for ty in 0..THUMB_H {
        let y = ((ty as u64 * 2 + 1) * frame.height as u64 / (THUMB_H as u64 * 2)) as usize;
        for tx in 0..THUMB_W {
            let x = ((tx as u64 * 2 + 1) * frame.width as u64 / (THUMB_W as u64 * 2)) as usize;
            let p = &frame.color.data[y * frame.color.row_pitch + x * bpp..][..bpp];
            let (r, g, b) = match frame.format {
                ColorFormat::Rgba8Srgb => (
                    p[0] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[2] as f32 / 255.0,
                ),
                ColorFormat::Bgra8Srgb => (
                    p[2] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[0] as f32 / 255.0,
                ),
                ColorFormat::Rgba16Float => {
                    let c = |i: usize| {
                        linear_to_srgb(half::f16::from_le_bytes([p[i], p[i + 1]]).to_f32().min(1.0))
                    };
                    (c(0), c(2), c(4))
                }
                ColorFormat::Rgba32Float => {
                    let c = |i: usize| {
                        linear_to_srgb(
                            f32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]).min(1.0),
                        )
                    };
                    (c(0), c(4), c(8))
                }
            };
            out[ty * THUMB_W + tx] = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        }
    }
    out
}

/// Mean absolute difference of two thumbnails (0..1).
pub fn thumbnail_distance(a: &[f32; THUMB_W * THUMB_H], b: &[f32; THUMB_W * THUMB_H]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_repeats_oldest_then_slides() {
        let mut w = Window::new(3);
        assert!(w.ordered().is_empty());
        let a = w.push();
        assert_eq!(w.ordered(), vec![a, a, a]);
        let b = w.push();
        assert_eq!(w.ordered(), vec![a, a, b]);
        let c = w.push();
        assert_eq!(w.ordered(), vec![a, b, c]);
        let d = w.push();
        assert_eq!(d, a, "ring reuses the oldest slot");
        assert_eq!(w.ordered(), vec![b, c, d]);
    }

    #[test]
    fn reset_forgets_previous_shot() {
        let mut w = Window::new(2);
        w.push();
        w.push();
        w.push();
        w.reset();
        assert_eq!(w.filled(), 0);
        let s = w.push();
        assert_eq!(w.ordered(), vec![s, s]);
    }

    #[test]
    fn window_of_one() {
        let mut w = Window::new(1);
        let a = w.push();
        assert_eq!(w.ordered(), vec![a]);
        let b = w.push();
        assert_eq!(w.ordered(), vec![b]);
    }

    #[test]
    fn thumbnail_sees_a_cut_but_not_a_small_change() {
        use crate::frame::{ColorFormat, FrameRef};
        let (w, h) = (64u32, 36u32);
        let img = |f: &dyn Fn(u32, u32) -> u8| -> Vec<u8> {
            (0..h)
                .flat_map(|y| (0..w).flat_map(move |x| [f(x, y), f(x, y), f(x, y), 255]))
                .collect::<Vec<u8>>()
        };
        let a = img(&|x, _| (x * 4) as u8);
        let a2 = img(&|x, _| (x * 4 + 3) as u8);
        let b = img(&|x, y| if (x / 8 + y / 8) % 2 == 0 { 250 } else { 5 });
        let t = |d: &Vec<u8>| thumbnail(&FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, d));
        assert!(thumbnail_distance(&t(&a), &t(&a2)) < 0.05);
        assert!(thumbnail_distance(&t(&a), &t(&b)) > 0.25);
    }
}
