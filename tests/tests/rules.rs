//! The rules of the core, end to end through the real CLI, in local mode (the CLI on the
//! SQLite file) and in remote mode (the CLI against a real `maestro serve`): ownership,
//! the session machine, leases, timelines, spawn checks and projects.

use maestro_tests::{Sandbox, Server, http, id, sandbox, until};
use serde_json::{Value, json};

/// A sandbox with a project, either on the local store or through a server.
struct Setup {
    sb: Sandbox,
    server: Option<Server>,
}

impl Setup {
    fn local(vars: &[(&str, &str)]) -> Setup {
        let mut sb = sandbox!();
        for (k, v) in vars {
            sb.set_env(k, v);
        }
        sb.init();
        Setup { sb, server: None }
    }

    /// The server gets `vars` too (a lease, say, is the server's to keep).
    fn remote(vars: &[(&str, &str)]) -> Setup {
        let mut sb = sandbox!();
        for (k, v) in vars {
            sb.set_env(k, v);
        }
        let db = sb.path().join("server.db");
        let server = Server::start(&sb, &db, "127.0.0.1:0", &[]);
        sb.set_env("MAESTRO_API_URL", &server.url);
        sb.init();
        Setup {
            sb,
            server: Some(server),
        }
    }

    fn both() -> [Setup; 2] {
        Setup::both_with(&[])
    }

    fn both_with(vars: &[(&str, &str)]) -> [Setup; 2] {
        [Setup::local(vars), Setup::remote(vars)]
    }

    /// A registered session's id.
    fn session(&self, role: &str) -> String {
        id(&self.sb.ok(&["session", "register", "--role", role]))
    }
}

fn env(session: &str) -> [(&str, &str); 1] {
    [("MAESTRO_SESSION_ID", session)]
}

#[test]
fn only_a_tasks_owner_writes_to_it() {
    for s in Setup::both() {
        let sb = &s.sb;
        let t = sb.task("T", &[]);
        let s1 = s.session("worker");
        let s2 = s.session("worker");
        sb.ok_with(&env(&s1), &["task", "claim", &t]);
        let sub = id(&sb.ok_with(&env(&s1), &["subtask", "create", &t, "mine"]));
        // Every write by another worker is refused, naming the owner.
        for args in [
            &["task", "claim", &t][..],
            &["task", "start", &t],
            &["task", "complete", &t],
            &["task", "block", &t, "--reason", "mine now"],
            &["task", "update", &t, "--status", "pending"],
            &["task", "cancel", &t],
            &["update", "progress", "--task", &t],
            &["subtask", "create", &t, "theirs"],
            &["subtask", "complete", &t, &sub],
        ] {
            let e = sb.fails_with(&env(&s2), args, "task_claimed", 4);
            assert_eq!(e["details"]["sessionIds"], json!([s1]), "{args:?}: {e}");
            assert!(
                e["suggestion"]
                    .as_str()
                    .unwrap()
                    .contains("maestro task claim --next"),
                "{e}"
            );
        }
        let d = sb.ok(&["task", "get", &t]);
        assert_eq!(d["sessionIds"], json!([s1]), "nobody else joined");
        assert_eq!(d["status"], "in_progress");
        // The owner goes on; a comment is anyone's.
        sb.ok_with(&env(&s1), &["update", "half way", "--task", &t]);
        // --force overrides, and the override is on record.
        sb.ok_with(
            &env(&s2),
            &["task", "block", &t, "--reason", "taking a look", "--force"],
        );
        let d = sb.ok(&["task", "get", &t]);
        let over = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "override")
            .expect("an override entry");
        assert_eq!(over["action"], "block");
        assert_eq!(over["sessionIds"], json!([s1]));
        assert_eq!(over["actorSessionId"], s2.as_str());
        // People (no session) and orchestrators may act on any task.
        let o = s.session("orchestrator");
        sb.ok_with(&env(&o), &["task", "start", &t]);
        sb.ok(&["task", "complete", &t]);
        assert_eq!(sb.ok(&["task", "get", &t])["status"], "completed");
        // Taking a task over releases its owner, whose later writes are refused.
        let t2 = sb.task("T2", &[]);
        sb.ok_with(&env(&s1), &["task", "claim", &t2]);
        let taken = sb.ok_with(&env(&s2), &["task", "claim", &t2, "--force"]);
        assert_eq!(taken["sessionIds"], json!([s2]));
        let e = sb.fails_with(
            &env(&s1),
            &["update", "still here", "--task", &t2],
            "claim_released",
            4,
        );
        assert!(
            e["details"]["reason"]
                .as_str()
                .unwrap()
                .contains("taken over"),
            "{e}"
        );
    }
}

