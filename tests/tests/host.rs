//! Sessions spawned by an orchestrator and launched by `maestro host`, end to end: real
//! binary, real processes, shell agents that use only maestro commands.

use maestro_tests::{Run, Sandbox, Server, id, sandbox, until, wait};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command};

/// A worker that does its task with CLI calls only; `HANG=1` makes it stop half way.
const WORKER: &str = r#"#!/bin/sh
set -eu
T="${MAESTRO_TASK_IDS%%,*}"
if [ -n "${LAUNCH_LOG:-}" ]; then echo "$MAESTRO_SESSION_ID" >> "$LAUNCH_LOG"; fi
maestro task claim "$T" -q >/dev/null
maestro update "working on $T" --task "$T" -q
s1=$(maestro subtask create "$T" "first half" -q)
s2=$(maestro subtask create "$T" "second half" -q)
maestro subtask complete "$T" "$s1" -q >/dev/null
if [ -n "${HANG:-}" ]; then sleep 60; fi
maestro subtask complete "$T" "$s2" -q >/dev/null
maestro update "done with $T" -q
maestro task complete "$T" -q >/dev/null
echo "worker finished $T"
"#;

/// An orchestrator using only CLI calls: plans six tasks with dependencies, then spawns a
/// worker for every ready task until all are completed.
const ORCHESTRATOR: &str = r#"set -eu
M="$MAESTRO_BIN"
MAESTRO_SESSION_ID=$("$M" session register --role orchestrator --name orchestrator -q)
export MAESTRO_SESSION_ID
a=$("$M" task create "Design the schema" --priority high -q)
b=$("$M" task create "Write the storage layer" --depends-on "$a" -q)
c=$("$M" task create "Build the API" --depends-on "$b" -q)
d=$("$M" task create "Build the CLI" --depends-on "$b" -q)
e=$("$M" task create "End-to-end tests" --depends-on "$c,$d" -q)
f=$("$M" task create "Write the docs" --depends-on "$a" --priority low -q)
echo "TASKS $a $b $c $d $e $f"
spawned=""
i=0
while [ $i -lt 600 ]; do
  i=$((i+1))
  for t in $("$M" task ready -q); do
    case " $spawned " in *" $t "*) continue;; esac
    s=$("$M" session spawn --task "$t" --agent scripted -q)
    echo "SPAWNED $t $s"
    spawned="$spawned $t"
  done
  n=$("$M" task list --status completed -q | grep -c . || true)
  if [ "$n" -eq 6 ]; then echo "ORCHESTRATOR $MAESTRO_SESSION_ID"; exit 0; fi
  sleep 0.1
done
echo "gave up"; exit 1
"#;

