//! The CPU backend's per-frame passes allocate nothing once their buffers exist (issue 11: "no
//! per-frame allocation"): `CpuPasses` driven as the engine drives it (upload, preprocess, the
//! look's reprojection, pack, the model output as the look, composite with its 8-bit encode),
//! frame after frame, counted by a global allocator.
//!
//! One test in this binary (the counter is global), on a one-thread rayon pool so every pass runs
//! on the same worker whose thread-local rows the first frames made.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use realmaster::gpu::composite::CompositeParams;
use realmaster::gpu::preprocess::{EdgeParams, InputRole, ModelColorSpace, PreprocessConfig};
use realmaster::pipeline::cpu_passes::CpuPasses;
use realmaster::pipeline::engine::ModelSpec;
use realmaster::pipeline::frame_passes::FramePasses;
use realmaster::reference::guided_upsample::EdgeWeights;
use realmaster::{ColorFormat, FrameRef, PlaneRef};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MODEL: (u32, u32) = (96, 64);

/// A frame with colour and every G-buffer; `t` moves its content (and its motion) a little.
fn planes(w: u32, h: u32, t: u32) -> [Vec<u8>; 4] {
    let (mut c, mut d, mut n, mut m) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for y in 0..h {
        for x in 0..w {
            let (bx, by) = ((x + 2 * t) / 12, y / 9);
            let v = (40 + (bx * 37 + by * 11) % 180) as u8;
            c.extend_from_slice(&[v, v / 2 + 20, 255 - v, 255]);
            d.extend_from_slice(&(4.0 + (bx % 5) as f32).to_le_bytes());
            for k in 0..3 {
                n.extend_from_slice(
                    &(if k == (bx % 3) as usize { 1.0f32 } else { 0.0 }).to_le_bytes(),
                );
            }
            for v in [-2.0f32, 0.5] {
                m.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    [c, d, n, m]
}

#[test]
fn cpu_passes_allocate_nothing_per_frame() {
    let (w, h) = (320u32, 180u32);
    let frames: Vec<[Vec<u8>; 4]> = (0..8).map(|t| planes(w, h, t)).collect();
    let spec = ModelSpec {
        width: MODEL.0,
        height: MODEL.1,
        window: 2,
        color_space: ModelColorSpace::Srgb,
        depth_scale: 10.0,
        range: [0.0, 1.0],
        roles: vec![
            InputRole::Frames,
            InputRole::Edges,
            InputRole::Depth,
            InputRole::Normals,
            InputRole::PreviousOutput,
        ],
        reads_light: false,
    };
    let cfg = PreprocessConfig {
        model_width: MODEL.0,
        model_height: MODEL.1,
        color_space: spec.color_space,
        depth_scale: spec.depth_scale,
        edges: EdgeParams::default(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut passes = CpuPasses::new(&spec, cfg, 2).unwrap();
    let (mut arena, mut encoded) = (Vec::new(), Vec::new());
    // The stand-in model output ([1, 3, H, W]), made once.
    let output: Vec<f32> = (0..3 * MODEL.0 * MODEL.1)
        .map(|i| (i % 251) as f32 / 251.0)
        .collect();
    // The edge-aware fit on (a package's edge-aware look): its mask rows are reused too.
    let params = CompositeParams {
        upsample_edges: EdgeWeights {
            edge_ridge: 2.0,
            pull: 1.0,
        },
        ..Default::default()
    };
    let mut per_frame = Vec::new();
    for (i, [c, d, n, m]) in frames.iter().enumerate() {
        let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, c);
        f.depth = Some(PlaneRef::tight(d, w, 4));
        f.normals = Some(PlaneRef::tight(n, w, 12));
        f.motion = Some(PlaneRef::tight(m, w, 8));
        let (slot, ring) = (i % 2, i % 2);
        let order = [1 - slot, slot];
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        // Counted from the third frame on: the first two size every buffer and thread-local row.
        COUNTING.store(i >= 2, Ordering::Relaxed);
        let result = pool.install(|| -> realmaster::error::Result<()> {
            passes.upload(&f)?;
            passes.preprocess(slot, ring)?;
            passes.warp_look(ring)?;
            passes.pack(&order, slot, i > 0, &mut arena)?;
            passes.set_look(&output)?;
            passes.composite(&f, &params, i == 0, &mut encoded)?;
            passes.read_output(&mut encoded)
        });
        COUNTING.store(false, Ordering::Relaxed);
        result.unwrap();
        per_frame.push(ALLOCATIONS.load(Ordering::Relaxed) - before);
        assert_eq!(encoded.len(), (w * h * 4) as usize);
    }
    assert_eq!(
        &per_frame[2..],
        &[0; 6],
        "allocations per frame (frames 0 and 1 not counted): {per_frame:?}"
    );
}
