//! Execution providers: which one the user asked for, which ones this ONNX Runtime build has, and
//! creating an ort session on one without ort silently falling back (every EP is registered with
//! `error_on_failure`; the fallback policy is ours and is reported).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ort::ep::{self as ort_ep, ExecutionProvider as _};
use ort::session::builder::SessionBuilder;
use ort::session::Session;

use crate::error::{Error, Result};

/// The execution provider to run a model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExecutionProvider {
    /// TensorRT → CUDA → DirectML → CoreML → CPU: the first that works.
    #[default]
    Auto,
    TensorRt,
    Cuda,
    DirectMl,
    CoreMl,
    Cpu,
}

impl ExecutionProvider {
    /// The order `Auto` tries.
    pub const AUTO_ORDER: [ExecutionProvider; 5] = [
        ExecutionProvider::TensorRt,
        ExecutionProvider::Cuda,
        ExecutionProvider::DirectMl,
        ExecutionProvider::CoreMl,
        ExecutionProvider::Cpu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionProvider::Auto => "auto",
            ExecutionProvider::TensorRt => "tensorrt",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::DirectMl => "directml",
            ExecutionProvider::CoreMl => "coreml",
            ExecutionProvider::Cpu => "cpu",
        }
    }

    /// ONNX Runtime's name (as in GetAvailableProviders); None for Auto.
    pub fn ort_name(self) -> Option<&'static str> {
        Some(match self {
            ExecutionProvider::Auto => return None,
            ExecutionProvider::TensorRt => ort_ep::TensorRT::NAME,
            ExecutionProvider::Cuda => ort_ep::CUDA::NAME,
            ExecutionProvider::DirectMl => ort_ep::DirectML::NAME,
            ExecutionProvider::CoreMl => ort_ep::CoreML::NAME,
            ExecutionProvider::Cpu => ort_ep::CPU::NAME,
        })
    }

    fn install_hint(self) -> &'static str {
        match self {
            ExecutionProvider::TensorRt => {
                "install an ONNX Runtime build with TensorRT (onnxruntime-gpu plus TensorRT and CUDA libraries) and point REALMASTER_ORT_LIB at it"
            }
            ExecutionProvider::Cuda => {
                "install an ONNX Runtime build with CUDA (onnxruntime-gpu plus the CUDA and cuDNN libraries) and point REALMASTER_ORT_LIB at it"
            }
            ExecutionProvider::DirectMl => "use a Windows ONNX Runtime build with DirectML (onnxruntime-directml)",
            ExecutionProvider::CoreMl => "use a macOS ONNX Runtime build with CoreML",
            ExecutionProvider::Auto | ExecutionProvider::Cpu => "check the ONNX Runtime installation (`make setup`)",
        }
    }

    /// How to fix this EP's failure `why`: when the loader says which shared library is missing
    /// (ONNX Runtime quotes it, e.g. `libcublasLt.so.13: cannot open shared object file`), that
    /// library and where it comes from; else the general install hint.
    pub fn fix_for(self, why: &str) -> String {
        match missing_library(why) {
            Some(lib) if lib.starts_with("libonnxruntime_providers") => format!(
                "{lib} is missing beside libonnxruntime: reinstall onnxruntime-gpu whole (its provider libraries ship beside libonnxruntime) and point REALMASTER_ORT_LIB at that libonnxruntime"
            ),
            Some(lib) => format!(
                "{lib} is not found: install {} and add the folder holding {lib} to LD_LIBRARY_PATH (pip puts them under site-packages/nvidia/*/lib)",
                library_source(&lib)
            ),
            None => self.install_hint().to_string(),
        }
    }
}

/// The shared library a loader error names as missing (Linux's dlopen wording).
fn missing_library(why: &str) -> Option<String> {
    let end = why.find(": cannot open shared object file")?;
    let lib = why[..end]
        .rsplit(|c: char| c.is_whitespace() || c == '\'')
        .next()?;
    let lib = lib.rsplit('/').next()?;
    (lib.starts_with("lib") && lib.contains(".so")).then(|| lib.to_string())
}