#[test]
fn a_lost_session_is_told_so_whatever_it_runs_and_stays_lost() {
    for s in Setup::both_with(&[("MAESTRO_LEASE_SECONDS", "1")]) {
        let sb = s.sb;
        let t = sb.task("T", &[]);
        let w = id(&sb.ok(&["session", "register"]));
        sb.ok_with(&env(&w), &["task", "claim", "--next"]);
        std::thread::sleep(std::time::Duration::from_millis(1600));
        // Any call expires the silent session (no reaper runs): status tells the truth.
        let report = sb.ok(&["status"]);
        assert_eq!(report["sessions"]["active"], 0, "{report}");
        assert!(
            sb.ok(&["session", "list", "--active"])
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert_eq!(sb.ok(&["task", "get", &t])["status"], "pending");
        // With or without a task id, a lost worker is told to stop.
        let e = sb.fails_with(&env(&w), &["update", "x"], "session_lost", 4);
        assert!(
            e["suggestion"].as_str().unwrap().contains("Stop working"),
            "{e}"
        );
        for args in [
            &["update", "x", "--task", &t][..],
            &["task", "complete"],
            &["task", "list"],
            &["session", "heartbeat"],
            &["session", "end"],
            &["task", "claim", "--next"],
        ] {
            sb.fails_with(&env(&w), args, "session_lost", 4);
        }
        // It can still read its own record, which says why.
        let me = sb.ok_with(&env(&w), &["session", "info"]);
        assert_eq!(me["status"], "lost");
        // Ending another session: a lost one stays lost; an ended one stays ended.
        sb.fails(&["session", "end", "--id", &w], "session_lost", 4);
        let done = id(&sb.ok(&["session", "register"]));
        sb.ok(&["session", "end", "--id", &done]);
        sb.ok(&["session", "end", "--id", &done]); // a retried end is a no-op
        sb.fails(&["session", "heartbeat", "--id", &done], "session_ended", 4);
        sb.fails(
            &["session", "end", "--id", &done, "--status", "failed"],
            "session_ended",
            4,
        );
        if let Some(server) = &s.server {
            // No update brings a lost session back, nor relaunches an ended one.
            let revive = json!({"status": "active"}).to_string();
            let (st, body) = http(
                &server.addr,
                "PATCH",
                &format!("/api/sessions/{w}"),
                &[("content-type", "application/json")],
                revive.as_bytes(),
            );
            assert_eq!(st, 409, "{body}");
            assert!(body.contains("session_lost"), "{body}");
            let relaunch = json!({"status": "spawning"}).to_string();
            let (st, body) = http(
                &server.addr,
                "PATCH",
                &format!("/api/sessions/{done}"),
                &[("content-type", "application/json")],
                relaunch.as_bytes(),
            );
            assert_eq!(st, 409, "{body}");
            assert!(body.contains("session_ended"), "{body}");
        }
    }
}

#[test]
fn a_call_refreshes_its_own_session_before_anything_expires() {
    let mut sb = sandbox!();
    sb.init();
    sb.set_env("MAESTRO_LEASE_SECONDS", "1");
    let t = sb.task("T", &[]);
    let w = id(&sb.ok(&["session", "register"]));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Silent past its lease, but its own call comes first: it is not lost by it.
    let claimed = sb.ok_with(&env(&w), &["task", "claim", "--next"]);
    assert_eq!(claimed["id"], t.as_str());
    assert_eq!(sb.ok(&["session", "get", &w])["status"], "active");
}

#[test]
fn timelines_are_paged_and_the_block_reason_is_a_field() {
    let sb = sandbox!();
    sb.init();
    let t = sb.task("T", &[]);
    let script = format!(
        r#"for i in $(seq 1 60); do "$MAESTRO_BIN" update "step $i" --task {t} -q || exit 1; done"#
    );
    assert!(sb.shell(&script, &[]).status().unwrap().success());
    let d = sb.ok(&["task", "get", &t]);
    let shown = d["timeline"].as_array().unwrap();
    assert_eq!(shown.len(), 50, "the newest 50");
    assert_eq!(d["timelineTotal"], 61);
    assert_eq!(shown.last().unwrap()["message"], "step 60");
    let human = sb.run(&["task", "get", &t]).stdout;
    assert!(human.contains("newest 50 of 61"), "{human}");
    // The whole history, page by page, oldest first, each entry once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["task", "timeline", &t, "--limit", "25"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let mut all = args.clone();
        all.push("--json");
        let r = sb.run(&all);
        let v = r.json();
        assert_eq!(v["success"], true, "{v}");
        seen.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 61);
    assert_eq!(seen[0]["type"], "created");
    assert_eq!(seen[1]["message"], "step 1");
    // Blocking again with a new reason records it; the current one is a field.
    sb.ok(&["task", "block", &t, "--reason", "needs the key"]);
    let d = sb.ok(&["task", "block", &t, "--reason", "needs a review"]);
    assert_eq!(d["blockedReason"], "needs a review");
    let reasons: Vec<Value> = sb.ok(&["task", "get", &t])["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "blocked")
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        vec![json!("needs the key"), json!("needs a review")]
    );
    let d = sb.ok(&["task", "start", &t]);
    assert!(d["blockedReason"].is_null());
}

