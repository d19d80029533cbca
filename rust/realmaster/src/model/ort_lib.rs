//! Finding and loading libonnxruntime (ort's `load-dynamic`), once per process.
//!
//! Search order: explicit path (config) → $REALMASTER_ORT_LIB → $ORT_DYLIB_PATH → beside the current
//! executable → the project's Python env (`.venv/.../onnxruntime/capi/`, searched upward from the
//! executable and from the current directory).
//!
//! Panic guard: with `load-dynamic`, any ort call made before a library is loaded makes ort try
//! `ORT_DYLIB_PATH`/the system library itself and *panic* if that fails (`ort::api()` →
//! `setup_api`). So every ort use in this crate goes through [`runtime()`], which loads the library
//! with `ort::init_from` (which returns errors) first; the few remaining ort calls that could panic
//! are additionally wrapped in `catch_unwind`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::error::{Error, Result};

pub const ENV_REALMASTER_ORT_LIB: &str = "REALMASTER_ORT_LIB";
pub const ENV_ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

const FIX: &str = "run `make setup` (installs ONNX Runtime into .venv) or set REALMASTER_ORT_LIB=/path/to/libonnxruntime.so";

/// The loaded ONNX Runtime library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibInfo {
    pub path: PathBuf,
    /// e.g. "1.31.1" (from the library's build info, else its file name, else "1.<minor>").
    pub version: String,
}

/// Where to look; [`SearchContext::from_process`] fills it from the real process, tests fill it by hand.
#[derive(Debug, Clone, Default)]
pub struct SearchContext {
    pub explicit: Option<PathBuf>,
    pub env_realmaster: Option<PathBuf>,
    pub env_ort_dylib: Option<PathBuf>,
    pub exe_dir: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
}

impl SearchContext {
    pub fn from_process(explicit: Option<&Path>) -> SearchContext {
        let env_path = |key: &str| {
            std::env::var_os(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        SearchContext {
            explicit: explicit.map(Path::to_path_buf),
            env_realmaster: env_path(ENV_REALMASTER_ORT_LIB),
            env_ort_dylib: env_path(ENV_ORT_DYLIB_PATH),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf)),
            cwd: std::env::current_dir().ok(),
        }
    }
}

/// Finds the library without loading it. An explicitly given path (config or env var) that does not
/// exist is an error rather than being skipped: the user asked for that file.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    locate_in(&SearchContext::from_process(explicit))
}

pub fn locate_in(ctx: &SearchContext) -> Result<PathBuf> {
    let explicit = [
        ("configured path", &ctx.explicit),
        (ENV_REALMASTER_ORT_LIB, &ctx.env_realmaster),
        (ENV_ORT_DYLIB_PATH, &ctx.env_ort_dylib),
    ];
    if let Some((source, Some(path))) = explicit.iter().find(|(_, p)| p.is_some()) {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(Error::OrtLibrary {
                problem: format!(
                    "{source} {} does not exist or is not a file",
                    path.display()
                ),
                fix: format!(
                    "set it to the libonnxruntime file (for this project: \
                     .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*), \
                     or unset it to search the usual places, or {FIX}"
                ),
            })
        };
    }
    let mut searched = vec![
        "configured path (not set)".to_string(),
        format!("${ENV_REALMASTER_ORT_LIB} (not set)"),
        format!("${ENV_ORT_DYLIB_PATH} (not set)"),
    ];
    if let Some(dir) = &ctx.exe_dir {
        searched.push(format!("beside the executable: {}", dir.display()));
        if let Some(found) = library_in(dir) {
            return Ok(found);
        }
    }
    let mut roots: Vec<&Path> = Vec::new();
    roots.extend(ctx.exe_dir.as_deref());
    roots.extend(ctx.cwd.as_deref());
    for root in roots {
        searched.push(format!(
            "Python env .venv in {} and its parent folders",
            root.display()
        ));
        for dir in root.ancestors() {
            if let Some(found) = venv_library(&dir.join(".venv")) {
                return Ok(found);
            }
        }
    }
    Err(Error::OrtLibrary {
        problem: format!(
            "libonnxruntime not found; searched: {}",
            searched.join("; ")
        ),
        fix: FIX.into(),
    })
}

