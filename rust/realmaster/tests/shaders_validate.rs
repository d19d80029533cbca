//! Every WGSL file of the GPU passes (beside its module under src/gpu) must parse with naga's WGSL front end and pass its validator, so a
//! broken shader fails `cargo test` here with naga's diagnostic instead of at pipeline creation.

use std::path::PathBuf;

fn shader_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/gpu")
}

fn collect(dir: &std::path::Path, files: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
    {
        let path = e.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|x| x == "wgsl") {
            files.push(path);
        }
    }
}

fn wgsl_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect(&shader_dir(), &mut files);
    files.sort();
    files
}

/// What wgpu grants a device created without optional features (GpuContext::new): the defaults plus
/// f16-in-f32 packing (`unpack2x16float` etc.), which wgpu enables on every adapter reporting
/// `DownlevelFlags::SHADER_F16_IN_F32` (all WebGPU-compliant ones, lavapipe included).
fn device_capabilities() -> naga::valid::Capabilities {
    naga::valid::Capabilities::default() | naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32
}

#[test]
fn every_shader_parses_and_validates() {
    let files = wgsl_files();
    assert!(
        !files.is_empty(),
        "no .wgsl files found in {}",
        shader_dir().display()
    );
    let mut failures = Vec::new();
    for path in &files {
        // export.wgsl names its storage format when the kernel is made (gpu/host/mod.rs).
        let source = std::fs::read_to_string(path)
            .unwrap()
            .replace("OUTPUT_FORMAT", "rgba16float");
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(m) => m,
            Err(e) => {
                failures.push(e.emit_to_string_with_path(&source, &name));
                continue;
            }
        };
        let mut validator =
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), device_capabilities());
        if let Err(e) = validator.validate(&module) {
            failures.push(format!(
                "{name}: {}",
                e.emit_to_string_with_path(&source, &name)
            ));
            continue;
        }
        if module.entry_points.is_empty() {
            failures.push(format!("{name}: no entry points"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} shaders failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn preprocessing_shaders_are_present() {
    let files: Vec<String> = wgsl_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for name in [
        "decode.wgsl",
        "resample.wgsl",
        "edges_gradient.wgsl",
        "edges_nms.wgsl",
        "edges_hysteresis.wgsl",
        "pack.wgsl",
    ] {
        assert!(
            files.iter().any(|f| f == name),
            "src/gpu/preprocess/{name} is missing (found {files:?})"
        );
    }
}
