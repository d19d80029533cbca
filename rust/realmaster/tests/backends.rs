//! The two backends of the full-resolution passes through whole sessions: the shipped student on
//! the bundled samples/city_pan (256x144 with depth, normals and motion), cinematic mode. The CPU
//! and GPU backends run the same passes (the GPU shaders are tested against the CPU code), so
//! their outputs agree within a few 8-bit steps (float differences between the shader compiler's
//! maths and Rust's, amplified at most by an edge-map pixel flipping, which changes the model's
//! input locally); each backend is bit-identical run to run. Both backends are always tested here:
//! on a machine whose only adapter is lavapipe, `auto` picks the CPU and `gpu` still runs lavapipe.

mod shipped;
use shipped::{root, student_config};

use realmaster::sequence::Sequence;
use realmaster::{Backend, OutputFrame, Session};

/// Frames of city_pan rendered per run.
const FRAMES: u32 = 8;
/// Mean absolute difference (8-bit steps over all channels) allowed between the backends.
const MAX_MEAN_DIFF: f64 = 0.1;
/// Share of bytes allowed to differ by more than 4 steps.
const MAX_FAR_SHARE: f64 = 0.002;

/// Every frame's encoded output and the backend the session reported.
fn render(backend: Backend) -> (Vec<Vec<u8>>, String) {
    let seq = Sequence::open(root().join("samples/city_pan")).expect("samples/city_pan");
    let s = Session::new(student_config(backend)).expect("session");
    let mut out = OutputFrame::default();
    let mut frames = Vec::new();
    for i in 0..FRAMES.min(seq.frame_count()) {
        let f = seq.load_frame(i).expect("frame");
        s.submit(&f.frame.as_frame_ref()).expect("submit");
        assert!(s.latest_output(&mut out));
        assert!(out.enhanced, "{backend}: frame {i} enhanced");
        frames.push(out.data.clone());
    }
    let st = s.stats();
    assert_eq!(st.frames_failed, 0, "{backend}: {:?}", s.health());
    assert_eq!(s.backend().map(|b| b.to_string()), Some(st.backend.clone()));
    (frames, st.backend)
}

#[test]
fn cpu_and_gpu_backends_agree_on_city_pan() {
    let (cpu, cpu_name) = render(Backend::Cpu);
    let (gpu, gpu_name) = render(Backend::Gpu);
    assert_eq!(cpu_name, "cpu");
    assert_eq!(gpu_name, "gpu");
    assert_eq!(cpu.len(), gpu.len());
    for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
        assert_eq!(a.len(), b.len());
        let diffs: Vec<u8> = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).collect();
        let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
        let far = diffs.iter().filter(|&&d| d > 4).count() as f64 / diffs.len() as f64;
        let max = diffs.iter().copied().max().unwrap_or(0);
        println!(
            "frame {i}: mean |cpu - gpu| {mean:.4} steps, {far:.5} of bytes > 4 steps, max {max}"
        );
        assert!(mean <= MAX_MEAN_DIFF, "frame {i}: mean difference {mean}");
        assert!(
            far <= MAX_FAR_SHARE,
            "frame {i}: {far} of bytes differ by > 4"
        );
    }
}

#[test]
fn cinematic_is_bit_identical_run_to_run_on_each_backend() {
    for backend in [Backend::Cpu, Backend::Gpu] {
        let (a, _) = render(backend);
        let (b, _) = render(backend);
        assert!(a == b, "{backend}: two cinematic runs differ");
    }
}

#[test]
fn auto_picks_the_cpu_on_a_software_adapter_and_the_gpu_otherwise() {
    let s = Session::new(student_config(Backend::Auto)).expect("session");
    let chosen = s.backend().expect("a model is loaded");
    let adapter = realmaster::gpu::context::request_adapter(Default::default())
        .ok()
        .map(|a| realmaster::gpu::AdapterSummary::of(&a));
    let want = match &adapter {
        Some(a) if !a.is_software() => Backend::Gpu,
        _ => Backend::Cpu,
    };
    assert_eq!(chosen, want, "adapter {adapter:?}");
    if chosen == Backend::Cpu {
        assert_eq!(s.gpu(), None, "the CPU backend opens no GPU device");
    }
    assert_eq!(s.stats().backend, chosen.to_string());
}

#[test]
fn the_cpu_backend_refuses_frames_beyond_its_memory_bound_before_copying() {
    let s = Session::new(student_config(Backend::Cpu)).expect("session");
    assert!(s.check_frame_size(3840, 2160).is_ok());
    let e = s
        .check_frame_size(16384, 16384)
        .expect_err("a 16384x16384 frame needs 4 GiB per image");
    assert!(e.to_string().contains("allows at most"), "{e}");
}

/// With profiling on, the GPU backend times its stages with timestamp queries where the device
/// has them (lavapipe does); the CPU backend reports none.
#[test]
fn gpu_stage_times_come_from_timestamp_queries() {
    let seq = Sequence::open(root().join("samples/city_pan")).expect("samples/city_pan");
    for backend in [Backend::Gpu, Backend::Cpu] {
        let s = Session::new(student_config(backend)).expect("session");
        s.set_profiling(true);
        for i in 0..2 {
            let f = seq.load_frame(i).expect("frame");
            s.submit(&f.frame.as_frame_ref()).expect("submit");
        }
        let t = s.last_timings();
        match (backend, t.gpu) {
            (Backend::Cpu, g) => assert!(g.is_none(), "CPU backend: {g:?}"),
            (_, None) => println!("this GPU has no timestamp queries: not timed"),
            (_, Some(g)) => {
                println!("GPU stage times: {g:?}");
                assert!(g.preprocess_ms > 0.0 && g.composite_ms > 0.0, "{g:?}");
                // Each stage's GPU time fits in the frame's wall time (all stages waited on).
                let sum: f64 = g.named().iter().map(|(_, ms)| ms).sum();
                assert!(sum <= t.total_ms * 1.05 + 1.0, "{sum} > {}", t.total_ms);
            }
        }
    }
}
