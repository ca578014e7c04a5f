//! The foundation lifecycle, run as an agent would: only `maestro … --json` calls.

use maestro_tests::{id, sandbox};
use serde_json::Value;

fn titles(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn agent_lifecycle_with_json_only() {
    let sb = sandbox!();
    let project = sb.init();
    assert!(project.starts_with("p-"));

    let a = sb.task("A", &[]);
    let b = sb.task("B", &["--depends-on", &a]);
    let c = sb.task("C", &["--depends-on", &b]);

    // Only A is ready; B cannot start before A.
    assert_eq!(titles(&sb.ok(&["task", "ready"])), vec!["A"]);
    let e = sb.fails(&["task", "start", &b], "dependencies_incomplete", 4);
    assert_eq!(e["details"]["incomplete"][0]["id"], a.as_str());

    // A cycle is refused with its path.
    let e = sb.fails(
        &["task", "update", &a, "--add-dep", &c],
        "dependency_cycle",
        4,
    );
    let cycle: Vec<&str> = e["details"]["cycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cycle, vec![a.as_str(), c.as_str(), b.as_str(), a.as_str()]);

    // A session claims the next ready task: A.
    let session = id(&sb.ok(&["session", "register", "--name", "worker-1"]));
    assert!(session.starts_with("s-"));
    let env = [("MAESTRO_SESSION_ID", session.as_str())];
    let claimed = sb.ok_with(&env, &["task", "claim", "--next"]);
    assert_eq!(claimed["id"], a.as_str());
    assert_eq!(claimed["status"], "in_progress");
    assert_eq!(claimed["sessionIds"][0], session.as_str());

    // Progress and subtasks on A.
    let entry = sb.ok_with(&env, &["update", "Schema drafted", "--task", &a]);
    assert_eq!(entry["type"], "progress");
    assert_eq!(entry["message"], "Schema drafted");
    // Without --task, the session's in-progress task is the context.
    sb.ok_with(&env, &["update", "Indexes added"]);
    let st1 = id(&sb.ok_with(&env, &["subtask", "create", &a, "Write tests"]));
    let st2 = id(&sb.ok_with(
        &env,
        &[
            "subtask",
            "create",
            &a,
            "Benchmark",
            "--desc",
            "three sizes",
        ],
    ));
    let list = sb.ok(&["subtask", "list", &a]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], st1.as_str());
    assert_eq!(list[1]["order"], 2);
    let done = sb.ok_with(&env, &["subtask", "complete", &a, &st1]);
    assert_eq!(done["completed"], true);

    sb.ok_with(&env, &["task", "complete", &a]);
    // Completing again is a successful no-op, so agents can retry.
    sb.ok_with(&env, &["task", "complete", &a]);
    assert_eq!(titles(&sb.ok(&["task", "ready"])), vec!["B"]);

    let blocked = sb.ok_with(
        &env,
        &["task", "block", &b, "--reason", "Waiting for credentials"],
    );
    assert_eq!(blocked["status"], "blocked");

    let status = sb.ok(&["status"]);
    assert_eq!(status["projectId"], project.as_str());
    assert_eq!(status["tasks"]["total"], 3);
    assert_eq!(status["tasks"]["byStatus"]["completed"], 1);
    assert_eq!(status["tasks"]["byStatus"]["blocked"], 1);
    assert_eq!(status["tasks"]["byStatus"]["pending"], 1);
    assert_eq!(status["tasks"]["byStatus"]["in_progress"], 0);
    assert_eq!(status["tasks"]["byPriority"]["medium"], 3);
    assert_eq!(status["tasks"]["ready"], 0);
    assert_eq!(status["sessions"]["active"], 1);

    let detail = sb.ok(&["task", "get", &a]);
    assert_eq!(detail["status"], "completed");
    assert_eq!(detail["subtasks"].as_array().unwrap().len(), 2);
    assert_eq!(detail["subtasks"][1]["id"], st2.as_str());
    assert_eq!(detail["dependents"][0]["id"], b.as_str());
    let types: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "created",
            "status_changed",
            "assigned",
            "progress",
            "progress",
            "subtask_created",
            "subtask_created",
            "subtask_completed",
            "status_changed"
        ]
    );
    let first_change = &detail["timeline"][1];
    assert_eq!(first_change["from"], "pending");
    assert_eq!(first_change["to"], "in_progress");
    assert_eq!(first_change["actorSessionId"], session.as_str());
    assert!(first_change["timestamp"].as_str().unwrap().ends_with('Z'));

    let b_detail = sb.ok(&["task", "get", &b]);
    assert_eq!(b_detail["dependencies"][0], a.as_str());
    assert_eq!(b_detail["dependencyDetails"][0]["status"], "completed");
    let last = b_detail["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["type"], "blocked");
    assert_eq!(last["reason"], "Waiting for credentials");
}

