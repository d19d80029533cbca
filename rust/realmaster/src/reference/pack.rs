//! Packing (the CPU implementation of gpu/preprocess/pack.wgsl): the tensor arena as f32 (padding between tensors is 0).

use super::resample::ModelResRef;
use crate::frame::ImageF32;
use crate::gpu::preprocess::{InputRole, TensorLayout};

/// Copy the first `n` channels of `img` into consecutive NCHW planes starting at `dst[0]`.
fn planes(img: &ImageF32, n: usize, dst: &mut [f32]) {
    let hw = (img.width * img.height) as usize;
    let ch = img.channels as usize;
    for c in 0..n {
        for p in 0..hw {
            dst[c * hw + p] = img.data[p * ch + c];
        }
    }
}

/// Fill an arena of `layout.total_bytes / 4` floats from CPU images (`slots` oldest first).
pub fn pack(
    layout: &TensorLayout,
    slots: &[&ModelResRef],
    current: &ModelResRef,
    prev_output: &ImageF32,
) -> Vec<f32> {
    let mut arena = Vec::new();
    pack_into(
        layout,
        slots.iter().copied(),
        current,
        prev_output,
        &mut arena,
    );
    arena
}

/// [`pack`] into `arena` (resized to the layout; its allocation is reused). `slots` oldest first,
/// as an iterator so a caller can pick them from its window without collecting a list per frame.
pub fn pack_into<'a>(
    layout: &TensorLayout,
    slots: impl Iterator<Item = &'a ModelResRef> + Clone,
    current: &ModelResRef,
    prev_output: &ImageF32,
    arena: &mut Vec<f32>,
) {
    let hw = (layout.width * layout.height) as usize;
    arena.clear();
    arena.resize((layout.total_bytes / 4) as usize, 0.0);
    for e in &layout.entries {
        let dst = &mut arena[e.offset_elements()..e.offset_elements() + e.len];
        match e.role {
            InputRole::Frames => {
                for (i, s) in slots.clone().enumerate() {
                    planes(&s.color, 3, &mut dst[3 * i * hw..]);
                }
            }
            InputRole::Edges => {
                for (i, s) in slots.clone().enumerate() {
                    planes(&s.edges, 1, &mut dst[i * hw..]);
                }
            }
            InputRole::Depth => planes(&current.depth, 1, dst),
            InputRole::Normals => planes(&current.normals, 3, dst),
            InputRole::PreviousOutput => planes(prev_output, 3, dst),
        }
    }
}
