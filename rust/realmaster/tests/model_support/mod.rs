//! Shared by the model_* integration tests: generates the tiny test packages once per test binary
//! with tests/python/make_test_models.py and gives each test its own copy to modify.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use realmaster::model::{ExecutionProvider, SessionOptions};

pub const WINDOW: usize = 2;
pub const DIM: usize = 8;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// Folder with every generated package (good ones at the top, bad ones under bad/).
pub fn models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `make setup` (or scripts/setup.sh) to create the Python env the model tests use",
            python.display()
        );
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("model-packages-{}", env!("CARGO_CRATE_NAME")));
        let _ = std::fs::remove_dir_all(&out);
        let status = Command::new(&python)
            .arg(root.join("tests/python/make_test_models.py"))
            .arg("--out")
            .arg(&out)
            .status()
            .expect("run make_test_models.py");
        assert!(status.success(), "make_test_models.py failed ({status})");
        assert!(out.join("COMPLETE").exists());
        out
    })
}

pub fn pkg(name: &str) -> PathBuf {
    models().join(name)
}

/// A private copy of a package, for tests that edit files.
pub fn copy_pkg(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let src = pkg(name);
    let dst = models().join("copies").join(format!(
        "{}-{}",
        name.replace('/', "_"),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    dst
}

pub fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

pub fn cpu() -> SessionOptions {
    SessionOptions {
        ep: ExecutionProvider::Cpu,
        ..Default::default()
    }
}

/// Deterministic pseudo-random values in [0, 1).
pub fn pattern(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

/// All six student inputs at `h × w` (frames random, the rest zeros/constants), plus the prompt.
pub struct Inputs {
    pub h: usize,
    pub w: usize,
    pub frames: Vec<f32>,
    pub edges: Vec<f32>,
    pub depth: Vec<f32>,
    pub normals: Vec<f32>,
    pub prev: Vec<f32>,
    pub prompt: Vec<f32>,
    pub shape_frames: [usize; 4],
    pub shape_edges: [usize; 4],
    pub shape_1: [usize; 4],
    pub shape_3: [usize; 4],
    pub shape_prompt: [usize; 2],
}

impl Inputs {
    pub fn new(h: usize, w: usize, seed: u32) -> Inputs {
        let px = h * w;
        let mut prompt = vec![0.0; DIM];
        prompt[0] = 1.0;
        Inputs {
            h,
            w,
            frames: pattern(3 * WINDOW * px, seed),
            edges: vec![0.0; WINDOW * px],
            depth: vec![0.5; px],
            normals: vec![0.0; 3 * px],
            prev: pattern(3 * px, seed + 1),
            prompt,
            shape_frames: [1, 3 * WINDOW, h, w],
            shape_edges: [1, WINDOW, h, w],
            shape_1: [1, 1, h, w],
            shape_3: [1, 3, h, w],
            shape_prompt: [1, DIM],
        }
    }

    pub fn all(&self) -> Vec<realmaster::model::ModelInput<'_>> {
        use realmaster::model::{InputRole as R, ModelInput as I};
        vec![
            I::new(R::Frames, &self.frames, &self.shape_frames),
            I::new(R::Edges, &self.edges, &self.shape_edges),
            I::new(R::Depth, &self.depth, &self.shape_1),
            I::new(R::Normals, &self.normals, &self.shape_3),
            I::new(R::PreviousOutput, &self.prev, &self.shape_3),
            I::new(R::PromptEmbedding, &self.prompt, &self.shape_prompt),
        ]
    }

    /// The newest frame, [3, H, W].
    pub fn current(&self) -> &[f32] {
        let px = self.h * self.w;
        &self.frames[3 * (WINDOW - 1) * px..3 * WINDOW * px]
    }
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The text encoder's embedding table formula (same as make_test_models.embedding_table).
pub fn embedding_row(id: usize) -> Vec<f32> {
    let i = id as f64 + 1.0;
    (0..DIM)
        .map(|j| ((0.37 * i * (j as f64 + 1.0)).sin() + 0.1 * (1.3 * i).cos()) as f32)
        .collect()
}
