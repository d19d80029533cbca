//! Locating and loading libonnxruntime. One test loads the library in-process; it runs alone in
//! this binary so that the failed load it tries first really happens before any successful one.

mod model_support;

use std::path::PathBuf;

use model_support::*;
use realmaster::model::ort_lib::{self, SearchContext};
use realmaster::Error;

fn ort_problem(err: Error) -> (String, String) {
    match err {
        Error::OrtLibrary { problem, fix } => (problem, fix),
        other => panic!("expected OrtLibrary, got {other}"),
    }
}

#[test]
fn bogus_explicit_path_is_an_ort_library_error() {
    let (problem, fix) = ort_problem(
        ort_lib::locate(Some(&PathBuf::from("/nonexistent/libonnxruntime.so"))).unwrap_err(),
    );
    assert!(
        problem.contains("configured path /nonexistent/libonnxruntime.so does not exist"),
        "{problem}"
    );
    assert!(
        fix.contains("make setup") && fix.contains("REALMASTER_ORT_LIB"),
        "{fix}"
    );
    // The env var is reported as such.
    let ctx = SearchContext {
        env_realmaster: Some("/nope/lib.so".into()),
        ..Default::default()
    };
    let (problem, _) = ort_problem(ort_lib::locate_in(&ctx).unwrap_err());
    assert!(
        problem.starts_with("REALMASTER_ORT_LIB /nope/lib.so"),
        "{problem}"
    );
}

#[test]
fn nothing_found_lists_every_place_searched() {
    // A folder outside the repository, so climbing up from it cannot reach the project's .venv.
    let outside =
        std::env::temp_dir().join(format!("realmaster-ort-search-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    let ctx = SearchContext {
        exe_dir: Some(outside.clone()),
        cwd: Some(outside.clone()),
        ..Default::default()
    };
    let result = ort_lib::locate_in(&ctx);
    let _ = std::fs::remove_dir_all(&outside);
    let (problem, fix) = ort_problem(result.unwrap_err());
    for want in [
        "configured path (not set)",
        "$REALMASTER_ORT_LIB (not set)",
        "$ORT_DYLIB_PATH (not set)",
        "beside the executable",
        "Python env .venv",
    ] {
        assert!(problem.contains(want), "missing '{want}' in: {problem}");
    }
    assert!(fix.contains("make setup"));
}

#[test]
fn finds_the_project_venv_upward_and_beside_the_executable() {
    let start = repo_root().join("rust/realmaster/src");
    let ctx = SearchContext {
        cwd: Some(start),
        ..Default::default()
    };
    let found = ort_lib::locate_in(&ctx).unwrap();
    assert!(
        found.to_string_lossy().contains(".venv")
            && found.to_string_lossy().contains("libonnxruntime.so"),
        "{}",
        found.display()
    );

    let beside = models().join("fake-exe-dir");
    std::fs::create_dir_all(&beside).unwrap();
    std::fs::write(beside.join("libonnxruntime.so.1.9.0"), b"x").unwrap();
    std::fs::write(beside.join("libonnxruntime.so.1.31.1"), b"x").unwrap();
    std::fs::write(beside.join("libonnxruntime_providers_shared.so"), b"x").unwrap();
    let ctx = SearchContext {
        exe_dir: Some(beside.clone()),
        ..Default::default()
    };
    assert_eq!(
        ort_lib::locate_in(&ctx).unwrap(),
        beside.join("libonnxruntime.so.1.31.1")
    );
}

#[test]
fn unloadable_file_fails_cleanly_then_the_real_library_loads() {
    let junk = models().join("not-a-library.so");
    std::fs::write(&junk, b"this is not a shared library").unwrap();
    let (problem, _) = ort_problem(ort_lib::init(Some(&junk)).unwrap_err());
    assert!(
        problem.contains("cannot load") && problem.contains("not-a-library.so"),
        "{problem}"
    );
    assert!(ort_lib::loaded().is_none());

    let info = ort_lib::init(None).unwrap();
    assert!(info.path.exists());
    assert!(info.version.starts_with("1."), "{}", info.version);
    assert_eq!(ort_lib::loaded(), Some(info));
    // Loaded once per process: a later call returns the same library.
    assert_eq!(ort_lib::init(None).unwrap(), info);
}
