//! Generates the C++ side of the bridge (src/bridge.rs -> bridge.rs.h / bridge.rs.cc under OUT_DIR)
//! and compiles bridge.rs.cc into this static library, so plain Cargo/CMake consumers link one file.
//! Engines that must build C++ with their own toolchain (Unreal) compile the same generated
//! bridge.rs.cc and cxx.cc themselves; the copies inside the archive are then never pulled in
//! (see cpp-bridge/README.md, "Building with another build system").

use std::path::PathBuf;

fn main() {
    cxx_build::bridge("src/bridge.rs")
        .std("c++17")
        .compile("realmaster-ffi-cxx");
    println!("cargo:rerun-if-changed=src/bridge.rs");

    // Put cxx's runtime (cxx.cc and the cxx.h it includes as "../include/cxx.h") beside the generated
    // files, so one folder (this OUT_DIR, which Cargo reports in its JSON messages) holds everything
    // another build system must compile. The cxx crate announces its header through its `links`
    // metadata; cxx.cc sits in ../src.
    let header = std::env::var_os("DEP_CXXBRIDGE1_HEADER").map(PathBuf::from);
    let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
    if let (Some(header), Some(out_dir)) = (header, out_dir) {
        let root = header
            .parent()
            .and_then(|p| p.parent())
            .map(PathBuf::from)
            .unwrap_or_default();
        let runtime = out_dir.join("cxxbridge").join("cxx-runtime");
        for (src, dst) in [
            (
                root.join("src").join("cxx.cc"),
                runtime.join("src").join("cxx.cc"),
            ),
            (header.clone(), runtime.join("include").join("cxx.h")),
        ] {
            if let Some(dir) = dst.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::copy(&src, &dst) {
                println!(
                    "cargo:warning=cannot copy {} to {}: {e}",
                    src.display(),
                    dst.display()
                );
            }
        }
    }
}
