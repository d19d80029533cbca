//! Which implementation runs the full-resolution passes: the GPU (wgpu compute shaders) or the
//! CPU (`crate::cpu`, multithreaded). `auto` takes the GPU when the adapter is a hardware one and
//! the CPU when the only adapter is a software rasteriser (Mesa's lavapipe/llvmpipe, SwiftShader,
//! WARP) or there is none: on those the native CPU passes are many times faster.

use crate::error::{Error, Result};
use crate::gpu::{AdapterPreference, AdapterSummary, GpuContext};

/// A backend request (`Auto`) or the backend in use (`Gpu`, `Cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Auto,
    Gpu,
    Cpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Backend::Auto),
            "gpu" | "wgpu" => Ok(Backend::Gpu),
            "cpu" => Ok(Backend::Cpu),
            other => Err(Error::config(
                format!("unknown backend '{other}'"),
                "use 'auto', 'gpu' or 'cpu'",
            )),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Gpu => "gpu",
            Backend::Cpu => "cpu",
        })
    }
}

/// Whether an adapter is a software rasteriser: wgpu reports `DeviceType::Cpu`, or the name is
/// one of the known software drivers (some report themselves as another type).
pub fn is_software_adapter(device_type: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    device_type.eq_ignore_ascii_case("cpu")
        || [
            "llvmpipe",
            "lavapipe",
            "swiftshader",
            "softpipe",
            "microsoft basic render",
        ]
        .iter()
        .any(|s| name.contains(s))
}

/// The backend a request resolves to, given the adapter found (None: no adapter), and why.
pub fn select_backend(
    requested: Backend,
    adapter: Option<&AdapterSummary>,
) -> Result<(Backend, String)> {
    match (requested, adapter) {
        (Backend::Cpu, _) => Ok((Backend::Cpu, "requested".into())),
        (Backend::Gpu, Some(a)) => Ok((Backend::Gpu, format!("requested; adapter {}", a.name))),
        (Backend::Gpu, None) => Err(Error::gpu(
            "the GPU backend was requested but no GPU adapter was found",
            "use --backend auto or cpu, or install a Vulkan driver",
        )),
        (Backend::Auto, None) => Ok((Backend::Cpu, "auto: no GPU adapter".into())),
        (Backend::Auto, Some(a)) if is_software_adapter(&a.device_type, &a.name) => Ok((
            Backend::Cpu,
            format!(
                "auto: the only adapter, {}, is a software rasteriser",
                a.name
            ),
        )),
        (Backend::Auto, Some(a)) => {
            Ok((Backend::Gpu, format!("auto: hardware adapter {}", a.name)))
        }
    }
}

/// The resolved backend, the GPU device when it is the GPU one, and the reason for the choice.
pub struct OpenedBackend {
    pub backend: Backend,
    pub gpu: Option<GpuContext>,
    pub reason: String,
}

/// Resolve `requested` on this machine and open the GPU device when it is needed. `auto` looks at
/// the adapter only: no device is opened when the CPU backend is chosen.
pub fn open_backend(requested: Backend) -> Result<OpenedBackend> {
    if requested == Backend::Cpu {
        let (backend, reason) = select_backend(requested, None)?;
        return Ok(OpenedBackend {
            backend,
            gpu: None,
            reason,
        });
    }
    let adapter = match crate::gpu::context::request_adapter(AdapterPreference::HighPerformance) {
        Ok(a) => Some(a),
        Err(e) if requested == Backend::Auto => {
            log::debug!("no GPU adapter for the auto backend: {e}");
            None
        }
        Err(e) => return Err(e),
    };
    let summary = adapter.as_ref().map(AdapterSummary::of);
    let (backend, reason) = select_backend(requested, summary.as_ref())?;
    let gpu = match (backend, adapter) {
        (Backend::Gpu, Some(a)) => Some(GpuContext::from_adapter(a)?),
        _ => None,
    };
    Ok(OpenedBackend {
        backend,
        gpu,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "Vulkan".into(),
            device_type: device_type.into(),
            driver: String::new(),
        }
    }

    #[test]
    fn software_adapters_select_the_cpu() {
        for a in [
            adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu"),
            adapter("lavapipe", "Other"),
            adapter("SwiftShader Device", "Cpu"),
        ] {
            let (b, why) = select_backend(Backend::Auto, Some(&a)).unwrap();
            assert_eq!(b, Backend::Cpu, "{}", a.name);
            assert!(why.contains("software"), "{why}");
        }
        assert_eq!(select_backend(Backend::Auto, None).unwrap().0, Backend::Cpu);
    }

    #[test]
    fn hardware_adapters_select_the_gpu() {
        for a in [
            adapter("NVIDIA H200", "DiscreteGpu"),
            adapter("Intel(R) UHD Graphics 630", "IntegratedGpu"),
        ] {
            assert_eq!(
                select_backend(Backend::Auto, Some(&a)).unwrap().0,
                Backend::Gpu
            );
        }
    }

    #[test]
    fn explicit_requests_win() {
        let sw = adapter("llvmpipe", "Cpu");
        let hw = adapter("NVIDIA H200", "DiscreteGpu");
        assert_eq!(
            select_backend(Backend::Gpu, Some(&sw)).unwrap().0,
            Backend::Gpu
        );
        assert_eq!(
            select_backend(Backend::Cpu, Some(&hw)).unwrap().0,
            Backend::Cpu
        );
        assert!(select_backend(Backend::Gpu, None).is_err());
    }

    #[test]
    fn parses_and_prints() {
        for b in [Backend::Auto, Backend::Gpu, Backend::Cpu] {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert!("tpu".parse::<Backend>().is_err());
    }
}
