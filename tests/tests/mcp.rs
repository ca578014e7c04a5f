//! `maestro mcp`: real JSON-RPC over stdio against the built binary — the handshake, the tool
//! sets, every tool, errors as results, protocol errors for what is not a valid call, and a
//! clean exit at the end of input; on a local store and through a real `maestro serve`.

use maestro_tests::mcp::McpClient;
use maestro_tests::{Sandbox, Server, id, sandbox};
use serde_json::{Value, json};

const WORKER_TOOLS: &[&str] = &[
    "status", "ready", "claim", "get_task", "progress", "subtask", "complete", "block",
];
const ORCHESTRATOR_EXTRA: &[&str] = &[
    "list_tasks",
    "create_task",
    "update_task",
    "spawn",
    "sessions",
    "merge_status",
];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A worker session doing two tasks with nothing but the worker's tools, then an error call.
fn worker_flow(sb: &Sandbox) {
    let a = sb.task("Parse the input", &["--priority", "high"]);
    let b = sb.task("Print the output", &["--depends-on", &a]);
    let s = id(&sb.ok(&["session", "register", "--name", "mcp-worker"]));
    let before = sb.ok(&["session", "get", &s])["lastSeen"].clone();

    let mut c = McpClient::start(sb, &[], &[("MAESTRO_SESSION_ID", &s)]);
    let init = c.initialize();
    assert_eq!(init["serverInfo"]["name"], "maestro");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");
    // The session is a worker's: the worker's tools by default.
    assert_eq!(c.tool_names(), names(WORKER_TOOLS));

    let st = c.ok("status", json!({}));
    assert_eq!(st["status"]["tasks"]["total"], 2, "{st}");
    assert_eq!(st["context"]["sessionId"], s.as_str());
    // Even a call that only looks refreshes the session's lease.
    let after = sb.ok(&["session", "get", &s])["lastSeen"].clone();
    assert_ne!(before, after, "status did not refresh the lease");

    let ready = c.ok("ready", json!({}));
    let ids: Vec<&str> = ready["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str()]);
    let claimed = c.ok("claim", json!({}));
    assert_eq!(claimed["id"], a.as_str());
    assert_eq!(claimed["status"], "in_progress");
    assert_eq!(claimed["sessionIds"], json!([s]));

    // Without a task id the tools act on the session's task, as the CLI does.
    let detail = c.ok("get_task", json!({}));
    assert_eq!(detail["id"], a.as_str());
    assert_eq!(detail["dependents"][0]["id"], b.as_str());
    let entry = c.ok("progress", json!({"message": "lexer done"}));
    assert_eq!(entry["type"], "progress");
    assert_eq!(entry["message"], "lexer done");
    let sub = c.ok("subtask", json!({"title": "Handle empty input"}));
    assert_eq!(sub["taskId"], a.as_str());
    let done = c.ok("subtask", json!({"done": sub["id"]}));
    assert_eq!(done["completed"], true);
    let completed = c.ok("complete", json!({}));
    assert_eq!(completed["status"], "completed");

    // The second task is ready now; claim it by id, then block it.
    c.ok("claim", json!({"taskId": b}));
    let blocked = c.ok("block", json!({"taskId": b, "reason": "needs a printer"}));
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["blockedReason"], "needs a printer");

    // An error call: the core's error as a tool result.
    let e = c.fails("complete", json!({"taskId": "t-nothere"}), "task_not_found");
    assert!(e["suggestion"].is_string(), "{e}");
    assert_eq!(e["retryable"], false);

    let (code, stderr) = c.close();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The CLI sees what the tools did, attributed to the session.
    let t = sb.ok(&["task", "get", &a]);
    assert_eq!(t["status"], "completed");
    let progress: Vec<&Value> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "progress")
        .collect();
    assert_eq!(progress.len(), 1, "{t}");
    assert_eq!(progress[0]["actorSessionId"], s.as_str());
    assert_eq!(sb.ok(&["task", "get", &b])["status"], "blocked");
}