fn is_library_name(name: &str) -> bool {
    if cfg!(windows) {
        name.eq_ignore_ascii_case("onnxruntime.dll")
    } else if cfg!(target_os = "macos") {
        name.starts_with("libonnxruntime")
            && name.ends_with(".dylib")
            && !name.contains("providers")
    } else {
        name == "libonnxruntime.so" || name.starts_with("libonnxruntime.so.")
    }
}

/// The best-looking ONNX Runtime library directly in `dir` (highest version wins).
fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(is_library_name))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| version_key(p));
    found.pop()
}

/// Numeric parts of a file name, so libonnxruntime.so.1.31.1 sorts after .so.1.9.0.
fn version_key(path: &Path) -> Vec<u64> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn venv_library(venv: &Path) -> Option<PathBuf> {
    if !venv.is_dir() {
        return None;
    }
    let mut site_packages = vec![venv.join("Lib").join("site-packages")];
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("python3"))
            {
                site_packages.push(e.path().join("site-packages"));
            }
        }
    }
    site_packages.sort();
    site_packages
        .into_iter()
        .rev()
        .find_map(|sp| library_in(&sp.join("onnxruntime").join("capi")))
}

struct Runtime {
    info: OrtLibInfo,
    env: ort::environment::Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime (once per process) and creates the process-wide ort environment.
/// Later calls return the library already loaded; a different `explicit` path is then ignored
/// with a warning, because a process can only load ONNX Runtime once.
pub fn init(explicit: Option<&Path>) -> Result<&'static OrtLibInfo> {
    Ok(&runtime(explicit)?.info)
}

/// The loaded library, if [`init`] has succeeded in this process.
pub fn loaded() -> Option<&'static OrtLibInfo> {
    RUNTIME.get().map(|r| &r.info)
}

/// The process-wide ort environment; loads the library (default search) if needed.
pub(crate) fn environment(
    explicit: Option<&Path>,
) -> Result<&'static ort::environment::Environment> {
    Ok(&runtime(explicit)?.env)
}

fn runtime(explicit: Option<&Path>) -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        warn_if_different(rt, explicit);
        return Ok(rt);
    }
    let _guard = INIT_LOCK.lock();
    if let Some(rt) = RUNTIME.get() {
        warn_if_different(rt, explicit);
        return Ok(rt);
    }
    let path = locate(explicit)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let rt = load(&path)?;
    log::info!(
        "ONNX Runtime {} loaded from {}",
        rt.info.version,
        rt.info.path.display()
    );
    Ok(RUNTIME.get_or_init(|| rt))
}

fn warn_if_different(rt: &Runtime, explicit: Option<&Path>) {
    if let Some(p) = explicit {
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if p != rt.info.path {
            log::warn!(
                "ONNX Runtime is already loaded from {}; ignoring {} (restart the process to switch libraries)",
                rt.info.path.display(),
                p.display()
            );
        }
    }
}

fn load(path: &Path) -> Result<Runtime> {
    let load_err = |problem: String| Error::OrtLibrary {
        problem,
        fix: FIX.into(),
    };
    let attempt = catch_unwind(AssertUnwindSafe(|| -> Result<Runtime> {
        let builder = ort::init_from(path)
            .map_err(|e| load_err(format!("cannot load {}: {e}", path.display())))?;
        let env = builder
            .with_name("realmaster")
            .with_telemetry(false)
            .build()
            .map_err(|e| {
                load_err(format!(
                    "{} loaded but the ONNX Runtime environment failed: {e}",
                    path.display()
                ))
            })?;
        let version = version_of(path);
        Ok(Runtime {
            info: OrtLibInfo {
                path: path.to_path_buf(),
                version,
            },
            env,
        })
    }));
    match attempt {
        Ok(result) => result,
        Err(panic) => Err(load_err(format!(
            "loading {} panicked inside ort: {}",
            path.display(),
            panic_message(&panic)
        ))),
    }
}

/// "1.31.1" from the build info ("git-branch=rel-1.31.1"), else from the file name, else "1.<minor>".
fn version_of(path: &Path) -> String {
    let info = ort::info();
    if let Some(rest) = info.split("git-branch=rel-").nth(1) {
        let v: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if v.split('.').count() >= 2 {
            return v;
        }
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(v) = name.split(".so.").nth(1).filter(|v| v.starts_with("1.")) {
        return v.to_string();
    }
    match ort::util::probe(path) {
        Some(minor) => format!("1.{minor}"),
        None => "unknown".into(),
    }
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