/// Where a library that ONNX Runtime's CUDA or TensorRT EP loads comes from.
fn library_source(lib: &str) -> &'static str {
    const SOURCES: [(&str, &str); 8] = [
        (
            "libcuda.so",
            "the NVIDIA driver (libcuda ships with the driver, not with CUDA or pip)",
        ),
        (
            "libcublas",
            "CUDA's cuBLAS matching the onnxruntime-gpu build (PyPI: nvidia-cublas)",
        ),
        (
            "libcudart",
            "the CUDA runtime matching the onnxruntime-gpu build (PyPI: nvidia-cuda-runtime)",
        ),
        (
            "libcudnn",
            "cuDNN 9 (PyPI: nvidia-cudnn-cu13 for the CUDA 13 build)",
        ),
        ("libcurand", "CUDA's cuRAND (PyPI: nvidia-curand)"),
        ("libcufft", "CUDA's cuFFT (PyPI: nvidia-cufft)"),
        ("libnvrtc", "CUDA's NVRTC (PyPI: nvidia-cuda-nvrtc)"),
        ("libnvinfer", "TensorRT (NVIDIA's TensorRT packages)"),
    ];
    SOURCES
        .iter()
        .find(|(prefix, _)| lib.starts_with(prefix))
        .map_or("the library's package", |(_, source)| source)
}

impl fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionProvider {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ExecutionProvider::Auto),
            "tensorrt" | "trt" => Ok(ExecutionProvider::TensorRt),
            "cuda" => Ok(ExecutionProvider::Cuda),
            "directml" | "dml" => Ok(ExecutionProvider::DirectMl),
            "coreml" => Ok(ExecutionProvider::CoreMl),
            "cpu" => Ok(ExecutionProvider::Cpu),
            other => Err(Error::config(
                format!("unknown execution provider '{other}'"),
                "use one of: auto, tensorrt, cuda, directml, coreml, cpu",
            )),
        }
    }
}

/// Options for the execution provider (default: no fallback, fp32, no caches, device 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EpOptions {
    /// When an explicitly requested EP fails, use the CPU (with a warning) instead of failing.
    pub fallback: bool,
    /// TensorRT: build fp16 engines.
    pub trt_fp16: bool,
    /// TensorRT: folder for built engines (engine building takes minutes; the cache makes it once).
    pub trt_engine_cache: Option<PathBuf>,
    /// TensorRT: folder for the timing cache (speeds up building engines for new shapes).
    pub trt_timing_cache: Option<PathBuf>,
    /// GPU index for TensorRT/CUDA/DirectML.
    pub device_id: i32,
}

/// What happened when the session was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpSelection {
    pub requested: ExecutionProvider,
    /// The EP the session runs on (never Auto).
    pub used: ExecutionProvider,
    /// True when `requested` was an explicit EP that failed and the CPU was used instead.
    pub fell_back: bool,
    /// Every EP that was tried and failed, with why.
    pub failures: Vec<(ExecutionProvider, String)>,
}

/// The EPs this ONNX Runtime build includes (CPU always). Loads the library if needed.
pub fn available_eps() -> Result<Vec<ExecutionProvider>> {
    let names = ort_available_names()?;
    Ok(ExecutionProvider::AUTO_ORDER
        .into_iter()
        .filter(|ep| {
            *ep == ExecutionProvider::Cpu
                || ep.ort_name().is_some_and(|n| names.iter().any(|a| a == n))
        })
        .collect())
}

/// ONNX Runtime's own list of provider names (e.g. "CPUExecutionProvider").
pub fn ort_available_names() -> Result<Vec<String>> {
    super::ort_lib::environment(None)?;
    // Ask ort per known EP: its GetAvailableProviders wrapper is not public, is_available is.
    type Probe = fn() -> ort::Result<bool>;
    let probes: [(&str, Probe); 5] = [
        (ort_ep::TensorRT::NAME, ort_ep::TensorRT::is_available),
        (ort_ep::CUDA::NAME, ort_ep::CUDA::is_available),
        (ort_ep::DirectML::NAME, ort_ep::DirectML::is_available),
        (ort_ep::CoreML::NAME, ort_ep::CoreML::is_available),
        (ort_ep::CPU::NAME, ort_ep::CPU::is_available),
    ];
    let mut names = Vec::new();
    for (name, probe) in probes {
        match probe() {
            Ok(true) => names.push(name.to_string()),
            Ok(false) => {}
            Err(e) => {
                return Err(Error::Internal(format!(
                    "ONNX Runtime GetAvailableProviders failed: {e}"
                )))
            }
        }
    }
    Ok(names)
}

