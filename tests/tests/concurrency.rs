//! Many real `maestro` processes on one store at once.

use maestro_tests::{id, sandbox};
use std::collections::HashSet;

#[test]
fn eight_processes_claim_forty_tasks_exactly_once() {
    let sb = sandbox!();
    sb.init();
    let mut tasks = HashSet::new();
    for i in 0..40 {
        tasks.insert(sb.task(&format!("task {i}"), &[]));
    }
    let sessions: Vec<String> = (0..8)
        .map(|i| id(&sb.ok(&["session", "register", "--name", &format!("w{i}")])))
        .collect();
    // Each worker claims until nothing is ready; claims of different workers interleave.
    let script = r#"n=0; while out=$("$MAESTRO_BIN" task claim --next --json); do echo "$out"; n=$((n+1)); [ $n -gt 60 ] && break; done; echo "$out""#;
    let children: Vec<_> = sessions
        .iter()
        .map(|s| {
            sb.shell(script, &[("MAESTRO_SESSION_ID", s)])
                .spawn()
                .unwrap()
        })
        .collect();
    let mut claimed = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["success"] == true {
                claimed.push(v["data"]["id"].as_str().unwrap().to_string());
            } else {
                // The only acceptable failure is the final "nothing ready".
                assert_eq!(v["error"], "nothing_ready", "unexpected failure: {v}");
            }
        }
    }
    let unique: HashSet<String> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 40, "every task claimed once, no more");
    assert_eq!(unique, tasks);
    let status = sb.ok(&["status"]);
    assert_eq!(status["tasks"]["byStatus"]["in_progress"], 40);
}

#[test]
fn eight_processes_times_100_updates_lose_nothing() {
    let sb = sandbox!();
    sb.init();
    let t = sb.task("shared", &[]);
    let before = sb.ok(&["task", "get", &t])["version"].as_i64().unwrap();
    let script = r#"for i in $(seq 1 100); do "$MAESTRO_BIN" update "w$W step $i" --task "$TASK" --json >/dev/null || { echo "FAILED $i"; exit 1; }; done"#;
    let children: Vec<_> = (0..8)
        .map(|w| {
            sb.shell(script, &[("TASK", &t), ("W", &w.to_string())])
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let detail = sb.ok(&["task", "get", &t]);
    assert_eq!(
        detail["version"].as_i64().unwrap(),
        before + 800,
        "the version counts every change"
    );
    // The timeline in `task get` is the recent window; the event log has them all.
    let events = sb.ok(&["events", "--since", "0", "--limit", "5000"]);
    let progress = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "timeline:added" && e["data"]["type"] == "progress")
        .count();
    assert_eq!(progress, 800);
}