#[test]
fn spawn_requests_are_checked_at_once_and_wait_for_their_dependencies() {
    for s in Setup::both() {
        let sb = &s.sb;
        let a = sb.task("A", &[]);
        let b = sb.task("B", &["--depends-on", &a]);
        let done = sb.task("done", &[]);
        sb.ok(&["task", "start", &done]);
        sb.ok(&["task", "complete", &done]);
        sb.fails(
            &["session", "spawn", "--task", &done],
            "invalid_transition",
            4,
        );
        sb.ok(&["session", "spawn", "--task", &done, "--force"]);
        let first = sb.ok(&["session", "spawn", "--task", &a]);
        assert_eq!(first["status"], "spawning");
        let e = sb.fails(&["session", "spawn", "--task", &a], "task_claimed", 4);
        assert_eq!(e["details"]["sessionIds"], json!([first["id"]]));
        sb.fails(
            &["session", "spawn", "--task", &a, "--skill", "nosuch"],
            "skill_not_found",
            3,
        );
        sb.fails(
            &[
                "session", "spawn", "--task", &a, "--agent", "nosuch", "--force",
            ],
            "invalid_argument",
            2,
        );
        if s.server.is_none() {
            sb.fails(
                &[
                    "session",
                    "spawn",
                    "--task",
                    &a,
                    "--cwd",
                    "/nonexistent/dir",
                    "--force",
                ],
                "invalid_argument",
                2,
            );
        }
        // B's dependency is open: its request waits, and becomes a spawn request when A is
        // completed (no host involved).
        let waiting = sb.ok(&["session", "spawn", "--task", &b]);
        assert_eq!(waiting["status"], "waiting");
        let wid = id(&waiting);
        sb.ok(&["task", "start", &a]);
        sb.ok(&["task", "complete", &a]);
        assert_eq!(sb.ok(&["session", "get", &wid])["status"], "spawning");
        let requests: Vec<Value> = sb
            .ok(&["events", "--since", "0", "--limit", "10000"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "session:spawn_request" && e["data"]["id"] == wid.as_str())
            .cloned()
            .collect();
        assert_eq!(requests.len(), 1, "one spawn request, once it is ready");
        // Deleting or cancelling a task stops its pending requests, with the reason.
        let c = sb.task("C", &[]);
        let for_c = id(&sb.ok(&["session", "spawn", "--task", &c]));
        sb.ok(&["task", "delete", &c]);
        let stopped = sb.ok(&["session", "get", &for_c]);
        assert_eq!(stopped["status"], "stopped");
        assert_eq!(stopped["reason"], "task deleted");
        let d = sb.task("D", &[]);
        let for_d = id(&sb.ok(&["session", "spawn", "--task", &d]));
        sb.ok(&["task", "cancel", &d]);
        assert_eq!(
            sb.ok(&["session", "get", &for_d])["reason"],
            "task cancelled"
        );
    }
}

#[test]
fn init_reuses_projects_and_never_switches_the_default() {
    let sb = sandbox!();
    let shop = sb.ok(&["init", "--name", "shop"]);
    assert_eq!(shop["created"], true);
    let shop_id = shop["project"]["id"].as_str().unwrap().to_string();
    let t = sb.task("in shop", &[]);
    let again = sb.ok(&["init", "--name", "shop"]);
    assert_eq!(again["created"], false);
    assert_eq!(again["project"]["id"], shop_id.as_str());
    let other = sb.ok(&["init", "--name", "other"]);
    assert_eq!(other["created"], true);
    assert_eq!(other["project"]["default"], false);
    let other_id = other["project"]["id"].as_str().unwrap().to_string();
    // Nothing hidden: the default is still shop.
    assert_eq!(
        sb.ok(&["task", "list"]).as_array().unwrap()[0]["id"],
        t.as_str()
    );
    let listed = sb.ok(&["project", "list"]);
    let defaults: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], shop_id.as_str());
    assert_eq!(sb.ok(&["project", "use", &other_id])["default"], true);
    assert!(sb.ok(&["task", "list"]).as_array().unwrap().is_empty());
    sb.ok(&["project", "use", &shop_id]);
    assert_eq!(sb.ok(&["task", "list"]).as_array().unwrap().len(), 1);

    // Remote: init records the project in this folder's config, and the server's default
    // (everyone else's) stays as it was.
    let mut a = sandbox!();
    let db = a.path().join("server.db");
    let server = Server::start(&a, &db, "127.0.0.1:0", &[]);
    a.set_env("MAESTRO_API_URL", &server.url);
    let first = a.ok(&["init", "--name", "first"]);
    let first_id = first["project"]["id"].as_str().unwrap().to_string();
    let mut b = sandbox!();
    b.set_env("MAESTRO_API_URL", &server.url);
    let second = b.ok(&["init", "--name", "second"]);
    let second_id = second["project"]["id"].as_str().unwrap().to_string();
    assert!(
        second["config"]
            .as_str()
            .unwrap()
            .ends_with(".maestro/config.json")
    );
    assert_eq!(b.ok(&["whoami"])["projectId"], second_id.as_str());
    assert_eq!(a.ok(&["whoami"])["projectId"], first_id.as_str());
    b.task("b's task", &[]);
    assert!(a.ok(&["task", "list"]).as_array().unwrap().is_empty());
    let (_, body) = http(&server.addr, "GET", "/api/projects/default", &[], b"");
    assert!(
        body.contains(&first_id),
        "the server's default did not move: {body}"
    );
}