#[test]
fn context_task_ids_default_the_id() {
    let sb = sandbox!();
    sb.init();
    let a = sb.task("A", &[]);
    let b = sb.task("B", &[]);
    let env = [("MAESTRO_TASK_IDS", format!("{a},{b}"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = sb.ok_with(&env, &["task", "start"]);
    assert_eq!(started["id"], a.as_str());
    // `update` reports on every context task.
    let entries = sb.ok_with(&env, &["update", "both moving"]);
    assert_eq!(entries.as_array().unwrap().len(), 2);
    sb.fails(&["task", "start"], "no_task_context", 2);
    let whoami = sb.ok_with(&env, &["whoami"]);
    assert_eq!(whoami["mode"], "local");
    assert_eq!(whoami["taskIds"][1], b.as_str());
    assert!(
        whoami["db"]
            .as_str()
            .unwrap()
            .ends_with(".maestro/maestro.db")
    );
}

#[test]
fn unique_prefixes_work_everywhere() {
    let sb = sandbox!();
    sb.init();
    let a = sb.task("A", &[]);
    let short = &a[2..7];
    assert_eq!(sb.ok(&["task", "get", short])["id"], a.as_str());
    assert_eq!(sb.ok(&["task", "get", &a[..7]])["id"], a.as_str());
    let b = sb.task("B", &["--depends-on", short]);
    assert_eq!(sb.ok(&["task", "get", &b])["dependencies"][0], a.as_str());
}

#[test]
fn pagination_walks_every_task_once() {
    let sb = sandbox!();
    sb.init();
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(sb.task(&format!("T{i}"), &[]));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut args = vec!["task", "list", "--limit", "3", "--json"];
        if let Some(c) = &cursor {
            args.push("--cursor");
            args.push(c);
        }
        let v = sb.run(&args).json();
        seen.extend(v["data"].as_array().unwrap().iter().map(id));
        match v.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, created);
}

#[test]
fn sessions_spawn_heartbeat_and_end() {
    let sb = sandbox!();
    sb.init();
    let t = sb.task("Work", &[]);
    let orch = id(&sb.ok(&[
        "session",
        "register",
        "--role",
        "orchestrator",
        "--name",
        "lead",
    ]));
    let env = [("MAESTRO_SESSION_ID", orch.as_str())];
    let spawned = sb.ok_with(
        &env,
        &[
            "session",
            "spawn",
            "--task",
            &t,
            "--agent",
            "claude",
            "--skill",
            "maestro-worker",
        ],
    );
    assert_eq!(spawned["status"], "spawning");
    assert_eq!(spawned["spawnedBy"], orch.as_str());
    assert_eq!(spawned["taskIds"][0], t.as_str());
    let events = sb.ok(&["events", "--since", "0", "--limit", "1000"]);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "session:spawn_request" && e["data"]["id"] == spawned["id"])
    );
    let info = sb.ok_with(&env, &["session", "info"]);
    assert_eq!(info["role"], "orchestrator");
    sb.ok_with(&env, &["session", "heartbeat"]);
    let active = sb.ok(&["session", "list", "--active"]);
    assert_eq!(active.as_array().unwrap().len(), 2);
    let ended = sb.ok_with(&env, &["session", "end"]);
    assert_eq!(ended["status"], "completed");
    assert!(ended["endedAt"].is_string());
    assert_eq!(
        sb.ok(&["session", "list", "--active"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sb.fails(&["session", "info"], "no_session_context", 2);
    sb.fails(&["session", "get", "s-nope"], "session_not_found", 3);
}

#[test]
fn events_are_gap_free_and_ordered() {
    let sb = sandbox!();
    sb.init();
    let a = sb.task("A", &[]);
    sb.ok(&["task", "start", &a]);
    sb.ok(&["task", "complete", &a]);
    let events = sb.ok(&["events", "--since", "0"]);
    let seqs: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(!seqs.is_empty());
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let later = sb.ok(&["events", "--since", &seqs[2].to_string()]);
    assert_eq!(later[0]["seq"], seqs[3]);
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "project:created");
    assert!(
        types.contains(&"task:created")
            && types.contains(&"task:updated")
            && types.contains(&"timeline:added")
    );
}
