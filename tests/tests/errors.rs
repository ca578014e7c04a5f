//! Errors an agent can act on: codes, exit codes, suggestions, validation before I/O.

use maestro_tests::sandbox;

#[test]
fn bad_status_or_priority_fails_before_touching_the_store() {
    let sb = sandbox!();
    let db = sb.path().join("never.db");
    let db = db.to_str().unwrap();
    let e = sb.fails(
        &["--db", db, "task", "list", "--status", "done"],
        "invalid_status",
        2,
    );
    assert!(
        e["details"]["allowed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "in_progress")
    );
    assert!(e["suggestion"].as_str().unwrap().contains("pending"));
    let e = sb.fails(
        &["--db", db, "task", "create", "X", "--priority", "urgent"],
        "invalid_priority",
        2,
    );
    assert_eq!(e["details"]["value"], "urgent");
    sb.fails(
        &["--db", db, "task", "update", "t-1", "--status", "finished"],
        "invalid_status",
        2,
    );
    assert!(
        !std::path::Path::new(db).exists(),
        "validation must happen before the store is opened"
    );
}

#[test]
fn unknown_ids_exit_3_with_a_command_to_run() {
    let sb = sandbox!();
    sb.init();
    let e = sb.fails(&["task", "get", "t-zzzzzzzz"], "task_not_found", 3);
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("maestro task list")
    );
    assert_eq!(e["details"]["taskId"], "t-zzzzzzzz");
    assert_eq!(e["retryable"], false);
    let a = sb.task("A", &[]);
    let e = sb.fails(
        &["subtask", "complete", &a, "st-nothere"],
        "subtask_not_found",
        3,
    );
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("maestro subtask list")
    );
    let e = sb.fails(&["session", "get", "s-nothere"], "session_not_found", 3);
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("maestro session")
    );
    let e = sb.fails(
        &["--project", "p-nothere", "task", "list"],
        "project_not_found",
        3,
    );
    assert!(e["suggestion"].as_str().unwrap().contains("maestro"));
}

