//! Errors an agent can act on: codes, exit codes, suggestions, validation before I/O.

use maestro_tests::sandbox;
use serde_json::Value;

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
    // The prototype's hyphenated aliases still run but are never offered.
    assert!(
        !r.stdout.contains("task-list"),
        "hidden aliases are completed"
    );
    // Enum flags complete their values, not file names.
    let zsh = sb.run(&["completions", "zsh"]).stdout;
    assert!(
        zsh.contains("--status=[]:STATUS:(pending in_progress blocked completed cancelled)"),
        "{}",
        zsh.lines()
            .filter(|l| l.contains("--status"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(zsh.contains(":PRIORITY:(high medium low)"));
    let help = sb.run(&["task", "list", "--help"]).stdout;
    assert!(
        help.contains("[possible values: pending, in_progress, blocked, completed, cancelled]")
    );
    assert!(help.contains("[possible values: high, medium, low]"));
}

#[test]
fn a_closed_pipe_ends_any_command_quietly() {
    let sb = sandbox!();
    sb.init();
    for i in 0..3 {
        sb.task(&format!("task {i}"), &[]);
    }
    // The completion script is larger than a pipe's buffer, so the writer meets the closed end.
    for cmd in [
        "completions bash",
        "completions zsh --json",
        "task list",
        "--help",
        "events --since 0",
    ] {
        let out = sb
            .shell(
                &format!(
                    "\"$MAESTRO_BIN\" {cmd} | head -c 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\""
                ),
                &[],
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "maestro {cmd}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0",
            "maestro {cmd}: {stderr}"
        );
    }
}

#[test]
fn json_mode_answers_everything_with_one_envelope() {
    let sb = sandbox!();
    sb.init();
    // A repeated --json is harmless.
    let r = sb.run(&["--json", "task", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json()["success"], true);
    let v = sb.run(&["--version", "--json"]).json();
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    let v = sb.run(&["task", "create", "--help", "--json"]).json();
    assert_eq!(v["data"]["command"], "maestro task create");
    assert!(v["data"]["help"].as_str().unwrap().contains("Examples:"));
    let v = sb.run(&["completions", "bash", "--json"]).json();
    assert!(v["data"]["script"].as_str().unwrap().contains("complete"));
    // What is missing or unknown, and the parser's tip, are in details and the suggestion.
    let e = sb.fails(&["task", "create"], "missing_required_field", 2);
    assert_eq!(e["details"]["missing"], serde_json::json!(["<TITLE>"]));
    assert!(e["message"].as_str().unwrap().contains("<TITLE>"), "{e}");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("'maestro task create <TITLE> --json'")
            || e["suggestion"]
                .as_str()
                .unwrap()
                .contains("'maestro task create --json <TITLE>'"),
        "{e}"
    );
    let e = sb.fails(
        &["task", "list", "--stauts", "pending"],
        "invalid_argument",
        2,
    );
    assert_eq!(e["details"]["argument"], "--stauts");
    assert_eq!(e["details"]["didYouMean"], "--status");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("'maestro task list --status pending --json'"),
        "{e}"
    );
    let e = sb.fails(&["task", "list", "--status", "done"], "invalid_status", 2);
    assert_eq!(e["details"]["argument"], "--status <STATUS>");
    let e = sb.fails(&["task"], "missing_required_field", 2);
    assert!(
        e["details"]["subcommands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "list")
    );
    let e = sb.fails(&["task", "get", "-x"], "invalid_argument", 2);
    assert!(e["details"]["tips"].is_array(), "{e}");
}

/// Every `maestro …` command `suggestion` names that the real parser refuses (with
/// `<placeholders>` filled in).
fn unparsable_commands(suggestion: &str) -> Vec<String> {
    maestro_cli::suggest::commands(suggestion)
        .into_iter()
        .filter(|words| !maestro_cli::suggest::parses(words))
        .map(|words| words.join(" "))
        .collect()
}

/// One envelope on stdout, a suggestion, and every command it names parses.
fn check_envelope(sb: &maestro_tests::Sandbox, env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let r = sb.run_with(env, &all);
    let v = r.json();
    assert_eq!(v["success"], false, "maestro {args:?} should fail: {v}");
    assert_ne!(r.code, 0, "maestro {args:?}");
    let s = v["suggestion"]
        .as_str()
        .unwrap_or_else(|| panic!("maestro {args:?}: no suggestion in {v}"));
    assert!(!s.trim().is_empty(), "maestro {args:?}: empty suggestion");
    let bad = unparsable_commands(s);
    assert!(
        bad.is_empty(),
        "maestro {args:?} suggests commands that do not parse: {bad:?}\n{v}"
    );
    v
}

#[test]
fn the_suggestion_checker_refuses_commands_that_do_not_exist() {
    assert!(unparsable_commands("Run 'maestro task list' or 'maestro init'").is_empty());
    assert!(unparsable_commands("e.g. 'maestro task start <id>'").is_empty());
    assert_eq!(
        unparsable_commands("Run 'maestro task finish <id>'").len(),
        1
    );
    assert_eq!(
        unparsable_commands("Pass it: maestro task list --token x").len(),
        1
    );
    assert_eq!(unparsable_commands("See maestro session logs").len(), 1);
}

#[test]
fn every_error_path_gives_one_envelope_with_a_suggestion_that_parses() {
    let mut sb = sandbox!();
    // Before any store exists.
    let no_store: &[&[&str]] = &[
        &["task", "list"],
        &["status"],
        &["--db", "/nonexistent/dir/x.db", "task", "get", "t-1"],
    ];
    for args in no_store {
        check_envelope(&sb, &[], args);
    }
    sb.init();
    let a = sb.task("A", &[]);
    let b = sb.task("B", &["--depends-on", &a]);
    let c = sb.task("C", &[]);
    sb.ok(&["task", "cancel", &c]);
    let corrupt = sb.path().join("corrupt.db");
    std::fs::write(&corrupt, b"this is not a database, not at all, no").unwrap();
    let corrupt = corrupt.to_str().unwrap().to_string();
    let cases: Vec<Vec<&str>> = vec![
        // The parser's refusals.
        vec!["task", "create"],
        vec!["task", "list", "--stauts", "done"],
        vec!["tsak", "list"],
        vec!["task"],
        vec!["task", "list", "--status", "done"],
        vec!["task", "create", "X", "--priority", "urgent"],
        vec!["task", "list", "--limit", "abc"],
        vec!["task", "block", &a],
        vec!["completions", "nosh"],
        vec!["session", "end", "--status", "bogus"],
        // The core's.
        vec!["task", "list", "--limit", "0"],
        vec!["task", "list", "--cursor", "garbage"],
        vec!["task", "get", "t-zzzzzzzz"],
        vec!["task", "get", ""],
        vec!["task", "start"],
        vec!["task", "complete"],
        vec!["update", "progress"],
        vec!["task", "start", &b],
        vec!["task", "start", &c],
        vec!["task", "update", &a],
        vec!["task", "update", &a, "--title", "x", "--if-version", "99"],
        vec!["task", "update", &a, "--add-dep", &b],
        vec!["task", "create", "X", "--metadata", "[1]"],
        vec!["task", "claim", "--next"],
        vec!["subtask", "complete", &a, "st-nothere"],
        vec!["subtask", "update", &a, "st-nothere", "--order", "0"],
        vec!["session", "get", "s-nothere"],
        vec!["session", "info"],
        vec!["session", "heartbeat"],
        vec!["session", "spawn"],
        vec!["session", "spawn", "--task", &a, "--agent", "nosuchagent"],
        vec!["skill", "show", "nosuchskill"],
        vec!["agent", "show", "nosuchagent"],
        vec!["--project", "p-nothere", "task", "list"],
        vec!["config", "get", "nosuch.key"],
        vec!["config", "--set", "novalue"],
        vec!["events", "--limit", "0"],
        vec!["demo", "--workers", "0"],
        vec!["--db", &corrupt, "task", "list"],
    ];
    for args in &cases {
        check_envelope(&sb, &[], args);
    }
    let e = check_envelope(&sb, &[], &["--db", &corrupt, "status"]);
    assert_eq!(e["details"]["reason"], "not_a_database", "{e}");
    let session = sb.ok(&["session", "register", "--name", "w"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let env = [("MAESTRO_SESSION_ID", session.as_str())];
    check_envelope(&sb, &env, &["session", "logs", &session]);
    check_envelope(&sb, &env, &["update", "no task in progress"]);
    sb.ok_with(&env, &["task", "claim", &a]);
    let other = sb.ok(&["session", "register", "--name", "w2"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = check_envelope(
        &sb,
        &[("MAESTRO_SESSION_ID", &other)],
        &["task", "claim", &a],
    );
    assert_eq!(e["error"], "task_claimed");
    sb.set_env("MAESTRO_SESSION_ID", &session);
    sb.ok(&["session", "end"]);
    check_envelope(&sb, &[], &["task", "claim", "--next"]);
    sb.remove_env("MAESTRO_SESSION_ID");
}

#[test]
fn remote_error_paths_give_the_same_envelopes() {
    let sb = sandbox!();
    let db = sb.path().join("server.db");
    sb.ok(&["--db", db.to_str().unwrap(), "init", "--name", "remote"]);
    let server = maestro_tests::Server::start(&sb, &db, "127.0.0.1:0", &["--token", "s3cret"]);
    let url = server.url.clone();
    let e = check_envelope(&sb, &[], &["--server", &url, "task", "list"]);
    assert_eq!(e["error"], "unauthorized");
    let env = [("MAESTRO_TOKEN", "s3cret")];
    for args in [
        vec!["task", "get", "t-zzzzzzzz"],
        vec!["task", "list", "--limit", "0"],
        vec!["task", "get", ""],
        vec!["events", "--limit", "100000"],
        vec!["task", "start"],
        vec!["subtask", "update", "t-zzzz", "st-zz", "--order", "0"],
    ] {
        let mut all = vec!["--server", url.as_str()];
        all.extend(args);
        check_envelope(&sb, &env, &all);
    }
    let closed = format!("http://127.0.0.1:{}", maestro_tests::free_port());
    let env = [("MAESTRO_RETRIES", "1"), ("MAESTRO_RETRY_DELAY", "50")];
    check_envelope(&sb, &env, &["--server", &closed, "status"]);
}

#[test]
fn every_error_code_has_a_suggestion_whose_commands_parse() {
    for &code in maestro_core::Code::ALL {
        let e = maestro_core::Error::new(code, "x");
        let s = e
            .suggestion()
            .unwrap_or_else(|| panic!("{code}: no suggestion"));
        assert!(!s.is_empty(), "{code}");
        let bad = unparsable_commands(s);
        assert!(bad.is_empty(), "{code} suggests {bad:?}");
        // An error from a server that sent no suggestion gets one too.
        let mut v = e.to_json();
        v["suggestion"] = Value::Null;
        assert!(
            maestro_core::Error::from_json(&v)
                .unwrap()
                .suggestion()
                .is_some()
        );
    }
}

/// Every suggestion in the source, not only those the paths above reach: each
/// `with_suggestion(…)` text, its `{…}` format holes taken as placeholders, names only
/// commands that parse.
#[test]
fn every_suggestion_written_in_the_source_names_commands_that_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("maestro-core/src"), root.join("maestro-cli/src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut checked = 0;
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (at, _) in text.match_indices("with_suggestion(") {
            // The first string literal of the call.
            let rest = &text[at..];
            let Some(open) = rest.find('"') else { continue };
            let body = &rest[open + 1..];
            let mut lit = String::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('"') => lit.push('"'),
                        Some('n') => lit.push(' '),
                        Some(o) => lit.push(o),
                        None => {}
                    },
                    '"' => break,
                    c => lit.push(c),
                }
            }
            // Format holes stand for values: `{id}` → `<id>`; `{{` is a brace.
            let filled = lit
                .replace("{{", "\u{1}")
                .replace("}}", "\u{2}")
                .replace('{', "<")
                .replace('}', ">")
                .replace('\u{1}', "{")
                .replace('\u{2}', "}");
            checked += 1;
            for cmd in unparsable_commands(&filled) {
                bad.push(format!("{}: {cmd}\n    {lit}", f.display()));
            }
        }
    }
    assert!(checked > 100, "found {checked} suggestions");
    assert!(
        bad.is_empty(),
        "suggestions naming commands that do not parse:\n{}",
        bad.join("\n")
    );
}