fn setup(sb: &mut Sandbox) -> String {
    sb.init();
    let home = sb.path().join("maestro-home");
    sb.set_env("MAESTRO_HOME", &home.display().to_string());
    let script = sb.path().join("worker.sh");
    std::fs::write(&script, WORKER).unwrap();
    let cmd = format!("[\"sh\",\"{}\"]", script.display());
    sb.ok(&["config", "set", "agents.scripted.command", &cmd]);
    let hanger = format!(
        "{{\"command\":[\"sh\",\"{}\"],\"env\":{{\"HANG\":\"1\"}}}}",
        script.display()
    );
    sb.ok(&["config", "set", "agents.hanger", &hanger]);
    script.display().to_string()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Stops a host with SIGTERM (it drains: waits for its agents) and returns its output.
fn stop(host: Child) -> Run {
    signal(&host, "-TERM");
    wait(host)
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn an_orchestrator_runs_a_team_of_workers_to_completion() {
    let mut sb = sandbox!();
    setup(&mut sb);
    let host = sb.spawn(&["host", "--max-concurrent", "3", "--json"], &[]);
    let out = sb.shell(ORCHESTRATOR, &[]).output().unwrap();
    let orch_out = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{orch_out}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let orchestrator = orch_out
        .lines()
        .find_map(|l| l.strip_prefix("ORCHESTRATOR "))
        .unwrap()
        .to_string();
    let tasks: Vec<String> = orch_out
        .lines()
        .find_map(|l| l.strip_prefix("TASKS "))
        .unwrap()
        .split(' ')
        .map(str::to_string)
        .collect();
    assert_eq!(tasks.len(), 6);

    // Every worker session ends completed, with its pid and exit code.
    let all_ended = until(100, || {
        let s = sb.ok(&["session", "list", "--active"]);
        s.as_array()
            .unwrap()
            .iter()
            .all(|s| s["role"] == "orchestrator")
    });
    assert!(all_ended, "workers still running");
    let run = stop(host);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let events = json_lines(&run.stdout);
    let launched = events.iter().filter(|e| e["event"] == "launched").count();
    assert_eq!(launched, 6, "{}", run.stdout);
    let summary = events.last().unwrap();
    assert_eq!(summary["data"]["completed"], 6, "{summary}");

    let sessions = sb.ok(&["session", "list"]);
    let workers: Vec<&Value> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["role"] == "worker")
        .collect();
    assert_eq!(workers.len(), 6);
    let mut by_task: HashMap<String, String> = HashMap::new();
    for w in &workers {
        assert_eq!(w["status"], "completed", "{w}");
        assert_eq!(w["exitCode"], 0, "{w}");
        assert!(w["pid"].as_i64().unwrap() > 0, "{w}");
        assert_eq!(w["spawnedBy"], orchestrator.as_str());
        assert_eq!(w["agent"], "scripted");
        assert!(w["host"].as_str().unwrap().contains(':'));
        by_task.insert(w["taskIds"][0].as_str().unwrap().to_string(), id(w));
    }

    // Every task is completed, and its timeline says which worker did what.
    for t in &tasks {
        let d = sb.ok(&["task", "get", t]);
        assert_eq!(d["status"], "completed", "{d}");
        let worker = &by_task[t];
        let timeline = d["timeline"].as_array().unwrap();
        let by = |ty: &str| {
            timeline
                .iter()
                .filter(|e| e["type"] == ty)
                .map(|e| e["actorSessionId"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(by("assigned"), vec![worker.clone()], "{d}");
        assert_eq!(by("progress"), vec![worker.clone(), worker.clone()]);
        assert_eq!(by("subtask_completed").len(), 2);
        let completed_by: Vec<&Value> = timeline
            .iter()
            .filter(|e| e["type"] == "status_changed" && e["to"] == "completed")
            .collect();
        assert_eq!(completed_by[0]["actorSessionId"], worker.as_str());
        assert_eq!(d["subtasks"].as_array().unwrap().len(), 2);
    }

    // Dependencies were respected: no task started before its dependencies completed.
    let log = sb.ok(&["events", "--since", "0", "--limit", "5000"]);
    let mut started: HashMap<String, i64> = HashMap::new();
    let mut completed: HashMap<String, i64> = HashMap::new();
    for e in log.as_array().unwrap() {
        if e["type"] == "task:updated" {
            let tid = e["data"]["id"].as_str().unwrap().to_string();
            let seq = e["seq"].as_i64().unwrap();
            match e["data"]["status"].as_str().unwrap() {
                "in_progress" => {
                    started.entry(tid).or_insert(seq);
                }
                "completed" => {
                    completed.insert(tid, seq);
                }
                _ => {}
            }
        }
    }
    for t in &tasks {
        let d = sb.ok(&["task", "get", t]);
        for dep in d["dependencies"].as_array().unwrap() {
            let dep = dep.as_str().unwrap();
            assert!(
                completed[dep] < started[t],
                "{t} started before its dependency {dep} completed"
            );
        }
    }

    // The host kept each agent's output and prompt.
    let (task, worker) = by_task.iter().next().unwrap();
    let logs = sb.ok(&["session", "logs", worker]);
    assert!(
        logs["content"]
            .as_str()
            .unwrap()
            .contains(&format!("worker finished {task}")),
        "{logs}"
    );
    let prompt = sb.path().join(format!("maestro-home/prompts/{worker}.md"));
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains(&format!("maestro task claim {task} --json")));
    assert!(prompt.contains("# Working on a Maestro task"));
}

#[test]
fn unknown_profiles_and_missing_programs_fail_with_a_reason() {
    let mut sb = sandbox!();
    setup(&mut sb);
    sb.ok(&[
        "config",
        "set",
        "agents.ghost.command",
        "[\"/nonexistent/ghost-agent\"]",
    ]);
    let t = sb.task("T", &[]);
    // A profile nobody defined is refused at once, before any host sees the request.
    let e = sb.fails(
        &["session", "spawn", "--task", &t, "--agent", "nope"],
        "invalid_argument",
        2,
    );
    assert!(e["suggestion"].as_str().unwrap().contains("ghost"), "{e}");
    // One defined when the request was made but gone when the host launches it fails there.
    sb.ok(&["config", "set", "agents.later.command", "[\"true\"]"]);
    let unknown = id(&sb.ok(&["session", "spawn", "--task", &t, "--agent", "later"]));
    sb.ok(&["config", "unset", "agents.later"]);
    let ghost = id(&sb.ok(&[
        "session", "spawn", "--task", &t, "--agent", "ghost", "--force",
    ]));
    let host = sb.spawn(&["host"], &[]);
    let ended = until(100, || {
        [&unknown, &ghost]
            .iter()
            .all(|s| sb.ok(&["session", "get", s])["status"] == "failed")
    });
    let run = stop(host);
    assert!(ended, "{}\n{}", run.stdout, run.stderr);
    let reason = |s: &str| {
        sb.ok(&["session", "get", s])["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason(&unknown).contains("Unknown agent profile 'later'"));
    assert!(reason(&ghost).contains("command not found"));
    assert_eq!(sb.ok(&["task", "get", &t])["status"], "pending");
}

/// A request may name a working directory only under the folders the host's operator allows
/// (default: the project's directory): `/etc`, an escape through `..` or a link are refused
/// at once, by a local store and by a server; a request some other client let through is
/// refused by the host, which launches nothing.
#[test]
fn agents_work_only_under_the_spawn_roots() {
    let mut sb = sandbox!();
    let script = setup(&mut sb);
    let launched = sb.path().join("launched.log");
    let cmd = format!(
        "{{\"command\":[\"sh\",\"{script}\"],\"env\":{{\"LAUNCH_LOG\":\"{}\"}}}}",
        launched.display()
    );
    sb.ok(&["config", "set", "agents.scripted", &cmd]);
    std::fs::create_dir_all(sb.cwd().join("sub")).unwrap();
    std::os::unix::fs::symlink("/etc", sb.cwd().join("sub/link")).unwrap();
    let root = sb.cwd().canonicalize().unwrap().display().to_string();
    let t = sb.task("Somewhere", &[]);
    let refused = |env: &[(&str, &str)], task: &str| {
        for cwd in ["/etc", "..", "sub/../..", "sub/link"] {
            let e = sb.fails_with(
                env,
                &["session", "spawn", "--task", task, "--cwd", cwd, "--force"],
                "invalid_argument",
                2,
            );
            assert_eq!(e["details"]["spawnRoots"][0], root.as_str(), "{cwd}: {e}");
            assert!(
                e["suggestion"]
                    .as_str()
                    .unwrap()
                    .contains("MAESTRO_SPAWN_ROOTS")
            );
        }
    };
    refused(&[], &t);
    let inside = sb.ok(&["session", "spawn", "--task", &t, "--cwd", "sub"]);
    assert_eq!(inside["status"], "spawning");

    // Through a server, which checks requests against its own roots.
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    let remote = [("MAESTRO_API_URL", server.url.as_str())];
    sb.ok_with(&remote, &["project", "create", "remote", "--default"]);
    let rt = id(&sb.ok_with(&remote, &["task", "create", "Remote"]));
    refused(&remote, &rt);
    sb.ok_with(
        &remote,
        &["session", "spawn", "--task", &rt, "--cwd", "sub"],
    );
    drop(server);

    // A client allowing everything makes the request; the host, with the default roots,
    // refuses it when it comes to launch it (and launches the one inside).
    let t2 = sb.task("Elsewhere", &[]);
    let outside = id(&sb.ok_with(
        &[("MAESTRO_SPAWN_ROOTS", "/")],
        &[
            "session", "spawn", "--task", &t2, "--agent", "scripted", "--cwd", "/etc",
        ],
    ));
    let host = sb.spawn(&["host", "--agent", "scripted"], &[]);
    let ended = until(100, || {
        sb.ok(&["session", "get", &outside])["status"] == "failed"
            && sb.ok(&["task", "get", &t])["status"] == "completed"
    });
    let run = stop(host);
    assert!(ended, "{}\n{}", run.stdout, run.stderr);
    let failed = sb.ok(&["session", "get", &outside]);
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("outside the folders"),
        "{failed}"
    );
    let log = std::fs::read_to_string(&launched).unwrap_or_default();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [id(&inside)],
        "launched: {log}"
    );
    assert_eq!(sb.ok(&["task", "get", &t2])["status"], "pending");
}

#[test]
fn a_killed_worker_is_lost_after_its_lease_and_another_finishes_its_task() {
    let mut sb = sandbox!();
    setup(&mut sb);
    sb.set_env("MAESTRO_LEASE_SECONDS", "1");
    let t = sb.task("Fragile work", &[]);
    // Host A launches a worker that stops half way; then host and worker die with SIGKILL.
    let host_a = sb.spawn(&["host"], &[]);
    let dead = id(&sb.ok(&["session", "spawn", "--task", &t, "--agent", "hanger"]));
    let claimed = until(100, || {
        sb.ok(&["subtask", "list", &t])
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["completed"] == true)
    });
    assert!(claimed, "the worker did not get half way");
    let pid = sb.ok(&["session", "get", &dead])["pid"].as_i64().unwrap();
    signal(&host_a, "-KILL");
    wait(host_a);
    // The worker leads its own process group: kill it with its children.
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(sb.ok(&["task", "get", &t])["status"], "in_progress");

    // Nobody runs a host now: `task ready` reaps the silent session once its lease is over.
    let back = until(100, || {
        sb.ok(&["task", "ready"])
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == t.as_str())
    });
    assert!(back, "the task never came back to the queue");
    let s = sb.ok(&["session", "get", &dead]);
    assert_eq!(s["status"], "lost", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("lease"));
    let d = sb.ok(&["task", "get", &t]);
    let released = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "released")
        .expect("a released entry");
    assert_eq!(released["sessionId"], dead.as_str());

    // A new worker (host B) picks it up and completes it.
    let host_b = sb.spawn(&["host"], &[]);
    let second = id(&sb.ok(&["session", "spawn", "--task", &t, "--agent", "scripted"]));
    let done = until(150, || {
        sb.ok(&["session", "get", &second])["status"] == "completed"
    });
    let run = stop(host_b);
    assert!(done, "{}\n{}", run.stdout, run.stderr);
    let d = sb.ok(&["task", "get", &t]);
    assert_eq!(d["status"], "completed");
    assert_eq!(d["sessionIds"], serde_json::json!([second]));

    // The dead session's late writes are refused, whatever their form: it cannot overwrite
    // its successor, and it is told to stop.
    let env = [("MAESTRO_SESSION_ID", dead.as_str())];
    for args in [
        &["task", "complete", &t][..],
        &["update", "late", "--task", &t],
        &["update", "late"],
        &["task", "complete"],
        &["task", "reopen", &t],
        &["session", "heartbeat"],
    ] {
        let e = sb.fails_with(&env, args, "session_lost", 4);
        assert!(
            e["suggestion"].as_str().unwrap().contains("Stop working"),
            "{e}"
        );
    }
    assert_eq!(sb.ok(&["task", "get", &t])["status"], "completed");
}

