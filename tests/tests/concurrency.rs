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
        detail["timelineTotal"].as_i64().unwrap(),
        800 + 1,
        "every report is kept (and the creation entry)"
    );
    assert_eq!(
        detail["version"].as_i64().unwrap(),
        before,
        "reports leave the version --if-version guards alone"
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

/// A worker that claims and finishes tasks until none is left. With `DOOMED=1` it claims one
/// task, reports progress, and then hangs (the test kills it with SIGKILL).
const WORKER: &str = r#"
M="$MAESTRO_BIN"
MAESTRO_SESSION_ID=$("$M" session register --name "w$W" -q) || exit 1
export MAESTRO_SESSION_ID
echo "SESSION $MAESTRO_SESSION_ID"
idle=0
while [ $idle -lt 300 ]; do
  out=$("$M" task claim --next --json)
  t=$(printf '%s' "$out" | sed -n 's/.*"data":{"id":"\([^"]*\)".*/\1/p')
  if [ -z "$t" ]; then
    case "$out" in *nothing_ready*) ;; *) echo "CLAIM FAILED $out"; exit 1;; esac
    left=$("$M" task list --status in_progress -q | grep -c . ; "$M" task list --status pending -q | grep -c .)
    if [ "$(echo $left | tr -d ' ')" = "00" ]; then echo "DONE"; exit 0; fi
    idle=$((idle+1)); sleep 0.1; continue
  fi
  echo "CLAIMED $t"
  "$M" update "working on $t" --task "$t" -q >/dev/null || { echo "UPDATE FAILED $t"; exit 1; }
  if [ -n "${DOOMED:-}" ]; then echo "HANGING $t"; sleep 600; fi
  "$M" task complete "$t" -q >/dev/null || { echo "COMPLETE FAILED $t"; exit 1; }
  echo "COMPLETED $t"
done
echo "gave up"; exit 1
"#;

/// Eight worker processes work through forty tasks while two of them are killed with
/// SIGKILL half way: every task is completed exactly once, the killed workers' tasks are
/// released and finished by the others, and every late write of a killed worker is refused.
#[test]
fn eight_workers_finish_forty_tasks_while_two_are_killed() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let mut sb = sandbox!();
    sb.init();
    sb.set_env("MAESTRO_LEASE_SECONDS", "1.5");
    let tasks: HashSet<String> = (0..40)
        .map(|i| sb.task(&format!("task {i}"), &[]))
        .collect();
    let mut workers = Vec::new();
    for w in 0..8 {
        let w_s = w.to_string();
        let mut env = vec![("W", w_s.as_str())];
        if w < 2 {
            env.push(("DOOMED", "1"));
        }
        let mut c = sb.shell(WORKER, &env);
        c.process_group(0);
        workers.push(c.spawn().unwrap());
    }
    // The doomed two claim a task each and hang; then they are killed (with their sleep).
    let mut doomed = Vec::new();
    for child in workers.iter_mut().take(2) {
        let mut session = String::new();
        let mut held = String::new();
        let out = BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(s) = line.strip_prefix("SESSION ") {
                session = s.to_string();
            }
            if let Some(t) = line.strip_prefix("HANGING ") {
                held = t.to_string();
                break;
            }
        }
        assert!(!held.is_empty(), "a doomed worker claimed a task");
        let pgid = format!("-{}", child.id());
        assert!(
            std::process::Command::new("kill")
                .args(["-KILL", "--", &pgid])
                .status()
                .unwrap()
                .success()
        );
        let _ = child.wait();
        doomed.push((session, held));
    }
    let mut completed = Vec::new();
    for child in workers.into_iter().skip(2) {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a worker failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        completed.extend(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("COMPLETED "))
                .map(str::to_string),
        );
    }
    let unique: HashSet<String> = completed.iter().cloned().collect();
    assert_eq!(
        completed.len(),
        40,
        "every task completed once: {completed:?}"
    );
    assert_eq!(unique, tasks);
    for t in &tasks {
        let d = sb.ok(&["task", "get", t]);
        assert_eq!(d["status"], "completed", "{d}");
        let completions = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "status_changed" && e["to"] == "completed")
            .count();
        assert_eq!(completions, 1, "{t} completed exactly once");
    }
    // The killed workers' tasks were released, then finished by survivors; their late
    // writes are refused.
    for (session, held) in &doomed {
        let d = sb.ok(&["task", "get", held]);
        let released = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "released" && e["sessionId"] == session.as_str());
        assert!(released, "{held} was released from {session}: {d}");
        assert_ne!(d["sessionIds"], serde_json::json!([session]));
        let env = [("MAESTRO_SESSION_ID", session.as_str())];
        for args in [
            &["task", "complete", held.as_str()][..],
            &["update", "late", "--task", held.as_str()],
            &["update", "late"],
            &["subtask", "create", held.as_str(), "late"],
            &["task", "claim", "--next"],
        ] {
            let mut all = args.to_vec();
            all.push("--json");
            let r = sb.run_with(&env, &all);
            let v = r.json();
            assert_eq!(r.code, 4, "{args:?}: {v}");
            assert!(
                v["error"] == "session_lost" || v["error"] == "claim_released",
                "{args:?}: {v}"
            );
        }
    }
}
