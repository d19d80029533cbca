//! Finding the default model package.

use std::path::{Path, PathBuf};

/// Folder name of the shipped reference model under models/.
pub const DEFAULT_MODEL: &str = "realmaster-student";

/// Places searched for the default model, in order.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("REALMASTER_MODEL") {
        out.push(PathBuf::from(p));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    for r in roots {
        let c = r.join("models").join(DEFAULT_MODEL);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The model folder to use: explicit, or the first default candidate with a manifest.
pub fn model_dir(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let candidates = default_model_candidates();
    candidates.iter().find(|c| c.join("manifest.json").is_file()).cloned().ok_or_else(|| {
        let looked: Vec<String> = candidates.iter().take(6).map(|c| c.display().to_string()).collect();
        format!(
            "no trained model is installed: the reference student model ({DEFAULT_MODEL}) was not found (looked in: {}). \
             Fix: pass --model DIR with a model package folder, or set REALMASTER_MODEL.",
            looked.join(", ")
        )
    })
}