#[test]
fn two_hosts_on_one_database_launch_each_request_once() {
    let mut sb = sandbox!();
    setup(&mut sb);
    let launches = sb.path().join("launches.txt");
    let launches_env = launches.display().to_string();
    let env = [("LAUNCH_LOG", launches_env.as_str())];
    let tasks: Vec<String> = (0..10).map(|i| sb.task(&format!("job {i}"), &[])).collect();
    let h1 = sb.spawn(&["host", "--max-concurrent", "4", "--json"], &env);
    let h2 = sb.spawn(&["host", "--max-concurrent", "4", "--json"], &env);
    let mut requested = HashSet::new();
    for t in &tasks {
        requested.insert(id(
            &sb.ok(&["session", "spawn", "--task", t, "--agent", "scripted"])
        ));
    }
    let done = until(200, || {
        sb.ok(&["task", "list", "--status", "completed"])
            .as_array()
            .unwrap()
            .len()
            == 10
    });
    let ended = until(100, || {
        sb.ok(&["session", "list", "--active"])
            .as_array()
            .unwrap()
            .is_empty()
    });
    let (r1, r2) = (stop(h1), stop(h2));
    assert!(done && ended, "{}\n{}", r1.stdout, r2.stdout);
    let lines = std::fs::read_to_string(&launches).unwrap();
    let launched: Vec<&str> = lines.lines().collect();
    let unique: HashSet<String> = launched.iter().map(|s| s.to_string()).collect();
    assert_eq!(launched.len(), 10, "each request launched once: {lines}");
    assert_eq!(unique, requested);
    let per_host: usize = [&r1, &r2]
        .iter()
        .map(|r| {
            json_lines(&r.stdout)
                .iter()
                .filter(|e| e["event"] == "launched")
                .count()
        })
        .sum();
    assert_eq!(per_host, 10);
}