/// Planning with the orchestrator's tools (and `all`'s extras), as a person without a session.
fn orchestrator_flow(sb: &Sandbox) {
    let mut c = McpClient::start(sb, &["--tools", "all"], &[]);
    c.initialize();
    let mut want = names(WORKER_TOOLS);
    want.extend(names(ORCHESTRATOR_EXTRA));
    want.extend(names(&["timeline", "cancel_task"]));
    assert_eq!(c.tool_names(), want);

    let before = c.ok("list_tasks", json!({}))["items"]
        .as_array()
        .unwrap()
        .len();
    let design = c.ok(
        "create_task",
        json!({"title": "Design", "priority": "high", "labels": ["plan"]}),
    );
    let build = c.ok(
        "create_task",
        json!({"title": "Build", "dependsOn": [design["id"]], "description": "After the design"}),
    );
    assert_eq!(build["dependencies"], json!([design["id"]]));
    let listed = c.ok("list_tasks", json!({}));
    assert_eq!(listed["items"].as_array().unwrap().len(), before + 2);
    let high = c.ok("list_tasks", json!({"priority": "high", "limit": 1}));
    assert_eq!(high["items"][0]["priority"], "high");

    let updated = c.ok(
        "update_task",
        json!({"taskId": build["id"], "title": "Build it", "removeDeps": [design["id"]]}),
    );
    assert_eq!(updated["title"], "Build it");
    assert_eq!(updated["dependencies"], json!([]));
    // A cycle is refused with the core's code.
    c.ok(
        "update_task",
        json!({"taskId": build["id"], "addDeps": [design["id"]]}),
    );
    c.fails(
        "update_task",
        json!({"taskId": design["id"], "addDeps": [build["id"]]}),
        "dependency_cycle",
    );

    let spawned = c.ok(
        "spawn",
        json!({"taskIds": [design["id"]], "name": "designer"}),
    );
    assert_eq!(spawned["status"], "spawning", "{spawned}");
    assert_eq!(spawned["taskIds"], json!([design["id"]]));
    let sessions = c.ok("sessions", json!({"active": true}));
    assert!(
        sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == spawned["id"]),
        "{sessions}"
    );
    // Nothing queued yet: no queues.
    let merges = c.ok("merge_status", json!({}));
    assert_eq!(merges["items"], json!([]), "{merges}");
    let timeline = c.ok("timeline", json!({"taskId": design["id"]}));
    assert!(!timeline["items"].as_array().unwrap().is_empty());
    let cancelled = c.ok("cancel_task", json!({"taskId": build["id"]}));
    assert_eq!(cancelled["status"], "cancelled");
    c.fails(
        "create_task",
        json!({"title": "x", "priority": "urgent"}),
        "invalid_priority",
    );
    let (code, stderr) = c.close();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_worker_completes_its_tasks_with_the_worker_tools_on_a_local_store() {
    let sb = sandbox!();
    sb.init();
    worker_flow(&sb);
}

#[test]
fn an_orchestrator_plans_and_spawns_with_its_tools_on_a_local_store() {
    let sb = sandbox!();
    sb.init();
    orchestrator_flow(&sb);
}

#[test]
fn the_same_sessions_work_through_a_server() {
    let mut sb = sandbox!();
    sb.set_env("MAESTRO_TOKEN", "mcp-token");
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    sb.set_env("MAESTRO_API_URL", &server.url);
    sb.ok(&["project", "create", "remote", "--default"]);
    worker_flow(&sb);
    orchestrator_flow(&sb);
    // The server refuses a wrong token; the tool says so.
    let mut c = McpClient::start(&sb, &["--tools", "worker"], &[("MAESTRO_TOKEN", "wrong")]);
    c.initialize();
    c.fails("status", json!({}), "unauthorized");
}

