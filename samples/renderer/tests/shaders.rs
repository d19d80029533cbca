//! Every WGSL pass of the renderer parses and validates with naga (the compiler wgpu uses), with
//! the default capabilities (the renderer asks for no optional features), and has the entry
//! points render.rs binds; every file in shaders/ is part of some pass.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::ShaderStage;
use realmaster_samples::render::shader_sources;

#[test]
fn every_pass_validates_with_its_entry_points() {
    let expected: [(&str, &[(&str, ShaderStage)]); 5] = [
        ("shadow", &[("vs_shadow", ShaderStage::Vertex)]),
        (
            "gbuffer",
            &[
                ("vs_gbuffer", ShaderStage::Vertex),
                ("fs_gbuffer", ShaderStage::Fragment),
            ],
        ),
        (
            "ao",
            &[
                ("vs_fullscreen", ShaderStage::Vertex),
                ("fs_ao", ShaderStage::Fragment),
            ],
        ),
        (
            "sim",
            &[
                ("vs_fullscreen", ShaderStage::Vertex),
                ("fs_sim", ShaderStage::Fragment),
            ],
        ),
        (
            "target",
            &[
                ("vs_fullscreen", ShaderStage::Vertex),
                ("fs_target", ShaderStage::Fragment),
            ],
        ),
    ];
    let sources = shader_sources();
    assert_eq!(
        sources.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        expected.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    for ((name, src), (_, entries)) in sources.iter().zip(expected) {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        Validator::new(ValidationFlags::all(), Capabilities::default())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        for (entry, stage) in entries {
            assert!(
                module
                    .entry_points
                    .iter()
                    .any(|e| e.name == *entry && e.stage == *stage),
                "{name}: no {stage:?} entry point {entry}"
            );
        }
    }
}

#[test]
fn every_shader_file_is_used() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let sources = shader_sources();
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "wgsl") {
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                sources.iter().any(|(_, s)| s.contains(text.trim())),
                "{} is not part of any pass",
                path.display()
            );
        }
    }
    assert_eq!(
        files, 6,
        "shaders/ should hold common.wgsl plus one file per pass"
    );
}