#[test]
fn skills_install_to_a_directory_and_keep_edits() {
    let sb = sandbox!();
    let dir = sb.path().join("skills");
    let d = dir.display().to_string();
    let report = sb.ok(&["skill", "install", "--dir", &d]);
    let files = report[0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    assert!(files.iter().all(|f| f["action"] == "created"));

    let env = [("MAESTRO_SKILLS_DIR", d.as_str())];
    let list = sb.ok_with(&env, &["skill", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["maestro-cli", "maestro-orchestrator", "maestro-worker"]
    );
    for s in list.as_array().unwrap() {
        assert_eq!(s["source"], "dir");
        assert!(s["path"].as_str().unwrap().starts_with(&d));
    }

    // An edited skill survives a second install, and is what agents get.
    let edited = dir.join("maestro-worker/SKILL.md");
    let mine = std::fs::read_to_string(&edited).unwrap() + "\nTeam rule: run the linter.\n";
    std::fs::write(&edited, &mine).unwrap();
    let again = sb.ok(&["skill", "install", "--dir", &d]);
    let kept: Vec<&Value> = again[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "kept")
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), mine);
    let shown = sb.ok_with(&env, &["skill", "show", "maestro-worker"]);
    assert!(
        shown["skillMd"]
            .as_str()
            .unwrap()
            .contains("Team rule: run the linter.")
    );
    sb.fails_with(&env, &["skill", "show", "nope"], "skill_not_found", 3);

    // --force restores the bundled file.
    sb.ok(&["skill", "install", "--dir", &d, "--force"]);
    assert!(
        !std::fs::read_to_string(&edited)
            .unwrap()
            .contains("Team rule")
    );
    // --claude also writes ~/.claude/skills.
    sb.ok(&["skill", "install", "--dir", &d, "--claude"]);
    assert!(
        sb.path()
            .join("home/.claude/skills/maestro-cli/SKILL.md")
            .is_file()
    );
}