#[test]
fn an_orchestrator_session_gets_the_orchestrator_tools() {
    let sb = sandbox!();
    sb.init();
    let s = id(&sb.ok(&["session", "register", "--role", "orchestrator"]));
    let mut c = McpClient::start(&sb, &[], &[("MAESTRO_SESSION_ID", &s)]);
    c.initialize();
    let mut want = names(WORKER_TOOLS);
    want.extend(names(ORCHESTRATOR_EXTRA));
    assert_eq!(c.tool_names(), want);
    let mut w = McpClient::start(&sb, &["--tools", "worker"], &[("MAESTRO_SESSION_ID", &s)]);
    w.initialize();
    assert_eq!(w.tool_names(), names(WORKER_TOOLS));
}

#[test]
fn bad_input_gets_protocol_errors_and_never_a_panic() {
    let sb = sandbox!();
    sb.init();
    let mut c = McpClient::start(&sb, &["--tools", "orchestrator"], &[]);

    // Before initialize: a request is refused, a notification ignored.
    c.send_raw(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let early = c.request("tools/list", json!({}));
    assert_eq!(early["error"]["code"], -32600, "{early}");
    // Not JSON, not a message.
    c.send_raw("{this is not json");
    let parse = c.recv();
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert!(parse["id"].is_null());
    c.send_raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
    assert_eq!(c.recv()["error"]["code"], -32600);
    c.send_raw(r#"{"jsonrpc":"2.0","id":"x"}"#);
    let r = c.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!("x"), json!(-32600))
    );

    c.initialize();
    // Unknown method and unknown tool: JSON-RPC errors.
    let r = c.request("tasks/frobnicate", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = c.request("tools/call", json!({"name": "rm_rf", "arguments": {}}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("rm_rf"));
    // A tool this set does not offer is unknown too.
    let mut w = McpClient::start(&sb, &["--tools", "worker"], &[]);
    w.initialize();
    let r = w.request(
        "tools/call",
        json!({"name": "create_task", "arguments": {"title": "x"}}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // Wrong argument types, unknown and missing arguments: invalid_argument results the model
    // can act on.
    let e = c.fails("ready", json!({"limit": "ten"}), "invalid_argument");
    assert!(e["message"].as_str().unwrap().contains("ready"), "{e}");
    c.fails("create_task", json!({"title": 42}), "invalid_argument");
    c.fails(
        "create_task",
        json!({"title": "x", "colour": "red"}),
        "invalid_argument",
    );
    c.fails("create_task", json!({}), "invalid_argument");
    c.fails("subtask", json!({"taskId": "t-x"}), "invalid_argument");
    // No session: claiming says so.
    c.fails("claim", json!({}), "no_session_context");
    // Huge arguments: the core's limits, then the message size limit.
    let long_title = "x".repeat(100_000);
    c.fails(
        "create_task",
        json!({"title": long_title}),
        "invalid_argument",
    );
    let huge = "y".repeat(5 * 1024 * 1024);
    let call = json!({"jsonrpc": "2.0", "id": 1000, "method": "tools/call",
                      "params": {"name": "create_task", "arguments": {"title": huge}}});
    c.send_raw(&call.to_string());
    let r = c.recv();
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too large"),
        "{r}"
    );
    // Still serving after all that.
    let ok = c.ok("list_tasks", json!({}));
    assert!(ok["items"].as_array().unwrap().is_empty(), "{ok}");

    let (code, stderr) = c.close();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_closed_stdin_ends_the_server_cleanly() {
    let sb = sandbox!();
    sb.init();
    // Before any message.
    let c = McpClient::start(&sb, &[], &[]);
    let (code, stderr) = c.close();
    assert_eq!(code, 0, "{stderr}");
    // After initialize and a last line cut short.
    let mut c = McpClient::start(&sb, &[], &[]);
    c.initialize();
    let stdin_half = r#"{"jsonrpc":"2.0","id":99,"method":"tools/li"#;
    c.send_raw(stdin_half);
    let (code, stderr) = c.close();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The real Claude Code, configured by `maestro setup claude` for a temporary project, does a
/// task through Maestro's MCP tools alone: its scripted model claims the task, reports
/// progress, adds a subtask and completes it.
#[test]
fn claude_code_set_up_by_maestro_setup_does_a_task_with_the_mcp_tools() {
    use maestro_tests::agents::{AgentCli, configure, sandbox_outside_tmp, target_dir};
    use maestro_tests::endpoint::{ModelEndpoint, Script, Turn};

    let bin = env!("CARGO_BIN_EXE_maestro");
    let mut sb = sandbox_outside_tmp(bin);
    // A project of its own (a git repository), trusted as a person does once in Claude
    // Code's dialog: Claude Code applies a project's permission rules only then.
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(sb.cwd())
        .status()
        .expect("git");
    assert!(git.success());
    let trust =
        json!({"projects": {sb.cwd().display().to_string(): {"hasTrustDialogAccepted": true}}});
    std::fs::write(sb.path().join("home/.claude.json"), trust.to_string()).unwrap();
    sb.init();
    sb.ok(&["setup", "claude"]);
    let t = sb.task("Tidy the changelog", &[]);
    let s = id(&sb.ok(&["session", "register", "--name", "claude-mcp"]));
    let script = Script::new(vec![
        Turn::tool("mcp__maestro__claim", json!({"taskId": "{task}"})).say("Claiming it."),
        Turn::tool(
            "mcp__maestro__progress",
            json!({"message": "Changelog tidied"}),
        ),
        Turn::tool("mcp__maestro__subtask", json!({"title": "Check the links"})),
        Turn::tool("mcp__maestro__complete", json!({})),
        Turn::finish("Done through Maestro's tools."),
    ]);
    let endpoint = ModelEndpoint::start(script);
    configure(AgentCli::Claude, &mut sb, &endpoint);
    // `maestro mcp` as .mcp.json names it: the binary under test first on PATH.
    let dir = std::path::Path::new(bin)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{dir}:{}", sb.env_var("PATH").unwrap_or_default());
    sb.set_env("PATH", &path);
    let prompt = format!("Your task is {t} — do it with the maestro tools.");
    let out = sb
        .shell(
            "timeout 300 claude -p \"$PROMPT\" --output-format stream-json --verbose",
            &[("PROMPT", &prompt), ("MAESTRO_SESSION_ID", &s)],
        )
        .output()
        .expect("run claude");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::write(target_dir().join("agent-e2e/claude-mcp-last.log"), &*stdout);
    let context = format!(
        "claude exit {:?}\nstdout:\n{stdout}\nstderr:\n{}\nendpoint:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        endpoint.transcript()
    );
    assert!(out.status.success(), "{context}");

    // Claude Code connected the server setup registered and has the worker's tools.
    let init: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "system" && v["subtype"] == "init")
        .unwrap_or_else(|| panic!("no init event\n{context}"));
    assert_eq!(init["mcp_servers"][0]["name"], "maestro", "{context}");
    assert_eq!(init["mcp_servers"][0]["status"], "connected", "{context}");
    let offered: Vec<String> = init["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("mcp__maestro__"))
        .map(str::to_string)
        .collect();
    let mut want: Vec<String> = WORKER_TOOLS
        .iter()
        .map(|n| format!("mcp__maestro__{n}"))
        .collect();
    want.sort();
    let mut offered = offered;
    offered.sort();
    assert_eq!(offered, want, "{context}");
    let results = endpoint.tool_results();
    assert_eq!(results.len(), 4, "{context}");
    assert!(
        results.iter().all(|r| !r.is_error),
        "{results:?}\n{context}"
    );
    assert!(endpoint.problems().is_empty(), "{context}");
    assert!(endpoint.escaped().is_empty(), "{context}");

    let task = sb.ok(&["task", "get", &t]);
    assert_eq!(task["status"], "completed", "{task}\n{context}");
    assert_eq!(task["subtasks"][0]["title"], "Check the links");
    let progress: Vec<&Value> = task["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "progress")
        .collect();
    assert_eq!(progress.len(), 1, "{task}");
    assert_eq!(progress[0]["message"], "Changelog tidied");
    assert_eq!(progress[0]["actorSessionId"], s.as_str());
}