fn dispatch(ep: ExecutionProvider, opts: &EpOptions) -> Vec<ort_ep::ExecutionProviderDispatch> {
    match ep {
        ExecutionProvider::TensorRt => {
            let mut trt = ort_ep::TensorRT::default()
                .with_device_id(opts.device_id)
                .with_fp16(opts.trt_fp16);
            if let Some(dir) = &opts.trt_engine_cache {
                ensure_dir(dir);
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(dir.display());
            }
            if let Some(dir) = &opts.trt_timing_cache {
                ensure_dir(dir);
                trt = trt
                    .with_timing_cache(true)
                    .with_timing_cache_path(dir.display());
            }
            // CUDA after TensorRT takes the nodes TensorRT cannot; its failure alone is not fatal.
            vec![
                trt.build().error_on_failure(),
                ort_ep::CUDA::default()
                    .with_device_id(opts.device_id)
                    .build()
                    .fail_silently(),
            ]
        }
        ExecutionProvider::Cuda => vec![ort_ep::CUDA::default()
            .with_device_id(opts.device_id)
            .build()
            .error_on_failure()],
        ExecutionProvider::DirectMl => {
            vec![ort_ep::DirectML::default()
                .with_device_id(opts.device_id)
                .build()
                .error_on_failure()]
        }
        ExecutionProvider::CoreMl => vec![ort_ep::CoreML::default().build().error_on_failure()],
        ExecutionProvider::Auto | ExecutionProvider::Cpu => Vec::new(),
    }
}

fn ensure_dir(dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        log::warn!("cannot create TensorRT cache folder {}: {e}", dir.display());
    }
}

/// Why one EP attempt failed.
enum Attempt {
    /// The EP is not in this build or refused to register: the model was never tried.
    Unavailable(String),
    /// The EP registered but the session could not be created (EP or model problem).
    Commit(String),
}

/// Creates a session for `model` on the requested EP. `builder` makes a fresh, configured
/// builder per attempt (a failed registration may leave a builder half-configured).
pub(crate) fn commit_session(
    model: &Path,
    requested: ExecutionProvider,
    opts: &EpOptions,
    builder: &dyn Fn() -> Result<SessionBuilder>,
) -> Result<(Session, EpSelection)> {
    let available = ort_available_names()?;
    let mut failures: Vec<(ExecutionProvider, String)> = Vec::new();
    let candidates: Vec<ExecutionProvider> = match requested {
        ExecutionProvider::Auto => ExecutionProvider::AUTO_ORDER.to_vec(),
        ep => vec![ep],
    };
    for ep in candidates
        .iter()
        .copied()
        .filter(|ep| *ep != ExecutionProvider::Cpu)
    {
        match try_ep(model, ep, opts, &available, builder)? {
            Ok(session) => {
                return Ok((
                    session,
                    EpSelection {
                        requested,
                        used: ep,
                        fell_back: false,
                        failures,
                    },
                ))
            }
            // `auto` skipping an EP this build lacks is expected (info); one that is present but fails
            // to start is worth a warning.
            Err(Attempt::Unavailable(why)) => {
                log::info!("execution provider {ep} not used: {why}");
                failures.push((ep, why));
            }
            Err(Attempt::Commit(why)) => {
                log::warn!("execution provider {ep} failed to start, trying the next: {why}");
                failures.push((ep, why));
            }
        }
    }
    // CPU: either the last Auto candidate, the explicit request, or the fallback.
    let cpu = builder()?.commit_from_file(model);
    let explicit_failed =
        requested != ExecutionProvider::Auto && requested != ExecutionProvider::Cpu;
    match cpu {
        Ok(session) if explicit_failed => {
            let (ep, why) = failures.pop().unwrap_or((requested, "unknown failure".into()));
            if !opts.fallback {
                let fix = format!("{}, or use --ep auto / --ep cpu, or allow the CPU fallback", ep.fix_for(&why));
                return Err(Error::ExecutionProvider { ep: ep.to_string(), problem: why, fix });
            }
            log::warn!("execution provider {ep} failed ({why}); falling back to the CPU as allowed");
            failures.push((ep, why));
            Ok((session, EpSelection { requested, used: ExecutionProvider::Cpu, fell_back: true, failures }))
        }
        Ok(session) => Ok((session, EpSelection { requested, used: ExecutionProvider::Cpu, fell_back: false, failures })),
        // The CPU cannot load it either: the graph itself is the problem.
        Err(e) => Err(Error::ModelMismatch {
            path: model.to_path_buf(),
            problem: format!("ONNX Runtime cannot load the graph (truncated, corrupt or not an ONNX model?): {e}"),
        }),
    }
}

