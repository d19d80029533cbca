//! `realmaster info --json` and `doctor`: an EP the ONNX Runtime build lacks is not reported as one
//! that failed to start; one it has that failed is reported with why and a fix (checked against
//! ONNX Runtime's own message in the library's unit tests, model::ep).

mod common;

use common::repo;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_realmaster"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn info_lists_only_eps_of_this_build_as_not_started() {
    let o = run(&["info", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let available: Vec<&str> = info["execution_providers_available"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(available.contains(&"cpu"), "{available:?}");
    let selected = info["execution_provider_selected"].as_str().unwrap();
    let not_started = info["execution_providers_not_started"].as_array().unwrap();
    for n in not_started {
        let ep = n["ep"].as_str().unwrap();
        assert!(
            available.contains(&ep),
            "{ep} is not in this build: {available:?}"
        );
        assert_ne!(ep, selected);
        assert!(!n["why"].as_str().unwrap().is_empty());
        assert!(!n["fix"].as_str().unwrap().is_empty());
    }
    if available == ["cpu"] {
        // CI's CPU-only ONNX Runtime: tensorrt and cuda were skipped as absent, not failed
        assert!(not_started.is_empty(), "{not_started:?}");
        assert_eq!(selected, "cpu");
    }
}

#[test]
fn doctor_passes_with_the_cpu_build_and_notes_nothing() {
    let o = run(&["doctor", "--ep", "cpu"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[ ok ] execution provider: cpu"), "{out}");
    assert!(!out.contains("[note] execution provider"), "{out}");
}
