//! Every WGSL file in shaders/ must parse with naga's WGSL front end and pass its validator, so a
//! broken shader fails `cargo test` here with naga's diagnostic instead of at pipeline creation.

use std::path::PathBuf;

fn shader_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shaders")
}

fn wgsl_files() -> Vec<PathBuf> {
    let dir = shader_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
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
        let source = std::fs::read_to_string(path).unwrap();
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
            "shaders/{name} is missing (found {files:?})"
        );
    }
}
