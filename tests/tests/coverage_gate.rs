//! `scripts/coverage-gate`, the check `./scripts/test` runs on cargo-llvm-cov's summary: it
//! passes a report whose critical modules reach the floor, and fails one where any of them
//! falls below it or is missing from the report.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every gated group's files, each with `covered` of 100 lines.
const GATED: &[&str] = &[
    "maestro-core/src/sqlite.rs",
    "maestro-core/src/rules/ownership.rs",
    "maestro-core/src/rules/dag.rs",
    "maestro-core/src/retry.rs",
    "maestro-core/src/protocol.rs",
    "maestro-core/src/host.rs",
    "maestro-core/src/worktree.rs",
    "maestro-cli/src/main.rs",
];

fn report(files: &[(&str, u64)]) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|(name, covered)| {
            json!({
                "filename": root().join(name).display().to_string(),
                "summary": {"lines": {"count": 100, "covered": covered}},
            })
        })
        .collect();
    json!({"data": [{"files": files}], "type": "llvm.coverage.json.export"})
}

/// Runs the gate on `report`; returns its exit code, stdout+stderr and the Markdown table.
fn gate(report: &Value) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    std::fs::write(&path, report.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(root().join("scripts/coverage-gate"))
        .arg(&path)
        .output()
        .expect("python3 runs scripts/coverage-gate");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap_or_default();
    (out.status.code().unwrap_or(-1), text, md)
}

#[test]
fn every_critical_module_at_the_floor_passes_and_the_table_is_written() {
    let files: Vec<(&str, u64)> = GATED.iter().map(|f| (*f, 80)).collect();
    let (code, text, md) = gate(&report(&files));
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("BELOW"), "{text}");
    assert!(
        md.contains("| rules | 2 | 200 | 160 | 80.0% | ok |"),
        "{md}"
    );
}

#[test]
fn one_module_below_the_floor_fails_the_gate_and_names_it() {
    let files: Vec<(&str, u64)> = GATED
        .iter()
        .map(|f| (*f, if f.ends_with("retry.rs") { 79 } else { 95 }))
        .collect();
    let (code, text, _) = gate(&report(&files));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("retry policy: 79.0% < 80%"), "{text}");
}

#[test]
fn a_module_missing_from_the_report_fails_the_gate() {
    let files: Vec<(&str, u64)> = GATED
        .iter()
        .filter(|f| !f.contains("worktree"))
        .map(|f| (*f, 95))
        .collect();
    let (code, text, _) = gate(&report(&files));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("worktrees and merge queue: no files measured"),
        "{text}"
    );
}

#[test]
fn an_unreadable_report_is_an_error_not_a_pass() {
    let (code, text, _) = gate(&json!({"data": []}));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("lists no files"), "{text}");
}
