//! Helpers shared by the renderer's integration tests: scratch folders, one GPU per test binary,
//! folder snapshots and simple image statistics. Renders stay tiny (lavapipe, 2 cores).
#![allow(dead_code)]

use realmaster_samples::camera::CameraPath;
use realmaster_samples::clip::ClipSpec;
use realmaster_samples::scene::SceneKind;
use realmaster_samples::weather::Weather;
use realmaster_samples::Gpu;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One device per test binary: opening lavapipe costs a few hundred milliseconds.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new().expect("a wgpu adapter (lavapipe is enough)"))
}

/// A scratch folder under the system temp dir, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "realmaster-samples-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small clip spec.
pub fn spec(
    scene: SceneKind,
    camera: CameraPath,
    frames: u32,
    w: u32,
    h: u32,
    seed: u64,
    weathers: &[Weather],
) -> ClipSpec {
    let mut s = ClipSpec::new(scene, camera, frames, w, h, seed);
    s.weathers = weathers.to_vec();
    s
}

/// Every file under `dir` (relative path → bytes).
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Little-endian f32 plane bytes (OwnedFrame planes) → floats.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Rec. 709 luma of an 8-bit RGBA pixel, in [0, 1].
pub fn luma8(p: &[u8]) -> f32 {
    (0.2126 * p[0] as f32 + 0.7152 * p[1] as f32 + 0.0722 * p[2] as f32) / 255.0
}

pub fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.iter().sum::<f32>() / v.len() as f32
}

pub fn std_dev(v: &[f32]) -> f32 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len() as f32).sqrt()
}