#[test]
fn disallowed_transitions_name_the_allowed_targets() {
    let sb = sandbox!();
    sb.init();
    let a = sb.task("A", &[]);
    let e = sb.fails(&["task", "complete", &a], "invalid_transition", 4);
    let allowed: Vec<&str> = e["details"]["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allowed, vec!["in_progress", "blocked", "cancelled"]);
    assert!(e["suggestion"].as_str().unwrap().contains("in_progress"));
    sb.ok(&["task", "block", &a, "--reason", "waiting"]);
    let e = sb.fails(&["task", "complete", &a], "invalid_transition", 4);
    assert!(e["suggestion"].as_str().unwrap().contains("--force"));
    assert_eq!(
        sb.ok(&["task", "complete", &a, "--force"])["status"],
        "completed"
    );
    assert_eq!(sb.ok(&["task", "reopen", &a])["status"], "in_progress");
}

#[test]
fn usage_errors_are_json_in_json_mode() {
    let sb = sandbox!();
    let r = sb.run(&["task", "create", "--json"]);
    assert_eq!(r.code, 2);
    let v = r.json();
    assert_eq!(v["error"], "missing_required_field");
    assert!(v["suggestion"].as_str().unwrap().contains("--help"));
    let r = sb.run(&["task", "frobnicate", "--json"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"], "invalid_argument");
    // MAESTRO_JSON=1 forces JSON without the flag.
    let r = sb.run_with(&[("MAESTRO_JSON", "1")], &["task", "get", "t-x"]);
    assert_eq!(r.json()["error"], "no_project_context");
    assert_eq!(r.code, 2);
}

#[test]
fn missing_store_and_context_errors_guide_the_agent() {
    let sb = sandbox!();
    let e = sb.fails(&["task", "list"], "no_project_context", 2);
    assert!(e["suggestion"].as_str().unwrap().contains("maestro init"));
    sb.init();
    let a = sb.task("A", &[]);
    let e = sb.fails(&["task", "claim", "--next"], "no_session_context", 2);
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("session register")
    );
    let e = sb.fails_with(
        &[("MAESTRO_SESSION_ID", "s-ghost")],
        &["task", "claim", &a],
        "session_not_found",
        3,
    );
    assert!(e["suggestion"].as_str().is_some());
    let s = sb.ok(&["session", "register"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let env = [("MAESTRO_SESSION_ID", s.as_str())];
    sb.ok_with(&env, &["task", "claim", "--next"]);
    let e = sb.fails_with(&env, &["task", "claim", "--next"], "nothing_ready", 3);
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("maestro task list")
    );
    sb.fails(&["task", "create", "   "], "missing_required_field", 2);
    sb.fails(&["task", "update", &a], "invalid_argument", 2);
    sb.fails(
        &["task", "block", &a, "--reason", " "],
        "missing_required_field",
        2,
    );
    sb.fails(
        &["task", "update", &a, "--title", "x", "--if-version", "1"],
        "version_conflict",
        4,
    );
}

#[test]
fn json_mode_prints_only_the_envelope() {
    let sb = sandbox!();
    let r = sb.run(&["init", "--json"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["success"], true);
    assert!(v["data"]["project"]["id"].is_string());
    // Re-running init is a no-op that returns the same project.
    let again = sb.ok(&["init"]);
    assert_eq!(again["created"], false);
    assert_eq!(again["project"]["id"], v["data"]["project"]["id"]);
}

#[test]
fn human_mode_confirms_and_shows_empty_states() {
    let sb = sandbox!();
    sb.init();
    let r = sb.run(&["task", "list"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("No tasks") && r.stdout.contains("maestro task create"),
        "{}",
        r.stdout
    );
    let r = sb.run(&["task", "create", "Write docs"]);
    assert!(r.stdout.starts_with("✓ Created t-"), "{}", r.stdout);
    assert!(!r.stdout.contains('\x1b'), "no colour when not a TTY");
    let r = sb.run(&["task", "get", "t-nope"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("error:") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn hyphenated_prototype_commands_still_work() {
    let sb = sandbox!();
    sb.init();
    let t = sb.ok(&["task-create", "Legacy"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sb.ok(&["task-get", &t])["title"], "Legacy");
    assert_eq!(sb.ok(&["task-start", &t])["status"], "in_progress");
    assert_eq!(
        sb.ok(&["task-block", &t, "--reason", "x"])["status"],
        "blocked"
    );
    assert_eq!(
        sb.ok(&["task-update", &t, "--status", "in_progress"])["status"],
        "in_progress"
    );
    assert_eq!(sb.ok(&["task-complete", &t])["status"], "completed");
    assert_eq!(sb.ok(&["task-list"]).as_array().unwrap().len(), 1);
    // Hidden from help.
    let help = sb.run(&["--help"]).stdout;
    assert!(!help.contains("task-start"));
}

#[test]
fn every_command_has_help_with_examples() {
    let sb = sandbox!();
    let top = sb.run(&["--help"]);
    assert_eq!(top.code, 0);
    assert!(top.stdout.contains("Common workflows"));
    let commands: &[&[&str]] = &[
        &["init"],
        &["whoami"],
        &["status"],
        &["update"],
        &["events"],
        &["config"],
        &["completions"],
        &["project", "create"],
        &["project", "list"],
        &["project", "get"],
        &["task", "list"],
        &["task", "get"],
        &["task", "create"],
        &["task", "update"],
        &["task", "start"],
        &["task", "complete"],
        &["task", "reopen"],
        &["task", "cancel"],
        &["task", "delete"],
        &["task", "block"],
        &["task", "ready"],
        &["task", "claim"],
        &["subtask", "create"],
        &["subtask", "list"],
        &["subtask", "complete"],
        &["subtask", "update"],
        &["subtask", "delete"],
        &["session", "register"],
        &["session", "info"],
        &["session", "list"],
        &["session", "get"],
        &["session", "spawn"],
        &["session", "heartbeat"],
        &["session", "end"],
        &["merge"],
        &["merge", "status"],
        &["worktree", "list"],
        &["worktree", "gc"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let r = sb.run(&args);
        assert_eq!(r.code, 0, "{c:?}");
        assert!(
            r.stdout.contains("Examples:"),
            "{c:?} help has no examples:\n{}",
            r.stdout
        );
    }
}

#[test]
fn completions_are_generated() {
    let sb = sandbox!();
    let r = sb.run(&["completions", "bash"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("maestro") && r.stdout.contains("complete"));
}