fn try_ep(
    model: &Path,
    ep: ExecutionProvider,
    opts: &EpOptions,
    available: &[String],
    builder: &dyn Fn() -> Result<SessionBuilder>,
) -> Result<std::result::Result<Session, Attempt>> {
    let Some(name) = ep.ort_name() else {
        return Ok(Err(Attempt::Unavailable(
            "not a concrete execution provider".into(),
        )));
    };
    if !available.iter().any(|a| a == name) {
        return Ok(Err(Attempt::Unavailable(format!(
            "this ONNX Runtime build ({}) does not include {name} (it has: {})",
            super::ort_lib::loaded()
                .map(|i| i.path.display().to_string())
                .unwrap_or_default(),
            available.join(", ")
        ))));
    }
    let b = match builder()?.with_execution_providers(dispatch(ep, opts)) {
        Ok(b) => b,
        Err(e) => {
            // ONNX Runtime's messages end in a newline; the caller appends its fix.
            return Ok(Err(Attempt::Unavailable(format!(
                "registration failed: {}",
                e.to_string().trim_end()
            ))));
        }
    };
    let mut b = b;
    Ok(b.commit_from_file(model).map_err(|e| {
        Attempt::Commit(format!(
            "session creation failed: {}",
            e.to_string().trim_end()
        ))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cuda_library_is_named_with_where_it_comes_from() {
        // ONNX Runtime 1.31.1's message for onnxruntime-gpu without CUDA 13's cuBLAS (seen here)
        let why = "registration failed: /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library /opt/x/onnxruntime/capi/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory";
        assert_eq!(missing_library(why).as_deref(), Some("libcublasLt.so.13"));
        let fix = ExecutionProvider::Cuda.fix_for(why);
        assert!(fix.starts_with("libcublasLt.so.13 is not found"), "{fix}");
        assert!(
            fix.contains("nvidia-cublas") && fix.contains("LD_LIBRARY_PATH"),
            "{fix}"
        );

        let driver = "Failed to load library libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object file: No such file or directory";
        assert!(ExecutionProvider::Cuda
            .fix_for(driver)
            .contains("NVIDIA driver"));
        // the provider library itself, named by its path
        let provider = "Failed to load library /a/b/libonnxruntime_providers_tensorrt.so with error: /a/b/libonnxruntime_providers_tensorrt.so: cannot open shared object file: No such file or directory";
        assert_eq!(
            missing_library(provider).as_deref(),
            Some("libonnxruntime_providers_tensorrt.so")
        );
        let fix = ExecutionProvider::TensorRt.fix_for(provider);
        assert!(
            fix.contains("reinstall onnxruntime-gpu") && !fix.contains("LD_LIBRARY_PATH"),
            "{fix}"
        );
    }

    #[test]
    fn other_failures_keep_the_install_hint() {
        for why in [
            "",
            "CUDA failure 100: no CUDA-capable device is detected",
            "cannot open shared object file",
        ] {
            assert_eq!(
                ExecutionProvider::Cuda.fix_for(why),
                ExecutionProvider::Cuda.install_hint()
            );
        }
    }
}
