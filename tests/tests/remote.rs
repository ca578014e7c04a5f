//! Remote mode: the CLI against a real `maestro serve` process.

use maestro_tests::{Server, free_port, http, id, sandbox};
use std::time::{Duration, Instant};

#[test]
fn the_lifecycle_script_passes_unchanged_in_remote_mode() {
    let sb = sandbox!();
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    let bin_dir = sb.bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/shell/lifecycle.sh"
    );
    let out = sb
        .shell(
            &format!("bash {script}"),
            &[("MAESTRO_API_URL", &server.url), ("PATH", &path)],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The data went to the server's store, not a local one.
    assert!(!sb.cwd().join(".maestro").exists());
    let env = [("MAESTRO_API_URL", server.url.as_str())];
    let who = sb.ok_with(&env, &["whoami"]);
    assert_eq!(who["mode"], "remote");
    assert_eq!(who["server"], server.url.as_str());
    assert_eq!(sb.ok_with(&env, &["status"])["tasks"]["total"], 3);
}

#[test]
fn every_command_works_over_the_server_with_the_same_errors() {
    let sb = sandbox!();
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    let url = server.url.as_str();
    let r = |args: &[&str]| {
        let mut a = vec!["--server", url];
        a.extend_from_slice(args);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let ok = |args: &[&str]| {
        let a = r(args);
        sb.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let fails = |args: &[&str], code: &str, exit: i32| {
        let a = r(args);
        sb.fails(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            code,
            exit,
        )
    };
    ok(&["init", "--name", "remote"]);
    let a = id(&ok(&["task", "create", "A", "--priority", "high"]));
    let b = id(&ok(&["task", "create", "B", "--depends-on", &a]));
    fails(&["task", "start", &b], "dependencies_incomplete", 4);
    let e = fails(&["task", "get", "t-nothere"], "task_not_found", 3);
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("maestro task list")
    );
    fails(
        &["task", "update", &a, "--add-dep", &b],
        "dependency_cycle",
        4,
    );
    fails(
        &["task", "update", &a, "--title", "x", "--if-version", "99"],
        "version_conflict",
        4,
    );
    let s = id(&ok(&["session", "register", "--name", "r1"]));
    let env = [("MAESTRO_SESSION_ID", s.as_str()), ("MAESTRO_API_URL", url)];
    assert_eq!(
        sb.ok_with(&env, &["task", "claim", "--next"])["id"],
        a.as_str()
    );
    sb.ok_with(&env, &["update", "remote progress"]);
    let st = id(&sb.ok_with(&env, &["subtask", "create", &a, "sub"]));
    sb.ok_with(&env, &["subtask", "update", &a, &st, "--title", "renamed"]);
    sb.ok_with(&env, &["subtask", "complete", &a, &st]);
    sb.ok_with(&env, &["task", "complete"]);
    let detail = ok(&["task", "get", &a]);
    assert_eq!(detail["subtasks"][0]["title"], "renamed");
    assert_eq!(detail["status"], "completed");
    let spawned = sb.ok_with(&env, &["session", "spawn", "--task", &b]);
    assert_eq!(spawned["spawnedBy"], s.as_str());
    assert_eq!(ok(&["session", "list"]).as_array().unwrap().len(), 2);
    sb.ok_with(&env, &["session", "heartbeat"]);
    sb.ok_with(&env, &["session", "end"]);
    let events = ok(&["events", "--since", "0", "--limit", "1000"]);
    let seqs: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    ok(&["task", "delete", &b]);
    assert_eq!(ok(&["task", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(ok(&["project", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_call_made_while_the_server_is_down_succeeds_through_retries() {
    let sb = sandbox!();
    let db = sb.path().join("server.db");
    sb.ok(&["--db", db.to_str().unwrap(), "init", "--name", "late"]);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let env = [
        ("MAESTRO_API_URL", url.as_str()),
        ("MAESTRO_RETRIES", "6"),
        ("MAESTRO_RETRY_DELAY", "400"),
        ("MAESTRO_DEBUG", "1"),
    ];
    let started = Instant::now();
    let client = sb.spawn(&["task", "create", "made while down", "--json"], &env);
    std::thread::sleep(Duration::from_secs(2));
    let server = Server::start(&sb, &db, &format!("127.0.0.1:{port}"), &[]);
    let out = maestro_tests::wait(client);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        out.stderr.contains("retry"),
        "MAESTRO_DEBUG shows the retries: {}",
        out.stderr
    );
    let titles = sb.ok_with(&[("MAESTRO_API_URL", &server.url)], &["task", "list"]);
    assert_eq!(titles.as_array().unwrap().len(), 1, "created exactly once");
}

#[test]
fn an_unreachable_server_exits_5_with_a_suggestion() {
    let sb = sandbox!();
    let url = format!("http://127.0.0.1:{}", free_port());
    let env = [("MAESTRO_RETRIES", "1"), ("MAESTRO_RETRY_DELAY", "50")];
    let e = sb.fails_with(
        &env,
        &["--server", &url, "task", "list"],
        "connection_refused",
        5,
    );
    assert_eq!(e["retryable"], true);
    assert!(e["suggestion"].as_str().unwrap().contains("maestro serve"));
}

#[test]
fn tokens_guard_api_and_ws_but_not_health() {
    let sb = sandbox!();
    let db = sb.path().join("server.db");
    sb.ok(&["--db", db.to_str().unwrap(), "init"]);
    let server = Server::start(&sb, &db, "127.0.0.1:0", &["--token", "s3cret"]);
    let url = server.url.as_str();
    let e = sb.fails(&["--server", url, "task", "list"], "unauthorized", 1);
    assert!(e["suggestion"].as_str().is_some());
    sb.fails_with(
        &[("MAESTRO_TOKEN", "wrong")],
        &["--server", url, "task", "list"],
        "unauthorized",
        1,
    );
    sb.ok_with(
        &[("MAESTRO_TOKEN", "s3cret")],
        &["--server", url, "task", "list"],
    );
    let (status, body) = http(&server.addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\""));
    let (status, body) = http(&server.addr, "GET", "/api/tasks", &[], b"");
    assert_eq!(status, 401);
    assert!(body.contains("unauthorized"));
    let ws = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    assert_eq!(http(&server.addr, "GET", "/ws", &ws, b"").0, 401);
    let mut with_token = ws.to_vec();
    with_token.push(("Authorization", "Bearer s3cret"));
    assert_eq!(http(&server.addr, "GET", "/ws", &with_token, b"").0, 101);
    // Browsers carry it as a subprotocol: "bearer." + base64url("s3cret").
    let with_protocol = |p: &'static str| {
        let mut h = ws.to_vec();
        h.push(("Sec-WebSocket-Protocol", p));
        http(&server.addr, "GET", "/ws", &h, b"").0
    };
    assert_eq!(with_protocol("maestro, bearer.czNjcmV0"), 101);
    assert_eq!(with_protocol("maestro, bearer.d3Jvbmc"), 401);
    assert_eq!(with_protocol("maestro"), 401);
}

#[test]
fn binding_everywhere_without_a_token_is_refused() {
    let sb = sandbox!();
    let r = sb.run(&[
        "--db",
        sb.path().join("x.db").to_str().unwrap(),
        "serve",
        "--addr",
        "0.0.0.0:0",
        "--json",
    ]);
    assert_ne!(r.code, 0);
    let v = r.json();
    assert_eq!(v["success"], false);
    assert!(v["suggestion"].as_str().unwrap().contains("token"), "{v}");
}

#[test]
fn bodies_over_one_mebibyte_get_413() {
    let sb = sandbox!();
    let db = sb.path().join("server.db");
    sb.ok(&["--db", db.to_str().unwrap(), "init"]);
    let server = Server::start(&sb, &db, "127.0.0.1:0", &[]);
    let body = format!(
        r#"{{"title":"big","description":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, text) = http(
        &server.addr,
        "POST",
        "/api/tasks",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("payload_too_large"));
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let sb = sandbox!();
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