#[test]
fn skill_prompt_renders_a_workers_context() {
    let sb = sandbox!();
    sb.init();
    let a = sb.task("Lexer", &[]);
    let b = sb.task("Parser", &["--depends-on", &a, "--desc", "Nested blocks"]);
    let st = id(&sb.ok(&["subtask", "create", &b, "Write tests"]));
    let p = sb.ok(&["skill", "prompt", "--task", &b]);
    let text = p["prompt"].as_str().unwrap();
    assert!(text.contains("# maestro CLI reference"));
    assert!(text.contains("# Working on a Maestro task"));
    assert!(text.contains("Nested blocks"));
    assert!(text.contains(&format!("- {a} \"Lexer\": pending")));
    assert!(text.contains(&format!("maestro subtask complete {b} {st}")));
    assert_eq!(p["waitingFor"], serde_json::json!([a]));
    let o = sb.ok(&["skill", "prompt", "--skill", "maestro-orchestrator"]);
    assert!(o["prompt"].as_str().unwrap().contains(&b));
    sb.fails(
        &["skill", "prompt", "--skill", "maestro-worker"],
        "no_task_context",
        2,
    );
}

#[test]
fn the_demo_runs_every_task_to_completion() {
    let sb = sandbox!();
    let data = sb.ok(&["demo", "--step-ms", "20"]);
    let tasks = data["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 6);
    assert!(tasks.iter().all(|t| t["status"] == "completed"), "{data}");
    let sessions = data["sessions"].as_array().unwrap();
    assert!(sessions.len() >= 6);
    assert!(sessions.iter().all(|s| s["status"] == "completed"));
    assert!(
        !Path::new(data["dir"].as_str().unwrap()).exists(),
        "cleaned up"
    );
    // Without --json: plain progress lines and a summary.
    let r = sb.run(&["demo", "--step-ms", "20"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("6/6 tasks completed"), "{}", r.stdout);
}

#[test]
fn a_host_in_remote_mode_launches_agents_that_talk_to_the_server() {
    let mut sb = sandbox!();
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    let home = sb.path().join("maestro-home");
    sb.set_env("MAESTRO_HOME", &home.display().to_string());
    sb.set_env("MAESTRO_API_URL", &server.url);
    let script = sb.path().join("worker.sh");
    std::fs::write(&script, WORKER).unwrap();
    let cmd = format!("[\"sh\",\"{}\"]", script.display());
    sb.ok(&["config", "set", "agents.scripted.command", &cmd, "--global"]);
    sb.ok(&["project", "create", "remote", "--default"]);
    let a = sb.task("A", &[]);
    let b = sb.task("B", &["--depends-on", &a]);
    let host = sb.spawn(&["host", "--agent", "scripted"], &[]);
    let s1 = id(&sb.ok(&["session", "spawn", "--task", &a]));
    let a_done = until(150, || sb.ok(&["task", "get", &a])["status"] == "completed");
    let s2 = if a_done {
        id(&sb.ok(&["session", "spawn", "--task", &b]))
    } else {
        String::new()
    };
    let b_done = a_done && until(150, || sb.ok(&["task", "get", &b])["status"] == "completed");
    let ended = b_done
        && until(100, || {
            sb.ok(&["session", "get", &s2])["status"] == "completed"
        });
    let run = stop(host);
    assert!(ended, "{}\n{}", run.stdout, run.stderr);
    for s in [&s1, &s2] {
        let s = sb.ok(&["session", "get", s]);
        assert_eq!(s["status"], "completed", "{s}");
        assert_eq!(s["exitCode"], 0);
    }
    // Nothing was written to a local store: the agents used the server.
    assert!(!sb.cwd().join(".maestro").exists());
    assert!(!home.join("maestro.db").exists());
}

#[test]
fn with_tmux_each_agent_runs_in_a_window_and_its_output_is_logged() {
    let tmux_ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux_ok {
        eprintln!("tmux is not installed: nothing to test");
        return;
    }
    let mut sb = sandbox!();
    setup(&mut sb);
    // A private tmux server for this test.
    let sockets = sb.path().join("tmux");
    std::fs::create_dir_all(&sockets).unwrap();
    sb.set_env("TMUX_TMPDIR", &sockets.display().to_string());
    let t = sb.task("In a window", &[]);
    let host = sb.spawn(&["host", "--tmux", "--agent", "scripted"], &[]);
    let s = id(&sb.ok(&["session", "spawn", "--task", &t]));
    let done = until(150, || {
        sb.ok(&["session", "get", &s])["status"] == "completed"
    });
    let run = stop(host);
    let _ = Command::new("tmux")
        .arg("kill-server")
        .env("TMUX_TMPDIR", &sockets)
        .status();
    assert!(done, "{}\n{}", run.stdout, run.stderr);
    let session = sb.ok(&["session", "get", &s]);
    assert_eq!(session["exitCode"], 0);
    assert_eq!(sb.ok(&["task", "get", &t])["status"], "completed");
    let logs = sb.ok(&["session", "logs", &s]);
    assert!(
        logs["content"]
            .as_str()
            .unwrap()
            .contains("worker finished"),
        "{logs}"
    );
}

#[test]
fn serve_with_spawn_launches_agents_and_reaps_lost_sessions() {
    let mut sb = sandbox!();
    let home = sb.path().join("maestro-home");
    sb.set_env("MAESTRO_HOME", &home.display().to_string());
    sb.set_env("MAESTRO_LEASE_SECONDS", "1");
    let script = sb.path().join("worker.sh");
    std::fs::write(&script, WORKER).unwrap();
    let cmd = format!("[\"sh\",\"{}\"]", script.display());
    sb.ok(&["config", "set", "agents.scripted.command", &cmd, "--global"]);
    let db = sb.path().join("server.db");
    let server = Server::start(&sb, &db, "127.0.0.1:0", &["--spawn", "--agent", "scripted"]);
    sb.set_env("MAESTRO_API_URL", &server.url);
    sb.ok(&["project", "create", "served", "--default"]);
    let t = sb.task("Served work", &[]);
    let s = id(&sb.ok(&["session", "spawn", "--task", &t]));
    let done = until(150, || {
        sb.ok(&["session", "get", &s])["status"] == "completed"
    });
    assert!(done, "the server's host did not run the agent");
    assert_eq!(sb.ok(&["task", "get", &t])["status"], "completed");
    // A session that goes silent is declared lost by the server, and its task released.
    let t2 = sb.task("Abandoned", &[]);
    let ghost = id(&sb.ok(&["session", "register", "--name", "ghost"]));
    sb.ok_with(
        &[("MAESTRO_SESSION_ID", ghost.as_str())],
        &["task", "claim", &t2],
    );
    let reaped = until(100, || {
        sb.ok(&["session", "get", &ghost])["status"] == "lost"
    });
    let status = sb.ok(&["task", "get", &t2])["status"].clone();
    server.terminate();
    assert!(reaped, "the server did not reap the silent session");
    assert_eq!(status, "pending");
}