#[test]
fn a_host_rides_out_a_server_restart() {
    let mut sb = sandbox!();
    let db = sb.path().join("server.db");
    let port = maestro_tests::free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start(&sb, &db, &addr, &[]);
    sb.set_env("MAESTRO_API_URL", &server.url);
    sb.set_env("MAESTRO_RETRIES", "0");
    sb.set_env(
        "MAESTRO_HOME",
        &sb.path().join("home").display().to_string(),
    );
    sb.init();
    let marker = sb.path().join("launched");
    let cmd = json!([
        "sh",
        "-c",
        format!("echo $MAESTRO_SESSION_ID >> {}", marker.display())
    ]);
    sb.ok(&["config", "set", "agents.mark.command", &cmd.to_string()]);
    let host = sb.spawn(&["host", "--agent", "mark"], &[]);
    let t = sb.task("T", &[]);
    let one = id(&sb.ok(&["session", "spawn", "--task", &t]));
    let launched = |sid: &str| {
        std::fs::read_to_string(&marker)
            .unwrap_or_default()
            .contains(sid)
    };
    assert!(until(100, || launched(&one)), "the first request launched");
    server.kill();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let server = Server::start(&sb, &db, &addr, &[]);
    let t2 = sb.task("T2", &[]);
    let two = id(&sb.ok(&["session", "spawn", "--task", &t2]));
    let ok = until(150, || launched(&two));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &host.id().to_string()])
        .status();
    let out = maestro_tests::wait(host);
    assert!(
        ok,
        "the host went on after the restart:\n{}\n{}",
        out.stdout, out.stderr
    );
    drop(server);
}
