//! `realmaster info` and `realmaster doctor`.

use std::process::ExitCode;

use anyhow::Result;
use realmaster::gpu::{AdapterPreference, GpuContext};
use realmaster::model::{self, ModelPackage};
use realmaster::pipeline::backend::select_backend;

use crate::ModelArgs;

#[derive(serde::Serialize)]
struct Info {
    onnxruntime: Option<String>,
    onnxruntime_error: Option<String>,
    execution_providers_available: Vec<String>,
    execution_provider_selected: Option<String>,
    execution_provider_error: Option<String>,
    /// EPs this ONNX Runtime build has that did not start (auto went on to the next): why, and the fix.
    execution_providers_not_started: Vec<EpNotStarted>,
    gpu: Option<realmaster::gpu::AdapterSummary>,
    gpu_error: Option<String>,
    /// Where the full-resolution passes would run ("gpu", "cpu") and why.
    backend: Option<String>,
    backend_reason: Option<String>,
    model_dir: Option<String>,
    manifest: Option<serde_json::Value>,
    model_error: Option<String>,
}

#[derive(serde::Serialize)]
struct EpNotStarted {
    ep: String,
    why: String,
    fix: String,
}

fn gather(m: &ModelArgs) -> Info {
    let mut info = Info {
        onnxruntime: None,
        onnxruntime_error: None,
        execution_providers_available: vec![],
        execution_provider_selected: None,
        execution_provider_error: None,
        execution_providers_not_started: vec![],
        gpu: None,
        gpu_error: None,
        backend: None,
        backend_reason: None,
        model_dir: None,
        manifest: None,
        model_error: None,
    };
    match model::ort_lib::init(m.ort_lib.as_deref()) {
        Ok(lib) => {
            info.onnxruntime = Some(format!("{} ({})", lib.path.display(), lib.version));
            info.execution_providers_available = model::available_eps()
                .map(|v| v.iter().map(|e| e.as_str().to_string()).collect())
                .unwrap_or_default();
        }
        Err(e) => info.onnxruntime_error = Some(e.to_string()),
    }
    match GpuContext::new(AdapterPreference::HighPerformance) {
        Ok(ctx) => info.gpu = Some(ctx.summary.clone()),
        Err(e) => info.gpu_error = Some(e.to_string()),
    }
    match select_backend(m.backend, info.gpu.as_ref()) {
        Ok((b, why)) => {
            info.backend = Some(b.to_string());
            info.backend_reason = Some(why);
        }
        Err(e) => info.backend_reason = Some(e.to_string()),
    }
    match crate::locate::model_dir(m.model.as_deref()) {
        Ok(dir) => {
            info.model_dir = Some(dir.display().to_string());
            match ModelPackage::open(&dir) {
                Ok(p) => {
                    info.manifest = std::fs::read_to_string(dir.join("manifest.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok());
                    if info.onnxruntime.is_some() {
                        let opts = model::SessionOptions {
                            ort_library: m.ort_lib.clone(),
                            ep: m.ep.parse().unwrap_or_default(),
                            ep_options: model::EpOptions {
                                fallback: m.allow_fallback,
                                ..Default::default()
                            },
                            ..Default::default()
                        };
                        match model::ModelSession::load(&p, &opts) {
                            Ok(s) => {
                                info.execution_provider_selected =
                                    Some(s.ep_in_use().as_str().to_string());
                                // An EP missing from the build is expected; one present that
                                // failed is what a GPU user needs to hear about.
                                for (ep, why) in &s.ep_selection().failures {
                                    if info
                                        .execution_providers_available
                                        .iter()
                                        .any(|a| a == ep.as_str())
                                    {
                                        info.execution_providers_not_started.push(EpNotStarted {
                                            ep: ep.to_string(),
                                            why: why.clone(),
                                            fix: ep.fix_for(why),
                                        });
                                    }
                                }
                            }
                            Err(e) => info.execution_provider_error = Some(e.to_string()),
                        }
                    }
                }
                Err(e) => info.model_error = Some(e.to_string()),
            }
        }
        Err(e) => info.model_error = Some(e),
    }
    info
}

pub fn info(m: &ModelArgs, json: bool) -> Result<ExitCode> {
    let i = gather(m);
    if json {
        println!("{}", serde_json::to_string_pretty(&i)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "ONNX Runtime:        {}",
        i.onnxruntime
            .as_deref()
            .or(i.onnxruntime_error.as_deref())
            .unwrap_or("?")
    );
    println!(
        "EPs in this build:   {}",
        i.execution_providers_available.join(", ")
    );
    match (&i.execution_provider_selected, &i.execution_provider_error) {
        (Some(ep), _) => println!("EP that would run:   {ep} (requested: {})", m.ep),
        (None, Some(e)) => println!("EP that would run:   none: {e}"),
        _ => println!("EP that would run:   unknown (no model loaded)"),
    }
    for n in &i.execution_providers_not_started {
        println!("EP not started:      {}: {} (fix: {})", n.ep, n.why, n.fix);
    }
    match (&i.gpu, &i.gpu_error) {
        (Some(g), _) => println!(
            "GPU:                 {} ({}, {})",
            g.name, g.backend, g.device_type
        ),
        (_, Some(e)) => println!("GPU:                 none: {e}"),
        _ => {}
    }
    println!(
        "Passes backend:      {} ({}; requested: {})",
        i.backend.as_deref().unwrap_or("none"),
        i.backend_reason.as_deref().unwrap_or("?"),
        m.backend
    );
    println!(
        "Model:               {}",
        i.model_dir.as_deref().unwrap_or("none")
    );
    if let Some(man) = &i.manifest {
        println!("{}", serde_json::to_string_pretty(man)?);
    }
    if let Some(e) = &i.model_error {
        println!("Model problem:       {e}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn doctor(m: &ModelArgs) -> Result<ExitCode> {
    let i = gather(m);
    let mut failed = 0;
    let mut check = |ok: bool, what: &str, detail: &str| {
        println!("[{}] {what}: {detail}", if ok { " ok " } else { "FAIL" });
        failed += usize::from(!ok);
    };
    match (&i.onnxruntime, &i.onnxruntime_error) {
        (Some(p), _) => check(true, "ONNX Runtime library", p),
        (_, e) => check(
            false,
            "ONNX Runtime library",
            e.as_deref().unwrap_or("not found"),
        ),
    }
    match (&i.gpu, &i.gpu_error) {
        (Some(g), _) => {
            let soft = g.is_software();
            check(
                true,
                "GPU adapter",
                &format!(
                    "{} ({}){}",
                    g.name,
                    g.backend,
                    if soft {
                        " — a software rasteriser: the CPU backend runs the passes (auto); install the GPU's Vulkan driver for speed"
                    } else {
                        ""
                    }
                ),
            )
        }
        // No adapter is not a failure: the CPU backend runs the passes.
        (_, e) if m.backend != realmaster::Backend::Gpu => check(
            true,
            "GPU adapter",
            &format!(
                "none ({}); the CPU backend runs the passes",
                e.as_deref().unwrap_or("not found")
            ),
        ),
        (_, e) => check(false, "GPU adapter", e.as_deref().unwrap_or("none")),
    }
    match (&i.backend, &i.backend_reason) {
        (Some(b), why) => check(
            true,
            "full-resolution passes",
            &format!("{b} backend ({})", why.as_deref().unwrap_or("")),
        ),
        (None, why) => check(
            false,
            "full-resolution passes",
            why.as_deref().unwrap_or("no backend"),
        ),
    }
    match (&i.model_dir, &i.model_error) {
        (Some(d), None) => check(true, "model files (sha256 verified)", d),
        (_, Some(e)) => check(false, "model files", e),
        _ => {}
    }
    match (&i.execution_provider_selected, &i.execution_provider_error) {
        (Some(ep), _) => check(
            true,
            "execution provider",
            &format!("{ep} (requested {})", m.ep),
        ),
        (_, Some(e)) => check(false, "execution provider", e),
        _ => {}
    }
    // Not a failure (the EP that runs is above), but the faster one the user probably expected.
    for n in &i.execution_providers_not_started {
        println!(
            "[note] execution provider {}: in this ONNX Runtime build but did not start: {} (fix: {})",
            n.ep, n.why, n.fix
        );
    }
    if failed == 0 {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} check(s) failed; each line says how to fix it");
        Ok(ExitCode::from(1))
    }
}
