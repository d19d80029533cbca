//! Long runs must not grow: after a warm-up, thousands of tiny frames through a session with a model
//! may not grow resident memory or the number of memory mappings beyond a small bound. Counts, not
//! timings (/proc/self/statm and /proc/self/maps; Linux only).

use realmaster::frame::{ColorFormat, FrameRef, PlaneRef};
use realmaster::gpu::kernel::bind_groups_made;
use realmaster::{Backend, Mode, OutputFrame, Session, SessionConfig};

mod model_support;
use model_support::models;

/// (resident bytes, mapping count) of this process.
fn memory() -> (u64, usize) {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    (pages * 4096, maps)
}

/// Frames each run processes after its warm-up, and the bounds they must stay within. At the
/// ~340 KB per frame the Vulkan path once leaked, 2000 frames would grow by ~680 MB.
const FRAMES: usize = 2000;
const WARMUP: usize = 200;
const MAX_RSS_GROWTH: u64 = 24 << 20;
const MAX_MAPS_GROWTH: usize = 24;

/// (frame, resident bytes, mappings) samples, and bind groups made after the warm-up.
fn run(mode: Mode, frames: usize) -> (Vec<(usize, u64, usize)>, u64) {
    let s = Session::new(SessionConfig {
        model_dir: Some(models().join("identity")),
        execution_provider: "cpu".into(),
        mode,
        prompt_blend_frames: 0,
        model_size: Some((128, 64)),
        // The GPU path is what leaked driver memory on lavapipe; `auto` would pick the CPU there.
        backend: Backend::Gpu,
        ..Default::default()
    })
    .unwrap();
    let (w, h) = (32u32, 16u32);
    let n = (w * h) as usize;
    let depth: Vec<u8> = (0..n)
        .flat_map(|i| (1.0f32 + i as f32 * 0.01).to_le_bytes())
        .collect();
    let normals: Vec<u8> = (0..n)
        .flat_map(|_| [0.0f32, 0.0, 1.0])
        .flat_map(f32::to_le_bytes)
        .collect();
    let motion: Vec<u8> = (0..n)
        .flat_map(|_| [0.5f32, 0.0])
        .flat_map(f32::to_le_bytes)
        .collect();
    let mut out = OutputFrame::default();
    let mut samples = Vec::new();
    let mut binds_at_warmup = 0;
    for i in 0..WARMUP + frames {
        let color: Vec<u8> = (0..n)
            .flat_map(|p| [((p + i) % 251) as u8, (p % 199) as u8, 90, 255])
            .collect();
        let mut f = FrameRef::color_only(w, h, ColorFormat::Rgba8Srgb, &color);
        f.depth = Some(PlaneRef::tight(&depth, w, 4));
        f.normals = Some(PlaneRef::tight(&normals, w, 12));
        f.motion = Some(PlaneRef::tight(&motion, w, 8));
        s.submit(&f).unwrap();
        s.flush();
        assert!(s.latest_output(&mut out));
        if i == WARMUP {
            binds_at_warmup = bind_groups_made();
        }
        if i >= WARMUP && (i - WARMUP).is_multiple_of(250) || i == WARMUP + frames - 1 {
            let (rss, maps) = memory();
            samples.push((i, rss, maps));
        }
    }
    let st = s.stats();
    assert_eq!(st.frames_output as usize, WARMUP + frames);
    (samples, bind_groups_made() - binds_at_warmup)
}

fn check(label: &str, (samples, binds): &(Vec<(usize, u64, usize)>, u64)) {
    // The cause of the Vulkan leak this test was written for: bind groups (and their uniform
    // buffers) made per frame. A steady loop makes none, whatever the driver.
    assert_eq!(
        *binds, 0,
        "{label}: {binds} bind groups made after the warm-up"
    );
    let (_, rss0, maps0) = samples[0];
    let (last, rss1, maps1) = samples[samples.len() - 1];
    eprintln!("{label}: samples (frame, RSS MB, mappings):");
    for (i, r, m) in samples {
        eprintln!("  {i:6} {:8.1} {m:6}", *r as f64 / 1048576.0);
    }
    let grew = rss1.saturating_sub(rss0);
    assert!(
        grew <= MAX_RSS_GROWTH,
        "{label}: resident memory grew by {:.1} MB over {} frames (bound {} MB)",
        grew as f64 / 1048576.0,
        last - WARMUP,
        MAX_RSS_GROWTH >> 20
    );
    assert!(
        maps1 <= maps0 + MAX_MAPS_GROWTH,
        "{label}: mappings grew from {maps0} to {maps1} over {} frames (bound +{MAX_MAPS_GROWTH})",
        last - WARMUP
    );
}

#[test]
fn thousands_of_frames_do_not_grow_memory_or_mappings() {
    let frames = std::env::var("REALMASTER_LEAK_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FRAMES);
    let cinematic = run(Mode::Cinematic, frames);
    check("cinematic", &cinematic);
    let realtime = run(Mode::Realtime, frames);
    check("realtime", &realtime);
}
