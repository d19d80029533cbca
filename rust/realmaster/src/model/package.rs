//! A model package on disk: the manifest, verified files (sha256 before anything is loaded) and the
//! L2-normalised preset embeddings.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, MANIFEST_FILE};
use crate::error::{Error, Result};

pub const GENERATED_LOCK_FILE: &str = "generated.lock.json";

const FIX_MISSING_PACKAGE: &str =
    "run `make demo` to set up the default model, or pass --model DIR with a folder that holds manifest.json";
const FIX_REINSTALL: &str = "re-install the model package; every file listed in manifest.json must be present and unmodified";

/// A verified model package.
#[derive(Debug, Clone)]
pub struct ModelPackage {
    dir: PathBuf,
    manifest: Manifest,
    presets: BTreeMap<String, Vec<f32>>,
    missing_generated: Vec<String>,
}

impl ModelPackage {
    /// Opens the package folder `dir`: parses and checks the manifest, verifies the sha256 of every
    /// listed file, checks generated files against generated.lock.json and loads the presets.
    pub fn open(dir: impl AsRef<Path>) -> Result<ModelPackage> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            let problem = if dir.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(Error::Manifest {
                path: dir,
                problem: format!("the model package folder {problem}"),
                fix: FIX_MISSING_PACKAGE.into(),
            });
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(Error::Manifest {
                path: manifest_path,
                problem: "the folder has no manifest.json, so it is not a model package".into(),
                fix: FIX_MISSING_PACKAGE.into(),
            });
        }
        let manifest = Manifest::load(&manifest_path)?;

        for (name, expected) in &manifest.files {
            verify_file(&dir, name, expected)?;
        }
        let missing_generated = check_generated(&dir, &manifest)?;
        let presets = match manifest
            .prompt
            .as_ref()
            .and_then(|p| p.presets.as_ref().map(|f| (p, f)))
        {
            Some((prompt, file)) => {
                let presets = load_presets(&dir.join(file), prompt.dim)?;
                // Names the manifest gives presets elsewhere must be presets of the file.
                let named = prompt
                    .default
                    .iter()
                    .map(|n| (n, "prompt.default is", "set prompt.default to one of the preset names"))
                    .chain(manifest.upsample.iter().flat_map(|u| u.eps.keys()).map(|n| {
                        (
                            n,
                            "upsample.eps names",
                            "name presets only (export.py --upsample-eps writes ridges for its presets)",
                        )
                    }))
                    .chain(
                        manifest
                            .upsample
                            .iter()
                            .flat_map(|u| u.edge_aware.iter().flatten().map(|(n, _)| n))
                            .map(|n| {
                                (
                                    n,
                                    "upsample.edge_aware names",
                                    "name presets only (export.py --upsample-edge-aware weights its presets)",
                                )
                            }),
                    );
                for (name, what, fix) in named {
                    if !presets.contains_key(name) {
                        return Err(Error::Manifest {
                            path: manifest_path,
                            problem: format!(
                                "{what} '{name}' but {file} has no such preset (presets: {})",
                                presets.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                            fix: fix.into(),
                        });
                    }
                }
                presets
            }
            None => BTreeMap::new(),
        };
        Ok(ModelPackage {
            dir,
            manifest,
            presets,
            missing_generated,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Absolute path of a file inside the package.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Preset name → L2-normalised embedding.
    pub fn presets(&self) -> &BTreeMap<String, Vec<f32>> {
        &self.presets
    }

    pub fn preset_names(&self) -> Vec<&str> {
        self.presets.keys().map(String::as_str).collect()
    }

    /// Generated files (e.g. the text encoder) that are not on disk yet.
    pub fn missing_generated(&self) -> &[String] {
        &self.missing_generated
    }

    /// The command that generates `name`, if the manifest says.
    pub fn generator_for(&self, name: &str) -> Option<&str> {
        let from_generated = self.manifest.generated.get(name).and_then(|c| c.as_deref());
        let from_prompt = self
            .manifest
            .prompt
            .as_ref()
            .and_then(|p| p.text_encoder.as_ref())
            .filter(|te| te.graph == name || te.vocab == name)
            .and_then(|te| te.generated_by.as_deref());
        from_generated.or(from_prompt)
    }
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn verify_file(dir: &Path, name: &str, expected: &str) -> Result<()> {
    let path = dir.join(name);
    if !path.is_file() {
        return Err(Error::Manifest {
            path: dir.join(MANIFEST_FILE),
            problem: format!("lists '{name}' in files but {} is missing", path.display()),
            fix: FIX_REINSTALL.into(),
        });
    }
    check_sha256(path, expected)
}

/// `path`'s content hashes to `expected` (hex, any case), else an integrity error naming both.
fn check_sha256(path: PathBuf, expected: &str) -> Result<()> {
    let actual = sha256_file(&path)?;
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(Error::Integrity {
            path,
            expected: expected.to_ascii_lowercase(),
            actual,
        });
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LockFile {
    Wrapped { files: BTreeMap<String, String> },
    Flat(BTreeMap<String, String>),
}

/// Verifies generated files that exist against the lock file; returns the ones that do not exist.
fn check_generated(dir: &Path, manifest: &Manifest) -> Result<Vec<String>> {
    if manifest.generated.is_empty() {
        return Ok(Vec::new());
    }
    let (present, missing): (Vec<&String>, Vec<&String>) = manifest
        .generated
        .keys()
        .partition(|n| dir.join(n).is_file());
    let missing: Vec<String> = missing.into_iter().cloned().collect();
    for name in &missing {
        let how = manifest
            .generated
            .get(name)
            .and_then(|c| c.clone())
            .unwrap_or_else(|| "its generator".into());
        log::warn!(
            "model {}: generated file '{name}' is missing (run `{how}` to create it)",
            dir.display()
        );
    }
    if present.is_empty() {
        return Ok(missing);
    }
    let lock_path = dir.join(GENERATED_LOCK_FILE);
    let regenerate = |name: &str| -> String {
        let how = manifest
            .generated
            .get(name)
            .and_then(|c| c.clone())
            .unwrap_or_else(|| "the generator".into());
        format!("run `{how}` again to regenerate the files and {GENERATED_LOCK_FILE}")
    };
    let text = std::fs::read_to_string(&lock_path).map_err(|_| Error::Manifest {
        path: lock_path.clone(),
        problem: format!(
            "generated files exist ({}) but the lock file is missing or unreadable",
            join(&present)
        ),
        fix: regenerate(present[0]),
    })?;
    let lock = match serde_json::from_str::<LockFile>(&text) {
        Ok(LockFile::Wrapped { files }) | Ok(LockFile::Flat(files)) => files,
        Err(e) => {
            return Err(Error::Manifest {
                path: lock_path,
                problem: format!("cannot parse: {e}"),
                fix: regenerate(present[0]),
            })
        }
    };
    for name in present {
        let Some(expected) = lock.get(name) else {
            return Err(Error::Manifest {
                path: lock_path,
                problem: format!("'{name}' exists but has no sha256 in the lock file"),
                fix: regenerate(name),
            });
        };
        check_sha256(dir.join(name), expected)?;
    }
    Ok(missing)
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetsFile {
    dim: usize,
    presets: BTreeMap<String, Vec<f32>>,
}

/// Loads presets.json and L2-normalises every embedding.
pub fn load_presets(path: &Path, dim: usize) -> Result<BTreeMap<String, Vec<f32>>> {
    let fix =
        "regenerate presets.json so that every preset has prompt.dim finite numbers, not all zero";
    let bad = |problem: String| Error::Manifest {
        path: path.to_path_buf(),
        problem,
        fix: fix.into(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let file: PresetsFile =
        serde_json::from_str(&text).map_err(|e| bad(format!("cannot parse: {e}")))?;
    if file.dim != dim {
        return Err(bad(format!(
            "dim mismatch: presets have dim {} but the manifest's prompt.dim is {dim}",
            file.dim
        )));
    }
    if file.presets.is_empty() {
        return Err(bad("has no presets".into()));
    }
    let mut out = BTreeMap::new();
    for (name, mut v) in file.presets {
        if v.len() != dim {
            return Err(bad(format!(
                "dim mismatch: preset '{name}' has {} values, expected {dim}",
                v.len()
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad(format!("preset '{name}' contains NaN or infinity")));
        }
        if !super::prompt::l2_normalise(&mut v) {
            return Err(bad(format!(
                "preset '{name}' is all zeros and cannot be normalised"
            )));
        }
        out.insert(name, v);
    }
    Ok(out)
}
